//! The fields of a `shell` step and their check. Doc comments on the fields become the JSON
//! Schema's descriptions, so they are written for DAG authors.
//!
//! Serde reads the shapes (a string or a list for `command`, strings for `env` values);
//! [`ShellConfig`]'s [`JobConfig::check`] refuses what the operating system could not run
//! (a blank command, an empty program, environment variable names with `=`, NUL bytes), every
//! problem at its field, at `flowctl validate` and again before every attempt.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use flowctl_model::catalog::{JobConfig, Problems};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// Fields of a `shell` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// The command to run: a string is run by `sh -c` (pipes, redirections and `&&` work); a
    /// list is a program and its arguments, run directly without a shell. A non-zero exit
    /// fails the attempt; processes it leaves running in its process group are killed when
    /// it exits. Write `key=value` lines (or `key<<EOF` ... `EOF` blocks) to the file
    /// named by `$FLOWCTL_OUTPUT` to publish outputs to downstream steps.
    pub command: ShellCommand,
    /// Extra environment variables, added after the inherited environment and flowctl's
    /// `FLOWCTL_*` variables (so they can override both). Names cannot be empty or contain
    /// `=`.
    #[serde(default)]
    pub env: BTreeMap<EnvName, String>,
    /// Working directory; a relative path resolves against the project directory. Default:
    /// the project directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

impl JobConfig for ShellConfig {
    fn check(&self, problems: &mut Problems) {
        match &self.command {
            ShellCommand::Script(script) => {
                problems.check_value(&["command"], script, |script| {
                    if script.trim().is_empty() {
                        Err(
                            "an empty command: give a script for `sh -c` or a program and its \
                             arguments"
                                .to_owned(),
                        )
                    } else {
                        no_nul(script)
                    }
                });
            }
            ShellCommand::Argv(argv) => {
                if argv.is_empty() {
                    problems.field(
                        "command",
                        "an empty list: give a program and its arguments (the program first)",
                    );
                }
                for (i, arg) in argv.iter().enumerate() {
                    let index = i.to_string();
                    problems.check_value(&["command", index.as_str()], arg, |arg| {
                        if i == 0 && arg.trim().is_empty() {
                            Err("an empty program: the first item is the program to run (a \
                                 name on `PATH` or a path)"
                                .to_owned())
                        } else {
                            no_nul(arg)
                        }
                    });
                }
            }
        }
        for (name, value) in &self.env {
            if let Err(message) = name.check() {
                problems.at(["env", name.as_str()], message);
            }
            problems.check_value(&["env", name.as_str()], value, no_nul);
        }
        if let Some(cwd) = &self.cwd {
            problems.check_value(&["cwd"], &cwd.to_string_lossy(), no_nul);
        }
    }
}

/// The operating system passes arguments, environment values and paths as C strings.
fn no_nul(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        Err("contains a NUL character, which a process cannot be given".to_owned())
    } else {
        Ok(())
    }
}

/// What a `shell` step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCommand {
    /// A script for `sh -c` (non-blank once checked).
    Script(String),
    /// A program and its arguments (non-empty once checked).
    Argv(Vec<String>),
}

impl ShellCommand {
    /// The program to start and its arguments.
    pub fn program_and_args(&self) -> (&str, Vec<&str>) {
        match self {
            // Nothing after the script: it sees `$0` as "sh" and no positional parameters.
            ShellCommand::Script(script) => ("sh", vec!["-c", script]),
            ShellCommand::Argv(argv) => match argv.split_first() {
                Some((program, args)) => (program, args.iter().map(String::as_str).collect()),
                // The check refuses an empty list; an empty program fails to spawn.
                None => ("", Vec::new()),
            },
        }
    }
}

impl<'de> Deserialize<'de> for ShellCommand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// Accepts a string or a list of strings, with a message that says which forms are meant
/// (serde's untagged enums cannot). Their values are [`ShellConfig`]'s check's business.
struct CommandVisitor;

impl<'de> Visitor<'de> for CommandVisitor {
    type Value = ShellCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a command string or a non-empty list of strings (program and arguments)")
    }

    fn visit_str<E: de::Error>(self, script: &str) -> Result<ShellCommand, E> {
        Ok(ShellCommand::Script(script.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShellCommand, A::Error> {
        let mut argv = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(arg) = seq.next_element::<String>()? {
            argv.push(arg);
        }
        Ok(ShellCommand::Argv(argv))
    }
}

impl JsonSchema for ShellCommand {
    fn schema_name() -> Cow<'static, str> {
        "ShellCommand".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string", "minLength": 1, "description": "A script run by `sh -c`." },
                {
                    "type": "array",
                    "items": { "type": "string" },
                    "minItems": 1,
                    "description": "A program and its arguments, run without a shell."
                }
            ]
        })
    }
}

/// An environment variable name as written. The operating system cannot pass an empty name
/// or one with `=` or NUL: [`ShellConfig`]'s check refuses them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct EnvName(String);

impl EnvName {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a process can be given this name.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.0;
        if name.is_empty() {
            Err("an environment variable name cannot be empty".to_owned())
        } else if name.contains(['=', '\0']) {
            Err(format!(
                "invalid environment variable name {name:?}: `=` and NUL are not allowed"
            ))
        } else {
            Ok(())
        }
    }
}

impl From<&str> for EnvName {
    fn from(name: &str) -> Self {
        Self(name.to_owned())
    }
}

impl JsonSchema for EnvName {
    fn schema_name() -> Cow<'static, str> {
        "EnvName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[^=]+$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::catalog::{ConfigError, JobTypeSpec, TypedJobSpec};
    use serde_json::{Value, json};

    fn spec() -> TypedJobSpec<ShellConfig> {
        TypedJobSpec::new("shell")
    }

    /// The problems `config` has, as `path: message` pairs.
    fn problems(config: Value) -> Vec<(String, String)> {
        spec()
            .check(&config)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|ConfigError { path, message }| (path.join("."), message))
            .collect()
    }

    /// The one problem `config` has.
    fn problem(config: Value) -> (String, String) {
        let mut found = problems(config.clone());
        assert_eq!(found.len(), 1, "{config}: {found:?}");
        found.remove(0)
    }

    #[test]
    fn accepts_both_command_forms_and_optional_fields() {
        let config: ShellConfig = serde_json::from_value(json!({
            "command": ["echo", "a b"],
            "env": {"A": "1"},
            "cwd": "sub",
        }))
        .unwrap();
        assert_eq!(
            config.command,
            ShellCommand::Argv(vec!["echo".into(), "a b".into()])
        );
        assert_eq!(config.command.program_and_args(), ("echo", vec!["a b"]));
        assert_eq!(
            config.env.keys().map(EnvName::as_str).collect::<Vec<_>>(),
            ["A"]
        );
        assert_eq!(config.cwd, Some(PathBuf::from("sub")));

        let config: ShellConfig = serde_json::from_value(json!({"command": "echo hi"})).unwrap();
        assert_eq!(
            config.command.program_and_args(),
            ("sh", vec!["-c", "echo hi"])
        );
        assert!(config.env.is_empty());
        assert_eq!(config.cwd, None);
        assert_eq!(spec().check(&json!({"command": "echo hi"})), Ok(()));
    }

    #[test]
    fn check_rejects_unknown_field_with_its_name() {
        let (path, message) = problem(json!({"command": "true", "comand": "x"}));
        assert_eq!(path, "comand");
        assert!(message.contains("unknown field `comand`"), "{message}");
    }

    #[test]
    fn check_requires_command() {
        let (path, message) = problem(json!({"env": {}}));
        assert_eq!(path, "");
        assert!(message.contains("missing field `command`"), "{message}");
    }

    #[test]
    fn check_rejects_wrong_types_with_their_path() {
        let (path, message) = problem(json!({"command": 3}));
        assert_eq!(path, "command");
        assert!(
            message.contains("a command string or a non-empty list"),
            "{message}"
        );

        let (path, message) = problem(json!({"command": ["ls", 3]}));
        assert_eq!(path, "command.1");
        assert!(message.contains("expected a string"), "{message}");

        let (path, message) = problem(json!({"command": "true", "env": {"N": 3}}));
        assert_eq!(path, "env.N");
        assert!(message.contains("expected a string"), "{message}");

        let (path, _) = problem(json!({"command": "true", "cwd": ["a"]}));
        assert_eq!(path, "cwd");
    }

    #[test]
    fn check_rejects_empty_commands_at_their_field() {
        for (command, at, needle) in [
            (json!(""), "command", "an empty command"),
            (json!("  \n"), "command", "an empty command"),
            (json!([]), "command", "an empty list"),
            (json!(["", "x"]), "command.0", "an empty program"),
            (json!([" ", "x"]), "command.0", "an empty program"),
        ] {
            let (path, message) = problem(json!({ "command": command }));
            assert_eq!(path, at, "{command}: {message}");
            assert!(message.contains(needle), "{command}: {message}");
        }
        // Only the program must be non-empty: an empty argument is an argument.
        assert_eq!(spec().check(&json!({"command": ["printf", ""]})), Ok(()));
    }

    #[test]
    fn check_rejects_unusable_env_names_and_nul_characters() {
        for name in ["", "A=B", "A\0"] {
            let (path, message) = problem(json!({"command": "true", "env": {name: "v"}}));
            assert_eq!(path, format!("env.{name}"));
            assert!(message.contains("environment variable name"), "{message}");
        }
        for (config, at) in [
            (json!({"command": "echo \0"}), "command"),
            (json!({"command": ["echo", "a\0b"]}), "command.1"),
            (json!({"command": "true", "env": {"A": "x\0"}}), "env.A"),
            (json!({"command": "true", "cwd": "a\0b"}), "cwd"),
        ] {
            let (path, message) = problem(config.clone());
            assert_eq!(path, at, "{config}");
            assert!(message.contains("NUL"), "{message}");
        }
    }

    #[test]
    fn check_reports_every_problem_of_a_step() {
        let found = problems(json!({
            "command": ["", "--all"],
            "env": {"": "x", "MODE=fast": "1", "OK": "fine"},
        }));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["command.0", "env.", "env.MODE=fast"], "{found:?}");
    }

    #[test]
    fn check_skips_templated_values() {
        for config in [
            json!({"command": "{{ params.script }}"}),
            json!({"command": ["{{ params.program }}", "{{ ds }}"]}),
            json!({"command": "true", "env": {"DAY": "{{ ds }}"}, "cwd": "{{ params.dir }}"}),
        ] {
            assert_eq!(spec().check(&config), Ok(()), "{config}");
        }
    }

    #[test]
    fn schema_documents_every_field() {
        let schema = schemars::schema_for!(ShellConfig);
        let props = schema
            .get("properties")
            .and_then(|p| p.as_object())
            .unwrap();
        assert_eq!(props.keys().collect::<Vec<_>>(), ["command", "env", "cwd"]);
        for (name, prop) in props {
            let description = prop
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("");
            assert!(!description.is_empty(), "{name} has no description");
        }
        assert_eq!(schema.get("required"), Some(&json!(["command"])));
        assert_eq!(schema.get("additionalProperties"), Some(&json!(false)));
        assert_eq!(spec().field_names(), ["command", "env", "cwd"]);
    }
}
