//! The `flowctl` binary: parses the command line, registers the job plugins, and runs a command.

mod cli;
mod commands;
mod error;
mod fsutil;
mod output;
mod plugins;
mod progress;
mod project;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Exit};
use crate::output::errln;
use crate::project::Project;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    init_tracing(&cli.global.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return Exit::Environment.into();
        }
    };
    match runtime.block_on(dispatch(cli)) {
        // Output lost to a closed pipe does not change the exit code (see `output`); output
        // lost otherwise (a full disk) makes a success an environment error.
        Ok(()) if output::stdout_error().is_some() => Exit::Environment.into(),
        Ok(()) => Exit::Ok.into(),
        Err(err) => {
            if !err.message.is_empty() {
                errln!("error: {}", err.message);
            }
            err.exit.into()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let registry = plugins::registry();
    // `schema` needs no project.
    if let Command::Schema { output, project } = &cli.command {
        return commands::schema::run(&registry, *project, output.as_deref());
    }
    let project = Project::resolve(&cli.global, registry.target_sections())?;
    match cli.command {
        Command::Validate { paths, target } => {
            commands::validate::run(&project, &registry, &paths, target.as_deref())
        }
        Command::Apply {
            paths,
            dry_run,
            prune,
        } => commands::apply::run(&project, &registry, &paths, dry_run, prune).await,
        Command::Run {
            dag,
            date,
            params,
            target,
        } => {
            let target = project.target_name(target.as_deref());
            commands::run::run(&project, registry, &dag, date.as_deref(), &params, &target).await
        }
        Command::Scheduler {
            once,
            target,
            poll_interval,
            max_runs,
            serve,
            token_file,
        } => {
            let target = project.target_name(target.as_deref());
            let poll_interval = flowctl_model::duration::parse_duration(&poll_interval)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    error::CliError::usage(format!(
                        "--poll-interval `{poll_interval}` is not a positive duration such as 10s"
                    ))
                })?;
            let serve = match serve {
                Some(bind) => Some(commands::serve::config(
                    &bind,
                    token_file.as_deref(),
                    false,
                )?),
                None => None,
            };
            commands::scheduler::run(
                &project,
                registry,
                commands::scheduler::Pace {
                    once,
                    poll_interval,
                    max_runs: max_runs.map(|n| n as usize),
                },
                &target,
                serve,
            )
            .await
        }
        Command::Serve {
            bind,
            token_file,
            target,
        } => {
            let target = project.target_name(target.as_deref());
            let config = commands::serve::config(&bind, token_file.as_deref(), true)?;
            commands::serve::run(&project, registry, &target, config).await
        }
        Command::Backfill {
            dag,
            from,
            to,
            params,
            target,
        } => {
            let target = project.target_name(target.as_deref());
            commands::run::backfill(&project, registry, &dag, &from, &to, &params, &target).await
        }
        Command::Pause { dag } => commands::admin::set_paused(&project, &dag, true).await,
        Command::Unpause { dag } => commands::admin::set_paused(&project, &dag, false).await,
        Command::Clear {
            dag,
            run,
            failed,
            no_run,
        } => {
            let target = project.target_name(None);
            commands::admin::clear(&project, registry, &dag, &run, failed, no_run, &target).await
        }
        Command::Dags { json } => commands::inspect::dags(&project, &registry, json).await,
        Command::Runs { dag, limit, json } => {
            commands::inspect::runs(&project, &dag, limit, json).await
        }
        Command::Tasks { dag, run, json } => {
            commands::inspect::tasks(&project, &dag, &run, json).await
        }
        Command::Logs {
            dag,
            run,
            step,
            attempt,
        } => commands::inspect::logs(&project, &dag, &run, &step, attempt).await,
        Command::Sql {
            query,
            format,
            target,
        } => {
            let target = project.target_name(target.as_deref());
            commands::sql::run(&project, &query, &format, &target).await
        }
        Command::Drift {
            paths,
            target,
            json,
        } => commands::drift::run(&project, &registry, &paths, target.as_deref(), json).await,
        Command::Schema { .. } => Ok(()),
    }
}

/// A panic is a bug: say so plainly and exit with the internal-error code.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        errln!(
            "internal error (this is a bug in flowctl, please report it): {info}\n\
             run with RUST_BACKTRACE=1 for a backtrace"
        );
        std::process::exit(Exit::Internal as i32);
    }));
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
