//! What each command does: resolve, change or read the canvas, print.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory;
use gapmap_canvas::{render, Canvas, DocId, NoteId, Position, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::args::{Cli, Command, ConfigCommand, ExportFormat, TrashAction};
use crate::context::{now_ms, Context, Docs, Loaded, CURRENT_KEY, NAME_KEY};
use crate::net;
use crate::sample;

/// How the terminal that asked for the command looks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Term {
    /// Columns for the board.
    pub width: usize,
    /// Whether ANSI colours are welcome.
    pub color: bool,
}

impl Term {
    /// This process's terminal.
    pub fn detect() -> Term {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
            .unwrap_or(100);
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Term { width, color }
    }
}

/// Prints the completion script for `shell`. Built in memory first:
/// clap_complete panics when a write fails, and a closed pipe
/// (`gapmap completions bash | head -1`) is no failure.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gapmap", &mut script);
    out.write_all(&script)?;
    Ok(())
}

/// Runs one parsed command line against `store`, printing to `out`.
pub fn run(cli: Cli, store: Arc<dyn Docs>, term: Term, out: &mut dyn Write) -> Result<()> {
    let json = cli.json;
    let ctx = Context::new(store, cli.canvas.clone(), cli.author.clone());
    match cli.command {
        Command::New { title } => new(&ctx, &title, json, out),
        Command::Sample => {
            let author = ctx.author()?;
            let mut loaded = Loaded::new(DocId::random(), sample::build(&author, now_ms())?);
            ctx.prepare_write(&mut loaded)?;
            ctx.save(&mut loaded)?;
            ctx.store.set_setting(CURRENT_KEY, &loaded.id.to_string())?;
            show(&loaded, json, term, out)
        }
        Command::List => list(&ctx, json, out),
        Command::Use { id } => {
            let id = ctx.resolve_canvas(&id)?;
            // Loaded first: a document that is not a canvas is never made current.
            let title = ctx.load_id(id)?.canvas.title();
            ctx.store.set_setting(CURRENT_KEY, &id.to_string())?;
            if json {
                writeln!(out, "{}", json!({ "id": id.to_string(), "url": id.url() }))?;
            } else {
                writeln!(out, "now on {id}  {title}")?;
            }
            Ok(())
        }
        Command::Add {
            section,
            text,
            tags,
        } => {
            let section = crate::words::section(&section)?;
            let id = change(&ctx, |c, author, now| {
                Ok(c.add_note(section, &text, &tags, author, now)?)
            })?;
            print_id(out, json, &id)
        }
        Command::Edit { note, text } => note_change(&ctx, &note, json, out, |c, id, now| {
            Ok(c.edit_note(id, &text, now)?)
        }),
        Command::Move {
            note,
            section,
            before,
            after,
        } => {
            let section = crate::words::section(&section)?;
            note_change(&ctx, &note, json, out, |c, id, now| {
                let at = match (&before, &after) {
                    (Some(b), _) => Position::Before(c.resolve_note(b)?),
                    (_, Some(a)) => Position::After(c.resolve_note(a)?),
                    _ => Position::End,
                };
                Ok(c.move_note(id, section, at, now)?)
            })
        }
        Command::Rm { note } => note_change(&ctx, &note, json, out, |c, id, now| {
            Ok(c.trash_note(id, now)?)
        }),
        Command::Restore { note } => note_change(&ctx, &note, json, out, |c, id, now| {
            Ok(c.restore_note(id, now)?)
        }),
        Command::Mark { note, status } => {
            let status: Status = status.parse()?;
            note_change(&ctx, &note, json, out, |c, id, now| {
                Ok(c.mark(id, status, now)?)
            })
        }
        Command::Tag { note, changes } => {
            let (add, remove) = split_tag_changes(&changes)?;
            note_change(&ctx, &note, json, out, |c, id, now| {
                Ok(c.tag(id, &add, &remove, now)?)
            })
        }
        Command::Trash { action } => trash(&ctx, action.unwrap_or(TrashAction::List), json, out),
        Command::Job(job) => {
            if job.situation.is_none() && job.motivation.is_none() && job.outcome.is_none() {
                return print_job(&ctx, json, out);
            }
            change(&ctx, |c, _, now| {
                Ok(c.set_job(
                    job.situation.as_deref(),
                    job.motivation.as_deref(),
                    job.outcome.as_deref(),
                    now,
                )?)
            })?;
            print_job(&ctx, json, out)
        }
        Command::Customer { kind, description } => {
            if kind.is_some() || description.is_some() {
                change(&ctx, |c, _, now| {
                    Ok(c.set_customer(kind.as_deref(), description.as_deref(), now)?)
                })?;
            }
            let customer = ctx.load()?.canvas.customer();
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({ "type": customer.kind, "description": customer.description })
                )?;
            } else {
                writeln!(out, "customer: {}  {}", customer.kind, customer.description)?;
            }
            Ok(())
        }
        Command::Title { title } => {
            change(&ctx, |c, _, now| Ok(c.set_title(&title, now)?))?;
            if json {
                writeln!(out, "{}", json!({ "title": title }))?;
            } else {
                writeln!(out, "title: {title}")?;
            }
            Ok(())
        }
        Command::Show { at } => match at {
            Some(at) => show(&crate::research::at(ctx.load()?, &at)?, json, term, out),
            None => show(&ctx.load()?, json, term, out),
        },
        Command::Export {
            format,
            output,
            anonymise,
        } => export(&ctx, format, output.as_deref(), anonymise, json, out),
        Command::Import { file } => import(&ctx, &file, json, out),
        Command::Log {
            limit,
            since,
            author,
        } => log(&ctx, limit, since.as_deref(), author.as_deref(), json, out),
        Command::Interview(cmd) => crate::research::interview(&ctx, cmd, json, out),
        Command::Finding(cmd) => crate::research::finding(&ctx, cmd, json, out),
        Command::Evidence(args) => crate::research_model::evidence(&ctx, args, json, out),
        Command::Review(args) => crate::research::review(&ctx, args, json, out),
        Command::Round(cmd) => crate::research::round(&ctx, cmd, json, out),
        Command::Diff(args) => crate::research::diff_cmd(&ctx, args, json, out),
        Command::Link(args) => crate::research::link(&ctx, args, json, out),
        Command::Gaps(args) => crate::research::gaps(&ctx, args, json, out),
        Command::Rate(args) => crate::research::rate(&ctx, args, json, out),
        Command::Outcomes(args) => crate::research::outcomes(&ctx, args, json, out),
        Command::Config { setting } => match setting {
            ConfigCommand::Name { name: Some(name) } => {
                let name = name.trim();
                if name.is_empty() {
                    bail!("the name is empty: give the name to record on your notes");
                }
                ctx.store.set_setting(NAME_KEY, name)?;
                writeln!(
                    out,
                    "{}",
                    if json {
                        json!({ "name": name }).to_string()
                    } else {
                        format!("name: {name}")
                    }
                )?;
                Ok(())
            }
            ConfigCommand::Name { name: None } => {
                let name = ctx.author()?;
                writeln!(
                    out,
                    "{}",
                    if json {
                        json!({ "name": name }).to_string()
                    } else {
                        name
                    }
                )?;
                Ok(())
            }
        },
        Command::Doctor => crate::doctor::doctor_in_owner(&ctx, json, out),
        Command::Remote { action } => net::remote(&ctx, action, json, out),
        Command::Clone {
            id, from, token, ..
        } => net::clone(&ctx, &id, &from, token, json, out),
        Command::Sync {
            url,
            token,
            watch,
            lan,
            ..
        } => net::sync(
            &ctx,
            net::SyncArgs {
                target: url,
                token,
                watch,
                lan,
            },
            json,
            out,
        ),
        Command::Peers { wait } => net::peers(wait, json, out),
        Command::Status => net::status(&ctx, json, out),
        Command::Serve {
            listen,
            token,
            announce,
            ..
        } => net::serve(&ctx, &listen, token, announce, json, out),
        Command::Ui {
            listen,
            public,
            sync,
            token,
            ..
        } => crate::ui::ui(
            &ctx,
            crate::ui::UiArgs {
                listen,
                public,
                sync,
                token,
            },
            json,
            out,
        ),
        Command::Completions { shell } => completions(shell, out),
    }
}

/// Loads the selected canvas, applies `f` as the current author, saves
/// durably, and returns what `f` returned.
fn change<T>(ctx: &Context, f: impl FnOnce(&mut Canvas, &str, i64) -> Result<T>) -> Result<T> {
    let mut loaded = ctx.load()?;
    let author = ctx.prepare_write(&mut loaded)?;
    let value = f(&mut loaded.canvas, &author, now_ms())?;
    ctx.save(&mut loaded)?;
    Ok(value)
}

/// A change to one note given by id or prefix; prints the full note id.
fn note_change(
    ctx: &Context,
    note: &str,
    json: bool,
    out: &mut dyn Write,
    f: impl FnOnce(&mut Canvas, &NoteId, i64) -> Result<()>,
) -> Result<()> {
    let id = change(ctx, |c, _, now| {
        let id = c.resolve_note(note)?;
        f(c, &id, now)?;
        Ok(id)
    })?;
    print_id(out, json, &id)
}

fn show(loaded: &Loaded, json: bool, term: Term, out: &mut dyn Write) -> Result<()> {
    if json {
        writeln!(out, "{}", render::to_json(&loaded.canvas, &loaded.id))?;
    } else {
        let board = render::to_terminal(&loaded.canvas, &loaded.id, term.width, term.color);
        write!(out, "{board}")?;
    }
    Ok(())
}

fn print_id(out: &mut dyn Write, json: bool, id: &NoteId) -> Result<()> {
    if json {
        writeln!(out, "{}", json!({ "id": id.to_string() }))?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(())
}

fn split_tag_changes(changes: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for change in changes {
        let (list, tag) = match change.strip_prefix('-') {
            Some(tag) => (&mut remove, tag),
            None => (&mut add, change.strip_prefix('+').unwrap_or(change)),
        };
        let tag = tag.trim();
        if tag.is_empty() {
            bail!("empty tag in \"{change}\": write +tag to add or -tag to remove");
        }
        list.push(tag.to_string());
    }
    Ok((add, remove))
}

fn new(ctx: &Context, title: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    let title = title.trim();
    if title.is_empty() {
        bail!("the title is empty: name the canvas, e.g. gapmap new \"Freelancers getting paid\"");
    }
    let author = ctx.author()?;
    let canvas = Canvas::create(title, &author, now_ms())?;
    let id = DocId::random();
    let mut loaded = Loaded::new(id, canvas);
    ctx.prepare_write(&mut loaded)?;
    ctx.save(&mut loaded)?;
    ctx.store.set_setting(CURRENT_KEY, &id.to_string())?;
    if json {
        writeln!(out, "{}", json!({ "id": id.to_string(), "url": id.url() }))?;
    } else {
        writeln!(out, "{id}")?;
    }
    Ok(())
}

fn list(ctx: &Context, json: bool, out: &mut dyn Write) -> Result<()> {
    let (mut metas, others) = ctx.store.canvases()?;
    crate::doctor::fresh_counts(ctx, &mut metas)?;
    metas.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then(a.id.cmp(&b.id)));
    let current = ctx.store.setting(CURRENT_KEY)?;
    if json {
        let rows: Vec<_> = metas
            .iter()
            .map(|m| json!({ "id": m.id, "title": m.title, "notes": m.notes }))
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if metas.is_empty() {
        writeln!(out, "no canvases yet: create one with gapmap new \"TITLE\"")?;
    }
    for m in &metas {
        let mark = if current.as_deref() == Some(m.id.as_str()) {
            "*"
        } else {
            " "
        };
        let notes = if m.notes == 1 { "note " } else { "notes" };
        writeln!(out, "{mark} {}  {:>4} {notes}  {}", m.id, m.notes, m.title)?;
    }
    if others > 0 {
        writeln!(
            out,
            "and {} (not canvases: pushed by peers, kept for them)",
            crate::words::plural(others, "other document", "other documents")
        )?;
    }
    Ok(())
}

fn print_job(ctx: &Context, json: bool, out: &mut dyn Write) -> Result<()> {
    let job = ctx.load()?.canvas.job().without_leads();
    if json {
        writeln!(
            out,
            "{}",
            json!({ "situation": job.situation, "motivation": job.motivation, "outcome": job.outcome })
        )?;
    } else {
        writeln!(out, "When {}", blank(&job.situation))?;
        writeln!(out, "I want to {}", blank(&job.motivation))?;
        writeln!(out, "so I can {}", blank(&job.outcome))?;
    }
    Ok(())
}

fn blank(s: &str) -> &str {
    if s.trim().is_empty() {
        "…"
    } else {
        s
    }
}

fn trash(ctx: &Context, action: TrashAction, json: bool, out: &mut dyn Write) -> Result<()> {
    match action {
        TrashAction::List => {
            let loaded = ctx.load()?;
            let trashed: Vec<_> = loaded
                .canvas
                .notes()
                .into_iter()
                .filter(|n| n.trashed_at.is_some())
                .collect();
            if json {
                let rows: Vec<_> = trashed
                    .iter()
                    .map(|n| json!({ "id": n.id.to_string(), "section": n.section.id(), "text": n.text, "trashed_at": n.trashed_at }))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else if trashed.is_empty() {
                writeln!(out, "the trash is empty")?;
            } else {
                for n in trashed {
                    writeln!(out, "{}  {:<10}  {}", n.id, n.section.id(), n.text)?;
                }
            }
            Ok(())
        }
        TrashAction::Empty => {
            let purged = change(ctx, |c, _, now| Ok(c.empty_trash(now)?))?;
            if json {
                writeln!(out, "{}", json!({ "purged": purged }))?;
            } else {
                writeln!(
                    out,
                    "purged {} from the trash",
                    crate::words::plural(purged, "note", "notes")
                )?;
            }
            Ok(())
        }
    }
}

fn export(
    ctx: &Context,
    format: ExportFormat,
    output: Option<&Path>,
    anonymise: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut loaded = ctx.load()?;
    let id = loaded.id;
    // An anonymised export works on a copy: the loaded document goes back
    // to the store's owner untouched.
    let mut anonymised = match anonymise {
        true => Some(crate::research::for_export(
            loaded.canvas.clone(),
            format,
            true,
        )?),
        false => None,
    };
    let canvas = anonymised.as_mut().unwrap_or(&mut loaded.canvas);
    let bytes = match format {
        // for_export refused --anonymise for the raw document above.
        ExportFormat::Automerge => {
            return crate::carry::export(ctx, &mut loaded, output, json, out)
        }
        ExportFormat::Md => render::to_markdown(canvas, &id).into_bytes(),
        ExportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&render::to_export_json(canvas, &id))?;
            s.push('\n');
            s.into_bytes()
        }
        ExportFormat::Html => render::to_html(canvas, &id).into_bytes(),
        ExportFormat::Svg => render::to_svg(canvas, &id).into_bytes(),
        ExportFormat::Png => crate::png::from_svg(&render::to_svg(canvas, &id))?,
        ExportFormat::CsvNotes => render::to_csv_notes(canvas).into_bytes(),
        ExportFormat::CsvFindings => render::to_csv_findings(canvas).into_bytes(),
    };
    match output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), bytes = bytes.len(), "exported");
        }
        None => out.write_all(&bytes)?,
    }
    Ok(())
}

fn import(ctx: &Context, file: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if crate::research::is_json(&bytes) {
        return crate::research::import_json(ctx, file, &bytes, json, out);
    }
    crate::carry::import(ctx, file, &bytes, json, out)
}

fn log(
    ctx: &Context,
    limit: Option<usize>,
    since: Option<&str>,
    author: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let loaded = ctx.load()?;
    let mut history = match since {
        Some(point) => crate::research::history_since(&loaded.canvas, point)?,
        None => loaded.canvas.history(),
    };
    if let Some(author) = author.map(str::trim) {
        history.retain(|e| e.author.eq_ignore_ascii_case(author));
    }
    let skip = limit.map_or(0, |n| history.len().saturating_sub(n));
    let entries = &history[skip..];
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| json!({ "hash": e.hash, "author": e.author, "actor": e.actor, "time": e.time_ms, "message": e.message }))
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    for e in entries {
        writeln!(
            out,
            "{}  {}  {:<12}  {}",
            &e.hash[..8.min(e.hash.len())],
            gapmap_canvas::time::format_datetime(e.time_ms),
            e.author,
            e.message
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tag_changes() {
        let (add, remove) = split_tag_changes(&["+a".into(), "-b".into(), "c".into()]).unwrap();
        assert_eq!(add, vec!["a", "c"]);
        assert_eq!(remove, vec!["b"]);
        assert!(split_tag_changes(&["+".into()]).is_err());
    }
}
