//! The `s3_upload` job type: uploads local files (e.g. Glue scripts) to S3 with their MD5,
//! skipping those whose object already has it.

use std::collections::BTreeSet;

use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_model::catalog::{JobConfig, Problems};
use flowctl_model::template::is_templated;
use schemars::JsonSchema;
use serde::Deserialize;

use super::object::{Upload, upload_file};
use crate::fields::bucket_name;
use crate::settings::AwsSettings;

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

/// A non-empty list of files with distinct names (each name is its key), a bucket name.
impl JobConfig for S3UploadConfig {
    fn check(&self, problems: &mut Problems) {
        if self.files.is_empty() {
            problems.field("files", "is empty: list the local files to upload");
        }
        let mut names = BTreeSet::new();
        for (i, file) in self.files.iter().enumerate() {
            if is_templated(file) {
                continue;
            }
            let at = ["files".to_owned(), i.to_string()];
            match file_name(file) {
                None => problems.at(at, format!("`{file}` names no file")),
                Some(name) => {
                    if !names.insert(name) {
                        problems.at(
                            at,
                            format!(
                                "two files are named `{name}`; they would overwrite each other's key"
                            ),
                        );
                    }
                }
            }
        }
        if let Some(bucket) = &self.bucket {
            problems.check_value(&["bucket"], bucket, bucket_name);
        }
    }
}

fn file_name(path: &str) -> Option<&str> {
    if path.ends_with('/') {
        return None;
    }
    std::path::Path::new(path).file_name()?.to_str()
}

/// The `s3_upload` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Upload;

/// The outputs of a successful upload.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "uploaded",
        description: "Files sent to S3 (missing, or with other content).",
    },
    OutputDoc {
        name: "unchanged",
        description: "Files not sent: their object already had the file's MD5.",
    },
];

impl Job for S3Upload {
    type Config = S3UploadConfig;
    const TYPE: &'static str = "s3_upload";

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: S3UploadConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx.target.section::<AwsSettings>()?;
        upload(config, settings, ctx).await
    }
}

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
                    .unwrap_or_else(|| settings.scripts_prefix()),
            ),
            None => {
                return Err(JobError::fatal(format!(
                    "s3_upload has no `bucket`, and target `{}` has no `scripts_bucket`",
                    ctx.target.name
                )));
            }
        },
    };
    // A missing file fails the step before anything is sent, not after half the files.
    for file in &config.files {
        let path = ctx.project_dir.join(file);
        if let Err(e) = std::fs::metadata(&path) {
            return Err(JobError::fatal(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each problem as `path: message`.
    fn problems(v: serde_json::Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<S3UploadConfig>(&v)
            .iter()
            .map(|e| format!("{}: {}", e.path.join("."), e.message))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_at_its_field() {
        assert_eq!(
            problems(json!({"files": []})),
            ["files: is empty: list the local files to upload"]
        );
        assert_eq!(
            problems(
                json!({"files": ["a/x.py", "b/x.py", "jobs/", "{{ params.f }}/x.py"], "bucket": ""})
            ),
            [
                "files.1: two files are named `x.py`; they would overwrite each other's key",
                "files.2: `jobs/` names no file",
                "bucket: is empty: remove it or give a value",
            ]
        );
        assert!(
            problems(json!({"files": ["x.py"], "bucket": "s3://artifacts/x/"}))[0]
                .starts_with("bucket: give the bucket's name (`artifacts`)")
        );
        assert_eq!(
            problems(json!({"files": ["a.py"], "bucket": "{{ params.b }}"})),
            Vec::<String>::new()
        );
    }
}
