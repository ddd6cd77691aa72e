//! The `gapmap` command line, driven as a user would (DESIGN §4).

use serde_json::Value;

use crate::util::{note_ids, texts, Store};

#[test]
fn tour_builds_a_canvas() {
    let s = Store::new("ana");
    let created = s.json(&["new", "Freelance designers getting paid"]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["url"], Value::String(format!("automerge:{id}")));

    let now = s.ok(&[
        "add",
        "now",
        "Chases late invoices by email every Friday",
        "--tag",
        "billing",
    ]);
    let to_be = s.ok(&["add", "to-be", "Gets paid on time without chasing"]);
    let c = s.ok(&["add", "constraint", "Fears upsetting the client"]);
    s.ok(&["add", "catalyst", "A client portal they already use"]);
    s.ok(&[
        "job",
        "--situation",
        "a project ends",
        "--motivation",
        "send the invoice",
        "--outcome",
        "get paid this month",
    ]);
    s.ok(&[
        "customer",
        "--type",
        "user",
        "--description",
        "solo designers",
    ]);
    s.ok(&["mark", &now[..6], "validated"]);
    s.ok(&["edit", &to_be, "Gets paid on time, without chasing anyone"]);
    s.ok(&["tag", &c, "+fear", "-nothing"]);

    let show = s.show();
    assert_eq!(show["id"], Value::String(id.clone()));
    assert_eq!(show["title"], "Freelance designers getting paid");
    assert_eq!(show["job"]["situation"], "a project ends");
    assert_eq!(show["customer"]["type"], "user");
    let keys: Vec<&str> = show
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(&keys[..5], ["id", "title", "job", "customer", "sections"]);
    let sections: Vec<&str> = show["sections"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        sections,
        [
            "now",
            "to-be",
            "constraint",
            "catalyst",
            "design",
            "push",
            "pull",
            "anxiety",
            "inertia",
            "goal",
            "hazard",
            "problem",
            "job",
            "pain",
            "gain",
            "define",
            "locate",
            "prepare",
            "confirm",
            "execute",
            "monitor",
            "modify",
            "conclude"
        ]
    );
    let note = &show["sections"]["now"][0];
    assert_eq!(note["id"], Value::String(now.clone()));
    assert_eq!(note["status"], "validated");
    assert_eq!(note["tags"], serde_json::json!(["billing"]));
    assert_eq!(note["author"], "ana");
    assert_eq!(
        texts(&show, "to-be"),
        ["Gets paid on time, without chasing anyone"]
    );
    assert_eq!(
        show["sections"]["constraint"][0]["tags"],
        serde_json::json!(["fear"])
    );

    let board = s.ok(&["show"]);
    for text in [
        "NOW",
        "TO BE",
        "Chases late invoices",
        "Fears upsetting the client",
    ] {
        assert!(board.contains(text), "board lacks {text}:\n{board}");
    }

    let list = s.json(&["list"]);
    assert_eq!(
        list,
        serde_json::json!([{ "id": id, "title": "Freelance designers getting paid", "notes": 4 }])
    );

    let log = s.ok(&["log"]);
    assert!(log.contains("ana"), "{log}");
    assert!(log.lines().count() >= 9, "{log}");
}

#[test]
fn move_orders_notes_and_trash_is_restorable() {
    let s = Store::new("ben");
    s.ok(&["new", "Ordering"]);
    let a = s.ok(&["add", "now", "a"]);
    let b = s.ok(&["add", "now", "b"]);
    let c = s.ok(&["add", "now", "c"]);
    s.ok(&["move", &c, "now", "--before", &a]);
    assert_eq!(texts(&s.show(), "now"), ["c", "a", "b"]);
    s.ok(&["move", &c, "now", "--after", &a]);
    assert_eq!(texts(&s.show(), "now"), ["a", "c", "b"]);
    s.ok(&["move", &b, "design"]);
    assert_eq!(texts(&s.show(), "design"), ["b"]);

    s.ok(&["rm", &a]);
    let show = s.show();
    assert_eq!(texts(&show, "now"), ["c"]);
    assert!(!note_ids(&show).contains(&a));
    assert_eq!(s.json(&["list"])[0]["notes"], 2);
    assert!(s.ok(&["trash"]).contains(&a));
    s.ok(&["restore", &a]);
    assert_eq!(texts(&s.show(), "now"), ["a", "c"]);

    s.ok(&["rm", &a]);
    assert_eq!(s.json(&["trash", "empty"])["purged"], 1);
    assert!(s.fails(&["restore", &a]).contains("no note id starts with"));
}

#[test]
fn canvases_are_selected_by_id_prefix_or_url() {
    let s = Store::new("cy");
    let one = s.json(&["new", "One"])["id"].as_str().unwrap().to_string();
    let two = s.json(&["new", "Two"])["id"].as_str().unwrap().to_string();
    // `new` makes the canvas current.
    assert_eq!(s.show()["title"], "Two");
    s.ok(&["-c", &one, "add", "now", "in one"]);
    s.ok(&["-c", &format!("automerge:{two}"), "add", "now", "in two"]);
    s.ok(&["use", &one[..8]]);
    assert_eq!(texts(&s.show(), "now"), ["in one"]);
    assert_eq!(texts(&s.json(&["-c", &two, "show"]), "now"), ["in two"]);
}

#[test]
fn export_and_import_merge_offline_work() {
    let ana = Store::new("ana");
    let ben = Store::new("ben");
    let id = ana.json(&["new", "Shared"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let note = ana.ok(&["add", "now", "Writes invoices by hand"]);

    let file = ana.home.parent().unwrap().join(format!("{id}.automerge"));
    ana.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        file.to_str().unwrap(),
    ]);
    let imported = ben.json(&["import", file.to_str().unwrap()]);
    assert_eq!(imported["id"], Value::String(id.clone()));

    // Both edit the same note offline, and add one each.
    ana.ok(&["edit", &note, "Writes every invoice by hand"]);
    ana.ok(&["add", "to-be", "Invoices go out by themselves"]);
    ben.ok(&["edit", &note, "Writes invoices by hand in Word"]);
    ben.ok(&["add", "constraint", "Does not trust automation"]);

    let ben_file = ben.home.parent().unwrap().join("from-ben.automerge");
    ben.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        ben_file.to_str().unwrap(),
    ]);
    ana.ok(&["import", ben_file.to_str().unwrap()]);
    ana.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        file.to_str().unwrap(),
    ]);
    ben.ok(&["import", file.to_str().unwrap()]);

    let (a, b) = (ana.show(), ben.show());
    assert_eq!(a, b, "both stores hold the same canvas");
    assert_eq!(texts(&a, "now"), ["Writes every invoice by hand in Word"]);
    assert_eq!(texts(&a, "to-be").len(), 1);
    assert_eq!(texts(&a, "constraint").len(), 1);
    // Importing again changes nothing.
    assert_eq!(
        ana.json(&["import", ben_file.to_str().unwrap()])["changed"],
        false
    );
}

#[test]
fn exports_render_every_format() {
    let s = Store::new("dee");
    s.ok(&["new", "Exports"]);
    s.ok(&["add", "now", "Keeps receipts in a shoebox"]);
    let md = s.ok(&["export", "--format", "md"]);
    assert!(
        md.contains("# Exports") && md.contains("Keeps receipts in a shoebox"),
        "{md}"
    );
    let json: Value = serde_json::from_str(&s.ok(&["export", "--format", "json"])).unwrap();
    // The JSON export carries everything (docs/export-format.md); what the
    // board shows matches `show --json`.
    let show = s.show();
    assert_eq!(json["schema"], "gapmap/export/1");
    for key in ["id", "url", "title", "customer"] {
        assert_eq!(json[key], show[key], "{key}");
    }
    assert_eq!(texts(&json, "now"), texts(&show, "now"));
    let html = s.ok(&["export", "--format", "html"]);
    assert!(
        html.contains("data-section=\"now\"") && html.contains("Keeps receipts"),
        "{html}"
    );
    let svg = s.ok(&["export", "--format", "svg"]);
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
}

#[test]
fn author_names_come_from_as_env_or_config() {
    let s = Store::new("eve");
    s.ok(&["new", "Names"]);
    s.ok(&["add", "now", "by eve"]);
    let bare = |args: &[&str], name: Option<&str>| {
        let mut cmd = std::process::Command::new(crate::util::bin("gapmap"));
        cmd.arg("--home")
            .arg(&s.home)
            .env_remove("GAPMAP_NAME")
            .args(args);
        if let Some(name) = name {
            cmd.env("GAPMAP_NAME", name);
        }
        assert!(cmd.output().unwrap().status.success(), "{args:?}");
    };
    bare(&["add", "now", "by env"], Some("fay"));
    bare(&["config", "name", "gus"], None);
    bare(&["add", "now", "by config"], None);
    let authors: Vec<String> = s.show()["sections"]["now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["author"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(authors, ["eve", "fay", "gus"]);
}

#[test]
fn gapmap_home_env_selects_the_store() {
    let s = Store::new("hal");
    let out = std::process::Command::new(crate::util::bin("gapmap"))
        .env("GAPMAP_HOME", &s.home)
        .args(["new", "From env"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(s.show()["title"], "From env");
}
