//! Offline reading of SQL text, for the pure config checks: parsing a query exactly as
//! DataFusion will (its parser, its default `generic` dialect, its recursion limit), the
//! names of a query's result columns when the select list says them, and the functions a
//! query calls. Nothing here touches a catalog: table and column existence are left to the run.

use std::ops::ControlFlow;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, Statement, Value, visit_expressions,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;

/// DataFusion's default `datafusion.sql_parser.recursion_limit`.
const RECURSION_LIMIT: usize = 50;

/// Parses `sql` as the session will: one statement (a trailing `;` is fine), which must be a
/// query (`SELECT`, `WITH`, `VALUES`, a set operation) since its result is what the step uses.
/// The error is a sentence for the field holding the text.
pub(crate) fn parse_query(sql: &str) -> Result<Box<Query>, String> {
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&GenericDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| syntax_error(&e))?;
    if statements.len() > 1 {
        return Err(format!(
            "holds {} SQL statements; give exactly one query",
            statements.len()
        ));
    }
    match statements.pop_front() {
        None => Err("holds no SQL statement".into()),
        Some(DfStatement::Statement(statement)) => match *statement {
            Statement::Query(query) => Ok(query),
            other => Err(not_a_query(&other.to_string())),
        },
        Some(other) => Err(not_a_query(&other.to_string())),
    }
}

fn not_a_query(statement: &str) -> String {
    let keyword = statement
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase();
    format!("must be a query (SELECT, WITH or VALUES), found `{keyword}`")
}

fn syntax_error(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::SQL(err, _) => match err.as_ref() {
            ParserError::TokenizerError(m) | ParserError::ParserError(m) => {
                format!("SQL syntax error: {}", with_query_position(m))
            }
            ParserError::RecursionLimitExceeded => {
                "SQL syntax error: the query nests too deeply for the parser".into()
            }
        },
        other => format!("SQL syntax error: {other}"),
    }
}

/// sqlparser's `... at Line: 3, Column: 1` as `... (line 3, column 1 of the query)`: the
/// position is in the query text, not in the DAG file.
fn with_query_position(message: &str) -> String {
    let Some((what, position)) = message.rsplit_once(" at Line: ") else {
        return message.to_owned();
    };
    match position.split_once(", Column: ") {
        Some((line, column))
            if line.bytes().all(|b| b.is_ascii_digit())
                && column.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{what} (line {line}, column {column} of the query)")
        }
        _ => message.to_owned(),
    }
}

/// What the select list says about a query's result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputColumns {
    /// Names known for sure (aliases, plain and qualified column references), as DataFusion
    /// names them (unquoted identifiers lowercased).
    pub names: Vec<String>,
    /// Whether some columns are unnamed expressions (`count(*)`, `a + b`), named by DataFusion
    /// from their text: such a name is never a plain identifier, so only names that are
    /// plain identifiers can be known to be missing.
    pub unnamed_expressions: bool,
}

impl OutputColumns {
    /// Whether a result column named `name` surely does not exist.
    pub fn surely_lacks(&self, name: &str) -> bool {
        !self.names.iter().any(|n| n == name)
            && (!self.unnamed_expressions || is_plain_identifier(name))
    }
}

/// The result columns of `query` when its select list is explicit; `None` when they cannot
/// be known offline (`*`, `t.*`, pipe syntax, `TABLE t`).
pub(crate) fn output_columns(query: &Query) -> Option<OutputColumns> {
    if !query.pipe_operators.is_empty() {
        return None;
    }
    set_expr_columns(&query.body)
}

fn set_expr_columns(body: &SetExpr) -> Option<OutputColumns> {
    match body {
        SetExpr::Select(select) => {
            let mut out = OutputColumns {
                names: Vec::new(),
                unnamed_expressions: false,
            };
            for item in &select.projection {
                match item {
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => return None,
                    SelectItem::ExprWithAlias { alias, .. } => out.names.push(normalize(alias)),
                    SelectItem::UnnamedExpr(Expr::Identifier(ident)) => {
                        out.names.push(normalize(ident));
                    }
                    // `t.col` is named `col`; a longer path may be a struct field, named
                    // after the whole expression.
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                        if let [_, col] = parts.as_slice() {
                            out.names.push(normalize(col));
                        }
                        out.unnamed_expressions = true;
                    }
                    SelectItem::UnnamedExpr(Expr::Value(v)) if v.value == Value::Null => {
                        out.names.push("NULL".into());
                    }
                    SelectItem::UnnamedExpr(_) => out.unnamed_expressions = true,
                }
            }
            Some(out)
        }
        SetExpr::Query(query) => output_columns(query),
        // A set operation's columns are its first input's.
        SetExpr::SetOperation { left, .. } => set_expr_columns(left),
        SetExpr::Values(values) => {
            let width = values.rows.first().map_or(0, Vec::len);
            Some(OutputColumns {
                names: (1..=width).map(|i| format!("column{i}")).collect(),
                unnamed_expressions: false,
            })
        }
        _ => None,
    }
}

/// An identifier as DataFusion resolves it: unquoted ones are lowercased.
fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `query` calls the function `name` (lowercase) anywhere.
pub(crate) fn calls_function(query: &Query, name: &str) -> bool {
    let found = visit_expressions(query, |expr| match expr {
        Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .is_some_and(|ident| normalize(ident) == name) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}

/// Whether `name` can name an environment variable in a POSIX shell: letters, digits and `_`,
/// not starting with a digit.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    is_plain_identifier(name)
}

/// Checks an environment variable's name, for a field naming one.
pub(crate) fn check_env_var_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must name an environment variable".into());
    }
    if is_env_var_name(name) {
        return Ok(());
    }
    let hint = match name.strip_prefix('$') {
        Some(bare) if is_env_var_name(bare.trim_matches(['{', '}'])) => {
            format!(
                ": write the name without `$` (`{}`)",
                bare.trim_matches(['{', '}'])
            )
        }
        _ => String::new(),
    };
    Err(format!(
        "`{name}` is not an environment variable name (letters, digits and `_`, not starting \
         with a digit){hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(sql: &str) -> Option<OutputColumns> {
        output_columns(&parse_query(sql).unwrap())
    }

    #[test]
    fn syntax_errors_and_non_queries_are_refused() {
        let err = parse_query("SELEC 1").unwrap_err();
        assert!(err.starts_with("SQL syntax error: "), "{err}");
        assert!(err.contains("SELEC"), "{err}");
        assert_eq!(
            parse_query("SELECT a\nFROM t\nGROUP a").unwrap_err(),
            "SQL syntax error: Expected: end of statement, found: GROUP (line 3, column 1 of \
             the query)"
        );
        assert!(parse_query("SELECT a FROM t WHERE").is_err());
        assert!(
            parse_query("SELECT 1; SELECT 2")
                .unwrap_err()
                .contains("2 SQL statements")
        );
        assert!(
            parse_query("-- nothing")
                .unwrap_err()
                .contains("no SQL statement")
        );
        let ddl = parse_query("DROP TABLE gold.x").unwrap_err();
        assert!(ddl.contains("`DROP`"), "{ddl}");
        assert!(parse_query("SELECT 1; -- trailing").is_ok());
        assert!(parse_query("WITH x AS (SELECT 1 AS a) SELECT a FROM x").is_ok());
    }

    #[test]
    fn explicit_select_lists_name_their_columns() {
        let c = columns("SELECT u.user_id, Email, \"Country\", count(*) AS N, upper(x) FROM u")
            .unwrap();
        assert_eq!(c.names, ["user_id", "email", "Country", "n"]);
        assert!(c.unnamed_expressions);
        assert!(c.surely_lacks("mail"));
        assert!(!c.surely_lacks("upper(x)"));
        assert!(!c.surely_lacks("email"));
        assert_eq!(columns("SELECT * FROM t"), None);
        assert_eq!(columns("SELECT a, t.* FROM t"), None);
        let union = columns("SELECT a FROM x UNION ALL SELECT b FROM y").unwrap();
        assert_eq!(union.names, ["a"]);
        assert_eq!(
            columns("VALUES (1, 2)").unwrap().names,
            ["column1", "column2"]
        );
    }

    /// The names predicted offline are the ones DataFusion gives the result columns.
    #[tokio::test]
    async fn predicted_names_match_datafusion() {
        let ctx = datafusion::execution::context::SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT, \"B\" VARCHAR, c INT)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        for sql in [
            "SELECT a, \"B\", t.c, A AS Renamed, \"B\" AS \"Mixed\" FROM t",
            "SELECT a, NULL, count(*) AS n FROM t GROUP BY a",
            "SELECT x.a FROM (SELECT a FROM t) AS x UNION SELECT c FROM t",
            "WITH w AS (SELECT a FROM t) SELECT w.a AS k FROM w",
            "VALUES (1, 'x')",
        ] {
            let predicted = columns(sql).unwrap();
            let frame = ctx.sql(sql).await.unwrap();
            let actual: Vec<String> = frame
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            for name in &predicted.names {
                assert!(actual.contains(name), "{sql}: {name} not in {actual:?}");
            }
            if !predicted.unnamed_expressions {
                assert_eq!(predicted.names, actual, "{sql}");
            }
            for name in &actual {
                assert!(!predicted.surely_lacks(name), "{sql}: {name}");
            }
        }
        // Unnamed expressions are never named like a plain identifier.
        let frame = ctx
            .sql("SELECT a + 1, upper(\"B\"), 'x', 1, true, CAST(a AS BIGINT), now() FROM t")
            .await
            .unwrap();
        for field in frame.schema().fields() {
            assert!(!is_plain_identifier(field.name()), "{}", field.name());
        }
    }

    #[test]
    fn function_calls_are_found_anywhere() {
        let q = parse_query("WITH x AS (SELECT PSEUDONYMIZE(email) AS k FROM u) SELECT k FROM x")
            .unwrap();
        assert!(calls_function(&q, "pseudonymize"));
        let q = parse_query("SELECT pseudonymized FROM u").unwrap();
        assert!(!calls_function(&q, "pseudonymize"));
    }

    #[test]
    fn environment_variable_names() {
        assert!(check_env_var_name("FLOWCTL_SALT").is_ok());
        assert!(check_env_var_name("_x1").is_ok());
        assert!(check_env_var_name("").is_err());
        assert!(check_env_var_name("1ABC").is_err());
        assert!(check_env_var_name("MY-SALT").is_err());
        let dollar = check_env_var_name("$SALT").unwrap_err();
        assert!(dollar.contains("without `$` (`SALT`)"), "{dollar}");
        let braces = check_env_var_name("${SALT}").unwrap_err();
        assert!(braces.contains("(`SALT`)"), "{braces}");
    }
}
