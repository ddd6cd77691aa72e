//! Findings with several links, evidence per note, and erasure.

use automerge::transaction::Transactable;
use automerge::ROOT;

use crate::field::get_map;
use crate::{
    Canvas, CanvasError, Effect, EvidenceFilter, FindingTarget, NewFinding, Scope, Section,
};

const T0: i64 = 1_700_000_000_000;

fn canvas() -> (Canvas, crate::NoteId, crate::NoteId) {
    let mut c = Canvas::create("Research", "ana", T0).unwrap();
    let a = c
        .add_note(Section::Now, "Chases invoices by email", &[], "ana", T0)
        .unwrap();
    let b = c
        .add_note(Section::ToBe, "Gets paid without chasing", &[], "ana", T0)
        .unwrap();
    (c, a, b)
}

#[test]
fn one_quote_supports_one_note_and_contradicts_another() {
    let (mut c, a, b) = canvas();
    let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    let finding = NewFinding {
        quote: "I send a reminder every Friday, it's fine".into(),
        interpretation: "chasing is a habit, not a pain".into(),
        links: vec![
            (a.clone(), Effect::Supports),
            (b.clone(), Effect::Contradicts),
        ],
        new_note: Some(Section::Inertia),
    };
    let (id, made) = c.record_finding(&i, &finding, "ana", T0 + 1).unwrap();
    let made = made.unwrap();
    let f = c.findings().into_iter().find(|f| f.id == id).unwrap();
    assert_eq!(f.text, "I send a reminder every Friday, it's fine");
    assert_eq!(f.interpretation, "chasing is a habit, not a pain");
    assert_eq!(f.effect_on(&a), Some(Effect::Supports));
    assert_eq!(f.effect_on(&b), Some(Effect::Contradicts));
    assert_eq!(f.effect_on(&made), Some(Effect::New));
    assert_eq!(
        f.note,
        Some(made.clone()),
        "the made note is the first link"
    );
    assert_eq!(c.note(&made).unwrap().section, Section::Inertia);

    let e = c.evidence();
    assert_eq!((e[&a].supports, e[&a].contradicts), (1, 0));
    assert_eq!((e[&b].supports, e[&b].contradicts), (0, 1));
    assert_eq!((e[&made].supports, e[&made].contradicts), (1, 0));
    assert_eq!(e[&b].findings[0].quote, f.text);
    assert_eq!(e[&b].findings[0].interviewee, "Maria");
    assert_eq!(e[&b].findings[0].effect, "contradicts");
}

#[test]
fn links_are_checked_and_bad_findings_change_nothing() {
    let (mut c, a, b) = canvas();
    let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    c.trash_note(&b, T0).unwrap();
    let heads = c.doc_mut().get_heads();
    let both = NewFinding::quote("x")
        .supports(a.clone())
        .contradicts(a.clone());
    assert!(matches!(
        c.record_finding(&i, &both, "ana", T0),
        Err(CanvasError::ConflictingLink(_))
    ));
    let trashed = NewFinding::quote("x")
        .supports(a.clone())
        .supports(b.clone());
    assert!(matches!(
        c.record_finding(&i, &trashed, "ana", T0),
        Err(CanvasError::NoteTrashed(_))
    ));
    let bad = NewFinding {
        links: vec![(a.clone(), Effect::New)],
        ..NewFinding::quote("x")
    };
    assert!(matches!(
        c.record_finding(&i, &bad, "ana", T0),
        Err(CanvasError::BadLinkEffect(_))
    ));
    assert!(matches!(
        c.record_finding(&i, &NewFinding::quote("  "), "ana", T0),
        Err(CanvasError::Empty(_))
    ));
    assert_eq!(c.doc_mut().get_heads(), heads);
    // The same link twice counts once.
    let twice = NewFinding::quote("x")
        .supports(a.clone())
        .supports(a.clone());
    c.record_finding(&i, &twice, "ana", T0).unwrap();
    assert_eq!(c.note_evidence(&a).supports, 1);
}

#[test]
fn links_are_added_changed_and_removed_later() {
    let (mut c, a, b) = canvas();
    let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    let (f, _) = c
        .add_finding(&i, "quote", FindingTarget::Unattached, "ana", T0)
        .unwrap();
    assert!(c.link_finding(&f, &a, Effect::Supports, T0).unwrap());
    assert!(!c.link_finding(&f, &a, Effect::Supports, T0).unwrap());
    assert!(c.link_finding(&f, &b, Effect::Contradicts, T0).unwrap());
    assert!(c.link_finding(&f, &a, Effect::Contradicts, T0).unwrap());
    let e = c.evidence();
    assert_eq!((e[&a].supports, e[&a].contradicts), (0, 1));
    assert_eq!((e[&b].supports, e[&b].contradicts), (0, 1));
    // Unlinking the first link promotes the next into note/effect.
    assert!(c.unlink_finding(&f, &a, T0).unwrap());
    assert!(!c.unlink_finding(&f, &a, T0).unwrap());
    let found = c.findings().pop().unwrap();
    assert_eq!(found.note, Some(b.clone()));
    assert_eq!(found.effect, Effect::Contradicts);
    assert!(c.unlink_finding(&f, &b, T0).unwrap());
    let found = c.findings().pop().unwrap();
    assert_eq!((found.note, found.effect), (None, Effect::New));
    assert!(c.evidence().is_empty());
    c.interpret_finding(&f, "a habit", T0).unwrap();
    assert_eq!(c.findings()[0].interpretation, "a habit");
    assert!(matches!(
        c.link_finding(&f, &crate::NoteId::from("nothere"), Effect::Supports, T0),
        Err(CanvasError::UnknownNote(_))
    ));
}

/// A finding as a client writing only `note`/`effect` made it, and one
/// written by a client that has `links`, read the same way.
#[test]
fn old_single_note_findings_still_read() {
    let (mut c, a, b) = canvas();
    let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    let doc = c.doc_mut();
    let interviews = get_map(doc, &ROOT, "interviews").unwrap();
    let obj = get_map(doc, &interviews, i.as_str()).unwrap();
    let findings = get_map(doc, &obj, "findings").unwrap();
    let old = doc
        .put_object(&findings, "oldone", automerge::ObjType::Map)
        .unwrap();
    doc.put(&old, "text", "old style").unwrap();
    doc.put(&old, "note", a.as_str()).unwrap();
    doc.put(&old, "effect", "contradicts").unwrap();
    doc.put(&old, "at", 1).unwrap();
    let new = doc
        .put_object(&findings, "newone", automerge::ObjType::Map)
        .unwrap();
    doc.put(&new, "text", "new style").unwrap();
    doc.put(&new, "note", a.as_str()).unwrap();
    doc.put(&new, "effect", "supports").unwrap();
    doc.put(&new, "at", 2).unwrap();
    let links = doc
        .put_object(&new, "links", automerge::ObjType::Map)
        .unwrap();
    doc.put(&links, a.as_str(), "supports").unwrap();
    doc.put(&links, b.as_str(), "contradicts").unwrap();
    doc.put(&links, "zzzz", "someday").unwrap();
    doc.commit();

    let all = c.findings();
    assert_eq!(all[0].links.len(), 1);
    assert_eq!(all[0].effect_on(&a), Some(Effect::Contradicts));
    assert_eq!(all[0].interpretation, "");
    assert_eq!(all[1].links.len(), 2, "unknown effects are skipped");
    assert_eq!(all[1].effect_on(&b), Some(Effect::Contradicts));
    let e = c.evidence();
    assert_eq!((e[&a].supports, e[&a].contradicts), (1, 1));
}

#[test]
fn the_evidence_report_counts_filters_and_scopes() {
    let (mut c, a, b) = canvas();
    let goal = c
        .add_note(Section::Goal, "Paid in 30 days", &[], "ana", T0)
        .unwrap();
    let maria = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    let tom = c.add_interview("Tom", "buyer", None, "ana", T0).unwrap();
    let again = c
        .add_interview("maria", "USER", None, "ana", T0 + 2)
        .unwrap();
    for (i, f) in [
        (&maria, NewFinding::quote("m1").supports(a.clone())),
        (&again, NewFinding::quote("m2").supports(a.clone())),
        (
            &tom,
            NewFinding::quote("t1")
                .supports(a.clone())
                .contradicts(b.clone()),
        ),
    ] {
        c.record_finding(i, &f, "ana", T0).unwrap();
    }
    let all = c.evidence_report(EvidenceFilter::All, &Scope::all());
    let row = |id: &crate::NoteId, rows: &[crate::NoteEvidence]| {
        rows.iter().find(|r| r.note == *id).cloned()
    };
    let ra = row(&a, &all).unwrap();
    assert_eq!(
        (ra.supports, ra.contradicts, ra.interviewee_count),
        (3, 0, 2)
    );
    assert_eq!(ra.interviewees, ["Maria", "Tom"]);
    let rg = row(&goal, &all).unwrap();
    assert_eq!(
        (rg.supports, rg.contradicts, rg.interviewee_count),
        (0, 0, 0)
    );
    assert_eq!(all.len(), 3);

    let ids = |f: EvidenceFilter| -> Vec<crate::NoteId> {
        c.evidence_report(f, &Scope::all())
            .into_iter()
            .map(|r| r.note)
            .collect()
    };
    assert_eq!(ids(EvidenceFilter::HasEvidence), [a.clone(), b.clone()]);
    assert_eq!(ids(EvidenceFilter::Contradicted), vec![b.clone()]);
    assert_eq!(ids(EvidenceFilter::Untested), vec![goal.clone()]);
    assert_eq!(
        "untested".parse::<EvidenceFilter>().unwrap(),
        EvidenceFilter::Untested
    );
    assert!(matches!(
        "maybe".parse::<EvidenceFilter>(),
        Err(CanvasError::UnknownFilter(_))
    ));

    let users = c.evidence_report(EvidenceFilter::HasEvidence, &Scope::customer_type("user"));
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].supports, users[0].interviewee_count), (2, 1));
    let review = c.review_in(1, &Scope::customer_type("buyer"));
    let b_item = review.iter().find(|r| r.note.id == b).unwrap();
    assert_eq!(b_item.suggestion, crate::Suggestion::Invalidate);
    let b_all = c.review_in(1, &Scope::customer_type("user"));
    let b_users = b_all.iter().find(|r| r.note.id == b).unwrap();
    assert_eq!(b_users.suggestion, crate::Suggestion::NoEvidence);

    // The JSON the board reads: integers, present when 0.
    let json = serde_json::to_value(&rg).unwrap();
    assert_eq!(json["supports"], 0);
    assert_eq!(json["contradicts"], 0);
}

#[test]
fn trashed_interviews_stop_counting_until_restored() {
    let (mut c, a, _) = canvas();
    let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
    c.record_finding(&i, &NewFinding::quote("q").supports(a.clone()), "ana", T0)
        .unwrap();
    c.trash_interview(&i, T0 + 1).unwrap();
    assert!(c.interviews().is_empty());
    assert_eq!(c.all_interviews().len(), 1);
    assert!(c.note_evidence(&a).is_empty());
    assert!(matches!(
        c.append_transcript(&i, "x", "ana", T0),
        Err(CanvasError::InterviewTrashed(_))
    ));
    c.restore_interview(&i, T0 + 2).unwrap();
    assert_eq!(c.note_evidence(&a).supports, 1);
    assert!(c
        .edit_interview(
            &i,
            Some("Maria Lopez"),
            Some("buyer"),
            Some("2024-05-17"),
            T0
        )
        .unwrap());
    assert!(!c
        .edit_interview(&i, Some("Maria Lopez"), None, None, T0)
        .unwrap());
    let got = c.interview(&i).unwrap();
    assert_eq!(
        (
            got.interviewee.as_str(),
            got.customer_type.as_str(),
            got.date.as_str()
        ),
        ("Maria Lopez", "buyer", "2024-05-17")
    );
}

#[test]
fn erasing_removes_personal_text_but_keeps_the_evidence() {
    let (mut c, a, _) = canvas();
    let i = c
        .add_interview("Maria Lopez", "user", None, "ana", T0)
        .unwrap();
    c.append_transcript(&i, "Maria keeps a shoebox", "ana", T0)
        .unwrap();
    let f = NewFinding {
        interpretation: "paper habit".into(),
        ..NewFinding::quote("My shoebox of receipts").supports(a.clone())
    };
    c.record_finding(&i, &f, "ana", T0).unwrap();
    let mut peer = c.fork();
    let purged = c.purge_interview(&i, T0 + 1).unwrap();
    assert_eq!((purged.transcript_lines, purged.quotes), (1, 1));
    let got = c.interview(&i).unwrap();
    assert!(got.is_purged());
    assert_eq!(got.interviewee, "");
    assert_eq!(got.transcript, "");
    assert_eq!(got.findings[0].text, "");
    assert_eq!(got.findings[0].interpretation, "");
    let e = c.note_evidence(&a);
    assert_eq!(e.supports, 1, "the evidence still counts");
    assert!(e.interviewees[0].starts_with("(erased interviewee"));
    assert!(matches!(
        c.append_transcript(&i, "more", "ana", T0),
        Err(CanvasError::InterviewPurged(_))
    ));
    // A note-taker who had not seen the erasure merges a line and a quote.
    peer.append_transcript(&i, "Maria again", "bo", T0 + 2)
        .unwrap();
    peer.record_finding(&i, &NewFinding::quote("Maria quote"), "bo", T0 + 2)
        .unwrap();
    c.merge(&mut peer).unwrap();
    let got = c.interview(&i).unwrap();
    assert_eq!(got.transcript, "");
    assert!(got.findings.iter().all(|f| f.text.is_empty()));
    let md = crate::render::to_markdown(&c, &crate::DocId::random());
    assert!(!md.contains("Maria"), "{md}");
    assert!(!md.contains("shoebox"), "{md}");
}

#[test]
fn views_of_the_past_stay_erased_and_exports_carry_transcripts() {
    let (mut c, a, _) = canvas();
    let i = c
        .add_interview("Maria Lopez", "user", None, "ana", T0)
        .unwrap();
    c.append_transcript(&i, "keeps a shoebox", "ana", T0)
        .unwrap();
    c.record_finding(
        &i,
        &NewFinding::quote("my shoebox").supports(a.clone()),
        "ana",
        T0,
    )
    .unwrap();
    c.start_round("r1", &[], "ana", T0 + 1000).unwrap();
    let md = crate::render::to_markdown(&c, &crate::DocId::random());
    assert!(md.contains("Transcript:"), "{md}");
    assert!(md.contains("keeps a shoebox"), "{md}");
    let anon = crate::render::to_markdown(&c.anonymised().unwrap(), &crate::DocId::random());
    assert!(!anon.contains("keeps a shoebox"), "{anon}");
    assert!(!anon.contains("Transcript:"), "{anon}");

    c.purge_interview(&i, T0 + 2000).unwrap();
    let point = c.point("r1").unwrap();
    let past = c.at(&point).unwrap();
    let then = past.interview(&i).unwrap();
    assert_eq!(then.interviewee, "");
    assert_eq!(then.transcript, "");
    assert_eq!(then.findings[0].text, "");
    assert_eq!(past.note_evidence(&a).supports, 1);
}

#[test]
fn anonymised_copies_scrub_interpretations_and_trashed_interviewees() {
    let (mut c, a, _) = canvas();
    let i = c
        .add_interview("Maria Lopez", "user", None, "ana", T0)
        .unwrap();
    let gone = c
        .add_interview("Tom Baker", "user", None, "ana", T0)
        .unwrap();
    let f = NewFinding {
        interpretation: "Maria Lopez treats it as a habit, like Tom Baker".into(),
        ..NewFinding::quote("Every Friday").supports(a.clone())
    };
    c.record_finding(&i, &f, "ana", T0).unwrap();
    c.trash_interview(&gone, T0).unwrap();
    let anon = c.anonymised().unwrap();
    let got = &anon.findings()[0].interpretation;
    assert!(!got.contains("Maria") && !got.contains("Tom"), "{got}");
    assert!(got.contains("Participant"), "{got}");
}
