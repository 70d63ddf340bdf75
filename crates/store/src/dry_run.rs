//! Read-only lookups of the workflow dry run (R24): a page of records at a
//! time, each page answered by one query instead of one per record.

use crate::records::{folded_record, in_id_order, placeholders, record_range_sql, PageExtra};
use crate::rows::{folded, parse, text};
use crate::{Backend, EnrollmentState, Result, Store, StoreError};
use smsflow_core::consent::ConsentStatus;
use smsflow_core::ids::{AccountId, RecordId, WorkflowId};
use smsflow_core::object::{Association, ObjectType, Properties, Record};
use smsflow_core::phone::{Line, LineKind, E164};
use sqlx::Row;

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

/// An element of a dry-run page: `[id, properties, associations,
/// created_at, updated_at, enrollment states, phones]`, the phones on
/// PostgreSQL only.
#[derive(serde::Deserialize)]
struct PageElement(
    String,
    Properties,
    Vec<Association>,
    i64,
    i64,
    Vec<String>,
    #[serde(default)] Vec<(String, Option<String>, Option<i64>)>,
);

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
                    r.try_get("calling_code")?,
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
    ///
    /// The range is read folded into one row (see [`record_range_sql`]),
    /// so a page costs a hand-off or two rather than one per record. On
    /// SQLite the phones of the range are a second query over the phone
    /// index's `(account, type, record)` range, merged here, in the same
    /// read transaction: one contiguous index scan instead of a seek per
    /// record, which was a third of SQLite's time for a page. PostgreSQL
    /// looks them up per record in the page query.
    pub async fn dry_run_page(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        workflow: Option<&WorkflowId>,
        after: Option<&str>,
        until: &str,
    ) -> Result<Vec<ScannedRecord>> {
        // PostgreSQL: each lookup goes through a subquery fenced with
        // `OFFSET 0`, so it can only be planned on the record index. Right
        // after a bulk load, before statistics catch up, the planner took
        // the account's phone index or the workflow's enrollment index
        // instead and read every entry of it for each record (48 s for one
        // page of 5,000).
        let states = match workflow {
            Some(_) => PageExtra {
                sqlite: "(SELECT json_group_array(e.state) FROM enrollments e \
                         WHERE e.record_id = r.id AND e.workflow_id = $5)",
                postgres: "(SELECT COALESCE(json_agg(e.state), '[]') \
                           FROM (SELECT state, workflow_id FROM enrollments \
                                 WHERE record_id = r.id OFFSET 0) e \
                           WHERE e.workflow_id = $5)",
                join: None,
            },
            None => PageExtra {
                sqlite: "'[]'",
                postgres: "json_build_array()",
                join: None,
            },
        };
        // PostgreSQL only; SQLite reads the range's phones below.
        let phones = PageExtra {
            sqlite: "'[]'",
            postgres: "(SELECT COALESCE(json_agg(json_build_array(p.phone, p.line_kind, p.calling_code)), '[]') \
                       FROM (SELECT phone, line_kind, calling_code, account_id FROM record_phones \
                             WHERE record_id = r.id OFFSET 0) p \
                       WHERE p.account_id = r.account_id \
                       AND p.line_kind IS NOT NULL AND p.calling_code IS NOT NULL)",
            join: None,
        };
        let extra = match self.backend {
            Backend::Sqlite => vec![states],
            Backend::Postgres => vec![states, phones],
        };
        let sql = record_range_sql(self.backend, &extra);
        let mut q = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(object_type.as_str())
            .bind(after.unwrap_or(""))
            .bind(until);
        if let Some(w) = workflow {
            q = q.bind(w.as_str());
        }
        let mut read = self.reads().begin().await?;
        let row = q.fetch_one(&mut *read).await?;
        let mut scanned = folded::<PageElement>(&row)?;
        in_id_order(&mut scanned, |s| s.0.as_str());
        let mut ranged = match self.backend {
            Backend::Sqlite => {
                let row = sqlx::query(
                    "SELECT '[' || coalesce(group_concat(printf('[%s,%s,%s,%d]', json_quote(record_id), \
                     json_quote(phone), json_quote(line_kind), calling_code), ','), '') || ']' AS page \
                     FROM record_phones WHERE account_id = $1 AND object_type = $2 \
                     AND record_id > $3 AND record_id <= $4 \
                     AND line_kind IS NOT NULL AND calling_code IS NOT NULL",
                )
                .bind(account.as_str())
                .bind(object_type.as_str())
                .bind(after.unwrap_or(""))
                .bind(until)
                .fetch_one(&mut *read)
                .await?;
                let mut phones = folded::<(String, String, String, i64)>(&row)?;
                // Stable: a record's phones keep their order.
                in_id_order(&mut phones, |p| p.0.as_str());
                phones.into_iter().peekable()
            }
            Backend::Postgres => Vec::new().into_iter().peekable(),
        };
        read.commit().await?;
        let mut records: Vec<ScannedRecord> = Vec::with_capacity(scanned.len());
        for PageElement(id, properties, associations, created, updated, states, phones) in scanned {
            let mut validated: Vec<E164> = phones
                .into_iter()
                .filter_map(|(phone, kind, code)| indexed_phone(phone, kind.as_deref(), code))
                .collect();
            // The range's phones (SQLite), in record order as the records
            // are. A phone of no record of the range (none is left behind
            // by a delete, but the index cannot promise it) is passed over.
            while ranged.next_if(|p| p.0.as_str() < id.as_str()).is_some() {}
            while let Some((_, phone, kind, code)) = ranged.next_if(|p| p.0 == id) {
                validated.extend(indexed_phone(phone, Some(&kind), Some(code)));
            }
            let enrollments = states
                .iter()
                .map(|s| {
                    s.parse::<EnrollmentState>()
                        .map_err(|e| StoreError::Corrupt(format!("state: {e}")))
                })
                .collect::<Result<_>>()?;
            records.push(ScannedRecord {
                record: folded_record((
                    id,
                    object_type,
                    properties,
                    associations,
                    created,
                    updated,
                )),
                validated,
                enrollments,
            });
        }
        Ok(records)
    }

    /// (phone, subscription type, status) of every consent row of these
    /// phones, `*` included.
    pub async fn consent_statuses(
        &self,
        account: &AccountId,
        phones: &[&E164],
    ) -> Result<Vec<(E164, String, ConsentStatus)>> {
        let mut out = Vec::new();
        for chunk in phones.chunks(CHUNK) {
            let sql = format!(
                "SELECT phone, subscription_type_id, status FROM consents WHERE account_id = $1 AND phone IN ({})",
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for p in chunk {
                q = q.bind(p.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                out.push((
                    E164::from_trusted(text(&r, "phone")?),
                    text(&r, "subscription_type_id")?,
                    parse(&r, "status")?,
                ));
            }
        }
        Ok(out)
    }
}
