//! Carrying a canvas as a file: `export --format automerge` and `import`.
//!
//! A canvas keeps its id wherever it is carried. The document records its
//! own id (the root `id`, written when the canvas is first saved), and
//! `import` puts a file into:
//! 1. the canvas given with `-c`;
//! 2. else the canvas whose id the document records, or that the file is
//!    named after (`<id>.automerge`);
//! 3. else the canvas it shares its first change with (the store's origin
//!    index, for files written before ids were recorded);
//! 4. else a new canvas, under the recorded id (or the file's name) when
//!    the store does not hold it, a fresh one otherwise.
//!
//! An id is only a claim: a file merges into a canvas only when the two
//! share history, so a copied id never mixes two unrelated canvases (their
//! root fields would hide each other's notes). `docs/user-guide.md` tells
//! the same to people.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use gapmap_canvas::{Canvas, DocId};
use serde_json::json;

use crate::context::{Context, Loaded, CURRENT_KEY};

/// Where `export --format automerge` writes: `-o -` is stdout; no `-o`, or
/// `-o DIR`, is `<id>.automerge` in the current directory or in DIR.
enum Destination {
    /// Standard output.
    Stdout,
    /// A file named by the user.
    Named(PathBuf),
    /// `<id>.automerge`, a name gapmap chose (and says).
    Chosen(PathBuf),
}

/// The file the raw document of canvas `id` goes to.
fn destination(output: Option<&Path>, id: &DocId) -> Result<Destination> {
    let file = format!("{id}.automerge");
    Ok(match output {
        Some(p) if p.as_os_str() == "-" => Destination::Stdout,
        Some(p) if p.is_dir() => Destination::Chosen(p.join(file)),
        Some(p) => Destination::Named(p.to_path_buf()),
        None => Destination::Chosen(
            std::env::current_dir()
                .context("cannot tell the current directory")?
                .join(file),
        ),
    })
}

/// The document of `loaded`, with its id recorded in it first (a document
/// from before ids were recorded gets it now, durably), so the file lands
/// in this same canvas wherever it is imported.
fn automerge_bytes(ctx: &Context, loaded: &mut Loaded) -> Result<Vec<u8>> {
    if loaded.canvas.recorded_ids() != [loaded.id] {
        ctx.save(loaded)?;
    }
    Ok(loaded.canvas.save())
}

/// What an import did.
struct Imported {
    id: DocId,
    title: String,
    /// Into a canvas the store held already.
    merged: bool,
    /// Changes of the file the store did not have.
    changes_added: usize,
    /// Why a recorded id was not used, when it was not.
    note: Option<String>,
}

/// Where an imported document goes.
enum Target {
    Existing(DocId),
    New(DocId, Option<String>),
}

/// `gapmap import FILE` for Automerge files (JSON exports go to
/// `research::import_json`).
pub fn import(
    ctx: &Context,
    file: &Path,
    bytes: &[u8],
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut incoming = Canvas::load(bytes)
        .with_context(|| format!("{} is not a gapmap canvas", file.display()))?;
    let report = match target(ctx, file, &mut incoming)? {
        Target::Existing(id) => {
            let mut loaded = ctx.load_id(id)?;
            let before = loaded.canvas.doc_mut().get_heads();
            loaded
                .canvas
                .merge(&mut incoming)
                .context("merging the imported document")?;
            let changes_added = loaded.canvas.doc_mut().get_changes_meta(&before).len();
            if changes_added > 0 || loaded.canvas.recorded_ids() != [id] {
                ctx.prepare_write(&mut loaded)?;
                ctx.save(&mut loaded)?;
            }
            Imported {
                id,
                title: loaded.canvas.title(),
                merged: true,
                changes_added,
                note: None,
            }
        }
        Target::New(id, note) => {
            let changes_added = incoming.doc_mut().get_changes_meta(&[]).len();
            let mut loaded = Loaded::new(id, incoming);
            ctx.save(&mut loaded)?;
            Imported {
                id,
                title: loaded.canvas.title(),
                merged: false,
                changes_added,
                note,
            }
        }
    };
    if ctx.store.setting(CURRENT_KEY)?.is_none() {
        ctx.store.set_setting(CURRENT_KEY, &report.id.to_string())?;
    }
    print(&report, json, out)
}

fn print(r: &Imported, json: bool, out: &mut dyn Write) -> Result<()> {
    let changes = crate::words::plural(r.changes_added, "change", "changes");
    if json {
        let row = json!({
            "id": r.id.to_string(),
            "url": r.id.url(),
            "title": r.title,
            "merged": r.merged,
            "changed": r.changes_added > 0,
            "changes_added": r.changes_added,
        });
        writeln!(out, "{row}")?;
        return Ok(());
    }
    match (r.merged, r.changes_added) {
        (true, 0) => writeln!(
            out,
            "canvas {} \"{}\" already holds everything in the file: nothing to add",
            r.id, r.title
        )?,
        (true, _) => writeln!(
            out,
            "merged into canvas {} \"{}\": {changes} added",
            r.id, r.title
        )?,
        (false, _) => writeln!(
            out,
            "added canvas {} \"{}\", new in this store ({changes})",
            r.id, r.title
        )?,
    }
    if let Some(note) = &r.note {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// The file's name as a canvas id, if it is one.
fn named_id(file: &Path) -> Option<DocId> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| DocId::parse(s).ok())
}

/// Whether the store's canvas `id` and `incoming` are copies of one canvas.
fn related(ctx: &Context, id: DocId, incoming: &mut Canvas) -> Result<bool> {
    let mut local = ctx.load_id(id)?;
    Ok(local.canvas.shares_history(incoming))
}

/// Where `incoming` goes: see the module's rules.
fn target(ctx: &Context, file: &Path, incoming: &mut Canvas) -> Result<Target> {
    if ctx.has_canvas_arg() {
        let id = ctx.canvas_id()?;
        if !related(ctx, id, incoming)? {
            bail!(
                "{} shares no history with canvas {id}: merging would hide one side's notes; import it without -c to add it as a new canvas",
                file.display()
            );
        }
        return Ok(Target::Existing(id));
    }
    let recorded = incoming.recorded_ids();
    let claimed: Vec<DocId> = recorded.iter().copied().chain(named_id(file)).collect();
    let mut clash = None;
    for id in &claimed {
        if ctx.store.contains(&id.to_string())? {
            if related(ctx, *id, incoming)? {
                return Ok(Target::Existing(*id));
            }
            clash.get_or_insert(*id);
        }
    }
    let origins = incoming.origins();
    if let Some(id) = ctx.store.store().find_by_origin(&origins)?.first() {
        return Ok(Target::Existing(DocId::parse(id)?));
    }
    let free = claimed
        .iter()
        .find(|id| !ctx.store.contains(&id.to_string()).unwrap_or(true));
    Ok(match (free, clash) {
        (Some(id), _) => Target::New(*id, None),
        (None, Some(taken)) => Target::New(
            DocId::random(),
            Some(format!(
                "the file names canvas {taken}, but the canvas {taken} of this store has another history, so this one got a new id"
            )),
        ),
        (None, None) => Target::New(DocId::random(), None),
    })
}

/// `export --format automerge`: writes the raw document where asked and
/// says where, when gapmap chose the name.
pub fn export(
    ctx: &Context,
    loaded: &mut Loaded,
    output: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let bytes = automerge_bytes(ctx, loaded)?;
    match destination(output, &loaded.id)? {
        Destination::Stdout => out.write_all(&bytes)?,
        Destination::Named(path) => write_file(&path, &bytes)?,
        Destination::Chosen(path) => {
            write_file(&path, &bytes)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "id": loaded.id.to_string(), "file": path.display().to_string() })
                )?;
            } else {
                writeln!(out, "{}", path.display())?;
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), bytes = bytes.len(), "exported");
    Ok(())
}
