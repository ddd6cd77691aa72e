//! `gapmap doctor`: the store's examination (`Store::doctor`, or
//! `Store::examine` inside the store's owner) turned into what a person
//! needs — which canvas, what was damaged, what was repaired, and, when
//! something is lost, which notes — plus the index counts made true again.
//! A run that finds anything lost exits 1.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use crate::words::plural;
use anyhow::{bail, Result};
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{AutoCommit, Change, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use gapmap_canvas::{Canvas, DocId};
use gapmap_store::{DocMeta, DocReport, DoctorReport, Repair, Store};
use serde::Serialize;
use serde_json::json;

use crate::context::{Context, Docs};

/// What the canvas layer adds to a document's report.
#[derive(Debug, Default, Serialize)]
struct CanvasReport {
    id: String,
    /// Live notes the index counted before doctor.
    index_notes: Option<usize>,
    /// Live notes that load now.
    notes: Option<usize>,
    /// Whether doctor corrected the index entry.
    index_fixed: bool,
    /// Notes the held-back changes create or change: lost from the board
    /// until the changes they wait for come back.
    held_notes: Vec<HeldNote>,
    /// Notes the index counted that neither load nor appear in held-back
    /// changes: created in the lost changes themselves, text unknown.
    unaccounted_notes: usize,
}

/// A note named by the changes that survived a loss.
#[derive(Debug, Serialize)]
struct HeldNote {
    id: String,
    /// Its text: as the board shows it now, or as the held changes wrote it.
    text: Option<String>,
    /// The note itself was created in the held-back changes (it is not on
    /// the board at all).
    created: bool,
}

/// `gapmap doctor` with no owner running.
pub fn doctor(home: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let report = Store::doctor(home)?;
    let store = Store::open(home)?;
    let canvases = canvas_reports(&store, &report)?;
    finish(&report, &canvases, json, out)
}

/// `gapmap doctor` inside the store's owner: journals are rewritten from
/// good database copies; a damaged database copy needs the owner stopped.
pub fn doctor_in_owner(ctx: &Context, json: bool, out: &mut dyn Write) -> Result<()> {
    let store = ctx.store.store();
    let report = store.examine(Repair::Journals)?;
    let canvases = canvas_reports_with(&*ctx.store, &store, &report)?;
    finish(&report, &canvases, json, out)
}

fn canvas_reports(store: &Store, report: &DoctorReport) -> Result<Vec<CanvasReport>> {
    canvas_reports_with(store, store, report)
}

/// Recounts every canvas's index entry (through `docs`, so a running owner
/// sees it) and names the notes held-back changes touch.
fn canvas_reports_with(
    docs: &dyn Docs,
    store: &Store,
    report: &DoctorReport,
) -> Result<Vec<CanvasReport>> {
    let mut out = Vec::new();
    for doc_report in &report.docs {
        let id = &doc_report.id;
        let mut canvas_report = CanvasReport {
            id: id.clone(),
            ..CanvasReport::default()
        };
        let before = store.meta(id)?;
        canvas_report.index_notes = before.as_ref().map(|m| m.notes);
        let Some(doc) = docs.load(id)? else {
            out.push(canvas_report);
            continue;
        };
        let Ok(mut canvas) = Canvas::from_doc(doc.clone()) else {
            if !doc_report.lost.is_empty() {
                // A canvas whose first changes are lost: nothing of it loads.
                canvas_report.notes = Some(0);
                canvas_report.index_fixed = before.as_ref().is_some_and(|m| m.notes != 0);
                if let Some(before) = before.filter(|m| m.notes != 0) {
                    let mut doc = doc;
                    docs.save(id, &mut doc, &DocMeta { notes: 0, ..before })?;
                }
                let mut doc = store.load(id)?.unwrap_or_default();
                let held = store.held_changes(id)?;
                canvas_report.held_notes = held_notes(&mut doc, &held);
            } else {
                // Not a canvas (a relay may hold other documents): counts mean nothing.
                docs.release(id, doc);
            }
            out.push(canvas_report);
            continue;
        };
        let notes = canvas.live_note_count();
        canvas_report.notes = Some(notes);
        let title = canvas.title();
        let stale = store.stale_index()?.contains(id);
        let wrong = before
            .as_ref()
            .is_none_or(|m| m.notes != notes || m.title != title);
        if wrong || stale {
            let meta = DocMeta {
                id: id.clone(),
                title,
                notes,
                updated_ms: before.map_or(0, |m| m.updated_ms),
            };
            docs.save(id, canvas.doc_mut(), &meta)?;
            canvas_report.index_fixed = wrong;
        }
        if doc_report.lost.held_changes > 0 {
            let held = store.held_changes(id)?;
            canvas_report.held_notes = held_notes(canvas.doc_mut(), &held);
        }
        if !doc_report.lost.is_empty() {
            let created = canvas_report
                .held_notes
                .iter()
                .filter(|n| n.created)
                .count();
            canvas_report.unaccounted_notes = canvas_report
                .index_notes
                .map_or(0, |before| before.saturating_sub(notes + created));
        }
        docs.release(id, canvas.into_doc());
        out.push(canvas_report);
    }
    Ok(out)
}

/// For the JSON and the message, and the exit code.
fn finish(
    report: &DoctorReport,
    canvases: &[CanvasReport],
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let lost: Vec<&DocReport> = report.docs.iter().filter(|d| !d.lost.is_empty()).collect();
    let ok = !report.lost_anything() && !report.unrepaired();
    if json {
        writeln!(
            out,
            "{}",
            json!({
                "ok": ok,
                "healthy": report.healthy(),
                "lost": report.lost_anything(),
                "store": report,
                "canvases": canvases,
            })
        )?;
    } else {
        print_text(report, canvases, out)?;
    }
    if !lost.is_empty() || !report.settings.lost.is_empty() {
        let what = if lost.is_empty() {
            "settings".to_string()
        } else {
            plural(lost.len(), "canvas", "canvases")
        };
        bail!("data is lost in {what} (see above): run gapmap sync with a remote that has these canvases to get back what it holds, then gapmap doctor again");
    }
    if let Some(doc) = report.docs.iter().find(|d| d.unrepaired.is_some()) {
        bail!(
            "canvas {}: {}",
            doc.id,
            doc.unrepaired.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

fn print_text(report: &DoctorReport, canvases: &[CanvasReport], out: &mut dyn Write) -> Result<()> {
    if let Some(err) = &report.open_error {
        writeln!(
            out,
            "the database did not open ({err}); rebuilt it from the journals"
        )?;
    }
    if let Some(aside) = &report.moved_aside {
        writeln!(out, "the broken database was kept in {}", aside.display())?;
    }
    let by_id: BTreeMap<&str, &CanvasReport> =
        canvases.iter().map(|c| (c.id.as_str(), c)).collect();
    for doc in &report.docs {
        let canvas = by_id.get(doc.id.as_str()).copied();
        if !doc.healthy() || canvas.is_some_and(|c| c.index_fixed) {
            print_doc(doc, canvas, out)?;
        }
    }
    print_settings(report, out)?;
    let damaged = report.docs.iter().filter(|d| !d.healthy()).count();
    write!(
        out,
        "{} checked",
        plural(report.docs.len(), "canvas", "canvases")
    )?;
    if damaged == 0 {
        writeln!(out, ": both copies of each are whole")?;
    } else {
        let lost = report.docs.iter().filter(|d| !d.lost.is_empty()).count();
        writeln!(
            out,
            ": {damaged} damaged, {} repaired, {lost} with data lost",
            report.docs.iter().filter(|d| !d.repairs.is_empty()).count()
        )?;
    }
    Ok(())
}

fn print_doc(doc: &DocReport, canvas: Option<&CanvasReport>, out: &mut dyn Write) -> Result<()> {
    let title = if doc.title.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", doc.title)
    };
    writeln!(out, "canvas {}{title}:", doc.id)?;
    let j = &doc.journal;
    if !j.present {
        writeln!(out, "  journal: missing")?;
    } else if let Some(why) = &j.unusable {
        writeln!(out, "  journal: unreadable ({why})")?;
    } else if !j.damaged.is_empty() {
        let ranges: Vec<String> = j
            .damaged
            .iter()
            .map(|r| format!("{}–{}", r.start, r.end))
            .collect();
        writeln!(
            out,
            "  journal: damaged at bytes {} ({} read around the damage{})",
            ranges.join(", "),
            plural(j.records, "intact record", "intact records"),
            if j.recovered > 0 {
                format!(
                    ", {} whose content was whole used",
                    plural(j.recovered, "damaged record", "damaged records")
                )
            } else {
                String::new()
            }
        )?;
    }
    if j.lacked > 0 {
        writeln!(
            out,
            "  journal: lacked {} the database has",
            plural(j.lacked, "change", "changes")
        )?;
    }
    if let Some(db) = &doc.database {
        writeln!(out, "  database copy: {db}")?;
    }
    if doc.database_lacked > 0 {
        writeln!(
            out,
            "  database copy: lacked {} the journal has",
            plural(doc.database_lacked, "change", "changes")
        )?;
    }
    for repair in &doc.repairs {
        writeln!(out, "  repaired: {repair}")?;
    }
    if let Some(kept) = &j.kept_as {
        writeln!(out, "  the damaged journal was kept as {}", kept.display())?;
    }
    let lost = &doc.lost;
    if lost.is_empty() {
        if !doc.healthy() {
            writeln!(out, "  nothing lost")?;
        }
    } else {
        if !lost.missing_changes.is_empty() {
            writeln!(
                out,
                "  LOST: {} no copy holds ({}); {} kept but cannot apply without them",
                plural(lost.missing_changes.len(), "change", "changes"),
                short_hashes(&lost.missing_changes),
                plural(lost.held_changes, "later change is", "later changes are")
            )?;
        }
        if !lost.lost_heads.is_empty() {
            writeln!(
                out,
                "  LOST: {} the copies recorded that no copy holds ({})",
                plural(lost.lost_heads.len(), "change", "changes"),
                short_hashes(&lost.lost_heads)
            )?;
        }
        if lost.unreadable_bytes > 0 {
            writeln!(
                out,
                "  LOST: {} of the journal unreadable, and no other copy holds what they held",
                plural(lost.unreadable_bytes as usize, "byte", "bytes")
            )?;
        }
        if lost.unconfirmed_bytes > 0 {
            writeln!(
                out,
                "  MAYBE LOST: the journal ends in an unfinished record ({} bytes) and no database says whether that save had returned; if the file was cut short, later changes are gone",
                lost.unconfirmed_bytes
            )?;
        }
    }
    if let Some(c) = canvas {
        if let (Some(before), Some(now)) = (c.index_notes, c.notes) {
            if c.index_fixed {
                writeln!(
                    out,
                    "  notes: the index counted {before}, {now} load now (index corrected)"
                )?;
            }
        }
        if !c.held_notes.is_empty() {
            writeln!(
                out,
                "  notes in the changes held back (not on the board until the lost change comes back):"
            )?;
            for n in &c.held_notes {
                let text = n
                    .text
                    .as_deref()
                    .map_or("(text not known)".to_string(), |t| format!("\"{t}\""));
                let how = if n.created {
                    "added after the loss"
                } else {
                    "changed after the loss"
                };
                writeln!(out, "    {}  {text}  ({how})", n.id)?;
            }
        }
    }
    if let Some(c) = canvas.filter(|c| c.unaccounted_notes > 0) {
        writeln!(
            out,
            "  LOST: {} the index counted, neither on the board nor in a surviving change (created in the lost change; text not known)",
            plural(c.unaccounted_notes, "note", "notes")
        )?;
    }
    if let Some(what) = &doc.unrepaired {
        writeln!(out, "  not repaired: {what}")?;
    }
    Ok(())
}

fn print_settings(report: &DoctorReport, out: &mut dyn Write) -> Result<()> {
    let s = &report.settings;
    for repair in &s.repairs {
        writeln!(out, "settings: {repair}")?;
    }
    if s.lost.unreadable_bytes > 0 || s.lost.unconfirmed_bytes > 0 {
        writeln!(
            out,
            "settings: LOST: {} of the settings journal unreadable; check gapmap config name and gapmap remote list",
            plural((s.lost.unreadable_bytes + s.lost.unconfirmed_bytes) as usize, "byte", "bytes")
        )?;
    }
    Ok(())
}

fn short_hashes(hashes: &[String]) -> String {
    let mut shown: Vec<&str> = hashes
        .iter()
        .take(3)
        .map(|h| &h[..12.min(h.len())])
        .collect();
    if hashes.len() > 3 {
        shown.push("…");
    }
    shown.join(", ")
}

/// The notes that `held` (changes waiting for lost ones) create or change,
/// read from their operations: the object ids they write to are mapped to
/// the notes of `doc` (the canvas as it loads), and notes they create are
/// named by their id and the text they were given. When the canvas's own
/// notes map was in the lost changes, a note is recognised by its shape: a
/// map put under a key of an unknown object that gets a `section` or `text`.
fn held_notes(doc: &mut AutoCommit, held: &[Change]) -> Vec<HeldNote> {
    let doc_notes = match doc.get(ROOT, "notes") {
        Ok(Some((Value::Object(ObjType::Map), obj))) => Some(obj),
        _ => None,
    };
    let mut held: Vec<&Change> = held.iter().collect();
    held.sort_by_key(|c| (c.timestamp(), c.seq()));
    let expanded: Vec<_> = held.iter().map(|c| c.decode()).collect();
    let op_ids = |e: &automerge::ExpandedChange, i: usize| {
        format!("{}@{}", e.start_op.get() + i as u64, e.actor_id)
    };
    let obj_of = |op: &automerge::legacy::Op| match &op.obj {
        ObjectId::Root => "_root".to_string(),
        ObjectId::Id(id) => id.to_string(),
    };
    let mut made_in_held: BTreeSet<String> = BTreeSet::new();
    let mut notes_obj = doc_notes.as_ref().map(ToString::to_string);
    for e in &expanded {
        for (i, op) in e.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                made_in_held.insert(op_ids(e, i));
                if op.obj == ObjectId::Root && matches!(&op.key, Key::Map(k) if k == "notes") {
                    notes_obj = Some(op_ids(e, i));
                }
            }
        }
    }
    // Object id -> note id, for every object inside a note.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let existing: Vec<String> = match &doc_notes {
        Some(obj) => {
            let items: Vec<(String, automerge::ObjId)> = doc
                .map_range(obj, ..)
                .filter_map(|item| match item.value {
                    automerge::ValueRef::Object(_) => Some((item.key.to_string(), item.id())),
                    _ => None,
                })
                .collect();
            for (note, obj) in &items {
                mark_subtree(doc, obj, note, &mut owner, 3);
            }
            items.into_iter().map(|(n, _)| n).collect()
        }
        None => Vec::new(),
    };
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut shaped_like_a_note: BTreeSet<String> = BTreeSet::new();
    let mut text_objs: BTreeSet<String> = BTreeSet::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    for e in &expanded {
        for (i, op) in e.operations.iter().enumerate() {
            let op_id = op_ids(e, i);
            let obj = obj_of(op);
            let under_notes = match (&notes_obj, &doc_notes) {
                (Some(n), _) if *n == obj => true,
                // The notes map itself is lost: any object neither the
                // document nor the held changes know may be it.
                (None, None) => {
                    obj != "_root" && !made_in_held.contains(&obj) && !owner.contains_key(&obj)
                }
                _ => false,
            };
            if under_notes {
                if let Key::Map(note) = &op.key {
                    touched.insert(note.to_string());
                    if let OpType::Make(_) = op.action {
                        if !existing.iter().any(|n| n == note.as_str()) {
                            created.insert(note.to_string());
                        }
                        owner.insert(op_id, note.to_string());
                    }
                }
                continue;
            }
            let Some(note) = owner.get(&obj).cloned() else {
                continue;
            };
            touched.insert(note.clone());
            if matches!(&op.key, Key::Map(k) if k == "section" || k == "text") {
                shaped_like_a_note.insert(note.clone());
            }
            match &op.action {
                OpType::Make(ObjType::Text) if matches!(&op.key, Key::Map(k) if k == "text") => {
                    text_objs.insert(op_id.clone());
                    owner.insert(op_id, note);
                }
                OpType::Make(_) => {
                    owner.insert(op_id, note);
                }
                OpType::Put(ScalarValue::Str(s)) if op.insert && text_objs.contains(&obj) => {
                    typed.entry(note).or_default().push_str(s);
                }
                _ => {}
            }
        }
    }
    if notes_obj.is_none() {
        touched.retain(|n| shaped_like_a_note.contains(n));
    }
    let now: BTreeMap<String, String> = Canvas::from_doc(doc.clone())
        .map(|c| {
            c.notes()
                .into_iter()
                .map(|n| (n.id.to_string(), n.text))
                .collect()
        })
        .unwrap_or_default();
    touched
        .into_iter()
        .map(|id| {
            let is_created = created.contains(&id);
            let text = if is_created {
                typed.get(&id).cloned()
            } else {
                now.get(&id).cloned()
            };
            HeldNote {
                id,
                text,
                created: is_created,
            }
        })
        .collect()
}

/// Maps every object under `obj` (to `depth` levels) to `note`.
fn mark_subtree(
    doc: &AutoCommit,
    obj: &automerge::ObjId,
    note: &str,
    owner: &mut BTreeMap<String, String>,
    depth: usize,
) {
    owner.insert(obj.to_string(), note.to_string());
    if depth == 0 {
        return;
    }
    let children: Vec<automerge::ObjId> = match doc.object_type(obj) {
        Ok(ObjType::Map | ObjType::Table) => doc
            .map_range(obj, ..)
            .filter_map(|item| match item.value {
                automerge::ValueRef::Object(_) => Some(item.id()),
                _ => None,
            })
            .collect(),
        Ok(ObjType::List) => doc
            .list_range(obj, ..)
            .filter_map(|item| match item.value {
                automerge::ValueRef::Object(_) => Some(item.id()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for child in children {
        mark_subtree(doc, &child, note, owner, depth - 1);
    }
}

/// `gapmap list`'s counts: entries the store rebuilt into another state
/// than they describe are recounted from the canvas as it loads.
pub fn fresh_counts(ctx: &Context, metas: &mut [DocMeta]) -> Result<()> {
    let stale = ctx.store.store().stale_index()?;
    for meta in metas.iter_mut().filter(|m| stale.contains(&m.id)) {
        let Ok(id) = DocId::parse(&meta.id) else {
            continue;
        };
        match ctx.load_id(id) {
            Ok(mut loaded) => {
                meta.notes = loaded.canvas.live_note_count();
                meta.title = loaded.canvas.title();
            }
            // It does not load as a canvas (damage took its first changes).
            Err(_) => meta.notes = 0,
        }
    }
    Ok(())
}
