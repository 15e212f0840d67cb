//! Unit tests of `kafka_to_iceberg`: its offline check, its telemetry and the helpers of an
//! attempt.

use super::*;
use serde_json::{Value, json};

fn problems(config: Value) -> Vec<String> {
    flowctl_model::catalog::config_problems::<BronzeConfig>(&config)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn one_problem(config: Value) -> String {
    let found = problems(config.clone());
    assert_eq!(found.len(), 1, "{config}: {found:?}");
    found[0].clone()
}

#[test]
fn a_good_step_passes() {
    for config in [
        json!({"topics": ["shop.public.orders"], "table": "bronze.shop"}),
        json!({"topic_pattern": "shop\\.public\\..*", "table": "lake.bronze.shop",
               "max_events": 1, "max_duration": "5m", "batch_size": 10, "group_id": "g",
               "on_gap": "skip"}),
        json!({"topics": ["a"], "table": "b.x", "on_gap": "fail"}),
    ] {
        assert!(problems(config.clone()).is_empty(), "{config}");
    }
}

#[test]
fn each_mistake_is_reported_at_its_field() {
    for (config, expected) in [
        (
            json!({"topics": ["a"], "topic_pattern": "a", "table": "b.x"}),
            "give either `topics` or `topic_pattern`, not both",
        ),
        (
            json!({"table": "b.x"}),
            "give `topics` (a list of topic names) or `topic_pattern` (a regex)",
        ),
        (
            json!({"topics": [], "table": "b.x"}),
            "`topics`: lists no topic: name at least one",
        ),
        (
            json!({"topics": ["a", ""], "table": "b.x"}),
            "`topics.1`: an empty topic name",
        ),
        (
            json!({"topics": ["a", "b", "a"], "table": "b.x"}),
            "`topics.2`: `a` is listed twice",
        ),
        (
            json!({"topic_pattern": "", "table": "b.x"}),
            "`topic_pattern`: an empty pattern matches no topic",
        ),
        (
            json!({"topics": ["a"], "table": "orders"}),
            "`table`: invalid table name `orders`: expected `namespace.table`",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "max_events": 0}),
            "`max_events`: must be at least 1",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "max_duration": "0s"}),
            "`max_duration`: a zero duration would stop before reading anything",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "batch_size": 0}),
            "`batch_size`: must be at least 1",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "group_id": " "}),
            "`group_id`: an empty consumer group id: leave it out for the default \
             `flowctl.<dag>.<task>`",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "on_gap": "ignore"}),
            "`on_gap`: `ignore` is not a choice: expected `fail` (stop before losing \
             anything, the default) or `skip` (record the gap in the dead-letter table and \
             continue)",
        ),
    ] {
        assert_eq!(one_problem(config.clone()), expected, "{config}");
    }
    for (pattern, expected) in [
        (
            "cdc\\.(orders",
            "`topic_pattern`: not a valid regex: unclosed group",
        ),
        (
            "a)|(b",
            "`topic_pattern`: not a valid regex: unopened group",
        ),
    ] {
        let found = one_problem(json!({"topic_pattern": pattern, "table": "b.x"}));
        assert_eq!(found, expected, "{pattern}");
    }
    let duration = one_problem(json!({"topics": ["a"], "table": "b.x", "max_duration": "soon"}));
    assert!(
        duration.starts_with("`max_duration`: invalid duration `soon`"),
        "{duration}"
    );
    let name = one_problem(json!({"topics": ["shop orders"], "table": "b.x"}));
    assert!(
        name.starts_with("`topics.0`: `shop orders` is not a Kafka topic name"),
        "{name}"
    );
}

#[test]
fn every_problem_of_a_step_is_reported() {
    assert_eq!(
        problems(json!({
            "topics": [],
            "topic_pattern": "",
            "table": "orders_cdc_raw",
            "max_events": 0,
            "max_duration": "5 minutes",
            "batch_size": 0,
            "on_gap": "Skip",
        })),
        [
            "give either `topics` or `topic_pattern`, not both",
            "`topics`: lists no topic: name at least one",
            "`topic_pattern`: an empty pattern matches no topic",
            "`table`: invalid table name `orders_cdc_raw`: expected `namespace.table`",
            "`max_events`: must be at least 1",
            "`max_duration`: invalid duration `5 minutes`: spaces are not allowed; expected \
             a number followed by a unit (d, h, m, s, ms), e.g. `30s`, `5m`, `1h30m`",
            "`batch_size`: must be at least 1",
            "`on_gap`: `Skip` is not a choice: expected `fail` (stop before losing anything, \
             the default) or `skip` (record the gap in the dead-letter table and continue)",
        ]
    );
    // Not a string at all: serde says so, at the field.
    assert_eq!(
        one_problem(json!({"topics": ["a"], "table": "b.x", "on_gap": true})),
        "`on_gap`: invalid type: boolean `true`, expected a string"
    );
}

#[test]
fn templated_values_are_left_to_the_run_time_check() {
    let config = json!({
        "topics": ["{{ params.topic }}", "{{ params.topic }}"],
        "table": "{{ params.table }}",
        "max_duration": "{{ params.budget }}",
        "group_id": "{{ params.group }}",
        "on_gap": "{{ params.on_gap }}",
    });
    assert!(problems(config).is_empty());
    let config = json!({"topic_pattern": "{{ params.pattern }}", "table": "b.{{ ds_nodash }}"});
    assert!(problems(config).is_empty());
}

#[test]
fn checked_fields_parse_into_an_ingest() {
    let (ctx, _log) = JobContext::for_test("/tmp");
    let config: BronzeConfig = serde_json::from_value(json!({
        "topic_pattern": "shop\\..*", "table": "lake.bronze.shop", "max_duration": "1m30s",
    }))
    .unwrap();
    let ingest = Ingest::new(config, &ctx).unwrap();
    let Selection::Pattern(regex) = &ingest.selection else {
        panic!("a pattern")
    };
    assert!(regex.is_match("shop.orders") && !regex.is_match("xshop.orders"));
    assert_eq!(ingest.table.to_string(), "lake.bronze.shop");
    assert_eq!(ingest.dlq.to_string(), "lake.bronze.shop_dlq");
    assert_eq!(ingest.max_duration, Some(Duration::from_secs(90)));
    assert_eq!(ingest.batch_size, DEFAULT_BATCH_SIZE);
    assert_eq!(ingest.group_id, "flowctl.test_dag.step");
    assert_eq!(ingest.on_gap, OnGap::Fail);
    let config: BronzeConfig = serde_json::from_value(json!({
        "topics": ["a"], "table": "b.x", "on_gap": "skip",
    }))
    .unwrap();
    assert_eq!(Ingest::new(config, &ctx).unwrap().on_gap, OnGap::Skip);
}

#[test]
fn declares_its_telemetry() {
    let telemetry = BronzeJob.telemetry();
    assert_eq!(telemetry.table_field, Some("table"));
    assert_eq!(telemetry.event_time_output, Some("max_event_ts_ms"));
    assert!(!telemetry.reports_checks);
    let documented: Vec<&str> = telemetry.outputs.iter().map(|o| o.name).collect();
    assert_eq!(
        documented,
        [
            "events",
            "events_c",
            "events_u",
            "events_d",
            "events_r",
            "events_t",
            "tombstones",
            "transaction_markers",
            "dlq",
            "gaps",
            "offsets",
            "max_event_ts_ms",
        ]
    );
    for counter in telemetry.counters {
        assert!(documented.contains(&counter.output), "{counter:?}");
    }
    let events: Vec<(&str, &[(&str, &str)])> = telemetry
        .counters
        .iter()
        .filter(|c| c.metric == "flowctl_cdc_events")
        .map(|c| (c.output, c.labels))
        .collect();
    assert_eq!(
        events,
        [
            ("events_c", &[("op", "c")][..]),
            ("events_u", &[("op", "u")][..]),
            ("events_d", &[("op", "d")][..]),
            ("events_r", &[("op", "r")][..]),
            ("events_t", &[("op", "t")][..]),
        ]
    );
    let dlq: Vec<_> = telemetry
        .counters
        .iter()
        .filter(|c| c.metric == "flowctl_cdc_dlq_events")
        .collect();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].output, "dlq");
    assert!(dlq[0].labels.is_empty());
    let gaps: Vec<_> = telemetry
        .counters
        .iter()
        .filter(|c| c.metric == "flowctl_cdc_gap_offsets")
        .map(|c| (c.output, c.labels))
        .collect();
    assert_eq!(gaps, [("gaps", &[][..])]);
    assert_eq!(
        dlq[0].help,
        "Malformed messages sent to the dead-letter table, by bronze table"
    );
}
