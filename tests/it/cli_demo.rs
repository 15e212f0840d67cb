//! The CDC demo end to end, as a user runs it: `flowctl apply && flowctl run demo_cdc`, then
//! `flowctl sql`, and PyIceberg reading every table the run wrote (bronze, silver in both modes,
//! privacy, gold, quality results) with the same values.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::TestProject;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn demo_project() -> TestProject {
    let project = TestProject::new();
    let root = Path::new(ROOT);
    std::fs::copy(
        root.join("dags/demo_cdc.yaml"),
        project.path().join("dags/demo_cdc.yaml"),
    )
    .expect("copy DAG");
    copy_tree(
        &root.join("demo/events"),
        &project.path().join("demo/events"),
    );
    copy_tree(&root.join("jobs/sql"), &project.path().join("jobs/sql"));
    project
}

fn sql_json(project: &TestProject, query: &str) -> Vec<Value> {
    let run = project.run(&["sql", query, "--format", "json"]);
    run.ok();
    let text = run.stdout.trim();
    // One JSON object per line (arrow's line-delimited writer) or a JSON array.
    if text.starts_with('[') {
        serde_json::from_str(text).expect("json array")
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
}

/// Every table as PyIceberg reads it, or `None` (skipped) when PyIceberg is not installed outside CI.
fn pyiceberg_tables(project: &TestProject) -> Option<BTreeMap<String, Value>> {
    let all = flowctl_testkit::read_tables(
        &project.path().join(".flowctl/catalog.db"),
        &project.path().join(".flowctl/warehouse"),
        &[],
    )?;
    let tables = all["tables"].as_object().expect("tables").clone();
    Some(tables.into_iter().collect())
}

fn rows<'a>(tables: &'a BTreeMap<String, Value>, table: &str) -> &'a Vec<Value> {
    tables
        .get(table)
        .and_then(|t| t["rows"].as_array())
        .unwrap_or_else(|| panic!("PyIceberg did not read {table}: {:?}", tables.keys()))
}

#[test]
fn the_cdc_demo_runs_and_every_table_reads_back_in_pyiceberg() {
    let project = demo_project();
    project.run(&["apply"]).ok();
    let run = project.run(&["run", "demo_cdc"]);
    run.ok();
    // The run's summary: events per op, the two malformed messages in the DLQ, checks.
    assert!(run.stdout.contains("dlq=2"), "{}", run.stdout);
    assert!(
        run.stdout.contains("quality_silver: failed=0"),
        "{}",
        run.stdout
    );

    // What the generator says is live at the end: 49 users, 15 products, 140 orders.
    let counts = sql_json(
        &project,
        "SELECT (SELECT count(*) FROM silver.orders_current) AS orders, \
                (SELECT count(*) FROM silver.products_current) AS products, \
                (SELECT count(*) FROM silver.users_history WHERE is_current) AS users, \
                (SELECT count(*) FROM bronze.shop_cdc_raw) AS bronze, \
                (SELECT count(*) FROM bronze.shop_cdc_raw_dlq) AS dlq",
    );
    assert_eq!(counts[0]["orders"], 140, "{counts:?}");
    assert_eq!(counts[0]["products"], 15, "{counts:?}");
    assert_eq!(counts[0]["users"], 49, "{counts:?}");
    assert_eq!(counts[0]["bronze"], 1014, "{counts:?}");
    assert_eq!(counts[0]["dlq"], 2, "{counts:?}");
    // The TOAST placeholder kept the stored name; the user deleted without `before` is gone.
    let toast = sql_json(
        &project,
        "SELECT full_name, country FROM silver.users_history WHERE user_id = 3 AND is_current",
    );
    assert_eq!(toast.len(), 1);
    assert_ne!(toast[0]["full_name"], "__debezium_unavailable_value");
    assert_eq!(toast[0]["country"], "IE");
    assert!(
        sql_json(
            &project,
            "SELECT user_id FROM silver.users_history WHERE user_id = 20 AND is_current"
        )
        .is_empty()
    );

    let Some(tables) = pyiceberg_tables(&project) else {
        return;
    };
    assert_eq!(rows(&tables, "bronze.shop_cdc_raw").len(), 1014);
    assert_eq!(rows(&tables, "bronze.shop_cdc_raw_dlq").len(), 2);
    // Decimals exact: every order's amount as PyIceberg reads it equals flowctl's.
    let ours: BTreeMap<i64, String> = sql_json(
        &project,
        "SELECT order_id, CAST(total_amount AS VARCHAR) AS amount FROM silver.orders_current",
    )
    .iter()
    .map(|r| {
        (
            r["order_id"].as_i64().expect("id"),
            r["amount"].as_str().expect("amount").to_string(),
        )
    })
    .collect();
    let theirs: BTreeMap<i64, String> = rows(&tables, "silver.orders_current")
        .iter()
        .map(|r| {
            (
                r["order_id"].as_i64().expect("id"),
                r["total_amount"]
                    .as_str()
                    .expect("decimal as text")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(ours.len(), 140);
    assert_eq!(ours, theirs);
    // SCD2: one current version per live user, closed versions have an end.
    let history = rows(&tables, "silver.users_history");
    let current = history.iter().filter(|r| r["is_current"] == true).count();
    assert_eq!(current, 49);
    assert!(
        history
            .iter()
            .filter(|r| r["is_current"] == false)
            .all(|r| !r["effective_to"].is_null())
    );
    assert!(
        history
            .iter()
            .filter(|r| r["is_current"] == true)
            .all(|r| r["effective_to"].is_null())
    );
    // Pseudonyms: 64 hex characters, never the e-mail itself.
    for r in rows(&tables, "silver.users_pseudonymised") {
        let email = r["email"].as_str().expect("email");
        assert_eq!(email.len(), 64, "{email}");
        assert!(email.chars().all(|c| c.is_ascii_hexdigit()) && !email.contains('@'));
    }
    // Gold: the revenue PyIceberg reads sums to what flowctl computes.
    let revenue: f64 = rows(&tables, "gold.revenue_5m")
        .iter()
        .map(|r| {
            r["revenue"]
                .as_str()
                .expect("decimal")
                .parse::<f64>()
                .expect("number")
        })
        .sum();
    let ours = sql_json(
        &project,
        "SELECT CAST(sum(revenue) AS DOUBLE) AS total FROM gold.revenue_5m",
    );
    assert!((revenue - ours[0]["total"].as_f64().expect("total")).abs() < 0.005);
    assert!(!rows(&tables, "gold.inventory_alerts").is_empty());
    assert_eq!(rows(&tables, "gold.user_activity").len(), 49);
    assert!(rows(&tables, "quality.check_results").len() >= 9);
}
