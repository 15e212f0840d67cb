//! Who may do what: actions need the API token, as `Authorization: Bearer <token>` (API) or
//! the session cookie the login form sets (web UI). Reads are open on loopback only.
//!
//! Tokens are compared as SHA-256 digests with a constant-time equality, so neither the
//! comparison's duration nor an early exit reveals how much of a guess was right. The cookie
//! holds a digest derived from the token, never the token itself.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ApiToken;
use crate::error::ApiError;

/// Name of the web UI's session cookie.
pub const SESSION_COOKIE: &str = "flowctl_session";

/// Checks credentials of requests.
pub struct Auth {
    /// SHA-256 of the token; `None` when no token is configured (actions disabled).
    token_digest: Option<[u8; 32]>,
    /// The session cookie's value (hex), derived from the token.
    session: Option<String>,
    /// Whether reads need no credentials.
    reads_open: bool,
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    None,
    Valid,
    Invalid,
}

impl Auth {
    pub fn new(token: Option<&ApiToken>, reads_open: bool) -> Self {
        Self {
            token_digest: token.map(|t| digest(t.secret().as_bytes())),
            session: token.map(|t| session_value(t.secret())),
            reads_open,
        }
    }

    /// Whether a token is configured.
    pub fn actions_enabled(&self) -> bool {
        self.token_digest.is_some()
    }

    /// The session cookie value that a correct `token` earns, or `None` for a wrong one.
    pub fn login(&self, token: &str) -> Option<String> {
        let expected = self.token_digest.as_ref()?;
        if bool::from(digest(token.trim().as_bytes()).ct_eq(expected)) {
            self.session.clone()
        } else {
            None
        }
    }

    /// What credentials the request carries (bearer header first, then the session cookie).
    pub fn credentials(&self, headers: &HeaderMap) -> Credentials {
        if let Some(given) = bearer(headers) {
            return match &self.token_digest {
                Some(expected) if bool::from(digest(given.as_bytes()).ct_eq(expected)) => {
                    Credentials::Valid
                }
                _ => Credentials::Invalid,
            };
        }
        if let Some(given) = cookie(headers, SESSION_COOKIE) {
            return match &self.session {
                Some(expected) if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => {
                    Credentials::Valid
                }
                _ => Credentials::Invalid,
            };
        }
        Credentials::None
    }

    /// Allows an action (a state change) or says why not.
    pub fn require_action(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.actions_enabled() {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                format!(
                    "actions are disabled: this server has no API token; restart it with {} set \
                     (or a token file)",
                    crate::config::TOKEN_ENV
                ),
            ));
        }
        match self.credentials(headers) {
            Credentials::Valid => Ok(()),
            Credentials::None => Err(ApiError::unauthorized(
                "this action needs the API token: send `Authorization: Bearer <token>`",
            )),
            Credentials::Invalid => Err(ApiError::unauthorized(
                "the API token is wrong: send `Authorization: Bearer <token>` with the token the \
                 server was started with",
            )),
        }
    }

    /// Allows a read or says why not (only when the server listens beyond loopback).
    pub fn require_read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.reads_open || self.credentials(headers) == Credentials::Valid {
            return Ok(());
        }
        Err(ApiError::unauthorized(
            "this server is reachable from the network, so reads need the API token too: send \
             `Authorization: Bearer <token>` (or log in to the web UI)",
        ))
    }

    /// Whether reads need no credentials.
    pub fn reads_open(&self) -> bool {
        self.reads_open
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The cookie value for a token: a digest in its own domain, so the cookie is not the token
/// and not the digest the bearer check uses.
fn session_value(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"flowctl-ui-session\0");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn bearer_and_cookie_are_checked() {
        let token = ApiToken::new("s3cret-token-0123456789").unwrap();
        let auth = Auth::new(Some(&token), true);
        let ok = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-0123456789")]);
        assert_eq!(auth.credentials(&ok), Credentials::Valid);
        let lower = headers(&[(header::AUTHORIZATION, "bearer s3cret-token-0123456789")]);
        assert_eq!(auth.credentials(&lower), Credentials::Valid);
        let wrong = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-012345678")]);
        assert_eq!(auth.credentials(&wrong), Credentials::Invalid);
        assert_eq!(auth.credentials(&HeaderMap::new()), Credentials::None);

        let session = auth.login("s3cret-token-0123456789").unwrap();
        assert!(!session.contains("s3cret"));
        assert!(auth.login("nope").is_none());
        let cookie = headers(&[(header::COOKIE, &format!("a=b; {SESSION_COOKIE}={session}"))]);
        assert_eq!(auth.credentials(&cookie), Credentials::Valid);
        let forged = headers(&[(header::COOKIE, &format!("{SESSION_COOKIE}=00{session}"))]);
        assert_eq!(auth.credentials(&forged), Credentials::Invalid);
    }

    #[test]
    fn without_a_token_actions_are_refused_and_reads_follow_the_bind() {
        let auth = Auth::new(None, true);
        let err = auth.require_action(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::FORBIDDEN);
        assert!(auth.require_read(&HeaderMap::new()).is_ok());

        let token = ApiToken::new("s3cret-token-0123456789").unwrap();
        let closed = Auth::new(Some(&token), false);
        let err = closed.require_read(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNAUTHORIZED);
        let ok = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-0123456789")]);
        assert!(closed.require_read(&ok).is_ok());
    }
}
