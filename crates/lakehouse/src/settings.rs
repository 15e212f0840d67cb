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

use std::path::{Path, PathBuf};

use crate::{Lakehouse, LakehouseError, Result};

/// Default catalog file, relative to the project directory.
pub const DEFAULT_CATALOG: &str = ".flowctl/catalog.db";
/// Default warehouse directory, relative to the project directory.
pub const DEFAULT_WAREHOUSE: &str = ".flowctl/warehouse";

/// A target's Iceberg settings, resolved against the project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergSettings {
    /// SQL catalog: a SQLite file path, a `sqlite:` URL or a `postgres://` URL.
    pub catalog: String,
    /// Warehouse directory (absolute).
    pub warehouse: PathBuf,
}

impl IcebergSettings {
    /// Reads the `iceberg` block of a target's settings (absent = embedded defaults).
    pub fn from_target(
        settings: &serde_json::Map<String, serde_json::Value>,
        project_dir: &Path,
    ) -> Result<Self> {
        let block = match settings.get("iceberg") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(map)) => Some(map),
            Some(other) => {
                return Err(LakehouseError::Unsupported(format!(
                    "target setting `iceberg` must be a map with `catalog` and `warehouse`, found {other}"
                )));
            }
        };
        let get = |key: &str| -> Result<Option<String>> {
            match block.and_then(|b| b.get(key)) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(LakehouseError::Unsupported(format!(
                    "target setting `iceberg.{key}` must be a string, found {other}"
                ))),
            }
        };
        let catalog = get("catalog")?.unwrap_or_else(|| DEFAULT_CATALOG.to_string());
        let catalog = if catalog.contains("://") || catalog.starts_with("sqlite:") {
            catalog
        } else {
            project_dir.join(catalog).display().to_string()
        };
        let warehouse =
            project_dir.join(get("warehouse")?.unwrap_or_else(|| DEFAULT_WAREHOUSE.to_string()));
        Ok(Self { catalog, warehouse })
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

    #[test]
    fn defaults_live_under_the_project() {
        let s = IcebergSettings::from_target(&serde_json::Map::new(), Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "/p/.flowctl/catalog.db");
        assert_eq!(s.warehouse, PathBuf::from("/p/.flowctl/warehouse"));
        let custom: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"iceberg": {"catalog": "postgres://u@h/db", "warehouse": "/data/wh"}}"#,
        )
        .unwrap();
        let s = IcebergSettings::from_target(&custom, Path::new("/p")).unwrap();
        assert_eq!(s.catalog, "postgres://u@h/db");
        assert_eq!(s.warehouse, PathBuf::from("/data/wh"));
        let bad: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"iceberg": {"catalog": 3}}"#).unwrap();
        assert!(IcebergSettings::from_target(&bad, Path::new("/p")).is_err());
    }
}
