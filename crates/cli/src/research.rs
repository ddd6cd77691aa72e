//! The research workflow on the command line: interviews and their guides,
//! findings as evidence, review, rounds and diffs, links and gap coverage,
//! outcome ratings; and the research side of `show --at`, `log --since`,
//! `export --anonymise` and importing a JSON export.
//!
//! The arguments are clap types (forwarded as JSON to a store's owner like
//! the others in `args`); each handler resolves, changes or reads the
//! canvas through `Context` and prints text, or JSON with `--json`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use gapmap_canvas::diff::{format_word_diff, CanvasDiff};
use gapmap_canvas::time::format_datetime;
use gapmap_canvas::{
    diff, Canvas, CanvasError, DocId, Finding, HistoryEntry, Interview, LinkKind, NewFinding, Note,
    Point, Scope, Section, Suggestion,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::args::ExportFormat;
use crate::context::{now_ms, Context, Loaded, CURRENT_KEY};

/// `gapmap interview …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum InterviewCommand {
    /// Record an interview; prints its id.
    New {
        /// Who is interviewed (personal data: see `export --anonymise`).
        #[arg(long = "with", value_name = "NAME")]
        with: String,
        /// Their customer type: user, buyer, support, or your own word
        /// (default: the canvas's customer type).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// The day of the interview, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// List the interviews.
    List {
        /// List the ones in the trash instead.
        #[arg(long)]
        trashed: bool,
    },
    /// Show an interview: questions, transcript, findings.
    Show {
        /// Interview id or a unique prefix of 4+ characters.
        id: String,
    },
    /// Add a question to an interview.
    Ask {
        /// Interview id or prefix.
        id: String,
        /// The question.
        question: String,
    },
    /// Print (and store) a question guide generated from the canvas.
    Guide {
        /// Interview id or prefix.
        id: String,
        /// Ask about this section's hypotheses (repeatable; default: what
        /// the current round is about).
        #[arg(long = "section", short = 's', value_name = "SECTION")]
        sections: Vec<String>,
    },
    /// Append a line to the interview's transcript.
    Note {
        /// Interview id or prefix.
        id: String,
        /// What was said or seen.
        text: String,
    },
    /// Change an interview's interviewee, customer type or date.
    Edit {
        /// Interview id or prefix.
        id: String,
        /// The interviewee's name.
        #[arg(long = "with", value_name = "NAME")]
        with: Option<String>,
        /// Their customer type.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// The day of the interview, YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// Move an interview to the trash (its findings stop counting; restorable).
    Rm {
        /// Interview id or prefix.
        id: String,
    },
    /// Take an interview out of the trash.
    Restore {
        /// Interview id or prefix.
        id: String,
    },
    /// Erase an interview's personal text (interviewee, transcript, quotes) for good.
    Purge {
        /// Interview id or prefix.
        id: String,
        /// Yes, erase it: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// `gapmap finding …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum FindingCommand {
    /// Record a finding of an interview as evidence; prints its id.
    Add {
        /// Interview id or prefix.
        interview: String,
        /// What was said, verbatim (the quote).
        text: String,
        /// What you make of it.
        #[arg(long, short = 'm', value_name = "TEXT")]
        interpretation: Option<String>,
        /// The finding supports this note (repeatable).
        #[arg(long, value_name = "NOTE")]
        supports: Vec<String>,
        /// The finding contradicts this note (repeatable).
        #[arg(long, value_name = "NOTE")]
        contradicts: Vec<String>,
        /// The quote also becomes a new hypothesis note in this section.
        #[arg(long = "new", value_name = "SECTION")]
        new_in: Option<String>,
    },
    /// Link a finding to more notes, or change how it bears on one.
    Link {
        /// Finding id or prefix.
        id: String,
        /// It supports this note (repeatable).
        #[arg(long, value_name = "NOTE")]
        supports: Vec<String>,
        /// It contradicts this note (repeatable).
        #[arg(long, value_name = "NOTE")]
        contradicts: Vec<String>,
    },
    /// Unlink a finding from a note (both stay).
    Unlink {
        /// Finding id or prefix.
        id: String,
        /// The note.
        note: String,
    },
    /// Set a finding's interpretation ("" clears it).
    Interpret {
        /// Finding id or prefix.
        id: String,
        /// What you make of it.
        text: String,
    },
    /// List findings.
    List {
        /// Only this interview's.
        #[arg(long, value_name = "ID")]
        interview: Option<String>,
        /// Only those about this note.
        #[arg(long, value_name = "NOTE")]
        note: Option<String>,
    },
    /// Delete a finding recorded by mistake.
    Rm {
        /// Finding id or prefix.
        id: String,
    },
}

/// `gapmap review`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct ReviewArgs {
    /// Distinct interviewees needed before suggesting a decision.
    #[arg(long, value_name = "N", default_value_t = REVIEW_MIN)]
    pub min: usize,
    /// Also list notes whose mark already agrees with the evidence.
    #[arg(long)]
    pub all: bool,
    /// Count only interviews with this customer type (one segment).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
}

/// `gapmap round …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum RoundCommand {
    /// Start a round: record the canvas as it is now under a label.
    Start {
        /// A label, e.g. r2 or "GAP interviews".
        label: String,
        /// A section this round is about (repeatable); guides ask about it.
        #[arg(long = "focus", value_name = "SECTION")]
        focus: Vec<String>,
    },
    /// List the rounds.
    List,
}

/// `gapmap diff`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct DiffArgs {
    /// From: a round label or id, a date YYYY-MM-DD[THH:MM], or now
    /// (default: the last round).
    pub from: Option<String>,
    /// To (default: now).
    pub to: Option<String>,
}

/// `gapmap link`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct LinkArgs {
    /// The note the link starts from (e.g. a design note).
    pub from: String,
    /// addresses, causes or relates.
    pub kind: String,
    /// The note it points to (e.g. a constraint or catalyst).
    pub to: String,
    /// Remove this link instead.
    #[arg(long)]
    pub remove: bool,
}

/// `gapmap gaps`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct GapsArgs {
    /// Only what is still open.
    #[arg(long)]
    pub open: bool,
}

/// `gapmap rate`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct RateArgs {
    /// A success outcome note (goal, hazard, problem).
    #[arg(required_unless_present = "import")]
    pub note: Option<String>,
    /// How much the outcome matters to the customer, 1–10.
    #[arg(long, short = 'i', value_name = "1-10", allow_negative_numbers = true)]
    pub importance: Option<i64>,
    /// How well it is met today, 1–10.
    #[arg(long, short = 's', value_name = "1-10", allow_negative_numbers = true)]
    pub satisfaction: Option<i64>,
    /// The rating is this customer's own (an interviewee or survey
    /// respondent), not your estimate.
    #[arg(long, short = 'r', value_name = "NAME")]
    pub respondent: Option<String>,
    /// Import survey ratings from a CSV file (respondent, outcome,
    /// importance, satisfaction); all or nothing.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["note", "importance", "satisfaction", "respondent"])]
    pub import: Option<std::path::PathBuf>,
}

/// `gapmap outcomes`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct OutcomesArgs {}

/// Loads the selected canvas, applies `f` as the current author, saves
/// durably, and returns what `f` returned. Nothing is saved when `f` fails.
pub(crate) fn change<T>(
    ctx: &Context,
    f: impl FnOnce(&mut Canvas, &str, i64) -> Result<T>,
) -> Result<T> {
    let mut loaded = ctx.load()?;
    let author = ctx.prepare_write(&mut loaded)?;
    let value = f(&mut loaded.canvas, &author, now_ms())?;
    ctx.save(&mut loaded)?;
    Ok(value)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The start of a text for one-line listings.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let flat = one_line(text);
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

fn sections(given: &[String]) -> Result<Vec<Section>> {
    given.iter().map(|s| crate::words::section(s)).collect()
}

// ---------------------------------------------------------------- interviews

/// `gapmap interview …`
pub fn interview(
    ctx: &Context,
    cmd: InterviewCommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        InterviewCommand::New { with, kind, date } => {
            let id = change(ctx, |c, author, now| {
                let kind = kind.unwrap_or_else(|| c.customer().kind);
                Ok(c.add_interview(&with, &kind, date.as_deref(), author, now)?)
            })?;
            print_id(out, json, id.as_str())
        }
        InterviewCommand::List { trashed } => {
            let loaded = ctx.load()?;
            let canvas = &loaded.canvas;
            let all: Vec<Interview> = match trashed {
                false => canvas.interviews(),
                true => canvas
                    .all_interviews()
                    .into_iter()
                    .filter(|i| i.is_trashed())
                    .collect(),
            };
            if json {
                let rows: Vec<Value> = all.iter().map(interview_json).collect();
                writeln!(out, "{}", Value::Array(rows))?;
            } else if all.is_empty() {
                writeln!(
                    out,
                    "no interviews yet: record one with gapmap interview new --with NAME"
                )?;
            } else {
                for i in &all {
                    writeln!(
                        out,
                        "{}  {}  {:<20}  {:<8}  {:>2} questions  {:>2} findings  by {}",
                        i.id,
                        i.date,
                        clip(&i.interviewee, 20),
                        clip(&i.customer_type, 8),
                        i.questions.len(),
                        i.findings.len(),
                        i.author
                    )?;
                }
            }
            Ok(())
        }
        InterviewCommand::Show { id } => {
            let loaded = ctx.load()?;
            let canvas = &loaded.canvas;
            let id = canvas.resolve_interview(&id)?;
            let i = canvas.interview(&id).context("the interview vanished")?;
            if json {
                writeln!(out, "{}", interview_json(&i))?;
            } else {
                print_interview(canvas, &i, out)?;
            }
            Ok(())
        }
        InterviewCommand::Ask { id, question } => {
            let id = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                c.ask(&id, &question, now)?;
                Ok(id)
            })?;
            print_id(out, json, id.as_str())
        }
        InterviewCommand::Note { id, text } => {
            let id = change(ctx, |c, author, now| {
                let id = c.resolve_interview(&id)?;
                c.append_transcript(&id, &text, author, now)?;
                Ok(id)
            })?;
            print_id(out, json, id.as_str())
        }
        InterviewCommand::Guide {
            id,
            sections: given,
        } => {
            let focus = sections(&given)?;
            let (interview, guide, stored) = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                let guide = c.guide(&focus);
                let stored = c.add_questions(&id, &guide.all_questions(), now)?;
                Ok((
                    c.interview(&id).context("the interview vanished")?,
                    guide,
                    stored,
                ))
            })?;
            print_guide(&interview, &guide, stored, json, out)
        }
        other => crate::research_model::interview(ctx, other, json, out),
    }
}

pub(crate) fn interview_json(i: &Interview) -> Value {
    json!({
        "id": i.id.as_str(),
        "interviewee": i.interviewee,
        "customer_type": i.customer_type,
        "date": i.date,
        "author": i.author,
        "created_at": i.created_at,
        "questions": i.questions,
        "transcript": i.transcript,
        "findings": i.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "trashed_at": i.trashed_at,
        "purged_at": i.purged_at,
    })
}

pub(crate) fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id.as_str(),
        "interview": f.interview.as_str(),
        "text": f.text,
        "interpretation": f.interpretation,
        "author": f.author,
        "at": f.at,
        "note": f.note.as_ref().map(|n| n.as_str()),
        "effect": f.effect.as_str(),
        "links": f.links.iter().map(|l| json!({
            "note": l.note.as_str(),
            "effect": l.effect.as_str(),
        })).collect::<Vec<_>>(),
    })
}

fn interview_title(i: &Interview) -> String {
    let mut title = one_line(&i.interviewee);
    if !i.customer_type.trim().is_empty() {
        title.push_str(&format!(" ({})", one_line(&i.customer_type)));
    }
    format!("{title} on {}", i.date)
}

/// `supports k3xq2a now “text”` per link (`; `-separated), or `new`.
fn about(canvas: &Canvas, f: &Finding) -> String {
    if f.links.is_empty() {
        return f.effect.to_string();
    }
    let parts: Vec<String> = f
        .links
        .iter()
        .map(|l| match canvas.note(&l.note) {
            Some(n) => format!(
                "{} {} {} \u{201c}{}\u{201d}",
                l.effect,
                l.note.short(),
                n.section,
                clip(&n.text, 40)
            ),
            None => format!("{} {} (note gone)", l.effect, l.note.short()),
        })
        .collect();
    parts.join("; ")
}

fn print_interview(canvas: &Canvas, i: &Interview, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "Interview {} with {}, by {}",
        i.id,
        interview_title(i),
        i.author
    )?;
    writeln!(out)?;
    writeln!(out, "Questions ({})", i.questions.len())?;
    for (n, q) in i.questions.iter().enumerate() {
        writeln!(out, "  {:>2}. {}", n + 1, one_line(q))?;
    }
    writeln!(out)?;
    writeln!(out, "Transcript")?;
    if i.transcript.trim().is_empty() {
        writeln!(
            out,
            "  (nothing yet: gapmap interview note {} TEXT)",
            i.id.short()
        )?;
    }
    for line in i.transcript.lines().filter(|l| !l.trim().is_empty()) {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    writeln!(out, "Findings ({})", i.findings.len())?;
    for f in &i.findings {
        writeln!(
            out,
            "  {}  {}: {}  — {}",
            f.id.short(),
            about(canvas, f),
            one_line(&f.text),
            f.author
        )?;
    }
    Ok(())
}

fn print_guide(
    interview: &Interview,
    guide: &gapmap_canvas::Guide,
    stored: usize,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let focus: Vec<&str> = guide.focus.iter().map(|s| s.id()).collect();
    if json {
        let item = |q: &gapmap_canvas::GuideItem| {
            json!({
                "question": q.question,
                "section": q.section.map(|s| s.id()),
                "note": q.note.as_ref().map(|n| json!({ "id": n.id.as_str(), "text": n.text })),
                "purpose": q.purpose,
            })
        };
        let v = json!({
            "interview": interview.id.as_str(),
            "focus": focus,
            "opening": guide.opening.as_ref().map(item),
            "questions": guide.questions.iter().map(item).collect::<Vec<_>>(),
            "checklist": guide.checklist.iter().map(item).collect::<Vec<_>>(),
            "stored": stored,
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "Interview guide — {}", interview_title(interview))?;
    writeln!(out, "About: {}", focus.join(", "))?;
    writeln!(
        out,
        "Ask openly and let them tell stories; never read a hypothesis out."
    )?;
    let mut n = 0;
    if let Some(opening) = &guide.opening {
        writeln!(out)?;
        writeln!(out, "Opening")?;
        n += 1;
        writeln!(out, "  {n:>2}. {}", opening.question)?;
    }
    let mut section = None;
    for q in &guide.questions {
        if q.section != section {
            section = q.section;
            writeln!(out)?;
            writeln!(out, "{}", q.section.map(|s| s.title()).unwrap_or("Other"))?;
        }
        n += 1;
        writeln!(out, "  {n:>2}. {}", q.question)?;
        if let Some(note) = &q.note {
            writeln!(
                out,
                "      listen for: {} \u{201c}{}\u{201d}",
                note.id.short(),
                clip(&note.text, 60)
            )?;
        }
    }
    if guide.questions.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "No hypotheses in {} yet: add notes, or pick sections with --section.",
            focus.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Forces of progress — find out")?;
    for q in &guide.checklist {
        n += 1;
        writeln!(out, "  {n:>2}. {}", q.question)?;
        if let Some(purpose) = q.purpose {
            writeln!(out, "      ({purpose})")?;
        }
    }
    writeln!(out)?;
    let plural = if stored == 1 { "" } else { "s" };
    writeln!(
        out,
        "stored {stored} new question{plural} in interview {}",
        interview.id.short()
    )?;
    Ok(())
}

// ------------------------------------------------------------------ findings

/// `gapmap finding …`
pub fn finding(ctx: &Context, cmd: FindingCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match cmd {
        FindingCommand::Add {
            interview,
            text,
            interpretation,
            supports,
            contradicts,
            new_in,
        } => {
            if new_in.is_some() && !(supports.is_empty() && contradicts.is_empty()) {
                bail!("give at most one of --supports/--contradicts NOTE (repeatable) and --new SECTION");
            }
            let new_in: Option<Section> = new_in.as_deref().map(str::parse).transpose()?;
            let (id, note) = change(ctx, |c, author, now| {
                let interview = c.resolve_interview(&interview)?;
                let links = crate::research_model::links(c, &supports, &contradicts)?;
                let first = links.first().map(|(n, _)| n.clone());
                let finding = NewFinding {
                    quote: text.clone(),
                    interpretation: interpretation.clone().unwrap_or_default(),
                    links,
                    new_note: new_in,
                };
                let (id, made) = c.record_finding(&interview, &finding, author, now)?;
                Ok((id, made.or(first)))
            })?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "id": id.as_str(), "note": note.as_ref().map(|n| n.as_str()) })
                )?;
            } else {
                writeln!(out, "{id}")?;
                if let (Some(note), Some(section)) = (note, new_in) {
                    writeln!(out, "new hypothesis {note} in {section}")?;
                }
            }
            Ok(())
        }
        FindingCommand::List { interview, note } => {
            let loaded = ctx.load()?;
            let canvas = &loaded.canvas;
            let interview = interview
                .map(|i| canvas.resolve_interview(&i))
                .transpose()?;
            let note = note.map(|n| canvas.resolve_note(&n)).transpose()?;
            let interviews = canvas.interviews();
            let mut rows: Vec<(&Interview, &Finding)> = interviews
                .iter()
                .flat_map(|i| i.findings.iter().map(move |f| (i, f)))
                .filter(|(i, f)| {
                    interview.as_ref().is_none_or(|want| &i.id == want)
                        && note.as_ref().is_none_or(|want| f.effect_on(want).is_some())
                })
                .collect();
            rows.sort_by(|a, b| (a.1.at, &a.1.id).cmp(&(b.1.at, &b.1.id)));
            if json {
                let rows: Vec<Value> = rows.iter().map(|(_, f)| finding_json(f)).collect();
                writeln!(out, "{}", Value::Array(rows))?;
            } else if rows.is_empty() {
                writeln!(out, "no findings")?;
            } else {
                for (i, f) in rows {
                    writeln!(
                        out,
                        "{}  {}  {:<16}  {}: {}",
                        f.id,
                        i.date,
                        clip(&i.interviewee, 16),
                        about(canvas, f),
                        one_line(&f.text)
                    )?;
                }
            }
            Ok(())
        }
        FindingCommand::Rm { id } => {
            let id = change(ctx, |c, _, now| {
                let id = c.resolve_finding(&id)?;
                c.remove_finding(&id, now)?;
                Ok(id)
            })?;
            print_id(out, json, id.as_str())
        }
        other => crate::research_model::finding(ctx, other, json, out),
    }
}

/// `gapmap review`
/// Distinct interviewees the review needs to decide, unless `--min` says.
pub(crate) const REVIEW_MIN: usize = 2;

/// The status applying a review suggestion gives its note, if it suggests one.
pub(crate) fn suggested_status(i: &gapmap_canvas::ReviewItem) -> Option<&'static str> {
    match i.suggestion {
        Suggestion::Validate => Some("validated"),
        Suggestion::Invalidate => Some("invalidated"),
        Suggestion::Reconsider => {
            if i.evidence.supporting.len() > i.evidence.contradicting.len() {
                Some("validated")
            } else {
                Some("invalidated")
            }
        }
        _ => None,
    }
}

/// One row of `review --json`.
pub(crate) fn review_json(i: &gapmap_canvas::ReviewItem) -> Value {
    json!({
        "id": i.note.id.as_str(),
        "section": i.note.section.id(),
        "text": i.note.text,
        "status": i.note.status.as_str(),
        "suggestion": i.suggestion.as_str(),
        "reason": i.reason,
        "evidence": {
            "supports": i.evidence.supports,
            "contradicts": i.evidence.contradicts,
            "interviewees": i.evidence.interviewees,
            "supporting": i.evidence.supporting,
            "contradicting": i.evidence.contradicting,
            "findings": i.evidence.findings,
        },
        "command": suggested_status(i).map(|to| format!("gapmap mark {} {to}", i.note.id.short())),
    })
}

pub fn review(ctx: &Context, args: ReviewArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let loaded = ctx.load()?;
    let canvas = &loaded.canvas;
    let scope = match &args.kind {
        Some(kind) => Scope::customer_type(kind),
        None => Scope::all(),
    };
    let items: Vec<_> = canvas
        .review_in(args.min, &scope)
        .into_iter()
        .filter(|i| args.all || i.suggestion != Suggestion::Settled)
        .collect();
    if json {
        let rows: Vec<Value> = items.iter().map(review_json).collect();
        writeln!(out, "{}", Value::Array(rows))?;
        return Ok(());
    }
    if items.is_empty() {
        writeln!(
            out,
            "nothing to review: every note's mark agrees with its evidence"
        )?;
        return Ok(());
    }
    writeln!(out, "Review of hypotheses against interview evidence ({} interviewees decide; you decide with gapmap mark)", args.min.max(1))?;
    writeln!(out)?;
    for i in &items {
        writeln!(
            out,
            "{:<11} {}  {:<10}  {}  [{}]",
            i.suggestion.as_str(),
            i.note.id.short(),
            i.note.section.id(),
            clip(&i.note.text, 50),
            i.evidence.summary()
        )?;
        let marked = match i.note.status {
            gapmap_canvas::Status::Hypothesis => String::new(),
            s => format!(" (marked {s})"),
        };
        writeln!(out, "            {}{marked}", i.reason)?;
        for f in &i.evidence.findings {
            writeln!(
                out,
                "            {:<11} \u{201c}{}\u{201d} ({})",
                f.effect,
                clip(&f.quote, 60),
                f.interviewee
            )?;
        }
        if let Some(to) = suggested_status(i) {
            writeln!(out, "            → gapmap mark {} {to}", i.note.id.short())?;
        }
    }
    Ok(())
}

// -------------------------------------------------------------------- rounds

/// `gapmap round …`
pub fn round(ctx: &Context, cmd: RoundCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match cmd {
        RoundCommand::Start { label, focus } => {
            let focus = sections(&focus)?;
            let round = change(ctx, |c, author, now| {
                let id = c.start_round(&label, &focus, author, now)?;
                c.rounds()
                    .into_iter()
                    .find(|r| r.id == id)
                    .context("the round vanished")
            })?;
            if json {
                writeln!(out, "{}", round_json(&round))?;
            } else {
                writeln!(
                    out,
                    "started round \"{}\" at {} UTC ({})",
                    round.label,
                    format_datetime(round.at),
                    round.id.short()
                )?;
            }
            Ok(())
        }
        RoundCommand::List => {
            let loaded = ctx.load()?;
            let canvas = &loaded.canvas;
            let rounds = canvas.rounds();
            if json {
                let rows: Vec<Value> = rounds.iter().map(round_json).collect();
                writeln!(out, "{}", Value::Array(rows))?;
            } else if rounds.is_empty() {
                writeln!(
                    out,
                    "no rounds yet: start one with gapmap round start LABEL"
                )?;
            } else {
                for r in &rounds {
                    let focus: Vec<&str> = r.focus.iter().map(|s| s.id()).collect();
                    let focus = if focus.is_empty() {
                        String::new()
                    } else {
                        format!("  about {}", focus.join(", "))
                    };
                    writeln!(
                        out,
                        "{}  {:<16}  {}  by {}{focus}",
                        r.id.short(),
                        clip(&r.label, 16),
                        format_datetime(r.at),
                        r.author
                    )?;
                }
            }
            Ok(())
        }
    }
}

pub(crate) fn round_json(r: &gapmap_canvas::Round) -> Value {
    json!({
        "id": r.id.as_str(),
        "label": r.label,
        "at": r.at,
        "author": r.author,
        "heads": r.heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "focus": r.focus.iter().map(|s| s.id()).collect::<Vec<_>>(),
    })
}

/// `gapmap show --at POINT`: the canvas as it was, read from history.
pub fn at(loaded: Loaded, point: &str) -> Result<Loaded> {
    let point = loaded.canvas.point(point)?;
    let canvas = loaded.canvas.at(&point)?;
    // A past state, read-only: not handed back to the store's owner.
    Ok(Loaded::new(loaded.id, canvas))
}

/// `gapmap log --since POINT`: the history after a point.
pub fn history_since(canvas: &Canvas, point: &str) -> Result<Vec<HistoryEntry>> {
    let point = canvas.point(point)?;
    Ok(canvas.history_since(&point)?)
}

/// `gapmap diff [FROM] [TO]`
pub fn diff_cmd(ctx: &Context, args: DiffArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let loaded = ctx.load()?;
    let canvas = &loaded.canvas;
    let from = match &args.from {
        Some(p) => canvas.point(p)?,
        None => Point::Round(canvas.last_round().context(
            "no rounds yet: start one with gapmap round start LABEL, or name the points: gapmap diff FROM [TO]",
        )?),
    };
    let to = match &args.to {
        Some(p) => canvas.point(p)?,
        None => Point::Now,
    };
    let (before, after) = (canvas.at(&from)?, canvas.at(&to)?);
    let d = diff(&before, &after);
    let describe = |p: &Point| match p {
        Point::Round(r) => format!("{} ({} UTC)", r.label, format_datetime(r.at)),
        other => other.label(),
    };
    if json {
        writeln!(out, "{}", diff_json(&d, &from, &to))?;
        return Ok(());
    }
    writeln!(out, "Changes from {} to {}", describe(&from), describe(&to))?;
    if d.is_empty() {
        writeln!(out, "\nnothing changed")?;
        return Ok(());
    }
    let line = |n: &Note| {
        format!(
            "{}  {:<10}  {}",
            n.id.short(),
            n.section.id(),
            clip(&n.text, 70)
        )
    };
    let mut block = |title: &str, rows: Vec<String>| -> Result<()> {
        if !rows.is_empty() {
            writeln!(out, "\n{title} ({})", rows.len())?;
            for r in rows {
                writeln!(out, "  {r}")?;
            }
        }
        Ok(())
    };
    if let Some((a, b)) = &d.title {
        block("Title", vec![format!("{} → {}", one_line(a), one_line(b))])?;
    }
    if let Some((a, b)) = &d.job {
        let s = |j: &gapmap_canvas::Job| j.statement().unwrap_or_else(|| "(none)".into());
        block(
            "Job statement",
            vec![format_word_diff(&gapmap_canvas::diff::word_diff(
                &s(a),
                &s(b),
            ))],
        )?;
    }
    block(
        "Added",
        d.added.iter().map(|n| format!("+ {}", line(n))).collect(),
    )?;
    block(
        "Edited",
        d.edited
            .iter()
            .map(|e| {
                format!(
                    "~ {}  {:<10}  {}",
                    e.after.id.short(),
                    e.after.section.id(),
                    format_word_diff(&e.words)
                )
            })
            .collect(),
    )?;
    block(
        "Moved",
        d.moved
            .iter()
            .map(|m| {
                format!(
                    "> {}  {} → {}  {}",
                    m.note.id.short(),
                    m.from,
                    m.note.section,
                    clip(&m.note.text, 60)
                )
            })
            .collect(),
    )?;
    block(
        "Trashed",
        d.trashed.iter().map(|n| format!("- {}", line(n))).collect(),
    )?;
    block(
        "Restored",
        d.restored
            .iter()
            .map(|n| format!("+ {}", line(n)))
            .collect(),
    )?;
    block(
        "Status",
        d.status
            .iter()
            .map(|s| {
                format!(
                    "* {}  {} → {}  {}",
                    s.note.id.short(),
                    s.from,
                    s.note.status,
                    clip(&s.note.text, 60)
                )
            })
            .collect(),
    )?;
    block(
        "New interviews",
        d.interviews
            .iter()
            .map(|i| format!("{}  {}", i.id.short(), interview_title(i)))
            .collect(),
    )?;
    let names: std::collections::BTreeMap<String, String> = after
        .interviews()
        .into_iter()
        .map(|i| (i.id.to_string(), one_line(&i.interviewee)))
        .collect();
    block(
        "New evidence",
        d.findings
            .iter()
            .map(|f| {
                let who = names.get(f.interview.as_str()).cloned().unwrap_or_default();
                format!(
                    "{}  {}: {}  ({who})",
                    f.id.short(),
                    about(&after, f),
                    one_line(&f.text)
                )
            })
            .collect(),
    )?;
    Ok(())
}

fn diff_json(d: &CanvasDiff, from: &Point, to: &Point) -> Value {
    let note = |n: &Note| json!({ "id": n.id.as_str(), "section": n.section.id(), "text": n.text, "status": n.status.as_str() });
    json!({
        "from": from.label(),
        "to": to.label(),
        "title": d.title.as_ref().map(|(a, b)| json!({ "before": a, "after": b })),
        "job": d.job.as_ref().map(|(a, b)| json!({ "before": a.statement(), "after": b.statement() })),
        "added": d.added.iter().map(note).collect::<Vec<_>>(),
        "edited": d.edited.iter().map(|e| json!({
            "id": e.after.id.as_str(),
            "section": e.after.section.id(),
            "before": e.before.text,
            "after": e.after.text,
            "words": format_word_diff(&e.words),
        })).collect::<Vec<_>>(),
        "moved": d.moved.iter().map(|m| json!({
            "id": m.note.id.as_str(), "from": m.from.id(), "to": m.note.section.id(), "text": m.note.text,
        })).collect::<Vec<_>>(),
        "trashed": d.trashed.iter().map(note).collect::<Vec<_>>(),
        "restored": d.restored.iter().map(note).collect::<Vec<_>>(),
        "status": d.status.iter().map(|s| json!({
            "id": s.note.id.as_str(), "from": s.from.as_str(), "to": s.note.status.as_str(), "text": s.note.text,
        })).collect::<Vec<_>>(),
        "interviews": d.interviews.iter().map(|i| json!({
            "id": i.id.as_str(), "interviewee": i.interviewee, "customer_type": i.customer_type, "date": i.date,
        })).collect::<Vec<_>>(),
        "findings": d.findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

// ------------------------------------------------------- links and coverage

/// `gapmap link FROM KIND TO [--remove]`
pub fn link(ctx: &Context, args: LinkArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let kind: LinkKind = args.kind.parse()?;
    let (from, to, hint) = change(ctx, |c, _, now| {
        let from = c.resolve_note(&args.from)?;
        let to = c.resolve_note(&args.to)?;
        if args.remove {
            if !c.unlink(&from, &to, now)? {
                bail!("there is no link from {} to {}", from.short(), to.short());
            }
            return Ok((from, to, None));
        }
        match c.link(&from, kind, &to, now) {
            Err(CanvasError::LinkDirection { from: f, to: t, .. }) if kind.allows(t, f) => bail!(
                "{}: did you mean gapmap link {} {kind} {}?",
                CanvasError::LinkDirection {
                    kind,
                    from: f,
                    to: t
                },
                to.short(),
                from.short()
            ),
            other => other?,
        }
        let t = c.note(&to);
        let counts =
            t.is_some_and(|n| matches!(n.section, Section::Constraint | Section::Catalyst));
        let hint = (kind == LinkKind::Addresses && !counts).then_some(
            "only a design note addressing a constraint or catalyst counts in gapmap gaps",
        );
        Ok((from, to, hint))
    })?;
    if json {
        let kind = if args.remove {
            Value::Null
        } else {
            json!(kind.as_str())
        };
        writeln!(
            out,
            "{}",
            json!({ "from": from.as_str(), "to": to.as_str(), "kind": kind })
        )?;
    } else if args.remove {
        writeln!(out, "unlinked {} from {}", from.short(), to.short())?;
    } else {
        writeln!(out, "{} {kind} {}", from.short(), to.short())?;
        if let Some(hint) = hint {
            writeln!(out, "note: {hint}")?;
        }
    }
    Ok(())
}

/// `gapmap gaps`
pub fn gaps(ctx: &Context, args: GapsArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let loaded = ctx.load()?;
    let canvas = &loaded.canvas;
    let cov = canvas.coverage();
    if json {
        let item = |g: &gapmap_canvas::GapItem| {
            json!({
                "id": g.note.id.as_str(),
                "text": g.note.text,
                "status": g.note.status.as_str(),
                "covered": g.is_covered(),
                "addressed_by": g.by.iter().map(|d| json!({ "id": d.id.as_str(), "text": d.text })).collect::<Vec<_>>(),
            })
        };
        let keep = |g: &&gapmap_canvas::GapItem| !args.open || !g.is_covered();
        let v = json!({
            "constraints": cov.constraints.iter().filter(keep).map(item).collect::<Vec<_>>(),
            "catalysts": cov.catalysts.iter().filter(keep).map(item).collect::<Vec<_>>(),
            "unanchored": cov.unanchored.iter().map(|d| json!({ "id": d.id.as_str(), "text": d.text })).collect::<Vec<_>>(),
            "complete": cov.is_complete(),
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(
        out,
        "What can you design that fills the gap better than anything else?"
    )?;
    if cov.constraints.is_empty() && cov.catalysts.is_empty() {
        writeln!(
            out,
            "\nno constraints or catalysts yet: add them with gapmap add constraint|catalyst TEXT"
        )?;
        return Ok(());
    }
    let open_c: Vec<_> = cov.open_constraints().collect();
    let open_k: Vec<_> = cov.unused_catalysts().collect();
    let row = |g: &gapmap_canvas::GapItem| {
        format!("[ ] {}  {}", g.note.id.short(), clip(&g.note.text, 70))
    };
    writeln!(
        out,
        "\nConstraints no design addresses ({} of {})",
        open_c.len(),
        cov.constraints.len()
    )?;
    for g in &open_c {
        writeln!(out, "  {}", row(g))?;
    }
    writeln!(
        out,
        "\nCatalysts the design does not use ({} of {})",
        open_k.len(),
        cov.catalysts.len()
    )?;
    for g in &open_k {
        writeln!(out, "  {}", row(g))?;
    }
    if !args.open {
        let covered: Vec<_> = cov
            .constraints
            .iter()
            .chain(&cov.catalysts)
            .filter(|g| g.is_covered())
            .collect();
        if !covered.is_empty() {
            writeln!(out, "\nCovered ({})", covered.len())?;
            for g in covered {
                let by: Vec<String> =
                    g.by.iter()
                        .map(|d| format!("{} {}", d.id.short(), clip(&d.text, 30)))
                        .collect();
                writeln!(
                    out,
                    "  [x] {}  {}  ← {}",
                    g.note.id.short(),
                    clip(&g.note.text, 50),
                    by.join("; ")
                )?;
            }
        }
        if !cov.unanchored.is_empty() {
            writeln!(
                out,
                "\nDesign notes that address nothing yet ({})",
                cov.unanchored.len()
            )?;
            for d in &cov.unanchored {
                writeln!(out, "  {}  {}", d.id.short(), clip(&d.text, 70))?;
            }
        }
    }
    if cov.is_complete() {
        writeln!(out, "\nthe design covers the whole gap")?;
    } else {
        writeln!(
            out,
            "\nlink a design note to what it fills: gapmap link DESIGN-NOTE addresses GAP-NOTE"
        )?;
    }
    Ok(())
}

// ------------------------------------------------------------------ outcomes

/// `gapmap rate NOTE --importance N --satisfaction N`
pub fn rate(ctx: &Context, args: RateArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    if let Some(file) = &args.import {
        return crate::research_model::import_ratings(ctx, file, json, out);
    }
    if args.importance.is_none() && args.satisfaction.is_none() {
        bail!("give --importance N and/or --satisfaction N (1 to 10)");
    }
    let note = args.note.clone().unwrap_or_default();
    let score = change(ctx, |c, author, now| {
        let id = c.resolve_note(&note)?;
        match &args.respondent {
            Some(who) => c.rate_as_respondent(
                &id,
                who,
                args.importance,
                args.satisfaction,
                "interview",
                now,
            )?,
            None => c.rate(&id, author, args.importance, args.satisfaction, now)?,
        }
        c.outcomes()
            .into_iter()
            .find(|o| o.note.id == id)
            .context("the note vanished")
    })?;
    if json {
        writeln!(out, "{}", outcome_json(0, &score))?;
    } else {
        writeln!(out, "{}  {}", score.note.id, score_line(&score))?;
    }
    Ok(())
}

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

fn score_line(o: &gapmap_canvas::OutcomeScore) -> String {
    let plural = if o.raters == 1 { "" } else { "s" };
    format!(
        "importance {}  satisfaction {}  opportunity {} ({}, {} rater{plural})",
        num(o.importance),
        num(o.satisfaction),
        num(o.opportunity),
        o.verdict(),
        o.raters
    )
}

fn outcome_json(rank: usize, o: &gapmap_canvas::OutcomeScore) -> Value {
    json!({
        "rank": if rank == 0 { Value::Null } else { json!(rank) },
        "id": o.note.id.as_str(),
        "section": o.note.section.id(),
        "text": o.note.text,
        "importance": o.importance,
        "satisfaction": o.satisfaction,
        "opportunity": o.opportunity,
        "verdict": o.verdict(),
        "raters": o.raters,
        "basis": o.basis,
        "respondents": o.respondents,
        "team": {
            "importance": o.team.importance,
            "satisfaction": o.team.satisfaction,
            "opportunity": o.team.opportunity,
            "raters": o.team.raters,
        },
    })
}

/// `gapmap outcomes`
pub fn outcomes(ctx: &Context, _args: OutcomesArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let scores = ctx.load()?.canvas.outcomes();
    if json {
        let rows: Vec<Value> = scores
            .iter()
            .enumerate()
            .map(|(i, o)| outcome_json(i + 1, o))
            .collect();
        writeln!(out, "{}", Value::Array(rows))?;
        return Ok(());
    }
    if scores.is_empty() {
        writeln!(out, "no success outcomes yet: add goals, hazards or problems with gapmap add goal|hazard|problem TEXT")?;
        return Ok(());
    }
    writeln!(
        out,
        "Success outcomes by opportunity = importance + max(importance − satisfaction, 0)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        " #  opportunity  importance  satisfaction  raters  note    section  outcome"
    )?;
    for (i, o) in scores.iter().enumerate() {
        writeln!(
            out,
            "{:>2}  {:>5} {:<5}  {:>10}  {:>12}  {:>6}  {}  {:<7}  {}",
            i + 1,
            num(o.opportunity),
            match o.verdict() {
                "underserved" => "!",
                "overserved" => "-",
                _ => "",
            },
            num(o.importance),
            num(o.satisfaction),
            o.raters,
            o.note.id.short(),
            o.note.section.id(),
            clip(&o.note.text, 50)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "! underserved (above 10): an opportunity · - overserved (below 6) · rate with gapmap rate NOTE -i N -s N")?;
    Ok(())
}

// ------------------------------------------------------------------- exports

/// The canvas to export: with `--anonymise`, a copy whose interviewees are
/// pseudonyms (refused for the raw Automerge document, whose history keeps
/// every name).
pub fn for_export(canvas: Canvas, format: ExportFormat, anonymise: bool) -> Result<Canvas> {
    if !anonymise {
        return Ok(canvas);
    }
    if format == ExportFormat::Automerge {
        bail!("--anonymise cannot apply to --format automerge: the document's history keeps every name; export json instead");
    }
    Ok(canvas.anonymised()?)
}

/// Whether a file to import is a JSON export rather than an Automerge file.
pub fn is_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// `gapmap import FILE.json`: a JSON export becomes a new canvas (it has no
/// history to merge with), under its own id when the store lacks it.
pub fn import_json(
    ctx: &Context,
    file: &Path,
    bytes: &[u8],
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if ctx.has_canvas_arg() {
        bail!("a JSON export always becomes a new canvas (it carries no history to merge): import it without -c");
    }
    let value: Value = serde_json::from_slice(bytes)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    let author = ctx.author()?;
    let canvas = Canvas::from_export(&value, &author, now_ms())
        .with_context(|| format!("cannot import {}", file.display()))?;
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| DocId::parse(s).ok())
        .filter(|id| !ctx.store.contains(&id.to_string()).unwrap_or(true))
        .unwrap_or_else(DocId::random);
    let mut loaded = Loaded::new(id, canvas);
    ctx.prepare_write(&mut loaded)?;
    ctx.save(&mut loaded)?;
    if ctx.store.setting(CURRENT_KEY)?.is_none() {
        ctx.store.set_setting(CURRENT_KEY, &id.to_string())?;
    }
    if json {
        writeln!(
            out,
            "{}",
            json!({ "id": id.to_string(), "url": id.url(), "changed": true })
        )?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(())
}

pub(crate) fn print_id(out: &mut dyn Write, json: bool, id: &str) -> Result<()> {
    if json {
        writeln!(out, "{}", json!({ "id": id }))?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_and_shortens() {
        assert_eq!(clip("a  b\nc", 10), "a b c");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn json_files_are_told_from_automerge_ones() {
        assert!(is_json(b"  {\"schema\":1}"));
        assert!(!is_json(&[0x85, 0x6f, 0x4a, 0x83]));
        assert!(!is_json(b""));
    }

    #[test]
    fn anonymising_the_raw_document_is_refused() {
        let c = Canvas::create("x", "ana", 0).unwrap();
        let err = for_export(c.clone(), ExportFormat::Automerge, true).unwrap_err();
        assert!(err.to_string().contains("--anonymise"));
        assert!(for_export(c, ExportFormat::Md, true)
            .unwrap()
            .is_anonymised());
    }
}
