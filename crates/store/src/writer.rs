//! SQLite only: the connection every [`crate::StoreTx`] writes through,
//! driven by rusqlite.
//!
//! sqlx's SQLite driver runs a connection on a worker thread of its own:
//! every statement of a transaction is a message to that thread and a wake
//! back, and its `Any` layer copies each bound value twice on the way
//! (into `AnyArguments`, then into SQLite's). A step transaction binds
//! about 40,000 values, and the one writer connection was held for twice
//! the time SQLite itself spent in the statements (BENCHMARKS.md). Here a
//! statement's values are bound straight from the caller's [`Arg`]s, with
//! its prepared form cached by SQL text, on the calling thread.
//!
//! The store's sqlx pool keeps its one connection, for the writes outside
//! transactions (accounts, directory, migrations …). A transaction here
//! holds that connection for its whole life as the writer's lock: nothing
//! else writes meanwhile, so the two never meet SQLite's busy handler.
//!
//! Checkpoints — copying the WAL back into the database file, with an
//! `fsync` — run on a thread of their own ([`checkpoints`]) rather than
//! inside whichever COMMIT crossed the WAL's size threshold: there one
//! took ~100 ms while every other writer waited, and those few commits
//! were two thirds of all commit time in a busy pipeline (BENCHMARKS.md).

use crate::rows::Columns;
use crate::tx::Arg;
use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Any;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the checkpointer copies what the WAL holds back into the
/// database file. Under a busy pipeline the WAL grows by ~10 MB a second,
/// so it stays within a few MB; an idle store costs a wake-up and a look
/// at the WAL's header.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Distinct statements kept prepared. The multi-row statements differ by
/// their row count, and a busy node writes a few dozen shapes.
const CACHED_STATEMENTS: usize = 256;

/// The settings of both connections that write: this module's and the
/// sqlx writer's (see `Store::connect_without_migrating`).
///
/// The default page cache (2 MiB) is far smaller than the working set of a
/// busy outbox, so index probes turned into preads; 32 MiB holds the hot
/// pages at a fixed cost. Checkpoints are left to [`checkpoints`] (see the
/// module's notes).
pub(crate) const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
     PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;";

#[derive(Clone)]
pub(crate) struct SqliteWriter {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

impl SqliteWriter {
    /// Opens the file a `sqlite:` URL names (as sqlx reads the URL), set up
    /// with [`WRITER_PRAGMAS`].
    pub(crate) fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let path = options.get_filename();
        let conn = open_read_write(path)?;
        conn.execute_batch(WRITER_PRAGMAS)?;
        conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        let conn = Arc::new(Mutex::new(conn));
        let checkpointer = open_read_write(path)?;
        let alive = Arc::downgrade(&conn);
        std::thread::Builder::new()
            .name("smsflow-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &alive))
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Self { conn })
    }

    /// A transaction that holds `lock` (the sqlx writer's one connection)
    /// until it ends. It begins with its first statement.
    pub(crate) fn begin(&self, lock: PoolConnection<Any>) -> WriteTx {
        WriteTx {
            conn: self.conn.clone(),
            lock: Some(lock),
            open: false,
        }
    }
}

fn open_read_write(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// The checkpointer's loop, until the store's writer is dropped: every
/// [`CHECKPOINT_EVERY`], a PASSIVE checkpoint, which copies the frames no
/// reader still needs and never waits for the writer or the readers. The
/// next writer after a complete one starts the WAL over from its
/// beginning, so the file stays as large as a few checkpoints' worth.
fn checkpoints(conn: &Connection, alive: &Weak<Mutex<Connection>>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        // A checkpoint that meets another (a connection closing, another
        // process on the file) answers `busy` and copies less; the next
        // tick catches up.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

pub(crate) struct WriteTx {
    conn: Arc<Mutex<Connection>>,
    /// Released when the transaction ends, after its COMMIT or ROLLBACK.
    lock: Option<PoolConnection<Any>>,
    /// Whether BEGIN has run (with the first statement), and no COMMIT or
    /// ROLLBACK since.
    open: bool,
}

/// A row read in a transaction, with its column names.
pub(crate) struct LiteRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    fn get(&self, col: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }
}

impl Columns for LiteRow {
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.get(col)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(StoreError::Corrupt(format!(
                "{col}: text expected, got {other:?}"
            ))),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self.get(col)? {
            Value::Null => Ok(None),
            Value::Integer(v) => Ok(Some(*v)),
            other => Err(StoreError::Corrupt(format!(
                "{col}: integer expected, got {other:?}"
            ))),
        }
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(*v)),
            Arg::Text(None) | Arg::Int(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Binds `args` to `stmt`: `$N` (or `?N`) to the N-th argument, each
/// anonymous `?` to the argument at its position — as sqlx binds them.
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> Result<()> {
    for index in 1..=stmt.parameter_count() {
        let at = match stmt.parameter_name(index) {
            Some(name) => name[1..]
                .parse::<usize>()
                .map_err(|_| StoreError::Corrupt(format!("unsupported parameter {name}")))?,
            None => index,
        };
        let arg = args.get(at - 1).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "parameter {at} bound to nothing ({} args)",
                args.len()
            ))
        })?;
        stmt.raw_bind_parameter(index, arg)?;
    }
    Ok(())
}

impl WriteTx {
    /// Runs `work` with the connection, opening the transaction first if
    /// no statement has yet.
    ///
    /// On the calling task's thread, not a blocking thread: the writer is
    /// the pipeline's one serial section, and a hop to a blocking thread
    /// and back (~0.5 ms on a busy runtime, most of it waiting to be
    /// scheduled) for each of a round's ~20 statements cost 7 % of a
    /// drain's msg/s. A statement of the pipeline runs for 0.05–5 ms; the
    /// runtime's other threads go on meanwhile.
    fn run<T>(&mut self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !self.open {
            // Belt and braces: `end` rolls back whatever a transaction
            // left open, so a connection is always out of one here.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK")?;
            }
            conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open = true;
        }
        work(&conn)
    }

    /// Runs one statement; answers the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, args)?;
            Ok(stmt.raw_execute()? as u64)
        })
    }

    /// Runs one statement and reads every row it answers.
    pub(crate) fn fetch_all(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<LiteRow>> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, args)?;
            let names: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
            let width = names.len();
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let values = (0..width)
                    .map(|c| row.get_ref(c).map(Value::from))
                    .collect::<rusqlite::Result<Vec<Value>>>()?;
                out.push(LiteRow {
                    names: names.clone(),
                    values,
                });
            }
            Ok(out)
        })
    }

    pub(crate) fn commit(mut self) -> Result<()> {
        if self.open {
            self.conn
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .execute_batch("COMMIT")?;
            self.open = false;
        }
        self.lock.take();
        Ok(())
    }

    pub(crate) fn rollback(mut self) -> Result<()> {
        self.end()
    }

    /// Rolls back an open transaction, then lets other writers in.
    fn end(&mut self) -> Result<()> {
        let out = if std::mem::take(&mut self.open) {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            if conn.is_autocommit() {
                Ok(())
            } else {
                conn.execute_batch("ROLLBACK").map_err(StoreError::from)
            }
        } else {
            Ok(())
        };
        self.lock.take();
        out
    }
}

impl Drop for WriteTx {
    /// A transaction dropped without COMMIT (an error, a cancelled
    /// request) rolls back, as sqlx's do.
    fn drop(&mut self) {
        if let Err(e) = self.end() {
            tracing::error!(error = %e, "rolling back a dropped SQLite transaction");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tx::{i, t};
    use crate::Store;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    /// A store on a new file in a directory of its own (kept alive by the
    /// returned guard).
    async fn store_on_file(name: &str) -> (Store, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, path, dir)
    }

    /// Both writing connections run every statement of [`WRITER_PRAGMAS`],
    /// not only its first (sqlx is handed them as one text).
    #[tokio::test]
    async fn both_writers_are_set_up_by_every_writer_pragma() {
        let (store, _path, _dir) = store_on_file("pragmas.db").await;
        let expected = [
            ("journal_mode", "wal".to_string()),
            ("synchronous", "1".to_string()),
            ("busy_timeout", "10000".to_string()),
            ("foreign_keys", "1".to_string()),
            ("cache_size", "-32768".to_string()),
            ("temp_store", "2".to_string()),
            ("wal_autocheckpoint", "0".to_string()),
        ];
        for (pragma, want) in &expected {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&store.pool)
                .await
                .unwrap();
            let got = match sqlx::Row::try_get::<i64, _>(&row, 0) {
                Ok(n) => n.to_string(),
                Err(_) => sqlx::Row::try_get::<String, _>(&row, 0).unwrap(),
            };
            assert_eq!(&got, want, "sqlx writer: {pragma}");
            let conn = store.writer.as_ref().unwrap().conn.lock().unwrap();
            let got: rusqlite::types::Value = conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .unwrap();
            let got = match got {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => panic!("{pragma}: {other:?}"),
            };
            assert_eq!(&got, want, "rusqlite writer: {pragma}");
        }
    }

    /// The store's connections never checkpoint inside a commit, so the
    /// database file grows only when the checkpointer copies the WAL back:
    /// without it the WAL would grow for ever and the file never would.
    #[tokio::test]
    async fn the_checkpointer_copies_committed_pages_into_the_database_file() {
        let (store, path, _dir) = store_on_file("checkpoints.db").await;
        let size = || std::fs::metadata(&path).unwrap().len();
        let settled = Instant::now() + Duration::from_secs(10);
        // The migrations' pages first.
        while size() < 4096 * 8 && Instant::now() < settled {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before = size();
        let mut tx = store.begin().await.unwrap();
        tx.execute("CREATE TABLE filler (n INTEGER, body TEXT)", vec![])
            .await
            .unwrap();
        for n in 0..2_000 {
            tx.execute(
                "INSERT INTO filler (n, body) VALUES ($1, $2)",
                vec![i(n), t("x".repeat(1_000))],
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while size() < before + 1_500_000 {
            assert!(
                Instant::now() < deadline,
                "the database file is still {} bytes ({before} before 2 MB were committed)",
                size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
