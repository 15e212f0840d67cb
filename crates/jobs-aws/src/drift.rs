//! Drift on an `aws` target, for `flowctl drift`: the Glue jobs, Glue scripts, Athena
//! workgroups and Glue catalog databases and tables that the DAGs' `aws:` variants name,
//! compared with what is live.
//!
//! Steps are read through their job types' config structs ([`GlueJobConfig`],
//! [`AthenaQueryConfig`]), recognised by the types' [`Job::TYPE`]: the binary knows none of
//! them, it calls [`aws_drift`] and prints what comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use flowctl_engine::job::{Job, TargetInfo};
use flowctl_model::dag::Dag;
use flowctl_model::target::TargetSection;
use flowctl_model::template::is_templated;

use crate::athena::{AthenaQuery, AthenaQueryConfig};
use crate::glue::definition::script_file_name;
use crate::glue::{GlueJob, GlueJobConfig, GlueJobDefinition, definition_differences};
use crate::s3::md5_hex;
use crate::settings::{AwsClients, AwsSettings};

/// Where the repository's Glue scripts live, for jobs whose step gives no local script.
const GLUE_SCRIPTS_DIR: &str = "jobs/glue";

/// One thing that differs between the DAGs and what is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What kind of thing: `glue_job`, `glue_script`, `athena_workgroup`, `glue_database`,
    /// `glue_table`.
    pub kind: &'static str,
    /// Which one (job name, S3 URL, `database.table`, ...).
    pub name: String,
    /// What differs, in words.
    pub difference: String,
}

impl Difference {
    fn new(kind: &'static str, name: &str, difference: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            difference: difference.into(),
        }
    }
}

/// What [`aws_drift`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsDrift {
    /// Every difference.
    pub differences: Vec<Difference>,
    /// One line per kind of thing compared (`2 Glue job(s) and their scripts`), and one per
    /// value not compared because it is templated.
    pub checked: Vec<String>,
}

/// Why the comparison itself failed (bad settings, AWS unreachable, a file unreadable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftError {
    /// What went wrong, naming the call or file.
    pub message: String,
}

impl DriftError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DriftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DriftError {}

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

/// Compares the `aws:` variants of `dags` (validated) with what is live on `target`; `None`
/// when the target is not of a kind the AWS settings apply to (nothing to compare).
/// `project_dir` resolves local Glue scripts.
pub async fn aws_drift(
    project_dir: &Path,
    target: &TargetInfo,
    dags: &[Dag],
) -> Result<Option<AwsDrift>, DriftError> {
    if !AwsSettings::KINDS.contains(&target.kind) {
        return Ok(None);
    }
    let settings = target
        .section::<AwsSettings>()
        .map_err(|e| DriftError::new(e.message))?;
    let declared = declared(dags, target, &settings)?;
    let clients = settings
        .clients()
        .await
        .map_err(|e| DriftError::new(e.message))?;
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
            found.push(Difference::new("athena_workgroup", workgroup, "missing"));
        }
    }
    for database in &declared.databases {
        let live = clients.glue.get_database().name(database).send().await;
        if let Err(err) = live {
            if is_not_found(&err) {
                found.push(Difference::new("glue_database", database, "missing"));
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
                    "missing (the DAG's runs create it: was it dropped, or has the DAG never run?)",
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
    Ok(Some(AwsDrift {
        differences: found,
        checked,
    }))
}

/// A step's fields as job type `J`'s config struct.
fn config<J: Job>(
    dag: &Dag,
    step: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<J::Config, DriftError> {
    serde_json::from_value(serde_json::Value::Object(fields.clone())).map_err(|e| {
        DriftError::new(format!(
            "step `{step}` of DAG `{}`: its `{}` fields do not parse: {e}",
            dag.id,
            J::TYPE
        ))
    })
}

/// Collects what the target's variants of every step name.
fn declared(
    dags: &[Dag],
    target: &TargetInfo,
    settings: &AwsSettings,
) -> Result<Declared, DriftError> {
    let mut out = Declared::default();
    let layers = &settings.databases;
    out.databases.extend(
        [&layers.bronze, &layers.silver, &layers.gold]
            .into_iter()
            .flatten()
            .cloned(),
    );
    if let Some(workgroup) = &settings.athena.workgroup {
        out.workgroups.insert(workgroup.clone());
    }
    for dag in dags {
        for step in dag.steps.values() {
            let Some(job) = step.job_for(target.kind) else {
                continue;
            };
            let job_type = job.job_type.as_str();
            if job_type == GlueJob::TYPE {
                let glue: GlueJobConfig = config::<GlueJob>(dag, &step.id, &job.config)?;
                add_glue_job(&mut out, settings, &format!("{}.{}", dag.id, step.id), glue);
            } else if job_type == AthenaQuery::TYPE {
                let athena: AthenaQueryConfig = config::<AthenaQuery>(dag, &step.id, &job.config)?;
                if let Some(workgroup) = athena.workgroup {
                    if is_templated(&workgroup) {
                        out.templated
                            .push(format!("{}.{}: workgroup {workgroup}", dag.id, step.id));
                    } else {
                        out.workgroups.insert(workgroup);
                    }
                }
                if let Some(view) = &athena.create_view {
                    add_table(&mut out, settings, view);
                }
            }
        }
    }
    Ok(out)
}

/// Records a `glue_job` step: its job (with the first definition given for it) and the tables
/// its arguments name (`--table`, `--source`, `--target`: the project's Glue scripts' names
/// for them).
fn add_glue_job(out: &mut Declared, settings: &AwsSettings, step: &str, glue: GlueJobConfig) {
    if is_templated(&glue.job_name) {
        out.templated
            .push(format!("{step}: job_name {}", glue.job_name));
        return;
    }
    for key in ["--table", "--source", "--target"] {
        if let Some(table) = glue.arguments.get(key) {
            add_table(out, settings, table);
        }
    }
    let entry = out.glue_jobs.entry(glue.job_name).or_default();
    if entry.is_none() {
        *entry = glue.definition;
    }
}

/// Records `namespace.table` as a Glue table, mapping the medallion namespaces (`bronze`,
/// `silver`, `gold`) to the target's database names.
fn add_table(out: &mut Declared, settings: &AwsSettings, qualified: &str) {
    if is_templated(qualified) {
        out.templated.push(format!("table {qualified}"));
        return;
    }
    let Some((namespace, table)) = qualified.split_once('.') else {
        return;
    };
    let database = settings
        .databases
        .of_layer(namespace)
        .unwrap_or(namespace)
        .to_owned();
    out.databases.insert(database.clone());
    out.tables.insert((database, table.to_owned()));
}

/// Compares one Glue job with `GetJob`, and its script in S3 with the local file.
async fn glue_job_drift(
    clients: &AwsClients,
    settings: &AwsSettings,
    project_dir: &Path,
    name: &str,
    definition: Option<&GlueJobDefinition>,
) -> Result<Vec<Difference>, DriftError> {
    let live = match clients.glue.get_job().job_name(name).send().await {
        Ok(out) => out.job,
        Err(err) if is_not_found(&err) => None,
        Err(err) => return Err(aws_error("Glue GetJob", name, &err)),
    };
    let Some(live) = live else {
        return Ok(vec![Difference::new("glue_job", name, "missing")]);
    };
    let mut found = Vec::new();
    let local_script = local_script(project_dir, definition, &live);
    if let Some(definition) = definition {
        let script = declared_script_location(definition, settings);
        for d in definition_differences(&live, definition, &script) {
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
    live: &aws_sdk_glue::types::Job,
) -> Option<PathBuf> {
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
    format!(
        "s3://{}/{}",
        settings
            .scripts_bucket
            .as_deref()
            .unwrap_or("(no scripts_bucket)"),
        settings.script_key(&script_file_name(script))
    )
}

/// Compares the script at `location` in S3 with the local file, by MD5 against the ETag.
async fn script_drift(
    clients: &AwsClients,
    location: &str,
    local: &Path,
) -> Result<Vec<Difference>, DriftError> {
    let Some((bucket, key)) = location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Ok(vec![Difference::new(
            "glue_script",
            location,
            "not an s3:// URL",
        )]);
    };
    let bytes = std::fs::read(local)
        .map_err(|e| DriftError::new(format!("cannot read {}: {e}", local.display())))?;
    let local_md5 = md5_hex(&bytes);
    let head = clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    let etag = match head {
        Ok(out) => out.e_tag.unwrap_or_default().trim_matches('"').to_owned(),
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

fn aws_error<E: ProvideErrorMetadata, R>(
    call: &str,
    name: &str,
    err: &SdkError<E, R>,
) -> DriftError {
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
                .to_owned()
        }
        _ => "the response could not be read".to_owned(),
    };
    DriftError::new(format!("{call} {name}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_engine::job::{JobRegistry, TargetKind};
    use flowctl_model::load::{LoadOptions, load_dags};
    use serde_json::json;

    /// The DAG `text`, validated with the AWS job types.
    fn dag(text: &str) -> Dag {
        let mut registry = JobRegistry::new();
        crate::register(&mut registry);
        let catalog = registry.catalog();
        let opts = LoadOptions {
            catalog: &catalog,
            target_kind: Some(TargetKind::Aws),
            pools: None,
            project_dir: None,
        };
        let mut loaded = load_dags(&[("dags/d.yaml".into(), text.into())], &opts);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        loaded.dags.remove(0)
    }

    fn aws_target(settings: serde_json::Value) -> TargetInfo {
        let (ctx, _log) = flowctl_engine::job::JobContext::for_test("/tmp");
        ctx.on_target(TargetKind::Aws, settings).target
    }

    const DAG: &str = r#"
dag: orders
params: { t: orders_current, topic: orders, wg: reports }
steps:
  bronze:
    aws:
      type: glue_job
      job_name: cdc-bronze
      arguments: { --table: bronze.orders_raw, --ds: "{{ ds }}" }
      definition: { script: jobs/glue/bronze.py, role: glue, number_of_workers: 2, worker_type: G.1X }
  silver:
    depends_on: [bronze]
    aws:
      type: glue_job
      job_name: cdc-bronze
      arguments: { --source: bronze.orders_raw, --target: "silver.{{ params.t }}" }
  per_topic:
    aws: { type: glue_job, job_name: "cdc-{{ params.topic }}" }
  gold:
    depends_on: [silver]
    aws: { type: athena_query, file: jobs/sql/gold.sql, create_view: gold.revenue, workgroup: reports }
  check:
    aws: { type: athena_query, sql: SELECT 1, workgroup: "{{ params.wg }}" }
  landing:
    aws: { type: s3_wait, bucket: landing, key: x }
"#;

    #[test]
    fn declared_reads_the_typed_configs_of_the_aws_job_types() {
        let target = aws_target(json!({
            "athena": {"workgroup": "lakehouse"},
            "databases": {"bronze": "acme_bronze", "gold": "acme_gold"}
        }));
        let settings = target.section::<AwsSettings>().unwrap();
        let found = declared(&[dag(DAG)], &target, &settings).unwrap();
        assert_eq!(found.glue_jobs.len(), 1);
        let def = found.glue_jobs["cdc-bronze"]
            .as_ref()
            .expect("the first definition");
        assert_eq!(def.number_of_workers, Some(2));
        assert_eq!(
            found.workgroups.iter().collect::<Vec<_>>(),
            ["lakehouse", "reports"]
        );
        assert_eq!(
            found.tables.iter().cloned().collect::<Vec<_>>(),
            [
                ("acme_bronze".to_owned(), "orders_raw".to_owned()),
                ("acme_gold".to_owned(), "revenue".to_owned()),
            ]
        );
        assert_eq!(
            found.databases.iter().collect::<Vec<_>>(),
            ["acme_bronze", "acme_gold"]
        );
        assert_eq!(
            found.templated,
            [
                "table silver.{{ params.t }}",
                "orders.per_topic: job_name cdc-{{ params.topic }}",
                "orders.check: workgroup {{ params.wg }}",
            ]
        );
    }

    #[tokio::test]
    async fn a_target_of_another_kind_has_nothing_to_compare() {
        let (ctx, _log) = flowctl_engine::job::JobContext::for_test("/tmp");
        assert_eq!(
            aws_drift(Path::new("/tmp"), &ctx.target, &[dag(DAG)]).await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn bad_settings_fail_the_check() {
        let target = aws_target(json!({"endpoint_url": "localhost"}));
        let err = aws_drift(Path::new("/tmp"), &target, &[])
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "target `aws` in flowctl.yaml: `endpoint_url`: must be an http:// or https:// URL, found `localhost`"
        );
    }

    #[test]
    fn a_local_script_is_compared_where_glue_job_uploads_it() {
        let def: GlueJobDefinition =
            serde_json::from_value(json!({"script": "jobs/glue/bronze.py", "role": "r"})).unwrap();
        let settings: AwsSettings =
            serde_json::from_value(json!({"scripts_bucket": "scripts", "scripts_prefix": "v2"}))
                .unwrap();
        assert_eq!(
            declared_script_location(&def, &settings),
            "s3://scripts/v2/bronze.py"
        );
    }
}
