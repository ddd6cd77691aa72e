//! Prints a sample canvas as a terminal board, Markdown and JSON.
//!
//! `cargo run -p gapmap-canvas --example board -- [WIDTH] [--color] [--md] [--json]`

use gapmap_canvas::{render, Canvas, CanvasError, DocId, Position, Section, Status};

fn main() -> Result<(), CanvasError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let width = args.iter().find_map(|a| a.parse().ok()).unwrap_or(80usize);
    let color = args.iter().any(|a| a == "--color");

    let now = 1_700_000_000_000;
    let mut c = Canvas::create("Commuters who work on the train", "ana", now)?;
    c.set_job(
        Some("I commute by train for an hour every day"),
        Some("get real work done on the way"),
        Some("arrive home with the day's work finished"),
        now,
    )?;
    c.set_customer(Some("user"), Some("daily commuter, 30–80 km"), now)?;
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let a = c.add_note(
        Section::Now,
        "Reads email on a small phone screen",
        &tags(&["mobile"]),
        "ana",
        now,
    )?;
    c.add_note(
        Section::Now,
        "Carries a heavy laptop bag through crowded stations",
        &[],
        "bo",
        now,
    )?;
    let p = c.add_note(
        Section::Constraint,
        "No power sockets in older trains",
        &tags(&["hardware"]),
        "bo",
        now,
    )?;
    c.add_note(
        Section::Constraint,
        "Patchy mobile data in tunnels",
        &[],
        "ana",
        now,
    )?;
    c.add_note(Section::Catalyst, "Quiet carriages", &[], "ana", now)?;
    c.add_note(
        Section::ToBe,
        "Finishes reports before arriving",
        &[],
        "ana",
        now,
    )?;
    let e = c.add_note(
        Section::ToBe,
        "Evenings free — café ☕ with friends 👋",
        &[],
        "bo",
        now,
    )?;
    c.move_note(&e, Section::ToBe, Position::End, now)?;
    c.add_note(
        Section::Design,
        "A foldable desk clipped to the seat back, with a battery",
        &[],
        "ana",
        now,
    )?;
    c.add_note(
        Section::Push,
        "Evenings eaten by leftover work",
        &[],
        "ana",
        now,
    )?;
    c.add_note(
        Section::Pull,
        "Colleagues who already work on the move",
        &[],
        "bo",
        now,
    )?;
    c.add_note(
        Section::Anxiety,
        "Will the laptop get stolen?",
        &[],
        "bo",
        now,
    )?;
    c.add_note(
        Section::Hazard,
        "Missing the stop while focused",
        &[],
        "ana",
        now,
    )?;
    c.add_note(Section::Gain, "Weekends free", &[], "ana", now)?;
    c.add_note(
        Section::Execute,
        "Writes on the laptop between stations",
        &[],
        "ana",
        now,
    )?;
    c.mark(&a, Status::Validated, now)?;
    c.mark(&p, Status::Invalidated, now)?;

    let id = DocId::random();
    if args.iter().any(|a| a == "--md") {
        print!("{}", render::to_markdown(&c, &id));
    } else if args.iter().any(|a| a == "--json") {
        println!("{:#}", render::to_json(&c, &id));
    } else {
        print!("{}", render::to_terminal(&c, &id, width, color));
    }
    Ok(())
}
