//! `mode: scd2`: validity intervals from the source commit times.

use flowctl_jobs_merge::MergeMode;
use serde_json::{Value, json};

use crate::common::{Lake, config, event, fixture_msg};

#[tokio::test]
async fn updates_and_deletes_close_versions() {
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
    fx.bronze(&msgs).await;
    let cfg = config("silver.users_history", "users", &["id"], MergeMode::Scd2);
    let out = fx.merge(&cfg).await;
    assert_eq!((out.inserted, out.rows), (1, 1));
    let rows = fx.rows("silver.users_history").await;
    let ms = |m: i64| json!(m * 1000);
    let versions = |id: i64| {
        let mut v: Vec<_> = rows
            .iter()
            .filter(|r| r["id"] == json!(id))
            .map(|r| {
                (
                    r["effective_from"].clone(),
                    r["effective_to"].clone(),
                    r["is_current"].clone(),
                )
            })
            .collect();
        v.sort_by_key(|t| t.0.as_i64());
        v
    };
    assert_eq!(
        versions(2),
        vec![
            (ms(1_767_607_200_000), ms(1_767_610_800_000), json!(false)),
            (ms(1_767_610_800_000), ms(1_767_618_000_000), json!(false)),
        ]
    );
    assert_eq!(
        versions(1),
        vec![
            (ms(1_767_604_500_000), ms(1_767_614_400_000), json!(false)),
            (ms(1_767_614_400_000), Value::Null, json!(true)),
        ]
    );
    let current: Vec<_> = rows
        .iter()
        .filter(|r| r["is_current"] == json!(true))
        .collect();
    assert_eq!(current[0]["bio"], json!("Collects vintage cameras."));

    // A later batch deletes Alice: her open version closes, nothing is current.
    fx.bronze(&[event(
        "users",
        "d",
        json!({"id": 1}),
        Value::Null,
        24_100_000,
        1_767_700_000_000,
    )])
    .await;
    let out = fx.merge(&cfg).await;
    assert_eq!((out.deleted, out.rows), (1, 0));
    let rows = fx.rows("silver.users_history").await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["is_current"] == json!(false)));
    assert!(
        rows.iter()
            .any(|r| r["effective_to"] == ms(1_767_700_000_000))
    );
}

/// A merge whose configuration does not fit the existing silver table is refused before it
/// commits anything: no columns added to silver, no new metadata.
#[tokio::test]
async fn an_scd2_merge_into_a_current_table_changes_nothing() {
    let mut fx = Lake::new().await;
    fx.bronze(&[fixture_msg("users_01_snapshot_read_with_schema")])
        .await;
    let current = config("silver.users", "users", &["id"], MergeMode::Current);
    fx.merge(&current).await;
    let before = fx.table("silver.users").await;
    // A new column appears in the source: a fitting merge would add it to silver.
    fx.bronze(&[event(
        "users",
        "u",
        Value::Null,
        json!({"id": 1, "nickname": "ally"}),
        30_000_000,
        1_767_800_000_000,
    )])
    .await;
    let scd2 = config("silver.users", "users", &["id"], MergeMode::Scd2);
    let err = flowctl_jobs_merge::merge(&fx.lake, &scd2, &Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not an SCD2 table"), "{err}");
    let after = fx.table("silver.users").await;
    assert_eq!(after.metadata_location(), before.metadata_location());
    assert!(after.arrow_schema().unwrap().index_of("nickname").is_err());

    let wrong_key = config("silver.users", "users", &["user_id"], MergeMode::Current);
    assert!(
        flowctl_jobs_merge::merge(&fx.lake, &wrong_key, &Default::default())
            .await
            .is_err()
    );
    let after = fx.table("silver.users").await;
    assert_eq!(after.metadata_location(), before.metadata_location());
}
