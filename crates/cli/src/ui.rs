//! `gapmap ui`: the live web board (DESIGN §4, "The web board").
//!
//! The process owns the store (like `serve`), serves a single page embedded
//! in the binary, and talks to each open page over its own websocket
//! (`/api/ws`): the page sends changes as small JSON requests ([`ops`]), the
//! process carries them out with the canvas API through the owner's live
//! documents — so they are durable and reach peers at once — and pushes the
//! board to every page whenever the canvas changes, whoever changed it (a
//! page, the CLI through the owner socket, a peer through a relay).
//! Presence travels as automerge-repo ephemeral messages ([`presence`]).
//! The same listener accepts sync connections on `/` like `gapmap serve`.

mod http;
mod merge;
mod ops;
mod pages;
mod presence;
mod research;
mod session;
mod state;

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Context as _, Result};
use gapmap_canvas::{Canvas, DocId};
use gapmap_repo::routes::{sync_routes, Open};
use gapmap_repo::server::{serve as serve_http, ServerConfig};
use gapmap_repo::{Notice, Repo, RepoEvent};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::context::{now_ms, Context, Docs, Loaded, CURRENT_KEY};
use crate::live::LiveDocs;
use crate::{net, sample};

use self::presence::Presence;

/// The address of the board this process serves, once it listens: a
/// second `gapmap ui` on the store is routed here and told where it is.
static BOARD_URL: OnceLock<String> = OnceLock::new();

/// What `gapmap ui` was asked for.
pub struct UiArgs {
    /// Where to listen.
    pub listen: String,
    /// Whether a non-loopback address is allowed.
    pub public: bool,
    /// Remotes to stay connected to (URLs or remote names); empty: the
    /// configured remotes.
    pub sync: Vec<String>,
    /// Bearer token for `sync`.
    pub token: Option<String>,
}

/// The running board, shared by every request and page.
pub struct Board {
    repo: Repo,
    docs: Arc<LiveDocs>,
    /// The name changes are recorded under until a page gives its own.
    author: String,
    presence: Presence,
    /// The documents' one turn, shared with the owner socket's commands:
    /// two writers (pages, routed commands) never edit copies of one
    /// canvas at once.
    turn: Arc<Mutex<()>>,
    /// Whether the board answers to any host name (`--public`).
    public: bool,
    /// The canvas `/` shows when `-c` was given (else the current one).
    home: Option<DocId>,
}

impl Board {
    fn docs(&self) -> Arc<dyn Docs> {
        self.docs.clone()
    }

    /// A context acting as `name` on canvas `id`.
    fn context(&self, id: &DocId, name: &str) -> Context {
        Context::new(self.docs(), Some(id.to_string()), Some(name.to_string()))
    }

    /// The canvas an id (or unique prefix) names, if the store has it.
    /// Blocking.
    fn resolve(&self, given: &str) -> Option<DocId> {
        Context::new(self.docs(), None, None)
            .resolve_canvas(given)
            .ok()
    }

    /// The canvas `/` shows: `-c`, else the current one. Blocking.
    fn home(&self) -> Option<DocId> {
        self.home.or_else(|| self.current())
    }

    /// The current canvas, if it is in the store. Blocking.
    fn current(&self) -> Option<DocId> {
        let current = self.docs.setting(CURRENT_KEY).ok()??;
        let id = DocId::parse(&current).ok()?;
        self.docs.contains(&id.to_string()).ok()?.then_some(id)
    }

    /// A canvas as it is now. Blocking.
    fn load(&self, id: &DocId) -> Result<Canvas> {
        // A copy for the page; the loaded document goes back to the cache.
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.context(id, &self.author).load_id(*id)?.canvas.clone())
    }

    /// Carries out a page's change as `name`; returns what the page is told.
    /// Blocking.
    fn change(&self, id: &DocId, name: &str, op: &ops::Op) -> Result<Value> {
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        let ctx = self.context(id, name);
        let mut loaded = ctx.load_id(*id)?;
        let author = ctx.prepare_write(&mut loaded)?;
        let result = ops::apply(&mut loaded.canvas, op, &author, now_ms())?;
        ctx.save(&mut loaded)?;
        Ok(result)
    }

    /// A new canvas, made current. Blocking.
    fn create(&self, title: &str) -> Result<DocId> {
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        let title = title.trim();
        if title.is_empty() {
            bail!("the title is empty: name the canvas");
        }
        if title.chars().count() > ops::MAX_SHORT {
            bail!(
                "the title is too long: at most {} characters",
                ops::MAX_SHORT
            );
        }
        let ctx = Context::new(self.docs(), None, Some(self.author.clone()));
        let mut loaded = Loaded::new(
            DocId::random(),
            Canvas::create(title, &self.author, now_ms())?,
        );
        ctx.prepare_write(&mut loaded)?;
        ctx.save(&mut loaded)?;
        self.docs.set_setting(CURRENT_KEY, &loaded.id.to_string())?;
        Ok(loaded.id)
    }
}

/// Whether `listen` is only reachable from this machine.
fn loopback_only(listen: &str) -> Result<bool> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .with_context(|| {
            format!("bad listen address {listen}: give HOST:PORT, e.g. 127.0.0.1:7777")
        })?
        .collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

/// `gapmap ui`
pub fn ui(ctx: &Context, args: UiArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    if ctx.store.repo().is_some() {
        // Routed from a second `gapmap ui`: this process is the owner.
        if let Some(url) = BOARD_URL.get() {
            if json {
                writeln!(out, "{}", json!({ "board": url, "already_open": true }))?;
            } else {
                writeln!(out, "the board of this store is already open at {url}")?;
            }
            return Ok(());
        }
        net::refuse_if_owned(ctx, "gapmap ui")?;
    }
    if !loopback_only(&args.listen)? {
        if !args.public {
            bail!(
                "{} is reachable from other machines and the board has no login: listen on 127.0.0.1, or pass --public to serve it to your network anyway",
                args.listen
            );
        }
        eprintln!(
            "gapmap: warning: the board on {} can be read and changed by anyone who can reach it",
            args.listen
        );
    }
    let remotes = net::sync_targets(ctx, &args.sync, args.token.clone())?;
    if ctx.store.list()?.is_empty() {
        let author = ctx.author()?;
        let mut loaded = Loaded::new(DocId::random(), sample::build(&author, now_ms())?);
        ctx.prepare_write(&mut loaded)?;
        ctx.save(&mut loaded)?;
        ctx.store.set_setting(CURRENT_KEY, &loaded.id.to_string())?;
        if !json {
            writeln!(
                out,
                "the store was empty: created the sample canvas \"{}\" to explore",
                sample::TITLE
            )?;
        }
    }
    let home = if ctx.has_canvas_arg() {
        Some(ctx.canvas_id()?)
    } else {
        None
    };
    let author = ctx.author()?;
    let canvases = ctx.store.list()?.len();
    net::run_owner_docs(ctx, move |repo, docs, stop| async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let board = Arc::new(Board {
            presence: Presence::new(repo.clone()),
            repo: repo.clone(),
            turn: docs.turn(),
            docs,
            author,
            public: args.public,
            home,
        });
        let router = sync_routes(
            repo.clone(),
            Arc::new(Open),
            Some(http::router(board.clone())),
        )
        .layer(axum::middleware::from_fn_with_state(
            board.clone(),
            http::guard,
        ));
        let server = tokio::spawn(serve_http(
            listener,
            ServerConfig::default(),
            router,
            repo.tracker().clone(),
            stop.clone(),
        ));
        tokio::spawn(presence_loop(board.clone(), stop.clone()));
        for target in remotes {
            tokio::spawn(net::stay_connected(repo.clone(), target, stop.clone()));
        }
        let url = format!("http://{addr}/");
        let _ = BOARD_URL.set(url.clone());
        if json {
            writeln!(out, "{}", json!({ "board": url, "canvases": canvases }))?;
        } else {
            writeln!(
                out,
                "board on {url} ({}; Ctrl-C to stop)",
                crate::words::plural(canvases, "canvas", "canvases")
            )?;
        }
        out.flush()?;
        let _ = server.await;
        Ok(())
    })
}

/// Feeds peers' presence messages to [`Presence`] and beats the heart.
async fn presence_loop(board: Arc<Board>, stop: CancellationToken) {
    let mut events = board.repo.subscribe();
    let mut beat = tokio::time::interval(presence::HEARTBEAT);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = beat.tick() => board.presence.heartbeat(),
            event = events.recv() => match event {
                Ok(RepoEvent::Notice(Notice::Ephemeral { document_id, data, .. })) => board.presence.receive(document_id, &data),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}
