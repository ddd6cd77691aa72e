use super::*;
use crate::{Note, NoteId, Position, Section, Status};
use automerge::{ObjId, Value};

const T0: i64 = 1_700_000_000_000;

fn canvas() -> Canvas {
    Canvas::create("Commuters", "ana", T0).unwrap()
}

fn texts(c: &Canvas, s: Section) -> Vec<String> {
    c.section_notes(s).into_iter().map(|n| n.text).collect()
}

fn add(c: &mut Canvas, s: Section, text: &str) -> NoteId {
    c.add_note(s, text, &[], "ana", T0).unwrap()
}

fn note_obj(c: &Canvas, id: &NoteId) -> ObjId {
    let notes = get_map(c.doc(), &ROOT, "notes").unwrap();
    get_map(c.doc(), &notes, id.as_str()).unwrap()
}

#[test]
fn create_writes_the_schema_of_design_section_3() {
    let c = canvas();
    let doc = c.doc();
    assert_eq!(get_string(doc, &ROOT, "schema").unwrap(), SCHEMA);
    let is = |obj: &automerge::ObjId, key: &str, ty: ObjType| matches!(doc.get(obj, key).unwrap(), Some((Value::Object(t), _)) if t == ty);
    assert!(is(&ROOT, "title", ObjType::Text));
    for key in [
        "customer",
        "job",
        "notes",
        "interviews",
        "rounds",
        "members",
    ] {
        assert!(is(&ROOT, key, ObjType::Map), "{key}");
    }
    let job = get_map(doc, &ROOT, "job").unwrap();
    for key in ["situation", "motivation", "outcome"] {
        assert!(is(&job, key, ObjType::Text), "{key}");
    }
    let customer = get_map(doc, &ROOT, "customer").unwrap();
    assert!(is(&customer, "description", ObjType::Text));
    assert_eq!(get_string(doc, &customer, "type").unwrap(), "");
    assert_eq!(c.title(), "Commuters");
    assert_eq!(c.members()[&c.actor_hex()].name, "ana");
    assert!(!c.members()[&c.actor_hex()].color.is_empty());
}

#[test]
fn create_refuses_an_empty_title() {
    assert!(matches!(
        Canvas::create("  ", "ana", T0),
        Err(CanvasError::EmptyTitle)
    ));
    let c = Canvas::create("Solo", "", T0).unwrap();
    assert!(c.members().is_empty());
}

#[test]
fn from_doc_and_load_check_the_schema() {
    let mut c = canvas();
    let bytes = c.save();
    assert_eq!(Canvas::load(&bytes).unwrap().title(), "Commuters");
    assert_eq!(
        Canvas::from_doc(c.clone().into_doc()).unwrap().title(),
        "Commuters"
    );

    let mut other = AutoCommit::new();
    other.put(ROOT, "schema", "todo/1").unwrap();
    let err = Canvas::from_doc(other.clone()).unwrap_err();
    assert!(matches!(&err, CanvasError::NotACanvas(s) if s == "todo/1"));
    assert_eq!(
        err.to_string(),
        "not a gapmap canvas (schema \"todo/1\", expected \"gapmap/canvas/1\")"
    );
    assert!(matches!(
        Canvas::load(&other.save()),
        Err(CanvasError::NotACanvas(_))
    ));
    assert!(matches!(
        Canvas::from_doc(AutoCommit::new()),
        Err(CanvasError::NotACanvas(s)) if s.is_empty()
    ));

    // The schema written as a Text object (JavaScript Automerge 3) counts.
    let mut js = AutoCommit::new();
    put_text(&mut js, &ROOT, "schema", SCHEMA).unwrap();
    assert!(Canvas::from_doc(js).is_ok());
}

#[test]
fn load_refuses_garbage_and_truncated_files() {
    let mut c = canvas();
    add(&mut c, Section::Now, "one");
    let bytes = c.save();
    for bad in [
        &b"hello, world"[..],
        &bytes[..bytes.len() / 2],
        &bytes[..bytes.len() - 1],
        &bytes[..10],
    ] {
        let err = Canvas::load(bad).unwrap_err();
        assert!(matches!(err, CanvasError::Load(_)), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn load_accepts_incremental_changes() {
    let mut c = canvas();
    let mut bytes = c.save();
    let heads = c.doc_mut().get_heads();
    add(&mut c, Section::Now, "later");
    bytes.extend(c.doc_mut().save_after(&heads));
    assert_eq!(
        texts(&Canvas::load(&bytes).unwrap(), Section::Now),
        ["later"]
    );
}

#[test]
fn title_job_and_customer() {
    let mut c = canvas();
    c.set_title("Commuters by train", T0).unwrap();
    assert_eq!(c.title(), "Commuters by train");
    assert!(matches!(c.set_title("", T0), Err(CanvasError::EmptyTitle)));

    c.set_job(Some("I commute"), Some("work on the way"), None, T0)
        .unwrap();
    c.set_job(None, None, Some("get home earlier"), T0).unwrap();
    let job = c.job();
    assert_eq!(job.situation, "I commute");
    assert_eq!(job.motivation, "work on the way");
    assert_eq!(job.outcome, "get home earlier");
    c.set_job(Some(""), None, None, T0).unwrap();
    assert_eq!(c.job().situation, "");

    c.set_customer(Some("user"), Some("daily commuter, 30–50 km"), T0)
        .unwrap();
    c.set_customer(None, Some("daily commuter 🚆"), T0).unwrap();
    let customer = c.customer();
    assert_eq!(customer.kind, "user");
    assert_eq!(customer.description, "daily commuter 🚆");
}

#[test]
fn writes_giving_nothing_make_no_commit() {
    let mut c = canvas();
    let before = c.history().len();
    c.set_job(None, None, None, T0).unwrap();
    c.set_customer(None, None, T0).unwrap();
    let id = add(&mut c, Section::Now, "x");
    c.tag(&id, &[], &[], T0).unwrap();
    c.restore_note(&id, T0).unwrap();
    assert_eq!(c.empty_trash(T0).unwrap(), 0);
    assert_eq!(c.history().len(), before + 1);
}

#[test]
fn title_edits_are_character_level() {
    let mut a = canvas();
    let mut b = a.fork();
    a.set_title("Daily commuters", T0).unwrap();
    b.set_title("Commuters (é 🚆)", T0).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(a.title(), "Daily commuters (é 🚆)");
}

#[test]
fn members_and_history() {
    let mut c = canvas();
    c.set_actor(&[0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xff]);
    assert_eq!(c.actor_hex(), "abcdef0123456789ff");
    add(
        &mut c,
        Section::Now,
        "first words of a note that is long enough to be cut short",
    );
    c.set_member(&c.actor_hex(), "bo", "#123456", T0 + 5_500)
        .unwrap();
    assert_eq!(
        c.members()["abcdef0123456789ff"],
        Member {
            name: "bo".into(),
            color: "#123456".into()
        }
    );
    assert!(matches!(
        c.set_member("not hex", "x", "", T0),
        Err(CanvasError::InvalidActor(_))
    ));

    let h = c.history();
    assert_eq!(h.len(), 3);
    assert_eq!(h[0].message, "create canvas \"Commuters\"");
    assert_eq!(h[0].author, "ana");
    assert!(h[1].message.starts_with("add note "), "{}", h[1].message);
    assert!(h[1].message.contains(" to now: \"first words of a note"));
    assert!(h[1].message.ends_with("…\""), "{}", h[1].message);
    assert_eq!(h[1].author, "bo", "members name every change of the actor");
    assert_eq!(h[1].actor, "abcdef0123456789ff");
    assert_eq!(h[1].time_ms, T0);
    assert_eq!(h[2].time_ms, T0 + 5_000, "Automerge keeps whole seconds");
    assert_eq!(h[2].hash.len(), 64);

    let mut d = Canvas::create("x", "", T0).unwrap();
    d.set_actor(&[0x12; 16]);
    add(&mut d, Section::Now, "y");
    assert_eq!(d.history()[1].author, "12121212");
}

#[test]
fn change_times_are_seconds_in_automerge() {
    let mut c = canvas();
    let changes = c.doc_mut().get_changes(&[]);
    assert_eq!(changes[0].timestamp(), T0 / 1000);
    assert_eq!(changes[0].message(), Some("create canvas \"Commuters\""));
}

#[test]
fn add_note_appends_with_all_fields() {
    let mut c = canvas();
    let a = add(&mut c, Section::Now, "one");
    let b = c
        .add_note(
            Section::Now,
            "  two  ",
            &["#Train".into(), "work".into()],
            "bo",
            T0 + 1,
        )
        .unwrap();
    add(&mut c, Section::ToBe, "elsewhere");
    assert_eq!(texts(&c, Section::Now), ["one", "two"]);
    let note = c.note(&b).unwrap();
    assert_eq!(note.section, Section::Now);
    assert_eq!(note.text, "two");
    assert_eq!(note.status, Status::Hypothesis);
    assert_eq!(note.tags, ["Train", "work"]);
    assert_eq!(note.author, "bo");
    assert_eq!(
        (note.created_at, note.updated_at, note.trashed_at),
        (T0 + 1, T0 + 1, None)
    );
    assert!(c.note(&a).unwrap().rank < note.rank);

    let obj = note_obj(&c, &b);
    let doc = c.doc();
    assert!(matches!(
        doc.get(&obj, "text").unwrap(),
        Some((Value::Object(ObjType::Text), _))
    ));
    for key in ["tags", "links", "votes", "comments", "ratings"] {
        assert!(get_map(doc, &obj, key).is_some(), "{key}");
    }
    assert!(matches!(
        doc.get(&obj, "trashed_at").unwrap(),
        Some((Value::Scalar(s), _)) if s.is_null()
    ));
}

#[test]
fn empty_text_and_bad_tags_are_refused() {
    let mut c = canvas();
    assert!(matches!(
        c.add_note(Section::Now, " \n\t", &[], "ana", T0),
        Err(CanvasError::EmptyText)
    ));
    assert_eq!(CanvasError::EmptyText.to_string(), "note text is empty");
    let id = add(&mut c, Section::Now, "x");
    assert!(matches!(
        c.edit_note(&id, "   ", T0),
        Err(CanvasError::EmptyText)
    ));
    assert!(matches!(
        c.add_note(Section::Now, "x", &["two words".into()], "ana", T0),
        Err(CanvasError::InvalidTag(_))
    ));
    assert!(matches!(
        c.tag(&id, &["#".into()], &[], T0),
        Err(CanvasError::InvalidTag(_))
    ));
    assert_eq!(c.notes().len(), 1, "failed writes leave nothing behind");
}

#[test]
fn edit_is_character_level_and_unicode_safe() {
    let mut c = canvas();
    let id = add(&mut c, Section::Now, "café au lait");
    let obj = note_obj(&c, &id);
    let mut other = c.fork();
    c.edit_note(&id, "un café au lait 👋", T0 + 1).unwrap();
    other.edit_note(&id, "café au lait crème", T0 + 2).unwrap();
    c.merge(&mut other).unwrap();
    assert_eq!(c.note(&id).unwrap().text, "un café au lait 👋 crème");
    assert_eq!(note_obj(&c, &id), obj);
    assert_eq!(c.note(&id).unwrap().updated_at, T0 + 2);
}

#[test]
fn edit_of_a_scalar_text_turns_it_into_text() {
    let mut c = canvas();
    let id = add(&mut c, Section::Now, "x");
    let obj = note_obj(&c, &id);
    c.doc_mut()
        .put(&obj, "text", "written by someone else")
        .unwrap();
    c.doc_mut().commit();
    assert_eq!(c.note(&id).unwrap().text, "written by someone else");
    c.edit_note(&id, "written by us", T0).unwrap();
    assert_eq!(c.note(&id).unwrap().text, "written by us");
}

#[test]
fn move_to_end_before_and_after() {
    let mut c = canvas();
    let a = add(&mut c, Section::Now, "a");
    let b = add(&mut c, Section::Now, "b");
    let x = add(&mut c, Section::ToBe, "x");
    c.move_note(&x, Section::Now, Position::Before(a.clone()), T0)
        .unwrap();
    assert_eq!(texts(&c, Section::Now), ["x", "a", "b"]);
    c.move_note(&x, Section::Now, Position::After(a.clone()), T0)
        .unwrap();
    assert_eq!(texts(&c, Section::Now), ["a", "x", "b"]);
    c.move_note(&a, Section::Now, Position::End, T0).unwrap();
    assert_eq!(texts(&c, Section::Now), ["x", "b", "a"]);
    c.move_note(&b, Section::Design, Position::End, T0).unwrap();
    assert_eq!(texts(&c, Section::Now), ["x", "a"]);
    assert_eq!(texts(&c, Section::Design), ["b"]);
    assert!(texts(&c, Section::ToBe).is_empty());
    // Next to itself, where it is: nothing to do.
    c.move_note(&b, Section::Design, Position::Before(b.clone()), T0)
        .unwrap();
    assert_eq!(
        c.history().last().unwrap().message,
        format!("move note {} to design", b.short())
    );

    let err = c
        .move_note(&a, Section::Design, Position::After(x.clone()), T0)
        .unwrap_err();
    assert!(matches!(err, CanvasError::AnchorNotInSection { .. }));
    assert_eq!(
        err.to_string(),
        format!("cannot place a note next to {x}: it is not a live note in section design")
    );
}

#[test]
fn many_inserts_at_the_front_keep_order() {
    let mut c = canvas();
    let mut first = add(&mut c, Section::Goal, "0");
    for i in 1..40 {
        let id = add(&mut c, Section::Goal, &i.to_string());
        c.move_note(&id, Section::Goal, Position::Before(first.clone()), T0)
            .unwrap();
        first = id;
    }
    let expect: Vec<String> = (0..40).rev().map(|i| i.to_string()).collect();
    assert_eq!(texts(&c, Section::Goal), expect);
}

#[test]
fn equal_ranks_order_by_id_and_can_be_split() {
    let mut c = canvas();
    let ids: Vec<NoteId> = (0..3)
        .map(|i| add(&mut c, Section::Now, &i.to_string()))
        .collect();
    // As concurrent moves may leave them: every rank equal.
    for id in &ids {
        let obj = note_obj(&c, id);
        c.doc_mut().put(&obj, "rank", "a5").unwrap();
    }
    c.doc_mut().commit();
    let mut sorted = ids.clone();
    sorted.sort();
    let order: Vec<NoteId> = c
        .section_notes(Section::Now)
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(order, sorted);
    // Putting a note between two equal ranks gives the tie new ranks.
    let x = add(&mut c, Section::ToBe, "x");
    c.move_note(&x, Section::Now, Position::After(sorted[0].clone()), T0)
        .unwrap();
    let order: Vec<NoteId> = c
        .section_notes(Section::Now)
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(
        order,
        [sorted[0].clone(), x, sorted[1].clone(), sorted[2].clone()]
    );
    let ranks: Vec<String> = c
        .section_notes(Section::Now)
        .into_iter()
        .map(|n| n.rank)
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
}

#[test]
fn trash_restore_and_empty() {
    let mut c = canvas();
    let a = add(&mut c, Section::Now, "a");
    let b = add(&mut c, Section::Now, "b");
    c.trash_note(&a, T0 + 7).unwrap();
    assert_eq!(texts(&c, Section::Now), ["b"]);
    assert_eq!(c.note(&a).unwrap().trashed_at, Some(T0 + 7));
    assert_eq!(c.notes().len(), 2, "notes() lists trashed notes too");
    c.trash_note(&a, T0 + 9).unwrap();
    assert_eq!(c.note(&a).unwrap().trashed_at, Some(T0 + 7));
    c.restore_note(&a, T0).unwrap();
    assert_eq!(texts(&c, Section::Now), ["a", "b"]);
    let obj = note_obj(&c, &a);
    assert!(matches!(
        c.doc().get(&obj, "trashed_at").unwrap(),
        Some((Value::Scalar(s), _)) if s.is_null()
    ));
    c.trash_note(&a, T0).unwrap();
    c.trash_note(&b, T0).unwrap();
    assert_eq!(c.empty_trash(T0).unwrap(), 2);
    assert!(c.notes().is_empty());
    assert!(matches!(
        c.restore_note(&a, T0),
        Err(CanvasError::UnknownNote(_))
    ));
    assert_eq!(
        c.history().last().unwrap().message,
        "empty trash: purge 2 notes"
    );
}

#[test]
fn concurrent_edit_and_trash_both_survive() {
    let mut a = canvas();
    let id = add(&mut a, Section::Now, "original");
    let mut b = a.fork();
    a.trash_note(&id, T0).unwrap();
    b.edit_note(&id, "original, edited", T0).unwrap();
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    for c in [&mut a, &mut b] {
        let note = c.note(&id).unwrap();
        assert!(note.is_trashed());
        assert_eq!(note.text, "original, edited");
        c.restore_note(&id, T0).unwrap();
        assert_eq!(texts(c, Section::Now), ["original, edited"]);
    }
}

#[test]
fn mark_and_tag() {
    let mut c = canvas();
    let id = add(&mut c, Section::Now, "x");
    c.mark(&id, Status::Validated, T0 + 3).unwrap();
    assert_eq!(c.note(&id).unwrap().status, Status::Validated);
    assert_eq!(c.note(&id).unwrap().updated_at, T0 + 3);
    assert_eq!(
        c.history().last().unwrap().message,
        format!("mark note {} validated", id.short())
    );
    c.tag(&id, &["b".into(), "#a".into(), "a".into()], &[], T0)
        .unwrap();
    assert_eq!(c.note(&id).unwrap().tags, ["a", "b"]);
    c.tag(&id, &["c".into()], &["a".into(), "zzz".into()], T0)
        .unwrap();
    assert_eq!(c.note(&id).unwrap().tags, ["b", "c"]);
    assert_eq!(
        c.history().last().unwrap().message,
        format!("tag note {} +c -a -zzz", id.short())
    );
    let ghost = NoteId::from("nosuchnote00");
    assert!(matches!(
        c.mark(&ghost, Status::Validated, T0),
        Err(CanvasError::UnknownNote(_))
    ));
}

#[test]
fn unknown_notes_are_reported_for_every_write() {
    let mut c = canvas();
    let ghost = NoteId::from("nosuchnote00");
    let results = [
        c.edit_note(&ghost, "x", T0),
        c.move_note(&ghost, Section::Now, Position::End, T0),
        c.trash_note(&ghost, T0),
        c.restore_note(&ghost, T0),
        c.mark(&ghost, Status::Validated, T0),
        c.tag(&ghost, &["x".into()], &[], T0),
    ];
    for r in results {
        assert_eq!(
            r.unwrap_err().to_string(),
            "no note id starts with \"nosuchnote00\""
        );
    }
    assert!(c.note(&ghost).is_none());
}

#[test]
fn resolve_note_by_prefix() {
    let mut c = canvas();
    // Fixed ids so prefixes collide on purpose.
    let notes = get_map(c.doc(), &ROOT, "notes").unwrap();
    for id in ["abcdaaaaaaaa", "abcdbbbbbbbb", "abcd", "zzzzzzzzzzzz"] {
        let n = c.doc_mut().put_object(&notes, id, ObjType::Map).unwrap();
        c.doc_mut().put(&n, "section", "now").unwrap();
    }
    let trashed = c
        .doc_mut()
        .put_object(&notes, "trashedaaaaa", ObjType::Map)
        .unwrap();
    c.doc_mut().put(&trashed, "section", "now").unwrap();
    c.doc_mut().put(&trashed, "trashed_at", T0).unwrap();
    c.doc_mut().commit();

    assert!(matches!(
        c.resolve_note("abc"),
        Err(CanvasError::PrefixTooShort)
    ));
    assert_eq!(
        c.resolve_note("abcd").unwrap().as_str(),
        "abcd",
        "exact id wins"
    );
    assert_eq!(c.resolve_note("ABCDA").unwrap().as_str(), "abcdaaaaaaaa");
    assert_eq!(c.resolve_note("zzzz").unwrap().as_str(), "zzzzzzzzzzzz");
    assert_eq!(c.resolve_note("trash").unwrap().as_str(), "trashedaaaaa");
    let foreign = c
        .doc_mut()
        .put_object(&notes, "UPPERCASE-ID", ObjType::Map)
        .unwrap();
    c.doc_mut().put(&foreign, "section", "now").unwrap();
    assert_eq!(
        c.resolve_note("UPPERCASE-ID").unwrap().as_str(),
        "UPPERCASE-ID"
    );
    let err = c.resolve_note("abcd\u{0}").unwrap_err();
    assert!(matches!(err, CanvasError::UnknownNote(_)));
    let mut d = canvas();
    let notes = get_map(d.doc(), &ROOT, "notes").unwrap();
    for id in ["abcdyyyyyyyy", "abcdxxxxxxxx"] {
        let n = d.doc_mut().put_object(&notes, id, ObjType::Map).unwrap();
        d.doc_mut().put(&n, "section", "now").unwrap();
    }
    d.doc_mut().commit();
    let err = d.resolve_note("abcd").unwrap_err();
    assert_eq!(
        err.to_string(),
        "note prefix \"abcd\" is ambiguous: abcdxxxxxxxx, abcdyyyyyyyy"
    );
    assert!(matches!(
        err,
        CanvasError::AmbiguousNote { ref matches, .. } if matches.len() == 2
    ));
    assert!(matches!(
        d.resolve_note("qqqq"),
        Err(CanvasError::UnknownNote(_))
    ));
    assert_eq!(
        CanvasError::PrefixTooShort.to_string(),
        "note prefix is too short: give at least 4 characters of the note id"
    );
}

#[test]
fn notes_are_listed_in_canvas_order() {
    let mut c = canvas();
    add(&mut c, Section::Conclude, "last");
    add(&mut c, Section::Now, "first");
    add(&mut c, Section::Now, "second");
    let all: Vec<String> = c.notes().into_iter().map(|n: Note| n.text).collect();
    assert_eq!(all, ["first", "second", "last"]);
}

/// A canvas as another client may write it: plain strings for every
/// string, numbers as F64, missing maps.
#[test]
fn reads_a_canvas_written_with_scalars() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "schema", SCHEMA).unwrap();
    doc.put(ROOT, "title", "Plain title").unwrap();
    let job = doc.put_object(ROOT, "job", ObjType::Map).unwrap();
    doc.put(&job, "situation", "on a train").unwrap();
    let customer = doc.put_object(ROOT, "customer", ObjType::Map).unwrap();
    doc.put(&customer, "type", "buyer").unwrap();
    let members = doc.put_object(ROOT, "members", ObjType::Map).unwrap();
    let m = doc.put_object(&members, "aabb", ObjType::Map).unwrap();
    doc.put(&m, "name", "cy").unwrap();
    let notes = doc.put_object(ROOT, "notes", ObjType::Map).unwrap();
    let n = doc
        .put_object(&notes, "plainnote123", ObjType::Map)
        .unwrap();
    doc.put(&n, "section", "gain").unwrap();
    doc.put(&n, "text", "saves time").unwrap();
    doc.put(&n, "created_at", ScalarValue::F64(5.0)).unwrap();
    doc.commit();

    let mut c = Canvas::from_doc(doc).unwrap();
    assert_eq!(c.title(), "Plain title");
    assert_eq!(c.job().situation, "on a train");
    assert_eq!(c.job().motivation, "");
    assert_eq!(c.customer().kind, "buyer");
    assert_eq!(c.customer().description, "");
    assert_eq!(c.members()["aabb"].name, "cy");
    let id = c.resolve_note("plain").unwrap();
    let note = c.note(&id).unwrap();
    assert_eq!((note.text.as_str(), note.created_at), ("saves time", 5));
    // Writes work on it too: strings become Text, missing maps appear.
    c.set_title("Now a Text", T0).unwrap();
    c.set_job(None, Some("read"), None, T0).unwrap();
    c.tag(&id, &["x".into()], &[], T0).unwrap();
    c.move_note(&id, Section::Gain, Position::End, T0).unwrap();
    assert_eq!(c.title(), "Now a Text");
    assert_eq!(c.job().motivation, "read");
    assert_eq!(c.note(&id).unwrap().tags, ["x"]);
}

/// The same canvas as JavaScript Automerge 3 writes it: Text for strings.
#[test]
fn reads_a_canvas_written_with_text_objects() {
    let mut doc = AutoCommit::new();
    let text = |doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &str| {
        let t = doc.put_object(obj, key, ObjType::Text).unwrap();
        doc.splice_text(&t, 0, 0, value).unwrap();
    };
    text(&mut doc, &ROOT, "schema", SCHEMA);
    text(&mut doc, &ROOT, "title", "Titre accentué");
    let customer = doc.put_object(ROOT, "customer", ObjType::Map).unwrap();
    text(&mut doc, &customer, "type", "support");
    let members = doc.put_object(ROOT, "members", ObjType::Map).unwrap();
    let m = doc.put_object(&members, "aabb", ObjType::Map).unwrap();
    text(&mut doc, &m, "name", "dee");
    text(&mut doc, &m, "color", "#fff");
    let notes = doc.put_object(ROOT, "notes", ObjType::Map).unwrap();
    let n = doc
        .put_object(&notes, "textnote1234", ObjType::Map)
        .unwrap();
    text(&mut doc, &n, "section", "pain");
    text(&mut doc, &n, "text", "slow 🐢");
    text(&mut doc, &n, "status", "validated");
    doc.put(&n, "created_at", ScalarValue::Timestamp(9))
        .unwrap();
    doc.commit();

    let c = Canvas::from_doc(doc).unwrap();
    assert_eq!(c.title(), "Titre accentué");
    assert_eq!(c.customer().kind, "support");
    assert_eq!(c.members()["aabb"].color, "#fff");
    let notes = c.section_notes(Section::Pain);
    assert_eq!(notes[0].text, "slow 🐢");
    assert_eq!(notes[0].status, Status::Validated);
    assert_eq!(notes[0].created_at, 9);
}

#[test]
fn uncommitted_raw_changes_are_not_lost_or_merged_into_ours() {
    let mut c = canvas();
    c.doc_mut().put(ROOT, "extra", 1).unwrap();
    assert!(matches!(
        c.add_note(Section::Now, "", &[], "ana", T0),
        Err(CanvasError::EmptyText)
    ));
    add(&mut c, Section::Now, "x");
    assert!(c.doc().get(ROOT, "extra").unwrap().is_some());
    let h = c.history();
    assert!(h.last().unwrap().message.starts_with("add note"));
    assert_eq!(h.len(), 3);
}

#[test]
fn excerpt_flattens_and_cuts() {
    assert_eq!(excerpt("a\n  b"), "a b");
    let long = "é".repeat(100);
    let cut = excerpt(&long);
    assert_eq!(cut.chars().count(), 40);
    assert!(cut.ends_with('…'));
}
