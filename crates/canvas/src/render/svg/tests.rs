use super::*;
use crate::FindingTarget;

fn text_elements(svg: &str) -> Vec<(f32, f32, String)> {
    // (x, font-size, text) of every <text> element.
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let attr = |name: &str| {
                let start = t.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                t[start..start + t[start..].find('"').unwrap()].to_string()
            };
            let content = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            (
                attr("x").parse().unwrap(),
                attr("font-size").parse().unwrap(),
                content.to_string(),
            )
        })
        .collect()
}

#[test]
fn draws_a_report_with_job_legend_tags_and_evidence() {
    let mut c = Canvas::create("Svg & co", "ana", 1).unwrap();
    c.set_job(Some("a project is delivered"), Some("get paid"), None, 1)
        .unwrap();
    c.set_customer(Some("user"), Some("solo designers"), 1)
        .unwrap();
    let k = c
        .add_note(
            Section::Constraint,
            "A rather long constraint that needs wrapping over several lines of the box it sits in, to see the width used",
            &["fear".into()],
            "ana",
            2,
        )
        .unwrap();
    c.add_note(
        Section::Anxiety,
        "Will reminders sound rude?",
        &[],
        "ana",
        2,
    )
    .unwrap();
    let i = c
        .add_interview("Maria", "user", Some("2024-05-17"), "ana", 2)
        .unwrap();
    c.add_finding(&i, "Afraid", FindingTarget::Supports(k), "ana", 2)
        .unwrap();
    let id = DocId::random();
    let svg = to_svg(&c, &id);
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("Svg &amp; co"));
    assert!(svg.contains("Job: When a project is delivered, I want to get paid."));
    assert!(svg.contains("Customer: user — solo designers"));
    for s in [
        "now",
        "to-be",
        "constraint",
        "catalyst",
        "design",
        "push",
        "anxiety",
    ] {
        assert!(svg.contains(&format!("data-section=\"{s}\"")), "{s}");
    }
    assert!(svg.contains(">#fear</text>"));
    assert!(svg.contains("+1 −0 · 1 interviewee"));
    assert!(svg.contains("data-legend"));
    assert!(!svg.contains("automerge:"), "no document URL for people");
    assert!(!svg.contains(&id.to_string()));
}

#[test]
fn text_fills_the_card_and_stays_inside_it() {
    let mut c = Canvas::create("Wrap", "ana", 1).unwrap();
    let words = "Chases late payments by email every Friday afternoon and again on Monday when nothing came in";
    c.add_note(Section::Now, words, &[], "ana", 2).unwrap();
    let svg = to_svg(&c, &DocId::random());
    let col_w = (WIDTH - 2.0 * MARGIN - 2.0 * ARROW_GAP) / 3.0;
    let card_w = col_w - 2.0 * PAD;
    let lines: Vec<String> = text_elements(&svg)
        .into_iter()
        .filter(|(x, size, _)| *x == MARGIN + PAD + CARD_PAD && *size == TEXT)
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(lines.join(" "), words);
    let max = card_w - 2.0 * CARD_PAD - 14.0;
    for line in &lines {
        assert!(text_width(line, TEXT, false) <= max, "{line}");
    }
    // Not the old 36 characters: a line holds what fits.
    assert!(lines[0].chars().count() >= 40, "{lines:?}");
}
