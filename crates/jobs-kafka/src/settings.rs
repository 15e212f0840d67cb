//! The `kafka:` block of a target in `flowctl.yaml`:
//!
//! ```yaml
//! targets:
//!   local:
//!     kind: local
//!     kafka:
//!       bootstrap: embedded            # default; or "broker1:9092,broker2:9092"
//!       properties:                    # passed to librdkafka as they are
//!         security.protocol: SASL_SSL
//!         sasl.password: ...
//! ```

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde_json::{Map, Value};

use crate::embedded::EmbeddedBroker;
use crate::error::KafkaJobError;

/// The `bootstrap` value that selects the process-global in-process broker.
pub const EMBEDDED: &str = "embedded";

/// Which brokers a target's Kafka jobs talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The process-global in-process broker ([`EmbeddedBroker::global`]).
    Embedded,
    /// A `host:port,...` list.
    Servers(String),
}

/// A target's Kafka settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Where the brokers are.
    pub bootstrap: Bootstrap,
    /// librdkafka properties passed through (security, timeouts, ...).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap: Bootstrap::Embedded,
            properties: BTreeMap::new(),
        }
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
    /// Reads the `kafka` block of a target's settings (absent = embedded, no properties).
    pub fn from_target(settings: &Map<String, Value>) -> Result<Self, KafkaJobError> {
        let block = match settings.get("kafka") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(KafkaJobError::Config(format!(
                    "target setting `kafka` must be a map with `bootstrap` and `properties`, found {other}"
                )));
            }
        };
        if let Some(unknown) = block
            .keys()
            .find(|k| k.as_str() != "bootstrap" && k.as_str() != "properties")
        {
            return Err(KafkaJobError::Config(format!(
                "unknown target setting `kafka.{unknown}` (expected `bootstrap`, `properties`)"
            )));
        }
        let bootstrap = match block.get("bootstrap") {
            None | Some(Value::Null) => Bootstrap::Embedded,
            Some(Value::String(s)) if s.trim() == EMBEDDED => Bootstrap::Embedded,
            Some(Value::String(s)) if !s.trim().is_empty() => Bootstrap::Servers(s.trim().into()),
            Some(other) => {
                return Err(KafkaJobError::Config(format!(
                    "target setting `kafka.bootstrap` must be `embedded` or `host:port,...`, found {other}"
                )));
            }
        };
        let mut properties = BTreeMap::new();
        match block.get("properties") {
            None | Some(Value::Null) => {}
            Some(Value::Object(props)) => {
                for (key, value) in props {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            return Err(KafkaJobError::Config(format!(
                                "target setting `kafka.properties.{key}` must be a string, number or boolean"
                            )));
                        }
                    };
                    properties.insert(key.clone(), text);
                }
            }
            Some(_) => {
                return Err(KafkaJobError::Config(
                    "target setting `kafka.properties` must be a map of librdkafka properties"
                        .into(),
                ));
            }
        }
        Ok(Self {
            bootstrap,
            properties,
        })
    }

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
            properties: self.properties.clone(),
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
    use serde_json::json;

    fn settings(value: Value) -> Result<KafkaSettings, KafkaJobError> {
        let Value::Object(map) = value else {
            panic!("not a map")
        };
        KafkaSettings::from_target(&map)
    }

    #[test]
    fn absent_block_means_embedded() {
        assert_eq!(settings(json!({})).unwrap(), KafkaSettings::default());
        let s = settings(json!({"kafka": {"bootstrap": "embedded"}})).unwrap();
        assert_eq!(s.bootstrap, Bootstrap::Embedded);
    }

    #[test]
    fn servers_and_properties_are_read_and_secrets_redacted() {
        let s = settings(json!({"kafka": {
            "bootstrap": "b1:9092,b2:9092",
            "properties": {"security.protocol": "SASL_SSL", "sasl.password": "hunter2",
                           "fetch.wait.max.ms": 50, "oauth.token": "t0k"}
        }}))
        .unwrap();
        assert_eq!(s.bootstrap, Bootstrap::Servers("b1:9092,b2:9092".into()));
        assert_eq!(s.properties["fetch.wait.max.ms"], "50");
        let conn = s.connect().unwrap();
        let shown = conn.describe_properties();
        assert!(
            !shown.contains("hunter2") && !shown.contains("t0k"),
            "{shown}"
        );
        assert!(shown.contains("security.protocol=SASL_SSL"), "{shown}");
        let config = conn.client_config(&[("fetch.wait.max.ms", "500")]);
        assert_eq!(config.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(config.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
    }

    #[test]
    fn bad_shapes_are_config_errors() {
        for bad in [
            json!({"kafka": "b:9092"}),
            json!({"kafka": {"bootstrap": 3}}),
            json!({"kafka": {"bootstrap": ""}}),
            json!({"kafka": {"properties": ["x"]}}),
            json!({"kafka": {"properties": {"a": {"b": 1}}}}),
            json!({"kafka": {"brokers": "x"}}),
        ] {
            assert!(settings(bad.clone()).is_err(), "{bad}");
        }
    }
}
