//! Conversations: the thread of one account number with one phone (R16).

use crate::records::placeholders;
use crate::rows::{opt_text, opt_time, text, time};
use crate::tx::StoreTx;
use crate::{ms, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, ConversationId, NumberId};
use smsflow_core::phone::E164;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub number_id: NumberId,
    pub phone: E164,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Why an agent should look (e.g. a reply that reads like an opt-out).
    pub needs_attention: Option<String>,
}

const CONVERSATION_COLUMNS: &str =
    "id, number_id, phone, created_at, last_message_at, needs_attention";

fn conversation_row(r: &AnyRow) -> Result<ConversationRow> {
    Ok(ConversationRow {
        id: ConversationId::from_string(text(r, "id")?),
        number_id: NumberId::from_string(text(r, "number_id")?),
        phone: E164::from_trusted(text(r, "phone")?),
        created_at: time(r, "created_at")?,
        last_message_at: opt_time(r, "last_message_at")?,
        needs_attention: opt_text(r, "needs_attention")?,
    })
}

impl Store {
    pub async fn get_conversation(
        &self,
        account: &AccountId,
        id: &ConversationId,
    ) -> Result<ConversationRow> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        conversation_row(&row)
    }

    /// Conversations by id (cursor order); `needs_attention` only those
    /// flagged for an agent.
    pub async fn list_conversations(
        &self,
        account: &AccountId,
        needs_attention: bool,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ConversationRow>> {
        let flag = if needs_attention {
            " AND needs_attention IS NOT NULL"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 AND id > $2{flag} ORDER BY id LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let list = rows
            .iter()
            .map(conversation_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |c| c.id.to_string()))
    }
}

impl StoreTx {
    /// Marks conversations active now.
    pub async fn touch_conversations(
        &mut self,
        ids: &[ConversationId],
        at: DateTime<Utc>,
    ) -> Result<()> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE conversations SET last_message_at = $1 WHERE id IN ({})",
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(ms(at));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            q.execute(self.conn()).await?;
        }
        Ok(())
    }

    /// Sets or clears the attention flag.
    pub async fn flag_conversation(
        &mut self,
        id: &ConversationId,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE conversations SET needs_attention = $1 WHERE id = $2")
            .bind(reason)
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
