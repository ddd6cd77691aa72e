//! The running gapmap engine: a [`Repo`] owns a [`gapmap_store::Store`] and
//! drives [`gapmap_proto::Engine`] over real websocket connections.
//!
//! gapmap-proto decides *what* to do (it is a pure state machine); this crate
//! carries it out with tokio — reading frames from sockets, writing the
//! messages the engine returns, loading and storing documents on blocking
//! threads and reporting back when they are durable. It is to gapmap-proto
//! what samod's `io_loop` is to samod-core.
//!
//! - [`Repo`]: the engine loop and the handle the application talks to
//!   (read a document, commit a local change, subscribe to changes, accept
//!   or dial connections, sync once with a remote).
//! - [`server`]: the listener shared by `gapmap-relay`, `gapmap serve` and
//!   `gapmap ui` (HTTP routes, websocket upgrade, TLS, connection limits).
//! - [`client`]: dialing a remote with a token; reconnect backoff.
//! - [`backend`]: where documents live — the embedded store, or a storage
//!   shared by several relay instances that also fans changes out.
//! - [`metrics`]: the figures behind `/metrics`.
//!
//! # Example: two repos sync through a relay, all in-process
//!
//! ```no_run
//! # async fn example() -> Result<(), gapmap_repo::Error> {
//! use gapmap_repo::{Repo, RepoConfig};
//! let store = gapmap_store::Store::open(std::path::Path::new("/tmp/a"))?;
//! let repo = Repo::start(RepoConfig::new(store, "alice-laptop"));
//! let report = repo.sync_with("ws://127.0.0.1:8080", None, None).await?;
//! println!("{} documents in sync", report.documents.len());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod backend;
mod budget;
pub mod client;
mod connection;
mod io_loop;
pub mod metrics;
mod rate;
mod reader;
mod repo;
pub mod routes;
pub mod server;

pub use budget::BufferLimits;
pub use gapmap_proto::{Access, Credential, DocumentId, Limits, Notice, Persist};
pub use rate::RateLimit;
pub use repo::{Describe, Progress, Reauth, Repo, RepoConfig, RepoEvent, SyncOutcome, SyncReport};

/// What can go wrong in the engine, as one line each.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] gapmap_store::StoreError),
    /// The document storage failed.
    #[error(transparent)]
    Backend(#[from] backend::BackendError),
    /// A remote URL that cannot be dialled.
    #[error("bad remote URL {0}")]
    BadUrl(String),
    /// Nobody answered, or the connection broke.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The remote refused our token.
    #[error("{0}")]
    Unauthorized(String),
    /// The remote closed the connection or reported an error.
    #[error("{0}")]
    Remote(String),
    /// The remote does not have a document we asked for.
    #[error("the remote does not have document {0}")]
    Unavailable(String),
    /// The remote did not finish in time.
    #[error("{0}")]
    Timeout(String),
    /// A document we hold could not be used.
    #[error("document {id}: {reason}")]
    Document {
        /// The document.
        id: String,
        /// Why.
        reason: String,
    },
    /// TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The engine loop has stopped (the process is shutting down).
    #[error("the gapmap engine has stopped")]
    Stopped,
}
