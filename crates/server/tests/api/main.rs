//! HTTP integration tests of smsflow's REST API, each run against SQLite and
//! PostgreSQL (`sqlite::…` and `postgres::…`; PostgreSQL from
//! `SMSFLOW_TEST_POSTGRES_URL`, never skipped).
//!
//! They pin, over a real socket, what DESIGN §4 promises and §5's
//! conventions: a published workflow sends exactly one personalised SMS to a
//! record that comes to match it (R4, R6, R7, R14, R15, R23); saving an
//! invalid send action reports every bad field at once (R2, R5); the
//! entitlement gate (R1) and form options (R2, R3); day limits under `fail`
//! and `defer`, also under concurrent writes and workers (R9, R10); the
//! recipient and token outcomes (R6, R7); enrollment rules (R23); delay,
//! branch and set-property steps; tenant isolation (R26); and bad input
//! (R28). The engine runs only when a test drains it, on a manual clock.

mod helpers;

mod concurrency;
mod enrollment;
mod entitlement;
mod input;
mod limits;
mod metrics;
mod openapi;
mod options;
mod recipients;
mod send;
mod steps;
mod tenancy;
mod validation;
