//! A fresh, empty database per test on either backend.
//!
//! SQLite gets a file in its own temporary directory; PostgreSQL gets a new
//! database `smsflow_test_<ulid>` on the server named by
//! `SMSFLOW_TEST_POSTGRES_URL` (default: the local trust-auth server CI
//! starts). The returned [`TestDb`] is the guard: dropping it removes the
//! directory or drops the database, best-effort.
//!
//! A PostgreSQL test never skips itself when the server is missing: it
//! panics, so a CI run without PostgreSQL fails instead of passing on SQLite
//! alone.

use smsflow_store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::fmt;
use std::time::Duration;

/// The variable naming the PostgreSQL server tests create databases on.
pub const POSTGRES_URL_VAR: &str = "SMSFLOW_TEST_POSTGRES_URL";

/// The server used when [`POSTGRES_URL_VAR`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A storage backend a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

impl TestBackend {
    /// Every backend, for tests that loop over them.
    pub const ALL: [TestBackend; 2] = [TestBackend::Sqlite, TestBackend::Postgres];

    pub fn as_str(self) -> &'static str {
        match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for TestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh database; it is removed when this guard drops.
pub struct TestDb {
    /// The URL to hand to [`Store::connect`] or the server's settings.
    pub url: String,
    pub backend: TestBackend,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("url", &redact(&self.url))
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Creates an empty database (no migrations run) on `backend`.
///
/// # Panics
///
/// If the temporary directory cannot be created, or if PostgreSQL is
/// unreachable: PostgreSQL tests must run, never skip silently.
pub async fn test_db(backend: TestBackend) -> TestDb {
    match backend {
        TestBackend::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix("smsflow-test-")
                .tempdir()
                .expect("create a temporary directory for the SQLite test database");
            let url = format!("sqlite://{}/smsflow.db", dir.path().display());
            TestDb {
                url,
                backend,
                guard: Guard::Sqlite(dir),
            }
        }
        TestBackend::Postgres => {
            let admin_url = std::env::var(POSTGRES_URL_VAR)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string());
            let name = format!(
                "smsflow_test_{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            let mut conn = match connect_admin(&admin_url).await {
                Ok(conn) => conn,
                Err(e) => panic!(
                    "\n\nPostgreSQL tests need a server: set {POSTGRES_URL_VAR} or run .ci/run \
                     (tried {}: {e})\n\n",
                    redact(&admin_url)
                ),
            };
            if let Err(e) = conn
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
            {
                panic!(
                    "could not create test database {name} on {}: {e}",
                    redact(&admin_url)
                );
            }
            let _ = conn.close().await;
            let url = with_database(&admin_url, &name);
            TestDb {
                url,
                backend,
                guard: Guard::Postgres { admin_url, name },
            }
        }
    }
}

/// A fresh database on `backend`, connected and migrated. Keep the
/// [`TestDb`] alive as long as the store is used.
pub async fn test_store(backend: TestBackend) -> (Store, TestDb) {
    let db = test_db(backend).await;
    let store = Store::connect(&db.url).await.unwrap_or_else(|e| {
        panic!(
            "connect and migrate the {backend} test database {}: {e}",
            redact(&db.url)
        )
    });
    (store, db)
}

async fn connect_admin(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 10 s".to_string()),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Guard::Postgres { admin_url, name } = &self.guard else {
            return; // the TempDir removes itself
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop may run inside a runtime (where blocking on another is not
        // allowed) or outside any: a thread with its own runtime works in
        // both. FORCE ends the store's pooled connections that are still open.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(mut conn) = connect_admin(&admin_url).await else {
                    return;
                };
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(e) =
                    tokio::time::timeout(Duration::from_secs(30), conn.execute(sql.as_str())).await
                {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
                let _ = conn.close().await;
            });
        });
        let _ = dropper.join();
    }
}

/// `base` with its database (the URL path) replaced by `name`, keeping any
/// query parameters.
fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (base, None),
    };
    let authority_start = without_query.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match without_query[authority_start..].find('/') {
        Some(i) => &without_query[..authority_start + i],
        None => without_query,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "t1"),
            "postgres://u@h:5432/t1"
        );
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn sqlite_test_db_is_removed_on_drop() {
        let db = test_db(TestBackend::Sqlite).await;
        let path = db
            .url
            .trim_start_matches("sqlite://")
            .trim_end_matches("/smsflow.db")
            .to_string();
        assert!(std::path::Path::new(&path).is_dir());
        drop(db);
        assert!(!std::path::Path::new(&path).exists());
    }
}
