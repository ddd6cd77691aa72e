//! The command-line side of the research model's newer parts: evidence per
//! note, linking findings to several notes, and editing, removing and
//! erasing interviews. Each handler calls one `gapmap_canvas` function and
//! prints its typed report (as JSON with `--json`).

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;
use gapmap_canvas::{Canvas, Effect, EvidenceFilter, NoteId, Scope};
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::research::{
    change, clip, finding_json, interview_json, print_id, FindingCommand, InterviewCommand,
};

/// `gapmap evidence`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct EvidenceArgs {
    /// Only this note (id or prefix): its findings with their quotes.
    pub note: Option<String>,
    /// all, has-evidence, contradicted or untested.
    #[arg(long, short = 'f', value_name = "FILTER", default_value = "all")]
    pub filter: String,
    /// Count only interviews with this customer type (one segment).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
}

/// `gapmap evidence`: every live note's supporting and contradicting
/// findings and distinct interviewees, as the board's badges show them.
pub fn evidence(ctx: &Context, args: EvidenceArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let loaded = ctx.load()?;
    let canvas = &loaded.canvas;
    let filter: EvidenceFilter = args.filter.parse()?;
    let scope = match &args.kind {
        Some(kind) => Scope::customer_type(kind),
        None => Scope::all(),
    };
    let mut rows = canvas.evidence_report(filter, &scope);
    if let Some(given) = &args.note {
        let id = canvas.resolve_note(given)?;
        rows.retain(|r| r.note == id);
    }
    if json {
        writeln!(out, "{}", serde_json::to_string(&rows)?)?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no notes match {filter}")?;
        return Ok(());
    }
    for r in &rows {
        let people = match r.interviewee_count {
            1 => "1 interviewee".to_string(),
            n => format!("{n} interviewees"),
        };
        writeln!(
            out,
            "{}  {:<10}  {}  [+{} −{} · {people}]",
            r.note.short(),
            r.section,
            clip(&r.text, 50),
            r.supports,
            r.contradicts,
        )?;
        for f in &r.findings {
            let quote = match f.quote.trim() {
                "" => "(erased)".to_string(),
                q => format!("\u{201c}{}\u{201d}", clip(q, 60)),
            };
            let meaning = match f.interpretation.trim() {
                "" => String::new(),
                i => format!(" — {}", clip(i, 40)),
            };
            writeln!(
                out,
                "    {:<11} {quote}{meaning} ({}, {})",
                f.effect,
                f.interviewee,
                f.finding.short()
            )?;
        }
    }
    Ok(())
}

/// Resolves `--supports` and `--contradicts` notes into links.
pub fn links(
    canvas: &Canvas,
    supports: &[String],
    contradicts: &[String],
) -> Result<Vec<(NoteId, Effect)>> {
    let mut links = Vec::new();
    for (given, effect) in supports
        .iter()
        .map(|n| (n, Effect::Supports))
        .chain(contradicts.iter().map(|n| (n, Effect::Contradicts)))
    {
        let note = canvas.resolve_note(given)?;
        if links.iter().any(|(n, e)| *n == note && *e != effect) {
            bail!(
                "give at most one of --supports NOTE and --contradicts NOTE for note {}: \
                 a finding cannot both support and contradict it",
                note.short()
            );
        }
        links.push((note, effect));
    }
    Ok(links)
}

/// `gapmap finding link|unlink|interpret`
pub fn finding(ctx: &Context, cmd: FindingCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    let finding = match cmd {
        FindingCommand::Link {
            id,
            supports,
            contradicts,
        } => {
            if supports.is_empty() && contradicts.is_empty() {
                bail!("give --supports NOTE or --contradicts NOTE (repeatable)");
            }
            change(ctx, |c, _, now| {
                let id = c.resolve_finding(&id)?;
                let links = links(c, &supports, &contradicts)?;
                for (note, effect) in &links {
                    c.link_finding(&id, note, *effect, now)?;
                }
                found(c, &id)
            })?
        }
        FindingCommand::Unlink { id, note } => change(ctx, |c, _, now| {
            let id = c.resolve_finding(&id)?;
            let note = c.resolve_note(&note)?;
            if !c.unlink_finding(&id, &note, now)? {
                bail!("finding {id} is not linked to note {note}");
            }
            found(c, &id)
        })?,
        FindingCommand::Interpret { id, text } => change(ctx, |c, _, now| {
            let id = c.resolve_finding(&id)?;
            c.interpret_finding(&id, &text, now)?;
            found(c, &id)
        })?,
        _ => unreachable!("research::finding handles the others"),
    };
    if json {
        writeln!(out, "{}", finding_json(&finding))?;
    } else {
        writeln!(out, "{}", finding.id)?;
    }
    Ok(())
}

fn found(canvas: &Canvas, id: &gapmap_canvas::FindingId) -> Result<gapmap_canvas::Finding> {
    canvas
        .findings()
        .into_iter()
        .find(|f| f.id == *id)
        .ok_or_else(|| anyhow::anyhow!("the finding vanished"))
}

/// `gapmap interview edit|rm|restore|purge`
pub fn interview(
    ctx: &Context,
    cmd: InterviewCommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        InterviewCommand::Edit {
            id,
            with,
            kind,
            date,
        } => {
            if with.is_none() && kind.is_none() && date.is_none() {
                bail!("give --with NAME, --type TYPE or --date YYYY-MM-DD");
            }
            let interview = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                c.edit_interview(&id, with.as_deref(), kind.as_deref(), date.as_deref(), now)?;
                Ok(c.interview(&id).expect("the interview"))
            })?;
            match json {
                true => writeln!(out, "{}", interview_json(&interview))?,
                false => writeln!(out, "{}", interview.id)?,
            }
            Ok(())
        }
        InterviewCommand::Rm { id } => {
            let id = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                c.trash_interview(&id, now)?;
                Ok(id)
            })?;
            print_id(out, json, id.as_str())
        }
        InterviewCommand::Restore { id } => {
            let id = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                c.restore_interview(&id, now)?;
                Ok(id)
            })?;
            print_id(out, json, id.as_str())
        }
        InterviewCommand::Purge { id, yes } => {
            if !yes {
                bail!("erasing an interview cannot be undone: run again with --yes");
            }
            let purged = change(ctx, |c, _, now| {
                let id = c.resolve_interview(&id)?;
                Ok(c.purge_interview(&id, now)?)
            })?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&purged)?)?;
            } else {
                writeln!(
                    out,
                    "erased interview {}: the interviewee's name, {} transcript line{} and {} quote{} \
                     (its history still holds them: see docs/research-workflow.md)",
                    purged.interview,
                    purged.transcript_lines,
                    if purged.transcript_lines == 1 { "" } else { "s" },
                    purged.quotes,
                    if purged.quotes == 1 { "" } else { "s" },
                )?;
            }
            Ok(())
        }
        _ => unreachable!("research::interview handles the others"),
    }
}

/// `gapmap rate --import FILE.csv`: a survey's ratings. The file is
/// untrusted: its size is checked before it is read, and a bad line
/// changes nothing.
pub fn import_ratings(
    ctx: &Context,
    file: &std::path::Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    use std::io::Read;
    let shown = file.display();
    let max = gapmap_canvas::SURVEY_MAX_BYTES;
    let handle =
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max {
        bail!("{shown} is {size} bytes: a survey file may hold at most {max} bytes (split it)");
    }
    let mut bytes = Vec::new();
    // The size can change between the check and the read: never read more.
    handle
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > max {
        bail!("{shown} is over {max} bytes: a survey file may hold at most {max} bytes (split it)");
    }
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown} is not UTF-8 text"))?;
    let report = change(ctx, |c, _, now| {
        c.import_ratings_csv(&text, now)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}; nothing imported"))
    })?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(
            out,
            "imported {} ratings from {} respondents of {} outcomes",
            report.rows, report.respondents, report.outcomes
        )?;
    }
    Ok(())
}
