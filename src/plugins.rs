//! The job types this binary offers. The engine knows none of them by name: they are
//! registered here.

use flowctl_engine::job::JobRegistry;

/// Every built-in job type: `shell`, `noop`, the Kafka jobs (`kafka_produce`,
/// `kafka_to_iceberg`), `iceberg_merge`, `sql` and `quality`.
pub fn registry() -> JobRegistry {
    let mut registry = flowctl_jobs::registry();
    flowctl_jobs_kafka::register(&mut registry);
    flowctl_jobs_merge::register(&mut registry);
    flowctl_jobs_sql::register(&mut registry);
    registry
}
