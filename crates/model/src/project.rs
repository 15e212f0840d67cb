//! The optional project file, `flowctl.yaml`:
//!
//! ```yaml
//! state: postgres://flowctl@db/flowctl   # default: SQLite at .flowctl/state.db
//! dags: [dags]                           # where DAG files live (a string or a list)
//! default_target: local
//! max_active_tasks: 16
//! pools: { athena: 4 }
//! targets:
//!   ci: { kind: local }
//!   prod: { kind: aws, region: eu-west-1 }
//! environments:
//!   prod: { target: prod, state: postgres://... }
//! ```

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::check::{Checker, is_valid_id};
use crate::diagnostic::Diagnostic;
use crate::suggest;
use crate::target::{SectionCatalog, SectionPlace, TargetKind};
use crate::yaml::{self, Entry, Node, Typed};

const TOP_LEVEL_KEYS: &[&str] = &[
    "state",
    "dags",
    "default_target",
    "max_active_tasks",
    "pools",
    "targets",
    "environments",
];
const ENVIRONMENT_KEYS: &[&str] = &["target", "state"];

/// The project file's settings (defaults when there is no file).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// State store URL; `None` = SQLite in the project directory.
    pub state: Option<String>,
    /// Directories (or files) holding DAGs, relative to the project directory.
    pub dags: Vec<String>,
    /// The target used when none is selected.
    pub default_target: String,
    /// Upper bound on tasks running at once across a run; `None` = engine default.
    pub max_active_tasks: Option<u32>,
    /// Pool name → number of slots.
    pub pools: BTreeMap<String, u32>,
    /// Declared targets, in file order.
    pub targets: IndexMap<String, TargetConfig>,
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

/// A target: which step variant it runs (`kind`) and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    /// Which step variant it runs.
    pub kind: TargetKind,
    /// Every other key of the target, checked against the registered sections (see
    /// [`crate::target`]); plugins read their typed section from it.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// An environment (dev, staging, prod): the target it runs on and, optionally, its state store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentConfig {
    pub target: String,
    pub state: Option<String>,
}

impl Default for ProjectConfig {
    fn default() -> Self {
        Self {
            state: None,
            dags: vec!["dags".to_string()],
            default_target: "local".to_string(),
            max_active_tasks: None,
            pools: BTreeMap::new(),
            targets: IndexMap::new(),
            environments: BTreeMap::new(),
        }
    }
}

impl ProjectConfig {
    /// A target by name. `local` and `aws` exist even when not declared.
    pub fn target(&self, name: &str) -> Option<TargetConfig> {
        if let Some(target) = self.targets.get(name) {
            return Some(target.clone());
        }
        TargetKind::parse(name).map(|kind| TargetConfig {
            kind,
            settings: serde_json::Map::new(),
        })
    }

    /// Every target name: declared ones, then the built-in `local` and `aws` if not declared.
    pub fn target_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.targets.keys().map(String::as_str).collect();
        for builtin in TargetKind::names() {
            if !names.contains(&builtin) {
                names.push(builtin);
            }
        }
        names
    }
}

/// Parses and checks a project file; reports every problem. Target settings are checked
/// against `sections` (the binary's registered setting sections).
pub fn parse_project(
    path: &str,
    text: &str,
    sections: &SectionCatalog,
) -> Result<ProjectConfig, Vec<Diagnostic>> {
    let mut ck = Checker::new(path, text);
    let doc = yaml::parse(text);
    ck.yaml_errors(doc.errors);
    let mut config = ProjectConfig::default();
    if let Some(root) = doc.root.as_ref().filter(|r| !r.is_null()) {
        read_project(&mut ck, root, &mut config, sections);
    }
    let diagnostics = ck.finish();
    if diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(diagnostics)
    }
}

fn read_project(
    ck: &mut Checker,
    root: &Node,
    config: &mut ProjectConfig,
    sections: &SectionCatalog,
) {
    let Some(entries) = ck.map(root, "the project file") else {
        return;
    };
    ck.unknown_keys(entries, TOP_LEVEL_KEYS, "in the project file");
    // Targets first: `default_target` and environments refer to them.
    if let Some(node) = root.get("targets") {
        read_targets(ck, node, config, sections);
    }
    for entry in entries {
        let node = &entry.value;
        match entry.key_str() {
            "state" => config.state = ck.optional_string(node, "`state`"),
            "dags" => {
                if let Some(dags) = read_dags(ck, node) {
                    config.dags = dags;
                }
            }
            "max_active_tasks" => {
                config.max_active_tasks = ck.integer(node, "`max_active_tasks`", 1);
            }
            "pools" => read_pools(ck, node, config),
            _ => {}
        }
    }
    if let Some(node) = root.get("default_target")
        && let Some(name) = ck.string(node, "`default_target`")
    {
        check_target_exists(ck, node, &name, config);
        config.default_target = name;
    }
    if let Some(node) = root.get("environments") {
        read_environments(ck, node, config);
    }
}

fn read_dags(ck: &mut Checker, node: &Node) -> Option<Vec<String>> {
    if let Some(Typed::Str(s)) = node.typed() {
        return Some(vec![s.to_string()]);
    }
    let Some(items) = node.as_seq() else {
        ck.wrong_type(node, "`dags`", "a directory or a list of directories");
        return None;
    };
    if items.is_empty() {
        ck.on(
            node,
            "invalid `dags`: the list is empty; name at least one directory",
        );
        return None;
    }
    let dirs: Vec<String> = items
        .iter()
        .filter_map(|i| ck.string(i, "entry of `dags`"))
        .collect();
    (dirs.len() == items.len()).then_some(dirs)
}

fn read_pools(ck: &mut Checker, node: &Node, config: &mut ProjectConfig) {
    let Some(entries) = ck.map(node, "`pools`") else {
        return;
    };
    for entry in entries {
        let name = entry.key_str();
        if !is_valid_id(name) {
            ck.on(
                &entry.key,
                format!("invalid pool name `{name}`: use letters, digits, `_`, `.` and `-`"),
            );
        }
        if let Some(slots) = ck.integer(&entry.value, &format!("size of pool `{name}`"), 1) {
            config.pools.insert(name.to_string(), slots);
        }
    }
}

fn read_targets(
    ck: &mut Checker,
    node: &Node,
    config: &mut ProjectConfig,
    sections: &SectionCatalog,
) {
    let Some(entries) = ck.map(node, "`targets`") else {
        return;
    };
    let kinds = TargetKind::names();
    for entry in entries {
        let name = entry.key_str();
        let what = format!("target `{name}`");
        // `targets: { local: }` declares the built-in with no settings.
        if entry.value.is_null()
            && let Some(kind) = TargetKind::parse(name)
        {
            config.targets.insert(
                name.to_string(),
                TargetConfig {
                    kind,
                    settings: serde_json::Map::new(),
                },
            );
            continue;
        }
        let Some(fields) = ck.map(&entry.value, &what) else {
            continue;
        };
        let kind = match entry.value.get("kind") {
            Some(kind_node) => ck
                .choice(kind_node, &format!("`kind` of target `{name}`"), &kinds)
                .and_then(TargetKind::parse),
            None if TargetKind::parse(name).is_some() => TargetKind::parse(name),
            None => {
                ck.on(
                    &entry.key,
                    format!("target `{name}` has no `kind`: add `kind: local` or `kind: aws`"),
                );
                None
            }
        };
        let settings: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .filter(|f| f.key_str() != "kind")
            .map(|f| (f.key_str().to_string(), f.value.to_json()))
            .collect();
        if let Some(kind) = kind {
            check_settings(ck, fields, kind, &what, sections);
        }
        // An invalid target is still recorded (the config is discarded anyway) so that
        // references to it are not reported as unknown too.
        config.targets.insert(
            name.to_string(),
            TargetConfig {
                kind: kind.unwrap_or_default(),
                settings,
            },
        );
    }
}

/// Checks a target's settings against the sections of its kind: unknown keys (with a
/// suggestion) and every problem inside a section, at its position.
fn check_settings(
    ck: &mut Checker,
    fields: &[Entry],
    kind: TargetKind,
    what: &str,
    sections: &SectionCatalog,
) {
    let keys = sections.keys_for(kind);
    // Top-level sections' keys, gathered per section (by address: one entry per section).
    let mut top_level: Vec<(
        std::sync::Arc<dyn crate::target::SectionSpec>,
        serde_json::Map<String, serde_json::Value>,
    )> = Vec::new();
    for field in fields.iter().filter(|f| f.key_str() != "kind") {
        let key = field.key_str();
        let Some(section) = keys.get(key) else {
            let other_kind = TargetKind::ALL
                .into_iter()
                .find(|k| *k != kind && sections.keys_for(*k).contains_key(key));
            let message = match other_kind {
                Some(other) => format!(
                    "`{key}` is a setting of `{other}` targets, not of {what} (kind `{kind}`)"
                ),
                None => {
                    let mut known: Vec<&str> = keys.keys().map(String::as_str).collect();
                    known.push("kind");
                    let hint = suggest::hint(key, known.iter().copied());
                    format!(
                        "unknown setting `{key}` in {what}{hint}; `{kind}` targets take: {}",
                        known.join(", ")
                    )
                }
            };
            ck.on(&field.key, message);
            continue;
        };
        match section.place() {
            SectionPlace::Block(_) => {
                for err in section
                    .check(&field.value.to_json())
                    .err()
                    .unwrap_or_default()
                {
                    let (target, _) = field.value.descend(&err.path);
                    let at = if err.path.is_empty() {
                        &field.key
                    } else {
                        target
                    };
                    let setting = std::iter::once(key.to_string())
                        .chain(err.path.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(".");
                    ck.on(
                        at,
                        format!("invalid setting `{setting}` in {what}: {}", err.message),
                    );
                }
            }
            SectionPlace::TopLevel => {
                let value = field.value.to_json();
                match top_level
                    .iter_mut()
                    .find(|(s, _)| std::sync::Arc::ptr_eq(s, section))
                {
                    Some((_, map)) => {
                        map.insert(key.to_string(), value);
                    }
                    None => top_level.push((
                        section.clone(),
                        serde_json::Map::from_iter([(key.to_string(), value)]),
                    )),
                }
            }
        }
    }
    // Top-level sections are checked as a whole (rules may span their keys).
    for (section, map) in top_level {
        for err in section
            .check(&serde_json::Value::Object(map))
            .err()
            .unwrap_or_default()
        {
            let node = err.path.split_first().and_then(|(first, rest)| {
                let entry = fields.iter().find(|f| f.key_str() == first)?;
                Some(entry.value.descend(rest).0)
            });
            let message = if err.path.is_empty() {
                format!("invalid settings of {what}: {}", err.message)
            } else {
                format!(
                    "invalid setting `{}` in {what}: {}",
                    err.path.join("."),
                    err.message
                )
            };
            match node {
                Some(node) => ck.on(node, message),
                None => ck.file_error(message),
            }
        }
    }
}

fn read_environments(ck: &mut Checker, node: &Node, config: &mut ProjectConfig) {
    let Some(entries) = ck.map(node, "`environments`") else {
        return;
    };
    for entry in entries {
        let name = entry.key_str();
        let what = format!("environment `{name}`");
        let Some(fields) = ck.map(&entry.value, &what) else {
            continue;
        };
        ck.unknown_keys(fields, ENVIRONMENT_KEYS, &format!("in {what}"));
        let target = match entry.value.get("target") {
            Some(t) => ck
                .string(t, &format!("`target` of {what}"))
                .inspect(|name| {
                    check_target_exists(ck, t, name, config);
                }),
            None => {
                ck.on(
                    &entry.key,
                    format!("{what} has no `target`: add `target: <name>`"),
                );
                None
            }
        };
        let state = entry
            .value
            .get("state")
            .and_then(|s| ck.optional_string(s, &format!("`state` of {what}")));
        if let Some(target) = target {
            config
                .environments
                .insert(name.to_string(), EnvironmentConfig { target, state });
        }
    }
}

fn check_target_exists(ck: &mut Checker, node: &Node, name: &str, config: &ProjectConfig) {
    if config.target(name).is_none() {
        let names = config.target_names();
        let hint = suggest::hint(name, names.iter().copied());
        ck.on(
            node,
            format!(
                "unknown target `{name}`{hint}; known targets: {}",
                names.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetSection;

    /// A local-target block, like the Iceberg settings.
    #[allow(dead_code)]
    #[derive(Default, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Lake {
        #[serde(default)]
        warehouse: Option<String>,
    }

    impl TargetSection for Lake {
        const PLACE: SectionPlace = SectionPlace::Block("lake");
        const KINDS: &'static [TargetKind] = &[TargetKind::Local];
    }

    /// Top-level AWS keys, like the aws target's settings.
    #[derive(Default, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Cloud {
        #[serde(default)]
        region: Option<String>,
    }

    impl TargetSection for Cloud {
        const PLACE: SectionPlace = SectionPlace::TopLevel;
        const KINDS: &'static [TargetKind] = &[TargetKind::Aws];

        fn check(&self, problems: &mut crate::catalog::Problems) {
            if self.region.as_deref() == Some("") {
                problems.field("region", "must not be empty");
            }
        }
    }

    fn sections() -> SectionCatalog {
        let mut catalog = SectionCatalog::new();
        catalog.add::<Lake>().add::<Cloud>();
        catalog
    }

    fn parse_project(path: &str, text: &str) -> Result<ProjectConfig, Vec<Diagnostic>> {
        super::parse_project(path, text, &sections())
    }

    #[test]
    fn empty_or_missing_file_gives_defaults() {
        let config = parse_project("flowctl.yaml", "").expect("valid");
        assert_eq!(config, ProjectConfig::default());
        assert_eq!(config.dags, vec!["dags"]);
        assert_eq!(config.default_target, "local");
        assert_eq!(config.target("aws").map(|t| t.kind), Some(TargetKind::Aws));
        assert_eq!(config.target("prod"), None);
    }

    #[test]
    fn reads_every_section() {
        let text = "\
state: postgres://db/flowctl
dags: [dags, more_dags]
default_target: ci
max_active_tasks: 8
pools: { athena: 4 }
targets:
  ci: { kind: local, lake: { warehouse: /tmp/wh } }
  aws: { region: eu-west-1 }
environments:
  prod: { target: aws, state: postgres://prod/flowctl }
  dev: { target: local }
";
        let config = parse_project("flowctl.yaml", text).expect("valid");
        assert_eq!(config.state.as_deref(), Some("postgres://db/flowctl"));
        assert_eq!(config.dags, vec!["dags", "more_dags"]);
        assert_eq!(config.default_target, "ci");
        assert_eq!(config.max_active_tasks, Some(8));
        assert_eq!(config.pools.get("athena"), Some(&4));
        let ci = config.target("ci").expect("declared");
        assert_eq!(ci.kind, TargetKind::Local);
        assert_eq!(
            ci.settings.get("lake"),
            Some(&serde_json::json!({"warehouse": "/tmp/wh"}))
        );
        let aws = config.target("aws").expect("declared");
        assert_eq!(
            (aws.kind, aws.settings.len()),
            (TargetKind::Aws, 1),
            "kind defaults to the name"
        );
        assert_eq!(config.environments["prod"].target, "aws");
        assert_eq!(
            config.environments["prod"].state.as_deref(),
            Some("postgres://prod/flowctl")
        );
        assert_eq!(config.environments["dev"].state, None);
        assert_eq!(config.target_names(), vec!["ci", "aws", "local"]);
    }

    #[test]
    fn reports_every_problem_with_positions() {
        let text = "\
stat: x
default_target: prd
pools: { athena: 0 }
targets:
  prod: { region: eu-west-1 }
  ci: { kind: gcp }
environments:
  staging: { target: nowhere, sate: x }
";
        let errors: Vec<String> = parse_project("flowctl.yaml", text)
            .unwrap_err()
            .iter()
            .map(|d| {
                format!(
                    "{}: {}",
                    d.span.map(|s| s.to_string()).unwrap_or_default(),
                    d.message
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                "1:1: unknown key `stat` in the project file (did you mean `state`?)",
                "2:17: unknown target `prd` (did you mean `prod`?); known targets: prod, ci, local, aws",
                "3:18: invalid size of pool `athena`: expected a positive integer, found integer `0`",
                "5:3: target `prod` has no `kind`: add `kind: local` or `kind: aws`",
                "6:15: invalid `kind` of target `ci`: unknown value `gcp`; expected one of: local, aws",
                "8:22: unknown target `nowhere`; known targets: prod, ci, local, aws",
                "8:31: unknown key `sate` in environment `staging` (did you mean `state`?)",
            ]
        );
    }

    #[test]
    fn target_settings_are_checked_against_the_sections_of_their_kind() {
        let text = "\
targets:
  ci:
    kind: local
    lake: { warehous: /tmp }
    regoin: eu
  prod:
    kind: aws
    region: ''
    lake: { warehouse: /tmp }
";
        let errors: Vec<String> = parse_project("flowctl.yaml", text)
            .unwrap_err()
            .iter()
            .map(|d| format!("{}: {}", d.span.expect("positioned"), d.message))
            .collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert_eq!(
            errors[0],
            "4:23: invalid setting `lake.warehous` in target `ci`: unknown field `warehous`, expected `warehouse`"
        );
        assert!(
            errors[1].starts_with(
                "5:5: unknown setting `regoin` in target `ci`; `local` targets take: lake, kind"
            ),
            "{errors:#?}"
        );
        assert_eq!(
            errors[2],
            "8:13: invalid setting `region` in target `prod`: must not be empty"
        );
        assert_eq!(
            errors[3],
            "9:5: `lake` is a setting of `local` targets, not of target `prod` (kind `aws`)"
        );
    }

    #[test]
    fn syntax_errors_are_diagnostics() {
        let errors = parse_project("p.yaml", "pools: [a\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("invalid YAML"));
    }
}
