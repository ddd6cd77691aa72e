//! Where the time of one `gapmap add` goes, measured in this process with
//! the same library calls, in the same order, as the CLI makes them
//! (crates/cli: `Context::open`, `load`, `prepare_write`, `add_note`,
//! `save`). Process start is measured separately, from outside.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use automerge::{AutoCommit, ObjType, ReadDoc, Value, ROOT};
use gapmap_canvas::{Canvas, DocId, Section};
use gapmap_store::{DocMeta, Store};

/// The phases, in the order they happen.
pub const NAMES: [&str; 9] = [
    "open", "resolve", "load", "validate", "prepare", "change", "index", "save", "close",
];

/// Reference measurements, not phases of the CLI.
pub const REFERENCES: [&str; 2] = ["automerge_load", "lean_scan"];

/// What each phase covers, for the report.
pub const MEANING: [(&str, &str); 12] = [
    (
        "open",
        "Store::open: sled opens its log and page table, owner file",
    ),
    (
        "resolve",
        "settings lookup of the current canvas, index lookup",
    ),
    (
        "load",
        "Store::load: sled reads + Automerge load of snapshot and chunks",
    ),
    ("validate", "Canvas::from_doc: schema check"),
    ("prepare", "author and actor settings, members check"),
    (
        "change",
        "Canvas::add_note: a lean scan of the section's ranks, one commit",
    ),
    (
        "index",
        "the index entry: title and live-note count (describe: trash marks only)",
    ),
    (
        "save",
        "Store::save: save_incremental, sled write, flush to disk",
    ),
    (
        "close",
        "dropping the store: sled's last flush and thread joins",
    ),
    (
        "process",
        "the replaying process's wall time less its phases: exec, start-up, exit",
    ),
    (
        "automerge_load",
        "reference: AutoCommit::load of the same document from one buffer",
    ),
    (
        "lean_scan",
        "reference: one pass over the notes reading only trashed_at, section, rank",
    ),
];

/// One `gapmap add` done in-process on the store at `dir`; the phase times
/// in `NAMES` order.
pub fn add_once(dir: &Path, author: &str) -> Result<Vec<Duration>> {
    let mut lap = Lap::start();

    let store = Store::open(dir).with_context(|| format!("opening the store {}", dir.display()))?;
    lap.mark();

    let current = store
        .setting("current")?
        .context("no current canvas in the store")?;
    let id = DocId::parse(&current)?;
    if !store.contains(&id.to_string())? {
        bail!("the current canvas {id} is not in the store");
    }
    lap.mark();

    let doc = store
        .load(&id.to_string())?
        .context("the canvas vanished")?;
    lap.mark();

    let mut canvas = Canvas::from_doc(doc)?;
    lap.mark();

    let name = store.setting("name")?.unwrap_or_else(|| author.to_string());
    let actor = match store.setting(&format!("actor:{name}"))? {
        Some(hex_actor) => hex::decode(hex_actor)?,
        None => bail!("the store has no actor for {name}: the template needs a warm-up add"),
    };
    canvas.set_actor(&actor);
    let actor_hex = hex::encode(&actor);
    if canvas.members().get(&actor_hex).map(|m| m.name.as_str()) != Some(name.as_str()) {
        canvas.set_member(&actor_hex, &name, "#4363d8", now_ms())?;
    }
    lap.mark();

    canvas.add_note(
        Section::Now,
        "Owner re-types supplier invoices into a spreadsheet every Friday night",
        &[],
        &name,
        now_ms(),
    )?;
    lap.mark();

    // As the CLI's `meta_of` does.
    let (title, notes) = gapmap_canvas::describe(canvas.doc());
    let meta = DocMeta {
        id: id.to_string(),
        title,
        notes,
        updated_ms: now_ms(),
    };
    lap.mark();

    store.save(&meta.id, canvas.doc_mut(), &meta)?;
    lap.mark();

    drop(store);
    lap.mark();

    Ok(lap.laps)
}

/// The reference measurements of `REFERENCES` on the document `bytes`:
/// loading it with Automerge alone (the floor under `load`), and the
/// cheapest pass over the notes that could serve `change` (placing a note
/// needs its section's ranks) and `index` (counting live notes).
pub fn references(bytes: &[u8]) -> Result<Vec<Duration>> {
    let start = Instant::now();
    let doc = AutoCommit::load(bytes).context("loading the canvas with Automerge")?;
    let load = start.elapsed();

    let start = Instant::now();
    let (live, _) = lean_scan(&doc)?;
    let scan = start.elapsed();
    std::hint::black_box(live);
    Ok(vec![load, scan])
}

/// Live notes, and the largest rank in the NOW section, reading three
/// fields per note in one pass over the notes map.
fn lean_scan(doc: &AutoCommit) -> Result<(usize, String)> {
    let Some((Value::Object(ObjType::Map), notes)) = doc.get(ROOT, "notes")? else {
        return Ok((0, String::new()));
    };
    let (mut live, mut last) = (0, String::new());
    for item in doc.map_range(&notes, ..) {
        let note = item.id();
        if doc
            .get(&note, "trashed_at")?
            .is_some_and(|(v, _)| v.as_i64().is_some())
        {
            continue;
        }
        live += 1;
        let section = doc
            .get(&note, "section")?
            .and_then(|(v, _)| v.into_string().ok());
        if section.as_deref() == Some("now") {
            if let Some(rank) = doc
                .get(&note, "rank")?
                .and_then(|(v, _)| v.into_string().ok())
            {
                last = last.max(rank);
            }
        }
    }
    Ok((live, last))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Successive intervals of one stopwatch.
struct Lap {
    last: Instant,
    laps: Vec<Duration>,
}

impl Lap {
    fn start() -> Lap {
        Lap {
            last: Instant::now(),
            laps: Vec::with_capacity(NAMES.len()),
        }
    }

    fn mark(&mut self) {
        let now = Instant::now();
        self.laps.push(now - self.last);
        self.last = now;
    }
}
