//! The research model through the real binary: findings that quote an
//! interviewee and bear on several notes, evidence per note with its
//! filters, review by customer segment, and interviews removed and erased.

use serde_json::Value;

use crate::util::Store;

fn row<'a>(rows: &'a Value, id: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["note"] == id || r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {rows}"))
}

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["note"].as_str().unwrap().to_string())
        .collect()
}

/// A canvas with two notes, a goal, and a user's and a buyer's interview.
fn canvas() -> (Store, [String; 3], [String; 2]) {
    let s = Store::new("ana");
    s.ok(&["new", "Freelancers getting paid"]);
    let chases = s.ok(&["add", "now", "Chases late invoices by email"]);
    let paid = s.ok(&["add", "to-be", "Gets paid without chasing"]);
    let goal = s.ok(&["add", "goal", "Paid within 30 days"]);
    let maria = s.ok(&[
        "interview",
        "new",
        "--with",
        "Maria Lopez",
        "--type",
        "user",
    ]);
    let tom = s.ok(&["interview", "new", "--with", "Tom", "--type", "buyer"]);
    (s, [chases, paid, goal], [maria, tom])
}

#[test]
fn findings_quote_and_bear_on_several_notes() {
    let (s, [chases, paid, goal], [maria, tom]) = canvas();
    s.ok(&["interview", "note", &maria, "I chase them every Friday"]);
    let added = s.json(&[
        "finding",
        "add",
        &maria,
        "I send a reminder every Friday, it's just how it is",
        "--interpretation",
        "chasing is a habit",
        "--supports",
        &chases,
        "--contradicts",
        &paid,
    ]);
    let f = added["id"].as_str().unwrap().to_string();
    assert_eq!(added["note"], chases.as_str(), "the first link");
    s.ok(&[
        "finding",
        "add",
        &tom,
        "Our portal pays in a week",
        "--supports",
        &paid[..6],
    ]);

    let shown = s.json(&["interview", "show", &maria]);
    let finding = &shown["findings"][0];
    assert_eq!(
        finding["text"],
        "I send a reminder every Friday, it's just how it is"
    );
    assert_eq!(finding["interpretation"], "chasing is a habit");
    assert_eq!(finding["links"].as_array().unwrap().len(), 2);
    assert!(shown["transcript"]
        .as_str()
        .unwrap()
        .contains("every Friday"));

    let all = s.json(&["evidence"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let p = row(&all, &paid);
    assert_eq!(
        (p["supports"].as_u64(), p["contradicts"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(p["interviewee_count"], 2);
    assert_eq!(p["interviewees"], serde_json::json!(["Maria Lopez", "Tom"]));
    let quotes: Vec<&str> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["quote"].as_str().unwrap())
        .collect();
    assert!(quotes.contains(&"Our portal pays in a week"), "{p}");
    let g = row(&all, &goal);
    assert_eq!(
        (g["supports"].as_u64(), g["contradicts"].as_u64()),
        (Some(0), Some(0))
    );

    assert_eq!(
        ids(&s.json(&["evidence", "--filter", "contradicted"])),
        vec![paid.clone()]
    );
    assert_eq!(
        ids(&s.json(&["evidence", "--filter", "untested"])),
        vec![goal.clone()]
    );
    assert_eq!(ids(&s.json(&["evidence", "-f", "has-evidence"])).len(), 2);
    assert_eq!(ids(&s.json(&["evidence", &paid[..6]])), vec![paid.clone()]);
    let buyers = s.json(&["evidence", "--type", "buyer", &paid]);
    assert_eq!(row(&buyers, &paid)["contradicts"], 0);
    let text = s.ok(&["evidence", &chases]);
    assert!(text.contains("[+1 −0 · 1 interviewee]"), "{text}");
    assert!(text.contains("\u{201c}I send a reminder"), "{text}");

    // Links change later; the review follows, per segment.
    s.ok(&["finding", "unlink", &f, &paid]);
    assert_eq!(row(&s.json(&["evidence"]), &paid)["contradicts"], 0);
    s.ok(&["finding", "link", &f, "--contradicts", &paid]);
    let review = s.json(&["review", "--min", "1", "--type", "buyer"]);
    assert_eq!(row(&review, &paid)["suggestion"], "validate");
    let review = s.json(&["review", "--min", "1", "--type", "user"]);
    let r = row(&review, &paid);
    assert_eq!(r["suggestion"], "invalidate");
    assert_eq!(r["evidence"]["findings"][0]["interviewee"], "Maria Lopez");
    let mixed = s.json(&["review", "--min", "1"]);
    assert_eq!(row(&mixed, &paid)["suggestion"], "mixed");
    let text = s.ok(&["review", "--min", "1"]);
    assert!(
        text.contains("\u{201c}Our portal pays in a week\u{201d} (Tom)"),
        "{text}"
    );

    // The exports carry the quote, the interpretation and the transcript.
    let md = s.ok(&["export", "--format", "md"]);
    assert!(md.contains("chasing is a habit"), "{md}");
    assert!(md.contains("I chase them every Friday"), "{md}");
    let anon = s.ok(&["export", "--format", "md", "--anonymise"]);
    assert!(!anon.contains("I chase them every Friday"), "{anon}");
    assert!(!anon.contains("Maria"), "{anon}");
}

#[test]
fn interviews_are_trashed_restored_and_erased() {
    let (s, [chases, ..], [maria, tom]) = canvas();
    s.ok(&[
        "interview",
        "note",
        &maria,
        "Maria keeps a shoebox of receipts",
    ]);
    s.ok(&[
        "finding",
        "add",
        &maria,
        "My shoebox is my system",
        "--supports",
        &chases,
    ]);
    s.ok(&[
        "interview",
        "edit",
        &tom,
        "--type",
        "support",
        "--date",
        "2024-05-18",
    ]);
    let t = s.json(&["interview", "show", &tom]);
    assert_eq!(
        (t["customer_type"].as_str(), t["date"].as_str()),
        (Some("support"), Some("2024-05-18"))
    );

    s.ok(&["interview", "rm", &maria]);
    assert_eq!(s.json(&["interview", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(
        s.json(&["interview", "list", "--trashed"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(row(&s.json(&["evidence"]), &chases)["supports"], 0);
    assert!(!s.ok(&["export", "--format", "md"]).contains("shoebox"));
    s.ok(&["interview", "restore", &maria]);
    assert_eq!(row(&s.json(&["evidence"]), &chases)["supports"], 1);

    let line = s.fails(&["interview", "purge", &maria]);
    assert!(line.contains("--yes"), "{line}");
    assert!(s.ok(&["export", "--format", "md"]).contains("shoebox"));
    let purged = s.json(&["interview", "purge", &maria, "--yes"]);
    assert_eq!(
        (
            purged["transcript_lines"].as_u64(),
            purged["quotes"].as_u64()
        ),
        (Some(1), Some(1))
    );
    for format in ["md", "html", "json", "csv-findings"] {
        let out = s.ok(&["export", "--format", format]);
        assert!(!out.contains("shoebox"), "{format}: {out}");
        assert!(!out.contains("Maria"), "{format}: {out}");
    }
    // The evidence stays, from an interviewee nobody can name.
    let e = row(&s.json(&["evidence"]), &chases).clone();
    assert_eq!(e["supports"], 1);
    assert!(
        e["interviewees"][0]
            .as_str()
            .unwrap()
            .starts_with("(erased"),
        "{e}"
    );
    let line = s.fails(&["interview", "note", &maria, "more"]);
    assert!(line.contains("erased"), "{line}");
    let line = s.fails(&["interview", "edit", &maria, "--with", "Maria"]);
    assert!(line.contains("erased"), "{line}");
}

#[test]
fn bad_finding_links_change_nothing() {
    let (s, [chases, _, _], [maria, _]) = canvas();
    let before = s.ok(&["export", "--format", "json"]);
    let line = s.fails(&[
        "finding",
        "add",
        &maria,
        "q",
        "--supports",
        &chases,
        "--contradicts",
        &chases,
    ]);
    assert!(line.contains("at most one of --supports"), "{line}");
    let line = s.fails(&[
        "finding",
        "add",
        &maria,
        "q",
        "--supports",
        &chases,
        "--new",
        "now",
    ]);
    assert!(line.contains("at most one of"), "{line}");
    let line = s.fails(&["finding", "add", &maria, "q", "--supports", "zzzzzz"]);
    assert!(line.contains("no note id starts with"), "{line}");
    let line = s.fails(&["evidence", "--filter", "maybe"]);
    assert!(line.contains("unknown evidence filter"), "{line}");
    let strip = |s: String| -> Value {
        let mut v: Value = serde_json::from_str(&s).unwrap();
        v["members"] = Value::Null;
        v
    };
    assert_eq!(strip(s.ok(&["export", "--format", "json"])), strip(before));
}

#[test]
fn outcomes_score_customers_ratings_and_import_surveys() {
    let (s, [_, _, goal], _) = canvas();
    let hazard = s.ok(&["add", "hazard", "Losing a client by nagging"]);
    s.ok(&["rate", &goal, "-i", "3", "-s", "9"]);
    let before = s.json(&["outcomes"]);
    assert_eq!(row(&before, &goal)["basis"], "team");
    s.ok(&[
        "rate",
        &goal,
        "-i",
        "9",
        "-s",
        "3",
        "--respondent",
        "Maria Lopez",
    ]);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("respondent,outcome,importance,satisfaction\nTom,{goal},7,1\nZoe,{hazard},12,2\n"),
    )
    .unwrap();
    let snapshot = s.ok(&["--json", "outcomes"]);
    let line = s.fails(&["rate", "--import", bad.to_str().unwrap()]);
    assert!(
        line.contains("line 3: importance must be a whole number from 1 to 10"),
        "{line}"
    );
    assert!(line.contains("nothing imported"), "{line}");
    assert_eq!(s.ok(&["--json", "outcomes"]), snapshot);
    let huge = dir.path().join("huge.csv");
    std::fs::write(&huge, vec![b'a'; 2 << 20]).unwrap();
    let line = s.fails(&["rate", "--import", huge.to_str().unwrap()]);
    assert!(line.contains("at most"), "{line}");

    let good = dir.path().join("survey.csv");
    std::fs::write(
        &good,
        format!("respondent,outcome,importance,satisfaction\nTom,{goal},7,1\nZoe,Losing a client by nagging,6,2\n"),
    )
    .unwrap();
    // A relative path, as a person types it.
    let mut cmd = s.command(&["--json", "rate", "--import", "survey.csv"]);
    let run = cmd.current_dir(dir.path()).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        (report["rows"].as_u64(), report["respondents"].as_u64()),
        (Some(2), Some(2))
    );

    let scores = s.json(&["outcomes"]);
    let g = row(&scores, &goal);
    assert_eq!(g["basis"], "respondents");
    assert_eq!(g["respondents"], 2);
    assert_eq!(
        (g["importance"].as_f64(), g["satisfaction"].as_f64()),
        (Some(8.0), Some(2.0))
    );
    assert_eq!(
        g["opportunity"].as_f64(),
        Some(14.0),
        "Ulwick's, on the means"
    );
    assert_eq!(
        g["team"]["opportunity"].as_f64(),
        Some(3.0),
        "the team's estimate apart"
    );
    assert_eq!(scores[0]["id"], goal.as_str());
}
