//! SQLite only: read-only connections driven through rusqlite on tokio's
//! blocking threads, for the one read that walks a whole account — the dry
//! run's pages (R24).
//!
//! sqlx's SQLite driver runs each connection on a worker thread of its own
//! and hands every row to the async side through a channel, with a thread
//! wake and a copy of each value: about 15 µs a row. Its reads of many
//! rows therefore fold them into one JSON text in SQL (see
//! `records::fold_records_sql`), which is still most of what a dry-run
//! page cost: SQLite formatting a megabyte of text with `printf`, growing
//! it, copying it out, and the page faults of that growth. Stepping the
//! statement on the thread that uses the rows reads each column where
//! SQLite keeps it, parsed once by the caller.

use crate::Result;
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A small pool of read-only rusqlite connections to the store's file.
#[derive(Clone)]
pub(crate) struct DirectReads {
    inner: Arc<Inner>,
    /// Reads at once, as many as the sqlx readers have connections: each
    /// holds a connection and a blocking thread, and concurrent dry runs
    /// beyond that would only share the same cores.
    permits: Arc<tokio::sync::Semaphore>,
}

struct Inner {
    path: PathBuf,
    /// Connections not in use; one is opened when none is idle. There are
    /// never more than [`max_reads`], one per read at once.
    idle: Mutex<Vec<Connection>>,
    /// Set by [`DirectReads::close`]: no connection is kept after it.
    closed: AtomicBool,
}

/// Reads at once (see `DirectReads::permits`).
fn max_reads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.clamp(2, 8) + 1
}

impl std::fmt::Debug for DirectReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReads")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl DirectReads {
    /// Reads of the file a `sqlite:` URL names (as sqlx reads the URL).
    pub(crate) fn new(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: options.get_filename().to_path_buf(),
                idle: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
            }),
            permits: Arc::new(tokio::sync::Semaphore::new(max_reads())),
        })
    }

    /// Runs `read` on a blocking thread with a connection of the pool.
    pub(crate) async fn run<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = inner.take()?;
            let out = read(&conn);
            // A connection left inside a transaction by an error is not
            // handed out again.
            if conn.is_autocommit() {
                inner.give_back(conn);
            }
            out
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

impl DirectReads {
    /// Closes the idle connections; one in use closes when its read ends,
    /// and reads after this fail as sqlx's closed pools do.
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Inner {
    fn take(&self) -> Result<Connection> {
        // As sqlx's pools answer once closed.
        if self.closed.load(Ordering::SeqCst) {
            return Err(sqlx::Error::PoolClosed.into());
        }
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // As the sqlx readers (see `sqlite_readers`): the file through a
        // shared mapping, since a dry run reads every record page once.
        conn.execute_batch("PRAGMA cache_size = -16384; PRAGMA mmap_size = 1073741824;")?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if !self.closed.load(Ordering::SeqCst) {
            idle.push(conn);
        }
    }
}
