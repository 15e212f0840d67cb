//! The `s3_upload` job type: uploads local files (e.g. Glue scripts) to S3 with their MD5,
//! skipping those whose object already has it.

use std::collections::BTreeSet;

use flowctl_engine::job::{JobContext, JobError, JobOutput};
use schemars::JsonSchema;
use serde::Deserialize;

use super::object::{Upload, upload_file};
use crate::settings::AwsSettings;
use crate::step::{AwsJob, StepConfig};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "s3_upload";

/// Fields of an `s3_upload` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3UploadConfig {
    /// Local files to upload, relative to the project directory. Each goes to
    /// `<prefix><file name>`.
    pub files: Vec<String>,
    /// The bucket (default: the target's `scripts_bucket`).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Key prefix, e.g. `glue/` (default: the target's `scripts_prefix` when `bucket` is not
    /// given, else none).
    #[serde(default)]
    pub prefix: Option<String>,
}

fn check(config: &S3UploadConfig) -> Result<(), String> {
    if config.files.is_empty() {
        return Err("`files` is empty: list the local files to upload".into());
    }
    let mut names = BTreeSet::new();
    for file in &config.files {
        let name = file_name(file).ok_or_else(|| format!("`files`: `{file}` names no file"))?;
        if !names.insert(name) {
            return Err(format!(
                "`files`: two files are named `{name}`; they would overwrite each other's key"
            ));
        }
    }
    if config
        .bucket
        .as_deref()
        .is_some_and(|b| b.trim().is_empty())
    {
        return Err("`bucket` is empty".into());
    }
    Ok(())
}

fn file_name(path: &str) -> Option<&str> {
    std::path::Path::new(path).file_name()?.to_str()
}

/// The `s3_upload` plugin.
pub type S3Upload = AwsJob<S3UploadConfig>;

/// One attempt of an `s3_upload` step.
async fn upload(
    config: S3UploadConfig,
    settings: AwsSettings,
    ctx: JobContext,
) -> Result<JobOutput, JobError> {
    let (bucket, prefix) = match &config.bucket {
        Some(bucket) => (bucket.clone(), config.prefix.clone().unwrap_or_default()),
        None => match &settings.scripts_bucket {
            Some(bucket) => (
                bucket.clone(),
                config
                    .prefix
                    .clone()
                    .unwrap_or_else(|| settings.scripts_prefix.clone()),
            ),
            None => {
                return Err(JobError::fatal(format!(
                    "s3_upload has no `bucket`, and target `{}` has no `scripts_bucket`",
                    ctx.target.name
                )));
            }
        },
    };
    let s3 = settings.clients().await?.s3;
    let (mut uploaded, mut unchanged) = (0, 0);
    for file in &config.files {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::failed(format!(
                "cancelled after {uploaded} upload(s); run again to upload the rest"
            )));
        }
        let name = file_name(file).unwrap_or(file);
        let key = format!("{prefix}{name}");
        let url = format!("s3://{bucket}/{key}");
        match upload_file(&s3, &bucket, &key, &ctx.project_dir.join(file)).await? {
            Upload::Written => {
                uploaded += 1;
                ctx.log.system(format!("uploaded {file} to {url}"));
            }
            Upload::Unchanged => {
                unchanged += 1;
                ctx.log.system(format!("{url} is up to date with {file}"));
            }
        }
    }
    let mut out = JobOutput::default();
    out.outputs.insert("uploaded".into(), uploaded.to_string());
    out.outputs
        .insert("unchanged".into(), unchanged.to_string());
    Ok(out)
}

impl StepConfig for S3UploadConfig {
    const TYPE_NAME: &'static str = TYPE_NAME;

    fn check(&self) -> Result<(), String> {
        check(self)
    }

    async fn run(self, settings: AwsSettings, ctx: JobContext) -> Result<JobOutput, JobError> {
        upload(self, settings, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_name_the_fields() {
        let err = |v| check(&serde_json::from_value(v).unwrap()).unwrap_err();
        assert!(err(json!({"files": []})).contains("`files` is empty"));
        assert!(err(json!({"files": ["a/x.py", "b/x.py"]})).contains("two files are named `x.py`"));
        assert!(err(json!({"files": ["x.py"], "bucket": ""})).contains("`bucket` is empty"));
    }
}
