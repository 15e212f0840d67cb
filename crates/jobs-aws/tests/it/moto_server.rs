//! The moto harness and the SDK settings work together.

use crate::support::{clients, moto};

#[tokio::test]
async fn sdk_reaches_moto_and_reset_forgets_everything() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1);
    moto.reset();
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty());
}
