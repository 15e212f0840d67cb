//! PyIceberg reads what this crate writes: values, overwrites and snapshot summaries.
//!
//! The interpreter comes from `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`).
//! Without it (or without pyiceberg in it) the test is skipped with a hint, unless `CI` is set.

use serde_json::{Value, json};

use crate::common::{Lake, id_batch, ids, props};
use crate::types::{typed_batch, typed_table};

/// Runs `tests/python/<script>` on this fixture's catalog; `None` when PyIceberg is unavailable
/// outside CI.
fn run_script(fx: &Lake, script: &str, extra: &[String]) -> Option<Value> {
    let catalog = fx.catalog_path().canonicalize().unwrap();
    flowctl_testkit::pyiceberg(script, &catalog, &fx.warehouse_path(), extra)
}

/// Reads every table with PyIceberg (`read_iceberg.py`), applying `ns.table=<filter>` filters.
fn read_with_pyiceberg(fx: &Lake, filters: &[&str]) -> Option<Value> {
    let mut extra = Vec::new();
    for f in filters {
        extra.push("--filter".to_owned());
        extra.push((*f).to_owned());
    }
    run_script(fx, "read_iceberg.py", &extra)
}

/// The JSON PyIceberg should produce for `typed_batch(first)`'s four rows.
fn expected_typed_rows(first: i64) -> Vec<Value> {
    vec![
        json!({"id": first, "amount": "30.50", "ts": "2024-02-29T23:59:59.123456",
               "tstz": "2024-03-01T08:00:00.000042+00:00", "day": "2024-02-29",
               "flag": true, "ratio": 0.5, "qty": 1, "blob": "00ff"}),
        json!({"id": first + 1, "amount": "-0.01", "ts": "1999-12-31T00:00:00.000001",
               "tstz": "1970-01-01T00:00:00+00:00", "day": "1969-12-31",
               "flag": false, "ratio": -1.25, "qty": null, "blob": null}),
        json!({"id": first + 2, "amount": "99999999.99", "ts": "2025-01-01T12:30:00",
               "tstz": "2038-01-19T03:14:08+00:00", "day": "2000-01-01",
               "flag": null, "ratio": null, "qty": -3, "blob": ""}),
        json!({"id": first + 3, "amount": null, "ts": null, "tstz": null, "day": null,
               "flag": true, "ratio": 1e10, "qty": 2147483647, "blob": "6162"}),
    ]
}

fn by_id(rows: &Value) -> Vec<Value> {
    let mut rows = rows.as_array().unwrap().clone();
    rows.sort_by_key(|r| r["id"].as_i64().unwrap());
    rows
}

#[tokio::test]
async fn pyiceberg_reads_appends_overwrites_and_summaries() {
    let fx = Lake::new().await;
    let t = typed_table(&fx, "shop.orders").await;
    let first = fx
        .lake
        .append(
            &t,
            vec![typed_batch(1)],
            props(&[("kafka.offsets", r#"{"0":4}"#)]),
        )
        .await
        .unwrap();
    let t = fx.load("shop.orders").await;
    fx.lake
        .append(
            &t,
            vec![typed_batch(11)],
            props(&[("kafka.offsets", r#"{"0":8}"#)]),
        )
        .await
        .unwrap();
    let t = fx.load("shop.orders").await;
    let old = t.files_added_by(first).await.unwrap()[0].path.clone();
    let last = fx
        .lake
        .overwrite(
            &t,
            &[old],
            vec![typed_batch(21)],
            props(&[("bronze.snapshot", "123")]),
        )
        .await
        .unwrap();

    // A bronze-like table whose last commit only moved offsets.
    let b = fx.simple_table("bronze.offsets").await;
    fx.lake
        .append(&b, vec![id_batch(&[1, 2])], props(&[("offsets", "p0=2")]))
        .await
        .unwrap();
    let b = fx.load("bronze.offsets").await;
    fx.lake
        .append(&b, vec![], props(&[("offsets", "p0=5")]))
        .await
        .unwrap();

    let Some(out) = read_with_pyiceberg(
        &fx,
        &["shop.orders=amount > 1000", "shop.orders=amount < 0"],
    ) else {
        return;
    };
    let orders = &out["tables"]["shop.orders"];
    let mut expected = expected_typed_rows(11);
    expected.extend(expected_typed_rows(21));
    assert_eq!(
        by_id(&orders["rows"]),
        expected,
        "overwritten rows 1..4 must be gone"
    );
    assert_eq!(orders["snapshot_id"], json!(last));
    assert_eq!(orders["operation"], "overwrite");
    assert_eq!(orders["summary"]["bronze.snapshot"], "123");
    assert_eq!(orders["summary"]["total-records"], "8");
    assert_eq!(orders["snapshots"].as_array().unwrap().len(), 3);
    // Filters are answered with the help of the manifests' decimal bounds: wrong byte order
    // there would prune files that hold matching rows.
    let ids = |v: &Value| {
        by_id(v)
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&orders["filtered"]["amount > 1000"]), [13, 23]);
    assert_eq!(ids(&orders["filtered"]["amount < 0"]), [12, 22]);

    let offsets = &out["tables"]["bronze.offsets"];
    assert_eq!(offsets["summary"]["offsets"], "p0=5");
    assert_eq!(offsets["operation"], "append");
    assert_eq!(
        by_id(&offsets["rows"]),
        [
            json!({"id": 1, "name": "n1"}),
            json!({"id": 2, "name": "n2"})
        ]
    );
}

#[tokio::test]
async fn tables_appended_by_pyiceberg_can_be_read_and_overwritten() {
    let fx = Lake::new().await;
    let t = fx.simple_table("bronze.mixed").await;
    fx.lake
        .append(&t, vec![id_batch(&[1, 2])], props(&[]))
        .await
        .unwrap();
    let args = [
        "--table",
        "bronze.mixed",
        "--rows",
        r#"[{"id": 3, "name": "py3"}, {"id": 4, "name": null}]"#,
        "--property",
        "writer=pyiceberg",
    ]
    .map(str::to_owned);
    let Some(appended) = run_script(&fx, "append_iceberg.py", &args) else {
        return;
    };
    let t = fx.load("bronze.mixed").await;
    let py_snapshot = appended["snapshot_id"].as_i64().unwrap();
    assert_eq!(t.current_snapshot_id(), Some(py_snapshot));
    assert_eq!(t.current_summary()["writer"], "pyiceberg");
    assert_eq!(
        ids(&t.read_added_by(&[py_snapshot]).await.unwrap()),
        vec![3, 4]
    );
    let all = crate::common::rows(&t.scan().await.unwrap());
    assert_eq!(
        all.iter().map(|r| r["name"].as_str()).collect::<Vec<_>>(),
        ["n1", "n2", "py3", ""]
    );

    // Rewrite PyIceberg's file (its manifests use inherited sequence numbers) and read back.
    let py_file = t.files_added_by(py_snapshot).await.unwrap()[0].path.clone();
    fx.lake
        .overwrite(&t, &[py_file], vec![id_batch(&[3])], props(&[]))
        .await
        .unwrap();
    let t = fx.load("bronze.mixed").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 2, 3]);
    let Some(out) = read_with_pyiceberg(&fx, &[]) else {
        return;
    };
    assert_eq!(
        by_id(&out["tables"]["bronze.mixed"]["rows"]),
        [
            json!({"id": 1, "name": "n1"}),
            json!({"id": 2, "name": "n2"}),
            json!({"id": 3, "name": "n3"})
        ]
    );
}
