//! Pseudonymisation: `to_hex(sha256(value || '::' || salt))`, the seed practice.

use std::fmt;

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the value's text, `::`, then the salt.
///
/// Deterministic (equal values stay joinable) and one-way as long as the salt stays secret:
/// never log or store it.
pub fn pseudonymize(value_text: &str, salt: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(value_text.as_bytes());
    hasher.update(b"::");
    hasher.update(salt.as_bytes());
    hex::encode(hasher.finalize())
}

/// A pseudonymisation salt whose `Debug` and `Display` never show it, so it cannot leak into
/// logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(String);

impl Salt {
    /// Wraps a salt. An empty salt is refused: it would make the pseudonyms plain hashes.
    pub fn new(salt: impl Into<String>) -> Option<Salt> {
        let salt = salt.into();
        (!salt.is_empty()).then_some(Salt(salt))
    }

    /// [`pseudonymize`] with this salt.
    pub fn pseudonymize(&self, value_text: &str) -> String {
        pseudonymize(value_text, &self.0)
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

impl fmt::Display for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_hashlib() {
        // python3 -c 'import hashlib; print(hashlib.sha256(b"alice@example.com::s3cret").hexdigest())'
        let expected = "c7ccfc23a3422e68f7c75d7b03ec2ac409977cbb0750205de29b74ae4423cea3";
        assert_eq!(pseudonymize("alice@example.com", "s3cret"), expected);
        assert_eq!(
            Salt::new("s3cret")
                .unwrap()
                .pseudonymize("alice@example.com"),
            expected
        );
    }

    #[test]
    fn salt_changes_the_digest_and_never_prints() {
        assert_ne!(
            pseudonymize("alice@example.com", "s3cret"),
            pseudonymize("alice@example.com", "other")
        );
        // The separator matters: ("a:", ":b") and ("a", "::b") hash different texts.
        assert_ne!(pseudonymize("a", "b"), pseudonymize("a::", "b"));
        let salt = Salt::new("s3cret").unwrap();
        assert!(!format!("{salt:?} {salt}").contains("s3cret"));
        assert!(Salt::new("").is_none());
    }
}
