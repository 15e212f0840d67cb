//! Uploading one local file to S3 with its MD5, skipped when the object already has it.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use flowctl_engine::job::JobError;
use md5::{Digest, Md5};

use crate::error::AwsError;

/// What [`upload_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Upload {
    /// The object was written (it was missing or had other content).
    Written,
    /// The object already had the file's MD5: nothing was sent.
    Unchanged,
}

/// The hex MD5 of `bytes`: a single-part S3 object's ETag (without its quotes), so a local
/// file can be compared with its uploaded copy (`flowctl drift`).
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Uploads `path` to `s3://bucket/key` unless the object's ETag is already the file's MD5.
/// The upload carries `Content-MD5`, so S3 rejects a body damaged on the way, and the MD5 in
/// the object's metadata (`md5`), which survives copies and multipart re-uploads.
pub(crate) async fn upload_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<Upload, JobError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| JobError::fatal(format!("cannot read {}: {e}", path.display())))?;
    let digest = Md5::digest(&bytes);
    let md5 = hex::encode(digest);
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) if head.e_tag().map(|t| t.trim_matches('"')) == Some(md5.as_str()) => {
            return Ok(Upload::Unchanged);
        }
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => {
            return Err(
                AwsError::from_sdk(&format!("s3:HeadObject s3://{bucket}/{key}"), &e)
                    .into_job_error(),
            );
        }
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_md5(base64::engine::general_purpose::STANDARD.encode(digest))
        .metadata("md5", &md5)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(&format!("s3:PutObject s3://{bucket}/{key}"), &e).into_job_error()
        })?;
    Ok(Upload::Written)
}

/// Splits `s3://bucket/key` into its bucket and key.
pub(crate) fn parse_s3_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_the_etag_form() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn parses_s3_urls() {
        assert_eq!(parse_s3_url("s3://b/a/k.py"), Some(("b", "a/k.py")));
        assert_eq!(parse_s3_url("s3://b"), Some(("b", "")));
        assert_eq!(parse_s3_url("s3:///k"), None);
        assert_eq!(parse_s3_url("/tmp/k"), None);
    }
}
