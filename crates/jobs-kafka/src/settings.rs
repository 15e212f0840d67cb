//! The `kafka:` block of a target in `flowctl.yaml`:
//!
//! ```yaml
//! targets:
//!   local:
//!     kind: local
//!     kafka:
//!       bootstrap: embedded            # default; or "broker1:9092,broker2:9092"
//!       properties:                    # passed to librdkafka as they are
//!         security.protocol: SASL_PLAINTEXT
//!         sasl.mechanisms: PLAIN
//!         sasl.username: flowctl
//!         sasl.password: ...
//! ```
//!
//! The block is a typed target section, [`KafkaSettings`]: the project file is checked against
//! it when it is read (an unknown key, a blank or malformed `bootstrap` list, a property
//! librdkafka does not know or a value it refuses is an error at its line, with secret values
//! never shown), and a job reads it with `ctx.target.section::<KafkaSettings>()?`.
//!
//! One property is not the target's to choose: `kafka_to_iceberg` always reads with
//! `auto.offset.reset=error` (an offset the broker no longer has is a gap it reports, see
//! `on_gap`, never a silent jump), and says so in the attempt's log when the block sets
//! another value.
//!
//! Properties are checked by the linked librdkafka itself: one it was built without (the
//! workspace builds rdkafka without its `ssl` feature, so `SSL`, `SASL_SSL` and the `ssl.*`
//! settings) is refused when the project file is read, as creating a client would refuse it
//! at run time.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use flowctl_model::catalog::Problems;
use flowctl_model::target::{SectionPlace, TargetKind, TargetSection};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::embedded::EmbeddedBroker;
use crate::error::KafkaJobError;

/// The `bootstrap` value that selects the process-global in-process broker.
pub const EMBEDDED: &str = "embedded";

/// Properties the offline check does not hand to librdkafka: setting them loads code.
const NOT_CHECKED_OFFLINE: &[&str] = &["plugin.library.paths"];

/// Which brokers a target's Kafka jobs talk to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// The process-global in-process broker ([`EmbeddedBroker::global`]).
    #[default]
    Embedded,
    /// A `host:port,...` list (trimmed; the section's check refuses a blank or malformed one).
    Servers(String),
}

impl<'de> Deserialize<'de> for Bootstrap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(deserializer)? {
            None => Bootstrap::Embedded,
            Some(text) if text.trim() == EMBEDDED => Bootstrap::Embedded,
            Some(text) => Bootstrap::Servers(text.trim().to_owned()),
        })
    }
}

impl JsonSchema for Bootstrap {
    fn schema_name() -> Cow<'static, str> {
        "KafkaBootstrap".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "const": EMBEDDED, "description": "The in-process broker (the default)." },
                {
                    "type": "string",
                    "minLength": 1,
                    "description": "Brokers as `host:port,host:port`."
                }
            ]
        })
    }
}

/// A librdkafka property value: YAML strings, numbers and booleans are passed as their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyValue(pub String);

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = PropertyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PropertyValue, E> {
                Ok(PropertyValue(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropertyValue, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropertyValue, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropertyValue, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropertyValue, E> {
                // As serde_json writes it (`0.5`, `1e100`), which librdkafka parses.
                Ok(PropertyValue(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| v.to_string(), |n| n.to_string()),
                ))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

impl JsonSchema for PropertyValue {
    fn schema_name() -> Cow<'static, str> {
        "KafkaPropertyValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A target's Kafka settings (its `kafka:` block). Both settings are optional: without them
/// the target's Kafka jobs use the in-process broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Where the brokers are: `embedded` (the default: an in-process broker, for a laptop,
    /// CI and the demo) or a `host:port,host:port` list.
    #[serde(default)]
    pub bootstrap: Bootstrap,
    /// librdkafka client properties, passed as they are to every producer and consumer
    /// (security, timeouts, ...), overriding flowctl's defaults. Values whose key contains
    /// `password`, `secret` or `token` are never logged.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub properties: BTreeMap<String, PropertyValue>,
}

/// `properties:` with nothing under it (YAML null) is no properties.
fn null_as_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, PropertyValue>, D::Error> {
    Ok(Option::deserialize(deserializer)?.unwrap_or_default())
}

impl TargetSection for KafkaSettings {
    const PLACE: SectionPlace = SectionPlace::Block("kafka");
    const KINDS: &'static [TargetKind] = &[TargetKind::Local];

    fn check(&self, problems: &mut Problems) {
        if let Bootstrap::Servers(list) = &self.bootstrap
            && let Err(message) = check_bootstrap(list)
        {
            problems.field("bootstrap", message);
        }
        for (key, value) in &self.properties {
            if let Err(message) = check_property(key, &value.0) {
                problems.at(["properties", key.as_str()], message);
            }
        }
    }
}

/// A `host:port,...` list: no empty entry, and a port (when given) that is a number from 1
/// to 65535. Hosts (names, IPv4, `[IPv6]`) and `protocol://` prefixes are left to librdkafka.
fn check_bootstrap(list: &str) -> Result<(), String> {
    let expected = format!("expected `{EMBEDDED}` or `host:port,host:port`");
    if list.is_empty() {
        return Err(format!("an empty broker list: {expected}"));
    }
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(format!("`{list}` has an empty entry: {expected}"));
        }
        if entry.contains(char::is_whitespace) {
            return Err(format!("`{entry}` contains spaces: {expected}"));
        }
        let address = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        let port = if let Some(bracketed) = address.strip_prefix('[') {
            // `[::1]:9092`
            match bracketed.split_once(']') {
                Some((_, "")) => None,
                Some((_, rest)) => match rest.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return Err(format!("`{entry}`: {expected}")),
                },
                None => return Err(format!("`{entry}` has no closing `]`: {expected}")),
            }
        } else {
            match address.split_once(':') {
                // More than one `:`: a bare IPv6 address, librdkafka's business.
                Some((_, rest)) if rest.contains(':') => None,
                Some(("", _)) => return Err(format!("`{entry}` names no host: {expected}")),
                Some((_, port)) => Some(port),
                None => None,
            }
        };
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|p| p > 0)
        {
            return Err(format!(
                "`{entry}`: the port must be a number from 1 to 65535; {expected}"
            ));
        }
    }
    Ok(())
}

/// Whether librdkafka knows property `key` and accepts `value` for it (pure: librdkafka only
/// parses the value; nothing is connected), without showing a secret's value.
fn check_property(key: &str, value: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err("an empty property name".to_owned());
    }
    if NOT_CHECKED_OFFLINE.contains(&key) {
        return Ok(());
    }
    let mut config = ClientConfig::new();
    config.set(key, value);
    match config.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, description, _, _)) if is_secret_key(key) => {
            let reason = if description.contains("No such configuration property") {
                "not a librdkafka property"
            } else {
                "librdkafka refuses its value (not shown)"
            };
            Err(reason.to_owned())
        }
        Err(KafkaError::ClientConfig(_, description, _, _)) => {
            Err(format!("librdkafka: {description}"))
        }
        Err(other) => Err(format!("librdkafka: {other}")),
    }
}

/// A broker connection ready to build clients from: the resolved bootstrap list, and the
/// embedded broker when that is what the target uses.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `host:port,...`.
    pub bootstrap_servers: String,
    /// The in-process broker, when the target uses it.
    pub embedded: Option<&'static EmbeddedBroker>,
    /// Pass-through properties.
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// Resolves the bootstrap list, starting the embedded broker on first use.
    pub fn connect(&self) -> Result<Connection, KafkaJobError> {
        let (bootstrap_servers, embedded) = match &self.bootstrap {
            Bootstrap::Embedded => {
                let broker = EmbeddedBroker::global()?;
                (broker.bootstrap_servers().to_owned(), Some(broker))
            }
            Bootstrap::Servers(list) => (list.clone(), None),
        };
        Ok(Connection {
            bootstrap_servers,
            embedded,
            properties: self
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
        })
    }
}

impl Connection {
    /// A connection to explicit brokers (no embedded broker), e.g. a test's own cluster.
    pub fn to_servers(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            embedded: None,
            properties: BTreeMap::new(),
        }
    }

    /// A client config with the bootstrap list, then `defaults`, then the target's properties
    /// (so a user can override any default).
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// The properties as `key=value` text for logs, with secrets redacted.
    pub fn describe_properties(&self) -> String {
        self.properties
            .iter()
            .map(|(k, v)| {
                if is_secret_key(k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a property's value must never be logged.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::target::read_section;
    use serde_json::{Map, Value, json};

    fn settings(value: Value) -> Result<KafkaSettings, String> {
        let Value::Object(map) = value else {
            panic!("not a map")
        };
        read_section::<KafkaSettings>(&map)
    }

    #[test]
    fn absent_block_means_embedded() {
        assert_eq!(settings(json!({})).unwrap(), KafkaSettings::default());
        assert_eq!(
            settings(json!({"kafka": null})).unwrap(),
            KafkaSettings::default()
        );
        for bootstrap in [json!("embedded"), json!(" embedded "), Value::Null] {
            let s =
                settings(json!({"kafka": {"bootstrap": bootstrap, "properties": null}})).unwrap();
            assert_eq!(s, KafkaSettings::default(), "{bootstrap}");
        }
    }

    #[test]
    fn servers_and_properties_are_read_and_secrets_redacted() {
        let s = settings(json!({"kafka": {
            "bootstrap": " b1:9092,b2:9092 ",
            "properties": {"security.protocol": "PLAINTEXT", "sasl.password": "hunter2",
                           "fetch.wait.max.ms": 50, "enable.auto.commit": false}
        }}))
        .unwrap();
        assert_eq!(s.bootstrap, Bootstrap::Servers("b1:9092,b2:9092".into()));
        assert_eq!(s.properties["fetch.wait.max.ms"].0, "50");
        assert_eq!(s.properties["enable.auto.commit"].0, "false");
        let conn = s.connect().unwrap();
        let shown = conn.describe_properties();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("security.protocol=PLAINTEXT"), "{shown}");
        let config = conn.client_config(&[("fetch.wait.max.ms", "500")]);
        assert_eq!(config.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(config.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
    }

    #[test]
    fn bad_shapes_are_refused_at_their_setting() {
        for (bad, needle) in [
            (json!({"kafka": "b:9092"}), "kafka: invalid type: string"),
            (
                json!({"kafka": {"bootstrap": 3}}),
                "`kafka.bootstrap`: invalid type",
            ),
            (
                json!({"kafka": {"properties": ["x"]}}),
                "`kafka.properties`: invalid type",
            ),
            (
                json!({"kafka": {"properties": {"a": {"b": 1}}}}),
                "`kafka.properties.a`: invalid type: map, expected a string, number or boolean",
            ),
            (
                json!({"kafka": {"brokers": "x"}}),
                "unknown field `brokers`",
            ),
        ] {
            let err = settings(bad.clone()).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn bootstrap_lists_are_checked_offline() {
        for good in [
            "b1:9092",
            "b1:9092, b2:9093",
            "broker",
            "10.0.0.1:9092",
            "[::1]:9092",
            "SASL_SSL://b1:9094",
            "::1",
        ] {
            assert_eq!(check_bootstrap(good), Ok(()), "{good}");
        }
        for (bad, needle) in [
            ("", "an empty broker list"),
            ("b1:9092,", "an empty entry"),
            ("b1:9092,,b2:9092", "an empty entry"),
            ("b1 :9092", "contains spaces"),
            ("b1:90a2", "the port must be a number"),
            ("b1:0", "the port must be a number"),
            ("b1:70000", "the port must be a number"),
            ("b1:", "the port must be a number"),
            (":9092", "names no host"),
            ("[::1:9092", "no closing"),
        ] {
            let err = check_bootstrap(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let err = settings(json!({"kafka": {"bootstrap": "  "}})).unwrap_err();
        assert!(
            err.starts_with("`kafka.bootstrap`: an empty broker list"),
            "{err}"
        );
    }

    #[test]
    fn properties_are_checked_by_librdkafka_offline_and_secrets_never_shown() {
        let err = settings(json!({"kafka": {"properties": {
            "fetch.wait.maxx": 5,
            "fetch.wait.max.ms": "soon",
            "sasl.password": {"nested": 1},
        }}}))
        .unwrap_err();
        // A wrong type is serde's: reported alone.
        assert!(
            err.contains("`kafka.properties.sasl.password`: invalid type"),
            "{err}"
        );

        let err = settings(json!({"kafka": {
            "bootstrap": "b1:",
            "properties": {
                "fetch.wait.maxx": 5,
                "fetch.wait.max.ms": "soon",
                "sasl.mechanisms": "PLAIN",
                "": "x",
            },
        }}))
        .unwrap_err();
        let problems: Vec<&str> = err.split("; `").collect();
        assert_eq!(problems.len(), 4, "{err}");
        assert!(
            err.starts_with("`kafka.bootstrap`: `b1:`: the port"),
            "{err}"
        );
        assert!(
            err.contains("kafka.properties.`: an empty property name"),
            "{err}"
        );
        assert!(
            err.contains("kafka.properties.fetch.wait.max.ms`: librdkafka: Invalid value"),
            "{err}"
        );
        assert!(
            err.contains(
                "kafka.properties.fetch.wait.maxx`: librdkafka: No such configuration property"
            ),
            "{err}"
        );

        // librdkafka's message repeats the value: never for a secret.
        let err = check_property("ssl.key.password", "hunter2").err();
        if let Some(err) = err {
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = check_property("sasl.passwordd", "hunter2").unwrap_err();
        assert_eq!(err, "not a librdkafka property");
        let mut problems = Problems::new();
        let bad_secret = KafkaSettings {
            bootstrap: Bootstrap::Embedded,
            properties: BTreeMap::from([(
                "sasl.oauthbearer.token.endpoint.secret".to_owned(),
                PropertyValue("hunter2".to_owned()),
            )]),
        };
        bad_secret.check(&mut problems);
        assert!(
            !problems.summary().contains("hunter2"),
            "{}",
            problems.summary()
        );
        assert_eq!(
            check_property("plugin.library.paths", "/nowhere/libplugin.so"),
            Ok(()),
            "never loaded by the offline check"
        );
    }

    #[test]
    fn schema_documents_every_setting() {
        let schema = schemars::schema_for!(KafkaSettings);
        let props = schema.get("properties").and_then(Value::as_object).unwrap();
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            ["bootstrap", "properties"]
        );
        for (name, prop) in props {
            assert!(
                prop.get("description").is_some(),
                "{name} has no description"
            );
        }
        assert_eq!(schema.get("additionalProperties"), Some(&json!(false)));
        let empty: Map<String, Value> = Map::new();
        assert_eq!(
            read_section::<KafkaSettings>(&empty),
            Ok(KafkaSettings::default())
        );
    }
}
