//! Small helpers to read columns and JSON text without repeating error
//! plumbing in every query. They read any row alike: sqlx's, one read in
//! a transaction ([`crate::tx::TxRow`]) or one as a claim left it.

use crate::{from_ms, Result, StoreError};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Where the helpers read columns from.
pub(crate) trait Columns {
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

impl Columns for AnyRow {
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get::<Option<i64>, _>(col)?)
    }
}

/// A row as a claim left it: its attempts counted and, for claims that
/// move a status, the new one.
pub(crate) struct AsClaimed<'a, R: Columns> {
    pub row: &'a R,
    pub attempts: i64,
    pub status: Option<&'a str>,
}

impl<R: Columns> Columns for AsClaimed<'_, R> {
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match (col, self.status) {
            ("status", Some(status)) => Ok(Some(status.to_string())),
            _ => self.row.opt_text(col),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match col {
            "attempts" => Ok(Some(self.attempts)),
            _ => self.row.opt_int(col),
        }
    }
}

fn required<T>(v: Option<T>, col: &str) -> Result<T> {
    v.ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
}

pub(crate) fn text(row: &(impl Columns + ?Sized), col: &str) -> Result<String> {
    required(row.opt_text(col)?, col)
}

pub(crate) fn opt_text(row: &(impl Columns + ?Sized), col: &str) -> Result<Option<String>> {
    row.opt_text(col)
}

pub(crate) fn int(row: &(impl Columns + ?Sized), col: &str) -> Result<i64> {
    required(row.opt_int(col)?, col)
}

pub(crate) fn opt_int(row: &(impl Columns + ?Sized), col: &str) -> Result<Option<i64>> {
    row.opt_int(col)
}

pub(crate) fn time(row: &(impl Columns + ?Sized), col: &str) -> Result<DateTime<Utc>> {
    Ok(from_ms(int(row, col)?))
}

pub(crate) fn opt_time(row: &(impl Columns + ?Sized), col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(opt_int(row, col)?.map(from_ms))
}

pub(crate) fn json<T: DeserializeOwned>(row: &(impl Columns + ?Sized), col: &str) -> Result<T> {
    let raw = text(row, col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn parse<T: std::str::FromStr>(row: &(impl Columns + ?Sized), col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let raw = text(row, col)?;
    raw.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values always serialise")
}

/// The elements of a folded result's `page` column
/// ([`crate::records::fold_records_sql`]).
pub(crate) fn folded<T: DeserializeOwned>(row: &AnyRow) -> Result<Vec<T>> {
    json(row, "page")
}
