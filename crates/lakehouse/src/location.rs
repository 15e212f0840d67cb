//! Turning the user's catalog and warehouse settings into what sqlx and Iceberg expect.

use std::path::{Path, PathBuf};

use crate::error::{LakehouseError, Result};

/// The catalog database flavour; decides the SQL placeholder style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A normalised catalog URL.
#[derive(Clone, Debug)]
pub(crate) struct CatalogUrl {
    pub url: String,
    pub dialect: Dialect,
}

/// Accepts `sqlite:…`, `postgres://…` / `postgresql://…`, or a plain file path (a SQLite file,
/// created with its parent directory when missing).
pub(crate) fn catalog_url(raw: &str) -> Result<CatalogUrl> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok(CatalogUrl {
            url: raw.to_owned(),
            dialect: Dialect::Postgres,
        });
    }
    if let Some(rest) = raw.strip_prefix("sqlite:") {
        // sqlx refuses to create a missing SQLite file unless asked to (`mode=rwc`).
        let url = if rest.contains('?') || rest.contains(":memory:") {
            raw.to_owned()
        } else {
            format!("{raw}?mode=rwc")
        };
        return Ok(CatalogUrl {
            url,
            dialect: Dialect::Sqlite,
        });
    }
    if raw.contains("://") {
        return Err(LakehouseError::Unsupported(format!(
            "catalog URL `{raw}`: only sqlite: and postgres:// SQL catalogs are supported"
        )));
    }
    let path = absolute(Path::new(raw))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(CatalogUrl {
        url: format!("sqlite://{}?mode=rwc", path.display()),
        dialect: Dialect::Sqlite,
    })
}

/// Turns a warehouse setting into an Iceberg location (`file:///abs/dir`), creating the directory.
///
/// Object stores (`s3://…`) are the seam for later: they need `iceberg-storage-opendal`'s
/// storage factory passed to the catalog builder instead of the local one.
pub(crate) fn warehouse_location(raw: &str) -> Result<String> {
    let path = if let Some(rest) = raw.strip_prefix("file://") {
        PathBuf::from(rest)
    } else if raw.contains("://") {
        return Err(LakehouseError::Unsupported(format!(
            "warehouse `{raw}`: only local directories are supported in this build \
             (object stores need iceberg-storage-opendal)"
        )));
    } else {
        absolute(Path::new(raw))?
    };
    std::fs::create_dir_all(&path)?;
    let path = path.canonicalize()?;
    Ok(format!("file://{}", path.display()))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_catalog_urls() {
        let pg = catalog_url("postgres://u@h/db").unwrap();
        assert_eq!(pg.dialect, Dialect::Postgres);
        assert_eq!(pg.url, "postgres://u@h/db");
        let lite = catalog_url("sqlite:///tmp/x.db").unwrap();
        assert_eq!(lite.url, "sqlite:///tmp/x.db?mode=rwc");
        assert_eq!(
            catalog_url("sqlite::memory:").unwrap().url,
            "sqlite::memory:"
        );
        assert!(catalog_url("mysql://h/db").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/catalog.db");
        let url = catalog_url(file.to_str().unwrap()).unwrap();
        assert_eq!(url.url, format!("sqlite://{}?mode=rwc", file.display()));
        assert!(file.parent().unwrap().is_dir());
    }

    #[test]
    fn warehouse_is_a_file_url_and_exists() {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        let loc = warehouse_location(wh.to_str().unwrap()).unwrap();
        assert!(loc.starts_with("file:///"));
        assert!(wh.is_dir());
        assert!(warehouse_location("s3://bucket/wh").is_err());
    }
}
