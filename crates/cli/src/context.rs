//! Resolving the command line into the things commands work on: the store,
//! the canvas, the author.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use automerge::AutoCommit;
use gapmap_canvas::{Canvas, DocId};
use gapmap_store::{DocMeta, Store};

/// Setting key of the author name.
pub const NAME_KEY: &str = "name";
/// Setting key of the current canvas id.
pub const CURRENT_KEY: &str = "current";

/// Where commands read and write documents and settings: the store itself,
/// or — when a long-running gapmap process owns the store — that process's
/// live documents, so its peers and web board see the change at once.
pub trait Docs: Send + Sync {
    /// Index entries of every canvas.
    fn list(&self) -> Result<Vec<DocMeta>>;
    /// Whether the store holds `id`.
    fn contains(&self, id: &str) -> Result<bool>;
    /// The document `id`, if present.
    fn load(&self, id: &str) -> Result<Option<AutoCommit>>;
    /// Makes `doc` durable as `id`; returns once it is on disk.
    fn save(&self, id: &str, doc: &mut AutoCommit, meta: &DocMeta) -> Result<()>;
    /// A local setting.
    fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Sets a local setting durably.
    fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    /// The store underneath.
    fn store(&self) -> Store;
    /// The running engine, when commands run inside the store's owner.
    fn repo(&self) -> Option<(gapmap_repo::Repo, tokio::runtime::Handle)>;
    /// Index entries of the canvases, and how many other documents the
    /// store holds (a peer may push any Automerge document: `serve` keeps it,
    /// as a repo peer should, but it is not a canvas). A canvas's title is
    /// never empty, so only entries without one are loaded to tell; one that
    /// lost its first changes to damage still counts as a canvas, for
    /// `doctor` to name.
    fn canvases(&self) -> Result<(Vec<DocMeta>, usize)> {
        let mut canvases = Vec::new();
        let mut others = 0;
        for meta in self.list()? {
            let canvas = !meta.title.is_empty()
                || match self.load(&meta.id) {
                    Ok(Some(mut doc)) => {
                        let is =
                            gapmap_canvas::is_canvas(&doc) || !doc.get_missing_deps(&[]).is_empty();
                        self.release(&meta.id, doc);
                        is
                    }
                    Ok(None) => false,
                    Err(_) => true,
                };
            if canvas {
                canvases.push(meta);
            } else {
                others += 1;
            }
        }
        Ok((canvases, others))
    }
    /// Takes back a document [`Docs::load`] gave out, once the command is
    /// done with it (a process that keeps documents loaded reuses it).
    fn release(&self, id: &str, doc: AutoCommit) {
        let _ = (id, doc);
    }
}

impl Docs for Store {
    fn list(&self) -> Result<Vec<DocMeta>> {
        Ok(Store::list(self)?)
    }
    fn contains(&self, id: &str) -> Result<bool> {
        Ok(Store::contains(self, id)?)
    }
    fn load(&self, id: &str) -> Result<Option<AutoCommit>> {
        Ok(Store::load(self, id)?)
    }
    fn save(&self, id: &str, doc: &mut AutoCommit, meta: &DocMeta) -> Result<()> {
        Ok(Store::save(self, id, doc, meta)?)
    }
    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(Store::setting(self, key)?)
    }
    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        Ok(Store::set_setting(self, key, value)?)
    }
    fn store(&self) -> Store {
        self.clone()
    }
    fn repo(&self) -> Option<(gapmap_repo::Repo, tokio::runtime::Handle)> {
        None
    }
}

/// The documents plus what the global flags said.
pub struct Context {
    /// Where documents and settings live.
    pub store: Arc<dyn Docs>,
    /// `-c`, if given.
    canvas_arg: Option<String>,
    /// `--as` / `GAPMAP_NAME`, if given.
    author_arg: Option<String>,
    /// Whether this command already warned that the author is unknown.
    warned_anonymous: AtomicBool,
}

/// The author of changes when nothing names one.
const ANONYMOUS: &str = "anonymous";

/// A canvas loaded for a command, with its id.
pub struct Loaded {
    /// The canvas id.
    pub id: DocId,
    /// The document.
    pub canvas: Canvas,
    /// Where the document came from, to hand it back when dropped.
    lent_by: Option<Arc<dyn Docs>>,
}

impl Loaded {
    /// A canvas not loaded from the store (new, imported, built).
    pub fn new(id: DocId, canvas: Canvas) -> Loaded {
        Loaded {
            id,
            canvas,
            lent_by: None,
        }
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        if let Some(docs) = self.lent_by.take() {
            docs.release(&self.id.to_string(), self.canvas.take_doc());
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The store directory: `--home`, `GAPMAP_HOME`, else `$XDG_DATA_HOME/gapmap`
/// or `~/.local/share/gapmap`.
pub fn home_dir(arg: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = arg {
        return Ok(dir.to_path_buf());
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("gapmap"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/gapmap")),
        None => bail!("cannot find a place for the store: set GAPMAP_HOME or pass --home DIR"),
    }
}

impl Context {
    /// A context over `store` with the global flags of one command line.
    pub fn new(
        store: Arc<dyn Docs>,
        canvas_arg: Option<String>,
        author_arg: Option<String>,
    ) -> Self {
        Context {
            store,
            canvas_arg,
            author_arg,
            warned_anonymous: AtomicBool::new(false),
        }
    }

    /// Whether `-c` was given.
    pub fn has_canvas_arg(&self) -> bool {
        self.canvas_arg.is_some()
    }

    /// The author name for new notes and changes.
    pub fn author(&self) -> Result<String> {
        if let Some(name) = self
            .author_arg
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            return Ok(name.to_string());
        }
        if let Some(name) = self.store.setting(NAME_KEY)? {
            return Ok(name);
        }
        if let Some(user) = std::env::var("USER").ok().filter(|u| !u.trim().is_empty()) {
            return Ok(user);
        }
        if !self.warned_anonymous.swap(true, Ordering::Relaxed) {
            eprintln!("gapmap: warning: no author name, so your changes are signed \"{ANONYMOUS}\": set yours with gapmap config name NAME (or --as NAME, or GAPMAP_NAME)");
        }
        Ok(ANONYMOUS.to_string())
    }

    /// The Automerge actor id of `author` in this store: one random actor per
    /// (store, author), so `members` can map actors to names and history
    /// shows who did what.
    fn actor_for(&self, author: &str) -> Result<Vec<u8>> {
        let key = format!("actor:{author}");
        if let Some(hex_actor) = self.store.setting(&key)? {
            if let Ok(bytes) = hex::decode(&hex_actor) {
                return Ok(bytes);
            }
        }
        let bytes: [u8; 16] = rand::random();
        self.store.set_setting(&key, &hex::encode(bytes))?;
        Ok(bytes.to_vec())
    }

    /// Resolves `-c` (or the current canvas) to a canvas id in the store.
    pub fn canvas_id(&self) -> Result<DocId> {
        match &self.canvas_arg {
            Some(arg) => self.resolve_canvas(arg),
            None => {
                let current = self.store.setting(CURRENT_KEY)?.context(
                    "no canvas selected: create one with `gapmap new TITLE` or pick one with `gapmap use ID`",
                )?;
                let id = DocId::parse(&current)?;
                if !self.store.contains(&id.to_string())? {
                    bail!("the current canvas {id} is not in the store: pick one with `gapmap use ID` (see `gapmap list`)");
                }
                Ok(id)
            }
        }
    }

    /// Resolves an id, a unique prefix of one, or an `automerge:` URL.
    pub fn resolve_canvas(&self, arg: &str) -> Result<DocId> {
        let arg = arg.trim();
        if let Ok(id) = DocId::parse(arg) {
            if self.store.contains(&id.to_string())? {
                return Ok(id);
            }
            bail!("unknown canvas {id}: it is not in this store (see `gapmap list`, or `gapmap clone` it)");
        }
        let bare = arg.strip_prefix("automerge:").unwrap_or(arg);
        if bare.len() < 4 {
            bail!("canvas id \"{arg}\" is too short: give at least 4 characters of the id");
        }
        // Only canvases: a document a peer pushed never makes a prefix ambiguous.
        let matches: Vec<DocMeta> = self
            .store
            .canvases()?
            .0
            .into_iter()
            .filter(|m| m.id.starts_with(bare))
            .collect();
        match matches.as_slice() {
            [] => bail!("unknown canvas \"{arg}\" (see `gapmap list`)"),
            [one] => Ok(DocId::parse(&one.id)?),
            many => bail!(
                "canvas prefix \"{arg}\" is ambiguous: {}",
                many.iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Loads the selected canvas.
    pub fn load(&self) -> Result<Loaded> {
        let id = self.canvas_id()?;
        self.load_id(id)
    }

    /// Loads the canvas `id`.
    pub fn load_id(&self, id: DocId) -> Result<Loaded> {
        let mut doc = self
            .store
            .load(&id.to_string())?
            .with_context(|| format!("unknown canvas {id} (see `gapmap list`)"))?;
        let holds_back = !doc.get_missing_deps(&[]).is_empty();
        let canvas = match Canvas::from_doc(doc) {
            Ok(canvas) => canvas,
            Err(_) if holds_back => bail!(
                "canvas {id} lost its first changes to damage and does not load; see gapmap doctor, and sync with a remote that has it"
            ),
            Err(gapmap_canvas::CanvasError::NotACanvas(_)) => bail!(
                "document {id} is not a canvas (a peer pushed it; `gapmap list` names the canvases)"
            ),
            Err(e) => return Err(e).with_context(|| format!("canvas {id}")),
        };
        Ok(Loaded {
            id,
            canvas,
            lent_by: Some(self.store.clone()),
        })
    }

    /// Prepares `loaded` for a change by the current author: sets the actor
    /// and makes sure the author is listed among the members.
    pub fn prepare_write(&self, loaded: &mut Loaded) -> Result<String> {
        let author = self.author()?;
        let actor = self.actor_for(&author)?;
        loaded.canvas.set_actor(&actor);
        let actor_hex = hex::encode(&actor);
        let known = loaded
            .canvas
            .members()
            .get(&actor_hex)
            .map(|m| m.name.clone());
        if known.as_deref() != Some(author.as_str()) {
            loaded
                .canvas
                .set_member(&actor_hex, &author, &color_for(&author), now_ms())?;
        }
        Ok(author)
    }

    /// Makes `loaded`'s changes durable and updates the index. A canvas
    /// that does not record its own id yet (new, or written before ids were
    /// recorded) gets it first, as the current author (see `carry.rs`).
    pub fn save(&self, loaded: &mut Loaded) -> Result<()> {
        if loaded.canvas.recorded_ids() != [loaded.id] {
            self.prepare_write(loaded)?;
            loaded.canvas.record_id(&loaded.id, now_ms())?;
        }
        let meta = meta_of(&loaded.id, &mut loaded.canvas);
        self.store
            .save(&meta.id, loaded.canvas.doc_mut(), &meta)
            .with_context(|| format!("saving canvas {}", loaded.id))
    }
}

/// The index entry of a canvas.
pub fn meta_of(id: &DocId, canvas: &mut Canvas) -> DocMeta {
    // The live-note count is remembered per document state, so a process
    // that keeps canvases loaded does not count thousands of notes per save.
    DocMeta {
        id: id.to_string(),
        title: canvas.title(),
        notes: canvas.live_note_count(),
        updated_ms: now_ms(),
    }
}

/// A stable colour for a person, so their notes and cursor look the same everywhere.
pub fn color_for(name: &str) -> String {
    const PALETTE: [&str; 10] = [
        "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#469990",
        "#9a6324", "#800000",
    ];
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    PALETTE[(hash % PALETTE.len() as u64) as usize].to_string()
}
