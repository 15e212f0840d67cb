//! Test helpers: temporary projects, running the binary, a Postgres database per test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary project directory with its own state store.
pub struct TestProject {
    dir: tempfile::TempDir,
    state: Option<String>,
}

impl TestProject {
    /// An empty project using SQLite in its own `.flowctl/`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("flowctl-it-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("dags")).expect("dags dir");
        Self { dir, state: None }
    }

    /// The same, with the state in the given store URL (e.g. a test Postgres database).
    pub fn with_state(url: &str) -> Self {
        let mut project = Self::new();
        project.state = Some(url.to_string());
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file relative to the project directory.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Writes `dags/<name>.yaml`.
    pub fn dag(&self, name: &str, text: &str) -> PathBuf {
        self.write(&format!("dags/{name}.yaml"), text)
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).expect("remove file");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default()
    }

    /// A `flowctl` command running in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowctl"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("FLOWCTL_STATE")
            .env_remove("FLOWCTL_ENV")
            .env_remove("FLOWCTL_TARGET")
            .env_remove("FLOWCTL_PROJECT_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Some(state) = &self.state {
            cmd.env("FLOWCTL_STATE", state);
        }
        cmd
    }

    /// Runs `flowctl ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.cmd(args).output().expect("spawn flowctl");
        Run::from(output)
    }
}

/// What a finished `flowctl` invocation printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A Postgres database created for one test and dropped when this value goes away.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates a fresh database, or `None` (after printing how to enable the test) when no
    /// server is reachable outside CI. In CI (`CI` set) a missing server fails the test.
    pub fn create() -> Option<Self> {
        let admin_url = std::env::var("FLOWCTL_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let name = format!("flowctl_it_{}", uuid::Uuid::new_v4().simple());
        let created = block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            conn.close().await
        });
        match created {
            Ok(()) => {
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                let url = format!("{base}/{name}");
                Some(Self {
                    admin_url,
                    name,
                    url,
                })
            }
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("Postgres is required in CI but unreachable at {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!(
                    "skipping Postgres test: no server at {admin_url} ({e}); start Postgres on \
                     127.0.0.1:5432 or set FLOWCTL_TEST_PG_URL"
                );
                None
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            conn.close().await
        });
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(future)
}
