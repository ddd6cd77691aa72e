//! `gapmap-bench add`: the wall time of adding one note from the command
//! line, on canvases of growing size, against the same load-change-save done
//! by automerge-repo 2.5 in node.
//!
//! Every timed run starts from a copy of the same pristine store, so run 30
//! measures the same thing as run 1; gapmap and JS runs alternate (and swap
//! order every iteration) so both see the same machine noise. What matters
//! is the ratios: absolute times on a shared two-core machine are noise.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::builder::{self, Plan};
use crate::js::{Js, JsRun};
use crate::stats::Samples;
use crate::{phases, procs, report, Common};

/// The author of the benchmark's notes.
pub const AUTHOR: &str = "bench";
/// The note every timed run adds.
pub const TEXT: &str = "Owner re-types supplier invoices into a spreadsheet every Friday night";
/// The JS marks, in order; each phase is the interval ending at its mark.
pub const JS_MARKS: [&str; 6] = ["boot", "imports", "repo", "find", "change", "flush"];

/// Options of `gapmap-bench add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// A smoke run (for CI, ~25 s): 5 runs, canvases of 0 and 200 notes.
    #[arg(long)]
    pub quick: bool,
    /// Timed runs per canvas size and program [default: 20, --quick: 5];
    /// the in-process reference measurements take half as many (at least 3).
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Canvas sizes in live notes [default: 0,200,2000, --quick: 0,200].
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    pub sizes: Vec<usize>,
    /// Changes per note in a built canvas, counting its addition.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub changes_per_note: usize,
    /// Seed of the canvas builder.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Leave out the JavaScript side (no node needed).
    #[arg(long)]
    pub no_js: bool,
    /// The directory holding bench-add.mjs and the pinned package.json
    /// [default: tests/js of this source tree].
    #[arg(long, value_name = "DIR")]
    pub js_dir: Option<PathBuf>,
    /// The node binary.
    #[arg(long, default_value = "node", value_name = "PATH")]
    pub node: String,
    /// The JS/gapmap ratio the 2,000-note canvas should reach.
    #[arg(long, default_value_t = 3.0, value_name = "RATIO")]
    pub target: f64,
}

impl AddArgs {
    fn runs(&self) -> usize {
        self.runs.unwrap_or(if self.quick { 5 } else { 20 }).max(1)
    }

    fn sizes(&self) -> Vec<usize> {
        let mut sizes = if !self.sizes.is_empty() {
            self.sizes.clone()
        } else if self.quick {
            vec![0, 200]
        } else {
            vec![0, 200, 2_000]
        };
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }
}

/// Everything measured, for the report.
pub struct AddReport {
    /// Timed runs per size and program.
    pub runs: usize,
    /// Runs of the in-process reference measurements per size.
    pub reference_runs: usize,
    /// `--quick`.
    pub quick: bool,
    /// The ratio the largest size should reach.
    pub target: f64,
    /// The gapmap binary and its `--version`.
    pub gapmap: (PathBuf, String),
    /// node's and automerge-repo's versions, when the JS side ran.
    pub js_versions: Option<(String, String)>,
    /// `gapmap --version` as whole processes: start-up and exit.
    pub gapmap_start: Samples,
    /// `node -e 0`.
    pub node_start: Samples,
    /// `node bench-add.mjs noop`: node plus loading automerge-repo.
    pub node_imports: Samples,
    /// One entry per canvas size, smallest first.
    pub sizes: Vec<SizeReport>,
}

/// The figures of one canvas size.
pub struct SizeReport {
    /// Live notes in the built canvas.
    pub notes: usize,
    /// Changes in its history.
    pub changes: usize,
    /// Size of its saved Automerge document.
    pub doc_bytes: usize,
    /// Time to build it with gapmap-canvas (not part of any comparison).
    pub build_ms: f64,
    /// `gapmap add` as whole processes.
    pub gapmap: Samples,
    /// `node bench-add.mjs add` as whole processes.
    pub js: Samples,
    /// Phases of `gapmap add` replayed in a fresh `gapmap-bench add-phases`
    /// process, by `phases::NAMES`, then "process": that process's wall
    /// time less its phases (start-up and exit).
    pub gapmap_phases: Vec<(&'static str, Samples)>,
    /// The `add-phases` processes' wall times, to set beside the CLI's.
    pub phases_wall: Samples,
    /// Reference measurements in this process, by `phases::REFERENCES`.
    pub references: Vec<(&'static str, Samples)>,
    /// Intervals between the JS script's marks, by `JS_MARKS`, then "exit".
    pub js_phases: Vec<(&'static str, Samples)>,
}

/// One canvas size, built and imported, ready for timed runs.
pub(crate) struct Prepared {
    pub(crate) report: SizeReport,
    /// The saved document.
    pub(crate) bytes: Vec<u8>,
    /// A store holding the canvas as current, the author's actor known.
    pub(crate) gapmap_template: PathBuf,
    /// Where a run's copy of that store goes.
    pub(crate) gapmap_run: PathBuf,
    /// Where the phase replay's copy goes.
    pub(crate) phases_run: PathBuf,
    /// automerge-repo storage holding the canvas, and its URL.
    pub(crate) js_template: Option<(PathBuf, String)>,
    /// Where a run's copy of that storage goes.
    pub(crate) js_run: PathBuf,
}

/// Runs the scenario and prints the report.
pub fn run(args: &AddArgs, common: &Common) -> Result<()> {
    let gapmap = procs::locate_gapmap(common.gapmap.as_deref())?;
    let gapmap_version = procs::run(&gapmap, ["--version"])?.stdout;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: gapmap-bench is a debug build: its in-process phases are slow; use --release"
        );
    }
    let js = if args.no_js {
        None
    } else {
        let dir = args.js_dir.clone().unwrap_or_else(crate::js::default_dir);
        Some(Js::prepare(&dir, &args.node)?)
    };
    let js_versions = js.as_ref().map(|js| {
        (
            js.node_version().unwrap_or_else(|| "?".into()),
            js.repo_version().unwrap_or_else(|| "?".into()),
        )
    });

    let work = common.workdir()?;
    let runs = args.runs();
    let mut prepared = Vec::new();
    for notes in args.sizes() {
        prepared.push(prepare(
            work.path(),
            &gapmap,
            js.as_ref(),
            Plan {
                notes,
                changes_per_note: args.changes_per_note,
                seed: args.seed,
            },
        )?);
    }

    let mut report = AddReport {
        runs,
        reference_runs: (runs / 2).max(3),
        quick: args.quick,
        target: args.target,
        gapmap: (gapmap.clone(), gapmap_version),
        js_versions,
        gapmap_start: Samples::default(),
        node_start: Samples::default(),
        node_imports: Samples::default(),
        sizes: Vec::new(),
    };

    let myself = std::env::current_exe().context("cannot find this program's own path")?;
    eprintln!("timing {runs} runs (+1 warm-up) of each program per size, alternating…");
    // Iteration 0 warms the page cache and is not recorded.
    for i in 0..=runs {
        let record = i > 0;
        let started = Instant::now();
        let version = procs::run(&gapmap, ["--version"])?;
        if record {
            report.gapmap_start.push(version.elapsed);
        }
        if let Some(js) = &js {
            let bare = js.bare_start()?;
            let noop = js.noop()?;
            if record {
                report.node_start.push(bare);
                report.node_imports.push(noop.elapsed);
            }
        }
        for (k, size) in prepared.iter_mut().enumerate() {
            let gapmap_first = (i + k) % 2 == 0;
            if gapmap_first {
                time_gapmap(&gapmap, size, record)?;
            }
            if let Some(js) = &js {
                time_js(js, size, record)?;
            }
            if !gapmap_first {
                time_gapmap(&gapmap, size, record)?;
            }
            time_phases(&myself, size, record)?;
        }
        if record {
            eprintln!(
                "  run {i}/{runs} in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }

    eprintln!("reference measurements in-process…");
    for size in &mut prepared {
        for i in 0..=report.reference_runs {
            let laps = phases::references(&size.bytes)?;
            if i > 0 {
                for (slot, lap) in size.report.references.iter_mut().zip(laps) {
                    slot.1.push(lap);
                }
            }
        }
    }

    report.sizes = prepared.into_iter().map(|p| p.report).collect();
    report::print(&report);
    Ok(())
}

/// Builds the canvas of `plan`, writes it as `<DocId>.automerge`, imports it
/// into a fresh gapmap store and a fresh automerge-repo storage.
pub(crate) fn prepare(work: &Path, gapmap: &Path, js: Option<&Js>, plan: Plan) -> Result<Prepared> {
    let dir = work.join(format!("notes-{}", plan.notes));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let mut built = builder::build(plan)
        .with_context(|| format!("building a canvas of {} notes", plan.notes))?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let bytes = built.canvas.doc_mut().save();
    let id = gapmap_canvas::DocId::random();
    let file = dir.join(format!("{id}.automerge"));
    std::fs::write(&file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!(
        "built {} notes from {} changes in {:.1} s: {} ({} KiB)",
        built.live_notes,
        built.changes,
        build_ms / 1e3,
        file.display(),
        bytes.len() / 1024
    );

    let home = dir.join("gapmap-template");
    let gm = |args: &[&str]| -> Result<String> {
        let mut argv = vec![OsStr::new("--home"), home.as_os_str()];
        argv.extend(args.iter().map(OsStr::new));
        Ok(procs::run(gapmap, argv)?.stdout)
    };
    gm(&["config", "name", AUTHOR])?;
    let imported: Value =
        serde_json::from_str(&gm(&["--json", "import", &file.to_string_lossy()])?)
            .context("gapmap import --json printed no JSON")?;
    let Some(imported_id) = imported["id"].as_str() else {
        bail!("gapmap import --json printed no id: {imported}");
    };
    if imported_id != id.to_string() {
        bail!(
            "gapmap imported {} as {imported_id}, not as its file name says",
            file.display()
        );
    }
    gm(&["use", imported_id])?;
    // Anyone who adds notes has used gapmap before: their actor and member
    // entry exist. Without this every run would also pay for creating them.
    gm(&["add", "now", TEXT])?;

    let js_template = match js {
        Some(js) => {
            let storage = dir.join("js-template");
            let url = js.setup(&storage, &file)?;
            js.add(&storage, &url)?; // the same warm-up as gapmap's
            Some((storage, url))
        }
        None => None,
    };

    let samples = |names: &[&'static str]| names.iter().map(|&n| (n, Samples::default())).collect();
    let mut gapmap_phase_names = phases::NAMES.to_vec();
    gapmap_phase_names.push("process");
    let mut js_phase_names = JS_MARKS.to_vec();
    js_phase_names.push("exit");
    Ok(Prepared {
        report: SizeReport {
            notes: built.live_notes,
            changes: built.changes,
            doc_bytes: bytes.len(),
            build_ms,
            gapmap: Samples::default(),
            js: Samples::default(),
            gapmap_phases: samples(&gapmap_phase_names),
            phases_wall: Samples::default(),
            references: samples(&phases::REFERENCES),
            js_phases: samples(&js_phase_names),
        },
        bytes,
        gapmap_template: home,
        gapmap_run: dir.join("gapmap-run"),
        phases_run: dir.join("phases-run"),
        js_template,
        js_run: dir.join("js-run"),
    })
}

pub(crate) fn time_gapmap(gapmap: &Path, size: &mut Prepared, record: bool) -> Result<()> {
    procs::copy_tree(&size.gapmap_template, &size.gapmap_run)?;
    let run = procs::run(
        gapmap,
        [
            OsStr::new("--home"),
            size.gapmap_run.as_os_str(),
            OsStr::new("add"),
            OsStr::new("now"),
            OsStr::new(TEXT),
        ],
    )?;
    if run.stdout.is_empty() {
        bail!("gapmap add printed no note id");
    }
    if record {
        size.report.gapmap.push(run.elapsed);
    }
    Ok(())
}

/// Replays `gapmap add` with its phases timed, in a fresh process (so heap
/// growth and page faults are paid as the CLI pays them).
fn time_phases(myself: &Path, size: &mut Prepared, record: bool) -> Result<()> {
    procs::copy_tree(&size.gapmap_template, &size.phases_run)?;
    let run = procs::run(
        myself,
        [
            OsStr::new("add-phases"),
            OsStr::new("--home"),
            size.phases_run.as_os_str(),
        ],
    )?;
    let laps: Vec<f64> = serde_json::from_str::<Value>(&run.stdout)
        .ok()
        .and_then(|v| {
            v["laps_ms"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
        })
        .with_context(|| format!("add-phases printed {:?}", run.stdout))?;
    if laps.len() != phases::NAMES.len() {
        bail!(
            "add-phases printed {} laps, not {}",
            laps.len(),
            phases::NAMES.len()
        );
    }
    if record {
        let wall = run.elapsed.as_secs_f64() * 1e3;
        let rest = wall - laps.iter().sum::<f64>();
        for (slot, ms) in size
            .report
            .gapmap_phases
            .iter_mut()
            .zip(laps.into_iter().chain([rest]))
        {
            slot.1.push_ms(ms);
        }
        size.report.phases_wall.push(run.elapsed);
    }
    Ok(())
}

pub(crate) fn time_js(js: &Js, size: &mut Prepared, record: bool) -> Result<()> {
    let Some((template, url)) = &size.js_template else {
        return Ok(());
    };
    procs::copy_tree(template, &size.js_run)?;
    let run = js.add(&size.js_run, url)?;
    if run.output["id"].as_str().is_none() {
        bail!("bench-add.mjs add printed no note id: {}", run.output);
    }
    if record {
        size.report.js.push(run.elapsed);
        record_js_phases(&run, &mut size.report.js_phases);
    }
    Ok(())
}

/// Turns the script's marks into intervals; "exit" is what the process
/// lived after its last mark, as seen from outside.
fn record_js_phases(run: &JsRun, slots: &mut [(&'static str, Samples)]) {
    let marks: BTreeMap<String, f64> = run.phases();
    let mut previous = 0.0;
    for (name, samples) in slots.iter_mut() {
        if *name == "exit" {
            samples.push_ms(run.elapsed.as_secs_f64() * 1e3 - previous);
        } else if let Some(&at) = marks.get(*name) {
            samples.push_ms(at - previous);
            previous = at;
        }
    }
}
