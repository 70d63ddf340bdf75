//! CRM records of every object type.

use crate::rows::{json, parse, text, time};
use crate::{Backend, Page, Result, Store, StoreError};
use smsflow_core::ids::{AccountId, RecordId};
use smsflow_core::object::{ObjectType, Record};
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
            let sql = format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE {} = $1 AND id IN ({})",
                self.backend.filter_only("account_id"),
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(self.reads()).await? {
                out.push(record_row(&row)?);
            }
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
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE account_id = $1 AND object_type = $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(account.as_str())
        .bind(object_type.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(self.reads())
        .await?;
        let records = rows.iter().map(record_row).collect::<Result<Vec<_>>>()?;
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
