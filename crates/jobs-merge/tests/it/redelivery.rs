//! Silver is idempotent in both modes: Debezium is at-least-once, and a change event delivered
//! again (the same key and source position, a new Kafka offset), in the same bronze batch or a
//! later one, or an older change sent again, leaves silver as a run without it would: the same
//! rows, the same content checksum, and never an SCD2 version that lasts no time.

use flowctl_jobs_merge::{MergeConfig, MergeMode, MergeOutcome};
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::common::{Lake, Msg, checksum, config, event, fixture_msg};

const CURRENT: &str = "silver.users";
const HISTORY: &str = "silver.users_history";

/// Source times of the stream (ms since the epoch): `T + n`.
const T: i64 = 1_767_600_000_000;

type Rows = Vec<IndexMap<String, Value>>;

/// The `n`-th change of the stream; a run without re-deliveries reads it at offset `n`.
fn change(n: usize) -> Msg {
    let row = |id: i64, name: &str| json!({"id": id, "name": name});
    let (op, before, after, lsn, ts) = match n {
        0 => ("c", Value::Null, row(1, "ada"), 100, T + 1_000),
        1 => ("c", Value::Null, row(2, "bob"), 110, T + 1_100),
        2 => ("u", Value::Null, row(1, "ada l."), 200, T + 2_000),
        3 => ("c", Value::Null, row(3, "cy"), 210, T + 2_100),
        4 => ("d", row(2, "bob"), Value::Null, 300, T + 3_000),
        5 => ("u", Value::Null, row(3, "cyd"), 310, T + 3_100),
        6 => ("u", Value::Null, row(1, "ada lovelace"), 400, T + 4_000),
        _ => unreachable!("the stream has 7 changes"),
    };
    event("users", op, before, after, lsn, ts)
}

/// A delete of a key that silver never had (not a re-delivery: it changes nothing either).
fn delete_unknown() -> Msg {
    event(
        "users",
        "d",
        json!({"id": 9, "name": "zed"}),
        Value::Null,
        350,
        T + 3_500,
    )
}

/// Silver in both modes, merged from one bronze table.
struct Silver {
    fx: Lake,
    current: MergeConfig,
    history: MergeConfig,
}

impl Silver {
    async fn new() -> Self {
        Self {
            fx: Lake::new().await,
            current: config(CURRENT, "users", &["id"], MergeMode::Current),
            history: config(HISTORY, "users", &["id"], MergeMode::Scd2),
        }
    }

    /// Appends the messages to bronze at the given offsets (one snapshot) and merges both
    /// tables: their outcomes.
    async fn batch(&mut self, msgs: Vec<(Msg, i64)>) -> (MergeOutcome, MergeOutcome) {
        let (msgs, offsets): (Vec<Msg>, Vec<i64>) = msgs.into_iter().unzip();
        self.fx.bronze_at(&msgs, &offsets).await;
        (
            self.fx.merge(&self.current).await,
            self.fx.merge(&self.history).await,
        )
    }

    /// Both tables' rows (sorted, every column) and content checksums.
    async fn content(&self) -> [(Rows, u64); 2] {
        let mut out = Vec::new();
        for table in [CURRENT, HISTORY] {
            let rows = self.fx.rows(table).await;
            let sum = checksum(&rows);
            out.push((rows, sum));
        }
        let history = &out[1].0;
        for row in history {
            assert_ne!(
                row["effective_from"], row["effective_to"],
                "a version that lasts no time: {row:?}"
            );
        }
        [out.remove(0), out.remove(0)]
    }
}

/// The changes `ns` of the stream, each at its own offset (as first delivered).
fn originals(ns: impl IntoIterator<Item = usize>) -> Vec<(Msg, i64)> {
    ns.into_iter().map(|n| (change(n), n as i64)).collect()
}

/// `(id, name, effective_from, effective_to, is_current)` of each SCD2 version, sorted.
fn versions(rows: &Rows) -> Vec<(i64, Value, i64, Option<i64>, bool)> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["name"].clone(),
                r["effective_from"].as_i64().unwrap(),
                r["effective_to"].as_i64(),
                r["is_current"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort_by_key(|v| (v.0, v.2));
    out
}

fn counts(out: &MergeOutcome) -> (u64, u64, u64, u64) {
    (out.inserted, out.updated, out.deleted, out.rows)
}

#[tokio::test]
async fn redelivered_and_older_events_leave_both_modes_as_a_run_without_them() {
    // Without re-deliveries: three bronze batches.
    let mut clean = Silver::new().await;
    let mut expected = Vec::new();
    for batch in [vec![0, 1, 2, 3], vec![4, 5], vec![6]] {
        clean.batch(originals(batch)).await;
        expected.push(clean.content().await);
    }

    let mut redelivered = Silver::new().await;
    // Batch 1: change 2 comes twice (a later offset), and key 1's older change 0 again.
    let mut batch = originals([0, 1, 2]);
    batch.extend([(change(2), 50), (change(3), 3), (change(0), 51)]);
    let (current, history) = redelivered.batch(batch).await;
    assert_eq!(counts(&current), (3, 0, 0, 3));
    assert_eq!(counts(&history), (3, 0, 0, 3));
    assert_eq!(redelivered.content().await, expected[0], "same batch");

    // Batch 2: changes 3 and 0 again in a later batch (older than what silver has), and key 2's
    // create after its delete in the same batch.
    let mut batch = originals([4, 5]);
    batch.extend([(change(3), 52), (change(0), 53), (change(1), 54)]);
    let (current, history) = redelivered.batch(batch).await;
    assert_eq!(counts(&current), (0, 1, 1, 2));
    assert_eq!(counts(&history), (0, 1, 1, 2));
    assert_eq!(redelivered.content().await, expected[1], "later batch");

    // Batch 3: key 2's delete again after its version was closed, change 6 twice, a delete of a
    // key silver never had.
    let mut batch = originals([6]);
    batch.extend([
        (change(4), 55),
        (change(6), 56),
        (change(1), 57),
        (delete_unknown(), 58),
    ]);
    let (current, history) = redelivered.batch(batch).await;
    assert_eq!(counts(&current), (0, 1, 0, 2));
    assert_eq!(counts(&history), (0, 1, 0, 2));
    assert_eq!(
        redelivered.content().await,
        expected[2],
        "delete after the close"
    );

    // Batch 4: the whole stream again after a connector restart, with new offsets (as re-running
    // the demo publishes it again): nothing changes, twice.
    for again in [100, 200] {
        let batch = (0..7)
            .map(|n| (change(n), again + n as i64))
            .chain([(delete_unknown(), again + 7)])
            .collect();
        let (current, history) = redelivered.batch(batch).await;
        assert_eq!(counts(&current), (0, 0, 0, 2));
        assert_eq!(counts(&history), (0, 0, 0, 2));
        assert!(current.silver_snapshot.is_some() && history.silver_snapshot.is_some());
        assert_eq!(redelivered.content().await, expected[2], "the stream again");
    }

    // What both runs hold: the current rows, and every version once.
    let [(current, _), (history, _)] = &expected[2];
    let live: Vec<_> = current.iter().map(|r| (&r["id"], &r["name"])).collect();
    assert_eq!(
        live,
        [
            (&json!(1), &json!("ada lovelace")),
            (&json!(3), &json!("cyd"))
        ]
    );
    assert!(current.iter().all(|r| r["_cdc_offset"] != json!(50)));
    let us = |ms: i64| (T + ms) * 1000;
    assert_eq!(
        versions(history),
        [
            (1, json!("ada"), us(1_000), Some(us(2_000)), false),
            (1, json!("ada l."), us(2_000), Some(us(4_000)), false),
            (1, json!("ada lovelace"), us(4_000), None, true),
            (2, json!("bob"), us(1_100), Some(us(3_000)), false),
            (3, json!("cy"), us(2_100), Some(us(3_100)), false),
            (3, json!("cyd"), us(3_100), None, true),
        ]
    );
}

/// Changes of one transaction share its commit time: a version they would open and close at
/// that same instant is never written (an upsert takes its place, a delete removes it), within
/// a batch or across batches, and the stream sent again changes nothing.
#[tokio::test]
async fn changes_at_the_same_instant_make_no_version_that_lasts_no_time() {
    let mut fx = Silver::new().await;
    let at = |id: i64, op: &str, name: &str, lsn: i64, ms: i64| {
        let row = json!({"id": id, "name": name});
        let (before, after) = match op {
            "d" => (row, Value::Null),
            _ => (Value::Null, row),
        };
        event("users", op, before, after, lsn, T + ms)
    };
    let stream = || {
        [
            // One transaction: key 1 created then updated, key 2 created then deleted.
            at(1, "c", "a", 100, 1_000),
            at(1, "u", "b", 101, 1_000),
            at(2, "c", "x", 102, 1_000),
            at(2, "d", "x", 103, 1_000),
            at(3, "c", "p", 104, 1_000),
            // Later: key 3 updated then deleted in one transaction.
            at(3, "u", "q", 200, 2_000),
            at(3, "d", "q", 201, 2_000),
            // Key 4 created, then updated in the same transaction, read in the next batch.
            at(4, "c", "m", 300, 3_000),
            at(4, "u", "n", 301, 3_000),
        ]
    };
    let mut offset = 0;
    let mut take = |msgs: Vec<Msg>| {
        msgs.into_iter()
            .map(|m| {
                offset += 1;
                (m, offset)
            })
            .collect::<Vec<_>>()
    };
    let [a, b, c, d, e, f, g, h, i] = stream();
    fx.batch(take(vec![a, b, c, d, e, f, g, h])).await;
    let (current, history) = fx.batch(take(vec![i])).await;
    assert_eq!(counts(&current), (0, 1, 0, 2));
    assert_eq!(counts(&history), (0, 1, 0, 2));
    let content = fx.content().await;
    let us = |ms: i64| (T + ms) * 1000;
    assert_eq!(
        versions(&content[1].0),
        [
            (1, json!("b"), us(1_000), None, true),
            (3, json!("p"), us(1_000), Some(us(2_000)), false),
            (4, json!("n"), us(3_000), None, true),
        ]
    );

    fx.batch(take(stream().into_iter().collect())).await;
    assert_eq!(fx.content().await, content, "the stream again");
}

/// The cdc crate's Debezium fixtures (a snapshot read, a create, updates with TOAST
/// placeholders, a delete) published again and again: each run leaves both tables as they were,
/// and the deleted user keeps one closed version.
#[tokio::test]
async fn publishing_the_fixture_stream_again_changes_nothing() {
    let stems = [
        "users_01_snapshot_read_with_schema",
        "users_02_create_schemaless",
        "users_03_update_full_before",
        "users_04_update_no_before_toast",
        "users_05_delete_full_before",
    ];
    let mut fx = Silver::new().await;
    let mut offset = 0;
    let mut publish = || {
        stems
            .iter()
            .map(|s| {
                offset += 1;
                (fixture_msg(s), offset)
            })
            .collect::<Vec<_>>()
    };
    fx.batch(publish()).await;
    let first = fx.content().await;
    let deleted = |rows: &Rows| rows.iter().filter(|r| r["id"] == json!(2)).count();
    assert_eq!(deleted(&first[1].0), 2);
    for _ in 0..2 {
        let (current, history) = fx.batch(publish()).await;
        assert_eq!(counts(&current), (0, 0, 0, 1));
        assert_eq!(counts(&history), (0, 0, 0, 1));
        let again = fx.content().await;
        assert_eq!(deleted(&again[1].0), 2);
        assert_eq!(again, first);
    }
}

/// A re-delivered latest change with TOAST placeholders, in the same batch as the changes its
/// values come from: filled as the first delivery is, and recorded at its offset.
#[tokio::test]
async fn a_redelivered_change_with_toast_placeholders_is_filled_as_the_first_delivery() {
    let toast = "__debezium_unavailable_value";
    let stream = |n: usize| {
        let (name, bio, lsn, ms) = match n {
            0 => ("ada", "mathematician", 100, 1_000),
            1 => ("ada l.", toast, 200, 2_000),
            _ => unreachable!(),
        };
        let row = json!({"id": 1, "name": name, "bio": bio});
        event("users", ["c", "u"][n], Value::Null, row, lsn, T + ms)
    };
    let mut clean = Silver::new().await;
    let (current, _) = clean.batch(vec![(stream(0), 0), (stream(1), 1)]).await;
    assert!(current.reread_for_toast);
    let expected = clean.content().await;
    assert_eq!(expected[0].0[0]["bio"], json!("mathematician"));

    let mut redelivered = Silver::new().await;
    let batch = vec![
        (stream(0), 0),
        (stream(1), 1),
        (stream(1), 50),
        (stream(0), 51),
    ];
    let (current, _) = redelivered.batch(batch).await;
    assert!(current.reread_for_toast);
    assert_eq!(redelivered.content().await, expected);
}
