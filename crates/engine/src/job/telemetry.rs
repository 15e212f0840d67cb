//! What a job type's outputs mean outside the run: the metrics `/metrics` derives from them
//! and the tables whose freshness they report. A job type declares this
//! ([`super::Job::telemetry`]); the server reads the declarations and never matches job
//! type names or output keys of its own.

/// The telemetry a job type declares. Every part is optional; the default declares nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// Outputs the job type sets on success, with what they mean (documentation, the UI).
    pub outputs: &'static [OutputDoc],
    /// The field of the step's config naming the table it keeps fresh (a bronze or silver
    /// table): labels its counters and feeds `flowctl_cdc_last_success_timestamp_seconds`.
    pub table_field: Option<&'static str>,
    /// Counters fed by numeric outputs of successful steps.
    pub counters: &'static [OutputCounter],
    /// The output holding the newest source event time ingested (Unix epoch milliseconds):
    /// feeds `flowctl_cdc_lag_seconds` for the step's table.
    pub event_time_output: Option<&'static str>,
    /// Whether the step reports data-quality checks: outputs `passed`, `failed` and
    /// `warned`, and one log line per check (`[flowctl] check NAME [SEVERITY]: STATUS —
    /// MESSAGE`), shown by the UI's quality view.
    pub reports_checks: bool,
}

/// One output a job type sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputDoc {
    /// The output key (`outputs.<step>.<name>` in templates).
    pub name: &'static str,
    /// What it holds.
    pub description: &'static str,
}

/// A Prometheus counter fed by a numeric output: each successful step adds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCounter {
    /// Metric name (`flowctl_cdc_events`).
    pub metric: &'static str,
    /// Metric help text.
    pub help: &'static str,
    /// The output whose value is added.
    pub output: &'static str,
    /// Labels besides `dag`, `step` and `table` (`op="c"`).
    pub labels: &'static [(&'static str, &'static str)],
}
