//! Test helpers shared by smsflow's crates: fresh databases on every
//! backend (SQLite always, PostgreSQL in CI), so each test starts from an
//! empty, migrated store and never sees another test's data.
#![forbid(unsafe_code)]

pub mod app;
pub mod db;
pub mod fakes;
pub mod summary;
