//! flowctl's built-in local job types.
//!
//! - [`shell`]: runs a command (`sh -c` or an argv list) in its own process group, streams its
//!   stdout/stderr into the attempt's log and reads step outputs from `$FLOWCTL_OUTPUT`.
//! - [`noop`]: does nothing and succeeds (Airflow's `EmptyOperator`).
//!
//! Both follow the engine's typed job contract: their fields are a serde struct implementing
//! [`flowctl_model::catalog::JobConfig`] (its pure check runs at `flowctl validate` and again
//! before every attempt), and the job implements [`flowctl_engine::job::Job`]. The engine
//! knows no job type by name: the binary calls [`registry`] (or [`register_builtins`] on a
//! registry it extends with other job types).

use flowctl_engine::job::JobRegistry;

pub mod noop;
pub mod shell;
#[cfg(test)]
mod test_support;

/// Adds every built-in job type to `registry` (replacing same-named registrations).
pub fn register_builtins(registry: &mut JobRegistry) {
    registry
        .add(shell::ShellJob::new())
        .add(noop::NoopJob::new());
}

/// A registry holding every built-in job type.
pub fn registry() -> JobRegistry {
    let mut registry = JobRegistry::new();
    register_builtins(&mut registry);
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_engine::job::Telemetry;
    use serde_json::json;

    #[test]
    fn registry_holds_every_builtin_under_its_type_name() {
        let registry = registry();
        for name in [shell::TYPE_NAME, noop::TYPE_NAME] {
            let plugin = registry
                .get(name)
                .unwrap_or_else(|| panic!("{name} not registered"));
            assert_eq!(plugin.spec().name(), name);
            // Neither sets fixed outputs nor feeds metrics.
            assert_eq!(registry.telemetry(name), Telemetry::default());
        }
        let catalog = registry.catalog();
        assert_eq!(catalog.names().collect::<Vec<_>>(), ["noop", "shell"]);
        assert!(registry.target_sections().sections().is_empty());
    }

    #[test]
    fn the_catalog_checks_shell_steps_with_every_problem_at_its_field() {
        let catalog = registry().catalog();
        let shell = catalog.get(shell::TYPE_NAME).expect("shell");
        let errors = shell
            .check(&json!({"command": "  ", "env": {"A=B": "1"}}))
            .unwrap_err();
        let paths: Vec<String> = errors.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["command", "env.A=B"], "{errors:?}");
        assert_eq!(shell.check(&json!({"command": "{{ params.cmd }}"})), Ok(()));
    }
}
