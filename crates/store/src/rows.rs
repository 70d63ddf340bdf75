//! Small helpers to read columns and JSON text without repeating error
//! plumbing in every query. They read a driver row or one element of a
//! folded batch (see [`fold_objects_sql`]) alike.

use crate::{from_ms, Result, StoreError};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
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

/// One row of a folded batch: column name → value.
impl Columns for Map<String, Value> {
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.get(col) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(StoreError::Corrupt(format!(
                "{col}: text expected, got {other}"
            ))),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self.get(col) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("{col}: integer expected, got {v}"))),
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

/// SQLite: the rows `rows` selects (at least the comma-separated
/// `columns`) as ONE row whose column `page` is a JSON array of objects,
/// column → value, ordered by `order` (a column of `rows`). sqlx's SQLite driver hands every row of a
/// result from its worker thread through a channel, with a thread wake and
/// a copy of each value; for a claim of a batch that is ~20–40 µs a row,
/// all of it while holding the one writer connection every other round
/// waits for (it was over half of the writer's statement time in the
/// bench). The database folds the rows for a fraction of that.
pub(crate) fn fold_objects_sql(columns: &str, rows: &str, order: &str) -> String {
    let pairs: Vec<String> = columns
        .split(',')
        .map(str::trim)
        .map(|c| format!("'{c}', {c}"))
        .collect();
    format!(
        "SELECT json_group_array(json_object({}) ORDER BY {order}) AS page FROM ({rows})",
        pairs.join(", ")
    )
}

/// The elements of a folded result's `page` column ([`fold_objects_sql`],
/// [`crate::records::fold_records_sql`]).
pub(crate) fn folded<T: DeserializeOwned>(row: &AnyRow) -> Result<Vec<T>> {
    json(row, "page")
}
