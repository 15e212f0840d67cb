//! `mode: current` over the cdc crate's fixtures and synthetic events.

use flowctl_jobs_merge::MergeMode;
use serde_json::{Value, json};

use crate::common::{Lake, config, event, fixture_msg};

/// Micros since the epoch of an RFC 3339 time.
pub fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

#[tokio::test]
async fn users_fixtures_keep_toast_and_apply_deletes() {
    let mut fx = Lake::new().await;
    let msgs: Vec<_> = [
        "users_01_snapshot_read_with_schema",
        "users_02_create_schemaless",
        "users_03_update_full_before",
        "users_04_update_no_before_toast",
        "users_05_delete_full_before",
    ]
    .iter()
    .map(|s| fixture_msg(s))
    .collect();
    let snapshot = fx.bronze(&msgs).await;
    let cfg = config("silver.users", "users", &["id"], MergeMode::Current);
    let out = fx.merge(&cfg).await;
    assert_eq!(
        (out.inserted, out.updated, out.deleted, out.rows),
        (1, 0, 0, 1)
    );
    assert_eq!(out.source_snapshot, Some(snapshot));
    let rows = fx.rows("silver.users").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let alice = &rows[0];
    assert_eq!(alice["id"], json!(1));
    assert_eq!(alice["full_name"], json!("Alice Martin-Dupont"));
    // TOAST placeholders in users_04 keep the values of the snapshot read.
    assert_eq!(alice["bio"], json!("Collects vintage cameras."));
    assert_eq!(alice["tags"], json!(r#"["vip","early-adopter"]"#));
    assert_eq!(alice["birth_date"], json!(11017));
    assert_eq!(
        alice["created_at"],
        json!(micros("2026-01-05T09:15:30.123456Z"))
    );
    let silver = fx.table("silver.users").await;
    let schema = silver.arrow_schema().unwrap();
    assert_eq!(
        schema
            .field_with_name("created_at")
            .unwrap()
            .data_type()
            .to_string(),
        "Timestamp(µs, \"+00:00\")"
    );
    assert_eq!(
        silver.current_summary()[flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY],
        snapshot.to_string()
    );
}

#[tokio::test]
async fn decimals_exact_then_pk_only_delete_and_idempotent_rerun() {
    let mut fx = Lake::new().await;
    fx.bronze(&[
        fixture_msg("products_06_create_decimal_with_schema"),
        fixture_msg("products_07_update_negative_decimal_with_schema"),
    ])
    .await;
    let cfg = config("silver.products", "products", &["id"], MergeMode::Current);
    let out = fx.merge(&cfg).await;
    assert_eq!((out.inserted, out.rows), (1, 1));
    let rows = fx.rows("silver.products").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["price"], json!("0.05"));
    assert_eq!(rows[0]["discount"], json!("-12.50"));
    assert_eq!(rows[0]["stock"], json!(0));
    assert_eq!(rows[0]["weight_kg"], json!(0.25));
    assert_eq!(rows[0]["updated_at"], json!(1_767_608_400_000_001_i64));
    let schema = fx.table("silver.products").await.arrow_schema().unwrap();
    assert_eq!(
        schema
            .field_with_name("price")
            .unwrap()
            .data_type()
            .to_string(),
        "Decimal128(10, 2)"
    );

    // Re-running without new bronze data commits nothing.
    let before = fx.table("silver.products").await.current_snapshot_id();
    let again = fx.merge(&cfg).await;
    assert_eq!(again.silver_snapshot, None);
    assert_eq!(
        (again.inserted, again.updated, again.deleted, again.rows),
        (0, 0, 0, 1)
    );
    assert_eq!(
        fx.table("silver.products").await.current_snapshot_id(),
        before
    );

    // A delete whose `before` holds only the key.
    fx.bronze(&[fixture_msg("products_08_delete_pk_only_before")])
        .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.deleted, out.rows), (1, 0));
    assert!(fx.rows("silver.products").await.is_empty());
}

#[tokio::test]
async fn delete_with_null_before_uses_the_kafka_key_and_declared_types() {
    let mut fx = Lake::new().await;
    let create_5001 = event(
        "orders",
        "c",
        Value::Null,
        json!({"id": 5001, "user_id": 1, "status": "NEW", "total": "-0.01", "created_at": "2026-01-06T07:00:00Z"}),
        24_000_000,
        1_767_600_000_000,
    );
    fx.bronze(&[
        create_5001,
        fixture_msg("orders_11_create_with_transaction"),
        fixture_msg("orders_09_delete_null_before"),
    ])
    .await;
    let mut cfg = config("silver.orders", "orders", &["id"], MergeMode::Current);
    cfg.columns.insert("total".into(), "decimal(12,2)".into());
    cfg.columns
        .insert("created_at".into(), "timestamptz".into());
    let out = fx.merge(&cfg).await;
    assert_eq!((out.inserted, out.deleted, out.rows), (1, 0, 1));
    let rows = fx.rows("silver.orders").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], json!(5002));
    assert_eq!(rows[0]["total"], json!("42.50"));
    assert_eq!(
        rows[0]["created_at"],
        json!(micros("2026-01-06T07:00:00.5Z"))
    );
}

#[tokio::test]
async fn primary_key_change_ends_with_the_new_key() {
    let mut fx = Lake::new().await;
    let first = event(
        "order_items",
        "c",
        Value::Null,
        json!({"order_id": 5002, "line_no": 1, "product_id": 10, "quantity": 2, "unit_price": "CE0="}),
        24_050_000,
        1_767_682_700_000,
    );
    fx.bronze(&[first]).await;
    let mut cfg = config(
        "silver.items",
        "order_items",
        &["order_id", "line_no"],
        MergeMode::Current,
    );
    cfg.columns
        .insert("unit_price".into(), "decimal(10,2)".into());
    fx.merge(&cfg).await;
    fx.bronze(&[
        fixture_msg("order_items_12_pk_change_delete"),
        fixture_msg("order_items_13_pk_change_create"),
    ])
    .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.inserted, out.deleted, out.rows), (1, 1, 1));
    let rows = fx.rows("silver.items").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["order_id"].clone(), rows[0]["line_no"].clone()),
        (json!(5002), json!(2))
    );
    assert_eq!(rows[0]["unit_price"], json!("21.25"));
}

#[tokio::test]
async fn out_of_order_events_resolve_by_lsn() {
    let mut fx = Lake::new().await;
    let row = |id: i64, name: &str| json!({"id": id, "name": name});
    fx.bronze(&[
        event("t", "u", Value::Null, row(7, "c"), 300, 3),
        event("t", "c", Value::Null, row(7, "a"), 100, 1),
        event("t", "d", row(7, "b"), Value::Null, 250, 2),
        event("t", "u", Value::Null, row(7, "b"), 200, 2),
        // Key 8's delete arrives before its create.
        event("t", "d", row(8, "x"), Value::Null, 200, 2),
        event("t", "c", Value::Null, row(8, "x"), 100, 1),
    ])
    .await;
    let out = fx
        .merge(&config("silver.t", "t", &["id"], MergeMode::Current))
        .await;
    assert_eq!(out.rows, 1);
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["id"].clone(), rows[0]["name"].clone()),
        (json!(7), json!("c"))
    );
}

#[tokio::test]
async fn second_batch_rewrites_only_files_holding_touched_keys() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    let create = |id: i64, lsn: i64| {
        event(
            "t",
            "c",
            Value::Null,
            json!({"id": id, "v": id * 10}),
            lsn,
            lsn,
        )
    };
    fx.bronze(&[create(1, 1), create(2, 2), create(3, 3)]).await;
    fx.merge(&cfg).await;
    let first_files = fx.table("silver.t").await.data_files().await.unwrap();
    assert_eq!(first_files.len(), 1);

    fx.bronze(&[create(100, 4), create(101, 5), create(102, 6)])
        .await;
    let out = fx.merge(&cfg).await;
    assert!(
        out.replaced_files.is_empty(),
        "new keys go to new files: {out:?}"
    );
    let files = fx.table("silver.t").await.data_files().await.unwrap();
    assert_eq!(files.len(), 2);
    let second: Vec<_> = files
        .iter()
        .filter(|f| f.path != first_files[0].path)
        .map(|f| f.path.clone())
        .collect();

    let update = event("t", "u", Value::Null, json!({"id": 101, "v": -1}), 7, 7);
    fx.bronze(&[update]).await;
    let out = fx.merge(&cfg).await;
    assert_eq!(out.replaced_files, second, "only the file holding key 101");
    assert_eq!((out.updated, out.rows), (1, 6));
    let paths: Vec<_> = fx
        .table("silver.t")
        .await
        .data_files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(paths.contains(&first_files[0].path), "untouched file kept");
    let rows = fx.rows("silver.t").await;
    let v101: Vec<_> = rows.iter().filter(|r| r["id"] == json!(101)).collect();
    assert_eq!(v101[0]["v"], json!(-1));
    assert_eq!(rows.len(), 6);
}

#[tokio::test]
async fn a_new_source_column_appears_in_silver() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    fx.bronze(&[event(
        "t",
        "c",
        Value::Null,
        json!({"id": 1, "name": "a"}),
        1,
        1,
    )])
    .await;
    fx.merge(&cfg).await;
    fx.bronze(&[event(
        "t",
        "c",
        Value::Null,
        json!({"id": 2, "name": "b", "email": "b@x"}),
        2,
        2,
    )])
    .await;
    fx.merge(&cfg).await;
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["email"], Value::Null);
    assert_eq!(rows[1]["email"], json!("b@x"));
}

#[tokio::test]
async fn a_redelivered_older_event_in_a_later_batch_does_not_revert_the_row() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    let v1 = || event("t", "c", Value::Null, json!({"id": 1, "v": 1}), 100, 1);
    fx.bronze(&[
        v1(),
        event("t", "u", Value::Null, json!({"id": 1, "v": 2}), 200, 2),
    ])
    .await;
    fx.merge(&cfg).await;
    // Debezium is at-least-once: after a connector restart the first change comes again.
    fx.bronze(&[v1()]).await;
    let out = fx.merge(&cfg).await;
    assert_eq!(
        (out.inserted, out.updated, out.deleted, out.rows),
        (0, 0, 0, 1)
    );
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows[0]["v"], json!(2));
    assert_eq!(rows[0]["_cdc_lsn"], json!(200));
}

#[tokio::test]
async fn composite_and_text_keys_match_their_stored_rows() {
    let mut fx = Lake::new().await;
    // (tenant, sku): an integer and a text part; key (1, "a") and (1, "b") differ, and the
    // canonical text must not confuse (1, "2x") with (12, "x").
    let cfg = config("silver.t", "t", &["tenant", "sku"], MergeMode::Current);
    let row = |tenant: i64, sku: &str, v: i64| json!({"tenant": tenant, "sku": sku, "v": v});
    fx.bronze(&[
        event("t", "c", Value::Null, row(1, "a", 1), 1, 1),
        event("t", "c", Value::Null, row(1, "b", 2), 2, 2),
        event("t", "c", Value::Null, row(1, "2x", 3), 3, 3),
        event("t", "c", Value::Null, row(12, "x", 4), 4, 4),
    ])
    .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.inserted, out.rows), (4, 4));
    fx.bronze(&[
        event("t", "u", Value::Null, row(1, "a", 10), 5, 5),
        event("t", "d", row(12, "x", 4), Value::Null, 6, 6),
    ])
    .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.updated, out.deleted, out.rows), (1, 1, 3));
    let mut got: Vec<_> = fx
        .rows("silver.t")
        .await
        .into_iter()
        .map(|r| (r["tenant"].clone(), r["sku"].clone(), r["v"].clone()))
        .collect();
    got.sort_by_key(|(t, s, _)| (t.to_string(), s.to_string()));
    assert_eq!(
        got,
        vec![
            (json!(1), json!("2x"), json!(3)),
            (json!(1), json!("a"), json!(10)),
            (json!(1), json!("b"), json!(2)),
        ]
    );
}

#[tokio::test]
async fn a_text_key_of_digits_is_not_an_integer_key() {
    let mut fx = Lake::new().await;
    let mut cfg = config("silver.t", "t", &["code"], MergeMode::Current);
    cfg.columns.insert("code".into(), "string".into());
    let row = |code: &str, v: i64| json!({"code": code, "v": v});
    fx.bronze(&[
        event("t", "c", Value::Null, row("007", 1), 1, 1),
        event("t", "c", Value::Null, row("7", 2), 2, 2),
    ])
    .await;
    assert_eq!(fx.merge(&cfg).await.rows, 2);
    fx.bronze(&[event("t", "u", Value::Null, row("7", 20), 3, 3)])
        .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.updated, out.rows), (1, 2));
    let rows = fx.rows("silver.t").await;
    let v = |code: &str| {
        rows.iter()
            .find(|r| r["code"] == json!(code))
            .map(|r| r["v"].clone())
    };
    assert_eq!((v("007"), v("7")), (Some(json!(1)), Some(json!(20))));
}

#[tokio::test]
async fn rows_the_fast_scan_is_unsure_about_decode_like_any_other() {
    let mut fx = Lake::new().await;
    // Escaped member names and values, non-ASCII text, nested values: some rows take the fast
    // scan, some the full parse, and both must agree.
    fx.bronze(&[
        event(
            "t",
            "c",
            Value::Null,
            json!({"id": 1, "say \"hi\"": "x", "note": "a\"b\\c\nd", "é": "ü", "tags": [1, {"k": "]"}]}),
            1,
            1,
        ),
        event("t", "c", Value::Null, json!({"id": 2, "note": "plain", "é": null}), 2, 2),
        event(
            "t",
            "u",
            Value::Null,
            json!({"id": 2, "note": "tab\there", "é": "e", "tags": []}),
            3,
            3,
        ),
    ])
    .await;
    let out = fx
        .merge(&config("silver.t", "t", &["id"], MergeMode::Current))
        .await;
    assert_eq!((out.inserted, out.rows), (2, 2));
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows[0]["id"], json!(1));
    assert_eq!(rows[0]["say \"hi\""], json!("x"));
    assert_eq!(rows[0]["note"], json!("a\"b\\c\nd"));
    assert_eq!(rows[0]["é"], json!("ü"));
    assert_eq!(rows[0]["tags"], json!(r#"[1,{"k":"]"}]"#));
    assert_eq!(rows[1]["id"], json!(2));
    assert_eq!(rows[1]["say \"hi\""], Value::Null);
    assert_eq!(rows[1]["note"], json!("tab\there"));
    assert_eq!(rows[1]["é"], json!("e"));
    assert_eq!(rows[1]["tags"], json!("[]"));
}

#[tokio::test]
async fn changes_spread_over_many_bronze_files_apply_in_merge_order() {
    let mut fx = Lake::new().await;
    // The newest change of key 1 is in the first file; the files are read in parallel.
    fx.bronze(&[event(
        "t",
        "u",
        Value::Null,
        json!({"id": 1, "v": "newest"}),
        900,
        9,
    )])
    .await;
    for lsn in 1..=6 {
        fx.bronze(&[
            event("t", "u", Value::Null, json!({"id": 1, "v": lsn}), lsn, lsn),
            event("t", "u", Value::Null, json!({"id": 2, "v": lsn}), lsn, lsn),
        ])
        .await;
    }
    let out = fx
        .merge(&config("silver.t", "t", &["id"], MergeMode::Current))
        .await;
    assert_eq!((out.changes, out.rows), (13, 2));
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows[0]["v"], json!("newest"));
    assert_eq!(rows[1]["v"], json!("6"));
}

#[tokio::test]
async fn deletes_deep_in_a_large_bronze_file_find_their_keys() {
    let mut fx = Lake::new().await;
    // One file of 20,000 events, read in several batches: the deletes' `before` is read in a
    // second pass over the file and must line up with the right rows.
    let mut msgs = Vec::new();
    for id in 0..10_000_i64 {
        msgs.push(event(
            "t",
            "c",
            Value::Null,
            json!({"id": id, "v": "a"}),
            id,
            id,
        ));
    }
    for id in 0..10_000_i64 {
        let lsn = 10_000 + id;
        msgs.push(if id % 1_000 == 999 {
            event("t", "d", json!({"id": id}), Value::Null, lsn, lsn)
        } else {
            event("t", "u", Value::Null, json!({"id": id, "v": "b"}), lsn, lsn)
        });
    }
    fx.bronze(&msgs).await;
    let out = fx
        .merge(&config("silver.t", "t", &["id"], MergeMode::Current))
        .await;
    assert_eq!(
        (out.changes, out.inserted, out.rows),
        (20_000, 9_990, 9_990)
    );
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 9_990);
    assert!(rows.iter().all(|r| r["v"] == json!("b")));
    let ids: std::collections::HashSet<i64> =
        rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    for id in (999..10_000).step_by(1_000) {
        assert!(!ids.contains(&id), "{id} was deleted");
        assert!(ids.contains(&(id - 1)));
    }
}

#[tokio::test]
async fn toast_placeholders_in_a_latest_change_take_the_values_before_it() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    let toast = "__debezium_unavailable_value";
    let row = |id: i64, v: i64, bio: &str| json!({"id": id, "v": v, "bio": bio});
    fx.bronze(&[
        event("t", "c", Value::Null, row(1, 1, "one"), 100, 1),
        event("t", "c", Value::Null, row(2, 1, "two"), 101, 1),
    ])
    .await;
    assert!(!fx.merge(&cfg).await.reread_for_toast);
    fx.bronze(&[
        // Key 1's only change in this merge: its placeholder takes the stored value.
        event("t", "u", Value::Null, row(1, 2, toast), 200, 2),
        // Key 2: deleted, created again, then updated with a placeholder: the value comes from
        // the re-creation in the same merge, not from the row stored before the delete.
        event("t", "d", row(2, 1, "two"), Value::Null, 201, 2),
        event("t", "c", Value::Null, row(2, 3, "two again"), 202, 2),
        event("t", "u", Value::Null, row(2, 4, toast), 203, 2),
        // Key 3: a placeholder in its first change ever: nothing to take, so null.
        event("t", "c", Value::Null, row(3, 1, toast), 204, 2),
        // Key 4: later changes without placeholders win as usual.
        event("t", "c", Value::Null, row(4, 1, toast), 205, 2),
        event("t", "u", Value::Null, row(4, 2, "four"), 206, 2),
    ])
    .await;
    let out = fx.merge(&cfg).await;
    assert_eq!(
        (out.inserted, out.updated, out.deleted, out.rows),
        (2, 2, 0, 4)
    );
    // Key 2's latest change has a placeholder and earlier changes in this merge: only a second
    // read keeping every change can fill it.
    assert!(out.reread_for_toast);
    let rows = fx.rows("silver.t").await;
    let cells: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| (r["id"].clone(), r["v"].clone(), r["bio"].clone()))
        .collect();
    assert_eq!(
        cells,
        [
            (json!(1), json!(2), json!("one")),
            (json!(2), json!(4), json!("two again")),
            (json!(3), json!(1), Value::Null),
            (json!(4), json!(2), json!("four")),
        ]
    );

    // A placeholder in a key's only change of a merge is filled from the stored row, without a
    // second read.
    fx.bronze(&[event("t", "u", Value::Null, row(4, 3, toast), 300, 3)])
        .await;
    let out = fx.merge(&cfg).await;
    assert!(!out.reread_for_toast);
    let rows = fx.rows("silver.t").await;
    assert_eq!(
        (&rows[3]["v"], &rows[3]["bio"]),
        (&json!(3), &json!("four"))
    );
}

/// Silver remembers which bronze table it was merged from: a merge from another bronze table
/// (another DAG writing the same silver table) is refused with a clear error and changes nothing.
#[tokio::test]
async fn a_merge_from_another_bronze_table_is_refused_by_name() {
    let mut fx = Lake::new().await;
    fx.bronze(&[fixture_msg("users_01_snapshot_read_with_schema")])
        .await;
    let cfg = config("silver.users", "users", &["id"], MergeMode::Current);
    fx.merge(&cfg).await;
    let before = fx.table("silver.users").await;

    let other = flowctl_lakehouse::TableName::parse("bronze.other_cdc_raw").unwrap();
    fx.lake
        .create_table_if_missing(
            &other,
            &flowctl_lakehouse::TableSchema::Columns(flowctl_lakehouse::bronze::bronze_columns()),
        )
        .await
        .unwrap();
    let mut from_other = cfg.clone();
    from_other.source = "bronze.other_cdc_raw".into();
    let err = flowctl_jobs_merge::merge(&fx.lake, &from_other, &Default::default())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("silver.users was merged from another table than bronze.other_cdc_raw"),
        "{message}"
    );
    assert!(!err.is_retryable());
    let after = fx.table("silver.users").await;
    assert_eq!(after.metadata_location(), before.metadata_location());
    // The right source still merges.
    fx.merge(&cfg).await;
}
