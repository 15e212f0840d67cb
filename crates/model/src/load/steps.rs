//! Steps: their settings, their job (one `type`, or per-target variants) and the job's
//! fields as checked by the job type.

use std::collections::HashMap;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{LoadOptions, graph, notify, templates};
use crate::catalog::JobTypeSpec;
use crate::check::{Checker, is_valid_id};
use crate::dag::{
    Backoff, JobSpec, Notification, Notifications, Step, StepJob, TargetKind, TriggerRule,
};
use crate::suggest;
use crate::yaml::{Entry, Node, Typed};

/// Step settings that `defaults` may also set.
pub(super) const SETTING_KEYS: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_backoff",
    "max_retry_delay",
    "timeout",
    "trigger_rule",
    "pool",
    "on_failure",
    "on_retry",
    "on_success",
];

/// Every key a step may have besides its job type's fields.
const STEP_KEYS: &[&str] = &[
    "type",
    "local",
    "aws",
    "depends_on",
    "description",
    "retries",
    "retry_delay",
    "retry_backoff",
    "max_retry_delay",
    "timeout",
    "trigger_rule",
    "pool",
    "on_failure",
    "on_retry",
    "on_success",
];

const BACKOFFS: &[(&str, Backoff)] = &[
    ("constant", Backoff::Constant),
    ("exponential", Backoff::Exponential),
];

const TRIGGER_RULES: &[(&str, TriggerRule)] = &[
    ("all_success", TriggerRule::AllSuccess),
    ("all_done", TriggerRule::AllDone),
    ("all_failed", TriggerRule::AllFailed),
    ("one_success", TriggerRule::OneSuccess),
    ("one_failed", TriggerRule::OneFailed),
    ("none_failed", TriggerRule::NoneFailed),
];

/// Default delay before a retry. Airflow's is 5 minutes; CDC steps are short, and a
/// 30-second wait rides out the usual transient failures (throttling, a broker restart).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Default backoff: constant, as in Airflow (`retry_exponential_backoff = False`).
pub const DEFAULT_RETRY_BACKOFF: Backoff = Backoff::Constant;

/// Step settings as written (in `defaults` or on a step); `None` = not set.
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    retries: Option<u32>,
    retry_delay: Option<Duration>,
    retry_backoff: Option<Backoff>,
    max_retry_delay: Option<Duration>,
    timeout: Option<Duration>,
    trigger_rule: Option<TriggerRule>,
    pool: Option<String>,
    on_failure: Option<Vec<Notification>>,
    on_retry: Option<Vec<Notification>>,
    on_success: Option<Vec<Notification>>,
}

/// A step as read, before the DAG-wide checks.
pub(super) struct Draft<'n> {
    pub id: String,
    /// The step's key in `steps:`.
    pub key: &'n Node,
    /// Upstream step ids and the nodes naming them.
    pub depends_on: Vec<(String, &'n Node)>,
    settings: Settings,
    /// `None` when the job is missing or invalid (already reported).
    job: Option<StepJob>,
    /// The job fields that were checked, for the template checks.
    pub jobs: Vec<JobSite<'n>>,
}

/// The fields of one checked job (the step-level `type` form, or one variant).
pub(super) struct JobSite<'n> {
    /// "step `load`" or "step `load` (`aws` variant)".
    pub place: String,
    pub fields: Vec<&'n Entry>,
    /// Files named by the job whose text is a template (path as written, the naming node).
    pub template_files: Vec<(String, &'n Node)>,
}

/// The options of this load, and the field names of each job type used so far (computing
/// them builds the type's JSON Schema: once per type, not once per step).
struct JobTypes<'a> {
    opts: &'a LoadOptions<'a>,
    /// The declared params (`None`: `params:` is invalid), for notification bodies.
    params: Option<&'a Map<String, Value>>,
    field_names: HashMap<String, Vec<String>>,
}

impl JobTypes<'_> {
    fn field_names(&mut self, spec: &dyn JobTypeSpec) -> Vec<String> {
        self.field_names
            .entry(spec.name().to_string())
            .or_insert_with(|| spec.field_names())
            .clone()
    }
}

/// Reads `defaults:`: step settings only.
pub(super) fn read_defaults(
    ck: &mut Checker,
    node: &Node,
    opts: &LoadOptions,
    params: Option<&Map<String, Value>>,
) -> Option<Settings> {
    let types = JobTypes {
        opts,
        params,
        field_names: HashMap::new(),
    };
    let entries = ck.map(node, "`defaults`")?;
    let mut settings = Settings::default();
    let before = ck.diagnostics.len();
    for entry in entries {
        let key = entry.key_str();
        if SETTING_KEYS.contains(&key) {
            read_setting(
                ck,
                key,
                &entry.value,
                "in `defaults`",
                &mut settings,
                &types,
            );
        } else if STEP_KEYS.contains(&key) {
            ck.on(
                &entry.key,
                format!(
                    "`{key}` cannot be set in `defaults`, only on a step (`defaults` may set: {})",
                    SETTING_KEYS.join(", ")
                ),
            );
        } else {
            let hint = suggest::hint(key, SETTING_KEYS.iter().copied());
            ck.on(
                &entry.key,
                format!("unknown key `{key}` in `defaults`{hint}"),
            );
        }
    }
    (ck.diagnostics.len() == before).then_some(settings)
}

/// Reads `steps:` and runs the DAG-wide checks (dependencies, cycles, templates).
pub(super) fn read_steps(
    ck: &mut Checker,
    node: &Node,
    opts: &LoadOptions,
    defaults: Option<&Settings>,
    params: Option<&Map<String, Value>>,
) -> Option<IndexMap<String, Step>> {
    let entries = ck.map(node, "`steps`")?;
    if entries.is_empty() {
        ck.on(node, "`steps` is empty: a DAG needs at least one step");
        return None;
    }
    let fallback = Settings::default();
    let defaults = defaults.unwrap_or(&fallback);
    let mut types = JobTypes {
        opts,
        params,
        field_names: HashMap::new(),
    };
    let drafts: Vec<Draft> = entries
        .iter()
        .map(|e| read_step(ck, e, &mut types, defaults))
        .collect();
    let upstreams = graph::check(ck, &drafts);
    templates::check(ck, &drafts, params, &upstreams, opts.project_dir);

    let mut steps = IndexMap::new();
    for draft in drafts {
        let s = draft.settings;
        let step = Step {
            depends_on: draft.depends_on.into_iter().map(|(id, _)| id).collect(),
            retries: s.retries.unwrap_or(0),
            retry_delay: s.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY),
            retry_backoff: s.retry_backoff.unwrap_or(DEFAULT_RETRY_BACKOFF),
            max_retry_delay: s.max_retry_delay,
            timeout: s.timeout,
            trigger_rule: s.trigger_rule.unwrap_or(TriggerRule::AllSuccess),
            pool: s.pool,
            notifications: Notifications {
                on_failure: s.on_failure.unwrap_or_default(),
                on_retry: s.on_retry.unwrap_or_default(),
                on_success: s.on_success.unwrap_or_default(),
            },
            job: draft.job?,
            id: draft.id.clone(),
        };
        steps.insert(draft.id, step);
    }
    Some(steps)
}

fn read_step<'n>(
    ck: &mut Checker,
    entry: &'n Entry,
    types: &mut JobTypes,
    defaults: &Settings,
) -> Draft<'n> {
    let id = entry.key_str().to_string();
    let mut draft = Draft {
        id: id.clone(),
        key: &entry.key,
        depends_on: Vec::new(),
        settings: defaults.clone(),
        job: None,
        jobs: Vec::new(),
    };
    if !is_valid_id(&id) {
        ck.on(
            &entry.key,
            format!("invalid step id `{id}`: use only letters, digits, `_`, `.` and `-`"),
        );
    }
    let place = format!("step `{id}`");
    let Some(fields) = ck.map(&entry.value, &place) else {
        return draft;
    };

    let mut type_node = None;
    let mut variants: Vec<&Entry> = Vec::new();
    let mut job_fields: Vec<&Entry> = Vec::new();
    for field in fields {
        let key = field.key_str();
        match key {
            "type" => type_node = Some(&field.value),
            _ if TargetKind::parse(key).is_some() => variants.push(field),
            "depends_on" => draft.depends_on = read_depends_on(ck, &field.value, &id),
            "description" => {
                ck.optional_string(&field.value, &format!("`description` of {place}"));
            }
            _ if SETTING_KEYS.contains(&key) => {
                read_setting(
                    ck,
                    key,
                    &field.value,
                    &format!("in {place}"),
                    &mut draft.settings,
                    types,
                );
            }
            _ => job_fields.push(field),
        }
    }

    match (type_node, variants.first()) {
        (Some(_), Some(variant)) => {
            ck.on(
                &variant.key,
                format!("{place} has both `type:` and per-target variants (`{}:`): use `type:` for the same job on every target, or only `local:`/`aws:` variants", variant.key_str()),
            );
        }
        (Some(type_node), None) => {
            let (spec, site) = read_job(ck, type_node, &job_fields, &place, true, types);
            draft.job = spec.map(StepJob::Any);
            draft.jobs.extend(site);
        }
        (None, Some(_)) => {
            for field in &job_fields {
                let key = field.key_str();
                let hint = match suggest::did_you_mean(key, STEP_KEYS.iter().copied()) {
                    Some(close) => format!(" (did you mean `{close}`?)"),
                    None => ": not a step setting; job fields go inside the target variants, `local:` and `aws:`"
                        .to_string(),
                };
                ck.on(&field.key, format!("unknown key `{key}` in {place}{hint}"));
            }
            draft.job = read_variants(ck, &entry.key, &variants, &place, types, &mut draft.jobs);
        }
        (None, None) => {
            ck.on(
                &entry.key,
                format!("{place} has no job: add `type:` (the same job on every target) or `local:`/`aws:` variants"),
            );
            // Without a type, other keys may be job fields; only likely typos of step keys
            // are worth a message.
            for field in &job_fields {
                let key = field.key_str();
                if let Some(close) = suggest::did_you_mean(key, STEP_KEYS.iter().copied()) {
                    ck.on(
                        &field.key,
                        format!("unknown key `{key}` in {place} (did you mean `{close}`?)"),
                    );
                }
            }
        }
    }
    draft
}

fn read_variants<'n>(
    ck: &mut Checker,
    step_key: &Node,
    variants: &[&'n Entry],
    place: &str,
    types: &mut JobTypes,
    sites: &mut Vec<JobSite<'n>>,
) -> Option<StepJob> {
    let mut per_kind = IndexMap::new();
    let mut complete = true;
    for variant in variants {
        let kind = variant.key_str();
        let variant_place = format!("{place} (`{kind}` variant)");
        let Some(fields) = ck.map(&variant.value, &format!("the `{kind}` variant of {place}"))
        else {
            complete = false;
            continue;
        };
        let Some(type_node) = variant.value.get("type") else {
            ck.on(
                &variant.key,
                format!("the `{kind}` variant of {place} has no `type:`"),
            );
            complete = false;
            continue;
        };
        let job_fields: Vec<&Entry> = fields.iter().filter(|f| f.key_str() != "type").collect();
        let checked = types.opts.target_kind.is_none_or(|k| k.as_str() == kind);
        let (spec, site) = read_job(ck, type_node, &job_fields, &variant_place, checked, types);
        sites.extend(site);
        match spec {
            Some(spec) => {
                per_kind.insert(kind.to_string(), spec);
            }
            None => complete = false,
        }
    }
    if let Some(kind) = types.opts.target_kind
        && !variants.iter().any(|v| v.key_str() == kind.as_str())
    {
        ck.on(
            step_key,
            format!("{place} has no `{kind}` variant, so it cannot run on a `{kind}` target: add `{kind}:` or use `type:`"),
        );
        complete = false;
    }
    complete.then_some(StepJob::PerTarget(per_kind))
}

/// Reads a job: its `type` and fields. `checked = false` (a variant for another target
/// kind) skips the job type's checks: its type may not even be registered in this binary.
/// Returns the job (`None` when invalid) and, for a checked job of a known type, the
/// fields whose templates to check.
fn read_job<'n>(
    ck: &mut Checker,
    type_node: &'n Node,
    fields: &[&'n Entry],
    place: &str,
    checked: bool,
    types: &mut JobTypes,
) -> (Option<JobSpec>, Option<JobSite<'n>>) {
    let Some(job_type) = ck.string(type_node, &format!("`type` of {place}")) else {
        return (None, None);
    };
    let config: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|f| (f.key_str().to_string(), f.value.to_json()))
        .collect();
    if !checked {
        return (Some(JobSpec { job_type, config }), None);
    }
    let Some(spec) = types.opts.catalog.get(&job_type) else {
        let names: Vec<&str> = types.opts.catalog.names().collect();
        let hint = suggest::hint(&job_type, names.iter().copied());
        ck.on(
            type_node,
            format!(
                "unknown job type `{job_type}` in {place}{hint}; known types: {}",
                names.join(", ")
            ),
        );
        return (None, None);
    };
    let before = ck.diagnostics.len();
    let known = types.field_names(spec.as_ref());
    let mut checked_config = serde_json::Map::new();
    // A misspelt field is checked under the name it was probably meant to have, so the
    // type does not also report that field as missing.
    let mut meant: Vec<(&str, &Entry)> = Vec::new();
    for field in fields {
        let key = field.key_str();
        if known.iter().any(|k| k == key) {
            checked_config.insert(key.to_string(), field.value.to_json());
        } else if let Some(close) = unknown_job_field(ck, field, &job_type, &known, place)
            && !fields.iter().any(|f| f.key_str() == close)
            && !meant.iter().any(|(m, _)| *m == close)
        {
            meant.push((close, field));
        }
    }
    for (name, field) in &meant {
        checked_config.insert(name.to_string(), field.value.to_json());
    }
    let checked_config = serde_json::Value::Object(checked_config);
    for err in spec.check(&checked_config).err().unwrap_or_default() {
        let target = err
            .path
            .split_first()
            .and_then(|(first, rest)| {
                let entry = fields
                    .iter()
                    .find(|f| f.key_str() == first)
                    .or_else(|| meant.iter().find(|(m, _)| m == first).map(|(_, f)| f))?;
                Some(entry.value.descend(rest).0)
            })
            .unwrap_or(type_node);
        let message = if err.path.is_empty() {
            format!("invalid `{job_type}` job in {place}: {}", err.message)
        } else {
            format!(
                "invalid `{job_type}` field `{}` in {place}: {}",
                err.path.join("."),
                err.message
            )
        };
        ck.on(target, message);
    }
    // Files whose text is a template are checked with the step's other templates.
    let template_files = spec
        .template_files(&checked_config)
        .into_iter()
        .map(|file| {
            let node = file
                .field
                .split_first()
                .and_then(|(first, rest)| {
                    let entry = fields.iter().find(|f| f.key_str() == first)?;
                    Some(entry.value.descend(rest).0)
                })
                .unwrap_or(type_node);
            (file.path, node)
        })
        .collect();
    // Templates are checked even when fields are wrong: one run reports everything.
    let site = JobSite {
        place: place.to_string(),
        fields: fields.to_vec(),
        template_files,
    };
    let spec = (ck.diagnostics.len() == before).then_some(JobSpec { job_type, config });
    (spec, Some(site))
}

/// Reports an unknown key among a job's fields. Returns the job field it is probably a
/// misspelling of, if any.
fn unknown_job_field<'k>(
    ck: &mut Checker,
    field: &Entry,
    job_type: &str,
    known: &'k [String],
    place: &str,
) -> Option<&'k str> {
    let key = field.key_str();
    let step_level = !place.ends_with("variant)");
    let mut candidates: Vec<&str> = known.iter().map(String::as_str).collect();
    if step_level {
        candidates.extend(STEP_KEYS.iter().copied());
    }
    let close = suggest::did_you_mean(key, candidates);
    let message = match close {
        Some(close) => format!("unknown key `{key}` in {place} (did you mean `{close}`?)"),
        None if known.is_empty() => {
            format!("unknown key `{key}` in {place}: job type `{job_type}` has no fields")
        }
        None => format!(
            "unknown key `{key}` in {place}: not a step setting nor a `{job_type}` field ({})",
            known.join(", ")
        ),
    };
    ck.on(&field.key, message);
    close
        .and_then(|c| known.iter().find(|k| *k == c))
        .map(String::as_str)
}

fn read_depends_on<'n>(ck: &mut Checker, node: &'n Node, id: &str) -> Vec<(String, &'n Node)> {
    let what = format!("`depends_on` in step `{id}`");
    let items: Vec<&Node> = match (&node.value, node.typed()) {
        (_, Some(Typed::Null)) => Vec::new(),
        (_, Some(Typed::Str(_))) => vec![node],
        (crate::yaml::Value::Seq(items), _) => items.iter().collect(),
        _ => {
            ck.wrong_type(node, &what, "a step id or a list of step ids");
            return Vec::new();
        }
    };
    let mut out: Vec<(String, &Node)> = Vec::new();
    for item in items {
        let Some(dep) = ck.string(item, &format!("`depends_on` entry in step `{id}`")) else {
            continue;
        };
        if out.iter().any(|(d, _)| *d == dep) {
            ck.on(
                item,
                format!("step `{id}` lists `{dep}` twice in `depends_on`"),
            );
            continue;
        }
        out.push((dep, item));
    }
    out
}

fn read_setting(
    ck: &mut Checker,
    key: &str,
    node: &Node,
    place: &str,
    settings: &mut Settings,
    types: &JobTypes,
) {
    let what = format!("`{key}` {place}");
    match key {
        "retries" => settings.retries = ck.integer(node, &what, 0).or(settings.retries),
        "retry_delay" => settings.retry_delay = ck.duration(node, &what).or(settings.retry_delay),
        "max_retry_delay" => {
            settings.max_retry_delay = ck.duration(node, &what).or(settings.max_retry_delay);
        }
        "timeout" => {
            if let Some(timeout) = ck.duration(node, &what) {
                if timeout.is_zero() {
                    ck.on(
                        node,
                        format!("invalid {what}: a timeout must be longer than 0s"),
                    );
                }
                settings.timeout = Some(timeout);
            }
        }
        "retry_backoff" => {
            let names: Vec<&str> = BACKOFFS.iter().map(|(n, _)| *n).collect();
            if let Some(name) = ck.choice(node, &what, &names) {
                settings.retry_backoff = BACKOFFS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
            }
        }
        "trigger_rule" => {
            let names: Vec<&str> = TRIGGER_RULES.iter().map(|(n, _)| *n).collect();
            if let Some(name) = ck.choice(node, &what, &names) {
                settings.trigger_rule = TRIGGER_RULES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, r)| *r);
            }
        }
        "pool" => {
            if let Some(pool) = ck.string(node, &what) {
                check_pool(ck, node, &pool, types.opts);
                settings.pool = Some(pool);
            }
        }
        // A step's own list replaces the one of `defaults` (null or `[]`: none).
        "on_failure" => settings.on_failure = notify::read_list(ck, key, node, place, types.params),
        "on_retry" => settings.on_retry = notify::read_list(ck, key, node, place, types.params),
        "on_success" => settings.on_success = notify::read_list(ck, key, node, place, types.params),
        _ => {}
    }
}

fn check_pool(ck: &mut Checker, node: &Node, pool: &str, opts: &LoadOptions) {
    let Some(pools) = opts.pools else { return };
    if pools.contains_key(pool) {
        return;
    }
    let hint = suggest::hint(pool, pools.keys().map(String::as_str));
    let declared = if pools.is_empty() {
        "the project file declares no pools (add them under `pools:` in flowctl.yaml)".to_string()
    } else {
        format!(
            "pools declared in the project file: {}",
            pools.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    ck.on(node, format!("unknown pool `{pool}`{hint}; {declared}"));
}
