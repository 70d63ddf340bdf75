//! CRM records of every object type.

use crate::rows::{folded, json, parse, text, time};
use crate::{from_ms, Backend, Page, Result, Store, StoreError};
use smsflow_core::ids::{AccountId, RecordId};
use smsflow_core::object::{Association, ObjectType, Properties, Record};
use sqlx::any::AnyRow;

/// A record about to be written, with what it was before (None: new).
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub record: Record,
    pub previous: Option<Record>,
}

pub(crate) const RECORD_COLUMNS: &str =
    "id, object_type, properties, associations, created_at, updated_at";

pub(crate) fn record_row(r: &AnyRow) -> Result<Record> {
    Ok(Record {
        id: RecordId::from_string(text(r, "id")?),
        object_type: parse::<ObjectType>(r, "object_type")?,
        properties: json(r, "properties")?,
        associations: json(r, "associations")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

/// A record as an element of [`fold_records_sql`]'s array.
pub(crate) type FoldedRecord = (String, ObjectType, Properties, Vec<Association>, i64, i64);

pub(crate) fn folded_record(
    (id, object_type, properties, associations, created, updated): FoldedRecord,
) -> Record {
    Record {
        id: RecordId::from_string(id),
        object_type,
        properties,
        associations,
        created_at: from_ms(created),
        updated_at: from_ms(updated),
    }
}

/// The rows of `records` that `rows` selects (a query giving the columns of
/// [`FOLDED_COLUMNS`]), read as ONE row: the database folds them into a
/// JSON array, in the column `page`, in id order on PostgreSQL and in the
/// order the rows come on SQLite (see [`in_id_order`]). sqlx's SQLite driver
/// hands every row from its worker thread to the async side through a
/// channel, with a thread wake and a copy of each value — about 15 µs a
/// row, most of what a large page cost — while folding the rows costs the
/// database a fraction of that.
///
/// Each element is `[id, object_type, properties, associations,
/// created_at, updated_at]`. On SQLite the array is spliced together as
/// text: the stored properties and associations are JSON written by
/// serde_json, and letting SQLite parse them again (`json()`) was a third
/// of the query's time. PostgreSQL builds it with `json_agg`.
pub(crate) fn fold_records_sql(backend: Backend, rows: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT '[' || coalesce(group_concat(printf('[%s,%s,%s,%s,%d,%d]', \
             json_quote(r.id), json_quote(r.object_type), r.properties, r.associations, \
             r.created_at, r.updated_at), ','), '') || ']' AS page FROM ({rows}) r"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(COALESCE(json_agg(json_build_array(r.id, r.object_type, \
             CAST(r.properties AS json), CAST(r.associations AS json), r.created_at, \
             r.updated_at) ORDER BY r.id), '[]') AS TEXT) AS page FROM ({rows}) r"
        ),
    }
}

/// Puts folded elements in id order, stably. SQLite folds rows in the
/// order they come, which is the page's id order in every plan it makes,
/// but SQL does not promise it; an `ORDER BY` inside the aggregate made
/// SQLite sort every page again through a temporary b-tree (4 % of a dry
/// run), while checking the order here costs one comparison per element.
pub(crate) fn in_id_order<T>(elements: &mut [T], id: impl Fn(&T) -> &str) {
    if !elements.is_sorted_by(|a, b| id(a) <= id(b)) {
        elements.sort_by(|a, b| id(a).cmp(id(b)));
    }
}

/// The columns a [`fold_records_sql`] row query selects.
pub(crate) const FOLDED_COLUMNS: &str =
    "id, account_id, object_type, properties, associations, created_at, updated_at";

/// [`fold_records_sql`] of one page of an account's records of one type:
/// `$1` account, `$2` type, `$3` the id the page starts after, `$4` the
/// page size.
pub(crate) fn record_page_sql(backend: Backend) -> String {
    let page = format!(
        "SELECT {FOLDED_COLUMNS} FROM records WHERE account_id = $1 AND object_type = $2 \
         AND id > $3 ORDER BY id LIMIT $4"
    );
    fold_records_sql(backend, &page)
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    pub async fn get_record(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        id: &RecordId,
    ) -> Result<Record> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE account_id = $1 AND object_type = $2 AND id = $3"
        ))
        .bind(account.as_str())
        .bind(object_type.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound)?;
        record_row(&row)
    }

    /// Records by id, of any type, in no particular order; unknown ids are
    /// left out.
    pub async fn get_records(&self, account: &AccountId, ids: &[RecordId]) -> Result<Vec<Record>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let rows = format!(
                "SELECT {FOLDED_COLUMNS} FROM records WHERE {} = $1 AND id IN ({})",
                self.backend.filter_only("account_id"),
                placeholders(2, chunk.len())
            );
            let sql = fold_records_sql(self.backend, &rows);
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            let row = q.fetch_one(self.reads()).await?;
            out.extend(folded::<FoldedRecord>(&row)?.into_iter().map(folded_record));
        }
        Ok(out)
    }

    pub async fn list_records(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Record>> {
        let sql = record_page_sql(self.backend);
        let row = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(object_type.as_str())
            .bind(after.unwrap_or(""))
            .bind(limit + 1)
            .fetch_one(self.reads())
            .await?;
        let mut records: Vec<Record> = folded::<FoldedRecord>(&row)?
            .into_iter()
            .map(folded_record)
            .collect();
        in_id_order(&mut records, |r| r.id.as_str());
        Ok(Page::from_rows(records, limit, |r| r.id.to_string()))
    }

    /// Records whose property equals `value` (as text), e.g. to upsert by
    /// email.
    pub async fn find_records_by_property(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        property: &str,
        value: &str,
    ) -> Result<Vec<Record>> {
        // JSON booleans read as `true`/`false` on both backends (SQLite's
        // json_extract alone would give 1/0).
        let field = match self.backend {
            Backend::Sqlite => {
                "CASE json_type(properties, '$.' || $3) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 ELSE json_extract(properties, '$.' || $3) END"
            }
            Backend::Postgres => "(CAST(properties AS jsonb) ->> $3)",
        };
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE account_id = $1 AND object_type = $2 \
             AND CAST({field} AS TEXT) = $4 ORDER BY id LIMIT 10"
        ))
        .bind(account.as_str())
        .bind(object_type.as_str())
        .bind(property)
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_row).collect()
    }
}
