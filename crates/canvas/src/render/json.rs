//! The JSON of `gapmap show --json` (DESIGN §4, a contract).

use serde_json::{json, Map, Value};

use super::live_by_section;
use crate::{Canvas, Conflicts, DocId, Note};

/// The canvas as `gapmap show --json` prints it:
///
/// `{"id","title","job":{"situation","motivation","outcome"},
/// "customer":{"type","description"},"sections":{<id>:[{"id","text",
/// "status","tags","author"}]},"url"}`
///
/// Keys keep this order; every section id is present, in
/// [`Section::ALL`](crate::Section::ALL) order; notes are live ones by rank;
/// tags are sorted. `url` (the `automerge:` URL) is an addition after the
/// contract keys, and so is a note's `conflicts` (`{"status": ["validated",
/// "invalidated"]}`: every value written concurrently, the one shown first),
/// present only on a note that has some.
pub fn to_json(canvas: &Canvas, id: &DocId) -> Value {
    let job = canvas.job();
    let customer = canvas.customer();
    let conflicts = canvas.all_conflicts();
    let sections: Map<String, Value> = live_by_section(canvas)
        .into_iter()
        .map(|(section, notes)| {
            let notes = notes
                .iter()
                .map(|n| note_json(n, conflicts.get(&n.id)))
                .collect();
            (section.id().to_string(), Value::Array(notes))
        })
        .collect();
    json!({
        "id": id.to_string(),
        "title": canvas.title(),
        "job": {
            "situation": job.situation,
            "motivation": job.motivation,
            "outcome": job.outcome,
        },
        "customer": {
            "type": customer.kind,
            "description": customer.description,
        },
        "sections": sections,
        "url": id.url(),
    })
}

fn note_json(note: &Note, conflicts: Option<&Conflicts>) -> Value {
    let mut v = json!({
        "id": note.id.as_str(),
        "text": note.text,
        "status": note.status.as_str(),
        "tags": note.tags,
        "author": note.author,
    });
    if let Some(c) = conflicts {
        v["conflicts"] = json!(c);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Position, Section, Status};

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn shape_and_key_order_are_exact() {
        let mut c = Canvas::create("Commuters", "ana", 0).unwrap();
        c.set_job(Some("s"), Some("m"), Some("o"), 0).unwrap();
        c.set_customer(Some("user"), Some("d"), 0).unwrap();
        let a = c
            .add_note(Section::Now, "a", &["z".into(), "b".into()], "ana", 0)
            .unwrap();
        let b = c.add_note(Section::Now, "b", &[], "bo", 0).unwrap();
        c.move_note(&b, Section::Now, Position::Before(a.clone()), 0)
            .unwrap();
        c.mark(&a, Status::Validated, 0).unwrap();
        let gone = c.add_note(Section::Gain, "trashed", &[], "ana", 0).unwrap();
        c.trash_note(&gone, 0).unwrap();
        let id = DocId::random();
        let v = to_json(&c, &id);

        assert_eq!(
            keys(&v),
            ["id", "title", "job", "customer", "sections", "url"]
        );
        assert_eq!(keys(&v["job"]), ["situation", "motivation", "outcome"]);
        assert_eq!(keys(&v["customer"]), ["type", "description"]);
        let ids: Vec<&str> = Section::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(keys(&v["sections"]), ids);
        assert_eq!(v["id"], id.to_string());
        assert_eq!(v["url"], id.url());
        assert_eq!(v["title"], "Commuters");
        assert_eq!(v["customer"]["type"], "user");

        let now = v["sections"]["now"].as_array().unwrap();
        assert_eq!(now.len(), 2);
        assert_eq!(keys(&now[0]), ["id", "text", "status", "tags", "author"]);
        assert_eq!(now[0]["id"], b.as_str());
        assert_eq!(now[0]["tags"], json!([]));
        assert_eq!(now[1]["text"], "a");
        assert_eq!(now[1]["status"], "validated");
        assert_eq!(now[1]["tags"], json!(["b", "z"]));
        assert_eq!(now[1]["author"], "ana");
        assert_eq!(v["sections"]["gain"], json!([]));

        assert!(
            now[0].get("conflicts").is_none(),
            "only when there are some"
        );

        let text = serde_json::to_string(&v).unwrap();
        assert!(text.starts_with(&format!(
            "{{\"id\":\"{id}\",\"title\":\"Commuters\",\"job\":{{\"situation\":\"s\",\
             \"motivation\":\"m\",\"outcome\":\"o\"}},\"customer\":{{\"type\":\"user\",\
             \"description\":\"d\"}},\"sections\":{{\"now\":[{{\"id\":\"{b}\",\"text\":\"b\","
        )));
    }

    #[test]
    fn concurrent_values_are_listed_on_the_note() {
        let mut a = Canvas::create("Conflicts", "ana", 0).unwrap();
        let n = a.add_note(Section::Now, "x", &[], "ana", 0).unwrap();
        let mut b = a.fork();
        a.mark(&n, Status::Validated, 1).unwrap();
        b.move_note(&n, Section::ToBe, Position::End, 1).unwrap();
        b.mark(&n, Status::Invalidated, 1).unwrap();
        a.merge(&mut b).unwrap();
        let v = to_json(&a, &DocId::random());
        let note = &v["sections"][a.note(&n).unwrap().section.id()][0];
        let mut status: Vec<&str> = note["conflicts"]["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(status[0], note["status"]);
        status.sort();
        assert_eq!(status, ["invalidated", "validated"]);
        assert!(
            note["conflicts"].get("section").is_none(),
            "one side moved it"
        );
    }
}
