//! What a new user meets first: a PNG with its text, no panic on a closed
//! pipe, `clone` then a plain `sync`, the job statement as typed, links that
//! make sense, conflicts shown, and a "did you mean" for common mistakes.

use std::process::Stdio;

use serde_json::Value;

use crate::relay::harness::Relay;
use crate::util::{bin, texts, Store};

/// The pixels of a PNG as (width, height, RGBA bytes).
fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(png);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

/// Pixels dark enough to be text (the notes' and titles' ink), not boxes,
/// fills or the grey subtitles.
fn dark_pixels(png: &[u8]) -> usize {
    let (_, _, rgba) = decode(png);
    rgba.chunks(4)
        .filter(|p| {
            let luma = (u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10;
            luma < 90
        })
        .count()
}

fn png_of(s: &Store) -> Vec<u8> {
    let out = s.command(&["export", "--format", "png"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_png_export_has_its_text() {
    let s = Store::new("ana");
    s.ok(&["new", "Freelance designers getting paid"]);
    let note = s.ok(&[
        "add",
        "now",
        "Sends invoices by hand from a spreadsheet at the end of every project",
    ]);
    let with_note = png_of(&s);
    s.ok(&["rm", &note]);
    let without = png_of(&s);
    let (w, h, _) = decode(&with_note);
    assert!(w > 1000 && h > 300, "{w}×{h}");
    let (ink, title_ink) = (dark_pixels(&with_note), dark_pixels(&without));
    assert!(
        title_ink > 1000,
        "the title is drawn: {title_ink} dark pixels"
    );
    // The note's ~70 characters at 13 px, rendered at 2×, are thousands of
    // dark pixels: none when no font was found.
    assert!(
        ink > title_ink + 2000,
        "the note's text is drawn: {ink} dark pixels with it, {title_ink} without"
    );
}

#[test]
fn a_closed_pipe_is_no_error_for_any_command() {
    let s = Store::new("ana");
    s.ok(&["new", "Pipes"]);
    for i in 0..30 {
        s.ok(&[
            "add",
            "now",
            &format!("note number {i} with some words in it"),
        ]);
    }
    let commands: [&[&str]; 7] = [
        &["completions", "bash"],
        &["completions", "zsh"],
        &["show"],
        &["--json", "show"],
        &["list"],
        &["log"],
        &["export", "--format", "md"],
    ];
    for args in commands {
        // The reading end is closed before the command starts: its first
        // write meets a broken pipe, as in `gapmap … | head -1`.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = s
            .command(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "gapmap {args:?}: {:?} {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "gapmap {args:?}: {stderr}");
    }
}

#[test]
fn clone_remembers_its_remote_so_a_plain_sync_works_next() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = format!("ws://127.0.0.1:{}", relay.port);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Cloned"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["sync", &url]);

    let run = ben.run(&["clone", &id, "--from", &url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), id, "stdout stays the id");
    assert!(run.stderr.contains("remembered"), "{}", run.stderr);
    let remotes = ben.json(&["remote", "list"]);
    assert_eq!(remotes[0]["name"], "origin");
    assert_eq!(remotes[0]["url"], url.as_str());
    ben.ok(&["add", "now", "from Ben"]);
    assert!(ben.ok(&["sync"]).contains("1 canvas in sync"));
    ana.ok(&["sync", &url]);
    assert_eq!(texts(&ana.show(), "now"), ["from Ben"]);
    // Cloning again from the same place adds no second remote.
    let cy_clone = ben.json(&["clone", &id, "--from", &url]);
    assert_eq!(cy_clone["remote"], "origin");
    assert_eq!(ben.json(&["remote", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn the_job_statement_keeps_no_doubled_lead_words() {
    let s = Store::new("ana");
    s.ok(&["new", "Jobs"]);
    let said = s.ok(&[
        "job",
        "--situation",
        "When a client pays late",
        "--motivation",
        "I want to send a friendly reminder",
        "--outcome",
        "so I CAN keep the client",
    ]);
    assert_eq!(
        said,
        "When a client pays late\nI want to send a friendly reminder\nso I can keep the client"
    );
    assert_eq!(s.show()["job"]["situation"], "a client pays late");
}

#[test]
fn links_go_from_a_design_to_the_gap() {
    let s = Store::new("ana");
    s.ok(&["new", "Links"]);
    let fear = s.ok(&["add", "constraint", "Fears upsetting a client"]);
    let design = s.ok(&["add", "design", "Friendly reminders"]);
    let now = s.ok(&["add", "now", "Chases by email"]);
    let err = s.fails(&["link", &fear, "addresses", &design]);
    assert!(err.contains("cannot address"), "{err}");
    assert!(
        err.contains(&format!(
            "did you mean gapmap link {} addresses",
            &design[..6]
        )),
        "{err}"
    );
    let err = s.fails(&["link", &design, "addresses", &now]);
    assert!(err.contains("NOW and TO BE"), "{err}");
    s.ok(&["link", &design, "addresses", &fear]);
    s.ok(&["link", &now, "causes", &fear]);
}

#[test]
fn show_lists_values_written_at_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Conflicts"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let note = ana.ok(&["add", "now", "Pays late"]);
    let file = dir.path().join("c.automerge");
    let file = file.to_str().unwrap();
    ana.ok(&["export", "--format", "automerge", "-o", file]);
    ben.ok(&["import", file]);
    ana.ok(&["mark", &note, "validated"]);
    ben.ok(&["mark", &note, "invalidated"]);
    ben.ok(&["export", "--format", "automerge", "-o", file]);
    ana.ok(&["import", file]);

    let show = ana.json(&["-c", &id, "show"]);
    let shown: &Value = &show["sections"]["now"][0];
    let mut values: Vec<String> =
        serde_json::from_value(shown["conflicts"]["status"].clone()).unwrap();
    assert_eq!(values[0], shown["status"], "the value shown comes first");
    values.sort();
    assert_eq!(values, ["invalidated", "validated"]);
    let board = ana.ok(&["show"]);
    assert!(board.contains("⚠ status:"), "{board}");
    ana.ok(&["mark", &note, "validated"]);
    assert!(ana.show()["sections"]["now"][0].get("conflicts").is_none());
}

#[test]
fn common_mistakes_get_a_did_you_mean() {
    let s = Store::new("ana");
    s.ok(&["new", "Mistakes"]);
    let gap = s.fails(&["add", "gap", "Fears clients"]);
    assert!(gap.contains("did you mean constraint or catalyst"), "{gap}");
    let typo = s.fails(&["add", "catalist", "A portal"]);
    assert!(typo.ends_with("did you mean catalyst?"), "{typo}");
    let url = s.fails(&["sync", "127.0.0.1:45647"]);
    assert!(url.contains("did you mean ws://127.0.0.1:45647?"), "{url}");
    let remote = s.fails(&["remote", "add", "team", "localhost:8080"]);
    assert!(
        remote.contains("did you mean ws://localhost:8080?"),
        "{remote}"
    );
    let run = s.run(&["delete", "abcd"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("'rm'"), "{}", run.stderr);
}

#[test]
fn an_unknown_author_is_warned_about() {
    let s = Store::new("unused");
    let bare = |args: &[&str]| {
        std::process::Command::new(bin("gapmap"))
            .arg("--home")
            .arg(&s.home)
            .env_remove("GAPMAP_NAME")
            .env("USER", "")
            .args(args)
            .output()
            .unwrap()
    };
    let out = bare(&["new", "Who"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("warning: no author name").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("gapmap config name"), "{stderr}");
    assert!(bare(&["config", "name", "Ana"]).status.success());
    let out = bare(&["add", "now", "signed"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
