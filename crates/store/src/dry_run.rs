//! Read-only lookups of the workflow dry run (R24): a page of records at a
//! time, each page read by a fixed handful of range scans in one read
//! transaction (records, their phone index, their enrollments), never a
//! query per record.

use crate::records::{folded_record, in_id_order, placeholders};
use crate::rows::{opt_int, text, to_json};
use crate::{EnrollmentState, PageReads, Result, Store, StoreError};
use smsflow_core::consent::ConsentStatus;
use smsflow_core::ids::{AccountId, RecordId, WorkflowId};
use smsflow_core::object::{Association, ObjectType, Properties, Record};
use smsflow_core::phone::{Line, LineKind, E164};
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::iter::Peekable;

/// A record as the dry run reads it, with what it needs of other tables.
#[derive(Debug, Clone)]
pub struct ScannedRecord {
    pub record: Record,
    /// The record's phones that were stored with their line, i.e. validated
    /// when the record was written (see [`Store::validated_phones`]).
    pub validated: Vec<E164>,
    /// The states of the record's enrollments in the workflow asked about.
    pub enrollments: Vec<EnrollmentState>,
}

/// A PostgreSQL page as [`Store::dry_run_page_rows`] reads it: the
/// records in id order, their phones and enrollment states in whatever
/// order the scans gave ([`assemble_rows`] sorts them when needed).
struct PageRows {
    records: Vec<PgRow>,
    phones: Vec<PgRow>,
    states: Vec<PgRow>,
}

/// The records of a [`PageRows`], each with its phones and enrollment
/// states.
fn assemble_rows(object_type: ObjectType, rows: PageRows) -> Result<Vec<ScannedRecord>> {
    let mut phones = Vec::with_capacity(rows.phones.len());
    for r in &rows.phones {
        // INTEGER on PostgreSQL.
        let calling_code = r.try_get::<Option<i32>, _>(3)?.map(i64::from);
        if let Some(phone) = indexed_phone(r.try_get(1)?, r.try_get(2)?, calling_code) {
            phones.push((r.try_get::<String, _>(0)?, phone));
        }
    }
    let mut states = rows
        .states
        .iter()
        .map(|r| Ok((r.try_get(0)?, enrollment_state(r.try_get(1)?)?)))
        .collect::<Result<Vec<(String, _)>>>()?;
    // The merge wants them in id order as Rust compares ids; the scans ask
    // for no order (a sort on the server cost a third of the phone scan),
    // and come in index order, so this is usually a check.
    in_id_order(&mut phones, |(r, _)| r);
    in_id_order(&mut states, |(r, _)| r);
    let (mut phones, mut states) = (phones.into_iter().peekable(), states.into_iter().peekable());
    let mut records = Vec::with_capacity(rows.records.len());
    for r in &rows.records {
        let id: String = r.try_get(0)?;
        records.push(ScannedRecord {
            validated: items_of(&id, &mut phones),
            enrollments: items_of(&id, &mut states),
            record: folded_record((
                id,
                object_type,
                json_text(r.try_get(1)?, "properties")?,
                json_text(r.try_get(2)?, "associations")?,
                r.try_get(3)?,
                r.try_get(4)?,
            )),
        });
    }
    in_id_order(&mut records, |s| s.record.id.as_str());
    Ok(records)
}

/// The items of record `id` from (record id, item) pairs in record id
/// order, for records visited in id order: pairs of ids before it (of no
/// record of the page — none is left behind by a delete, but an index
/// cannot promise it) are passed over.
fn items_of<T>(id: &str, sorted: &mut Peekable<impl Iterator<Item = (String, T)>>) -> Vec<T> {
    while sorted.next_if(|(r, _)| r.as_str() < id).is_some() {}
    let mut items = Vec::new();
    while let Some((_, item)) = sorted.next_if(|(r, _)| r == id) {
        items.push(item);
    }
    items
}

fn enrollment_state(s: &str) -> Result<EnrollmentState> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("state: {e}")))
}

/// A page of [`Store::dry_run_page`], owned, so a blocking thread can read
/// it.
struct PageRange {
    account: String,
    object_type: ObjectType,
    workflow: Option<String>,
    after: String,
    until: String,
}

/// A column of JSON text, parsed where SQLite keeps it.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    i: usize,
    col: &str,
) -> Result<T> {
    let text = row
        .get_ref(i)?
        .as_str()
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))?;
    json_text(text, col)
}

fn json_text<T: serde::de::DeserializeOwned>(text: &str, col: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// SQLite's [`Store::dry_run_page`], through [`crate::direct`]: the range's
/// records row by row in id order, and its phones as a second scan of the
/// phone index's `(account, type, record)` range merged in, in the same
/// read transaction — one contiguous index scan instead of a seek per
/// record. Enrollment states are looked up per record, and only for a
/// workflow that has enrollments at all.
fn read_range(conn: &rusqlite::Connection, range: &PageRange) -> Result<Vec<ScannedRecord>> {
    let read = conn.unchecked_transaction()?;
    let kind = range.object_type.as_str();
    let mut phones = Vec::new();
    {
        let mut stmt = read.prepare_cached(
            "SELECT record_id, phone, line_kind, calling_code FROM record_phones \
             WHERE account_id = ?1 AND object_type = ?2 AND record_id > ?3 AND record_id <= ?4 \
             AND line_kind IS NOT NULL AND calling_code IS NOT NULL ORDER BY record_id",
        )?;
        let mut rows = stmt.query(rusqlite::params![
            range.account,
            kind,
            range.after,
            range.until
        ])?;
        while let Some(row) = rows.next()? {
            let kind = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            if let Some(phone) = indexed_phone(row.get(1)?, Some(kind), row.get(3)?) {
                phones.push((row.get::<_, String>(0)?, phone));
            }
        }
    }
    let mut phones = phones.into_iter().peekable();
    let sql = match range.workflow {
        Some(_) => {
            "SELECT id, properties, associations, created_at, updated_at, \
             (SELECT group_concat(e.state) FROM enrollments e \
              WHERE e.record_id = r.id AND e.workflow_id = ?5) \
             FROM records r WHERE account_id = ?1 AND object_type = ?2 AND id > ?3 AND id <= ?4 \
             ORDER BY id"
        }
        None => {
            "SELECT id, properties, associations, created_at, updated_at, NULL \
             FROM records r WHERE account_id = ?1 AND object_type = ?2 AND id > ?3 AND id <= ?4 \
             ORDER BY id"
        }
    };
    let mut stmt = read.prepare_cached(sql)?;
    let mut rows = match &range.workflow {
        Some(w) => stmt.query(rusqlite::params![
            range.account,
            kind,
            range.after,
            range.until,
            w
        ])?,
        None => stmt.query(rusqlite::params![
            range.account,
            kind,
            range.after,
            range.until
        ])?,
    };
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let properties: Properties = json_column(row, 1, "properties")?;
        let associations: Vec<Association> = json_column(row, 2, "associations")?;
        let enrollments = match row
            .get_ref(5)?
            .as_str_or_null()
            .map_err(rusqlite::Error::from)?
        {
            Some(states) => states
                .split(',')
                .map(enrollment_state)
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let validated = items_of(&id, &mut phones);
        records.push(ScannedRecord {
            record: folded_record((
                id,
                range.object_type,
                properties,
                associations,
                row.get(3)?,
                row.get(4)?,
            )),
            validated,
            enrollments,
        });
    }
    drop(rows);
    drop(stmt);
    read.commit()?;
    Ok(records)
}

/// A phone of the phone index as validated when its record was written:
/// `None` when it was stored without its line.
fn indexed_phone(phone: String, kind: Option<&str>, calling_code: Option<i64>) -> Option<E164> {
    let kind = LineKind::parse(kind?)?;
    let calling_code = u16::try_from(calling_code?).ok()?;
    Some(E164::from_trusted_with_line(
        phone,
        Line { calling_code, kind },
    ))
}

/// Values bound per query; both backends accept far more placeholders.
const CHUNK: usize = 5000;

impl Store {
    /// The phones of these records' index that were stored with their line
    /// (validated by [`E164::parse`] when the record was written), so the
    /// dry run can take a recipient that is already in E.164 form without
    /// parsing it again.
    pub async fn validated_phones(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        records: &[RecordId],
    ) -> Result<Vec<E164>> {
        let mut out = Vec::new();
        for chunk in records.chunks(CHUNK) {
            let sql = format!(
                "SELECT phone, line_kind, calling_code FROM record_phones \
                 WHERE account_id = $1 AND object_type = $2 AND record_id IN ({}) \
                 AND line_kind IS NOT NULL",
                placeholders(3, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql)
                .bind(account.as_str())
                .bind(object_type.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                let kind = text(&r, "line_kind")?;
                out.extend(indexed_phone(
                    text(&r, "phone")?,
                    Some(&kind),
                    opt_int(&r, "calling_code")?,
                ));
            }
        }
        Ok(out)
    }

    /// The end of the next page of an account's records of one type: the
    /// id of the `size`-th record after `after` (from the first with
    /// `None`), or `None` when fewer are left. Read from the record index
    /// alone, so a dry run can cut the account into [`Store::dry_run_page`]
    /// ranges ahead of reading them, and read several at once.
    pub async fn record_page_end(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        after: Option<&str>,
        size: i64,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM records WHERE account_id = $1 AND object_type = $2 AND id > $3 \
             ORDER BY id LIMIT 1 OFFSET $4",
        )
        .bind(account.as_str())
        .bind(object_type.as_str())
        .bind(after.unwrap_or(""))
        .bind(size - 1)
        .fetch_optional(self.reads())
        .await?;
        row.map(|r| text(&r, "id")).transpose()
    }

    /// The greatest record id of an account's records of one type.
    pub async fn last_record_id(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM records WHERE account_id = $1 AND object_type = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(account.as_str())
        .bind(object_type.as_str())
        .fetch_optional(self.reads())
        .await?;
        row.map(|r| text(&r, "id")).transpose()
    }

    /// The records a dry run walks with `after < id <= until` (from the
    /// first with `after` `None`), in id order, each with its validated
    /// phones (as [`Store::validated_phones`] gives them) and the states of
    /// its enrollments in `workflow` (none when `None`: an unsaved
    /// definition). Ranges come from [`Store::record_page_end`].
    pub async fn dry_run_page(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        workflow: Option<&WorkflowId>,
        after: Option<&str>,
        until: &str,
    ) -> Result<Vec<ScannedRecord>> {
        self.dry_run_page_then(account, object_type, workflow, after, until, |page| page)
            .await
    }

    /// [`Store::dry_run_page`], handing the page to `then` on the blocking
    /// thread that read it (SQLite; a blocking thread after the read on
    /// PostgreSQL) and answering what it makes of it. A caller that walks
    /// the page there and keeps little of it frees the records on the
    /// thread that allocated them, while they are still in its cache.
    pub async fn dry_run_page_then<T, F>(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        workflow: Option<&WorkflowId>,
        after: Option<&str>,
        until: &str,
        then: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Vec<ScannedRecord>) -> T + Send + 'static,
    {
        let range = PageRange {
            account: account.to_string(),
            object_type,
            workflow: workflow.map(|w| w.to_string()),
            after: after.unwrap_or("").to_string(),
            until: until.to_string(),
        };
        match &self.pages {
            PageReads::Sqlite(direct) => {
                direct
                    .run(move |conn| read_range(conn, &range).map(then))
                    .await
            }
            PageReads::Postgres(pages) => {
                let rows = self.dry_run_page_rows(pages, &range).await?;
                let object_type = range.object_type;
                tokio::task::spawn_blocking(move || assemble_rows(object_type, rows).map(then))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            }
        }
    }

    /// PostgreSQL's [`Store::dry_run_page`]: the range's records, its
    /// phones and its enrollment states in the workflow as three range
    /// scans in one snapshot, merged by record id where they are parsed
    /// ([`assemble_rows`]). Each lookup's range is fenced with `OFFSET 0`
    /// onto the record id index: without statistics (autovacuum off, or a
    /// bulk load it has not caught up with), the planner otherwise took the
    /// account's phone index or the workflow's enrollment index and read
    /// every entry of it. This used to be one query folding the page into
    /// JSON with a lookup per record, which cost the server 8 µs a record
    /// against 2 µs for the scans (BENCHMARKS.md, dry run).
    async fn dry_run_page_rows(&self, pages: &sqlx::PgPool, range: &PageRange) -> Result<PageRows> {
        let mut read = pages.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *read)
            .await?;
        // $1 account, $2 type, $3 and $4 the page's id range.
        let in_range = |sql: &'static str| {
            sqlx::query(sql)
                .bind(range.account.as_str())
                .bind(range.object_type.as_str())
                .bind(range.after.as_str())
                .bind(range.until.as_str())
        };
        let records = in_range(
            "SELECT id, properties, associations, created_at, updated_at FROM records \
             WHERE account_id = $1 AND object_type = $2 AND id > $3 AND id <= $4 ORDER BY id",
        )
        .fetch_all(&mut *read)
        .await?;
        let phones = in_range(
            "SELECT record_id, phone, line_kind, calling_code FROM \
             (SELECT * FROM record_phones WHERE record_id > $3 AND record_id <= $4 OFFSET 0) p \
             WHERE account_id = $1 AND object_type = $2 \
             AND line_kind IS NOT NULL AND calling_code IS NOT NULL",
        )
        .fetch_all(&mut *read)
        .await?;
        let states = match &range.workflow {
            Some(w) => {
                sqlx::query(
                    "SELECT record_id, state FROM \
                     (SELECT record_id, workflow_id, state FROM enrollments \
                      WHERE record_id > $1 AND record_id <= $2 OFFSET 0) e \
                     WHERE workflow_id = $3",
                )
                .bind(range.after.as_str())
                .bind(range.until.as_str())
                .bind(w.as_str())
                .fetch_all(&mut *read)
                .await?
            }
            None => Vec::new(),
        };
        read.commit().await?;
        Ok(PageRows {
            records,
            phones,
            states,
        })
    }

    /// (phone, subscription type, status) of every consent row of these
    /// phones, `*` included.
    pub async fn consent_statuses(
        &self,
        account: &AccountId,
        phones: &[&E164],
    ) -> Result<Vec<(E164, String, ConsentStatus)>> {
        let pages = match &self.pages {
            PageReads::Sqlite(direct) => {
                let account = account.to_string();
                let list = to_json(&phones.iter().map(|p| p.as_str()).collect::<Vec<_>>());
                return direct
                    .run(move |conn| direct_consent_statuses(conn, &account, &list))
                    .await;
            }
            PageReads::Postgres(pages) => pages,
        };
        // One array bound, not one value per phone: PostgreSQL took longer
        // to parse and plan 5,000 parameters than to look them all up.
        let rows = sqlx::query(
            "SELECT phone, subscription_type_id, status FROM consents \
             WHERE account_id = $1 AND phone = ANY($2)",
        )
        .bind(account.as_str())
        .bind(phones.iter().map(|p| p.as_str()).collect::<Vec<_>>())
        .fetch_all(pages)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let status: &str = r.try_get(2)?;
            out.push((
                E164::from_trusted(r.try_get(0)?),
                r.try_get(1)?,
                status
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("status: {e}")))?,
            ));
        }
        Ok(out)
    }
}

/// SQLite's [`Store::consent_statuses`], through [`crate::direct`]: the
/// phones bound as one JSON array, each looked up on the consents' primary
/// key (`CROSS JOIN` keeps that order), instead of thousands of bound
/// values for SQLite to copy into an ephemeral index first.
fn direct_consent_statuses(
    conn: &rusqlite::Connection,
    account: &str,
    phones: &str,
) -> Result<Vec<(E164, String, ConsentStatus)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.phone, c.subscription_type_id, c.status FROM json_each(?2) AS j \
         CROSS JOIN consents AS c ON c.account_id = ?1 AND c.phone = j.value",
    )?;
    let mut rows = stmt.query(rusqlite::params![account, phones])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let status: String = row.get(2)?;
        let status = status
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("status: {e}")))?;
        out.push((
            E164::from_trusted(row.get::<_, String>(0)?),
            row.get(1)?,
            status,
        ));
    }
    Ok(out)
}
