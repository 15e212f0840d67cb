//! `drift::aws_drift` against moto: nothing to report right after set-up; a hot-fixed script,
//! an edited job, a missing workgroup and a missing table are each reported; an unreachable
//! endpoint fails the check.

use flowctl_engine::job::{JobContext, JobRegistry, TargetKind};
use flowctl_jobs_aws::aws_sdk_glue::types::{DatabaseInput, JobCommand, TableInput, WorkerType};
use flowctl_jobs_aws::aws_sdk_s3::primitives::ByteStream;
use flowctl_jobs_aws::drift::aws_drift;
use flowctl_model::dag::Dag;
use flowctl_model::load::{LoadOptions, load_dags};
use serde_json::{Value, json};

use crate::support::{clients, moto};

const DAG: &str = r#"
dag: orders
steps:
  bronze:
    aws:
      type: glue_job
      job_name: cdc-bronze
      arguments: { --table: bronze.orders_raw }
      definition:
        script: jobs/glue/bronze.py
        role: glue
        glue_version: "5.0"
        worker_type: G.1X
        number_of_workers: 2
  gold:
    depends_on: [bronze]
    aws: { type: athena_query, sql: SELECT 1, create_view: gold.revenue, workgroup: reports }
"#;

fn dags() -> Vec<Dag> {
    let mut registry = JobRegistry::new();
    flowctl_jobs_aws::register(&mut registry);
    let catalog = registry.catalog();
    let opts = LoadOptions {
        catalog: &catalog,
        target_kind: Some(TargetKind::Aws),
        pools: None,
        project_dir: None,
    };
    let loaded = load_dags(&[("dags/orders.yaml".into(), DAG.into())], &opts);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.dags
}

fn target(settings: serde_json::Map<String, Value>) -> flowctl_engine::job::TargetInfo {
    let (ctx, _log) = JobContext::for_test("/tmp");
    ctx.on_target(TargetKind::Aws, Value::Object(settings))
        .target
}

#[tokio::test]
async fn compares_jobs_scripts_workgroups_and_tables() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("jobs/glue")).unwrap();
    std::fs::write(project.path().join("jobs/glue/bronze.py"), "v1\n").unwrap();
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    let put = |body: &'static str| {
        aws.s3
            .put_object()
            .bucket("scripts")
            .key("glue/bronze.py")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
    };
    put("v1\n").await.unwrap();
    aws.glue
        .create_job()
        .name("cdc-bronze")
        .role("glue")
        .glue_version("5.0")
        .worker_type(WorkerType::G1X)
        .number_of_workers(2)
        .command(
            JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/glue/bronze.py")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for name in ["reports", "lakehouse"] {
        aws.athena
            .create_work_group()
            .name(name)
            .send()
            .await
            .unwrap();
    }
    for db in ["acme_bronze", "acme_gold"] {
        aws.glue
            .create_database()
            .database_input(DatabaseInput::builder().name(db).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    aws.glue
        .create_table()
        .database_name("acme_bronze")
        .table_input(TableInput::builder().name("orders_raw").build().unwrap())
        .send()
        .await
        .unwrap();
    let mut settings = moto.target_settings();
    settings.insert("scripts_bucket".into(), json!("scripts"));
    settings.insert("athena".into(), json!({"workgroup": "lakehouse"}));
    settings.insert(
        "databases".into(),
        json!({"bronze": "acme_bronze", "gold": "acme_gold"}),
    );
    let target = target(settings.clone());

    let report = aws_drift(project.path(), &target, &dags())
        .await
        .unwrap()
        .expect("an aws target");
    let found: Vec<String> = report
        .differences
        .iter()
        .map(|d| format!("{} {}: {}", d.kind, d.name, d.difference))
        .collect();
    // Only the view, made by the DAG's first run, is missing.
    assert_eq!(
        found,
        [
            "glue_table acme_gold.revenue: missing (the DAG's runs create it: was it dropped, or has the DAG never run?)"
        ]
    );
    assert_eq!(
        report.checked,
        [
            "1 Glue job(s) and their scripts",
            "2 Athena workgroup(s)",
            "2 Glue database(s) and 2 table(s)",
        ]
    );

    put("hot fix\n").await.unwrap();
    aws.athena
        .delete_work_group()
        .work_group("reports")
        .send()
        .await
        .unwrap();
    let report = aws_drift(project.path(), &target, &dags())
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<(&str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.kind, d.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("glue_script", "s3://scripts/glue/bronze.py"),
            ("athena_workgroup", "reports"),
            ("glue_table", "acme_gold.revenue"),
        ]
    );
    assert!(
        report.differences[0]
            .difference
            .starts_with("differs from ")
    );

    drop(moto);
    let err = aws_drift(project.path(), &target, &dags())
        .await
        .unwrap_err();
    assert!(
        err.message.contains("cannot reach the AWS endpoint"),
        "{err}"
    );
}
