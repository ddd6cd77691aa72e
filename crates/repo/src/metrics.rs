//! Counters for `/metrics`, rendered in the Prometheus text format.
//!
//! Plain atomics: the hot path only increments, and rendering reads them
//! without locks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds, in seconds, of the sync latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Why a connection was closed or a message refused, for the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No or a wrong token at the upgrade.
    Unauthorized,
    /// A frame that is not a protocol message.
    Malformed,
    /// A frame larger than the maximum message size.
    Oversized,
    /// Too many documents on one connection.
    TooManyDocuments,
    /// Idle, or never finished the handshake.
    Timeout,
    /// A read-only peer sent changes.
    ReadOnly,
    /// The peer did not read what we sent fast enough.
    SlowReader,
    /// Too many messages too fast.
    RateLimited,
    /// Changes sent while the shared storage (Redis) was unreachable.
    StorageUnavailable,
    /// A message that did not finish arriving within its deadline.
    SlowMessage,
    /// Reading a connection paused: the incoming buffer budget was spent
    /// (one per pause).
    BufferFull,
    /// A join with a peer id that a connection with other credentials holds.
    PeerIdInUse,
}

impl Refusal {
    const ALL: [Refusal; 12] = [
        Refusal::Unauthorized,
        Refusal::Malformed,
        Refusal::Oversized,
        Refusal::TooManyDocuments,
        Refusal::Timeout,
        Refusal::ReadOnly,
        Refusal::SlowReader,
        Refusal::RateLimited,
        Refusal::StorageUnavailable,
        Refusal::SlowMessage,
        Refusal::BufferFull,
        Refusal::PeerIdInUse,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Malformed => "malformed",
            Refusal::Oversized => "oversized",
            Refusal::TooManyDocuments => "too_many_documents",
            Refusal::Timeout => "timeout",
            Refusal::ReadOnly => "read_only",
            Refusal::SlowReader => "slow_reader",
            Refusal::RateLimited => "rate_limited",
            Refusal::StorageUnavailable => "storage_unavailable",
            Refusal::SlowMessage => "slow_message",
            Refusal::BufferFull => "buffer_full",
            Refusal::PeerIdInUse => "peer_id_in_use",
        }
    }
}

/// Every figure `/metrics` reports.
#[derive(Default)]
pub struct Metrics {
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    documents_loaded: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    refusals: [AtomicU64; 12],
    /// Bytes of incoming messages held now (read, not yet handled).
    buffered: AtomicU64,
    /// Whether the document storage takes writes (0 while a shared
    /// storage such as Redis is unreachable).
    storage_down: std::sync::atomic::AtomicBool,
    latency_buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// A websocket connection opened.
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// A websocket connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// The number of documents held in memory now.
    pub fn set_documents_loaded(&self, n: usize) {
        self.documents_loaded.store(n as u64, Relaxed);
    }

    /// A message of `bytes` arrived.
    pub fn message_in(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    /// A message of `bytes` was sent.
    pub fn message_out(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    /// Something was refused.
    pub fn refused(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).expect("listed");
        self.refusals[i].fetch_add(1, Relaxed);
    }

    /// How many times `why` was refused so far.
    pub fn refusals(&self, why: Refusal) -> u64 {
        let i = Refusal::ALL.iter().position(|r| *r == why).expect("listed");
        self.refusals[i].load(Relaxed)
    }

    /// The document storage went down (`false`) or came back (`true`).
    pub fn set_storage_up(&self, up: bool) {
        self.storage_down.store(!up, Relaxed);
    }

    /// `bytes` more of incoming messages are held.
    pub fn buffered_more(&self, bytes: usize) {
        self.buffered.fetch_add(bytes as u64, Relaxed);
    }

    /// `bytes` fewer of incoming messages are held.
    pub fn buffered_less(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes as u64, Relaxed);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.connections_open.load(Relaxed)
    }

    /// Time from a sync message's arrival to our answers being sent.
    pub fn observe_sync_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition of every figure.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut simple = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        simple(
            "gapmap_connections_total",
            "counter",
            "Websocket connections accepted.",
            self.connections_total.load(Relaxed),
        );
        simple(
            "gapmap_connections_open",
            "gauge",
            "Websocket connections open now.",
            self.connections_open.load(Relaxed),
        );
        simple(
            "gapmap_documents_loaded",
            "gauge",
            "Documents held in memory.",
            self.documents_loaded.load(Relaxed),
        );
        simple(
            "gapmap_messages_in_total",
            "counter",
            "Protocol messages received.",
            self.messages_in.load(Relaxed),
        );
        simple(
            "gapmap_messages_out_total",
            "counter",
            "Protocol messages sent.",
            self.messages_out.load(Relaxed),
        );
        simple(
            "gapmap_bytes_in_total",
            "counter",
            "Bytes of protocol messages received.",
            self.bytes_in.load(Relaxed),
        );
        simple(
            "gapmap_bytes_out_total",
            "counter",
            "Bytes of protocol messages sent.",
            self.bytes_out.load(Relaxed),
        );
        simple(
            "gapmap_buffered_bytes",
            "gauge",
            "Bytes of incoming messages held now: read from sockets, not yet handled.",
            self.buffered.load(Relaxed),
        );
        simple(
            "gapmap_storage_up",
            "gauge",
            "1 while the document storage takes writes, 0 while it is unreachable.",
            u64::from(!self.storage_down.load(Relaxed)),
        );
        let _ = writeln!(
            out,
            "# HELP gapmap_refusals_total Connections closed or messages refused, by reason."
        );
        let _ = writeln!(out, "# TYPE gapmap_refusals_total counter");
        for (i, why) in Refusal::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "gapmap_refusals_total{{reason=\"{}\"}} {}",
                why.label(),
                self.refusals[i].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP gapmap_sync_latency_seconds Time from a sync message's arrival to the answers being sent.");
        let _ = writeln!(out, "# TYPE gapmap_sync_latency_seconds histogram");
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "gapmap_sync_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "gapmap_sync_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "gapmap_sync_latency_seconds_sum {sum}\ngapmap_sync_latency_seconds_count {count}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.connection_opened();
        m.message_in(10);
        m.refused(Refusal::Oversized);
        m.observe_sync_latency(Duration::from_millis(3));
        m.observe_sync_latency(Duration::from_secs(10));
        let text = m.render();
        assert!(text.contains("gapmap_connections_open 1\n"));
        assert!(text.contains("gapmap_bytes_in_total 10\n"));
        assert!(text.contains("gapmap_refusals_total{reason=\"oversized\"} 1\n"));
        assert!(text.contains("gapmap_sync_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("gapmap_sync_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("gapmap_sync_latency_seconds_count 2\n"));
    }
}
