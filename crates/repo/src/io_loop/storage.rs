//! Carrying out the engine's loads and stores on the backend, retried
//! while it cannot be reached.

use std::sync::Arc;
use std::time::Duration;

use gapmap_proto::DocumentId;
use gapmap_store::DocMeta;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Command;
use crate::backend::{Backend, BackendError};

/// Reads a document for the engine. A backend that is unreachable is asked
/// again (100 ms apart, up to 5 s apart) until it answers or the repo shuts
/// down — a shared storage that is down must not pass for one without the
/// document; any other failure counts as "absent", as it always has.
pub(super) async fn load_until_read(
    backend: Arc<dyn Backend>,
    id: DocumentId,
    commands: mpsc::UnboundedSender<Command>,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    let doc = loop {
        match backend.load(id).await {
            Ok(doc) => break doc.map(Box::new),
            Err(BackendError::Stopped) => return,
            Err(err) if err.is_unavailable() => {
                tracing::debug!(%id, %err, "cannot load document yet; retrying");
            }
            Err(err) => {
                tracing::error!(%id, %err, "cannot load document; treating it as absent");
                break None;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    let _ = commands.send(Command::Loaded { id, doc });
}

/// Writes changes the engine asked to make durable, and reports when they
/// are. A write that fails (a full disk, an I/O error) is tried again, from
/// 100 ms apart up to 5 s apart, until it succeeds or the repo shuts down:
/// until then the engine holds the changes in memory and advertises none of
/// that document's heads, so no peer counts on them, and without the
/// retries the document would stay stuck until a restart.
pub(super) async fn store_until_durable(
    backend: Arc<dyn Backend>,
    persist: gapmap_proto::Persist,
    meta: DocMeta,
    commands: mpsc::UnboundedSender<Command>,
    shutdown: CancellationToken,
) {
    let id = persist.document_id;
    let persist = Arc::new(persist);
    let mut delay = Duration::from_millis(100);
    for attempt in 1u32.. {
        let saved = backend.append(persist.clone(), meta.clone()).await;
        match saved {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(%id, attempt, "changes stored after earlier failures");
                }
                let heads = persist.heads.clone();
                let _ = commands.send(Command::Persisted { id, heads });
                return;
            }
            Err(BackendError::Stopped) => return, // the runtime is shutting down
            Err(err) if attempt == 1 => {
                tracing::error!(%id, %err, "cannot store changes; retrying until it works")
            }
            Err(err) => tracing::debug!(%id, %err, attempt, "cannot store changes"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
