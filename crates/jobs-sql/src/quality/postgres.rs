//! Counting rows in a Postgres database (a CDC source table) for `row_count.equals_query`.
//! The URL comes from an environment variable and is never shown: errors are redacted.

use sqlx::{Connection, PgConnection, Row};

use crate::error::SqlError;

/// Runs `query` (returning one number) on the database whose URL is in `$url_env`.
pub(crate) async fn count(url_env: &str, query: &str) -> Result<i64, SqlError> {
    let url = std::env::var(url_env).map_err(|e| {
        SqlError::Config(format!(
            "the Postgres URL variable `{url_env}` is not usable: {e}"
        ))
    })?;
    if url.trim().is_empty() {
        return Err(SqlError::Config(format!(
            "the Postgres URL variable `{url_env}` is empty"
        )));
    }
    let redact =
        |e: sqlx::Error| SqlError::Config(redact(&url, &format!("Postgres (${url_env}): {e}")));
    let mut conn = PgConnection::connect(&url).await.map_err(redact)?;
    let row = sqlx::query(query)
        .fetch_one(&mut conn)
        .await
        .map_err(redact)?;
    // Accept any integer width the query returns (count(*) is bigint, a cast may give int).
    let value = match row.try_get::<i64, _>(0) {
        Ok(v) => v,
        Err(_) => i64::from(row.try_get::<i32, _>(0).map_err(redact)?),
    };
    let _ = conn.close().await;
    Ok(value)
}

/// `message` with the URL's password (and the URL itself) replaced by `***`.
pub(crate) fn redact(url: &str, message: &str) -> String {
    let mut out = message.replace(url, "***");
    if let Some(password) = password_of(url)
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    out
}

/// The password part of `scheme://user:password@host/...`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let url = "postgres://app:hunter2@db:5432/shop";
        let msg = redact(
            url,
            "error connecting to postgres://app:hunter2@db:5432/shop: hunter2 refused",
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        assert_eq!(password_of("postgres://app@db/x"), None);
    }
}
