//! Test helpers (feature `testing`): fresh stores on both backends, cleaned up afterwards.
//!
//! Postgres is expected at `127.0.0.1:5432`, user `postgres`, trust auth, or wherever
//! `FLOWCTL_TEST_PG_URL` points (a URL of an existing database used to create the test ones).
//! Each [`TestStore`] gets its own database `flowctl_test_<uuid>`, dropped when it is dropped,
//! also when the test panics. Without a server, [`TestStore::postgres`] returns `None` after
//! printing why, unless `CI` is set: then a missing server fails the test.

use std::path::PathBuf;

use sqlx::{Connection, Executor};

use crate::Store;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A store for one test, removed when dropped.
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    /// What `Store::open` was given (to open a second handle on the same store).
    pub location: String,
    _cleanup: Cleanup,
}

/// Held only for its `Drop`: removes the directory or drops the database.
#[allow(dead_code)]
enum Cleanup {
    Dir(tempfile::TempDir),
    Database(PgDatabase),
}

impl TestStore {
    /// The store's connection pool, for tests that must tamper with it behind the API.
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.store.pool
    }

    /// A fresh SQLite store in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = dir.path().join(".flowctl").join("state.db");
        let location = path.display().to_string();
        let store = Store::open(&location).await.expect("open SQLite store");
        Self {
            store,
            location,
            _cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh Postgres database, or `None` (with a message) when no server is reachable
    /// outside CI.
    pub async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var("FLOWCTL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(err) => {
                if std::env::var_os("CI").is_some() {
                    panic!("Postgres conformance tests need a server ({admin_url}): {err}");
                }
                eprintln!(
                    "skipping Postgres conformance tests: no server at 127.0.0.1:5432 \
                     (start Postgres or set FLOWCTL_TEST_PG_URL)"
                );
                return None;
            }
        };
        let name = format!("flowctl_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let location = database_url(&admin_url, &name);
        let guard = PgDatabase { admin_url, name };
        let store = Store::open(&location).await.expect("open Postgres store");
        Some(Self {
            store,
            location,
            _cleanup: Cleanup::Database(guard),
        })
    }

    /// A SQLite store, then a Postgres one when a server is reachable: run the same checks
    /// on each.
    pub async fn each_backend() -> Vec<Self> {
        let mut stores = vec![Self::sqlite().await];
        stores.extend(Self::postgres().await);
        stores
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Drops the test database on drop, from a separate thread (drop can't await; the test's own
/// runtime may be shutting down after a panic).
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                // FORCE ends the pool's connections still open.
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn test_database_url_keeps_credentials_and_options() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }
}
