//! Command-line interface definitions (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// flowctl: declarative CDC lakehouse pipelines. YAML DAGs, local and AWS targets, one binary.
#[derive(Debug, Parser)]
#[command(
    name = "flowctl",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Project directory (holds flowctl.yaml, dags/ and .flowctl/). Default: the nearest
    /// directory upwards from the current one that has a flowctl.yaml, else the current one.
    #[arg(
        short = 'C',
        long,
        global = true,
        env = "FLOWCTL_PROJECT_DIR",
        value_name = "DIR"
    )]
    pub project_dir: Option<PathBuf>,

    /// State store: a `sqlite:` path/URL or a `postgres://` URL. Default: the project file's
    /// `state`, else SQLite at .flowctl/state.db in the project directory.
    #[arg(
        long,
        global = true,
        env = "FLOWCTL_STATE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub state: Option<String>,

    /// Environment from the project file's `environments` (picks a target and a state store).
    #[arg(long = "env", global = true, env = "FLOWCTL_ENV", value_name = "NAME")]
    pub environment: Option<String>,

    /// Log level for flowctl's own diagnostics (error, warn, info, debug, trace).
    #[arg(
        long,
        global = true,
        env = "FLOWCTL_LOG",
        default_value = "warn",
        value_name = "LEVEL"
    )]
    pub log_level: String,
}

/// Output format of inspection commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check DAG files offline: syntax, keys, types, cron, time zones, job fields, dependencies,
    /// cycles and templates. Exit 0 when all are valid, 1 otherwise.
    Validate {
        /// Files or directories (default: the project's dags directory).
        paths: Vec<PathBuf>,
        /// Also require every step to have a variant for this target (e.g. `aws`).
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
    },
    /// Validate DAG files and store them in the state store in one transaction (a CI/CD step).
    Apply {
        /// Files or directories (default: the project's dags directory).
        paths: Vec<PathBuf>,
        /// Print what would change and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove stored DAGs that are no longer in the files.
        #[arg(long)]
        prune: bool,
    },
    /// Create a run of an applied DAG and execute it now, in this process.
    Run {
        /// The DAG id.
        dag: String,
        /// Logical date: the run gets the data interval the schedule gives this date
        /// (`2026-01-31`, `2026-01-31T06:00`, or RFC 3339). Default: a manual run now.
        #[arg(long)]
        date: Option<String>,
        /// Override a parameter (repeatable): `--param topic=orders`.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Target to run on (default: the environment's or project's default target).
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
    },
    /// Create runs on schedule and execute them until stopped (SIGTERM/Ctrl-C stop it gracefully).
    Scheduler {
        /// One scheduling pass: create due runs, run them to completion, exit.
        #[arg(long)]
        once: bool,
        /// Target to run on.
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
        /// Longest sleep between scheduling passes (e.g. `2s`): how soon new DAGs and runs
        /// left by a dead process are picked up.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        poll_interval: String,
        /// Most runs this process executes at once (default: every active run). With several
        /// schedulers on one store, a cap spreads the runs over the processes.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_runs: Option<u32>,
        /// Also serve the web UI, API and metrics on this address (e.g. 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        serve: Option<String>,
        /// File holding the API token that authorises actions (default: FLOWCTL_API_TOKEN).
        #[arg(long, value_name = "FILE", requires = "serve")]
        token_file: Option<PathBuf>,
    },
    /// Serve the web UI, the HTTP API (/api/v1), Prometheus metrics (/metrics) and health checks.
    /// Runs triggered from the UI or API are executed by this process.
    Serve {
        /// Address to listen on. Anything but loopback needs an API token.
        #[arg(long, default_value = flowctl_server::DEFAULT_BIND, value_name = "ADDR")]
        bind: String,
        /// File holding the API token that authorises actions (default: FLOWCTL_API_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Target of the runs triggered here.
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
    },
    /// Create and execute the runs of every data interval between two dates.
    Backfill {
        dag: String,
        /// First logical date (inclusive).
        #[arg(long)]
        from: String,
        /// Last logical date (inclusive).
        #[arg(long)]
        to: String,
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
    },
    /// Stop the scheduler from creating runs of a DAG.
    Pause { dag: String },
    /// Let the scheduler create runs of a DAG again.
    Unpause { dag: String },
    /// Reset steps of a run so they run again (with what depends on them), then execute the run.
    Clear {
        dag: String,
        run: String,
        /// Only failed steps (and their downstream); default all steps.
        #[arg(long)]
        failed: bool,
        /// Reset without executing now (a scheduler will pick the run up).
        #[arg(long)]
        no_run: bool,
    },
    /// List applied DAGs.
    Dags {
        #[arg(long)]
        json: bool,
    },
    /// List the runs of a DAG, newest first.
    Runs {
        dag: String,
        #[arg(long, default_value_t = 25)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// List the steps of a run with their states and tries.
    Tasks {
        dag: String,
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the log of a step's attempt (default: the latest attempt).
    Logs {
        dag: String,
        run: String,
        step: String,
        #[arg(long)]
        attempt: Option<u32>,
    },
    /// Query the target's Iceberg tables with SQL (DataFusion) and print the result.
    Sql {
        /// The query, e.g. `SELECT * FROM silver.orders_current LIMIT 10`.
        query: String,
        /// Output format: table, csv or json.
        #[arg(long, default_value = "table")]
        format: String,
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
    },
    /// Compare what the repository declares with what is live: DAG files vs the state store and,
    /// on an aws target, Glue jobs, Glue scripts in S3, Athena workgroups, Glue databases and
    /// tables. Exit 0 no drift, 2 drift found, 1 the check failed.
    Drift {
        /// DAG files or directories (default: the project's dags directory).
        paths: Vec<PathBuf>,
        /// Target to compare (default: the environment's or project's default target).
        #[arg(long, env = "FLOWCTL_TARGET")]
        target: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the DAG file format (or, with --project, of flowctl.yaml).
    Schema {
        /// The schema of the project file, flowctl.yaml, instead.
        #[arg(long)]
        project: bool,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}
