//! The research loop on the web board in real Chromium (tests/js/board.test.mjs
//! `research`): an interview made, noted and turned into evidence in the
//! browser alone, checked with `gapmap --json interview show` and
//! `gapmap --json evidence`; the badges on the page agree with the CLI's
//! figures, a finding added with the CLI reaches the open page, and the
//! review's suggestions are the CLI's and applied from the page, and a round
//! started on the page is the CLI's `round list`.

use serde_json::{json, Value};

use crate::board::{expect, only_local, Board, Script};
use crate::util::Store;

/// `evidence --json` as note id -> [supports, contradicts, interviewees],
/// the shape the script reads the badges in.
fn cli_badges(store: &Store) -> serde_json::Map<String, Value> {
    let rows = store.json(&["evidence"]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let figures = [&r["supports"], &r["contradicts"], &r["interviewee_count"]]
                .map(|v| Value::String(v.as_u64().unwrap().to_string()));
            (
                r["note"].as_str().unwrap().to_string(),
                Value::from(figures.to_vec()),
            )
        })
        .collect()
}

#[test]
fn a_research_round_on_the_board_alone_shows_as_evidence_on_the_cli() {
    gapmap_tests::require_chromium();
    let ana = Store::new("ana");
    ana.ok(&["new", "Research on the board"]);
    let supported = ana.ok(&["add", "now", "Chases late payers by hand"]);
    let contradicted = ana.ok(&["add", "to-be", "Clients pay within a week"]);
    ana.ok(&["add", "constraint", "Fears upsetting a good client"]);
    let id = |out: &str| out.split_whitespace().last().unwrap().to_string();
    let (supported, contradicted) = (id(&supported), id(&contradicted));
    let board = Board::start(&ana, &[]);
    let script = Script::start(
        "research",
        &[
            ("BOARD_URL", &board.url),
            ("SUPPORTED", &supported),
            ("CONTRADICTED", &contradicted),
        ],
    );
    let done = script.run(|step| match step["checkpoint"].as_str().unwrap() {
        "badges" => {
            let cli = cli_badges(&ana);
            let page = step["badges"].as_object().cloned().unwrap_or_default();
            expect(page == cli, || {
                format!("the page's badges {page:?} are not the CLI's {cli:?}")
            })
        }
        "transcript" => {
            let shown = ana.json(&["interview", "show", step["interview"].as_str().unwrap()]);
            expect(shown["interviewee"] == "Maria Lopez", || format!("{shown}"))?;
            let transcript = shown["transcript"].as_str().unwrap_or_default();
            let lines: Vec<&str> = transcript.lines().collect();
            let said: Vec<&str> = step["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            expect(lines.len() == 3, || format!("transcript: {transcript:?}"))?;
            for (line, text) in lines.iter().zip(&said) {
                // `[HH:MM ana] text`: timestamped, by the page's author.
                expect(
                    line.starts_with('[') && line.contains(" ana] ") && line.ends_with(text),
                    || format!("line {line:?} is not a stamped {text:?}"),
                )?;
            }
            Ok(())
        }
        "findings" => {
            let shown = ana.json(&["interview", "show", step["interview"].as_str().unwrap()]);
            let findings = shown["findings"].as_array().unwrap();
            expect(findings.len() == 2, || format!("{shown}"))?;
            for (f, (note, effect)) in findings.iter().zip([
                (&step["supported"], "supports"),
                (&step["contradicted"], "contradicts"),
            ]) {
                expect(
                    f["links"].as_array().unwrap().len() == 1
                        && f["links"][0]["note"] == *note
                        && f["links"][0]["effect"] == effect,
                    || format!("finding {f} is not {effect} {note}"),
                )?;
            }
            let quotes: Vec<&Value> = findings.iter().map(|f| &f["text"]).collect();
            expect(
                quotes
                    == step["quotes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .collect::<Vec<_>>(),
                || format!("quotes {quotes:?}"),
            )
        }
        "cli-finding" => {
            // A second interviewee backs the first note up: the review can decide.
            let tom = ana.ok(&["interview", "new", "--with", "Tom Berg"]);
            ana.ok(&[
                "finding",
                "add",
                &tom,
                "I chase on Fridays too",
                "--supports",
                &supported,
            ]);
            ana.ok(&[
                "finding",
                "add",
                step["interview"].as_str().unwrap(),
                "I would pay for reminders",
                "--supports",
                step["note"].as_str().unwrap(),
            ]);
            Ok(())
        }
        "review" => {
            let cli: Vec<Value> = ana
                .json(&["review"])
                .as_array()
                .unwrap()
                .iter()
                .map(|r| json!([r["id"], r["suggestion"]]))
                .collect();
            expect(step["rows"].as_array() == Some(&cli), || {
                format!(
                    "the page's review {} is not the CLI's {cli:?}",
                    step["rows"]
                )
            })
        }
        "applied" => {
            let shown = ana.json(&["show"]);
            let status = shown["sections"]["now"]
                .as_array()
                .and_then(|ns| ns.iter().find(|n| n["id"] == supported))
                .map(|n| n["status"].clone());
            expect(status == Some(json!("validated")), || {
                format!("{supported} is {status:?} after applying the suggestion")
            })
        }
        "round" => {
            let rounds = ana.json(&["round", "list"]);
            let round = rounds
                .as_array()
                .and_then(|rs| rs.iter().find(|r| r["label"] == step["label"]));
            expect(round.is_some_and(|r| r["focus"] == step["focus"]), || {
                format!("round list: {rounds}")
            })
        }
        other => Err(format!("unknown checkpoint {other}")),
    });
    assert_eq!(
        done["audited"].as_array().map(Vec::len),
        Some(5),
        "axe-core ran on every research view: {done}"
    );
    only_local(&done["requests"], &[&board.url]);
    eprintln!("research board timings: {}", done["timings"]);
}
