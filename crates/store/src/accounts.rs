//! Accounts and their API tokens (stored hashed, R26).

use crate::rows::{json, text, time, to_json};
use crate::{ms, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::account::AccountSettings;
use smsflow_core::ids::AccountId;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: AccountId,
    pub name: String,
    pub settings: AccountSettings,
    pub created_at: DateTime<Utc>,
}

pub struct NewAccount<'a> {
    pub id: &'a AccountId,
    pub name: &'a str,
    pub settings: &'a AccountSettings,
    pub token_hash: &'a str,
    pub at: DateTime<Utc>,
}

impl Store {
    pub async fn create_account(&self, new: NewAccount<'_>) -> Result<AccountRow> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, settings, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new.id.as_str())
        .bind(new.name)
        .bind(to_json(new.settings))
        .bind(ms(new.at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, account_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(new.token_hash)
        .bind(new.id.as_str())
        .bind(ms(new.at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AccountRow {
            id: new.id.clone(),
            name: new.name.to_string(),
            settings: new.settings.clone(),
            created_at: new.at,
        })
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<AccountRow> {
        let row = sqlx::query("SELECT id, name, settings, created_at FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reads())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(AccountRow {
            id: AccountId::from_string(text(&row, "id")?),
            name: text(&row, "name")?,
            settings: json(&row, "settings")?,
            created_at: time(&row, "created_at")?,
        })
    }

    pub async fn update_account(
        &self,
        id: &AccountId,
        name: &str,
        settings: &AccountSettings,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE accounts SET name = $1, settings = $2 WHERE id = $3")
            .bind(name)
            .bind(to_json(settings))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn count_accounts(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub async fn account_for_token(&self, token_hash: &str) -> Result<Option<AccountId>> {
        let row = sqlx::query("SELECT account_id FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(AccountId::from_string(text(&r, "account_id")?)))
            .transpose()
    }
}
