//! What the page is sent: the board as JSON (every note, trashed ones
//! too, with votes, comments and conflicting values), the history as a list
//! of changes and rounds, and the board at an earlier point.

use std::collections::HashSet;

use anyhow::{bail, Result};
use automerge::ChangeHash;
use gapmap_canvas::{Canvas, DocId, Group, Note, Section};

use super::research;
use serde_json::{json, Value as Json};

/// The sections as the page lays them out: id, title, framework.
pub fn sections() -> Json {
    Section::ALL
        .iter()
        .map(|s| {
            let group = match s.group() {
                Group::Progress => "progress",
                Group::Forces => "forces",
                Group::Outcomes => "outcomes",
                Group::JobsPainsGains => "jpg",
                Group::JobMap => "jobmap",
            };
            json!({ "id": s.id(), "title": s.title(), "group": group })
        })
        .collect()
}

/// The whole board for the page.
pub fn board(canvas: &Canvas, id: &DocId) -> Json {
    let all = canvas.notes();
    let evidence = research::evidence(canvas, &all);
    let notes: Vec<Json> = all
        .iter()
        .map(|n| note(canvas, n, research::badge(evidence.get(n.id.as_str()))))
        .collect();
    let job = canvas.job();
    let customer = canvas.customer();
    let members: Vec<Json> = canvas
        .members()
        .into_values()
        .map(|m| json!({ "name": m.name, "color": m.color }))
        .collect();
    json!({
        "id": id.to_string(),
        "url": id.url(),
        "title": canvas.title(),
        "job": { "situation": job.situation, "motivation": job.motivation, "outcome": job.outcome },
        "customer": { "type": customer.kind, "description": customer.description },
        "members": members,
        "notes": notes,
        "interviews": research::interviews(canvas),
    })
}

fn note(canvas: &Canvas, n: &Note, evidence: Json) -> Json {
    let comments: Vec<Json> = n
        .comments
        .iter()
        .map(|c| json!({ "id": c.id, "author": c.author, "at": c.at, "text": c.text, "resolved": c.resolved }))
        .collect();
    let conflicts = canvas.conflicts(&n.id);
    json!({
        "id": n.id.to_string(),
        "section": n.section.id(),
        "text": n.text,
        "status": n.status.as_str(),
        "tags": n.tags,
        "author": n.author,
        "votes": n.votes,
        "comments": comments,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "trashed": n.is_trashed(),
        "conflicts": conflicts,
        "evidence": evidence,
    })
}

/// The history for the slider: every change, oldest first, and the rounds
/// with the index of the change each started at.
pub fn history(canvas: &Canvas) -> Json {
    let entries = canvas.history();
    let changes: Vec<Json> = entries
        .iter()
        .map(|e| json!({ "hash": e.hash, "author": e.author, "time": e.time_ms, "message": e.message }))
        .collect();
    let rounds: Vec<Json> = canvas
        .rounds()
        .into_iter()
        .map(|r| {
            let heads: HashSet<String> = r.heads.iter().map(ToString::to_string).collect();
            let index = entries.iter().rposition(|e| heads.contains(&e.hash));
            json!({ "id": r.id.to_string(), "label": r.label, "at": r.at, "index": index })
        })
        .collect();
    json!({ "changes": changes, "rounds": rounds })
}

/// The canvas as it was after its first `count` changes (in the order of
/// [`history`]), or at a round: read-only, from the document's history.
pub fn at(canvas: &Canvas, count: Option<usize>, round: Option<&str>) -> Result<Canvas> {
    let mut doc = canvas.doc().clone();
    let heads: Vec<ChangeHash> = match (count, round) {
        (_, Some(round)) => {
            let round = canvas.round(round)?;
            if round
                .heads
                .iter()
                .any(|h| doc.get_change_by_hash(h).is_none())
            {
                bail!(
                    "round \"{}\" has no history in this copy of the canvas",
                    round.label
                );
            }
            round.heads
        }
        (Some(count), None) => {
            let changes = doc.get_changes(&[]);
            if count == 0 || count > changes.len() {
                bail!(
                    "there is no point {count} in the history (it has {} changes)",
                    changes.len()
                );
            }
            let prefix = &changes[..count];
            let depended: HashSet<ChangeHash> =
                prefix.iter().flat_map(|c| c.deps().to_vec()).collect();
            prefix
                .iter()
                .map(|c| c.hash())
                .filter(|h| !depended.contains(h))
                .collect()
        }
        (None, None) => bail!("say which point of the history to show: a change index or a round"),
    };
    let past = doc.fork_at(&heads)?;
    match Canvas::from_doc(past) {
        Ok(c) => Ok(c),
        Err(_) => bail!("the canvas did not exist yet at that point"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gapmap_canvas::Status;

    #[test]
    fn board_lists_trashed_notes_and_conflicts() {
        let now = 1_700_000_000_000;
        let mut a = Canvas::create("Conflicts", "ana", now).unwrap();
        let n = a
            .add_note(Section::Now, "<script>x</script>", &[], "ana", now)
            .unwrap();
        let m = a.add_note(Section::Now, "gone", &[], "ana", now).unwrap();
        a.trash_note(&m, now).unwrap();
        let mut b = a.fork();
        a.mark(&n, Status::Validated, now + 1).unwrap();
        b.mark(&n, Status::Invalidated, now + 2).unwrap();
        a.merge(&mut b).unwrap();
        let id = DocId::random();
        let json = board(&a, &id);
        let notes = json["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 2);
        let first = notes.iter().find(|x| x["id"] == n.to_string()).unwrap();
        assert_eq!(first["text"], "<script>x</script>");
        let mut values: Vec<String> =
            serde_json::from_value(first["conflicts"]["status"].clone()).unwrap();
        values.sort();
        assert_eq!(values, ["invalidated", "validated"]);
        assert!(notes.iter().any(|x| x["trashed"] == true));

        // Picking one value ends the conflict.
        a.mark(&n, Status::Validated, now + 3).unwrap();
        assert!(board(&a, &id)["notes"][0]["conflicts"]
            .as_object()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn history_points_show_earlier_states() {
        let now = 1_700_000_000_000;
        let mut c = Canvas::create("History", "ana", now).unwrap();
        c.add_note(Section::Now, "first", &[], "ana", now).unwrap();
        c.add_note(Section::Now, "second", &[], "ana", now).unwrap();
        let h = history(&c);
        assert_eq!(h["changes"].as_array().unwrap().len(), 3);
        let past = at(&c, Some(2), None).unwrap();
        assert_eq!(past.notes().len(), 1);
        assert!(at(&c, Some(0), None).is_err());
        assert!(at(&c, Some(4), None).is_err());
        assert_eq!(at(&c, Some(3), None).unwrap().notes().len(), 2);

        // By round: the canvas as it was when the round started.
        let round = c.start_round("Round 2", &[], "ana", now).unwrap();
        c.add_note(Section::Now, "third", &[], "ana", now).unwrap();
        let h = history(&c);
        assert_eq!(h["rounds"][0]["label"], "Round 2");
        assert_eq!(
            h["rounds"][0]["index"], 2,
            "the round starts after the third change"
        );
        assert_eq!(at(&c, None, Some(round.as_ref())).unwrap().notes().len(), 2);
        assert!(at(&c, None, None).is_err());
    }
}
