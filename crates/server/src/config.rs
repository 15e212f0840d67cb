//! How the server is configured: where it listens, the API token, what it does with the runs
//! it creates.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::ServerError;

/// Where `flowctl serve` listens unless told otherwise: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Environment variable holding the API token.
pub const TOKEN_ENV: &str = "FLOWCTL_API_TOKEN";

/// Shortest token accepted: a guessable token would make binding beyond loopback pointless.
const MIN_TOKEN_LEN: usize = 16;

/// The bearer token that authorises actions (trigger, pause, clear). Its `Debug` output never
/// shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text (surrounding whitespace, e.g. a file's final newline, is
    /// dropped). Refuses tokens shorter than 16 characters or with inner whitespace.
    pub fn new(text: &str) -> Result<Self, ServerError> {
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(ServerError::Config(format!(
                "the API token is too short ({} characters, at least {MIN_TOKEN_LEN} needed); \
                 generate one with e.g. `openssl rand -hex 32`",
                token.len()
            )));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(ServerError::Config(
                "the API token contains whitespace; use a single word, e.g. from \
                 `openssl rand -hex 32`"
                    .into(),
            ));
        }
        Ok(Self(token.to_string()))
    }

    /// The token from `file` when given, else from the `FLOWCTL_API_TOKEN` environment
    /// variable, else `None` (actions disabled).
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, ServerError> {
        Self::load_from(file, std::env::var(TOKEN_ENV).ok())
    }

    /// [`ApiToken::load`] with the environment variable's value passed in (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env_value: Option<String>,
    ) -> Result<Option<Self>, ServerError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|err| {
                ServerError::Config(format!(
                    "cannot read the API token file {}: {err}",
                    path.display()
                ))
            })?;
            return Self::new(&text)
                .map(Some)
                .map_err(|err| ServerError::Config(format!("{}: {err}", path.display())));
        }
        match env_value {
            Some(value) if !value.trim().is_empty() => Self::new(&value)
                .map(Some)
                .map_err(|err| ServerError::Config(format!("{TOKEN_ENV}: {err}"))),
            _ => Ok(None),
        }
    }

    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(****)")
    }
}

/// How [`crate::Server`] runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`). Anything but a loopback address
    /// needs a token.
    pub bind: SocketAddr,
    /// Authorises actions; `None` disables them (reads stay available on loopback).
    pub token: Option<ApiToken>,
    /// Execute the runs this server triggers or clears, in this process (`flowctl serve`
    /// alone). `false` when a scheduler shares the process or runs elsewhere: it picks up
    /// queued runs itself.
    pub execute_runs: bool,
    /// How often the web UI's pages reload themselves.
    pub ui_refresh: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            execute_runs: true,
            ui_refresh: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Refuses a configuration that would expose actions to the network without a token.
    pub fn check(&self) -> Result<(), ServerError> {
        if !self.bind.ip().is_loopback() && self.token.is_none() {
            return Err(ServerError::Config(format!(
                "refusing to listen on {} without an API token: anyone who can reach it could \
                 trigger, clear and pause runs. Set {TOKEN_ENV} (or give a token file), or \
                 bind to 127.0.0.1",
                self.bind
            )));
        }
        if self.ui_refresh.is_zero() {
            return Err(ServerError::Config(
                "the UI refresh interval must be at least 1 second".into(),
            ));
        }
        Ok(())
    }

    /// Whether reads (API GETs, UI pages, metrics) are open to anyone who can connect: only
    /// on a loopback address. Elsewhere they need the token too.
    pub(crate) fn reads_open(&self) -> bool {
        self.bind.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_without_token_is_refused() {
        let config = ServerConfig {
            bind: "0.0.0.0:8080".parse().unwrap(),
            ..ServerConfig::default()
        };
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("refusing to listen on 0.0.0.0:8080"), "{err}");
        assert!(err.contains(TOKEN_ENV), "{err}");

        let with_token = ServerConfig {
            token: Some(ApiToken::new("0123456789abcdef0123").unwrap()),
            ..config
        };
        with_token.check().unwrap();
        assert!(!with_token.reads_open());
        assert!(ServerConfig::default().check().is_ok());
        assert_eq!(ServerConfig::default().bind.to_string(), DEFAULT_BIND);
        assert!(ServerConfig::default().reads_open());
    }

    #[test]
    fn tokens_are_validated_and_never_shown() {
        assert!(ApiToken::new("short").is_err());
        assert!(ApiToken::new("has a space in the middle").is_err());
        let token = ApiToken::new("  0123456789abcdef-secret\n").unwrap();
        assert_eq!(token.secret(), "0123456789abcdef-secret");
        let shown = format!(
            "{token:?} {:?}",
            ServerConfig {
                token: Some(token.clone()),
                ..ServerConfig::default()
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn token_file_wins_over_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-the-file-0123456789\n").unwrap();
        let env = Some("from-the-env-0123456789".to_string());
        let token = ApiToken::load_from(Some(&file), env.clone())
            .unwrap()
            .unwrap();
        assert_eq!(token.secret(), "from-the-file-0123456789");
        let token = ApiToken::load_from(None, env).unwrap().unwrap();
        assert_eq!(token.secret(), "from-the-env-0123456789");
        assert!(ApiToken::load_from(None, None).unwrap().is_none());
        let missing = dir.path().join("missing");
        let err = ApiToken::load_from(Some(&missing), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the API token file"), "{err}");
        let err = ApiToken::load_from(None, Some("tiny".into()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(TOKEN_ENV), "{err}");
    }
}
