//! gapmap-relay: the self-hostable sync relay (DESIGN §6) — gapmap-repo in
//! server mode, plus tokens, limits, TLS and metrics.
//!
//! ```text
//! gapmap-relay --listen ADDR --data DIR [--open | --tokens FILE] [--tls-cert F --tls-key F]
//!              [--backend sled | redis://HOST:PORT | redis+cluster://HOST:PORT,…] [--redis-ca FILE]
//! gapmap-relay token new
//! ```

mod redis_backend;
mod tokens;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gapmap_repo::routes::{sync_routes, Authorizer, Open};
use gapmap_repo::server::{serve, tls_acceptor, ServerConfig};
use gapmap_repo::{Access, BufferLimits, Repo, RepoConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::tokens::Tokens;

/// The gapmap relay: a small self-hosted sync server for gapmap and
/// automerge-repo clients.
#[derive(Debug, Parser)]
#[command(
    name = "gapmap-relay",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tokens for the tokens file.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Print a fresh random secret for a `[[token]]` table.
    New,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, env = "GAPMAP_RELAY_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory of the relay's own store.
    #[arg(long, env = "GAPMAP_RELAY_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Serve anyone without a token (a LAN, a test).
    #[arg(long, conflicts_with = "tokens")]
    open: bool,
    /// TOML file of `[[token]]` tables; re-read on SIGHUP.
    #[arg(long, env = "GAPMAP_RELAY_TOKENS", value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// PEM certificate chain, to serve wss:// itself.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    max_message: usize,
    /// Most memory Automerge may use for one peer message (or one Redis
    /// load), in MiB: a message that would make it inflate or materialise
    /// more is refused, whatever it says (docs/reliability.md). The budget
    /// is 256 bytes per message byte, at least 64 MiB, at most this.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    automerge_budget: u64,
    /// Peer messages measured and applied at once, off the engine loop
    /// (default: one fewer than the cores, at least one).
    #[arg(long, value_name = "N")]
    apply_workers: Option<usize>,
    /// Most simultaneous connections.
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
    /// Most documents one connection may sync.
    #[arg(long, default_value_t = 1_000)]
    max_docs_per_connection: usize,
    /// Seconds a connection may take to upgrade and send its join.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Close connections silent for this many seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout: u64,
    /// Most bytes of incoming messages held at once, across all connections
    /// (read, not yet handled); a connection that would pass it waits.
    /// At least twice --max-message.
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    max_buffered: usize,
    /// Most such bytes one connection may hold [default: --max-message + 256 KiB].
    #[arg(long, value_name = "BYTES")]
    max_buffered_per_connection: Option<usize>,
    /// Once a message has started, the connection is closed when no byte of
    /// it arrives for this many seconds, or when the whole has not arrived
    /// within this plus one second per --frame-min-rate bytes received.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    frame_deadline: u64,
    /// The slowest upload an honest peer is allowed, in bytes per second
    /// (see --frame-deadline).
    #[arg(long, default_value_t = 128 * 1024, value_name = "BYTES")]
    frame_min_rate: u64,
    /// Where documents live: `sled` (the relay's own store under --data) or
    /// `redis://[:PASSWORD@]HOST:PORT[/DB]`, shared by several relays
    /// (docs/scaling.md); `rediss://` for TLS; `redis+cluster://HOST:PORT[,HOST:PORT…]`
    /// (or `rediss+cluster://`) for a Redis Cluster, found from these nodes. A password on the command line is visible to
    /// other local users (`ps`): prefer --backend-file or $GAPMAP_RELAY_BACKEND.
    #[arg(
        long,
        env = "GAPMAP_RELAY_BACKEND",
        hide_env_values = true,
        value_name = "URL",
        default_value = "sled"
    )]
    backend: String,
    /// Read the --backend URL from this file (its first line): a Redis URL
    /// with a password kept out of the command line.
    #[arg(long, env = "GAPMAP_RELAY_BACKEND_FILE", value_name = "FILE")]
    backend_file: Option<PathBuf>,
    /// With a TLS Redis URL: trust the certificates in this PEM file
    /// instead of the system's roots.
    #[arg(long, env = "GAPMAP_RELAY_REDIS_CA", value_name = "FILE")]
    redis_ca: Option<PathBuf>,
    /// With a Redis backend: compact a document's stream into a snapshot
    /// once it holds this many entries.
    #[arg(long, default_value_t = 500, value_name = "ENTRIES")]
    redis_compact_after: u64,
    /// With a Redis backend: milliseconds an entry stays in the stream
    /// after a compaction covered it (for relays whose reader lags).
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    redis_grace_ms: u64,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// The gate's budget with its largest figure at `mib` MiB.
fn budget(mib: u64) -> gapmap_guard::Budget {
    let max = mib.max(1).saturating_mul(1 << 20);
    let default = gapmap_guard::Budget::DEFAULT;
    gapmap_guard::Budget {
        max,
        floor: default.floor.min(max),
        ..default
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(cli.run.verbose);
    if let Err(err) = resolve_backend(&mut cli.run, matches.value_source("backend")) {
        eprintln!("gapmap-relay: {err:#}");
        return ExitCode::from(1);
    }
    let result = match cli.command {
        Some(Command::Token {
            action: TokenAction::New,
        }) => {
            println!("{}", tokens::new_secret());
            Ok(())
        }
        None => run(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gapmap-relay: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info,automerge=off",
        1 => "debug,automerge=warn,hyper=info,tungstenite=info",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // journald and log files get plain text; a terminal gets colours.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

/// Reads `--backend-file`, and warns when a password is on the command line.
fn resolve_backend(args: &mut RunArgs, source: Option<clap::parser::ValueSource>) -> Result<()> {
    use clap::parser::ValueSource;
    if let Some(path) = args.backend_file.take() {
        if source == Some(ValueSource::CommandLine) {
            bail!("give the backend once: --backend or --backend-file, not both");
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the backend file {}", path.display()))?;
        let url = text.lines().next().unwrap_or_default().trim();
        if url.is_empty() {
            bail!("the backend file {} is empty", path.display());
        }
        args.backend = url.to_string();
    } else if source == Some(ValueSource::CommandLine) && has_password(&args.backend) {
        eprintln!(
            "gapmap-relay: warning: the Redis password in --backend is visible to other users of this machine (ps); use --backend-file FILE or GAPMAP_RELAY_BACKEND instead"
        );
    }
    Ok(())
}

/// Whether a URL carries credentials (`scheme://user:pw@host`).
fn has_password(url: &str) -> bool {
    url.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority.contains('@')
    })
}

/// How long SIGTERM waits for connections to close and stores to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The relay's authorizer: the tokens file as last read.
struct TokenAuth {
    tokens: RwLock<Tokens>,
}

impl Authorizer for TokenAuth {
    fn authorize(&self, token: Option<&str>) -> Option<Access> {
        let grant = self.tokens.read().ok()?.check(token?, SystemTime::now())?;
        Some(grant.to_access())
    }
}

fn run(args: RunArgs) -> Result<()> {
    let Some(listen) = args.listen else {
        bail!("--listen ADDR is required, e.g. gapmap-relay --listen 0.0.0.0:8080 --data /var/lib/gapmap-relay --tokens tokens.toml");
    };
    let Some(data) = args.data.clone() else {
        bail!("--data DIR is required: the directory where the relay stores documents (with --backend redis://…, only its own settings)");
    };
    if args.backend != "sled" && !redis_backend::is_redis_url(&args.backend) {
        bail!(
            "bad --backend {}: use sled (the default), redis://HOST:PORT, rediss://HOST:PORT or redis+cluster://HOST:PORT,HOST:PORT",
            redis_backend::redacted(&args.backend)
        );
    }
    if args.redis_ca.is_some() && args.backend == "sled" {
        bail!("--redis-ca FILE is for a Redis backend over TLS: add --backend rediss://HOST:PORT");
    }
    let token_auth = match (&args.tokens, args.open) {
        (Some(path), _) => {
            let tokens = Tokens::load(path)?;
            if tokens.is_empty() {
                tracing::warn!(path = %path.display(), "the tokens file holds no token: every connection will be refused");
            } else {
                tracing::info!(path = %path.display(), tokens = tokens.len(), "tokens read");
            }
            Some(Arc::new(TokenAuth { tokens: RwLock::new(tokens) }))
        }
        (None, true) => None,
        (None, false) => bail!("choose who may connect: --tokens FILE (see `gapmap-relay token new`) or --open for anyone"),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve_relay(args, listen, &data, token_auth, tls))
}

async fn serve_relay(
    args: RunArgs,
    listen: SocketAddr,
    data: &Path,
    token_auth: Option<Arc<TokenAuth>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<()> {
    let auth: Arc<dyn Authorizer> = match &token_auth {
        Some(tokens) => tokens.clone(),
        None => Arc::new(Open),
    };
    let store = gapmap_store::Store::open(data)
        .with_context(|| format!("opening the relay store in {}", data.display()))?;
    let mut config = RepoConfig::new(
        store,
        format!("gapmap-relay-{}", hex::encode(rand::random::<[u8; 6]>())),
    );
    config.limits.decode.max_frame_size = args.max_message;
    config.limits.max_documents_per_connection = args.max_docs_per_connection;
    config.limits.handshake_timeout_ms = args.handshake_timeout * 1000;
    config.limits.idle_timeout_ms = Some(args.idle_timeout * 1000);
    let asked = BufferLimits {
        max_buffered: args.max_buffered,
        max_buffered_per_connection: args
            .max_buffered_per_connection
            .unwrap_or(args.max_message.saturating_add(256 * 1024)),
        frame_deadline: Duration::from_secs(args.frame_deadline),
        frame_min_rate: args.frame_min_rate,
    };
    config.buffer = asked.effective(args.max_message);
    if config.buffer != asked {
        tracing::warn!(
            max_buffered = config.buffer.max_buffered,
            max_buffered_per_connection = config.buffer.max_buffered_per_connection,
            frame_min_rate = config.buffer.frame_min_rate,
            "buffer limits raised so that a message of --max-message bytes always fits"
        );
    }
    config.limits.automerge = budget(args.automerge_budget);
    if let Some(n) = args.apply_workers {
        config.apply_workers = n.max(1);
    }
    let backend_stop = CancellationToken::new();
    let _stop_backend = backend_stop.clone().drop_guard();
    if redis_backend::is_redis_url(&args.backend) {
        let target = redis_backend::Target::parse(&args.backend).map_err(|e| {
            anyhow::anyhow!(
                "bad --backend {}: {e}",
                redis_backend::redacted(&args.backend)
            )
        })?;
        let certs = redis_backend::certificates(&target, args.redis_ca.as_deref())
            .map_err(anyhow::Error::msg)?;
        let settings = redis_backend::Settings {
            compact_after: args.redis_compact_after.max(1),
            grace: Duration::from_millis(args.redis_grace_ms),
            budget: budget(args.automerge_budget),
            ..Default::default()
        };
        let backend =
            redis_backend::RedisBackend::connect(&args.backend, certs, settings, backend_stop)
                .await
                .map_err(anyhow::Error::msg)?;
        config.backend = Some(Arc::new(backend));
    }
    let repo = Repo::start(config);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    tracing::info!(address = %listener.local_addr()?, "gapmap-relay listening ({scheme}://)");
    let server_config = ServerConfig {
        max_connections: args.max_connections,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        tls,
    };
    let router = sync_routes(repo.clone(), auth, None);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        server_config,
        router,
        repo.tracker().clone(),
        shutdown.clone(),
    ));
    signals(&args, &repo, token_auth.as_deref(), shutdown.clone()).await?;
    // The listener stops accepting (the signal cancelled `shutdown`); then the
    // repo closes every websocket and waits for the stores already under
    // way, so everything the relay acknowledged is on disk. `serve` waits
    // on the repo's tracker too, so it ends with it. The bound is for a peer
    // that stops reading while we send it our close.
    tracing::info!("draining connections");
    let drained = async {
        repo.shutdown().await;
        let _ = server.await;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT (then returns: drain and exit); re-reads the
/// tokens file on SIGHUP.
async fn signals(
    args: &RunArgs,
    repo: &Repo,
    auth: Option<&TokenAuth>,
    shutdown: CancellationToken,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(args, repo, auth),
            expired = next_expiry(auth) => if expired {
                // Connections made with the token close now, as on a SIGHUP
                // that removed it.
                tracing::info!("a token expired: closing its connections");
                repo.reauthorize();
            },
        }
    }
    shutdown.cancel();
    Ok(())
}

/// Waits until the next token expiry (true), or an hour, to look again
/// after a wall-clock change (false). Never returns without tokens.
async fn next_expiry(auth: Option<&TokenAuth>) -> bool {
    const AT_MOST: Duration = Duration::from_secs(3600);
    let now = SystemTime::now();
    let next = auth.and_then(|a| {
        a.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .next_expiry(now)
    });
    let Some(at) = next else {
        return std::future::pending().await;
    };
    let wait = at.duration_since(now).unwrap_or_default();
    tokio::time::sleep(wait.min(AT_MOST)).await;
    wait <= AT_MOST
}

fn reload(args: &RunArgs, repo: &Repo, auth: Option<&TokenAuth>) {
    let (Some(path), Some(auth)) = (&args.tokens, auth) else {
        tracing::info!("SIGHUP: no tokens file to re-read (--open)");
        return;
    };
    // The authorizer given to the routes holds the tokens; swap them in place.
    match Tokens::load(path) {
        Ok(tokens) => {
            tracing::info!(path = %path.display(), tokens = tokens.len(), "SIGHUP: tokens re-read");
            *auth.tokens.write().unwrap_or_else(|e| e.into_inner()) = tokens;
            repo.reauthorize();
        }
        Err(err) => tracing::error!(%err, "SIGHUP: keeping the previous tokens"),
    }
}
