//! The production DAG, `dags/cdc_orders.yaml`, on the aws target against moto (the Glue jobs,
//! workgroup and buckets created first, as terraform would): the Glue runs start with the
//! rendered arguments and the Athena queries carry the rendered SQL; a Glue run that fails is
//! retried and then fails the run with Glue's reason; a run whose process was killed while a
//! Glue run was in flight reconnects to that JobRunId instead of starting a second one.
//!
//! moto cannot fail a Glue run by itself: `tests/python/moto_server.py` adds that (a run
//! started with `--flowctl-test-fail MESSAGE` ends FAILED with that ErrorMessage).

use std::time::{Duration, Instant};

use flowctl_jobs_aws::aws_sdk_glue::types::JobCommand;
use flowctl_testkit::moto::{MotoServer, REGION, TEST_ENV};
use serde_json::json;

use crate::cli_drift::{Aws, clients};
use crate::support::{Run, TestProject};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The repository's DAG, made quick for a test: no schedule (runs are made by the test),
/// short retry delays and poll intervals.
fn cdc_orders_dag(extra_bronze_argument: Option<&str>) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/dags/cdc_orders.yaml")).expect("DAG");
    let mut text = text
        .replace("schedule: \"0 * * * *\"\n", "")
        .replace("  retry_delay: 30s\n", "  retry_delay: 100ms\n")
        .replace(
            "      job_name: ",
            "      poll_interval: 50ms\n      job_name: ",
        )
        .replace(
            "      type: athena_query\n",
            "      type: athena_query\n      poll_interval: 50ms\n",
        );
    if let Some(argument) = extra_bronze_argument {
        text = text.replace(
            "        --table: bronze.orders_cdc_raw\n",
            &format!("        --table: bronze.orders_cdc_raw\n        {argument}\n"),
        );
    }
    text
}

async fn aws_project(moto: &MotoServer, extra_bronze_argument: Option<&str>) -> (TestProject, Aws) {
    let endpoint = moto.endpoint();
    let aws = clients(&endpoint).await;
    aws.s3
        .create_bucket()
        .bucket("results")
        .send()
        .await
        .unwrap();
    for job in ["cdc-bronze", "cdc-silver"] {
        aws.glue
            .create_job()
            .name(job)
            .role("arn:aws:iam::123456789012:role/flowctl-glue")
            .glue_version("5.0")
            .command(
                JobCommand::builder()
                    .name("glueetl")
                    .script_location(format!("s3://scripts/glue/{job}.py"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    aws.athena
        .create_work_group()
        .name("flowctl")
        .send()
        .await
        .unwrap();

    let project = TestProject::new();
    project.write(
        "flowctl.yaml",
        &format!(
            "targets:\n  aws:\n    kind: aws\n    region: {REGION}\n    endpoint_url: {endpoint}\n    \
             athena: {{ workgroup: flowctl, output_location: 's3://results/athena/', database: gold }}\n    \
             databases: {{ bronze: bronze, silver: silver, gold: gold }}\n"
        ),
    );
    for file in ["gold_revenue_5m.sql", "gold_inventory_alerts.sql"] {
        let sql = std::fs::read_to_string(format!("{ROOT}/jobs/sql/{file}")).expect("SQL");
        project.write(&format!("jobs/sql/{file}"), &sql);
    }
    project.dag("cdc_orders", &cdc_orders_dag(extra_bronze_argument));
    project.run(&["apply"]).ok();
    (project, aws)
}

fn flowctl(project: &TestProject, args: &[&str]) -> std::process::Command {
    let mut cmd = project.cmd(args);
    for (key, value) in TEST_ENV {
        cmd.env(key, value);
    }
    cmd
}

async fn job_runs(aws: &Aws, job: &str) -> Vec<flowctl_jobs_aws::aws_sdk_glue::types::JobRun> {
    aws.glue
        .get_job_runs()
        .job_name(job)
        .send()
        .await
        .unwrap()
        .job_runs
        .unwrap_or_default()
}

fn argument<'a>(run: &'a flowctl_jobs_aws::aws_sdk_glue::types::JobRun, key: &str) -> &'a str {
    run.arguments
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
        .unwrap_or_default()
}

fn latest_run(project: &TestProject) -> serde_json::Value {
    let listed = project.run(&["runs", "cdc_orders", "--json"]);
    listed.ok();
    let runs: serde_json::Value = serde_json::from_str(&listed.stdout).expect("runs --json");
    runs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_orders_runs_on_aws_with_rendered_glue_arguments_and_athena_sql() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (project, aws) = aws_project(&moto, None).await;
    let run = Run::from(
        flowctl(&project, &["run", "cdc_orders", "--target", "aws"])
            .output()
            .expect("flowctl run"),
    );
    run.ok();
    let run_id = latest_run(&project)["run_id"].as_str().unwrap().to_string();

    let bronze = job_runs(&aws, "cdc-bronze").await;
    assert_eq!(bronze.len(), 1);
    assert_eq!(
        argument(&bronze[0], "--topics"),
        "shop.public.orders,shop.public.order_items,shop.public.products"
    );
    assert_eq!(
        argument(&bronze[0], "--run-id"),
        run_id,
        "templates rendered"
    );
    let silver = job_runs(&aws, "cdc-silver").await;
    let mut tables: Vec<&str> = silver
        .iter()
        .map(|r| argument(r, "--source-table"))
        .collect();
    tables.sort_unstable();
    assert_eq!(tables, ["order_items", "orders", "products"]);
    assert!(silver.iter().all(|r| argument(r, "--mode") == "current"));

    let ids = aws
        .athena
        .list_query_executions()
        .work_group("flowctl")
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    let mut queries = Vec::new();
    for id in ids {
        let execution = aws
            .athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap();
        queries.push(execution.query.unwrap_or_default());
    }
    assert_eq!(queries.len(), 4, "{queries:#?}");
    let revenue_sql =
        std::fs::read_to_string(format!("{ROOT}/jobs/sql/gold_revenue_5m.sql")).unwrap();
    let view = queries
        .iter()
        .find(|q| q.starts_with("CREATE OR REPLACE VIEW gold.revenue_5m AS"))
        .unwrap_or_else(|| panic!("{queries:#?}"));
    assert!(
        view.contains(revenue_sql.trim().trim_end_matches(';').trim_end()),
        "the gold SQL file is what Athena ran: {view}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("SELECT order_id FROM silver.orders_current")),
        "{queries:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_glue_run_is_retried_then_fails_the_run_with_glues_reason() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (project, aws) = aws_project(
        &moto,
        Some("--flowctl-test-fail: 'Kafka brokers unreachable'"),
    )
    .await;
    let run = Run::from(
        flowctl(&project, &["run", "cdc_orders", "--target", "aws"])
            .output()
            .expect("flowctl run"),
    );
    run.expect_code(1);
    assert_eq!(latest_run(&project)["state"], "failed");
    let bronze = job_runs(&aws, "cdc-bronze").await;
    assert_eq!(
        bronze.len(),
        4,
        "retries: 3 → four Glue runs, each a new one"
    );
    assert!(
        job_runs(&aws, "cdc-silver").await.is_empty(),
        "downstream never started"
    );
    let logs = project.run(&["logs", "cdc_orders", "latest", "bronze"]);
    assert!(
        logs.stdout.contains("Kafka brokers unreachable") && logs.stdout.contains("FAILED"),
        "{}",
        logs.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_run_reconnects_to_the_glue_run_in_flight() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (project, aws) = aws_project(&moto, None).await;
    // Glue runs stay STARTING until released.
    moto.set_transition(
        "glue::job_run",
        json!({"progression": "manual", "times": 1_000_000}),
    );
    let mut child = flowctl(&project, &["run", "cdc_orders", "--target", "aws"])
        .env("FLOWCTL_LEASE_TIMEOUT", "1s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn flowctl run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_runs(&aws, "cdc-bronze").await.is_empty() {
        assert!(Instant::now() < deadline, "bronze never started a Glue run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the attempt store the run id and poll once, then kill the process outright.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let started = job_runs(&aws, "cdc-bronze").await;
    assert_eq!(started.len(), 1);

    moto.set_transition("glue::job_run", json!({"progression": "immediate"}));
    tokio::time::sleep(Duration::from_millis(1500)).await; // the dead process's leases expire
    let resumed = Run::from(
        flowctl(&project, &["scheduler", "--once", "--target", "aws"])
            .env("FLOWCTL_LEASE_TIMEOUT", "1s")
            .output()
            .expect("flowctl scheduler --once"),
    );
    resumed.ok();
    assert_eq!(
        latest_run(&project)["state"],
        "success",
        "{}",
        resumed.all()
    );
    let after = job_runs(&aws, "cdc-bronze").await;
    assert_eq!(after.len(), 1, "reconnected: no second Glue run");
    assert_eq!(after[0].id, started[0].id);
    let logs = project.run(&["logs", "cdc_orders", "latest", "bronze"]);
    assert!(
        logs.stdout.contains(started[0].id.as_deref().unwrap()),
        "{}",
        logs.all()
    );
}
