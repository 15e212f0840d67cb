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

/// What a catalog setting names. Pure: the target setting's offline check and
/// [`catalog_url`] share it, so a setting that passes the check is one that can be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CatalogForm {
    /// `postgres://…` / `postgresql://…`.
    Postgres,
    /// `sqlite:…`.
    SqliteUrl,
    /// A path to a SQLite file.
    SqlitePath,
}

/// Sorts a catalog setting: `sqlite:…`, `postgres://…` / `postgresql://…`, or a plain file
/// path; any other URL (or nothing) is refused with the reason.
pub(crate) fn catalog_form(raw: &str) -> std::result::Result<CatalogForm, String> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Ok(CatalogForm::Postgres)
    } else if raw.starts_with("sqlite:") {
        Ok(CatalogForm::SqliteUrl)
    } else if raw.contains("://") {
        Err(format!(
            "catalog URL `{raw}`: only sqlite: and postgres:// SQL catalogs are supported"
        ))
    } else if raw.trim().is_empty() {
        Err(
            "the catalog is empty: give a SQLite file path, a sqlite: URL or a postgres:// URL"
                .to_owned(),
        )
    } else {
        Ok(CatalogForm::SqlitePath)
    }
}

/// Accepts `sqlite:…`, `postgres://…` / `postgresql://…`, or a plain file path (a SQLite file,
/// created with its parent directory when missing).
pub(crate) fn catalog_url(raw: &str) -> Result<CatalogUrl> {
    match catalog_form(raw).map_err(LakehouseError::Unsupported)? {
        CatalogForm::Postgres => Ok(CatalogUrl {
            url: raw.to_owned(),
            dialect: Dialect::Postgres,
        }),
        CatalogForm::SqliteUrl => {
            let rest = raw.strip_prefix("sqlite:").unwrap_or(raw);
            // sqlx refuses to create a missing SQLite file unless asked to (`mode=rwc`).
            let url = if rest.contains('?') || rest.contains(":memory:") {
                raw.to_owned()
            } else {
                format!("{raw}?mode=rwc")
            };
            Ok(CatalogUrl {
                url,
                dialect: Dialect::Sqlite,
            })
        }
        CatalogForm::SqlitePath => {
            let path = absolute(Path::new(raw))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            Ok(CatalogUrl {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                dialect: Dialect::Sqlite,
            })
        }
    }
}

/// Checks a warehouse directory as written in a target's settings (pure): a local directory,
/// not a URL, not empty.
pub(crate) fn check_warehouse_dir(raw: &str) -> std::result::Result<(), String> {
    if raw.contains("://") {
        Err(format!(
            "warehouse `{raw}`: must be a local directory (object stores such as s3:// are not \
             supported in this build)"
        ))
    } else if raw.trim().is_empty() {
        Err("the warehouse directory is empty".to_owned())
    } else {
        Ok(())
    }
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
        assert!(matches!(
            catalog_url(""),
            Err(LakehouseError::Unsupported(ref m)) if m.contains("empty")
        ));
        assert_eq!(catalog_form("postgresql://h/db"), Ok(CatalogForm::Postgres));
        assert_eq!(catalog_form("rel/cat.db"), Ok(CatalogForm::SqlitePath));
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
        assert!(check_warehouse_dir("s3://bucket/wh").is_err());
        assert!(check_warehouse_dir(" ").is_err());
        assert!(check_warehouse_dir("data/wh").is_ok());
    }
}
