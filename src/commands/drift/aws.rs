//! Drift on an `aws` target: the Glue jobs, Glue scripts, Athena workgroups and Glue catalog
//! databases and tables that the DAGs' `aws:` variants name, compared with what is live.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use flowctl_jobs_aws::aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use flowctl_jobs_aws::aws_sdk_glue::types::Job;
use flowctl_jobs_aws::glue::{GlueJobDefinition, definition_differences};
use flowctl_jobs_aws::s3::md5_hex;
use flowctl_jobs_aws::{AwsClients, AwsSettings};
use flowctl_model::dag::Dag;
use serde_json::{Map, Value};

use super::Difference;
use crate::error::{CliError, CliResult};

/// Where the repository's Glue scripts live, for jobs whose step gives no local script.
const GLUE_SCRIPTS_DIR: &str = "jobs/glue";

/// What the DAGs declare on AWS.
#[derive(Debug, Default)]
struct Declared {
    /// Glue job name → the definition a step gives (the first one found), if any.
    glue_jobs: BTreeMap<String, Option<GlueJobDefinition>>,
    workgroups: BTreeSet<String>,
    /// `(database, table)` pairs.
    tables: BTreeSet<(String, String)>,
    databases: BTreeSet<String>,
    /// Values not compared because they are templated.
    templated: Vec<String>,
}

/// Compares the DAGs' aws variants with what is live. Returns the differences and a line per
/// kind of thing checked.
pub async fn aws_drift(
    project_dir: &Path,
    settings: &Map<String, Value>,
    dags: &[Dag],
) -> CliResult<(Vec<Difference>, Vec<String>)> {
    let settings = AwsSettings::from_map(settings)
        .map_err(|e| CliError::usage(format!("aws target in flowctl.yaml: {e}")))?;
    let declared = declared(dags, &settings);
    let clients = settings
        .clients()
        .await
        .map_err(|e| CliError::usage(e.message))?;
    let mut found = Vec::new();

    for (name, definition) in &declared.glue_jobs {
        found.extend(
            glue_job_drift(&clients, &settings, project_dir, name, definition.as_ref()).await?,
        );
    }
    for workgroup in &declared.workgroups {
        let live = clients
            .athena
            .get_work_group()
            .work_group(workgroup)
            .send()
            .await;
        let present = match live {
            // AWS answers InvalidRequestException for an unknown workgroup; some emulators
            // answer an empty `WorkGroup` instead.
            Ok(out) => out.work_group.is_some(),
            Err(err) if is_not_found(&err) => false,
            Err(err) => return Err(aws_error("Athena GetWorkGroup", workgroup, &err)),
        };
        if !present {
            found.push(Difference::new(
                "athena_workgroup",
                workgroup,
                "missing".into(),
            ));
        }
    }
    for database in &declared.databases {
        let live = clients.glue.get_database().name(database).send().await;
        if let Err(err) = live {
            if is_not_found(&err) {
                found.push(Difference::new("glue_database", database, "missing".into()));
            } else {
                return Err(aws_error("Glue GetDatabase", database, &err));
            }
        }
    }
    for (database, table) in &declared.tables {
        let live = clients
            .glue
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await;
        if let Err(err) = live {
            let name = format!("{database}.{table}");
            if is_not_found(&err) {
                found.push(Difference::new(
                    "glue_table",
                    &name,
                    "missing (the DAG's runs create it: was it dropped, or has the DAG never run?)"
                        .into(),
                ));
            } else {
                return Err(aws_error("Glue GetTable", &name, &err));
            }
        }
    }

    let mut checked = vec![
        format!("{} Glue job(s) and their scripts", declared.glue_jobs.len()),
        format!("{} Athena workgroup(s)", declared.workgroups.len()),
        format!(
            "{} Glue database(s) and {} table(s)",
            declared.databases.len(),
            declared.tables.len()
        ),
    ];
    for value in &declared.templated {
        checked.push(format!("not compared (templated): {value}"));
    }
    Ok((found, checked))
}

/// Collects what the aws variants of every step name.
fn declared(dags: &[Dag], settings: &AwsSettings) -> Declared {
    let mut out = Declared::default();
    out.databases.extend(
        [
            &settings.databases.bronze,
            &settings.databases.silver,
            &settings.databases.gold,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    if let Some(workgroup) = &settings.athena.workgroup {
        out.workgroups.insert(workgroup.clone());
    }
    for dag in dags {
        for step in dag.steps.values() {
            let Some(job) = step.job_for("aws") else {
                continue;
            };
            let config = &job.config;
            match job.job_type.as_str() {
                "glue_job" => {
                    let Some(name) = config.get("job_name").and_then(Value::as_str) else {
                        continue;
                    };
                    if name.contains("{{") {
                        out.templated
                            .push(format!("{}.{}: job_name {name}", dag.id, step.id));
                        continue;
                    }
                    // The DAG validated, so its definition parses; one that somehow does not
                    // is compared by name and script only.
                    let definition = config
                        .get("definition")
                        .and_then(|d| serde_json::from_value(d.clone()).ok());
                    let entry = out.glue_jobs.entry(name.to_string()).or_default();
                    if entry.is_none() {
                        *entry = definition;
                    }
                    if let Some(arguments) = config.get("arguments").and_then(Value::as_object) {
                        for key in ["--table", "--source", "--target"] {
                            if let Some(table) = arguments.get(key).and_then(Value::as_str) {
                                add_table(&mut out, settings, table);
                            }
                        }
                    }
                }
                "athena_query" => {
                    if let Some(workgroup) = config.get("workgroup").and_then(Value::as_str) {
                        out.workgroups.insert(workgroup.to_string());
                    }
                    if let Some(table) = config.get("create_view").and_then(Value::as_str) {
                        add_table(&mut out, settings, table);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Records `namespace.table` as a Glue table, mapping the medallion namespaces (`bronze`,
/// `silver`, `gold`) to the target's database names.
fn add_table(out: &mut Declared, settings: &AwsSettings, qualified: &str) {
    if qualified.contains("{{") {
        out.templated.push(format!("table {qualified}"));
        return;
    }
    let Some((namespace, table)) = qualified.split_once('.') else {
        return;
    };
    let database = match namespace {
        "bronze" => settings.databases.bronze.clone(),
        "silver" => settings.databases.silver.clone(),
        "gold" => settings.databases.gold.clone(),
        _ => None,
    }
    .unwrap_or_else(|| namespace.to_string());
    out.databases.insert(database.clone());
    out.tables.insert((database, table.to_string()));
}

/// Compares one Glue job with `GetJob`, and its script in S3 with the local file.
async fn glue_job_drift(
    clients: &AwsClients,
    settings: &AwsSettings,
    project_dir: &Path,
    name: &str,
    definition: Option<&GlueJobDefinition>,
) -> CliResult<Vec<Difference>> {
    let live = match clients.glue.get_job().job_name(name).send().await {
        Ok(out) => out.job,
        Err(err) if is_not_found(&err) => None,
        Err(err) => return Err(aws_error("Glue GetJob", name, &err)),
    };
    let Some(live) = live else {
        return Ok(vec![Difference::new("glue_job", name, "missing".into())]);
    };
    let mut found = Vec::new();
    let local_script = local_script(project_dir, definition, &live);
    if let Some(definition) = definition {
        let script = declared_script_location(definition, settings);
        let differences = definition_differences(&live, definition, &script)
            .map_err(|e| CliError::failed(format!("Glue job {name}: {e}")))?;
        for d in differences {
            let live = d.live.as_deref().unwrap_or("(none)");
            found.push(Difference::new(
                "glue_job",
                name,
                format!("{}: declared {}, live {live}", d.field, d.wanted),
            ));
        }
    }
    let location = live
        .command
        .as_ref()
        .and_then(|c| c.script_location.clone());
    if let (Some(location), Some(local)) = (location, local_script) {
        found.extend(script_drift(clients, &location, &local).await?);
    }
    Ok(found)
}

/// The local file a job's script should match: the definition's local `script`, or the file
/// of the same name in `jobs/glue/`.
fn local_script(
    project_dir: &Path,
    definition: Option<&GlueJobDefinition>,
    live: &Job,
) -> Option<std::path::PathBuf> {
    if let Some(script) = definition.map(|d| d.script.as_str())
        && !script.starts_with("s3://")
    {
        return Some(project_dir.join(script));
    }
    let location = live.command.as_ref()?.script_location.as_deref()?;
    let file = location.rsplit('/').next()?;
    let candidate = project_dir.join(GLUE_SCRIPTS_DIR).join(file);
    candidate.is_file().then_some(candidate)
}

/// Where a definition's script lives in S3: as given, or where `glue_job` uploads a local one.
fn declared_script_location(definition: &GlueJobDefinition, settings: &AwsSettings) -> String {
    let script = &definition.script;
    if script.starts_with("s3://") {
        return script.clone();
    }
    let file = script.rsplit('/').next().unwrap_or(script);
    format!(
        "s3://{}/{}",
        settings
            .scripts_bucket
            .as_deref()
            .unwrap_or("(no scripts_bucket)"),
        settings.script_key(file)
    )
}

/// Compares the script at `location` in S3 with the local file, by MD5 against the ETag.
async fn script_drift(
    clients: &AwsClients,
    location: &str,
    local: &Path,
) -> CliResult<Vec<Difference>> {
    let Some((bucket, key)) = location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Ok(vec![Difference::new(
            "glue_script",
            location,
            "not an s3:// URL".into(),
        )]);
    };
    let bytes = std::fs::read(local)
        .map_err(|e| CliError::environment(format!("cannot read {}: {e}", local.display())))?;
    let local_md5 = md5_hex(&bytes);
    let head = clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    let etag = match head {
        Ok(out) => out.e_tag.unwrap_or_default().trim_matches('"').to_string(),
        Err(err) if is_not_found(&err) => {
            return Ok(vec![Difference::new(
                "glue_script",
                location,
                format!("missing in S3 (local file {})", local.display()),
            )]);
        }
        Err(err) => return Err(aws_error("S3 HeadObject", location, &err)),
    };
    if etag.contains('-') {
        // A multipart upload's ETag is not the object's MD5: compare nothing rather than lie.
        return Ok(Vec::new());
    }
    if etag != local_md5 {
        return Ok(vec![Difference::new(
            "glue_script",
            location,
            format!(
                "differs from {}: S3 ETag {etag}, local MD5 {local_md5}",
                local.display()
            ),
        )]);
    }
    Ok(Vec::new())
}

/// Whether an SDK error means "no such thing": Glue's EntityNotFoundException, S3's 404 on
/// HeadObject, Athena's InvalidRequestException for an unknown workgroup.
fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let SdkError::ServiceError(service) = err else {
        return false;
    };
    let e = service.err();
    match e.code() {
        Some("EntityNotFoundException" | "NotFound" | "NoSuchKey" | "NoSuchBucket") => true,
        Some("InvalidRequestException") => e
            .message()
            .is_some_and(|m| m.contains("not found") || m.contains("does not exist")),
        _ => false,
    }
}

fn aws_error<E: ProvideErrorMetadata, R>(call: &str, name: &str, err: &SdkError<E, R>) -> CliError {
    let why = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("service error"),
                e.message().unwrap_or("no message")
            )
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            "cannot reach the AWS endpoint (check the network, `endpoint_url` and `region`)"
                .to_string()
        }
        _ => "the response could not be read".to_string(),
    };
    CliError::environment(format!("{call} {name}: {why}"))
}
