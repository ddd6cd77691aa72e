//! The research workflow of issue 5, driven through the real binary: the
//! whole loop across two stores that merge by file exchange, and every
//! "bad input" case (exit 1, one line on stderr, nothing changed).

use serde_json::Value;

use crate::util::{texts, Store};

fn file(s: &Store, name: &str) -> String {
    s.home
        .parent()
        .unwrap()
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// Sends `from`'s canvas to `to` as an Automerge file named by the canvas
/// id, so the first import keeps that id.
fn send(from: &Store, to: &Store) {
    let id = from.show()["id"].as_str().unwrap().to_string();
    let path = file(from, &format!("{id}.automerge"));
    from.ok(&["export", "--format", "automerge", "-o", &path]);
    to.ok(&["import", &path]);
}

fn export_json(s: &Store) -> Value {
    serde_json::from_str(&s.ok(&["export", "--format", "json"])).unwrap()
}

fn review_of<'a>(review: &'a Value, id: &str) -> &'a Value {
    review
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in review {review}"))
}

#[test]
fn the_research_loop_runs_across_two_stores() {
    let ana = Store::new("ana");
    let ben = Store::new("ben");

    // Round 1: the canvas, its NOW and TO BE, an interview guide.
    ana.ok(&["new", "Freelancers getting paid"]);
    ana.ok(&[
        "job",
        "--situation",
        "a project ends",
        "--motivation",
        "send the invoice",
        "--outcome",
        "get paid this month",
    ]);
    ana.ok(&[
        "customer",
        "--type",
        "user",
        "--description",
        "solo designers",
    ]);
    let chases = ana.ok(&["add", "now", "Chases late invoices by email every Friday"]);
    let paid = ana.ok(&["add", "to-be", "Gets paid without chasing anyone"]);
    let goal = ana.ok(&["add", "goal", "Paid within 30 days"]);
    ana.ok(&["round", "start", "r1", "--focus", "now", "--focus", "to-be"]);
    let maria = ana.ok(&[
        "interview",
        "new",
        "--with",
        "Maria Lopez",
        "--date",
        "2024-05-17",
    ]);
    let guide = ana.ok(&["interview", "guide", &maria]);
    for want in [
        "Walk me through the last time",
        "If this went perfectly",
        &format!("listen for: {}", &chases[..6]),
        "merely inconvenienced",
        "what they tried before",
        "competitors",
        "stored",
    ] {
        assert!(guide.contains(want), "guide lacks {want:?}:\n{guide}");
    }
    assert!(
        !guide.contains("Chases late invoices by email every Friday?"),
        "non-leading"
    );
    let stored = ana.json(&["interview", "show", &maria])["questions"]
        .as_array()
        .unwrap()
        .len();
    assert!(stored >= 9, "the guide is stored: {stored}");
    // Storing the guide twice adds nothing.
    assert_eq!(ana.json(&["interview", "guide", &maria])["stored"], 0);

    // Ben gets the canvas; from now on both work offline.
    send(&ana, &ben);
    ana.ok(&[
        "interview",
        "note",
        &maria,
        "Keeps a spreadsheet of who owes what",
    ]);
    ben.ok(&[
        "interview",
        "note",
        &maria,
        "Checks the bank app every morning",
    ]);
    ana.ok(&[
        "finding",
        "add",
        &maria,
        "Showed me her Friday chasing list",
        "--supports",
        &chases[..6],
    ]);
    let made = ana.json(&[
        "finding",
        "add",
        &maria,
        "Afraid to upset a client by nagging",
        "--new",
        "constraint",
    ]);
    let fear = made["note"].as_str().unwrap().to_string();

    let tom = ben.ok(&[
        "interview",
        "new",
        "--with",
        "Tom",
        "--type",
        "buyer",
        "--date",
        "2024-05-18",
    ]);
    ben.ok(&["interview", "ask", &tom, "What did you try before?"]);
    ben.ok(&[
        "finding",
        "add",
        &tom,
        "Sends reminders every Friday too",
        "--supports",
        &chases,
    ]);
    ben.ok(&[
        "finding",
        "add",
        &tom,
        "Does not mind chasing",
        "--contradicts",
        &paid,
    ]);
    let portal = ben.json(&[
        "finding",
        "add",
        &tom,
        "Clients already use a payment portal",
        "--new",
        "catalyst",
    ])["note"]
        .as_str()
        .unwrap()
        .to_string();
    ben.ok(&["finding", "add", &tom, "Has two kids"]);
    ben.ok(&["rate", &goal, "--importance", "9", "--satisfaction", "3"]);
    ana.ok(&["rate", &goal, "-i", "7", "-s", "4"]);

    // They meet and exchange files.
    send(&ben, &ana);
    send(&ana, &ben);
    assert_eq!(
        export_json(&ana)["interviews"],
        export_json(&ben)["interviews"]
    );
    assert_eq!(ana.show(), ben.show());

    // Both note-takers' lines are in Maria's transcript.
    let transcript = ana.json(&["interview", "show", &maria])["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        transcript.contains("ana] Keeps a spreadsheet"),
        "{transcript}"
    );
    assert!(
        transcript.contains("ben] Checks the bank app"),
        "{transcript}"
    );
    let interviews = ana.json(&["interview", "list"]);
    assert_eq!(interviews.as_array().unwrap().len(), 2);
    assert_eq!(ana.json(&["finding", "list"]).as_array().unwrap().len(), 6);
    assert_eq!(
        ana.json(&["finding", "list", "--note", &chases])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Review: two interviewees back the NOW note; one goes against TO BE.
    let review = ana.json(&["review"]);
    let r = review_of(&review, &chases);
    assert_eq!(r["suggestion"], "validate");
    assert_eq!(r["evidence"]["supports"], 2);
    assert_eq!(
        r["evidence"]["interviewees"],
        serde_json::json!(["Maria Lopez", "Tom"])
    );
    assert_eq!(
        r["command"],
        format!("gapmap mark {} validated", &chases[..6])
    );
    assert_eq!(review_of(&review, &paid)["suggestion"], "thin");
    assert_eq!(review_of(&review, &paid)["evidence"]["contradicts"], 1);
    let text = ana.ok(&["review"]);
    assert!(
        text.contains("validate") && text.contains("→ gapmap mark"),
        "{text}"
    );
    ana.ok(&["mark", &chases, "validated"]);
    let board = ana.ok(&["show"]);
    assert!(
        board.contains("[+2") && board.contains("interviewees]"),
        "evidence on the board:\n{board}"
    );

    // Round 2 is about the GAP: the guide asks what stopped them.
    ana.ok(&["round", "start", "r2"]);
    let zoe = ana.ok(&["interview", "new", "--with", "Zoë", "--date", "2024-06-02"]);
    let guide = ana.ok(&["interview", "guide", &zoe]);
    assert!(guide.contains("What stopped you"), "{guide}");
    assert!(
        guide.contains(&format!("listen for: {}", &fear[..6])),
        "{guide}"
    );
    assert!(
        !guide.contains(&format!("listen for: {}", &chases[..6])),
        "validated notes are not asked about: {guide}"
    );

    // Design, links, gaps.
    let reminders = ana.ok(&["add", "design", "Friendly automatic reminders"]);
    ana.ok(&["link", &reminders, "addresses", &fear]);
    let gaps = ana.json(&["gaps"]);
    assert_eq!(gaps["constraints"][0]["covered"], true);
    assert_eq!(gaps["catalysts"][0]["id"], portal.as_str());
    assert_eq!(gaps["catalysts"][0]["covered"], false);
    assert_eq!(gaps["complete"], false);
    let text = ana.ok(&["gaps"]);
    assert!(
        text.contains("What can you design that fills the gap better than anything else?"),
        "{text}"
    );
    assert!(
        text.contains("Catalysts the design does not use (1 of 1)"),
        "{text}"
    );
    ana.ok(&["link", &reminders, "addresses", &portal]);
    assert_eq!(ana.json(&["gaps"])["complete"], true);
    ana.ok(&["edit", &paid, "Gets paid on time without chasing anyone"]);
    ana.ok(&[
        "finding",
        "add",
        &zoe,
        "Would pay a service to chase for her",
        "--supports",
        &fear,
    ]);

    // Diffs between the rounds and since the last one.
    let d = ana.json(&["diff", "r1", "r2"]);
    let added: Vec<&str> = d["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&fear.as_str()) && added.contains(&portal.as_str()),
        "{d}"
    );
    assert_eq!(d["findings"].as_array().unwrap().len(), 6);
    assert_eq!(
        d["interviews"].as_array().unwrap().len(),
        2,
        "Maria's and Tom's: {d}"
    );
    assert_eq!(d["status"][0]["id"], chases.as_str());
    let d = ana.json(&["diff"]);
    assert_eq!(d["from"], "r2");
    assert_eq!(d["to"], "now");
    assert_eq!(d["added"][0]["id"], reminders.as_str());
    assert_eq!(
        d["edited"][0]["words"],
        "Gets paid {+on time+} without chasing anyone"
    );
    assert_eq!(d["findings"].as_array().unwrap().len(), 1);
    let text = ana.ok(&["diff", "r1"]);
    for want in [
        "Added",
        "Edited",
        "Status",
        "New interviews",
        "New evidence",
        "{+on time+}",
    ] {
        assert!(text.contains(want), "diff lacks {want}:\n{text}");
    }

    // Time travel: r1 had neither the constraint nor the catalyst.
    let then = ana.json(&["show", "--at", "r1"]);
    assert!(texts(&then, "constraint").is_empty());
    assert_eq!(
        texts(&then, "now"),
        ["Chases late invoices by email every Friday"]
    );
    assert_eq!(then["sections"]["now"][0]["status"], "hypothesis");
    assert_eq!(
        texts(&ana.json(&["show", "--at", "r2"]), "constraint"),
        ["Afraid to upset a client by nagging"]
    );

    // log filters.
    let since = ana.json(&["log", "--since", "r2"]);
    assert!(since
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["author"] == "ana"));
    assert!(since
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["message"].as_str().unwrap().starts_with("link note")));
    assert!(!since.as_array().unwrap().iter().any(|e| e["message"]
        .as_str()
        .unwrap()
        .contains("interview")
        && e["author"] == "ben"));
    let by_ben = ana.json(&["log", "--author", "ben"]);
    assert!(!by_ben.as_array().unwrap().is_empty());
    assert!(by_ben
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["author"] == "ben"));

    // Outcome scoring over both raters: (9+7)/2 = 8, (3+4)/2 = 3.5 → 12.5.
    let outcomes = ana.json(&["outcomes"]);
    assert_eq!(outcomes[0]["id"], goal.as_str());
    assert_eq!(outcomes[0]["opportunity"], 12.5);
    assert_eq!(outcomes[0]["raters"], 2);
    assert!(ana.ok(&["outcomes"]).contains("12.5"));

    // Exports.
    let md = ana.ok(&["export", "--format", "md"]);
    for want in [
        "**Job:** When a project ends",
        "_(+2 −0 · 2 interviewees)_",
        "## Interviews",
        "Maria Lopez (user)",
        "supports \u{201c}Chases late invoices",
        "## Rounds",
        "| r2 |",
        "## Gap coverage",
        "- [x] Constraint: Afraid to upset a client by nagging — addressed by",
        "## Outcome opportunities",
    ] {
        assert!(md.contains(want), "markdown lacks {want:?}:\n{md}");
    }
    let html = ana.ok(&["export", "--format", "html"]);
    for want in [
        "<h2>Interviews</h2>",
        "<h2>Rounds</h2>",
        "<h2>Gap coverage</h2>",
        "class=\"evidence\"",
        "Maria Lopez",
    ] {
        assert!(html.contains(want), "html lacks {want:?}");
    }
    let json = export_json(&ana);
    assert_eq!(json["schema"], "gapmap/export/1");
    assert_eq!(json["interviews"].as_array().unwrap().len(), 3);
    assert_eq!(json["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(json["coverage"]["complete"], true);
    assert_eq!(json["sections"]["now"][0]["evidence"]["supports"], 2);
    let csv = ana.ok(&["export", "--format", "csv-notes"]);
    assert!(csv.starts_with("id,section,status,text,"), "{csv}");
    assert!(csv.contains(&format!("{chases},now,validated,")), "{csv}");
    let csv = ana.ok(&["export", "--format", "csv-findings"]);
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");
    assert!(
        csv.contains(",Maria Lopez,user,2024-05-17,supports,"),
        "{csv}"
    );

    // Anonymised exports name nobody.
    for format in ["md", "json", "html", "csv-notes", "csv-findings", "svg"] {
        let out = ana.ok(&["export", "--format", format, "--anonymise"]);
        for name in ["Maria", "Lopez", "Tom", "Zoë"] {
            assert!(!out.contains(name), "{format} export names {name}:\n{out}");
        }
    }
    let anon: Value =
        serde_json::from_str(&ana.ok(&["export", "--format", "json", "--anonymise"])).unwrap();
    assert_eq!(anon["anonymised"], true);
    let pseudonym = anon["interviews"][0]["interviewee"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pseudonym.starts_with("Participant "), "{pseudonym}");
    // Stable: the same pseudonym in the next export, and in Ben's store.
    send(&ana, &ben);
    let again: Value =
        serde_json::from_str(&ben.ok(&["export", "--format", "json", "--anonymise"])).unwrap();
    assert_eq!(again["interviews"][0]["interviewee"], pseudonym.as_str());

    // The JSON export reads back into a new canvas elsewhere.
    let path = file(&ana, "export.json");
    ana.ok(&["export", "--format", "json", "-o", &path]);
    let cy = Store::new("cy");
    cy.ok(&["import", &path]);
    let back = export_json(&cy);
    assert_eq!(back["sections"], json["sections"]);
    assert_eq!(back["interviews"], json["interviews"]);
    assert_eq!(cy.show()["sections"], ana.show()["sections"]);
    assert!(cy.fails(&["show", "--at", "r1"]).contains("no history"));
}

/// The research data as exports and the log see it, to prove nothing changed.
fn snapshot(s: &Store) -> (Value, usize) {
    let mut export = export_json(s);
    export["members"] = Value::Null;
    (export, s.json(&["log"]).as_array().unwrap().len())
}

/// A canvas with an interview, a note, a goal and a round.
fn research_canvas() -> (Store, String, String, String) {
    let s = Store::new("ivy");
    s.ok(&["new", "Bad research input"]);
    let note = s.ok(&["add", "now", "Chases invoices"]);
    let goal = s.ok(&["add", "goal", "Paid within 30 days"]);
    let interview = s.ok(&["interview", "new", "--with", "Maria"]);
    s.ok(&["round", "start", "r1"]);
    (s, note, goal, interview)
}

#[test]
fn findings_for_unknown_interviews_or_notes_are_refused() {
    let (s, note, _, interview) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&["finding", "add", "zzzzzz", "text", "--supports", &note]);
    assert!(
        line.contains("no interview id starts with \"zzzzzz\""),
        "{line}"
    );
    let line = s.fails(&["finding", "add", &interview, "text", "--supports", "zzzzzz"]);
    assert!(line.contains("no note id starts with \"zzzzzz\""), "{line}");
    let line = s.fails(&[
        "finding",
        "add",
        &interview,
        "text",
        "--contradicts",
        "qqqqqq",
    ]);
    assert!(line.contains("qqqqqq"), "{line}");
    assert!(s
        .fails(&["finding", "add", &interview, "text", "--new", "middle"])
        .contains("unknown section"));
    assert!(s
        .fails(&["finding", "add", &interview, "  "])
        .contains("empty"));
    assert!(s
        .fails(&["finding", "add", "zz", "text"])
        .contains("too short"));
    assert!(s
        .fails(&["interview", "note", "zzzzzz", "text"])
        .contains("no interview id"));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn supports_and_contradicts_together_are_refused() {
    let (s, note, _, interview) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&[
        "finding",
        "add",
        &interview,
        "text",
        "--supports",
        &note,
        "--contradicts",
        &note,
    ]);
    assert!(line.contains("at most one of --supports"), "{line}");
    let line = s.fails(&[
        "finding",
        "add",
        &interview,
        "text",
        "--supports",
        &note,
        "--new",
        "now",
    ]);
    assert!(line.contains("at most one of"), "{line}");
    assert_eq!(snapshot(&s), before);
}

#[test]
fn ratings_out_of_range_are_refused() {
    let (s, note, goal, _) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&["rate", &goal, "--importance", "11"]);
    assert_eq!(
        line,
        "gapmap: importance must be a whole number from 1 to 10, got 11"
    );
    assert!(s
        .fails(&["rate", &goal, "--importance", "5", "--satisfaction", "0"])
        .contains("satisfaction must be"));
    assert!(s
        .fails(&["rate", &goal, "--satisfaction", "-3"])
        .contains("got -3"));
    assert!(s.fails(&["rate", &goal]).contains("--importance"));
    assert!(s
        .fails(&["rate", &note, "--importance", "5"])
        .contains("only success outcomes"));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn a_round_label_that_exists_is_refused() {
    let (s, _, _, _) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&["round", "start", "r1"]);
    assert!(
        line.contains("a round labelled \"r1\" already exists"),
        "{line}"
    );
    assert!(s
        .fails(&["round", "start", "R1"])
        .contains("already exists"));
    assert!(s
        .fails(&["round", "start", "now"])
        .contains("cannot be a round label"));
    assert!(s.fails(&["round", "start", "  "]).contains("empty"));
    assert!(s
        .fails(&["round", "start", "r2", "--focus", "middle"])
        .contains("unknown section"));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn diff_between_unknown_points_is_refused() {
    let (s, _, _, _) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&["diff", "r9"]);
    assert!(line.contains("unknown point \"r9\""), "{line}");
    assert!(s
        .fails(&["diff", "r1", "nowhere"])
        .contains("unknown point \"nowhere\""));
    assert!(s.fails(&["diff", "2024-02-30"]).contains("unknown point"));
    assert!(s
        .fails(&["diff", "2000-01-01"])
        .contains("did not exist yet"));
    assert_eq!(snapshot(&s), before);

    let fresh = Store::new("ned");
    fresh.ok(&["new", "No rounds"]);
    assert!(fresh.fails(&["diff"]).contains("no rounds yet"));
    assert!(fresh.ok(&["diff", "now"]).contains("nothing changed"));
}

#[test]
fn show_at_before_the_canvas_existed_is_refused() {
    let (s, _, _, _) = research_canvas();
    let before = snapshot(&s);
    let line = s.fails(&["show", "--at", "2000-01-01"]);
    assert!(
        line.contains("the canvas did not exist yet at 2000-01-01 00:00"),
        "{line}"
    );
    assert!(s.fails(&["show", "--at", "r7"]).contains("unknown point"));
    assert!(s.fails(&["log", "--since", "r7"]).contains("unknown point"));
    assert_eq!(snapshot(&s), before);
    // A round or now reads fine.
    assert_eq!(s.json(&["show", "--at", "now"]), s.show());
    assert_eq!(
        texts(&s.json(&["show", "--at", "r1"]), "now"),
        ["Chases invoices"]
    );
}

#[test]
fn other_research_mistakes_are_one_line_and_change_nothing() {
    let (s, note, goal, interview) = research_canvas();
    let design = s.ok(&["add", "design", "Reminders"]);
    let before = snapshot(&s);
    assert!(s
        .fails(&["interview", "new", "--with", "Tom", "--date", "2024-13-01"])
        .contains("invalid date"));
    assert!(s
        .fails(&["interview", "new", "--with", " "])
        .contains("empty"));
    assert!(s
        .fails(&["interview", "ask", &interview, ""])
        .contains("empty"));
    assert!(s
        .fails(&["interview", "guide", &interview, "--section", "middle"])
        .contains("unknown section"));
    assert!(s
        .fails(&["link", &design, "fixes", &note])
        .contains("unknown link kind"));
    assert!(s
        .fails(&["link", &design, "addresses", &design])
        .contains("itself"));
    assert!(s
        .fails(&["link", &design, "addresses", "zzzzzz"])
        .contains("no note id"));
    assert!(s
        .fails(&["link", &design, "addresses", &goal, "--remove"])
        .contains("no link"));
    assert!(s
        .fails(&["finding", "rm", "zzzzzz"])
        .contains("no finding id"));
    let line = s.fails(&["export", "--format", "automerge", "--anonymise"]);
    assert!(line.contains("--anonymise cannot apply"), "{line}");
    let bad = file(&s, "bad.json");
    std::fs::write(&bad, r#"{"schema":"other/1"}"#).unwrap();
    assert!(s
        .fails(&["import", &bad])
        .contains("not a gapmap JSON export"));
    assert_eq!(snapshot(&s), before);
}
