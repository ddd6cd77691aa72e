//! The raw command line, as clap parses it. Resolution (which store, which
//! canvas, which author) happens in `context`, not here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::research;

/// gapmap — a local-first Customer Progress Canvas for Jobs-To-Be-Done research.
#[derive(Debug, Parser, Serialize, Deserialize)]
#[command(name = "gapmap", version, about, propagate_version = true)]
pub struct Cli {
    /// The store directory (default: $XDG_DATA_HOME/gapmap).
    #[arg(long, global = true, env = "GAPMAP_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Your name as an author (default: `gapmap config name`, then $USER).
    #[arg(long = "as", global = true, env = "GAPMAP_NAME", value_name = "NAME")]
    pub author: Option<String>,

    /// The canvas to work on: an id, a unique id prefix, or an automerge: URL
    /// (default: the current canvas, see `gapmap use`).
    #[arg(short = 'c', long = "canvas", global = true, value_name = "ID")]
    pub canvas: Option<String>,

    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// Every gapmap command.
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum Command {
    /// Create a canvas and make it current; prints its id.
    New {
        /// The canvas title, e.g. "Freelance designers getting paid".
        title: String,
    },
    /// Create a sample canvas to explore, make it current and show it.
    Sample,
    /// List the canvases in the store.
    List,
    /// Select the current canvas.
    Use {
        /// An id, a unique id prefix, or an automerge: URL.
        id: String,
    },
    /// Add a note to a section; prints its id.
    Add {
        /// Section id: now, to-be, constraint, catalyst, design, push, pull, anxiety,
        /// inertia, goal, hazard, problem, job, pain, gain, define, locate, prepare,
        /// confirm, execute, monitor, modify, conclude.
        section: String,
        /// The note text.
        text: String,
        /// A tag for the note (repeatable).
        #[arg(long = "tag", short = 't', value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Replace a note's text (merged character by character with concurrent edits).
    Edit {
        /// Note id or a unique prefix of 4+ characters.
        note: String,
        /// The new text.
        text: String,
    },
    /// Move a note to a section, at the end or next to another note.
    Move {
        /// Note id or prefix.
        note: String,
        /// Target section id.
        section: String,
        /// Place it just before this note.
        #[arg(long, value_name = "NOTE", conflicts_with = "after")]
        before: Option<String>,
        /// Place it just after this note.
        #[arg(long, value_name = "NOTE")]
        after: Option<String>,
    },
    /// Move a note to the trash (restorable).
    Rm {
        /// Note id or prefix.
        note: String,
    },
    /// Bring a note back from the trash.
    Restore {
        /// Note id or prefix.
        note: String,
    },
    /// The trash: list it, or empty it for good.
    Trash {
        #[command(subcommand)]
        action: Option<TrashAction>,
    },
    /// Set a note's validation status.
    Mark {
        /// Note id or prefix.
        note: String,
        /// hypothesis, validated or invalidated.
        status: String,
    },
    /// Add (+tag) or remove (-tag) tags on a note.
    Tag {
        /// Note id or prefix.
        note: String,
        /// Tags to change: +tag adds, -tag removes, a bare tag adds.
        #[arg(required = true, allow_hyphen_values = true, value_name = "+TAG|-TAG")]
        changes: Vec<String>,
    },
    /// Set the job statement: when SITUATION, I want to MOTIVATION, so I can OUTCOME.
    Job(JobArgs),
    /// Set the customer type and description.
    Customer {
        /// user, buyer, support, or your own word.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Who they are.
        #[arg(long)]
        description: Option<String>,
    },
    /// Set the canvas title.
    Title {
        /// The new title.
        title: String,
    },
    /// Show the board in the terminal.
    Show {
        /// The canvas as it was at a round, a date YYYY-MM-DD[THH:MM] (UTC) or now
        /// (read-only, from the document's history).
        #[arg(long, value_name = "ROUND")]
        at: Option<String>,
    },
    /// Render the canvas to a file or stdout.
    Export {
        /// md, json, html, svg, csv-notes, csv-findings, or automerge (the raw document).
        #[arg(long, short = 'f', value_enum)]
        format: ExportFormat,
        /// Write to this file instead of stdout (automerge: default `<id>.automerge`
        /// in the current directory, or in FILE when it is a directory; `-` for stdout).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace interviewees' names with stable pseudonyms everywhere (not for automerge).
        #[arg(long, alias = "anonymize")]
        anonymise: bool,
    },
    /// Merge an Automerge file into the store (into the canvas it shares history with, or as a new one).
    Import {
        /// The file, e.g. one written by `gapmap export --format automerge`.
        file: PathBuf,
    },
    /// The history: who changed what, when.
    Log {
        /// Show at most this many entries (newest last).
        #[arg(long, short = 'n')]
        limit: Option<usize>,
        /// Only changes after a round, a date YYYY-MM-DD[THH:MM] (UTC) or now.
        #[arg(long, value_name = "ROUND")]
        since: Option<String>,
        /// Only changes by this person.
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
    },
    /// Interviews: new, list, show, ask, guide, note.
    #[command(subcommand)]
    Interview(research::InterviewCommand),
    /// Findings of interviews as evidence for or against notes: add, list, rm.
    #[command(subcommand)]
    Finding(research::FindingCommand),
    /// Every note's evidence: supporting and contradicting findings, distinct interviewees.
    Evidence(crate::research_model::EvidenceArgs),
    /// Hypotheses with their evidence, and which to mark validated or invalidated.
    Review(research::ReviewArgs),
    /// Rounds of research: start LABEL, list.
    #[command(subcommand)]
    Round(research::RoundCommand),
    /// What changed between two rounds (or dates, or now).
    Diff(research::DiffArgs),
    /// Link two notes: DESIGN-NOTE addresses GAP-NOTE (or causes, relates).
    Link(research::LinkArgs),
    /// The gap-coverage checklist: constraints and catalysts the design leaves open.
    Gaps(research::GapsArgs),
    /// Rate a success outcome's importance and satisfaction (1–10).
    Rate(research::RateArgs),
    /// Success outcomes ranked by opportunity score.
    Outcomes(research::OutcomesArgs),
    /// Local settings.
    Config {
        #[command(subcommand)]
        setting: ConfigCommand,
    },
    /// Print a shell completion script.
    #[serde(skip)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Check the store and, if it will not open, rebuild it from its journal.
    Doctor,
    /// Remembered relays and peers.
    Remote {
        #[command(subcommand)]
        action: RemoteAction,
    },
    /// Fetch a canvas by id from a relay or peer into the store.
    Clone {
        /// The canvas id or automerge: URL.
        id: String,
        /// The relay or peer, e.g. ws://relay.example.org:8080 (or a remote's name, or several comma-separated URLs).
        #[arg(long, value_name = "URL")]
        from: String,
        /// Bearer token for the remote. On the command line it is visible to other local users
        /// (`ps`): prefer --token-file or $GAPMAP_TOKEN.
        #[arg(long, value_name = "T", env = "GAPMAP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        #[serde(skip)]
        token_file: Option<PathBuf>,
    },
    /// Sync every local canvas with a remote (every remembered remote when none is named).
    Sync {
        /// ws:// or wss:// URL (several comma-separated: tried in order), or the name of a remote.
        url: Option<String>,
        /// Bearer token for the remote. On the command line it is visible to other local users
        /// (`ps`): prefer --token-file or $GAPMAP_TOKEN.
        #[arg(long, value_name = "T", env = "GAPMAP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        #[serde(skip)]
        token_file: Option<PathBuf>,
        /// Stay connected, apply remote changes live, reconnect when the connection drops.
        #[arg(long)]
        watch: bool,
        /// Sync with every gapmap peer announcing itself on the LAN (see `serve --announce`).
        #[arg(long, conflicts_with = "url")]
        lan: bool,
    },
    /// List gapmap peers announcing themselves on the LAN.
    Peers {
        /// Seconds to listen.
        #[arg(long, default_value_t = 2)]
        wait: u64,
    },
    /// Per canvas and remote: local changes the remote has not acknowledged.
    Status,
    /// Open the live web board (`-c` picks the canvas at `/`); keeps syncing with the remotes while open.
    Ui {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7777")]
        listen: String,
        /// Allow an address other machines can reach (the board has no login).
        #[arg(long)]
        public: bool,
        /// Stay connected to this relay or peer while open (repeatable; default: every configured remote).
        #[arg(long = "sync", value_name = "URL")]
        sync: Vec<String>,
        /// Bearer token for --sync. On the command line it is visible to other local users
        /// (`ps`): prefer --token-file or $GAPMAP_TOKEN.
        #[arg(long, value_name = "T", env = "GAPMAP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        #[serde(skip)]
        token_file: Option<PathBuf>,
    },
    /// Accept peers directly (peer to peer), over this store.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:7788.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7788")]
        listen: String,
        /// Require this bearer token from peers. On the command line it is visible to other local users
        /// (`ps`): prefer --token-file or $GAPMAP_SERVE_TOKEN.
        #[arg(
            long,
            value_name = "T",
            env = "GAPMAP_SERVE_TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        /// Read the token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        #[serde(skip)]
        token_file: Option<PathBuf>,
        /// Announce this peer on the LAN over mDNS (`gapmap peers`, `sync --lan`).
        #[arg(long)]
        announce: bool,
    },
}

/// `gapmap remote …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum RemoteAction {
    /// Remember a relay or peer under a name; several URLs name relays that
    /// share one storage, tried in order (failover).
    Add {
        /// A short name, e.g. team.
        name: String,
        /// ws:// or wss:// URL (or several, comma-separated).
        url: String,
        /// More URLs of the same remote, tried in order when the ones before
        /// cannot be reached or drop the connection.
        #[arg(value_name = "URL")]
        #[serde(default)]
        more: Vec<String>,
        /// Bearer token to send (kept in the store's settings). On the command line it is visible to other local users
        /// (`ps`): prefer --token-file or $GAPMAP_REMOTE_TOKEN.
        #[arg(
            long,
            value_name = "T",
            env = "GAPMAP_REMOTE_TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        /// Read the token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        #[serde(skip)]
        token_file: Option<PathBuf>,
    },
    /// List remembered remotes.
    List,
    /// Forget a remote.
    Rm {
        /// Its name.
        name: String,
    },
}

/// `gapmap trash …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum TrashAction {
    /// List trashed notes.
    List,
    /// Delete trashed notes for good.
    Empty,
}

/// `gapmap config …`
#[derive(Debug, Subcommand, Serialize, Deserialize)]
pub enum ConfigCommand {
    /// Show or set your author name.
    Name {
        /// The name to record on your notes and changes.
        name: Option<String>,
    },
}

/// `gapmap job …`
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct JobArgs {
    /// When … (the situation).
    #[arg(long)]
    pub situation: Option<String>,
    /// I want to … (the motivation).
    #[arg(long)]
    pub motivation: Option<String>,
    /// So I can … (the expected outcome).
    #[arg(long)]
    pub outcome: Option<String>,
}

/// What `export` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum ExportFormat {
    /// Markdown.
    Md,
    /// JSON: everything in the canvas (docs/export-format.md); `gapmap import` reads it back.
    Json,
    /// A standalone HTML page.
    Html,
    /// An SVG picture of the progress canvas.
    Svg,
    /// The same picture as PNG.
    Png,
    /// The raw Automerge document.
    Automerge,
    /// CSV of the live notes, for spreadsheets.
    CsvNotes,
    /// CSV of the interviews' findings, for spreadsheets.
    CsvFindings,
}

impl Cli {
    /// Makes file arguments absolute against `cwd`, so the command means the
    /// same when another process (the store's owner) carries it out.
    pub fn absolutize(&mut self, cwd: &std::path::Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = cwd.join(&*p);
            }
        };
        if let Some(home) = &mut self.home {
            fix(home);
        }
        match &mut self.command {
            Command::Import { file } => fix(file),
            Command::Rate(research::RateArgs {
                import: Some(file), ..
            }) => fix(file),
            Command::Export {
                output: Some(file), ..
            } if file.as_os_str() != "-" => fix(file),
            // The raw document's default file is named in the caller's
            // directory, not the owner's.
            Command::Export {
                output: output @ None,
                format: ExportFormat::Automerge,
                ..
            } => *output = Some(cwd.to_path_buf()),
            _ => {}
        }
    }
}
