//! Building multi-row statements.
//!
//! Multi-row statements are written with anonymous `?` placeholders, bound strictly in
//! order, and turned into what the backend takes by [`positional`]: SQLite keeps `?` (it
//! resolves a named `$N` through a linear list, so a statement with thousands of them costs
//! quadratic time: 10,000 rows took 30 µs each), Postgres gets `$1, $2, ...`.

use crate::Backend;

/// Rows per multi-row statement: keeps every statement far below SQLite's (32,766) and
/// Postgres' (65,535) bound-parameter limits for the widest row we write.
pub(crate) const CHUNK_ROWS: usize = 500;

/// `(?,?,..),(..)`: `rows` tuples of `cols` placeholders.
pub(crate) fn tuples(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    vec![one; rows].join(",")
}

/// `?,?,..`: `count` placeholders (for `IN (...)`).
pub(crate) fn list(count: usize) -> String {
    vec!["?"; count].join(",")
}

/// `sql` with its `?` placeholders as the backend takes them. The statements built here
/// contain no `?` other than placeholders (no string literal holds one).
pub(crate) fn positional(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => sql.to_string(),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() * 2);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let sql = format!(
            "INSERT INTO t VALUES {} WHERE x IN ({})",
            tuples(2, 2),
            list(2)
        );
        assert_eq!(sql, "INSERT INTO t VALUES (?,?),(?,?) WHERE x IN (?,?)");
        assert_eq!(positional(&sql, Backend::Sqlite), sql);
        assert_eq!(
            positional(&sql, Backend::Postgres),
            "INSERT INTO t VALUES ($1,$2),($3,$4) WHERE x IN ($5,$6)"
        );
    }
}
