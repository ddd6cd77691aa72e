//! The JSON export: everything in a canvas, in a stable, documented shape
//! (`docs/export-format.md`) that [`Canvas::from_export`] reads back.

use serde_json::{json, Map, Value};

use super::live_by_section;
use crate::evidence::Evidence;
use crate::{Canvas, DocId, Interview, Note, Round};

/// The value of the export's `schema` key.
pub const EXPORT_SCHEMA: &str = "gapmap/export/1";

/// The whole canvas as JSON: `{"schema","id","url","title","anonymised",
/// "job","customer","sections","trash","interviews","rounds","coverage",
/// "outcomes","members"}`. Keys keep this order; every section id is
/// present in canvas order. Notes carry everything stored on them plus
/// their evidence; `coverage` and `outcomes` are derived (an import
/// ignores them).
pub fn to_export_json(canvas: &Canvas, id: &DocId) -> Value {
    let evidence = canvas.evidence();
    let note = |n: &Note| note_json(n, evidence.get(&n.id));
    let sections: Map<String, Value> = live_by_section(canvas)
        .into_iter()
        .map(|(section, notes)| {
            (
                section.id().to_string(),
                Value::Array(notes.iter().map(note).collect()),
            )
        })
        .collect();
    let trash: Vec<Value> = canvas
        .notes()
        .iter()
        .filter(|n| n.is_trashed())
        .map(note)
        .collect();
    let job = canvas.job();
    let customer = canvas.customer();
    let coverage = canvas.coverage();
    let gap_item = |g: &crate::GapItem| {
        json!({
            "id": g.note.id.as_str(),
            "text": g.note.text,
            "addressed_by": g.by.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        })
    };
    let outcomes: Vec<Value> = canvas
        .outcomes()
        .iter()
        .map(|o| {
            json!({
                "id": o.note.id.as_str(),
                "section": o.note.section.id(),
                "text": o.note.text,
                "importance": o.importance,
                "satisfaction": o.satisfaction,
                "raters": o.raters,
                "opportunity": o.opportunity,
            })
        })
        .collect();
    let members: Vec<Value> = canvas
        .members()
        .into_iter()
        .map(|(actor, m)| json!({ "actor": actor, "name": m.name, "color": m.color }))
        .collect();
    json!({
        "schema": EXPORT_SCHEMA,
        "id": id.to_string(),
        "url": id.url(),
        "title": canvas.title(),
        "anonymised": canvas.is_anonymised(),
        "job": {
            "situation": job.situation,
            "motivation": job.motivation,
            "outcome": job.outcome,
            "statement": job.statement(),
        },
        "customer": { "type": customer.kind, "description": customer.description },
        "sections": sections,
        "trash": trash,
        "interviews": canvas.interviews().iter().map(interview_json).collect::<Vec<_>>(),
        "rounds": canvas.rounds().iter().map(round_json).collect::<Vec<_>>(),
        "coverage": {
            "constraints": coverage.constraints.iter().map(gap_item).collect::<Vec<_>>(),
            "catalysts": coverage.catalysts.iter().map(gap_item).collect::<Vec<_>>(),
            "complete": coverage.is_complete(),
        },
        "outcomes": outcomes,
        "members": members,
    })
}

fn note_json(note: &Note, evidence: Option<&Evidence>) -> Value {
    let empty = Evidence::default();
    let e = evidence.unwrap_or(&empty);
    let ratings: Map<String, Value> = note
        .ratings
        .iter()
        .map(|(person, r)| {
            (
                person.clone(),
                json!({ "importance": r.importance, "satisfaction": r.satisfaction }),
            )
        })
        .collect();
    json!({
        "id": note.id.as_str(),
        "text": note.text,
        "status": note.status.as_str(),
        "tags": note.tags,
        "author": note.author,
        "section": note.section.id(),
        "rank": note.rank,
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "trashed_at": note.trashed_at,
        "votes": note.votes,
        "links": note.links,
        "comments": note.comments.iter().map(|c| json!({
            "id": c.id, "author": c.author, "at": c.at, "text": c.text, "resolved": c.resolved,
        })).collect::<Vec<_>>(),
        "ratings": ratings,
        "evidence": {
            "supports": e.supports,
            "contradicts": e.contradicts,
            "interviewees": e.interviewees,
        },
    })
}

fn interview_json(i: &Interview) -> Value {
    json!({
        "id": i.id.as_str(),
        "interviewee": i.interviewee,
        "customer_type": i.customer_type,
        "date": i.date,
        "author": i.author,
        "created_at": i.created_at,
        "questions": i.questions,
        "transcript": i.transcript,
        "purged_at": i.purged_at,
        "findings": i.findings.iter().map(|f| json!({
            "id": f.id.as_str(),
            "text": f.text,
            "interpretation": f.interpretation,
            "author": f.author,
            "at": f.at,
            "note": f.note.as_ref().map(|n| n.as_str()),
            "effect": f.effect.as_str(),
            "links": f.links.iter().map(|l| json!({
                "note": l.note.as_str(),
                "effect": l.effect.as_str(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn round_json(r: &Round) -> Value {
    json!({
        "id": r.id.as_str(),
        "label": r.label,
        "at": r.at,
        "author": r.author,
        "heads": r.heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "focus": r.focus.iter().map(|s| s.id()).collect::<Vec<_>>(),
    })
}
