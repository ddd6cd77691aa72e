//! `gapmap-bench`: benchmarks of the real gapmap binaries, one subcommand per
//! scenario. They time release builds as whole processes, so build first:
//!
//! ```text
//! cargo build --release -p gapmap -p gapmap-bench
//! target/release/gapmap-bench add            # a few minutes on 2 shared cores
//! target/release/gapmap-bench add --quick    # a smoke run, ~25 s
//! ```
//!
//! Each scenario prints tables for people and, last, one JSON line with
//! every figure. Method and measured figures: docs/benchmarks.md.

mod add;
mod builder;
mod client;
mod js;
mod phases;
mod procfs;
mod procs;
mod relay;
mod report;
mod scaleout;
mod stats;
mod vocab;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "gapmap-bench",
    version,
    about = "Benchmarks of the gapmap binaries"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

/// Options every scenario shares.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// The gapmap binary to time [default: `gapmap` beside this program,
    /// i.e. target/release/gapmap].
    #[arg(long, global = true, value_name = "PATH", env = "GAPMAP_BENCH_GAPMAP")]
    pub gapmap: Option<PathBuf>,
    /// Keep the stores and documents the scenario made (their path is printed).
    #[arg(long, global = true)]
    pub keep: bool,
}

impl Common {
    /// A fresh scratch directory, removed at the end unless `--keep`.
    pub fn workdir(&self) -> Result<Workdir> {
        let dir = tempfile::Builder::new()
            .prefix("gapmap-bench-")
            .tempdir()
            .context("cannot create a scratch directory")?;
        if self.keep {
            let path = dir.keep();
            eprintln!("keeping the scratch files in {}", path.display());
            return Ok(Workdir { path, _guard: None });
        }
        Ok(Workdir {
            path: dir.path().to_path_buf(),
            _guard: Some(dir),
        })
    }
}

/// A scenario's scratch directory.
pub struct Workdir {
    path: PathBuf,
    /// Removes the directory when dropped; `None` with `--keep`.
    _guard: Option<tempfile::TempDir>,
}

impl Workdir {
    /// Where it is.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// `gapmap add` on canvases of 0, 200 and 2,000 notes vs automerge-repo 2.5 in node.
    Add(add::AddArgs),
    /// The sync server under load: gapmap-relay vs the automerge-repo 2.5
    /// reference server (throughput, latency, idle memory, scale).
    Relay(relay::RelayArgs),
    /// Several gapmap-relay instances on one Redis (1, 2, 3) against one
    /// relay on sled: throughput and latency, same workload, same run.
    Scaleout(scaleout::ScaleoutArgs),
    /// The client side: `gapmap add` routed through an owner process, the
    /// first clone's bytes on the wire, catch-up after offline edits.
    Client(client::ClientArgs),
    /// Builds one benchmark canvas and writes it as `<DocId>.automerge`, for
    /// other tools or a look at what the scenarios load.
    Canvas(CanvasArgs),
    /// Internal to `add`: one `gapmap add` replayed with the library calls
    /// the CLI makes, each timed; prints `{"laps_ms": [...]}`.
    #[command(hide = true)]
    AddPhases {
        /// The store, holding the current canvas.
        #[arg(long)]
        home: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct CanvasArgs {
    /// Live notes.
    #[arg(long, default_value_t = 2_000)]
    notes: usize,
    /// Changes per note, counting its addition.
    #[arg(long, default_value_t = 10)]
    changes_per_note: usize,
    /// Seed of the builder.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory to write the file into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

fn write_canvas(args: &CanvasArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let mut built = builder::build(builder::Plan {
        notes: args.notes,
        changes_per_note: args.changes_per_note,
        seed: args.seed,
    })?;
    let elapsed = started.elapsed();
    let bytes = built.canvas.doc_mut().save();
    let file = args
        .out
        .join(format!("{}.automerge", gapmap_canvas::DocId::random()));
    std::fs::write(&file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!(
        "{} live notes, {} changes, {} bytes, built in {:.2} s",
        built.live_notes,
        built.changes,
        bytes.len(),
        elapsed.as_secs_f64()
    );
    println!("{}", file.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.scenario {
        Scenario::Add(args) => add::run(args, &cli.common),
        Scenario::Relay(args) => relay::run(args),
        Scenario::Scaleout(args) => scaleout::run(args),
        Scenario::Client(args) => client::run(args, &cli.common),
        Scenario::Canvas(args) => write_canvas(args),
        Scenario::AddPhases { home } => phases::add_once(home, add::AUTHOR).map(|laps| {
            let ms: Vec<f64> = laps.iter().map(|d| d.as_secs_f64() * 1e3).collect();
            println!("{}", serde_json::json!({ "laps_ms": ms }));
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gapmap-bench: {err:#}");
            ExitCode::from(1)
        }
    }
}
