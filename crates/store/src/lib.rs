//! Persistence for smsflow. One [`Store`] speaks to SQLite (the embedded
//! default: one file, WAL, one writer) or PostgreSQL (shared by many nodes),
//! chosen by the URL scheme. All SQL of the product lives in this crate.
//!
//! The queries are written once in the dialect both databases accept (`$N`
//! placeholders, `ON CONFLICT`, `RETURNING`; times as Unix milliseconds and
//! JSON as text), run through sqlx's `Any` driver; the few places where the
//! backends differ (row locking, JSON field access) ask [`Backend`].
#![forbid(unsafe_code)]

mod accounts;
mod connections;
mod consent;
mod conversations;
mod direct;
mod directory;
mod dry_run;
mod enrollments;
mod hubspot;
mod messages;
mod provider_directory;
mod records;
mod recovery;
mod rows;
mod sms_messages;
mod tx;
mod writer;

mod workflows;

pub use accounts::{AccountRow, NewAccount};
pub use connections::ConnectionRow;
pub use consent::{ConsentChange, ConsentRow, SubscriptionTypeRow};
pub use conversations::ConversationRow;
pub use directory::{NumberRow, UserRow};
pub use dry_run::ScannedRecord;
pub use enrollments::{ClaimedEnrollment, EnrollmentRow, EnrollmentState, NewEnrollment};
pub use hubspot::{ExecutionClaim, HubspotExecutionRow, HubspotLogRow, HubspotPortalRow};
pub use messages::{
    ActionLogFilter, ActionLogRow, EngagementRow, MessageFilter, MessageRow, NewMessage,
    OutboxMessage, UsageRow,
};
pub use provider_directory::{
    DirectorySync, SyncCounts, SyncReport, SyncSkip, SyncedNumber, SyncedUser,
};
pub use records::RecordWrite;
pub use recovery::{PaceBucket, PaceDemand, PaceGrant, HANDOFF_UNKNOWN_REASON};
pub use sms_messages::{SmsMessageContent, SmsMessageRevisionRow, SmsMessageRow, SmsMessageState};
pub use tx::{CounterGrant, StoreTx};
pub use tx::{EnrollmentUpdate, HandOff};
pub use workflows::{WorkflowRow, WorkflowState};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement through [`direct::DirectReads`] or [`writer::SqliteWriter`]
    /// (SQLite).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// A unique-constraint violation, which callers turn into a conflict.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `column` in a WHERE clause that must not drive the index choice.
    /// `account_id = ? AND id IN (…)` made SQLite walk the account's whole
    /// `(account_id, object_type, id)` index for every list — one scan of
    /// every record per executor batch — instead of probing the primary key
    /// per id. SQLite's unary `+` keeps the term as a filter only.
    /// PostgreSQL does the same without statistics (autovacuum off, or not
    /// yet caught up with a bulk load): it ANDed the primary key's probes
    /// with a scan of the account's whole index, 100 ms per 500 ids at
    /// 300,000 records. It has no unary `+` for text; `|| ''` hides the
    /// column from its indexes just as well.
    pub(crate) fn filter_only(self, column: &str) -> String {
        match self {
            Backend::Sqlite => format!("+{column}"),
            Backend::Postgres => format!("({column} || '')"),
        }
    }

    /// SQLite looks a `$N` parameter up by a linear scan of the statement's
    /// parameter names on every bind, so a 5,000-value `IN (…)` list costs
    /// quadratic time (it was 29 % of a dry run's CPU); anonymous `?` are
    /// bound by position. For SQLite this rewrites `$1, $2, … $k` to `?`
    /// when they appear exactly once each in that order — true of every
    /// generated list statement — and leaves any other statement as it is.
    pub(crate) fn positional(self, sql: &str) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        if self == Backend::Postgres {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len());
        let mut expected = 1usize;
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            match after[..digits].parse::<usize>() {
                Ok(n) if n == expected => {
                    out.push('?');
                    expected += 1;
                    rest = &after[digits..];
                }
                _ => return Cow::Borrowed(sql),
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// A kind of due work that nodes lease in batches (see [`Store::claim_due`]).
pub(crate) struct Claim<'a> {
    pub table: &'a str,
    /// The columns a claimed row is read with.
    pub columns: &'a str,
    /// Only rows in the first status are due; the claim moves them to the
    /// second.
    pub status: Option<(&'a str, &'a str)>,
}

/// A list page: `next_cursor` is the last id when more may follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    fn from_rows(mut results: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Self {
        let next_cursor = if results.len() as i64 > limit {
            results.truncate(limit as usize);
            results.last().map(id)
        } else {
            None
        };
        Page {
            results,
            next_cursor,
        }
    }
}

/// Read-only connections to the SQLite file at `url`, one per core.
async fn sqlite_readers(url: &str) -> Result<AnyPool> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push("mode=ro");
    let options = AnyConnectOptions::from_str(&format!("{base}?{}", params.join("&")))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // One per core, and one more: a dry run reads several pages at once,
    // and the lookups it and the engine make between pages must not wait
    // for them all.
    Ok(AnyPoolOptions::new()
        .max_connections(cores.clamp(2, 8) as u32 + 1)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA cache_size = -16384").await?;
                // Reads of the database file through a shared mapping
                // instead of a pread and a copy per page that misses the
                // connection's cache: a dry run over a large account reads
                // every record page once (BENCHMARKS.md).
                conn.execute("PRAGMA mmap_size = 1073741824").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// PostgreSQL connections for the dry run's pages ([`PageReads`]),
/// opened when a dry run first reads: as many as it reads pages at once,
/// and one more for a second run.
fn postgres_pages(url: &str) -> Result<sqlx::PgPool> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?
        .options([("plan_cache_mode", "force_custom_plan")]);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(cores.clamp(2, 8) as u32 + 2)
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options))
}

/// Where the dry run reads its pages and their consents (R24): past
/// sqlx's `Any` driver on both backends.
#[derive(Clone, Debug)]
pub(crate) enum PageReads {
    /// See [`direct`].
    Sqlite(direct::DirectReads),
    /// sqlx's PostgreSQL driver itself. The `Any` driver copies every row
    /// into a row of its own, each value into a new `String` and the
    /// row's column names with it, which was a fifth of a dry run's CPU;
    /// a `PgRow`'s text columns are read where the driver received them.
    Postgres(sqlx::PgPool),
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: read-only connections for the hot lookups outside
    /// transactions (records, consents, enrollments of records, the dry
    /// run's pages, and the settings, numbers, users, subscription types
    /// and workflow states every engine round looks up). WAL lets them read
    /// while the one writer writes, so those reads neither queue behind
    /// writes nor hold the one writer connection that every round's claims
    /// and commits wait for.
    /// A read issued after a commit returned sees that commit.
    reader: Option<AnyPool>,
    /// The dry run's reads.
    pages: PageReads,
    /// SQLite only: where every [`StoreTx`] writes (see [`writer`]).
    writer: Option<writer::SqliteWriter>,
    backend: Backend,
}

impl Store {
    /// Connects and runs the backend's migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let store = Self::connect_without_migrating(url).await?;
        store.migrate().await?;
        store.warn_without_autovacuum().await?;
        Ok(store)
    }

    /// PostgreSQL plans every statement by the statistics autovacuum
    /// gathers; with it off they are never gathered, and lookups by
    /// record, phone or workflow that should probe an index may scan the
    /// account instead. Worth telling the operator once, at start.
    async fn warn_without_autovacuum(&self) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let row = sqlx::query("SELECT current_setting('autovacuum') AS autovacuum")
            .fetch_one(&self.pool)
            .await?;
        if rows::text(&row, "autovacuum")? != "on" {
            tracing::warn!(
                "PostgreSQL's autovacuum is off: tables get no planner statistics, so \
                 some lookups can scan whole tables; turn it on, or run ANALYZE after \
                 large loads"
            );
        }
        Ok(())
    }

    pub async fn connect_without_migrating(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        // Every SQLite connection of a store opens the file on its own:
        // an in-memory database would be a different, empty one for each.
        if backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = AnyConnectOptions::from_str(&url)?;
                // SQLite allows one writer at a time; a single connection makes
                // every transaction a clean serial section (no SQLITE_BUSY on
                // lock upgrades) and is also the fastest way to write.
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(writer::WRITER_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?;
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Statements are prepared once per connection.
                            // After five runs PostgreSQL may switch to a
                            // generic plan that no longer sees the account
                            // or the ids bound, and `account_id = $1 AND id
                            // IN (…)` then walked the account's index: every
                            // executor batch slowed with the number of
                            // records. Our statements are cheap to plan.
                            conn.execute("SET plan_cache_mode = force_custom_plan")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        let (reader, pages, writer) = match backend {
            Backend::Sqlite => (
                Some(sqlite_readers(url).await?),
                PageReads::Sqlite(direct::DirectReads::new(url)?),
                Some(writer::SqliteWriter::open(url)?),
            ),
            Backend::Postgres => (None, PageReads::Postgres(postgres_pages(url)?), None),
        };
        Ok(Self {
            pool,
            reader,
            pages,
            writer,
            backend,
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where read-only lookups outside a transaction go.
    pub(crate) fn reads(&self) -> &AnyPool {
        self.reader.as_ref().unwrap_or(&self.pool)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin(&self) -> Result<StoreTx> {
        match &self.writer {
            // The sqlx writer's one connection, held idle, is the lock.
            Some(writer) => Ok(StoreTx::sqlite(writer.begin(self.pool.acquire().await?))),
            None => Ok(StoreTx::postgres(self.pool.begin().await?)),
        }
    }

    pub async fn close(&self) {
        match &self.pages {
            PageReads::Sqlite(direct) => direct.close(),
            PageReads::Postgres(pages) => pages.close().await,
        }
        if let Some(r) = &self.reader {
            r.close().await;
        }
        self.pool.close().await;
    }

    /// Leases a batch of `claim.table`'s due rows (`due_at` passed, no live
    /// lease) to `owner` until `lease_until`, counting an attempt each, and
    /// returns them as they are after the claim, read by `parse`.
    ///
    /// PostgreSQL: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
    /// LOCKED) RETURNING`. SQLite: the due rows are read and leased by id
    /// in one transaction — with the single writer nothing can claim them
    /// in between — and the claim's changes are applied to what was read
    /// (`RETURNING` would hand them back in no particular order).
    pub(crate) async fn claim_due<T>(
        &self,
        claim: &Claim<'_>,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        parse: impl Fn(&dyn rows::Columns) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Claim {
            table,
            columns,
            status,
        } = claim;
        let (set_status, due_status) = match status {
            Some((from, to)) => (
                format!(", status = '{to}'"),
                format!(" AND status = '{from}'"),
            ),
            None => (String::new(), String::new()),
        };
        let due = |now: &str| {
            format!(
                "due_at <= {now}{due_status} AND (lease_until IS NULL OR lease_until < {now}) \
                 ORDER BY due_at"
            )
        };
        let set =
            format!("lease_owner = $1, lease_until = $2, attempts = attempts + 1{set_status}");
        if self.backend == Backend::Postgres {
            let sql = format!(
                "UPDATE {table} SET {set} WHERE id IN (SELECT id FROM {table} WHERE {} \
                 LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING {columns}",
                due("$3")
            );
            let rows = self
                .lease_returning(&sql, owner, now, lease_until, limit)
                .await?;
            return rows.iter().map(|r| parse(r)).collect();
        }
        if !self.may_be_due(table, &due("$1"), now).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {columns} FROM {table} WHERE {} LIMIT $2", due("$1"));
        let due_rows = tx
            .fetch_all(&sql, vec![tx::i(ms(now)), tx::i(limit)])
            .await?;
        if !due_rows.is_empty() {
            let sql = format!(
                "UPDATE {table} SET {set} WHERE id IN ({})",
                records::placeholders(3, due_rows.len())
            );
            let sql = self.backend.positional(&sql);
            let mut args = vec![tx::t(owner), tx::i(ms(lease_until))];
            for r in &due_rows {
                args.push(tx::t(rows::text(r, "id")?));
            }
            tx.execute(&sql, args).await?;
        }
        tx.commit().await?;
        due_rows
            .iter()
            .map(|row| {
                parse(&rows::AsClaimed {
                    row,
                    attempts: rows::int(row, "attempts")? + 1,
                    status: status.map(|(_, to)| to),
                })
            })
            .collect()
    }

    /// Whether `SELECT 1 FROM {table} WHERE {due}` (with `$1` bound to
    /// `now`) finds a row, asked of a read-only connection — on SQLite
    /// only, where a claim takes the one writer connection even to find
    /// nothing. A worker round makes five claims (enrollments, outbox,
    /// reaper, HubSpot executions and logs); the idle ones queued behind
    /// the step transactions for the writer, about a sixth of a busy
    /// round's time. A row that falls due after this read is claimed next
    /// round.
    /// On PostgreSQL claims run concurrently, so this answers `true`.
    pub(crate) async fn may_be_due(
        &self,
        table: &str,
        due: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(true);
        }
        let sql = format!("SELECT 1 AS due FROM {table} WHERE {due} LIMIT 1");
        Ok(sqlx::query(&sql)
            .bind(ms(now))
            .fetch_optional(self.reads())
            .await?
            .is_some())
    }

    /// Runs a lease statement, `UPDATE … RETURNING`, with `$1` the owner,
    /// `$2` the end of the lease, `$3` now and `$4` the batch size, and
    /// returns the leased rows.
    pub(crate) async fn lease_returning(
        &self,
        sql: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        Ok(sqlx::query(sql)
            .bind(owner)
            .bind(ms(lease_until))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// `FOR UPDATE SKIP LOCKED` where the database has row locks; SQLite's
    /// single writer needs none.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{Backend, Store, StoreError};

    /// Each SQLite connection of a store (the writer, the sqlx readers,
    /// the dry run's direct reads) opens the database on its own, so an
    /// in-memory one would be a different, empty database for each.
    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused_with_the_url_named() {
        for url in [
            "sqlite::memory:",
            "sqlite://file:x?mode=memory&cache=shared",
        ] {
            match Store::connect(url).await {
                Err(StoreError::UnsupportedUrl(named)) => assert_eq!(named, url),
                other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn positional_rewrites_ordered_parameters_for_sqlite_only() {
        let sql = "SELECT x FROM t WHERE a = $1 AND b IN ($2, $3) AND j = json_extract(c, '$.k')";
        assert_eq!(
            Backend::Sqlite.positional(sql),
            "SELECT x FROM t WHERE a = ? AND b IN (?, ?) AND j = json_extract(c, '$.k')"
        );
        assert_eq!(Backend::Postgres.positional(sql), sql);
    }

    #[test]
    fn positional_leaves_reused_or_reordered_parameters_alone() {
        for sql in [
            "UPDATE t SET a = $1, b = $1 WHERE id = $2",
            "SELECT 1 WHERE a = $2 AND b = $1",
            "SELECT 1 WHERE a = $1 AND b = $10",
        ] {
            assert_eq!(Backend::Sqlite.positional(sql), sql);
        }
    }
}
