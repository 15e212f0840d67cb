//! What `kafka_to_iceberg` declares to metrics and the UI: its outputs and the counters they
//! feed (see `flowctl_engine::job::Telemetry`).

use flowctl_engine::job::telemetry::{OutputCounter, OutputDoc};

/// The outputs a successful step sets.
pub(super) const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "events",
        description: "Change events written to the bronze table (every op).",
    },
    OutputDoc {
        name: "events_c",
        description: "Create events (`op: c`) written.",
    },
    OutputDoc {
        name: "events_u",
        description: "Update events (`op: u`) written.",
    },
    OutputDoc {
        name: "events_d",
        description: "Delete events (`op: d`) written.",
    },
    OutputDoc {
        name: "events_r",
        description: "Snapshot reads (`op: r`) written.",
    },
    OutputDoc {
        name: "events_t",
        description: "Truncate events (`op: t`) written.",
    },
    OutputDoc {
        name: "tombstones",
        description: "Tombstones (messages without a value) skipped.",
    },
    OutputDoc {
        name: "transaction_markers",
        description: "Transaction markers skipped.",
    },
    OutputDoc {
        name: "dlq",
        description: "Malformed messages written to the dead-letter table `<table>_dlq`.",
    },
    OutputDoc {
        name: "gaps",
        description: "Offsets skipped because the broker no longer had them (`on_gap: skip`; \
                      each gap is also a row of `<table>_dlq` naming the range); 0 when none \
                      was missing. A partition read again because its stored offset was beyond \
                      its end adds a row but no count (what it lost is unknown).",
    },
    OutputDoc {
        name: "offsets",
        description: "The next offsets after this run, as JSON `{\"<topic>\": {\"<partition>\": \
                      <offset>}}` (committed with the rows).",
    },
    OutputDoc {
        name: "max_event_ts_ms",
        description: "The newest Debezium source event time (`source.ts_ms`, Unix epoch \
                      milliseconds) written by this run; not set when it wrote no event.",
    },
];

pub(super) const CDC_EVENTS: &str = "flowctl_cdc_events";
pub(super) const CDC_EVENTS_HELP: &str =
    "Change events ingested into bronze by DAG, step, table and Debezium op (c, u, d, r, t)";

/// `flowctl_cdc_events` by op, `flowctl_cdc_dlq_events` and `flowctl_cdc_gap_offsets`.
pub(super) const COUNTERS: &[OutputCounter] = &[
    OutputCounter {
        metric: CDC_EVENTS,
        help: CDC_EVENTS_HELP,
        output: "events_c",
        labels: &[("op", "c")],
    },
    OutputCounter {
        metric: CDC_EVENTS,
        help: CDC_EVENTS_HELP,
        output: "events_u",
        labels: &[("op", "u")],
    },
    OutputCounter {
        metric: CDC_EVENTS,
        help: CDC_EVENTS_HELP,
        output: "events_d",
        labels: &[("op", "d")],
    },
    OutputCounter {
        metric: CDC_EVENTS,
        help: CDC_EVENTS_HELP,
        output: "events_r",
        labels: &[("op", "r")],
    },
    OutputCounter {
        metric: CDC_EVENTS,
        help: CDC_EVENTS_HELP,
        output: "events_t",
        labels: &[("op", "t")],
    },
    OutputCounter {
        metric: "flowctl_cdc_dlq_events",
        help: "Malformed messages sent to the dead-letter table, by bronze table",
        output: "dlq",
        labels: &[],
    },
    OutputCounter {
        metric: "flowctl_cdc_gap_offsets",
        help: "Kafka offsets a step with `on_gap: skip` found gone from the broker, by bronze table",
        output: "gaps",
        labels: &[],
    },
];
