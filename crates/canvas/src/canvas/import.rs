//! Reading a JSON export back into a canvas (`gapmap import FILE.json`).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ScalarValue, ROOT};
use serde_json::Value;

use super::{put_member, Canvas};
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, put_text};
use crate::render::EXPORT_SCHEMA;
use crate::section::Section;
use crate::{Effect, Status};

fn bad(what: impl Into<String>) -> CanvasError {
    CanvasError::NotAnExport(what.into())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn int_of(v: &Value, key: &str) -> Option<i64> {
    let value = v.get(key)?;
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f.round() as i64))
}

fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A map key from JSON: non-empty, else refused (it would be no id at all).
fn key_of<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    let id = str_of(v, "id").trim();
    if id.is_empty() {
        Err(bad(format!("a {what} has no \"id\"")))
    } else {
        Ok(id)
    }
}

impl Canvas {
    /// A new canvas holding what a JSON export (schema `gapmap/export/1`,
    /// see `docs/export-format.md`) describes: notes with their ids, ranks,
    /// statuses, tags, votes, links, comments and ratings, the trash,
    /// interviews with their questions, transcripts and findings, rounds and
    /// members. Derived parts (evidence, coverage, outcomes) are recomputed,
    /// not read. The export carries no history, so the new canvas starts its
    /// own: rounds come back without heads (`show --at` cannot go there).
    pub fn from_export(export: &Value, author: &str, now_ms: i64) -> Result<Canvas> {
        if !export.is_object() {
            return Err(bad("expected a JSON object"));
        }
        match export.get("schema").and_then(Value::as_str) {
            Some(EXPORT_SCHEMA) => {}
            Some(other) => {
                return Err(bad(format!("schema {other:?}, expected {EXPORT_SCHEMA:?}")))
            }
            None => return Err(bad("no \"schema\" key")),
        }
        let title = str_of(export, "title").trim();
        let title = if title.is_empty() {
            "Imported canvas"
        } else {
            title
        };
        let mut canvas = Canvas::create(title, author, now_ms)?;
        let mut notes: Vec<(Section, &Value)> = Vec::new();
        if let Some(sections) = export.get("sections").and_then(Value::as_object) {
            for (id, list) in sections {
                let section =
                    Section::from_id(id).ok_or_else(|| bad(format!("unknown section {id:?}")))?;
                for note in list.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    notes.push((section, note));
                }
            }
        } else {
            return Err(bad("no \"sections\" object"));
        }
        for note in array_of(export, "trash") {
            let id = str_of(note, "section");
            let section =
                Section::from_id(id).ok_or_else(|| bad(format!("unknown section {id:?}")))?;
            notes.push((section, note));
        }
        canvas.write(now_ms, |doc| {
            let job = ensure_map(doc, &ROOT, "job")?;
            let j = export.get("job").unwrap_or(&Value::Null);
            for key in ["situation", "motivation", "outcome"] {
                put_text(doc, &job, key, str_of(j, key))?;
            }
            let customer = ensure_map(doc, &ROOT, "customer")?;
            let c = export.get("customer").unwrap_or(&Value::Null);
            doc.put(&customer, "type", str_of(c, "type"))?;
            put_text(doc, &customer, "description", str_of(c, "description"))?;
            let note_map = ensure_map(doc, &ROOT, "notes")?;
            for (i, (section, note)) in notes.iter().enumerate() {
                write_note(doc, &note_map, *section, note, i)?;
            }
            let interviews = ensure_map(doc, &ROOT, "interviews")?;
            for interview in array_of(export, "interviews") {
                write_interview(doc, &interviews, interview)?;
            }
            let rounds = ensure_map(doc, &ROOT, "rounds")?;
            for round in array_of(export, "rounds") {
                let obj = doc.put_object(&rounds, key_of(round, "round")?, ObjType::Map)?;
                doc.put(&obj, "label", str_of(round, "label"))?;
                doc.put(&obj, "at", int_of(round, "at").unwrap_or(0))?;
                doc.put_object(&obj, "heads", ObjType::List)?;
                doc.put(&obj, "author", str_of(round, "author"))?;
                let focus = doc.put_object(&obj, "focus", ObjType::List)?;
                let sections = array_of(round, "focus").iter().filter_map(Value::as_str);
                for (i, s) in sections
                    .filter(|s| Section::from_id(s).is_some())
                    .enumerate()
                {
                    doc.insert(&focus, i, s)?;
                }
            }
            for member in array_of(export, "members") {
                let actor = str_of(member, "actor").to_ascii_lowercase();
                if !actor.is_empty() && hex::decode(&actor).is_ok() {
                    put_member(doc, &actor, str_of(member, "name"), str_of(member, "color"))?;
                }
            }
            Ok((
                (),
                format!("import from JSON export: {} notes", notes.len()),
            ))
        })?;
        Ok(canvas)
    }
}

fn write_note(
    doc: &mut AutoCommit,
    notes: &ObjId,
    section: Section,
    note: &Value,
    i: usize,
) -> Result<()> {
    let id = key_of(note, "note")?;
    let obj = doc.put_object(notes, id, ObjType::Map)?;
    doc.put(&obj, "section", section.id())?;
    put_text(doc, &obj, "text", str_of(note, "text"))?;
    let rank = match str_of(note, "rank") {
        "" => format!("i{i:06}"),
        r => r.to_string(),
    };
    doc.put(&obj, "rank", rank.as_str())?;
    let status: Status = str_of(note, "status").parse().unwrap_or_default();
    doc.put(&obj, "status", status.as_str())?;
    let set = |doc: &mut AutoCommit, key: &str| -> Result<()> {
        let map = doc.put_object(&obj, key, ObjType::Map)?;
        for item in array_of(note, key).iter().filter_map(Value::as_str) {
            doc.put(&map, item, true)?;
        }
        Ok(())
    };
    set(doc, "tags")?;
    set(doc, "votes")?;
    let links = doc.put_object(&obj, "links", ObjType::Map)?;
    if let Some(map) = note.get("links").and_then(Value::as_object) {
        for (target, kind) in map {
            if let Some(kind) = kind.as_str() {
                doc.put(&links, target.as_str(), kind)?;
            }
        }
    }
    let comments = doc.put_object(&obj, "comments", ObjType::Map)?;
    for comment in array_of(note, "comments") {
        let c = doc.put_object(&comments, key_of(comment, "comment")?, ObjType::Map)?;
        doc.put(&c, "author", str_of(comment, "author"))?;
        doc.put(&c, "at", int_of(comment, "at").unwrap_or(0))?;
        put_text(doc, &c, "text", str_of(comment, "text"))?;
        let resolved = comment
            .get("resolved")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        doc.put(&c, "resolved", resolved)?;
    }
    let ratings = doc.put_object(&obj, "ratings", ObjType::Map)?;
    if let Some(map) = note.get("ratings").and_then(Value::as_object) {
        for (person, rating) in map {
            let r = doc.put_object(&ratings, person.as_str(), ObjType::Map)?;
            for key in ["importance", "satisfaction"] {
                if let Some(v) = int_of(rating, key) {
                    doc.put(&r, key, v)?;
                }
            }
        }
    }
    doc.put(&obj, "author", str_of(note, "author"))?;
    let created = int_of(note, "created_at").unwrap_or(0);
    doc.put(&obj, "created_at", created)?;
    doc.put(
        &obj,
        "updated_at",
        int_of(note, "updated_at").unwrap_or(created),
    )?;
    match int_of(note, "trashed_at") {
        Some(t) => doc.put(&obj, "trashed_at", t)?,
        None => doc.put(&obj, "trashed_at", ScalarValue::Null)?,
    }
    Ok(())
}

fn write_interview(doc: &mut AutoCommit, interviews: &ObjId, interview: &Value) -> Result<()> {
    let obj = doc.put_object(interviews, key_of(interview, "interview")?, ObjType::Map)?;
    put_text(doc, &obj, "interviewee", str_of(interview, "interviewee"))?;
    doc.put(&obj, "customer_type", str_of(interview, "customer_type"))?;
    doc.put(&obj, "date", str_of(interview, "date"))?;
    let questions = doc.put_object(&obj, "questions", ObjType::List)?;
    for (i, q) in array_of(interview, "questions")
        .iter()
        .filter_map(Value::as_str)
        .enumerate()
    {
        let item = doc.insert_object(&questions, i, ObjType::Text)?;
        doc.splice_text(&item, 0, 0, q)?;
    }
    put_text(doc, &obj, "transcript", str_of(interview, "transcript"))?;
    doc.put(&obj, "author", str_of(interview, "author"))?;
    doc.put(
        &obj,
        "created_at",
        int_of(interview, "created_at").unwrap_or(0),
    )?;
    let findings = doc.put_object(&obj, "findings", ObjType::Map)?;
    for f in array_of(interview, "findings") {
        let fo = doc.put_object(&findings, key_of(f, "finding")?, ObjType::Map)?;
        put_text(doc, &fo, "text", str_of(f, "text"))?;
        doc.put(&fo, "author", str_of(f, "author"))?;
        doc.put(&fo, "at", int_of(f, "at").unwrap_or(0))?;
        match f
            .get("note")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(n) => doc.put(&fo, "note", n)?,
            None => doc.put(&fo, "note", ScalarValue::Null)?,
        }
        let effect: Effect = str_of(f, "effect").parse().unwrap_or_default();
        doc.put(&fo, "effect", effect.as_str())?;
        if !str_of(f, "interpretation").is_empty() {
            put_text(doc, &fo, "interpretation", str_of(f, "interpretation"))?;
        }
        let links = doc.put_object(&fo, "links", ObjType::Map)?;
        for link in array_of(f, "links") {
            let stance: Option<Effect> = str_of(link, "effect").parse().ok();
            let note = str_of(link, "note");
            if let (false, Some(e @ (Effect::Supports | Effect::Contradicts))) =
                (note.is_empty(), stance)
            {
                doc.put(&links, note, e.as_str())?;
            }
        }
    }
    if let Some(at) = int_of(interview, "purged_at") {
        doc.put(&obj, "purged_at", at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::LinkKind;
    use crate::render::to_export_json;
    use crate::{DocId, FindingTarget};

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn an_export_reads_back_as_the_same_canvas() {
        let mut c = Canvas::create("Round trip", "ana", T0).unwrap();
        c.set_job(
            Some("a project ends"),
            Some("send the invoice"),
            Some("get paid"),
            T0,
        )
        .unwrap();
        c.set_customer(Some("user"), Some("solo designers"), T0)
            .unwrap();
        let k = c
            .add_note(
                Section::Constraint,
                "Fears clients",
                &["fear".into()],
                "ana",
                T0,
            )
            .unwrap();
        let d = c
            .add_note(Section::Design, "Friendly reminders", &[], "bo", T0)
            .unwrap();
        let g = c
            .add_note(Section::Goal, "Paid in 30 days", &[], "ana", T0)
            .unwrap();
        let t = c.add_note(Section::Now, "Trashed", &[], "ana", T0).unwrap();
        c.trash_note(&t, T0).unwrap();
        c.mark(&k, Status::Validated, T0).unwrap();
        c.link(&d, LinkKind::Addresses, &k, T0).unwrap();
        c.rate(&g, "ana", Some(9), Some(3), T0).unwrap();
        c.vote(&d, "bo", T0).unwrap();
        let comment = c.add_comment(&d, "nice", "cy", T0).unwrap();
        c.resolve_comment(&d, &comment, T0).unwrap();
        let i = c
            .add_interview("Maria", "user", Some("2024-05-17"), "ana", T0)
            .unwrap();
        c.ask(&i, "What stopped you?", T0).unwrap();
        c.append_transcript(&i, "She hesitates", "ana", T0).unwrap();
        c.add_finding(
            &i,
            "Afraid to nag",
            FindingTarget::Supports(k.clone()),
            "ana",
            T0,
        )
        .unwrap();
        c.start_round("r1", &[Section::Constraint], "ana", T0)
            .unwrap();

        let id = DocId::random();
        let export = to_export_json(&c, &id);
        let back = Canvas::from_export(&export, "zed", T0 + 1).unwrap();
        assert_eq!(back.notes(), c.notes());
        assert_eq!(back.interviews(), c.interviews());
        assert_eq!(back.job(), c.job());
        assert_eq!(back.customer(), c.customer());
        assert_eq!(back.title(), c.title());
        let (r, orig) = (&back.rounds()[0], &c.rounds()[0]);
        assert_eq!(
            (&r.label, r.at, &r.focus),
            (&orig.label, orig.at, &orig.focus)
        );
        assert!(r.heads.is_empty());
        let mut again = to_export_json(&back, &id);
        let mut first = export.clone();
        for v in [&mut again, &mut first] {
            v["rounds"][0]["heads"] = Value::Null;
            v["members"] = Value::Null;
        }
        assert_eq!(again, first, "export → import → export is stable");
    }

    #[test]
    fn refuses_what_is_not_an_export() {
        for (json, want) in [
            (serde_json::json!([1]), "expected a JSON object"),
            (serde_json::json!({"title": "x"}), "no \"schema\" key"),
            (
                serde_json::json!({"schema": "other/1"}),
                "schema \"other/1\"",
            ),
            (
                serde_json::json!({"schema": EXPORT_SCHEMA}),
                "no \"sections\" object",
            ),
            (
                serde_json::json!({"schema": EXPORT_SCHEMA, "sections": {"middle": []}}),
                "unknown section \"middle\"",
            ),
            (
                serde_json::json!({"schema": EXPORT_SCHEMA, "sections": {"now": [{"text": "x"}]}}),
                "a note has no \"id\"",
            ),
        ] {
            let err = Canvas::from_export(&json, "ana", T0).unwrap_err();
            assert!(err.to_string().contains(want), "{err} / {want}");
        }
    }
}
