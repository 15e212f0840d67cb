//! The project a command works on: its directory, its project file, and what the global
//! options and environment variables select from it (state store, target).

use std::path::{Path, PathBuf};

use flowctl_model::project::{ProjectConfig, TargetConfig, parse_project};
use flowctl_model::target::SectionCatalog;

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};

/// Name of the optional project file at the project root.
pub const PROJECT_FILE: &str = "flowctl.yaml";

/// A resolved project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory (absolute).
    pub dir: PathBuf,
    /// The project file, or defaults when there is none.
    pub config: ProjectConfig,
    /// The environment selected with `--env` / `FLOWCTL_ENV`, if any.
    pub environment: Option<String>,
    state_override: Option<String>,
}

impl Project {
    /// Finds and parses the project for the global options; target settings are checked
    /// against `sections` (the registered plugins').
    pub fn resolve(global: &GlobalArgs, sections: &SectionCatalog) -> CliResult<Self> {
        let dir = match &global.project_dir {
            Some(dir) => dir.clone(),
            None => {
                let cwd = std::env::current_dir().map_err(|e| {
                    CliError::environment(format!("cannot read the current directory: {e}"))
                })?;
                find_project_root(&cwd).unwrap_or(cwd)
            }
        };
        let dir = std::path::absolute(&dir).map_err(|e| {
            CliError::usage(format!("bad project directory {}: {e}", dir.display()))
        })?;
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "project directory {} does not exist",
                dir.display()
            )));
        }
        let config = load_project_file(&dir, sections)?;
        if let Some(env) = &global.environment
            && !config.environments.contains_key(env)
        {
            let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(CliError::usage(format!(
                "unknown environment `{env}`; {PROJECT_FILE} defines: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        Ok(Self {
            dir,
            config,
            environment: global.environment.clone(),
            state_override: global.state.clone(),
        })
    }

    /// The state store URL: `--state`/`FLOWCTL_STATE`, the environment's, the project file's,
    /// else SQLite at `.flowctl/state.db` in the project directory.
    pub fn state_url(&self) -> String {
        if let Some(url) = &self.state_override {
            return url.clone();
        }
        if let Some(url) = self
            .environment
            .as_ref()
            .and_then(|e| self.config.environments.get(e))
            .and_then(|e| e.state.clone())
        {
            return url;
        }
        if let Some(url) = &self.config.state {
            return url.clone();
        }
        let path = self.dir.join(".flowctl").join("state.db");
        format!("sqlite://{}", path.display())
    }

    /// The target name to use: the explicit one, else the environment's, else the project default.
    pub fn target_name(&self, explicit: Option<&str>) -> String {
        if let Some(name) = explicit {
            return name.to_string();
        }
        if let Some(env) = self
            .environment
            .as_ref()
            .and_then(|e| self.config.environments.get(e))
        {
            return env.target.clone();
        }
        self.config.default_target.clone()
    }

    /// A target by name, or a usage error listing the known ones.
    pub fn target(&self, name: &str) -> CliResult<TargetConfig> {
        self.config.target(name).ok_or_else(|| {
            let mut known: Vec<String> = self.config.targets.keys().cloned().collect();
            for builtin in ["local", "aws"] {
                if !known.iter().any(|k| k == builtin) {
                    known.push(builtin.to_string());
                }
            }
            CliError::usage(format!(
                "unknown target `{name}`; known targets: {}",
                known.join(", ")
            ))
        })
    }

    /// The DAG paths to read: the given ones, else the project file's `dags` directories.
    pub fn dag_paths(&self, given: &[PathBuf]) -> Vec<PathBuf> {
        if !given.is_empty() {
            return given.to_vec();
        }
        self.config.dags.iter().map(|d| self.dir.join(d)).collect()
    }

    /// A path as shown in messages (relative to the current directory) made relative to the
    /// project directory: how DAG files are recorded in the store, whatever the cwd was.
    pub fn project_relative(&self, shown: &str) -> String {
        let absolute = std::path::absolute(shown).unwrap_or_else(|_| PathBuf::from(shown));
        match absolute.strip_prefix(&self.dir) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => absolute.display().to_string(),
        }
    }

    /// Shows `path` relative to the current directory when it is below it (for messages).
    pub fn display_path(path: &Path) -> String {
        let cwd = std::env::current_dir().ok();
        match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()) {
            Some(rel) => rel.display().to_string(),
            None => path.display().to_string(),
        }
    }
}

/// The nearest directory at or above `start` holding a project file.
fn find_project_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(PROJECT_FILE).is_file())
        .map(Path::to_path_buf)
}

fn load_project_file(dir: &Path, sections: &SectionCatalog) -> CliResult<ProjectConfig> {
    let path = dir.join(PROJECT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProjectConfig::default()),
        Err(e) => {
            return Err(CliError::environment(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    parse_project(&Project::display_path(&path), &text, sections).map_err(|diagnostics| {
        let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        CliError::usage(format!("invalid project file:\n{}", rendered.join("\n")))
    })
}
