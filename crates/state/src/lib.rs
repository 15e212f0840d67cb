//! flowctl's state store: DAG versions, runs, task instances, attempts, logs and outputs, in
//! SQLite (the default, a file in the project) or Postgres (shared by several processes).
//!
//! One [`Store`] type serves both backends through sqlx's `Any` driver. Every statement is
//! written once with `$N` placeholders (SQLite accepts them too) and only `BIGINT`/`TEXT`
//! columns are used, so values cross the `Any` driver unchanged: timestamps are fixed-width
//! RFC 3339 UTC text (`2026-01-01T00:00:00.000000Z`, microsecond precision) that sorts and
//! compares as text, booleans are `0`/`1`, JSON is text. The few backend-specific details
//! (connection set-up, how a write transaction begins, migrations) hang off [`Backend`].
//!
//! The executor's hot path is [`Store::apply_batch`]: it finishes attempts, resolves
//! skipped/upstream-failed steps and claims the next steps in ONE transaction with
//! multi-row statements, so the cost of a hand-off does not grow with the number of steps
//! that finish at once.

mod batch;
mod dags;
mod error;
mod exec;
mod handles;
mod logs;
mod rows;
mod runs;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod time;
mod types;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub use error::StoreError;
pub use exec::{Batch, BatchOutcome, Claimed, Finish, RecoveredTask, RunTransition};
pub use handles::TaskHandle;
pub use logs::LogSlice;
pub use runs::ScheduleState;
pub use time::{format_ts, parse_ts};
pub use types::{
    ApplyReport, AttemptRecord, AttemptState, DagChange, DagRecord, DagUpsert, DagVersion, NewRun,
    NewTask, RunRecord, RunState, RunType, TaskRecord, TaskReset, TaskState,
};

/// Result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The state store. Cheap to clone (a connection pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating it if needed) and migrates the store at `location`.
    ///
    /// `location` is a `postgres://` / `postgresql://` URL, a `sqlite:` URL, or else a path to a
    /// SQLite file (its parent directories are created).
    pub async fn open(location: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Self::open_postgres(location).await
        } else if let Some(rest) = location.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            Self::open_sqlite(Path::new(path)).await
        } else {
            Self::open_sqlite(Path::new(location)).await
        }
    }

    /// Opens (creating it and its parent directories if needed) and migrates a SQLite file.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                context: format!("cannot create {}", parent.display()),
                source,
            })?;
        }
        let url = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .to_url_lossy();
        let options = AnyConnectOptions::from_url(&url).map_err(|e| open_error(&shown, e))?;

        // WAL is a property of the file: switch it once, on a single connection, before the
        // pool opens several (switching needs an exclusive lock that busy_timeout can't wait on).
        let mut conn = sqlx::AnyConnection::connect_with(&options)
            .await
            .map_err(|e| open_error(&shown, e))?;
        conn.execute("PRAGMA busy_timeout = 10000")
            .await
            .map_err(|e| open_error(&shown, e))?;
        conn.execute("PRAGMA journal_mode = WAL")
            .await
            .map_err(|e| open_error(&shown, e))?;
        SQLITE_MIGRATOR.run(&mut conn).await?;
        conn.close().await.map_err(|e| open_error(&shown, e))?;

        let busy = format!(
            "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            SQLITE_BUSY_TIMEOUT.as_millis()
        );
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            // A local file needs no liveness ping before each use.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                let busy = busy.clone();
                Box::pin(async move {
                    conn.execute(busy.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| open_error(&shown, e))?;
        Ok(Self {
            pool,
            backend: Backend::Sqlite,
        })
    }

    async fn open_postgres(url: &str) -> Result<Self> {
        let shown = redact_url(url);
        let options = AnyConnectOptions::from_str(url).map_err(|e| open_error(&shown, e))?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| open_error(&shown, e))?;
        // sqlx takes a Postgres advisory lock while migrating, so concurrent opens are safe.
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            backend: Backend::Postgres,
        })
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for checked-out ones to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction. SQLite: `BEGIN IMMEDIATE`, so a transaction that reads and
    /// then writes waits for the write lock up front (busy_timeout) instead of failing with
    /// SQLITE_BUSY when it tries to upgrade.
    /// Checks that the store answers and that its schema is this build's: every migration this
    /// build embeds is applied (another process may have opened an older store, or a newer
    /// build may have migrated it further — both are reported). For readiness probes.
    pub async fn check_schema(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        let embedded: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        let missing: Vec<String> = embedded
            .iter()
            .filter(|v| !applied.contains(v))
            .map(i64::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::Schema(format!(
                "the state store lacks migrations {} of this build: restart flowctl to migrate it",
                missing.join(", ")
            )));
        }
        let unknown: Vec<String> = applied
            .iter()
            .filter(|v| !embedded.contains(v))
            .map(i64::to_string)
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Schema(format!(
                "the state store has migrations {} this build does not know: a newer flowctl \
                 migrated it; upgrade this one",
                unknown.join(", ")
            )));
        }
        Ok(())
    }

    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

fn open_error(location: &str, source: sqlx::Error) -> StoreError {
    StoreError::Open {
        location: location.to_string(),
        source,
    }
}

/// Hides the password of a URL shown in a message (`postgres://user:secret@host` -> `user:****`).
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:****{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db?x=a@b"), "postgres://h/db?x=a@b");
    }
}
