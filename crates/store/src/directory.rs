//! Users, numbers, the links between them, and custom property definitions.
//! Nothing here is cached: a number or user is visible to the next query
//! after it is written (R3).

use crate::rows::{int, json, opt_text, parse, text, time};
use crate::{ms, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, NumberId, UserId};
use smsflow_core::object::{ObjectType, PropertyDef, PropertyName, PropertyType};
use smsflow_core::phone::E164;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// The provider connection the user was synced from, if any.
    pub provider: Option<String>,
    /// The provider's own id of the user, when synced.
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumberRow {
    pub id: NumberId,
    pub e164: E164,
    pub label: String,
    pub provider: String,
    pub sms: bool,
    pub mms: bool,
    pub voice: bool,
    /// Messages (segments) per second the number may send (R11).
    pub throughput: i64,
    pub user_ids: Vec<UserId>,
    /// The provider's own id of the number, when synced from its provider
    /// (Aircall sends by it).
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn user_row(r: &AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        id: UserId::from_string(text(r, "id")?),
        name: text(r, "name")?,
        email: text(r, "email")?,
        provider: opt_text(r, "provider")?,
        external_id: opt_text(r, "external_id")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn number_row(r: &AnyRow) -> Result<NumberRow> {
    Ok(NumberRow {
        id: NumberId::from_string(text(r, "id")?),
        e164: E164::from_trusted(text(r, "e164")?),
        label: text(r, "label")?,
        provider: text(r, "provider")?,
        sms: int(r, "sms")? != 0,
        mms: int(r, "mms")? != 0,
        voice: int(r, "voice")? != 0,
        throughput: int(r, "throughput")?,
        user_ids: Vec::new(),
        external_id: opt_text(r, "external_id")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) const NUMBER_COLUMNS: &str =
    "id, e164, label, provider, sms, mms, voice, throughput, external_id, created_at";

pub(crate) const USER_COLUMNS: &str = "id, name, email, provider, external_id, created_at";

impl Store {
    pub async fn create_user(&self, account: &AccountId, user: &UserRow) -> Result<()> {
        sqlx::query("INSERT INTO users (id, account_id, name, email, provider, external_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(user.id.as_str())
            .bind(account.as_str())
            .bind(&user.name)
            .bind(&user.email)
            .bind(user.provider.as_deref())
            .bind(user.external_id.as_deref())
            .bind(ms(user.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_users(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<UserRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        ))
        .bind(account.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let users = rows.iter().map(user_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(users, limit, |u| u.id.to_string()))
    }

    pub async fn get_user(&self, account: &AccountId, id: &UserId) -> Result<UserRow> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND id = $2",
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound)?;
        user_row(&row)
    }

    /// All user ids of the account, for validation.
    pub async fn user_ids(&self, account: &AccountId) -> Result<Vec<UserId>> {
        let rows = sqlx::query("SELECT id FROM users WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(UserId::from_string(text(r, "id")?)))
            .collect()
    }

    /// Creates a number and its user links in one transaction.
    pub async fn create_number(&self, account: &AccountId, n: &NumberRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO numbers (id, account_id, e164, label, provider, sms, mms, voice, throughput, external_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(n.id.as_str())
        .bind(account.as_str())
        .bind(n.e164.as_str())
        .bind(&n.label)
        .bind(&n.provider)
        .bind(n.sms as i64)
        .bind(n.mms as i64)
        .bind(n.voice as i64)
        .bind(n.throughput)
        .bind(n.external_id.as_deref())
        .bind(ms(n.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "a number with this e164 already exists"))?;
        for user in &n.user_ids {
            sqlx::query("INSERT INTO number_users (number_id, user_id) VALUES ($1, $2)")
                .bind(n.id.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Updates label, provider, capabilities and throughput.
    pub async fn update_number(&self, account: &AccountId, n: &NumberRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE numbers SET label = $1, provider = $2, sms = $3, mms = $4, voice = $5, throughput = $6 \
             WHERE account_id = $7 AND id = $8",
        )
        .bind(&n.label)
        .bind(&n.provider)
        .bind(n.sms as i64)
        .bind(n.mms as i64)
        .bind(n.voice as i64)
        .bind(n.throughput)
        .bind(account.as_str())
        .bind(n.id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces the users linked to a number.
    pub async fn set_number_users(
        &self,
        account: &AccountId,
        number: &NumberId,
        users: &[UserId],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let owned = sqlx::query("SELECT id FROM numbers WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(number.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM number_users WHERE number_id = $1")
            .bind(number.as_str())
            .execute(&mut *tx)
            .await?;
        for user in users {
            sqlx::query("INSERT INTO number_users (number_id, user_id) VALUES ($1, $2)")
                .bind(number.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_number(&self, account: &AccountId, id: &NumberId) -> Result<NumberRow> {
        let row = sqlx::query(&format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut n = number_row(&row)?;
        n.user_ids = self.linked_users(&n.id).await?;
        Ok(n)
    }

    async fn linked_users(&self, number: &NumberId) -> Result<Vec<UserId>> {
        let rows =
            sqlx::query("SELECT user_id FROM number_users WHERE number_id = $1 ORDER BY user_id")
                .bind(number.as_str())
                .fetch_all(self.reads())
                .await?;
        rows.iter()
            .map(|r| Ok(UserId::from_string(text(r, "user_id")?)))
            .collect()
    }

    /// Every number of the account with its linked users.
    pub async fn list_numbers(&self, account: &AccountId) -> Result<Vec<NumberRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {NUMBER_COLUMNS} FROM numbers WHERE account_id = $1 ORDER BY id"
        ))
        .bind(account.as_str())
        .fetch_all(self.reads())
        .await?;
        let mut numbers = rows.iter().map(number_row).collect::<Result<Vec<_>>>()?;
        let links = sqlx::query(
            "SELECT l.number_id, l.user_id FROM number_users l JOIN numbers n ON n.id = l.number_id \
             WHERE n.account_id = $1 ORDER BY l.user_id",
        )
        .bind(account.as_str())
        .fetch_all(self.reads())
        .await?;
        for link in &links {
            let number_id = text(link, "number_id")?;
            if let Some(n) = numbers.iter_mut().find(|n| n.id.as_str() == number_id) {
                n.user_ids.push(UserId::from_string(text(link, "user_id")?));
            }
        }
        Ok(numbers)
    }

    pub async fn custom_properties(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<Vec<PropertyDef>> {
        let rows = sqlx::query(
            "SELECT name, label, kind FROM property_defs WHERE account_id = $1 AND object_type = $2 ORDER BY name",
        )
        .bind(account.as_str())
        .bind(object_type.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PropertyDef {
                    name: parse::<PropertyNameText>(r, "name")?.0,
                    label: text(r, "label")?,
                    kind: json::<PropertyType>(r, "kind")?,
                })
            })
            .collect()
    }

    pub async fn create_property(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        def: &PropertyDef,
    ) -> Result<()> {
        sqlx::query("INSERT INTO property_defs (account_id, object_type, name, label, kind) VALUES ($1, $2, $3, $4, $5)")
            .bind(account.as_str())
            .bind(object_type.as_str())
            .bind(def.name.as_str())
            .bind(&def.label)
            .bind(crate::rows::to_json(&def.kind))
            .execute(&self.pool)
            .await
            .map_err(|e| conflict(e, "a property with this name already exists"))?;
        Ok(())
    }
}

struct PropertyNameText(PropertyName);

impl std::str::FromStr for PropertyNameText {
    type Err = smsflow_core::object::PropertyNameError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        PropertyName::parse(s).map(PropertyNameText)
    }
}

pub(crate) fn conflict(e: impl Into<StoreError>, what: &str) -> StoreError {
    let err = e.into();
    if err.is_unique_violation() {
        StoreError::Conflict(what.to_string())
    } else {
        err
    }
}
