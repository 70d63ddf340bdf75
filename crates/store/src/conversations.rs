//! Conversations: the thread of one account number with one phone (R16).

use crate::records::placeholders;
use crate::rows::{opt_text, opt_time, text, time};
use crate::tx::{i, ot, t, values_list, StoreTx};
use crate::{ms, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, ConversationId, NumberId};
use smsflow_core::phone::E164;
use sqlx::any::AnyRow;
use std::collections::HashMap;

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
    /// The conversation of `number` with `phone`, if they have one.
    pub async fn find_conversation(
        &self,
        account: &AccountId,
        number: &NumberId,
        phone: &E164,
    ) -> Result<Option<ConversationId>> {
        let row = sqlx::query(
            "SELECT id FROM conversations WHERE account_id = $1 AND number_id = $2 AND phone = $3",
        )
        .bind(account.as_str())
        .bind(number.as_str())
        .bind(phone.as_str())
        .fetch_optional(self.reads())
        .await?;
        row.map(|r| Ok(ConversationId::from_string(text(&r, "id")?)))
            .transpose()
    }

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
    /// Opens a conversation for each `(number, phone)` thread that has none
    /// and marks every one active at `at`; answers each thread's id.
    ///
    /// A new conversation gets a new, time-ordered id, and the thread is
    /// found again by its natural key `(account, number, phone)`. Ids
    /// derived by hashing that key spread every batch's new conversations
    /// over all pages of three indexes (the id, the account's list, each
    /// message's thread), and writing those pages back was a third of a
    /// step transaction's time (BENCHMARKS.md).
    pub async fn open_conversations(
        &mut self,
        account: &AccountId,
        threads: &[(NumberId, E164)],
        at: DateTime<Utc>,
    ) -> Result<HashMap<(NumberId, E164), ConversationId>> {
        // Sorted, so every node takes the threads' row locks in one order
        // and two batches that meet the same threads cannot deadlock; and
        // each once, because PostgreSQL refuses an upsert that meets the
        // same row twice (a batch may text one phone from one number twice).
        let mut distinct: Vec<&(NumberId, E164)> = threads.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return Ok(HashMap::new());
        }
        const COLUMNS: &str = "id, account_id, number_id, phone, created_at, last_message_at";
        const UPSERT: &str = "ON CONFLICT (account_id, number_id, phone) \
                              DO UPDATE SET last_message_at = excluded.last_message_at";
        let row = |(number, phone): &(NumberId, E164)| {
            vec![
                t(ConversationId::generate().as_str()),
                t(account.as_str()),
                t(number.as_str()),
                t(phone.as_str()),
                i(ms(at)),
                i(ms(at)),
            ]
        };
        let mut ids = HashMap::with_capacity(distinct.len());
        let mut found = |id: String, number: String, phone: String| {
            ids.insert(
                (NumberId::from_string(number), E164::from_trusted(phone)),
                ConversationId::from_string(id),
            );
        };
        for chunk in distinct.chunks(1_000) {
            let rows: Vec<_> = chunk.iter().map(|pair| row(pair)).collect();
            // Each thread's row comes back, inserted or not.
            let sql = format!(
                "INSERT INTO conversations ({COLUMNS}) VALUES {} {UPSERT} \
                 RETURNING id, number_id, phone",
                values_list(self.backend(), chunk.len(), 6, 1)
            );
            for r in self
                .fetch_all(&sql, rows.into_iter().flatten().collect())
                .await?
            {
                found(text(&r, "id")?, text(&r, "number_id")?, text(&r, "phone")?);
            }
        }
        match distinct.iter().find(|pair| !ids.contains_key(pair)) {
            Some((number, phone)) => Err(StoreError::Corrupt(format!(
                "the conversation of {number} with {phone} was not opened"
            ))),
            None => Ok(ids),
        }
    }

    /// [`StoreTx::open_conversations`] for one thread.
    pub async fn open_conversation(
        &mut self,
        account: &AccountId,
        number: &NumberId,
        phone: &E164,
        at: DateTime<Utc>,
    ) -> Result<ConversationId> {
        let thread = (number.clone(), phone.clone());
        let mut ids = self
            .open_conversations(account, std::slice::from_ref(&thread), at)
            .await?;
        ids.remove(&thread)
            .ok_or_else(|| StoreError::Corrupt(format!("no conversation of {number} with {phone}")))
    }

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
            let sql = self.backend().positional(&sql);
            let mut args = vec![i(ms(at))];
            args.extend(chunk.iter().map(|id| t(id.as_str())));
            self.execute(&sql, args).await?;
        }
        Ok(())
    }

    /// Sets or clears the attention flag.
    pub async fn flag_conversation(
        &mut self,
        id: &ConversationId,
        reason: Option<&str>,
    ) -> Result<()> {
        self.execute(
            "UPDATE conversations SET needs_attention = $1 WHERE id = $2",
            vec![ot(reason), t(id.as_str())],
        )
        .await?;
        Ok(())
    }
}
