//! Targets: their kind, and the typed blocks of settings plugins read from them.
//!
//! A target in `flowctl.yaml` has a `kind` and settings. The settings are made of
//! *sections*, each owned by a plugin crate and declared as a serde struct implementing
//! [`TargetSection`]: a block under one key (`kafka:`, `iceberg:`) or keys at the target's
//! top level (the AWS settings: `region`, `scripts_bucket`, `athena:`, ...). The binary
//! registers every section in a [`SectionCatalog`]; the project file is checked against it
//! when it is read, so a typo (`regoin:`, `bootstrapp:`) is an error at
//! `flowctl.yaml:line:col`, not a setting silently ignored at run time.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::catalog::{ConfigError, Problems, parse_config};

/// Which step variant a target runs (`local:` or `aws:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Local Rust jobs (a laptop, CI, a box next to Kafka).
    #[default]
    Local,
    /// Remote AWS jobs (Glue, Athena, S3).
    Aws,
}

impl TargetKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [TargetKind; 2] = [TargetKind::Local, TargetKind::Aws];

    /// The name used in files: `local`, `aws`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetKind::Local => "local",
            TargetKind::Aws => "aws",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every kind's name.
    pub fn names() -> [&'static str; 2] {
        Self::ALL.map(Self::as_str)
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a section's settings sit in a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionPlace {
    /// Under one key of the target (`kafka: { bootstrap: ... }`).
    Block(&'static str),
    /// The section's fields are keys of the target itself (`region: eu-west-1`).
    TopLevel,
}

/// A typed block of target settings, owned by a plugin crate: a serde struct with
/// `#[serde(deny_unknown_fields)]` whose doc comments become the project file's JSON
/// Schema. Its check is pure, like a job's.
pub trait TargetSection: DeserializeOwned + schemars::JsonSchema + Default + 'static {
    /// Where its settings sit.
    const PLACE: SectionPlace;
    /// The target kinds it applies to.
    const KINDS: &'static [TargetKind];

    /// Reports every problem serde cannot (formats, rules across fields).
    fn check(&self, problems: &mut Problems) {
        let _ = problems;
    }
}

/// Reads section `S` from a target's settings (its defaults when absent).
pub fn read_section<S: TargetSection>(settings: &Map<String, Value>) -> Result<S, String> {
    let value = match S::PLACE {
        SectionPlace::Block(key) => match settings.get(key) {
            None | Some(Value::Null) => return Ok(S::default()),
            Some(v) => v.clone(),
        },
        SectionPlace::TopLevel => {
            let fields = schema_fields::<S>();
            Value::Object(
                settings
                    .iter()
                    .filter(|(k, _)| fields.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
    };
    let prefix = match S::PLACE {
        SectionPlace::Block(key) => format!("{key}."),
        SectionPlace::TopLevel => String::new(),
    };
    let describe = |e: ConfigError| {
        if e.path.is_empty() {
            format!("{}: {}", prefix.trim_end_matches('.'), e.message)
        } else {
            format!("`{prefix}{}`: {}", e.path.join("."), e.message)
        }
    };
    let section: S = parse_config(&value).map_err(describe)?;
    let mut problems = Problems::new();
    section.check(&mut problems);
    if problems.is_empty() {
        Ok(section)
    } else {
        Err(problems
            .into_vec()
            .into_iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

fn schema_fields<S: schemars::JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(S);
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

/// A section as the project loader sees it (object-safe).
pub trait SectionSpec: Send + Sync {
    /// Where its settings sit.
    fn place(&self) -> SectionPlace;
    /// The kinds it applies to.
    fn kinds(&self) -> &'static [TargetKind];
    /// Its field names.
    fn field_names(&self) -> Vec<String>;
    /// Checks the section's value (the block, or the target's keys that are its fields).
    fn check(&self, value: &Value) -> Result<(), Vec<ConfigError>>;
    /// Its JSON Schema.
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

struct TypedSection<S>(PhantomData<fn() -> S>);

impl<S: TargetSection> SectionSpec for TypedSection<S> {
    fn place(&self) -> SectionPlace {
        S::PLACE
    }

    fn kinds(&self) -> &'static [TargetKind] {
        S::KINDS
    }

    fn field_names(&self) -> Vec<String> {
        schema_fields::<S>()
    }

    fn check(&self, value: &Value) -> Result<(), Vec<ConfigError>> {
        let section: S = parse_config(value).map_err(|e| vec![e])?;
        let mut problems = Problems::new();
        section.check(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.into_vec())
        }
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.root_schema_for::<S>()
    }
}

/// The target setting sections a binary knows.
#[derive(Clone, Default)]
pub struct SectionCatalog {
    sections: Vec<Arc<dyn SectionSpec>>,
    /// The types of `sections`, to add each once.
    ids: Vec<std::any::TypeId>,
}

impl SectionCatalog {
    /// No sections: every target key but `kind` is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds section `S` (once: several plugin crates may register the section they all read).
    pub fn add<S: TargetSection>(&mut self) -> &mut Self {
        let id = std::any::TypeId::of::<S>();
        if !self.ids.contains(&id) {
            self.ids.push(id);
            self.sections.push(Arc::new(TypedSection::<S>(PhantomData)));
        }
        self
    }

    /// Every section, in registration order.
    pub fn sections(&self) -> &[Arc<dyn SectionSpec>] {
        &self.sections
    }

    /// The keys a target of `kind` may have besides `kind`, with the section owning each.
    pub fn keys_for(&self, kind: TargetKind) -> BTreeMap<String, Arc<dyn SectionSpec>> {
        let mut keys = BTreeMap::new();
        for section in self.sections.iter().filter(|s| s.kinds().contains(&kind)) {
            match section.place() {
                SectionPlace::Block(key) => {
                    keys.insert(key.to_string(), Arc::clone(section));
                }
                SectionPlace::TopLevel => {
                    for field in section.field_names() {
                        keys.insert(field, Arc::clone(section));
                    }
                }
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A block section with a rule.
    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Broker {
        #[serde(default)]
        bootstrap: Option<String>,
    }

    impl TargetSection for Broker {
        const PLACE: SectionPlace = SectionPlace::Block("broker");
        const KINDS: &'static [TargetKind] = &[TargetKind::Local];

        fn check(&self, problems: &mut Problems) {
            if self.bootstrap.as_deref() == Some("") {
                problems.field("bootstrap", "must not be empty");
            }
        }
    }

    /// A top-level section.
    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Cloud {
        #[serde(default)]
        region: Option<String>,
    }

    impl TargetSection for Cloud {
        const PLACE: SectionPlace = SectionPlace::TopLevel;
        const KINDS: &'static [TargetKind] = &[TargetKind::Aws];
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sections_read_with_defaults_and_errors_name_the_setting() {
        let settings = map(json!({"broker": {"bootstrap": "h:9092"}, "region": "eu"}));
        let broker: Broker = read_section(&settings).unwrap();
        assert_eq!(broker.bootstrap.as_deref(), Some("h:9092"));
        let cloud: Cloud = read_section(&settings).unwrap();
        assert_eq!(cloud.region.as_deref(), Some("eu"));
        assert_eq!(
            read_section::<Broker>(&Map::new()).unwrap(),
            Broker::default()
        );
        let bad = read_section::<Broker>(&map(json!({"broker": {"bootstrap": ""}})));
        assert_eq!(bad.unwrap_err(), "`broker.bootstrap`: must not be empty");
        let typo = read_section::<Broker>(&map(json!({"broker": {"bootstrapp": "x"}})));
        assert!(typo.unwrap_err().contains("unknown field `bootstrapp`"));
    }

    #[test]
    fn keys_of_a_kind_come_from_its_sections() {
        let mut catalog = SectionCatalog::new();
        catalog.add::<Broker>().add::<Cloud>().add::<Broker>();
        assert_eq!(catalog.sections().len(), 2, "a section is added once");
        let local: Vec<String> = catalog.keys_for(TargetKind::Local).into_keys().collect();
        assert_eq!(local, ["broker"]);
        let aws: Vec<String> = catalog.keys_for(TargetKind::Aws).into_keys().collect();
        assert_eq!(aws, ["region"]);
        assert_eq!(TargetKind::parse("aws"), Some(TargetKind::Aws));
        assert_eq!(TargetKind::parse("gcp"), None);
    }
}
