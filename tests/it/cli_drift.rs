//! `flowctl drift` against moto: no drift right after set-up and apply; a changed script in
//! S3, an edited Glue job definition, a missing Athena workgroup and a DAG edited but not
//! applied each exit 2 with the difference named; an unreachable endpoint exits 1.

use flowctl_jobs_aws::aws_config::{self, BehaviorVersion, Region};
use flowctl_jobs_aws::aws_sdk_glue::types::{DatabaseInput, JobCommand, TableInput, WorkerType};
use flowctl_jobs_aws::aws_sdk_s3::primitives::ByteStream;
use flowctl_jobs_aws::{aws_sdk_athena, aws_sdk_glue, aws_sdk_s3};
use flowctl_testkit::moto::{MotoServer, REGION, TEST_ENV};

use crate::support::{Run, TestProject};

const ROLE: &str = "arn:aws:iam::123456789012:role/flowctl-glue";
const SCRIPT_V1: &str = "print('bronze v1')\n";

pub(crate) struct Aws {
    pub glue: aws_sdk_glue::Client,
    pub s3: aws_sdk_s3::Client,
    pub athena: aws_sdk_athena::Client,
}

/// SDK clients on moto with test credentials (set in this process's clients only).
pub(crate) async fn clients(endpoint: &str) -> Aws {
    let credentials =
        aws_sdk_glue::config::Credentials::new("testing", "testing", None, None, "test");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    Aws {
        glue: aws_sdk_glue::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(s3),
        athena: aws_sdk_athena::Client::new(&sdk),
    }
}

fn project_file(endpoint: &str) -> String {
    format!(
        "targets:\n  aws:\n    kind: aws\n    region: {REGION}\n    endpoint_url: {endpoint}\n    \
         scripts_bucket: scripts\n    scripts_prefix: glue/\n    athena:\n      workgroup: flowctl\n      \
         output_location: s3://results/athena/\n    databases: {{ bronze: bronze, silver: silver, gold: gold }}\n"
    )
}

fn dag(workers: u32) -> String {
    format!(
        "dag: orders\nsteps:\n  bronze:\n    local: {{ type: noop }}\n    aws:\n      type: glue_job\n      \
         job_name: cdc-bronze\n      arguments: {{ --table: bronze.raw }}\n      definition:\n        \
         script: jobs/glue/bronze.py\n        role: {ROLE}\n        glue_version: '5.0'\n        \
         worker_type: G.1X\n        number_of_workers: {workers}\n"
    )
}

/// What terraform would have created: the scripts bucket with the script, the Glue job, the
/// databases, the bronze table and the Athena workgroup.
async fn create_live(aws: &Aws) {
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    put_script(aws, SCRIPT_V1).await;
    create_job(aws, 2).await;
    for db in ["bronze", "silver", "gold"] {
        aws.glue
            .create_database()
            .database_input(DatabaseInput::builder().name(db).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    aws.glue
        .create_table()
        .database_name("bronze")
        .table_input(TableInput::builder().name("raw").build().unwrap())
        .send()
        .await
        .unwrap();
    aws.athena
        .create_work_group()
        .name("flowctl")
        .send()
        .await
        .unwrap();
}

async fn create_job(aws: &Aws, workers: i32) {
    aws.glue
        .create_job()
        .name("cdc-bronze")
        .role(ROLE)
        .glue_version("5.0")
        .worker_type(WorkerType::G1X)
        .number_of_workers(workers)
        .command(
            JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/glue/bronze.py")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn put_script(aws: &Aws, text: &str) {
    aws.s3
        .put_object()
        .bucket("scripts")
        .key("glue/bronze.py")
        .body(ByteStream::from(text.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

fn drift(project: &TestProject, extra: &[&str]) -> Run {
    let mut args = vec!["drift", "--target", "aws"];
    args.extend_from_slice(extra);
    let mut cmd = project.cmd(&args);
    for (key, value) in TEST_ENV {
        cmd.env(key, value);
    }
    Run::from(cmd.output().expect("spawn flowctl"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_each_difference_and_exits_2() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let endpoint = moto.endpoint();
    let aws = clients(&endpoint).await;
    create_live(&aws).await;

    let project = TestProject::new();
    project.write("flowctl.yaml", &project_file(&endpoint));
    project.write("jobs/glue/bronze.py", SCRIPT_V1);
    project.dag("orders", &dag(2));
    project.run(&["apply"]).ok();

    let clean = drift(&project, &[]);
    clean.ok();
    assert!(clean.stdout.contains("no drift"), "{}", clean.all());
    assert!(clean.stdout.contains("1 Glue job(s)"), "{}", clean.all());

    // Someone hot-fixed the script in S3.
    put_script(&aws, "print('hot fix')\n").await;
    let changed = drift(&project, &[]);
    changed.expect_code(2);
    assert!(
        changed
            .stdout
            .contains("glue_script s3://scripts/glue/bronze.py")
            && changed.stdout.contains("differs from"),
        "{}",
        changed.all()
    );
    put_script(&aws, SCRIPT_V1).await;

    // Someone edited the job in the console (moto's UpdateJob fails: recreate it instead).
    aws.glue
        .delete_job()
        .job_name("cdc-bronze")
        .send()
        .await
        .unwrap();
    create_job(&aws, 5).await;
    let edited = drift(&project, &["--json"]);
    edited.expect_code(2);
    let report: serde_json::Value = serde_json::from_str(&edited.stdout).expect("--json report");
    assert_eq!(report["drift"], true);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{}", edited.stdout);
    assert_eq!(differences[0]["kind"], "glue_job");
    assert_eq!(differences[0]["name"], "cdc-bronze");
    assert_eq!(
        differences[0]["difference"],
        "number_of_workers: declared 2, live 5"
    );

    // The DAG now says 5 workers too, but nobody applied it; and the workgroup is gone.
    project.dag("orders", &dag(5));
    aws.athena
        .delete_work_group()
        .work_group("flowctl")
        .send()
        .await
        .unwrap();
    let both = drift(&project, &[]);
    both.expect_code(2);
    assert!(
        both.stdout.contains("dag orders") && both.stdout.contains("changed since it was applied"),
        "{}",
        both.all()
    );
    assert!(
        both.stdout.contains("athena_workgroup flowctl") && both.stdout.contains("missing"),
        "{}",
        both.all()
    );
    assert!(!both.stdout.contains("number_of_workers"), "{}", both.all());

    // The check itself failing is exit 1, not "drift".
    drop(moto);
    let broken = drift(&project, &[]);
    broken.expect_code(1);
    assert!(broken.stderr.contains("cannot reach"), "{}", broken.all());
}
