//! The fields of a `shell` step. Doc comments on the fields become the JSON Schema's
//! descriptions, so they are written for DAG authors.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};

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
    /// `FLOWCTL_*` variables (so they can override both).
    #[serde(default)]
    pub env: BTreeMap<EnvName, String>,
    /// Working directory; a relative path resolves against the project directory. Default:
    /// the project directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

/// What a `shell` step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCommand {
    /// A script for `sh -c`.
    Script(String),
    /// A program and its arguments (never empty).
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
                // Deserialization rejects an empty list; an empty program fails to spawn.
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

/// Accepts a non-blank string or a non-empty list of strings whose first item is non-empty,
/// with messages that say which form was meant (serde's untagged enums cannot).
struct CommandVisitor;

impl<'de> Visitor<'de> for CommandVisitor {
    type Value = ShellCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a command string or a non-empty list of strings (program and arguments)")
    }

    fn visit_str<E: de::Error>(self, script: &str) -> Result<ShellCommand, E> {
        if script.trim().is_empty() {
            return Err(E::invalid_value(
                Unexpected::Str(script),
                &"a non-blank command",
            ));
        }
        Ok(ShellCommand::Script(script.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShellCommand, A::Error> {
        let mut argv = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(arg) = seq.next_element::<String>()? {
            argv.push(arg);
        }
        match argv.first() {
            None => Err(de::Error::invalid_length(0, &"a program and its arguments")),
            Some(program) if program.is_empty() => Err(de::Error::invalid_value(
                Unexpected::Str(program),
                &"a program name or path as the first item",
            )),
            Some(_) => Ok(ShellCommand::Argv(argv)),
        }
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

/// An environment variable name: non-empty, without `=` or NUL (the OS could not pass it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        if name.is_empty() {
            Err("an environment variable name cannot be empty".to_owned())
        } else if name.contains(['=', '\0']) {
            Err(format!(
                "invalid environment variable name {name:?}: `=` and NUL are not allowed"
            ))
        } else {
            Ok(Self(name))
        }
    }
}

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EnvName::try_from(name).map_err(de::Error::custom)
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
    use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
    use serde_json::json;

    fn spec() -> TypedJobSpec<ShellConfig> {
        TypedJobSpec::new("shell")
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
    }

    #[test]
    fn check_rejects_unknown_field_with_its_name() {
        let err = spec()
            .check(&json!({"command": "true", "comand": "x"}))
            .unwrap_err();
        assert_eq!(err.path, ["comand"]);
        assert!(
            err.message.contains("unknown field `comand`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn check_requires_command() {
        let err = spec().check(&json!({"env": {}})).unwrap_err();
        assert!(err.path.is_empty(), "{:?}", err.path);
        assert!(
            err.message.contains("missing field `command`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn check_rejects_wrong_types_with_their_path() {
        let err = spec().check(&json!({"command": 3})).unwrap_err();
        assert_eq!(err.path, ["command"]);
        assert!(
            err.message.contains("a command string or a non-empty list"),
            "{}",
            err.message
        );

        let err = spec().check(&json!({"command": ["ls", 3]})).unwrap_err();
        assert_eq!(err.path, ["command", "1"]);
        assert!(err.message.contains("expected a string"), "{}", err.message);

        let err = spec()
            .check(&json!({"command": "true", "env": {"N": 3}}))
            .unwrap_err();
        assert_eq!(err.path, ["env", "N"]);
        assert!(err.message.contains("expected a string"), "{}", err.message);

        let err = spec()
            .check(&json!({"command": "true", "cwd": ["a"]}))
            .unwrap_err();
        assert_eq!(err.path, ["cwd"]);
    }

    #[test]
    fn check_rejects_empty_commands() {
        for command in [json!(""), json!("  "), json!([]), json!(["", "x"])] {
            let err = spec().check(&json!({"command": command})).unwrap_err();
            assert_eq!(err.path, ["command"], "{command}: {}", err.message);
        }
    }

    #[test]
    fn check_rejects_unusable_env_names() {
        for name in ["", "A=B"] {
            let err = spec()
                .check(&json!({"command": "true", "env": {name: "v"}}))
                .unwrap_err();
            assert!(
                err.message.contains("environment variable name"),
                "{}",
                err.message
            );
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
