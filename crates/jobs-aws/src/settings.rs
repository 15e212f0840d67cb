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
//! logged. These keys sit at the target's top level: [`AwsSettings`] is a
//! [`TargetSection`] with [`SectionPlace::TopLevel`], registered by [`crate::register`], so
//! the project loader checks them (a typo, a bad value) when `flowctl.yaml` is read, and jobs
//! read them with `ctx.target.section::<AwsSettings>()`. Other keys of the target (`kafka`,
//! `iceberg`, ...) belong to other plugins' sections.

use std::marker::PhantomData;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use flowctl_engine::job::JobError;
use flowctl_model::catalog::Problems;
use flowctl_model::target::{SectionPlace, TargetKind, TargetSection};
use schemars::JsonSchema;
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::fields::{bucket_name, not_blank, s3_location};

/// Default `scripts_prefix`.
pub const DEFAULT_SCRIPTS_PREFIX: &str = "glue/";
/// Default Athena data catalog.
pub const DEFAULT_ATHENA_CATALOG: &str = "AwsDataCatalog";

/// Where an `aws` target's jobs run: the AWS keys of the target in `flowctl.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// AWS region, e.g. `eu-west-1` (default: the SDK's chain decides: `AWS_REGION`, the
    /// profile).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of every AWS service, an `http://` or `https://` URL (moto, LocalStack; S3 then
    /// uses path-style addressing). Default: AWS.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Bucket (its name, not an s3:// URL) that local Glue scripts and `s3_upload` files are
    /// uploaded to.
    #[serde(default)]
    pub scripts_bucket: Option<String>,
    /// Key prefix of uploaded Glue scripts (default `glue/`; a missing final `/` is added).
    #[serde(default)]
    pub scripts_prefix: Option<String>,
    /// Athena defaults of `athena_query` steps.
    #[serde(default, deserialize_with = "null_as_default")]
    pub athena: AthenaSettings,
    /// Glue catalog database names of the medallion layers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub databases: Databases,
}

/// The `athena:` block of an aws target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AthenaSettings {
    /// Athena workgroup (default: Athena's, `primary`).
    #[serde(default)]
    pub workgroup: Option<String>,
    /// `s3://bucket/prefix/` where query results are written (default: the workgroup's).
    #[serde(default)]
    pub output_location: Option<String>,
    /// Data catalog (default `AwsDataCatalog`, the Glue catalog).
    #[serde(default)]
    pub catalog: Option<String>,
    /// Default database of `athena_query` steps.
    #[serde(default)]
    pub database: Option<String>,
}

impl AthenaSettings {
    /// The data catalog: the one set, else `AwsDataCatalog`.
    pub fn catalog(&self) -> &str {
        self.catalog.as_deref().unwrap_or(DEFAULT_ATHENA_CATALOG)
    }
}

/// The `databases:` block: Glue catalog database of each layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Databases {
    /// Bronze database name.
    #[serde(default)]
    pub bronze: Option<String>,
    /// Silver database name.
    #[serde(default)]
    pub silver: Option<String>,
    /// Gold database name.
    #[serde(default)]
    pub gold: Option<String>,
}

impl Databases {
    /// The database of a medallion namespace (`bronze`, `silver`, `gold`), when set.
    pub fn of_layer(&self, namespace: &str) -> Option<&str> {
        match namespace {
            "bronze" => self.bronze.as_deref(),
            "silver" => self.silver.as_deref(),
            "gold" => self.gold.as_deref(),
            _ => None,
        }
    }
}

/// A block of settings: a map, or nothing (`athena:` with nothing under it, YAML null) for
/// its defaults. Not a list (serde would read a struct from one, field by field).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct Block<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for Block<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_some<D2: Deserializer<'de>>(self, deserializer: D2) -> Result<T, D2::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_option(Block(PhantomData))
}

impl TargetSection for AwsSettings {
    const PLACE: SectionPlace = SectionPlace::TopLevel;
    const KINDS: &'static [TargetKind] = &[TargetKind::Aws];

    fn check(&self, problems: &mut Problems) {
        let mut check =
            |path: &[&str], value: &Option<String>, rule: fn(&str) -> Result<(), String>| {
                if let Some(value) = value
                    && let Err(message) = not_blank(value).and_then(|()| rule(value))
                {
                    problems.at(path.iter().copied(), message);
                }
            };
        check(&["region"], &self.region, region);
        check(&["endpoint_url"], &self.endpoint_url, endpoint_url);
        check(&["scripts_bucket"], &self.scripts_bucket, bucket_name);
        check(&["scripts_prefix"], &self.scripts_prefix, |_| Ok(()));
        let athena = &self.athena;
        check(&["athena", "workgroup"], &athena.workgroup, workgroup_name);
        check(
            &["athena", "output_location"],
            &athena.output_location,
            s3_location,
        );
        check(&["athena", "catalog"], &athena.catalog, |_| Ok(()));
        check(&["athena", "database"], &athena.database, |_| Ok(()));
        let dbs = &self.databases;
        check(&["databases", "bronze"], &dbs.bronze, |_| Ok(()));
        check(&["databases", "silver"], &dbs.silver, |_| Ok(()));
        check(&["databases", "gold"], &dbs.gold, |_| Ok(()));
    }
}

/// AWS region names are lower case (`eu-west-1`): another spelling signs requests for a
/// region that does not exist.
fn region(value: &str) -> Result<(), String> {
    if value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not an AWS region name (lower case, like `eu-west-1`)"
        ))
    }
}

fn endpoint_url(value: &str) -> Result<(), String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "must be an http:// or https:// URL, found `{value}`"
        ))
    }
}

/// Athena workgroup names: 1 to 128 letters, digits, `.`, `_` and `-`.
pub(crate) fn workgroup_name(value: &str) -> Result<(), String> {
    let valid = value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not an Athena workgroup name (up to 128 letters, digits, `.`, `_`, `-`)"
        ))
    }
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

impl AwsSettings {
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

    /// The key prefix of uploaded scripts: `scripts_prefix` ending with `/` (unless empty),
    /// else `glue/`.
    pub fn scripts_prefix(&self) -> String {
        self.scripts_prefix
            .as_deref()
            .map_or_else(|| DEFAULT_SCRIPTS_PREFIX.to_owned(), normalize_prefix)
    }

    /// The S3 key a local Glue script `file_name` is uploaded to.
    pub fn script_key(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.scripts_prefix())
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
    use flowctl_model::target::read_section;
    use serde_json::{Map, Value, json};

    fn read(v: Value) -> Result<AwsSettings, String> {
        read_section::<AwsSettings>(v.as_object().unwrap())
    }

    #[test]
    fn reads_every_setting_and_ignores_other_sections() {
        let s = read(json!({
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:5000",
            "scripts_bucket": "scripts",
            "scripts_prefix": "jobs",
            "athena": {"workgroup": "wg", "output_location": "s3://res/", "database": "gold"},
            "databases": {"bronze": "b", "silver": "s", "gold": "g"},
            "kafka": {"bootstrap": "embedded"},
        }))
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.scripts_prefix(), "jobs/");
        assert_eq!(s.script_key("bronze.py"), "jobs/bronze.py");
        assert_eq!(s.athena.workgroup.as_deref(), Some("wg"));
        assert_eq!(s.athena.catalog(), DEFAULT_ATHENA_CATALOG);
        assert_eq!(s.athena.database.as_deref(), Some("gold"));
        assert_eq!(s.databases.of_layer("silver"), Some("s"));
        assert_eq!(s.databases.of_layer("raw"), None);
    }

    #[test]
    fn defaults_when_absent() {
        let s = read_section::<AwsSettings>(&Map::new()).unwrap();
        assert_eq!(s, AwsSettings::default());
        assert_eq!(s.scripts_prefix(), "glue/");
        assert_eq!(
            read(json!({"athena": null})).unwrap(),
            AwsSettings::default()
        );
        assert_eq!(
            read(json!({"scripts_prefix": "/"}))
                .unwrap()
                .scripts_prefix(),
            ""
        );
    }

    #[test]
    fn every_bad_setting_is_reported_at_its_path() {
        let err = read(json!({
            "region": "EU-West-1",
            "endpoint_url": "localhost:5000",
            "scripts_bucket": "s3://acme-scripts/glue/",
            "athena": {"output_location": "/tmp", "workgroup": "my workgroup", "database": " "},
            "databases": {"gold": ""},
        }))
        .unwrap_err();
        let shown: Vec<&str> = err.split("; ").collect();
        assert_eq!(shown.len(), 7, "{err}");
        for expected in [
            "`region`: `EU-West-1` is not an AWS region name",
            "`endpoint_url`: must be an http:// or https:// URL, found `localhost:5000`",
            "`scripts_bucket`: give the bucket's name (`acme-scripts`), not an s3:// URL",
            "`athena.workgroup`: `my workgroup` is not an Athena workgroup name",
            "`athena.output_location`: must be an s3://bucket/prefix/ URL, found `/tmp`",
            "`athena.database`: is empty",
            "`databases.gold`: is empty",
        ] {
            assert!(
                shown.iter().any(|s| s.starts_with(expected)),
                "{expected}: {err}"
            );
        }
    }

    #[test]
    fn serde_rejects_unknown_keys_and_wrong_types() {
        let typo = read(json!({"athena": {"workgrup": "x"}})).unwrap_err();
        assert!(
            typo.contains("`athena.workgrup`") || typo.contains("unknown field `workgrup`"),
            "{typo}"
        );
        let number = read(json!({"region": 5})).unwrap_err();
        assert!(number.starts_with("`region`: invalid type"), "{number}");
        let list = read(json!({"databases": ["b"]})).unwrap_err();
        assert_eq!(list, "`databases`: invalid type: sequence, expected a map");
        let nested = read(json!({"athena": {"catalog": 1}})).unwrap_err();
        assert!(
            nested.starts_with("`athena.catalog`: invalid type"),
            "{nested}"
        );
    }

    #[tokio::test]
    async fn settings_override_region_and_endpoint() {
        let s =
            read(json!({"region": "ap-south-1", "endpoint_url": "http://127.0.0.1:1"})).unwrap();
        let sdk = s.sdk_config().await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-south-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:1"));
    }
}
