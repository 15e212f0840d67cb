//! Small checks of field values shared by the job types and the target settings. Each
//! returns the problem in words, without the field's name (the caller reports it at the
//! field's path).

use crate::s3::object::parse_s3_url;

/// A value that must say something.
pub(crate) fn not_blank(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("is empty: remove it or give a value".into())
    } else {
        Ok(())
    }
}

/// A bucket name, as S3 APIs take it: not a URL, no key.
pub(crate) fn bucket_name(value: &str) -> Result<(), String> {
    not_blank(value)?;
    if let Some(rest) = value.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or_default();
        return Err(format!(
            "give the bucket's name (`{bucket}`), not an s3:// URL: `{value}`"
        ));
    }
    if value.contains('/') || value.contains(char::is_whitespace) {
        return Err(format!(
            "`{value}` is not a bucket name (no `/` or spaces: put key prefixes in `prefix`)"
        ));
    }
    Ok(())
}

/// An `s3://bucket/prefix/` location (Athena's result location).
pub(crate) fn s3_location(value: &str) -> Result<(), String> {
    match parse_s3_url(value) {
        Some(_) => Ok(()),
        None => Err(format!(
            "must be an s3://bucket/prefix/ URL, found `{value}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!(not_blank(" ").is_err());
        assert_eq!(bucket_name("acme-scripts"), Ok(()));
        assert!(
            bucket_name("s3://acme-scripts/glue/")
                .unwrap_err()
                .contains("`acme-scripts`")
        );
        assert!(bucket_name("acme/glue").is_err());
        assert_eq!(s3_location("s3://results/athena/"), Ok(()));
        assert!(s3_location("/tmp/results").is_err());
        assert!(s3_location("s3://").is_err());
    }
}
