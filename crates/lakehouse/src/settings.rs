//! Where a target's Iceberg catalog and warehouse are: the `iceberg:` block of a target in
//! `flowctl.yaml`, with embedded defaults under the project's `.flowctl/` directory.
//!
//! ```yaml
//! targets:
//!   local:
//!     kind: local
//!     iceberg:
//!       catalog: .flowctl/catalog.db     # a SQLite path, sqlite: URL or postgres:// URL
//!       warehouse: .flowctl/warehouse    # a directory
//! ```
//!
//! The block is a typed target section, [`IcebergTarget`]: the project file is checked against
//! it when it is read (an unknown key, a `mysql://` catalog or an `s3://` warehouse is an error
//! at its line), and a job reads it with `ctx.target.section::<IcebergTarget>()?` and
//! [`IcebergTarget::resolve`]s it against the project directory into [`IcebergSettings`].

use std::path::{Path, PathBuf};

use flowctl_model::catalog::Problems;
use flowctl_model::target::{SectionPlace, TargetKind, TargetSection, read_section};

use crate::location::{CatalogForm, catalog_form, check_warehouse_dir};
use crate::{Lakehouse, LakehouseError, Result};

/// Default catalog file, relative to the project directory.
pub const DEFAULT_CATALOG: &str = ".flowctl/catalog.db";
/// Default warehouse directory, relative to the project directory.
pub const DEFAULT_WAREHOUSE: &str = ".flowctl/warehouse";

/// Where a target's Iceberg tables are (its `iceberg:` block). Both settings are optional:
/// without them a target uses a SQLite catalog and a warehouse under the project's `.flowctl/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcebergTarget {
    /// The Iceberg SQL catalog: a SQLite file path (relative to the project directory, created
    /// when missing), a `sqlite:` URL or a `postgres://` URL. Default: `.flowctl/catalog.db`.
    #[serde(default)]
    pub catalog: Option<String>,
    /// The warehouse: a local directory holding the tables' data and metadata files (relative
    /// to the project directory, created when missing). Default: `.flowctl/warehouse`.
    #[serde(default)]
    pub warehouse: Option<String>,
}

impl TargetSection for IcebergTarget {
    const PLACE: SectionPlace = SectionPlace::Block("iceberg");
    const KINDS: &'static [TargetKind] = &TargetKind::ALL;

    fn check(&self, problems: &mut Problems) {
        if let Some(catalog) = &self.catalog
            && let Err(reason) = catalog_form(catalog)
        {
            problems.field("catalog", reason);
        }
        if let Some(warehouse) = &self.warehouse
            && let Err(reason) = check_warehouse_dir(warehouse)
        {
            problems.field("warehouse", reason);
        }
    }
}

impl IcebergTarget {
    /// These settings with the defaults filled in and paths resolved against `project_dir`
    /// (URLs are kept as written).
    pub fn resolve(&self, project_dir: &Path) -> IcebergSettings {
        let catalog = self.catalog.as_deref().unwrap_or(DEFAULT_CATALOG);
        let catalog = match catalog_form(catalog) {
            Ok(CatalogForm::SqlitePath) => project_dir.join(catalog).display().to_string(),
            // A URL, or a setting the section's check refuses (opening reports it again).
            _ => catalog.to_owned(),
        };
        let warehouse = project_dir.join(self.warehouse.as_deref().unwrap_or(DEFAULT_WAREHOUSE));
        IcebergSettings { catalog, warehouse }
    }
}

/// A target's Iceberg settings, resolved against the project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergSettings {
    /// SQL catalog: a SQLite file path, a `sqlite:` URL or a `postgres://` URL.
    pub catalog: String,
    /// Warehouse directory (absolute).
    pub warehouse: PathBuf,
}

impl IcebergSettings {
    /// Reads and resolves the `iceberg` block of a target's settings (absent = the embedded
    /// defaults), for code holding the raw settings map (the CLI). Jobs read the section with
    /// `ctx.target.section::<IcebergTarget>()` and [`IcebergTarget::resolve`] it.
    pub fn from_target(
        settings: &serde_json::Map<String, serde_json::Value>,
        project_dir: &Path,
    ) -> Result<Self> {
        let section: IcebergTarget =
            read_section(settings).map_err(LakehouseError::InvalidSettings)?;
        Ok(section.resolve(project_dir))
    }

    /// Opens the lakehouse these settings name (creating the catalog and warehouse if needed).
    pub async fn open(&self) -> Result<Lakehouse> {
        std::fs::create_dir_all(&self.warehouse)?;
        Lakehouse::open(&self.catalog, &self.warehouse).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::catalog::ConfigError;
    use serde_json::json;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn problems(section: &IcebergTarget) -> Vec<ConfigError> {
        let mut problems = Problems::new();
        section.check(&mut problems);
        problems.into_vec()
    }

    #[test]
    fn defaults_live_under_the_project() {
        let s = IcebergSettings::from_target(&serde_json::Map::new(), Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "/p/.flowctl/catalog.db");
        assert_eq!(s.warehouse, PathBuf::from("/p/.flowctl/warehouse"));
        let custom =
            map(json!({"iceberg": {"catalog": "postgres://u@h/db", "warehouse": "/data/wh"}}));
        let s = IcebergSettings::from_target(&custom, Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "postgres://u@h/db");
        assert_eq!(s.warehouse, PathBuf::from("/data/wh"));
        let relative = map(json!({"iceberg": {"catalog": "lake/cat.db", "warehouse": "lake/wh"}}));
        let s = IcebergSettings::from_target(&relative, Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "/p/lake/cat.db");
        assert_eq!(s.warehouse, PathBuf::from("/p/lake/wh"));
        let sqlite = map(json!({"iceberg": {"catalog": "sqlite:///tmp/c.db"}}));
        let s = IcebergSettings::from_target(&sqlite, Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "sqlite:///tmp/c.db");
    }

    #[test]
    fn the_block_is_typed_and_every_problem_is_reported_at_its_setting() {
        let bad =
            IcebergSettings::from_target(&map(json!({"iceberg": {"catalog": 3}})), Path::new("/p"));
        let err = bad.unwrap_err();
        assert!(matches!(err, LakehouseError::InvalidSettings(_)), "{err}");
        assert!(err.to_string().contains("`iceberg.catalog`"), "{err}");
        assert!(!err.is_retryable());
        let typo = IcebergSettings::from_target(
            &map(json!({"iceberg": {"catalgo": "x.db"}})),
            Path::new("/p"),
        );
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `catalgo`")
        );

        let both = IcebergTarget {
            catalog: Some("mysql://h/db".into()),
            warehouse: Some("s3://bucket/wh".into()),
        };
        let found = problems(&both);
        let paths: Vec<Vec<String>> = found.iter().map(|e| e.path.clone()).collect();
        assert_eq!(
            paths,
            [vec!["catalog".to_owned()], vec!["warehouse".to_owned()]]
        );
        assert!(
            found[0].message.contains("only sqlite: and postgres://"),
            "{found:?}"
        );
        assert!(found[1].message.contains("local directory"), "{found:?}");
        let empty = IcebergTarget {
            catalog: Some(String::new()),
            warehouse: Some(String::new()),
        };
        assert_eq!(problems(&empty).len(), 2);
        assert!(problems(&IcebergTarget::default()).is_empty());
        let fine = IcebergTarget {
            catalog: Some("postgresql://u@h:5432/lake".into()),
            warehouse: Some("/data/wh".into()),
        };
        assert!(problems(&fine).is_empty());
    }

    #[test]
    fn the_section_is_the_iceberg_block_of_every_target_kind() {
        assert_eq!(IcebergTarget::PLACE, SectionPlace::Block("iceberg"));
        assert_eq!(IcebergTarget::KINDS, TargetKind::ALL);
        let mut catalog = flowctl_model::target::SectionCatalog::new();
        catalog.add::<IcebergTarget>();
        for kind in TargetKind::ALL {
            assert!(catalog.keys_for(kind).contains_key("iceberg"), "{kind}");
        }
    }
}
