//! The same catalog operations with the SQL catalog in Postgres (`$n` placeholders in the CAS).
//!
//! Postgres is expected at 127.0.0.1:5432 (user `postgres`, trust auth) or where
//! `FLOWCTL_TEST_PG_URL` points; each run gets its own database, dropped afterwards. Without a
//! server the test is skipped with a message, unless `CI` is set.

use flowctl_lakehouse::{Lakehouse, LakehouseError, TableName};
use sqlx::{Connection, Executor};

use crate::common::{id_batch, ids, props};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A throwaway database, dropped (with its connections) when this guard goes away.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("FLOWCTL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(err) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "no Postgres at {admin_url}: {err}"
                );
                eprintln!("skipping Postgres catalog test: no server at {admin_url} ({err})");
                return None;
            }
        };
        let name = format!("flowctl_lh_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        Some(Self { admin_url, name })
    }

    fn url(&self) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').unwrap();
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = admin.execute(sql.as_str()).await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn postgres_catalog_appends_overwrites_and_detects_conflicts() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = Lakehouse::open(&db.url(), dir.path()).await.unwrap();
    let name = TableName::parse("bronze.pg").unwrap();
    let schema = flowctl_lakehouse::TableSchema::Columns(vec![
        flowctl_lakehouse::Column::required("id", flowctl_lakehouse::ColumnType::Long),
        flowctl_lakehouse::Column::optional("name", flowctl_lakehouse::ColumnType::String),
    ]);
    let t = lake.create_table_if_missing(&name, &schema).await.unwrap();
    let s1 = lake
        .append(&t, vec![id_batch(&[1, 2])], props(&[("o", "2")]))
        .await
        .unwrap();
    let stale = lake.load_table(&name).await.unwrap();
    let file = stale.files_added_by(s1).await.unwrap()[0].path.clone();
    lake.overwrite(
        &stale,
        std::slice::from_ref(&file),
        vec![id_batch(&[2, 3])],
        props(&[("o", "3")]),
    )
    .await
    .unwrap();
    let err = lake
        .overwrite(&stale, &[file], vec![id_batch(&[9])], props(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LakehouseError::CommitConflict { .. }),
        "{err}"
    );

    let other = Lakehouse::open(&db.url(), dir.path()).await.unwrap();
    let now = other.load_table(&name).await.unwrap();
    assert_eq!(ids(&now.scan().await.unwrap()), vec![2, 3]);
    assert_eq!(now.current_summary()["o"], "3");
    assert_eq!(other.list_tables("bronze").await.unwrap(), vec![name]);
    drop((lake, other));
}

#[tokio::test]
async fn a_catalog_database_that_does_not_exist_is_not_retryable() {
    let admin_url =
        std::env::var("FLOWCTL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    if let Err(err) = sqlx::PgConnection::connect(&admin_url).await {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Postgres at {admin_url}: {err}"
        );
        eprintln!("skipping: no Postgres at {admin_url} ({err})");
        return;
    }
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let missing = format!("{base}/flowctl_missing_{}", uuid::Uuid::new_v4().simple());
    let wh = tempfile::tempdir().unwrap();
    let err = Lakehouse::open(&missing, wh.path()).await.unwrap_err();
    // 3D000 (invalid_catalog_name): the setting is wrong, a retry repeats it.
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!err.is_retryable(), "{err}");
}
