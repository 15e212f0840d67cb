//! The job types this binary offers. The engine knows none of them by name: they are
//! registered here.

use flowctl_engine::job::JobRegistry;

/// Every built-in job type: `shell`, `noop`, the Kafka jobs (`kafka_produce`,
/// `kafka_to_iceberg`), `iceberg_merge`, `sql`, `quality`, and the AWS jobs (`glue_job`,
/// `athena_query`, `s3_wait`, `s3_upload`).
pub fn registry() -> JobRegistry {
    let mut registry = flowctl_jobs::registry();
    flowctl_jobs_kafka::register(&mut registry);
    flowctl_jobs_merge::register(&mut registry);
    flowctl_jobs_sql::register(&mut registry);
    flowctl_jobs_aws::register(&mut registry);
    registry
}
