//! `row_count.equals_query` against a real Postgres table.
//!
//! Postgres is expected at 127.0.0.1:5432 (user `postgres`, trust auth) or where
//! `FLOWCTL_TEST_PG_URL` points; the test creates its own database and drops it. Without a
//! server it is skipped with a message, unless `CI` is set.

use serde_json::json;
use sqlx::{Connection, Executor};

use crate::common::{Project, in_ci, quality_job};
use crate::quality::orders;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::test]
async fn row_count_reconciles_with_a_postgres_source_table() {
    let admin_url =
        std::env::var("FLOWCTL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(err) => {
            assert!(!in_ci(), "no Postgres at {admin_url}: {err}");
            eprintln!(
                "skipping Postgres row_count test: no server at {admin_url} ({err}); \
                 start one or set FLOWCTL_TEST_PG_URL"
            );
            return;
        }
    };
    let db = format!("flowctl_jobs_sql_{}", std::process::id());
    admin
        .execute(format!("DROP DATABASE IF EXISTS {db}").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{db}");
    {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        conn.execute(
            "CREATE TABLE orders (order_id bigint primary key); \
             INSERT INTO orders SELECT generate_series(1, 4);",
        )
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    // SAFETY: unique variable names; no other test reads them.
    unsafe { std::env::set_var("FLOWCTL_TEST_SOURCE_PG", &url) };

    let project = Project::new().await;
    orders(&project).await;
    let check = |query: &str| {
        json!({"table": "silver.orders", "checks": [{
            "name": "reconcile",
            "row_count": {"equals_query": query, "postgres_url_env": "FLOWCTL_TEST_SOURCE_PG"},
        }]})
    };
    let (result, _) = project
        .run(quality_job(), check("SELECT count(*) FROM orders"))
        .await;
    assert_eq!(result.unwrap().outputs["passed"], "1");
    let (result, _) = project
        .run(
            quality_job(),
            check("SELECT count(*) FROM orders WHERE order_id > 1"),
        )
        .await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("Postgres source has 3"),
        "{}",
        err.message
    );

    // A bad password: the error names the variable, never the password.
    // (Port 1 refuses the connection: the error path, not the server, is under test.)
    let bad = format!("postgres://postgres:pw_not_shown@127.0.0.1:1/{db}");
    // SAFETY: as above.
    unsafe { std::env::set_var("FLOWCTL_TEST_SOURCE_PG_BAD", &bad) };
    let config = json!({"table": "silver.orders", "checks": [{
        "row_count": {"equals_query": "SELECT 1", "postgres_url_env": "FLOWCTL_TEST_SOURCE_PG_BAD"},
    }]});
    let (result, logs) = project.run(quality_job(), config).await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("FLOWCTL_TEST_SOURCE_PG_BAD"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("pw_not_shown"), "{}", err.message);
    assert!(logs.iter().all(|l| !l.contains("pw_not_shown")), "{logs:?}");

    admin
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
