//! Table names: `namespace.table`, with optional nested namespaces (`a.b.table`).

use std::fmt;

use iceberg::{NamespaceIdent, TableIdent};

use crate::error::{LakehouseError, Result};

/// A table's name in the catalog: a namespace (one or more levels) and a table name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    namespace: Vec<String>,
    name: String,
}

impl TableName {
    /// Builds a name from a single-level namespace and a table name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        let name = name.into();
        let shown = format!("{namespace}.{name}");
        Self::from_parts(
            namespace.split('.').map(str::to_owned).collect(),
            name,
            &shown,
        )
    }

    /// Parses `namespace.table` (or `a.b.table`): the last dot-separated part is the table.
    pub fn parse(qualified: &str) -> Result<Self> {
        let Some((namespace, name)) = qualified.rsplit_once('.') else {
            return Err(LakehouseError::InvalidName {
                name: qualified.to_owned(),
                reason: "expected `namespace.table`".to_owned(),
            });
        };
        Self::from_parts(
            namespace.split('.').map(str::to_owned).collect(),
            name.to_owned(),
            qualified,
        )
    }

    fn from_parts(namespace: Vec<String>, name: String, shown: &str) -> Result<Self> {
        let invalid = |reason: &str| LakehouseError::InvalidName {
            name: shown.to_owned(),
            reason: reason.to_owned(),
        };
        if name.trim().is_empty() {
            return Err(invalid("the table name is empty"));
        }
        if namespace.is_empty() || namespace.iter().any(|p| p.trim().is_empty()) {
            return Err(invalid("a namespace part is empty"));
        }
        // '/' would escape the table's directory under the warehouse.
        if name.contains('/') || namespace.iter().any(|p| p.contains('/')) {
            return Err(invalid("names cannot contain `/`"));
        }
        Ok(Self { namespace, name })
    }

    /// The namespace levels.
    pub fn namespace(&self) -> &[String] {
        &self.namespace
    }

    /// The namespace joined with dots, as the SQL catalog stores it.
    pub fn namespace_string(&self) -> String {
        self.namespace.join(".")
    }

    /// The table name without its namespace.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn namespace_ident(&self) -> Result<NamespaceIdent> {
        Ok(NamespaceIdent::from_vec(self.namespace.clone())?)
    }

    pub(crate) fn ident(&self) -> Result<TableIdent> {
        Ok(TableIdent::new(self.namespace_ident()?, self.name.clone()))
    }

    pub(crate) fn from_ident(ident: &TableIdent) -> Self {
        Self {
            namespace: ident.namespace().clone().inner(),
            name: ident.name().to_owned(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace.join("."), self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_namespaces_and_rejects_bad_names() {
        let t = TableName::parse("lake.bronze.orders").unwrap();
        assert_eq!(t.namespace(), ["lake", "bronze"]);
        assert_eq!(t.name(), "orders");
        assert_eq!(t.to_string(), "lake.bronze.orders");
        assert!(TableName::parse("orders").is_err());
        assert!(TableName::parse("bronze.").is_err());
        assert!(TableName::parse(".orders").is_err());
        assert!(TableName::new("bronze", "a/b").is_err());
        assert_eq!(
            TableName::new("silver", "users").unwrap().to_string(),
            "silver.users"
        );
    }
}
