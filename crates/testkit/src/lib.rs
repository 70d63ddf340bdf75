//! Test helpers shared by smsflow's crates: fresh databases on every
//! backend (SQLite always, PostgreSQL in CI), so each test starts from an
//! empty, migrated store and never sees another test's data.
#![forbid(unsafe_code)]

pub mod app;
pub mod contract;
pub mod db;
pub mod fakes;
pub mod summary;

/// Generates `sqlite::name` and `postgres::name` tokio tests from each
/// `async fn name(backend: TestBackend)`, so every integration test runs on
/// both storage backends under the same name.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::db::TestBackend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::db::TestBackend::Postgres).await
                }
            )*
        }
    };
}

/// The storage conformance form of [`on_both_backends!`]: each
/// `async fn name(store: &Store)` runs as `sqlite::name` and
/// `postgres::name`, each on a fresh, migrated database.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _db) = $crate::db::test_store($crate::db::TestBackend::Sqlite).await;
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _db) = $crate::db::test_store($crate::db::TestBackend::Postgres).await;
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
    };
}
