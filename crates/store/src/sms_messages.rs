//! Reusable SMS messages and their published revisions (R4, R22). Like a
//! workflow, a message is a draft until published; a published revision is
//! frozen, editing makes the next draft revision, and workflows keep sending
//! the published revision until another one is published.

use crate::rows::{int, opt_int, opt_text, parse, text, time};
use crate::{ms, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, NumberId, SmsMessageId, SubscriptionTypeId};
use sqlx::any::AnyRow;
use std::fmt;
use std::str::FromStr;

/// The state of a message's current revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsMessageState {
    /// The current revision has not been published (it may be an edit of a
    /// published message, whose published revision still applies).
    Draft,
    /// The current revision is the published one.
    Published,
}

impl SmsMessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsMessageState::Draft => "draft",
            SmsMessageState::Published => "published",
        }
    }
}

impl fmt::Display for SmsMessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SmsMessageState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "draft" => SmsMessageState::Draft,
            "published" => SmsMessageState::Published,
            other => return Err(format!("unknown SMS message state `{other}`")),
        })
    }
}

/// The content of a message: what a revision freezes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessageContent {
    pub name: String,
    pub body: String,
    pub from_number_id: NumberId,
    pub subscription_type_id: Option<SubscriptionTypeId>,
}

#[derive(Debug, Clone)]
pub struct SmsMessageRow {
    pub id: SmsMessageId,
    /// The current revision's content (the latest, possibly a draft).
    pub content: SmsMessageContent,
    pub state: SmsMessageState,
    /// The revision of `content`.
    pub revision: i64,
    pub published_revision: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A published, frozen revision of a message.
#[derive(Debug, Clone)]
pub struct SmsMessageRevisionRow {
    pub sms_message_id: SmsMessageId,
    pub revision: i64,
    pub content: SmsMessageContent,
    pub published_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, body, from_number_id, subscription_type_id, state, revision, \
     published_revision, created_at, updated_at";

fn content(r: &AnyRow) -> Result<SmsMessageContent> {
    Ok(SmsMessageContent {
        name: text(r, "name")?,
        body: text(r, "body")?,
        from_number_id: NumberId::from_string(text(r, "from_number_id")?),
        subscription_type_id: opt_text(r, "subscription_type_id")?
            .map(SubscriptionTypeId::from_string),
    })
}

fn message_row(r: &AnyRow) -> Result<SmsMessageRow> {
    Ok(SmsMessageRow {
        id: SmsMessageId::from_string(text(r, "id")?),
        content: content(r)?,
        state: parse(r, "state")?,
        revision: int(r, "revision")?,
        published_revision: opt_int(r, "published_revision")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

impl Store {
    pub async fn insert_sms_message(&self, account: &AccountId, m: &SmsMessageRow) -> Result<()> {
        let c = &m.content;
        sqlx::query(
            "INSERT INTO sms_messages (id, account_id, name, body, from_number_id, subscription_type_id, state, \
             revision, published_revision, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
        )
        .bind(m.id.as_str())
        .bind(account.as_str())
        .bind(&c.name)
        .bind(&c.body)
        .bind(c.from_number_id.as_str())
        .bind(c.subscription_type_id.as_ref().map(|s| s.as_str().to_string()))
        .bind(m.state.as_str())
        .bind(m.revision)
        .bind(ms(m.created_at))
        .bind(ms(m.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves new content as a draft. If the current revision is the
    /// published one, the edit becomes the next revision; the published
    /// revision stays what workflows send.
    pub async fn save_sms_message(
        &self,
        account: &AccountId,
        id: &SmsMessageId,
        c: &SmsMessageContent,
        at: DateTime<Utc>,
    ) -> Result<SmsMessageRow> {
        let done = sqlx::query(
            "UPDATE sms_messages SET name = $1, body = $2, from_number_id = $3, subscription_type_id = $4, \
             state = 'draft', updated_at = $5, \
             revision = CASE WHEN published_revision = revision THEN revision + 1 ELSE revision END \
             WHERE account_id = $6 AND id = $7",
        )
        .bind(&c.name)
        .bind(&c.body)
        .bind(c.from_number_id.as_str())
        .bind(c.subscription_type_id.as_ref().map(|s| s.as_str().to_string()))
        .bind(ms(at))
        .bind(account.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_sms_message(account, id).await
    }

    pub async fn get_sms_message(
        &self,
        account: &AccountId,
        id: &SmsMessageId,
    ) -> Result<SmsMessageRow> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sms_messages WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        message_row(&row)
    }

    /// The account's messages by id (creation order), `limit` at a time.
    pub async fn list_sms_messages(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<SmsMessageRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sms_messages WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(message_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |m| m.id.to_string()))
    }

    /// Freezes `m` (as read and validated by the caller) as its revision's
    /// published form. If the message changed since it was read, nothing is
    /// published and the answer is a conflict: what is frozen is always what
    /// was validated.
    pub async fn publish_sms_message(
        &self,
        account: &AccountId,
        m: &SmsMessageRow,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let c = &m.content;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sms_messages SET state = 'published', published_revision = revision, updated_at = $1 \
             WHERE account_id = $2 AND id = $3 AND revision = $4 AND name = $5 AND body = $6 \
             AND from_number_id = $7 AND COALESCE(subscription_type_id, '') = $8",
        )
        .bind(ms(at))
        .bind(account.as_str())
        .bind(m.id.as_str())
        .bind(m.revision)
        .bind(&c.name)
        .bind(&c.body)
        .bind(c.from_number_id.as_str())
        .bind(c.subscription_type_id.as_ref().map_or("", |s| s.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the SMS message changed while it was being published".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO sms_message_revisions (sms_message_id, revision, name, body, from_number_id, \
             subscription_type_id, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (sms_message_id, revision) DO NOTHING",
        )
        .bind(m.id.as_str())
        .bind(m.revision)
        .bind(&c.name)
        .bind(&c.body)
        .bind(c.from_number_id.as_str())
        .bind(c.subscription_type_id.as_ref().map(|s| s.as_str().to_string()))
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The published revision of every published message of the account,
    /// by message id: what send-SMS actions may reference (R4).
    pub async fn published_sms_messages(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(SmsMessageId, SmsMessageRevisionRow)>> {
        let rows = sqlx::query(
            "SELECT r.sms_message_id, r.revision, r.name, r.body, r.from_number_id, r.subscription_type_id, \
             r.published_at FROM sms_messages m JOIN sms_message_revisions r \
             ON r.sms_message_id = m.id AND r.revision = m.published_revision \
             WHERE m.account_id = $1 ORDER BY m.id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id = SmsMessageId::from_string(text(r, "sms_message_id")?);
                let revision = SmsMessageRevisionRow {
                    sms_message_id: id.clone(),
                    revision: int(r, "revision")?,
                    content: content(r)?,
                    published_at: time(r, "published_at")?,
                };
                Ok((id, revision))
            })
            .collect()
    }

    /// Changes whenever any of the account's messages is published, so
    /// caches of what workflows send can tell they are stale.
    pub async fn sms_message_version(&self, account: &AccountId) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(published_revision), 0) + COUNT(published_revision) AS BIGINT) AS v \
             FROM sms_messages WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_one(&self.pool)
        .await?;
        crate::rows::int(&row, "v")
    }
}
