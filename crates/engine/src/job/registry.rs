//! The job types a binary registered, by `type:` name.

use std::collections::BTreeMap;
use std::sync::Arc;

use flowctl_model::catalog::JobTypeCatalog;
use flowctl_model::target::{SectionCatalog, TargetSection};

use super::typed::Registered;
use super::{Job, JobPlugin, Telemetry};

/// The job types the binary registered, by name.
#[derive(Clone, Default)]
pub struct JobRegistry {
    plugins: BTreeMap<String, Arc<dyn JobPlugin>>,
    sections: SectionCatalog,
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds job type `J` (its config struct, checks and run): the one line a new job type
    /// needs. A later registration of the same name replaces the earlier one.
    pub fn add<J: Job>(&mut self, job: J) -> &mut Self {
        self.register(Arc::new(Registered::new(job)))
    }

    /// Adds a job type given as a [`JobPlugin`] (a type without a config struct: test
    /// probes). A later registration of the same name replaces the earlier one.
    pub fn register(&mut self, plugin: Arc<dyn JobPlugin>) -> &mut Self {
        let name = plugin.spec().name().to_string();
        self.plugins.insert(name, plugin);
        self
    }

    /// Adds a block of target settings the registered jobs read (the `kafka:` block, ...):
    /// the project file is checked against every registered section.
    pub fn add_target_section<S: TargetSection>(&mut self) -> &mut Self {
        self.sections.add::<S>();
        self
    }

    /// The registered target setting sections (for reading `flowctl.yaml`).
    pub fn target_sections(&self) -> &SectionCatalog {
        &self.sections
    }

    /// The plugin for a job type.
    pub fn get(&self, job_type: &str) -> Option<&Arc<dyn JobPlugin>> {
        self.plugins.get(job_type)
    }

    /// The registered type names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    /// The telemetry a job type declares (none for an unknown type).
    pub fn telemetry(&self, job_type: &str) -> Telemetry {
        self.get(job_type)
            .map(|p| p.telemetry())
            .unwrap_or_default()
    }

    /// The validation catalog of every registered type (for the model layer).
    pub fn catalog(&self) -> JobTypeCatalog {
        let mut catalog = JobTypeCatalog::default();
        for plugin in self.plugins.values() {
            catalog.register(plugin.spec());
        }
        catalog
    }
}
