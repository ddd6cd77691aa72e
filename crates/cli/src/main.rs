//! The `gapmap` binary: the command line over gapmap-canvas and gapmap-store.
//!
//! `main` only parses, installs logging, finds the store (or the process that
//! owns it) and maps errors to exit codes: 0 success, 1 a user error (one
//! line on stderr), 2 bad usage (clap).

mod args;
mod carry;
mod commands;
mod context;
mod doctor;
mod lan;
mod live;
mod net;
mod owner;
mod png;
mod research;
mod research_model;
mod sample;
mod secrets;
mod ui;
mod words;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};
use gapmap_store::{Store, StoreError};
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};
use crate::commands::Term;

/// How long a command waits for another short command to release the store
/// before saying who holds it.
const LOCK_PATIENCE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|err| with_tip(err).exit());
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(cli.verbose);
    if let Err(err) = secrets::resolve(&mut cli, &matches) {
        eprintln!("gapmap: {err:#}");
        return ExitCode::from(1);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = dispatch(cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gapmap: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs the command here, or in the process that owns the store; returns
/// the exit code.
fn dispatch(mut cli: Cli, out: &mut dyn Write) -> Result<u8> {
    if let Command::Completions { shell } = cli.command {
        commands::completions(shell, out)?;
        return Ok(0);
    }
    let home = context::home_dir(cli.home.as_deref())?;
    let term = Term::detect();
    let started = Instant::now();
    loop {
        if matches!(cli.command, Command::Doctor) {
            match doctor::doctor(&home, cli.json, out) {
                Err(err) if is_locked(&err) => {}
                other => return other.map(|()| 0),
            }
        }
        match Store::open(&home) {
            Ok(store) => {
                commands::run(cli, Arc::new(store), term, out)?;
                return Ok(0);
            }
            Err(err @ StoreError::Locked { .. }) => {
                if let Ok(cwd) = std::env::current_dir() {
                    cli.absolutize(&cwd);
                }
                if let Some(code) = owner::forward(&home, &cli, term)? {
                    return Ok(code);
                }
                // Held by a short command: wait for it, then say who holds it.
                if started.elapsed() > LOCK_PATIENCE {
                    return Err(err.into());
                }
                std::thread::sleep(Duration::from_millis(15));
            }
            // Another user's store (or one we may not write): if its owner
            // listens, it answers — and refuses another user plainly.
            Err(err @ StoreError::NotWritable(_)) => {
                if let Some(code) = owner::forward(&home, &cli, term)? {
                    return Ok(code);
                }
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        }
    }
}

fn is_locked(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Locked { .. })
        )
    })
}

/// Logs go to stderr; `RUST_LOG` overrides `-v`.
fn init_tracing(verbose: u8) {
    // Automerge logs load failures as errors of its own; gapmap reports them.
    let default = match verbose {
        0 => "warn,automerge=off",
        1 => "info,automerge=warn",
        _ => "debug",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// An unknown command gets gapmap's own tip when it is another tool's name
/// for one (`delete` → `rm`), else clap's "similar subcommand" one.
fn with_tip(mut err: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::InvalidSubcommand {
        return err;
    }
    let meant = match err.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(given)) => words::command(given),
        _ => None,
    };
    if let Some(meant) = meant {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(vec![meant.to_string()]),
        );
    }
    err
}

/// `gapmap show | head` is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
