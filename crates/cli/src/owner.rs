//! One store, one owner (DESIGN §4).
//!
//! sled lets one process open a store. A long-running command (`ui`,
//! `serve`, `sync --watch`) owns it and listens on `owner.sock` in the store
//! directory; any other `gapmap` command on that store sends its parsed
//! command line there and the owner carries it out against its live
//! documents, streaming back stdout, stderr and the exit code.
//!
//! The socket is `0600` inside the `0700` store directory, and the owner
//! checks who connects (`SO_PEERCRED`): a process of another user gets an
//! error and nothing runs. A client must send its request line within
//! [`REQUEST_TIMEOUT`] or it is dropped.
//!
//! Wire format, both ways over a Unix stream socket:
//! request: one JSON line `{"cli": …, "term": …}`;
//! reply: frames `[kind u8][len u32 BE][bytes]`, kind 1 = stdout, 2 = stderr,
//! 3 = exit code (one byte), last.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream as AsyncUnixStream};
use tokio_util::sync::CancellationToken;

use crate::args::Cli;
use crate::commands::{self, Term};
use crate::context::Docs;

/// The socket's file name inside the store directory.
const SOCKET: &str = "owner.sock";
/// A request larger than this is not a command line.
const MAX_REQUEST: u64 = 1 << 20;
/// How long a client has to send its request line: `forward` sends it at
/// once, so only a stuck or hostile client is ever this slow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXIT: u8 = 3;

#[derive(Serialize, Deserialize)]
struct Request {
    cli: Cli,
    term: Term,
}

fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET)
}

/// Sends `cli` to the store's owner and relays its output. `Ok(None)` means
/// no owner is listening (the store is held by a short command).
pub fn forward(home: &Path, cli: &Cli, term: Term) -> Result<Option<u8>> {
    let mut stream = match UnixStream::connect(socket_path(home)) {
        Ok(stream) => stream,
        Err(_) => return Ok(None),
    };
    let mut line = serde_json::to_vec(&RequestRef { cli, term })?;
    line.push(b'\n');
    // A failed send is not the end: an owner that refuses us answers
    // without reading, and its answer is what to show. (Socket errors are
    // flattened to text: main takes a broken pipe on stdout for success.)
    let sent = stream.write_all(&line);
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    loop {
        let mut head = [0u8; 5];
        if let Err(e) = stream.read_exact(&mut head) {
            match &sent {
                Err(send) => anyhow::bail!(
                    "cannot send the command to the gapmap process that owns the store: {send}"
                ),
                Ok(()) => anyhow::bail!(
                    "the gapmap process that owns the store stopped before answering: {e}"
                ),
            }
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).map_err(|e| {
            anyhow::anyhow!("the gapmap process that owns the store stopped mid-answer: {e}")
        })?;
        match head[0] {
            STDOUT => stdout.write_all(&body)?,
            STDERR => stderr.write_all(&body)?,
            EXIT => {
                stdout.flush()?;
                return Ok(Some(body.first().copied().unwrap_or(1)));
            }
            other => anyhow::bail!("unexpected reply kind {other} from the store's owner"),
        }
    }
}

/// Borrowing twin of [`Request`] for sending.
#[derive(Serialize)]
struct RequestRef<'a> {
    cli: &'a Cli,
    term: Term,
}

/// Listens on the store's owner socket until `shutdown`, carrying out each
/// command against `docs`, one at a time. The caller must already own the
/// store (hold its lock), so any socket file found is stale and is replaced.
pub async fn serve_owner(
    home: PathBuf,
    docs: Arc<dyn Docs>,
    turn: Arc<Mutex<()>>,
    shutdown: CancellationToken,
) -> Result<()> {
    let path = socket_path(&home);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    let _cleanup = RemoveOnDrop(path.clone());
    // bind creates it with the umask; the 0700 directory already keeps
    // others out, this is the second fence.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    // Commands run one at a time, as they would from a shell, and never
    // beside a board page's change: `turn` is the documents' one turn.
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "owner socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (docs, turn) = (docs.clone(), turn.clone());
        tokio::spawn(async move {
            if let Err(err) = handle(stream, docs, turn).await {
                tracing::debug!(%err, "owner socket client");
            }
        });
    }
}

async fn handle(stream: AsyncUnixStream, docs: Arc<dyn Docs>, turn: Arc<Mutex<()>>) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let ours = unsafe { libc::geteuid() };
    let theirs = stream.peer_cred().map(|c| c.uid()).ok();
    let (read, mut write) = stream.into_split();
    if theirs != Some(ours) {
        tracing::warn!(uid = ?theirs, "refused a command from another user on the owner socket");
        let message = format!(
            "gapmap: this store belongs to another user (uid {ours}); its owner process does not run commands for uid {}\n",
            theirs.map_or("unknown".to_string(), |u| u.to_string())
        );
        // Read what it sends first (bounded), so that its write does not
        // meet a closed socket before it can read our answer.
        let mut sink = Vec::new();
        let mut reader = BufReader::new(read.take(MAX_REQUEST));
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut sink)).await;
        return reply(&mut write, Vec::new(), message.into_bytes(), 1).await;
    }
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let read_line = reader.read_until(b'\n', &mut line);
    match tokio::time::timeout(REQUEST_TIMEOUT, read_line).await {
        Ok(read) => drop(read?),
        Err(_) => anyhow::bail!("no request within {REQUEST_TIMEOUT:?}: dropped"),
    }
    let (stdout, stderr, code) = match serde_json::from_slice::<Request>(&line) {
        Ok(request) => {
            tokio::task::spawn_blocking(move || {
                let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
                let mut out = Vec::new();
                match commands::run(request.cli, docs, request.term, &mut out) {
                    Ok(()) => (out, Vec::new(), 0u8),
                    Err(err) => (out, format!("gapmap: {err:#}\n").into_bytes(), 1u8),
                }
            })
            .await?
        }
        Err(err) => (
            Vec::new(),
            format!("gapmap: the store's owner could not read the command ({err}); are both gapmap the same version?\n").into_bytes(),
            2u8,
        ),
    };
    reply(&mut write, stdout, stderr, code).await
}

/// Sends the reply frames: stdout, stderr, then the exit code.
async fn reply(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: u8,
) -> Result<()> {
    for (kind, body) in [(STDOUT, stdout), (STDERR, stderr), (EXIT, vec![code])] {
        if kind != EXIT && body.is_empty() {
            continue;
        }
        write.write_u8(kind).await?;
        write.write_u32(body.len() as u32).await?;
        write.write_all(&body).await?;
    }
    write.flush().await?;
    Ok(())
}

/// Removes the socket file when the owner stops.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
