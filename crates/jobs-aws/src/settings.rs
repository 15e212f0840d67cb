//! The settings of an `aws` target in `flowctl.yaml`, and the SDK clients made from them:
//!
//! ```yaml
//! targets:
//!   aws:
//!     kind: aws
//!     region: eu-west-1                 # optional: else the SDK's chain (AWS_REGION, profile)
//!     endpoint_url: http://127.0.0.1:5000   # optional: moto / LocalStack
//!     scripts_bucket: acme-glue-scripts # where local Glue scripts are uploaded
//!     scripts_prefix: glue/             # default `glue/`
//!     athena:
//!       workgroup: lakehouse            # default: the SDK's (`primary`)
//!       output_location: s3://acme-athena-results/
//!       catalog: AwsDataCatalog         # default
//!       database: gold                  # default database of `athena_query` steps
//!     databases: { bronze: acme_bronze, silver: acme_silver, gold: acme_gold }
//! ```
//!
//! Credentials always come from the SDK's standard chain (environment, profile, SSO, web
//! identity, container or instance role): they have no place in this file and are never
//! logged. Other keys of the target (`kafka`, `iceberg`, ...) belong to other plugins and are
//! ignored here; unknown keys inside `athena` and `databases` are errors.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use flowctl_engine::job::{JobError, TargetInfo};
use serde_json::{Map, Value};

/// Default `scripts_prefix`.
pub const DEFAULT_SCRIPTS_PREFIX: &str = "glue/";
/// Default Athena data catalog.
pub const DEFAULT_ATHENA_CATALOG: &str = "AwsDataCatalog";

/// Where an `aws` target's jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// AWS region; `None` = the SDK's chain decides (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Endpoint override for every service (moto, LocalStack); `None` = AWS.
    pub endpoint_url: Option<String>,
    /// Bucket that local Glue scripts are uploaded to.
    pub scripts_bucket: Option<String>,
    /// Key prefix of uploaded Glue scripts (ends with `/` unless empty).
    pub scripts_prefix: String,
    /// Athena defaults of `athena_query` steps.
    pub athena: AthenaSettings,
    /// Glue catalog database names of the medallion layers.
    pub databases: Databases,
}

/// The `athena:` block of an aws target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaSettings {
    /// Athena workgroup; `None` = Athena's default (`primary`).
    pub workgroup: Option<String>,
    /// `s3://bucket/prefix/` where query results are written; `None` = the workgroup's.
    pub output_location: Option<String>,
    /// Data catalog (default `AwsDataCatalog`, the Glue catalog).
    pub catalog: String,
    /// Default database of queries.
    pub database: Option<String>,
}

impl Default for AthenaSettings {
    fn default() -> Self {
        Self {
            workgroup: None,
            output_location: None,
            catalog: DEFAULT_ATHENA_CATALOG.to_owned(),
            database: None,
        }
    }
}

/// The `databases:` block: Glue catalog database of each layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Databases {
    /// Bronze database name.
    pub bronze: Option<String>,
    /// Silver database name.
    pub silver: Option<String>,
    /// Gold database name.
    pub gold: Option<String>,
}

/// The three service clients of a target, sharing one loaded SDK configuration.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// AWS Glue.
    pub glue: aws_sdk_glue::Client,
    /// Amazon Athena.
    pub athena: aws_sdk_athena::Client,
    /// Amazon S3 (path-style addressing when an endpoint is set).
    pub s3: aws_sdk_s3::Client,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            scripts_bucket: None,
            scripts_prefix: DEFAULT_SCRIPTS_PREFIX.to_owned(),
            athena: AthenaSettings::default(),
            databases: Databases::default(),
        }
    }
}

impl AwsSettings {
    /// Reads the aws settings of `target` (see the module docs). Errors are fatal: they name
    /// the setting and say what it should be.
    pub fn from_target(target: &TargetInfo) -> Result<Self, JobError> {
        Self::from_map(&target.settings)
            .map_err(|e| JobError::fatal(format!("target `{}` in flowctl.yaml: {e}", target.name)))
    }

    /// [`AwsSettings::from_target`] over a settings map.
    pub fn from_map(settings: &Map<String, Value>) -> Result<Self, String> {
        let mut out = Self {
            region: opt_string(settings, "region")?,
            endpoint_url: opt_string(settings, "endpoint_url")?,
            scripts_bucket: opt_string(settings, "scripts_bucket")?,
            ..Self::default()
        };
        if let Some(prefix) = opt_string(settings, "scripts_prefix")? {
            out.scripts_prefix = normalize_prefix(&prefix);
        }
        if let Some(endpoint) = &out.endpoint_url
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!(
                "`endpoint_url` must be an http:// or https:// URL, found `{endpoint}`"
            ));
        }
        if let Some(athena) = block(
            settings,
            "athena",
            &["workgroup", "output_location", "catalog", "database"],
        )? {
            out.athena.workgroup =
                opt_string(athena, "workgroup").map_err(|e| format!("athena.{e}"))?;
            out.athena.output_location =
                opt_string(athena, "output_location").map_err(|e| format!("athena.{e}"))?;
            if let Some(location) = &out.athena.output_location
                && !location.starts_with("s3://")
            {
                return Err(format!(
                    "`athena.output_location` must be an s3://bucket/prefix/ URL, found `{location}`"
                ));
            }
            if let Some(catalog) =
                opt_string(athena, "catalog").map_err(|e| format!("athena.{e}"))?
            {
                out.athena.catalog = catalog;
            }
            out.athena.database =
                opt_string(athena, "database").map_err(|e| format!("athena.{e}"))?;
        }
        if let Some(dbs) = block(settings, "databases", &["bronze", "silver", "gold"])? {
            out.databases.bronze =
                opt_string(dbs, "bronze").map_err(|e| format!("databases.{e}"))?;
            out.databases.silver =
                opt_string(dbs, "silver").map_err(|e| format!("databases.{e}"))?;
            out.databases.gold = opt_string(dbs, "gold").map_err(|e| format!("databases.{e}"))?;
        }
        Ok(out)
    }

    /// The SDK configuration: the standard credential and region chain, with this target's
    /// region and endpoint taking precedence, over a rustls (ring) HTTPS client.
    pub async fn sdk_config(&self) -> SdkConfig {
        // One TLS stack for the whole binary: the SDK's default client would bring aws-lc.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint.clone());
        }
        loader.load().await
    }

    /// A Glue client for `sdk` (from [`AwsSettings::sdk_config`]).
    pub fn glue(&self, sdk: &SdkConfig) -> aws_sdk_glue::Client {
        aws_sdk_glue::Client::new(sdk)
    }

    /// An Athena client for `sdk`.
    pub fn athena(&self, sdk: &SdkConfig) -> aws_sdk_athena::Client {
        aws_sdk_athena::Client::new(sdk)
    }

    /// An S3 client for `sdk`; path-style addressing when an endpoint is set, since moto and
    /// LocalStack do not serve `bucket.host` names.
    pub fn s3(&self, sdk: &SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Loads the SDK configuration once and builds the three clients. Fails (fatally) when no
    /// region is known, with how to set one.
    pub async fn clients(&self) -> Result<AwsClients, JobError> {
        let sdk = self.sdk_config().await;
        if sdk.region().is_none() {
            return Err(JobError::fatal(
                "no AWS region: set `region` in the aws target of flowctl.yaml, or AWS_REGION",
            ));
        }
        Ok(AwsClients {
            glue: self.glue(&sdk),
            athena: self.athena(&sdk),
            s3: self.s3(&sdk),
        })
    }

    /// The S3 key a local Glue script `file_name` is uploaded to.
    pub fn script_key(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.scripts_prefix)
    }
}

/// A string setting, absent or null = `None`; anything else but a non-empty string is an error.
fn opt_string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(Value::String(_)) => Err(format!("`{key}` is empty: remove it or give a value")),
        Some(other) => Err(format!("`{key}` must be a string, found {other}")),
    }
}

/// A nested map setting whose keys must be among `known`.
fn block<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    known: &[&str],
) -> Result<Option<&'a Map<String, Value>>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => {
            if let Some(unknown) = inner.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(format!(
                    "unknown setting `{key}.{unknown}` (expected one of: {})",
                    known.join(", ")
                ));
            }
            Ok(Some(inner))
        }
        Some(other) => Err(format!(
            "`{key}` must be a map with {}, found {other}",
            known.join(", ")
        )),
    }
}

/// `glue` → `glue/`; an empty prefix stays empty (keys at the bucket's root).
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn reads_every_setting() {
        let s = AwsSettings::from_map(&map(json!({
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:5000",
            "scripts_bucket": "scripts",
            "scripts_prefix": "jobs",
            "athena": {"workgroup": "wg", "output_location": "s3://res/", "database": "gold"},
            "databases": {"bronze": "b", "silver": "s", "gold": "g"},
            "kafka": {"bootstrap": "embedded"},
        })))
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.scripts_prefix, "jobs/");
        assert_eq!(s.script_key("bronze.py"), "jobs/bronze.py");
        assert_eq!(s.athena.workgroup.as_deref(), Some("wg"));
        assert_eq!(s.athena.catalog, DEFAULT_ATHENA_CATALOG);
        assert_eq!(s.athena.database.as_deref(), Some("gold"));
        assert_eq!(s.databases.silver.as_deref(), Some("s"));
    }

    #[test]
    fn defaults_when_absent() {
        let s = AwsSettings::from_map(&Map::new()).unwrap();
        assert_eq!(s, AwsSettings::default());
        assert_eq!(s.scripts_prefix, "glue/");
    }

    #[test]
    fn rejects_bad_values_naming_the_setting() {
        let cases = [
            (json!({"region": 5}), "`region` must be a string"),
            (
                json!({"endpoint_url": "localhost:5000"}),
                "`endpoint_url` must be an http",
            ),
            (
                json!({"athena": {"workgrup": "x"}}),
                "unknown setting `athena.workgrup`",
            ),
            (
                json!({"athena": {"output_location": "/tmp"}}),
                "athena.output_location",
            ),
            (json!({"databases": ["b"]}), "`databases` must be a map"),
            (json!({"scripts_bucket": " "}), "`scripts_bucket` is empty"),
        ];
        for (settings, expected) in cases {
            let err = AwsSettings::from_map(&map(settings.clone())).unwrap_err();
            assert!(err.contains(expected), "{settings}: {err}");
        }
        let target = TargetInfo {
            name: "prod".into(),
            kind: "aws".into(),
            settings: map(json!({"region": 1})),
        };
        let err = AwsSettings::from_target(&target).unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.starts_with("target `prod` in flowctl.yaml:"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn settings_override_region_and_endpoint() {
        let s = AwsSettings::from_map(&map(json!({
            "region": "ap-south-1", "endpoint_url": "http://127.0.0.1:1"
        })))
        .unwrap();
        let sdk = s.sdk_config().await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-south-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
