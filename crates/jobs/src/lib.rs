//! flowctl's built-in local job plugins.
//!
//! - [`shell`]: runs a command (`sh -c` or an argv list) in its own process group, streams its
//!   stdout/stderr into the attempt's log and reads step outputs from `$FLOWCTL_OUTPUT`.
//! - [`noop`]: does nothing and succeeds (Airflow's `EmptyOperator`).
//!
//! The engine knows no plugin by name: the binary calls [`registry`] (or
//! [`register_builtins`] on a registry it extends with other plugins).

use std::sync::Arc;

use flowctl_engine::job::JobRegistry;

pub mod noop;
pub mod shell;
#[cfg(test)]
mod test_support;

/// Adds every built-in job type to `registry` (replacing same-named registrations).
pub fn register_builtins(registry: &mut JobRegistry) {
    registry
        .register(Arc::new(shell::ShellJob::new()))
        .register(Arc::new(noop::NoopJob::new()));
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

    #[test]
    fn registry_holds_every_builtin_under_its_type_name() {
        let registry = registry();
        for name in [shell::TYPE_NAME, noop::TYPE_NAME] {
            let plugin = registry
                .get(name)
                .unwrap_or_else(|| panic!("{name} not registered"));
            assert_eq!(plugin.spec().name(), name);
        }
        let catalog = registry.catalog();
        assert_eq!(catalog.names().collect::<Vec<_>>(), ["noop", "shell"]);
    }
}
