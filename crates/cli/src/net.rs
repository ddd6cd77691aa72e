//! Commands that talk to other machines: remotes, clone, sync, status and
//! serve. They run on a [`Repo`] — the store owner's when one is running,
//! else one started for the command.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use automerge::ChangeHash;
use gapmap_canvas::{Canvas, DocId};
use gapmap_repo::routes::{sync_routes, Authorizer, Open, SharedSecret};
use gapmap_repo::server::{serve as serve_http, ServerConfig};
use gapmap_repo::{DocumentId, Repo, SyncOutcome};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::args::RemoteAction;
use crate::context::{Context, CURRENT_KEY};
use crate::lan;
use crate::live::{self, LiveDocs};
use crate::owner;

/// A remembered remote, stored as setting `remote:<name>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remote {
    /// The first URL: the remote's name in `status` and sync records.
    url: String,
    /// Further URLs of relays sharing the same storage, tried in order
    /// after `url` (failover).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl Remote {
    fn urls(&self) -> Vec<String> {
        std::iter::once(self.url.clone())
            .chain(self.more.iter().cloned())
            .collect()
    }
}

/// One remote to talk to: its URLs in the order to try them (one, or
/// several relays sharing a storage) and the token.
pub(crate) struct Target {
    pub urls: Vec<String>,
    pub token: Option<String>,
}

impl Target {
    /// The name syncs are recorded under (the first URL).
    pub fn key(&self) -> &str {
        &self.urls[0]
    }

    /// How to show it: the URLs, comma-separated.
    pub fn shown(&self) -> String {
        self.urls.join(",")
    }
}

/// Every URL in `args`, each possibly a comma-separated list, checked.
fn split_urls<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    let mut urls = Vec::new();
    for arg in args {
        for url in arg.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            check_url(url)?;
            if !urls.iter().any(|u| u == url) {
                urls.push(url.to_string());
            }
        }
    }
    if urls.is_empty() {
        bail!("no URL given: a remote URL starts with ws:// or wss://");
    }
    Ok(urls)
}

const REMOTE_PREFIX: &str = "remote:";

fn remotes(ctx: &Context) -> Result<Vec<(String, Remote)>> {
    let mut out = Vec::new();
    for (key, value) in ctx.store.store().settings()? {
        if let Some(name) = key.strip_prefix(REMOTE_PREFIX) {
            let remote: Remote = serde_json::from_str(&value)
                .with_context(|| format!("remote {name} is unreadable"))?;
            out.push((name.to_string(), remote));
        }
    }
    Ok(out)
}

fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .with_context(|| match with_scheme(url) {
            Some(fixed) => format!("bad URL {url}: did you mean {fixed}?"),
            None => format!("bad URL {url}: a remote URL starts with ws:// or wss://"),
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        bail!("bad URL {url}: it names no host");
    }
    Ok(())
}

/// A URL (or comma-separated URLs) or a remote's name, with the token to use.
fn resolve_remote(ctx: &Context, url_or_name: &str, token: Option<String>) -> Result<Target> {
    if url_or_name.contains("://") {
        return Ok(Target {
            urls: split_urls([url_or_name])?,
            token,
        });
    }
    let known = remotes(ctx)?;
    if let Some((_, remote)) = known.iter().find(|(name, _)| name == url_or_name) {
        return Ok(Target {
            urls: remote.urls(),
            token: token.or(remote.token.clone()),
        });
    }
    if let Some(fixed) = with_scheme(url_or_name) {
        bail!("\"{url_or_name}\" is not a URL nor a remote's name: did you mean {fixed}?");
    }
    let names = known.iter().map(|(name, _)| name.as_str());
    if let Some(name) = crate::words::closest(url_or_name, names) {
        bail!("unknown remote \"{url_or_name}\": did you mean {name}? (see gapmap remote list)");
    }
    bail!("unknown remote \"{url_or_name}\": give a ws:// URL or add it with `gapmap remote add {url_or_name} URL`")
}

/// `url` with the websocket scheme it lacks: `host:port` or `localhost`
/// becomes `ws://…`, `http://` becomes `ws://` and `https://` `wss://`.
/// `None` when it does not look like an address.
fn with_scheme(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("http://") {
        return Some(format!("ws://{rest}"));
    }
    if let Some(rest) = url.strip_prefix("https://") {
        return Some(format!("wss://{rest}"));
    }
    if url.contains("://") || url.is_empty() || url.chars().any(char::is_whitespace) {
        return None;
    }
    let host = url.split(['/', '?']).next().unwrap_or("");
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let looks =
        name == "localhost" || name.contains('.') || name.starts_with('[') || port.is_some();
    (port_ok && looks && !name.is_empty()).then(|| format!("ws://{url}"))
}

/// `gapmap remote …`
pub fn remote(ctx: &Context, action: RemoteAction, json: bool, out: &mut dyn Write) -> Result<()> {
    let store = ctx.store.store();
    match action {
        RemoteAction::Add {
            name,
            url,
            more,
            token,
            ..
        } => {
            if name.is_empty() || name.contains("://") || name.chars().any(char::is_whitespace) {
                bail!("bad remote name \"{name}\": use a short word such as team");
            }
            let mut urls =
                split_urls(std::iter::once(url.as_str()).chain(more.iter().map(String::as_str)))?;
            let remote = Remote {
                url: urls.remove(0),
                more: urls,
                token,
            };
            store.set_setting(
                &format!("{REMOTE_PREFIX}{name}"),
                &serde_json::to_string(&remote)?,
            )?;
            if json {
                let mut row = json!({ "name": name, "url": remote.url });
                if !remote.more.is_empty() {
                    row["urls"] = json!(remote.urls());
                }
                writeln!(out, "{row}")?;
            } else {
                writeln!(out, "remote {name}: {}", remote.urls().join(", "))?;
            }
        }
        RemoteAction::List => {
            let all = remotes(ctx)?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|(name, r)| json!({ "name": name, "url": r.url, "urls": r.urls(), "token": r.token.is_some() }))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else if all.is_empty() {
                writeln!(
                    out,
                    "no remotes: add one with gapmap remote add NAME URL [--token T]"
                )?;
            } else {
                for (name, r) in all {
                    let token = if r.token.is_some() { "  (token)" } else { "" };
                    writeln!(out, "{name}  {}{token}", r.urls().join(","))?;
                }
            }
        }
        RemoteAction::Rm { name } => {
            let key = format!("{REMOTE_PREFIX}{name}");
            if store.setting(&key)?.is_none() {
                bail!("unknown remote \"{name}\" (see gapmap remote list)");
            }
            store.remove_setting(&key)?;
            if json {
                writeln!(out, "{}", json!({ "removed": name }))?;
            } else {
                writeln!(out, "removed remote {name}")?;
            }
        }
    }
    Ok(())
}

/// Runs `f` on the store owner's repo, or on one started for this command.
fn with_repo<T, F, Fut>(ctx: &Context, f: F) -> Result<T>
where
    F: FnOnce(Repo) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if let Some((repo, handle)) = ctx.store.repo() {
        return handle.block_on(f(repo));
    }
    let store = ctx.store.store();
    let peer_id = live::peer_id();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let repo = Repo::start(live::repo_config(store, peer_id));
        let result = f(repo.clone()).await;
        repo.shutdown().await;
        result
    })
}

fn synced_key(url: &str, id: &str) -> String {
    format!("synced:{url}:{id}")
}

fn record_synced(ctx: &Context, url: &str, id: &str, heads: &[ChangeHash]) -> Result<()> {
    let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
    ctx.store
        .set_setting(&synced_key(url, id), &heads.join(","))
}

/// `gapmap clone ID-OR-URL --from URL`
pub fn clone(
    ctx: &Context,
    id: &str,
    from: &str,
    token: Option<String>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let canvas_id = DocId::parse(id.trim())?;
    let doc_id = DocumentId::parse(&canvas_id.to_string()).context("invalid canvas id")?;
    let target = resolve_remote(ctx, from, token)?;
    let (_, report) = with_repo(ctx, |repo| {
        let (urls, token) = (target.urls.clone(), target.token.clone());
        async move {
            Ok(repo
                .sync_with_any(&urls, token.as_deref(), Some(vec![doc_id]), None)
                .await?)
        }
    })?;
    let url = target.shown();
    match report.documents.get(&doc_id.to_string()) {
        Some(SyncOutcome::InSync(heads)) => {
            record_synced(ctx, target.key(), &doc_id.to_string(), heads)?
        }
        _ => bail!("{url} does not have canvas {canvas_id}"),
    }
    let doc = ctx
        .store
        .load(&canvas_id.to_string())?
        .with_context(|| format!("{url} sent nothing for canvas {canvas_id}"))?;
    let canvas =
        Canvas::from_doc(doc).with_context(|| format!("document {canvas_id} from {url}"))?;
    ctx.store.set_setting(CURRENT_KEY, &canvas_id.to_string())?;
    let remote = remember(ctx, from, &target)?;
    if json {
        writeln!(
            out,
            "{}",
            json!({ "id": canvas_id.to_string(), "url": canvas_id.url(), "title": canvas.title(), "remote": remote.name })
        )?;
    } else {
        writeln!(out, "{canvas_id}")?;
        if remote.added {
            // stdout stays the id alone, for scripts.
            eprintln!(
                "gapmap: remembered {url} as remote \"{}\": a plain gapmap sync syncs with it",
                remote.name
            );
        }
    }
    Ok(())
}

/// The remote a clone came from, by name.
struct Remembered {
    name: String,
    /// Whether the clone added (or updated) it.
    added: bool,
}

/// Makes sure the remote `from` names is remembered after a clone, so a
/// plain `gapmap sync` works next: a remote's name is already one; URLs
/// become the remote that has exactly them (its token updated when one was
/// given), else a new remote `origin` (`origin-2`, … when taken).
fn remember(ctx: &Context, from: &str, target: &Target) -> Result<Remembered> {
    let known = remotes(ctx)?;
    if !from.contains("://") {
        return Ok(Remembered {
            name: from.to_string(),
            added: false,
        });
    }
    let remote = |more: Vec<String>| Remote {
        url: target.urls[0].clone(),
        more,
        token: target.token.clone(),
    };
    let same = known.iter().find(|(_, r)| r.urls() == target.urls);
    let name = match same {
        Some((name, r)) if target.token.is_none() || r.token == target.token => {
            return Ok(Remembered {
                name: name.clone(),
                added: false,
            })
        }
        Some((name, _)) => name.clone(),
        None => (1..)
            .map(|n| match n {
                1 => "origin".to_string(),
                n => format!("origin-{n}"),
            })
            .find(|n| !known.iter().any(|(k, _)| k == n))
            .expect("an unused name"),
    };
    let value = serde_json::to_string(&remote(target.urls[1..].to_vec()))?;
    ctx.store
        .set_setting(&format!("{REMOTE_PREFIX}{name}"), &value)?;
    Ok(Remembered { name, added: true })
}

/// What `gapmap sync` was asked.
pub struct SyncArgs {
    /// A URL or remote name.
    pub target: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// Stay connected.
    pub watch: bool,
    /// Sync with the peers announced on the LAN.
    pub lan: bool,
}

/// `gapmap sync [URL] [--token T] [--watch] [--lan]`
pub fn sync(ctx: &Context, args: SyncArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let SyncArgs {
        target,
        token,
        watch,
        lan,
    } = args;
    let targets: Vec<Target> = match target {
        Some(t) => vec![resolve_remote(ctx, &t, token)?],
        None if lan => {
            let me = live::peer_id();
            let peers = lan::discover(Duration::from_secs(2), Some(&me))?;
            if peers.is_empty() {
                bail!("no gapmap peer announces itself on this network (start one with gapmap serve --listen 0.0.0.0:7788 --announce)");
            }
            peers
                .into_iter()
                .map(|p| Target {
                    urls: vec![p.url],
                    token: token.clone(),
                })
                .collect()
        }
        None => {
            let all = remotes(ctx)?;
            if all.is_empty() {
                bail!("no remote to sync with: give a URL (gapmap sync ws://HOST:PORT) or add one with gapmap remote add NAME URL");
            }
            all.into_iter()
                .map(|(_, r)| Target {
                    urls: r.urls(),
                    token: token.clone().or(r.token),
                })
                .collect()
        }
    };
    if watch {
        return watch_remotes(ctx, targets, out);
    }
    let mut rows = Vec::new();
    for target in targets {
        let shown = target.shown();
        let (url, report) = with_repo(ctx, |repo| {
            let (urls, token) = (target.urls.clone(), target.token.clone());
            let bar = progress_bar(&shown);
            async move {
                Ok(repo
                    .sync_with_any(&urls, token.as_deref(), None, bar)
                    .await?)
            }
        })
        .with_context(|| format!("sync with {shown} failed"))?;
        let mut synced = 0;
        let mut refused = Vec::new();
        for (id, outcome) in &report.documents {
            match outcome {
                SyncOutcome::InSync(heads) => {
                    record_synced(ctx, target.key(), id, heads)?;
                    synced += 1;
                }
                SyncOutcome::Unavailable => refused.push(id.as_str()),
            }
        }
        if !refused.is_empty() {
            bail!(
                "{url} did not take {} ({}): the token is read-only or does not cover them",
                crate::words::plural(refused.len(), "canvas", "canvases"),
                refused.join(", ")
            );
        }
        if json {
            rows.push(json!({ "remote": url, "canvases": synced }));
        } else {
            writeln!(
                out,
                "{url}: {} in sync",
                crate::words::plural(synced, "canvas", "canvases")
            )?;
        }
    }
    if json {
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
    }
    Ok(())
}

/// A progress bar on stderr for a sync that moves many documents (only on a
/// terminal: scripts and logs stay clean).
fn progress_bar(url: &str) -> Option<gapmap_repo::Progress> {
    use std::io::IsTerminal;
    const MANY: usize = 10;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} canvases")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("syncing with {url}"));
    Some(Box::new(move |settled, total| {
        if total < MANY {
            return;
        }
        if bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
        }
        bar.set_position(settled as u64);
        if settled == total {
            bar.finish_and_clear();
        }
    }))
}

/// `gapmap status`
pub fn status(ctx: &Context, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut urls: Vec<String> = remotes(ctx)?.into_iter().map(|(_, r)| r.url).collect();
    let settings = ctx.store.store().settings()?;
    for (key, _) in &settings {
        if let Some(rest) = key.strip_prefix("synced:") {
            if let Some((url, _)) = rest.rsplit_once(':') {
                if !urls.iter().any(|u| u == url) {
                    urls.push(url.to_string());
                }
            }
        }
    }
    let mut rows = Vec::new();
    for meta in ctx.store.list()? {
        let Some(mut doc) = ctx.store.load(&meta.id)? else {
            continue;
        };
        for url in &urls {
            let synced = ctx.store.setting(&synced_key(url, &meta.id))?;
            let pending = synced.map(|heads| {
                let heads: Vec<ChangeHash> =
                    heads.split(',').filter_map(|h| h.parse().ok()).collect();
                doc.get_changes(&heads).len()
            });
            if json {
                rows.push(json!({ "id": meta.id, "title": meta.title, "remote": url, "synced": pending.is_some(), "unsynced_changes": pending }));
            } else {
                match pending {
                    Some(0) => writeln!(out, "{}  {:<24}  {url}: up to date", meta.id, meta.title)?,
                    Some(n) => writeln!(
                        out,
                        "{}  {:<24}  {url}: {} not yet synced",
                        meta.id,
                        meta.title,
                        crate::words::plural(n, "local change", "local changes")
                    )?,
                    None => writeln!(out, "{}  {:<24}  {url}: never synced", meta.id, meta.title)?,
                }
            }
        }
    }
    if json {
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
    } else if urls.is_empty() {
        writeln!(
            out,
            "no remotes yet: gapmap remote add NAME URL, then gapmap sync"
        )?;
    }
    Ok(())
}

/// Refuses a long-running command inside an owner: it already runs one.
pub(crate) fn refuse_if_owned(ctx: &Context, what: &str) -> Result<()> {
    if ctx.store.repo().is_some() {
        bail!("another gapmap process already owns this store (serve, ui or sync --watch); stop it before starting {what}");
    }
    Ok(())
}

/// The remotes a long-running command stays connected to: those given
/// (URLs or remote names), else every configured remote.
pub(crate) fn sync_targets(
    ctx: &Context,
    given: &[String],
    token: Option<String>,
) -> Result<Vec<Target>> {
    if given.is_empty() {
        return Ok(remotes(ctx)?
            .into_iter()
            .map(|(_, r)| Target {
                urls: r.urls(),
                token: token.clone().or(r.token),
            })
            .collect());
    }
    given
        .iter()
        .map(|g| resolve_remote(ctx, g, token.clone()))
        .collect()
}

/// Runs `body` with a repo that owns the store: the owner socket answers
/// other gapmap commands until SIGINT/SIGTERM.
pub(crate) fn run_owner<F, Fut>(ctx: &Context, body: F) -> Result<()>
where
    F: FnOnce(Repo, CancellationToken) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    run_owner_docs(ctx, |repo, _docs, stop| body(repo, stop))
}

/// [`run_owner`], giving `body` the live documents the owner socket uses
/// too, so both see every change the other makes.
pub(crate) fn run_owner_docs<F, Fut>(ctx: &Context, body: F) -> Result<()>
where
    F: FnOnce(Repo, Arc<LiveDocs>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let store = ctx.store.store();
    let peer_id = live::peer_id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let repo = Repo::start(live::repo_config(store.clone(), peer_id));
        let stop = CancellationToken::new();
        let docs = Arc::new(LiveDocs::new(
            repo.clone(),
            tokio::runtime::Handle::current(),
        ));
        let home = store.dir().to_path_buf();
        let owner = tokio::spawn(owner::serve_owner(
            home,
            docs.clone(),
            docs.turn(),
            stop.clone(),
        ));
        let result = tokio::select! {
            r = body(repo.clone(), docs, stop.clone()) => r,
            r = wait_for_signal() => r,
        };
        stop.cancel();
        let _ = owner.await;
        repo.shutdown().await;
        result
    })
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// `gapmap peers`
pub fn peers(wait: u64, json: bool, out: &mut dyn Write) -> Result<()> {
    let me = live::peer_id();
    let peers = lan::discover(Duration::from_secs(wait), Some(&me))?;
    if json {
        let rows: Vec<_> = peers
            .iter()
            .map(|p| json!({ "name": p.name, "url": p.url }))
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
    } else if peers.is_empty() {
        writeln!(out, "no gapmap peers heard on the LAN in {wait}s")?;
    } else {
        for p in peers {
            writeln!(out, "{}  {}", p.url, p.name)?;
        }
    }
    Ok(())
}

/// `gapmap serve --listen ADDR [--token T] [--announce]`
pub fn serve(
    ctx: &Context,
    listen: &str,
    token: Option<String>,
    announce: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    refuse_if_owned(ctx, "gapmap serve")?;
    let canvases = ctx.store.list()?.len();
    let peer_id = live::peer_id();
    run_owner(ctx, |repo, stop| async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let _announced = if announce {
            Some(lan::announce(&peer_id, addr)?)
        } else {
            None
        };
        let auth: Arc<dyn Authorizer> = match token {
            Some(secret) => Arc::new(SharedSecret(secret)),
            None => Arc::new(Open),
        };
        let router = sync_routes(repo.clone(), auth, None);
        let server = tokio::spawn(serve_http(
            listener,
            ServerConfig::default(),
            router,
            repo.tracker().clone(),
            stop.clone(),
        ));
        if json {
            writeln!(
                out,
                "{}",
                json!({ "listening": format!("ws://{addr}"), "canvases": canvases })
            )?;
        } else {
            writeln!(
                out,
                "serving {} on ws://{addr} (Ctrl-C to stop)",
                crate::words::plural(canvases, "canvas", "canvases")
            )?;
        }
        out.flush()?;
        let _ = server.await;
        Ok(())
    })
}

/// `gapmap sync --watch`
fn watch_remotes(ctx: &Context, targets: Vec<Target>, out: &mut dyn Write) -> Result<()> {
    refuse_if_owned(ctx, "gapmap sync --watch")?;
    run_owner(ctx, |repo, stop| async move {
        for target in &targets {
            writeln!(out, "watching {} (Ctrl-C to stop)", target.shown())?;
        }
        out.flush()?;
        let mut tasks = Vec::new();
        for target in targets {
            tasks.push(tokio::spawn(stay_connected(
                repo.clone(),
                target,
                stop.clone(),
            )));
        }
        for task in tasks {
            let _ = task.await;
        }
        Ok(())
    })
}

/// Keeps `target` connected until `stop` (failing over between its URLs).
pub(crate) async fn stay_connected(repo: Repo, target: Target, stop: CancellationToken) {
    repo.stay_connected_any(
        target.urls,
        target.token,
        stop,
        |err| tracing::warn!(%err, "cannot connect; retrying"),
    )
    .await;
}
