//! Subscription types, consent (current state and the append-only ledger)
//! and the phone index of records.

use crate::records::placeholders;
use crate::rows::{opt_text, parse, text, time};
use crate::tx::{i, ot, t, StoreTx};
use crate::{ms, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::consent::{ConsentSource, ConsentStatus, LegalBasis, Purpose};
use smsflow_core::ids::{AccountId, MessageId, RecordId, SubscriptionTypeId};
use smsflow_core::object::ObjectType;
use smsflow_core::phone::E164;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionTypeRow {
    pub id: SubscriptionTypeId,
    pub name: String,
    pub purpose: Purpose,
    pub created_at: DateTime<Utc>,
}

/// One consent change, as written to the ledger (and applied to the current
/// state).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentChange {
    pub id: String,
    pub phone: E164,
    /// A subscription type id, or `*` for the phone-wide state.
    pub subscription_type_id: String,
    pub status: ConsentStatus,
    pub legal_basis: Option<LegalBasis>,
    pub explanation: Option<String>,
    pub source: ConsentSource,
    /// The text the person saw or sent (keyword reply, form wording).
    pub wording: Option<String>,
    pub record_id: Option<RecordId>,
    pub message_id: Option<MessageId>,
    pub at: DateTime<Utc>,
}

/// The current status of one (phone, type).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentRow {
    pub phone: E164,
    pub subscription_type_id: String,
    pub status: ConsentStatus,
    pub legal_basis: Option<LegalBasis>,
    pub explanation: Option<String>,
    pub source: ConsentSource,
    pub updated_at: DateTime<Utc>,
}

fn opt_parse<T: std::str::FromStr>(r: &AnyRow, col: &str) -> Result<Option<T>> {
    opt_text(r, col)?
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| StoreError::Corrupt(format!("{col}: {s}")))
        })
        .transpose()
}

fn consent_row(r: &AnyRow) -> Result<ConsentRow> {
    Ok(ConsentRow {
        phone: E164::from_trusted(text(r, "phone")?),
        subscription_type_id: text(r, "subscription_type_id")?,
        status: parse(r, "status")?,
        legal_basis: opt_parse(r, "legal_basis")?,
        explanation: opt_text(r, "explanation")?,
        source: parse(r, "source")?,
        updated_at: time(r, "updated_at")?,
    })
}

impl Store {
    pub async fn create_subscription_type(
        &self,
        account: &AccountId,
        t: &SubscriptionTypeRow,
    ) -> Result<()> {
        sqlx::query("INSERT INTO subscription_types (id, account_id, name, purpose, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(t.id.as_str())
            .bind(account.as_str())
            .bind(&t.name)
            .bind(t.purpose.as_str())
            .bind(ms(t.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_subscription_types(
        &self,
        account: &AccountId,
    ) -> Result<Vec<SubscriptionTypeRow>> {
        let rows = sqlx::query("SELECT id, name, purpose, created_at FROM subscription_types WHERE account_id = $1 ORDER BY id")
            .bind(account.as_str())
            .fetch_all(self.reads())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SubscriptionTypeRow {
                    id: SubscriptionTypeId::from_string(text(r, "id")?),
                    name: text(r, "name")?,
                    purpose: parse(r, "purpose")?,
                    created_at: time(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Current consent rows of these phones (all types, and `*`).
    pub async fn consents_of_phones(
        &self,
        account: &AccountId,
        phones: &[E164],
    ) -> Result<Vec<ConsentRow>> {
        let mut out = Vec::new();
        for chunk in phones.chunks(500) {
            let sql = format!(
                "SELECT phone, subscription_type_id, status, legal_basis, explanation, source, updated_at FROM consents \
                 WHERE account_id = $1 AND phone IN ({})",
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for p in chunk {
                q = q.bind(p.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                out.push(consent_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Every consent change of a phone, oldest first.
    pub async fn consent_ledger(
        &self,
        account: &AccountId,
        phone: &E164,
    ) -> Result<Vec<ConsentChange>> {
        let rows = sqlx::query(
            "SELECT id, phone, subscription_type_id, status, legal_basis, explanation, source, wording, record_id, \
             message_id, at FROM consent_ledger WHERE account_id = $1 AND phone = $2 ORDER BY id",
        )
        .bind(account.as_str())
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConsentChange {
                    id: text(r, "id")?,
                    phone: E164::from_trusted(text(r, "phone")?),
                    subscription_type_id: text(r, "subscription_type_id")?,
                    status: parse(r, "status")?,
                    legal_basis: opt_parse(r, "legal_basis")?,
                    explanation: opt_text(r, "explanation")?,
                    source: parse(r, "source")?,
                    wording: opt_text(r, "wording")?,
                    record_id: opt_text(r, "record_id")?.map(RecordId::from_string),
                    message_id: opt_text(r, "message_id")?.map(MessageId::from_string),
                    at: time(r, "at")?,
                })
            })
            .collect()
    }

    /// Records (of a type, or any) whose phone properties hold this number.
    pub async fn records_with_phone(
        &self,
        account: &AccountId,
        phone: &E164,
        object_type: Option<ObjectType>,
    ) -> Result<Vec<RecordId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT record_id FROM record_phones WHERE account_id = $1 AND phone = $2 \
             AND ($3 = '' OR object_type = $3) ORDER BY record_id",
        )
        .bind(account.as_str())
        .bind(phone.as_str())
        .bind(object_type.map(|t| t.as_str()).unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(RecordId::from_string(text(r, "record_id")?)))
            .collect()
    }
}

impl StoreTx {
    /// Applies consent changes and appends them to the ledger.
    pub async fn record_consents(
        &mut self,
        account: &AccountId,
        changes: &[ConsentChange],
    ) -> Result<()> {
        // What a consent row and its ledger entry both say.
        let decision = |c: &ConsentChange| {
            [
                t(c.phone.as_str()),
                t(c.subscription_type_id.as_str()),
                t(c.status.as_str()),
                ot(c.legal_basis.map(|b| b.as_str())),
                ot(c.explanation.clone()),
                t(c.source.as_str()),
            ]
        };
        for c in changes {
            self.execute(
                "INSERT INTO consents (account_id, phone, subscription_type_id, status, legal_basis, explanation, source, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_id, phone, subscription_type_id) DO UPDATE SET \
                 status = excluded.status, legal_basis = excluded.legal_basis, explanation = excluded.explanation, \
                 source = excluded.source, updated_at = excluded.updated_at",
                std::iter::once(t(account.as_str()))
                    .chain(decision(c))
                    .chain([i(ms(c.at))])
                    .collect(),
            )
            .await?;
            self.execute(
                "INSERT INTO consent_ledger (id, account_id, phone, subscription_type_id, status, legal_basis, explanation, \
                 source, wording, record_id, message_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                [t(c.id.as_str()), t(account.as_str())]
                    .into_iter()
                    .chain(decision(c))
                    .chain([
                        ot(c.wording.clone()),
                        ot(c.record_id.as_ref().map(|r| r.to_string())),
                        ot(c.message_id.as_ref().map(|m| m.to_string())),
                        i(ms(c.at)),
                    ])
                    .collect(),
            )
            .await?;
        }
        Ok(())
    }

    /// Replaces the phone index entries of records.
    pub async fn set_record_phones(
        &mut self,
        account: &AccountId,
        entries: &[(RecordId, ObjectType, Vec<E164>)],
    ) -> Result<()> {
        // Two statements per hundred records rather than one per record
        // and phone: bulk upserts write thousands at a time. The deletes
        // name the account and type, which lead the phone index on SQLite.
        let mut by_type: Vec<(ObjectType, Vec<&RecordId>)> = Vec::new();
        for (record, object_type, _) in entries {
            match by_type.iter_mut().find(|(t, _)| t == object_type) {
                Some((_, ids)) => ids.push(record),
                None => by_type.push((*object_type, vec![record])),
            }
        }
        for (object_type, ids) in &by_type {
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "DELETE FROM record_phones WHERE account_id = $1 AND object_type = $2 \
                     AND record_id IN ({})",
                    crate::records::placeholders(3, chunk.len())
                );
                let sql = self.backend().positional(&sql);
                let mut args = vec![t(account.as_str()), t(object_type.as_str())];
                args.extend(chunk.iter().map(|record| t(record.as_str())));
                self.execute(&sql, args).await?;
            }
        }
        self.add_record_phones(account, entries).await
    }

    /// Writes the phone index entries of records that have none yet (just
    /// created), without [`StoreTx::set_record_phones`]'s delete. A bulk
    /// load of new contacts needs none, and on PostgreSQL without
    /// statistics (autovacuum off, or behind a bulk load) that delete read
    /// every phone of the account for each batch: a million contacts took
    /// 280–540 s to load instead of about a minute.
    pub async fn add_record_phones(
        &mut self,
        account: &AccountId,
        entries: &[(RecordId, ObjectType, Vec<E164>)],
    ) -> Result<()> {
        use crate::tx::{oi, ot, t};
        let rows = entries
            .iter()
            .flat_map(|(record, object_type, phones)| {
                phones.iter().map(move |phone| {
                    let line = phone.line();
                    vec![
                        t(account.as_str()),
                        t(phone.as_str()),
                        t(record.as_str()),
                        t(object_type.as_str()),
                        ot(line.map(|l| l.kind.as_str())),
                        oi(line.map(|l| i64::from(l.calling_code))),
                    ]
                })
            })
            .collect();
        self.insert_rows(
            "record_phones",
            &[
                "account_id",
                "phone",
                "record_id",
                "object_type",
                "line_kind",
                "calling_code",
            ],
            rows,
            "ON CONFLICT DO NOTHING",
        )
        .await?;
        Ok(())
    }
}
