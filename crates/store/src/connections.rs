//! Provider connections. A new one is stored by [`crate::StoreTx::create_connection`],
//! in one transaction with the sync of its provider's directory.

use crate::rows::{json, text, time, to_json};
use crate::{Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, MessageId};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRow {
    pub id: String,
    pub account_id: AccountId,
    pub kind: String,
    pub name: String,
    /// Includes secrets: never show or log it whole.
    pub config: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

fn connection_row(r: &AnyRow) -> Result<ConnectionRow> {
    Ok(ConnectionRow {
        id: text(r, "id")?,
        account_id: AccountId::from_string(text(r, "account_id")?),
        kind: text(r, "kind")?,
        name: text(r, "name")?,
        config: json(r, "config")?,
        created_at: time(r, "created_at")?,
    })
}

impl Store {
    /// Replaces a connection's name and config (its kind never changes).
    pub async fn update_connection(&self, c: &ConnectionRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE provider_connections SET name = $1, config = $2 WHERE account_id = $3 AND id = $4",
        )
        .bind(c.name.as_str())
        .bind(to_json(&c.config))
        .bind(c.account_id.as_str())
        .bind(c.id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A connection of this account (another account's answers NotFound).
    pub async fn get_connection(&self, account: &AccountId, id: &str) -> Result<ConnectionRow> {
        let row = sqlx::query("SELECT id, account_id, kind, name, config, created_at FROM provider_connections WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        connection_row(&row)
    }

    pub async fn list_connections(&self, account: &AccountId) -> Result<Vec<ConnectionRow>> {
        let rows = sqlx::query("SELECT id, account_id, kind, name, config, created_at FROM provider_connections WHERE account_id = $1 ORDER BY id")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(connection_row).collect()
    }

    /// The message a provider knows by its own id.
    pub async fn message_by_provider_id(
        &self,
        account: &AccountId,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<MessageId> {
        let row = sqlx::query("SELECT id FROM messages WHERE account_id = $1 AND provider = $2 AND provider_message_id = $3")
            .bind(account.as_str())
            .bind(provider)
            .bind(provider_message_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(MessageId::from_string(text(&row, "id")?))
    }
}
