//! `s3_wait` and `s3_upload` against moto.

use std::time::Duration;

use flowctl_jobs_aws::aws_sdk_s3::primitives::ByteStream;
use flowctl_jobs_aws::s3::{S3Upload, S3Wait};
use serde_json::json;

use crate::support::{clients, context, drain, moto, run};

async fn put(aws: &flowctl_jobs_aws::AwsClients, key: &str) {
    aws.s3
        .put_object()
        .bucket("landing")
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn s3_wait_returns_once_the_key_appears() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("landing")
        .send()
        .await
        .unwrap();
    let (ctx, mut log) = context(moto.target_settings(), std::env::temp_dir());
    let sensor = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            run::<S3Wait>(
                    json!({"bucket": "landing", "key": "orders/2026-03-04/_SUCCESS", "poke_interval": "50ms"}),
                    ctx,
                )
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sensor.is_finished(), "nothing to find yet");
    put(&aws, "orders/2026-03-04/_SUCCESS").await;

    let out = sensor.await.unwrap().unwrap();
    assert_eq!(out.outputs["key"], "orders/2026-03-04/_SUCCESS");
    assert_eq!(out.outputs["matched"], "1");
    let lines = drain(&mut log);
    assert!(
        lines.contains(&"found s3://landing/orders/2026-03-04/_SUCCESS".to_owned()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn s3_wait_on_a_prefix_counts_only_keys_matching_the_glob() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("landing")
        .send()
        .await
        .unwrap();
    put(&aws, "orders/2026-03-04/part-0.tmp").await;
    put(&aws, "orders/2026-03-04/late/part-9.parquet").await;
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    let step = json!({
        "bucket": "landing", "prefix": "orders/2026-03-04/",
        "glob": "orders/2026-03-04/*.parquet", "poke_interval": "50ms"
    });
    let sensor = tokio::spawn({
        let ctx = ctx.clone();
        let step = step.clone();
        async move { run::<S3Wait>(step, ctx).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sensor.is_finished(), "neither key matches the glob");
    put(&aws, "orders/2026-03-04/part-1.parquet").await;
    put(&aws, "orders/2026-03-04/part-2.parquet").await;

    let out = sensor.await.unwrap().unwrap();
    assert!(out.outputs["key"].ends_with(".parquet") && !out.outputs["key"].contains("late"));
    assert!(
        ["1", "2"].contains(&out.outputs["matched"].as_str()),
        "{:?}",
        out.outputs
    );
}

#[tokio::test]
async fn s3_wait_gives_up_when_the_step_times_out() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("landing")
        .send()
        .await
        .unwrap();
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let err = run::<S3Wait>(
        json!({"bucket": "landing", "prefix": "nothing/", "poke_interval": "20ms"}),
        ctx,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "stopped waiting for a key under s3://landing/nothing/ (timeout or cancel): it did not appear"
    );
}

#[tokio::test]
async fn s3_upload_sends_files_with_their_md5_and_skips_unchanged_ones() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("jobs/glue")).unwrap();
    std::fs::write(project.path().join("jobs/glue/bronze.py"), "bronze v1\n").unwrap();
    std::fs::write(project.path().join("jobs/glue/silver.py"), "silver v1\n").unwrap();
    let mut settings = moto.target_settings();
    settings.insert("scripts_bucket".into(), json!("scripts"));
    let step = json!({"files": ["jobs/glue/bronze.py", "jobs/glue/silver.py"]});

    let (ctx, _log) = context(settings.clone(), project.path().to_owned());
    let out = run::<S3Upload>(step.clone(), ctx).await.unwrap();
    assert_eq!(
        (
            out.outputs["uploaded"].as_str(),
            out.outputs["unchanged"].as_str()
        ),
        ("2", "0")
    );
    let head = aws
        .s3
        .head_object()
        .bucket("scripts")
        .key("glue/bronze.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap()["md5"],
        head.e_tag().unwrap().trim_matches('"'),
        "the MD5 flowctl sent is the one S3 computed"
    );

    std::fs::write(project.path().join("jobs/glue/silver.py"), "silver v2\n").unwrap();
    let (ctx, mut log) = context(settings, project.path().to_owned());
    let out = run::<S3Upload>(step, ctx).await.unwrap();
    assert_eq!(
        (
            out.outputs["uploaded"].as_str(),
            out.outputs["unchanged"].as_str()
        ),
        ("1", "1")
    );
    let lines = drain(&mut log);
    assert!(
        lines.contains(
            &"s3://scripts/glue/bronze.py is up to date with jobs/glue/bronze.py".to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"uploaded jobs/glue/silver.py to s3://scripts/glue/silver.py".to_owned()),
        "{lines:?}"
    );
    let body = aws
        .s3
        .get_object()
        .bucket("scripts")
        .key("glue/silver.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &body.body.collect().await.unwrap().into_bytes()[..],
        b"silver v2\n"
    );
}

#[tokio::test]
async fn s3_upload_of_a_missing_file_fails_for_good_before_sending_anything() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("artifacts")
        .send()
        .await
        .unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("here.py"), "x\n").unwrap();
    let (ctx, _log) = context(moto.target_settings(), project.path().to_owned());
    let err = run::<S3Upload>(
        json!({"files": ["here.py", "gone.py"], "bucket": "artifacts", "prefix": "x/"}),
        ctx,
    )
    .await
    .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("cannot read ") && err.message.contains("gone.py"),
        "{}",
        err.message
    );
    let listed = aws
        .s3
        .list_objects_v2()
        .bucket("artifacts")
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty(), "nothing was uploaded");
}
