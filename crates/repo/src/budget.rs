//! How many bytes of incoming messages the process holds: one budget shared
//! by every accepted connection, and a share of it per connection.
//!
//! A byte counts from the moment it is read from a socket until the engine
//! loop has handled the message it belongs to (the [`Held`] travelling with
//! the frame is dropped). A connection that cannot take what it needs waits:
//! it is not read from, so TCP pushes back on the sender, and it is woken
//! when bytes are given back. Nothing is dropped (Automerge's sync assumes
//! every message arrives); a peer that holds its share without finishing
//! its message is closed by the message deadline (`reader`), which gives
//! the bytes back.
//!
//! Frames larger than [`SMALL_FRAME`] may fill the budget only up to three
//! quarters: the last quarter stays for small messages, so large messages
//! stalled half-way cannot keep every other peer's edits out.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use crate::metrics::Metrics;

/// A frame up to this size is "small": it may use the whole budget.
pub const SMALL_FRAME: usize = 64 * 1024;

/// Bounds on the incoming bytes of accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Most bytes of incoming messages held at once across all accepted
    /// connections: read from sockets and not yet handled by the engine.
    /// Raised to at least twice the largest message.
    pub max_buffered: usize,
    /// Most such bytes one connection may hold (its message being read plus
    /// those waiting for the engine). Raised to at least the largest message.
    pub max_buffered_per_connection: usize,
    /// How long a message under way may go without a byte arriving, and
    /// how long it may take in all ...
    pub frame_deadline: Duration,
    /// ... plus one second per this many bytes of it received (the slowest
    /// upload rate an honest peer is allowed).
    pub frame_min_rate: u64,
}

impl BufferLimits {
    /// 64 MiB in all, the largest message plus 256 KiB per connection; a
    /// message may pause 10 s and take 10 s plus one second per 128 KiB.
    pub fn for_max_message(max_message: usize) -> BufferLimits {
        BufferLimits {
            max_buffered: 64 * 1024 * 1024,
            max_buffered_per_connection: max_message.saturating_add(256 * 1024),
            frame_deadline: Duration::from_secs(10),
            frame_min_rate: 128 * 1024,
        }
    }

    /// The limits actually applied for messages of up to `max_message`
    /// bytes: a message that fits the size limit always fits the budget.
    pub fn effective(&self, max_message: usize) -> BufferLimits {
        // A frame's header and the read-ahead buffer come on top of it.
        let one = max_message.saturating_add(crate::reader::READ_AHEAD + 16);
        BufferLimits {
            max_buffered: self.max_buffered.max(one.saturating_mul(2)),
            max_buffered_per_connection: self.max_buffered_per_connection.max(one),
            frame_deadline: self.frame_deadline,
            frame_min_rate: self.frame_min_rate.max(1),
        }
    }
}

/// The budget shared by every accepted connection.
pub(crate) struct Budget {
    limit: usize,
    /// What frames over [`SMALL_FRAME`] may fill.
    large_limit: usize,
    per_connection: usize,
    used: AtomicUsize,
    /// Connections waiting for bytes to be given back.
    waiters: Mutex<Vec<Waker>>,
    /// Whether `waiters` may hold any: most give-backs find none and
    /// should not take the lock.
    anyone_waiting: AtomicBool,
    /// Whether running out was logged; cleared once half is free again.
    spent_logged: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Budget {
    /// A budget with the (effective) `limits`.
    pub fn new(limits: &BufferLimits, metrics: Arc<Metrics>) -> Arc<Budget> {
        Arc::new(Budget {
            limit: limits.max_buffered,
            large_limit: limits.max_buffered - limits.max_buffered / 4,
            per_connection: limits.max_buffered_per_connection,
            used: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
            anyone_waiting: AtomicBool::new(false),
            spent_logged: AtomicBool::new(false),
            metrics,
        })
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes for a connection holding `conn_held` already, all or
    /// nothing; `large` for bytes of a frame over [`SMALL_FRAME`].
    fn try_take(&self, n: usize, large: bool, conn_held: usize) -> bool {
        if conn_held.saturating_add(n) > self.per_connection {
            return false;
        }
        let cap = if large { self.large_limit } else { self.limit };
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used.saturating_add(n) <= cap).then_some(used + n)
            });
        match taken {
            Ok(_) => {
                self.metrics.buffered_more(n);
                true
            }
            Err(_) => false,
        }
    }

    fn give_back(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.used.fetch_sub(n, Ordering::SeqCst);
        self.metrics.buffered_less(n);
        if before - n < self.limit / 2 {
            self.spent_logged.store(false, Ordering::Relaxed);
        }
        // A waiter sets the flag before it tries again (SeqCst both
        // sides), so either it sees these bytes or this sees the flag.
        if !self.anyone_waiting.swap(false, Ordering::SeqCst) {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiters {
            waker.wake();
        }
    }

    fn wait(&self, waker: &Waker) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        self.anyone_waiting.store(true, Ordering::SeqCst);
    }
}

/// One connection's share of the budget.
pub(crate) struct Account {
    budget: Arc<Budget>,
    /// Bytes this connection holds, including messages handed to the
    /// engine and not handled yet (their [`Held`] counts down here too).
    held: Arc<AtomicUsize>,
}

impl Account {
    pub fn new(budget: Arc<Budget>) -> Account {
        Account {
            budget,
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes `n` bytes, or registers `waker` to be woken when bytes are
    /// given back and returns false.
    pub fn take_or_wait(&self, n: usize, large: bool, waker: &Waker) -> bool {
        if self.take(n, large) {
            return true;
        }
        self.budget.wait(waker);
        // Bytes given back between the first try and the registration
        // would have woken nobody: try once more.
        self.take(n, large)
    }

    fn take(&self, n: usize, large: bool) -> bool {
        let ok = self
            .budget
            .try_take(n, large, self.held.load(Ordering::Acquire));
        if ok {
            self.held.fetch_add(n, Ordering::AcqRel);
        }
        ok
    }

    /// Whether `n` small bytes would fit now; if not, registers `waker`
    /// like [`Account::take_or_wait`]. Takes nothing: for a read whose size
    /// is known only after it, followed by [`Account::take_read`].
    pub fn room_or_wait(&self, n: usize, waker: &Waker) -> bool {
        if self.has_room(n) {
            return true;
        }
        self.budget.wait(waker);
        self.has_room(n)
    }

    fn has_room(&self, n: usize) -> bool {
        self.held.load(Ordering::Acquire).saturating_add(n) <= self.budget.per_connection
            && self.budget.used.load(Ordering::SeqCst).saturating_add(n) <= self.budget.limit
    }

    /// Counts `n` bytes just read after [`Account::room_or_wait`] said they
    /// fit. (Connections read at the same moment may together pass the
    /// limit by one read each: a few kilobytes.)
    pub fn take_read(&self, n: usize) {
        if n > 0 {
            self.held.fetch_add(n, Ordering::AcqRel);
            self.budget.used.fetch_add(n, Ordering::SeqCst);
            self.budget.metrics.buffered_more(n);
        }
    }

    /// Whether `n` more bytes would pass this connection's share (rather
    /// than the shared budget).
    pub fn own_share_spent(&self, n: usize) -> bool {
        self.held.load(Ordering::Acquire).saturating_add(n) > self.budget.per_connection
    }

    /// True for the first caller since the shared budget was last half free.
    pub fn first_to_find_it_spent(&self) -> bool {
        !self.budget.spent_logged.swap(true, Ordering::Relaxed)
    }

    /// Gives back `n` of the bytes this connection took.
    pub fn give_back(&self, n: usize) {
        if n > 0 {
            self.held.fetch_sub(n, Ordering::AcqRel);
            self.budget.give_back(n);
        }
    }

    /// Hands `n` of the bytes this connection took to a message: they are
    /// given back when the [`Held`] is dropped.
    pub fn hold(&self, n: usize) -> Held {
        Held(Some(HeldInner {
            budget: self.budget.clone(),
            conn: self.held.clone(),
            bytes: n,
        }))
    }
}

/// Bytes of one message counted against the budget until dropped.
#[must_use = "dropping it gives the bytes back at once"]
pub struct Held(Option<HeldInner>);

struct HeldInner {
    budget: Arc<Budget>,
    conn: Arc<AtomicUsize>,
    bytes: usize,
}

impl Held {
    /// Counts nothing (a connection outside the budget: one we dialed).
    pub fn none() -> Held {
        Held(None)
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({})", self.0.as_ref().map_or(0, |h| h.bytes))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.conn.fetch_sub(h.bytes, Ordering::AcqRel);
            h.budget.give_back(h.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn budget(total: usize, per_connection: usize) -> Arc<Budget> {
        Budget::new(
            &BufferLimits {
                max_buffered: total,
                max_buffered_per_connection: per_connection,
                frame_deadline: Duration::from_secs(1),
                frame_min_rate: 1,
            },
            Arc::new(Metrics::default()),
        )
    }

    #[test]
    fn large_frames_leave_a_quarter_for_small_ones() {
        let b = budget(1000, 1000);
        let (x, y) = (Account::new(b.clone()), Account::new(b.clone()));
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        assert!(x.take_or_wait(700, true, &waker));
        assert!(!y.take_or_wait(100, true, &waker), "over three quarters");
        assert!(y.take_or_wait(300, false, &waker), "small ones still fit");
        assert!(
            !y.take_or_wait(1, false, &waker),
            "the whole budget is spent"
        );
        assert_eq!(b.used(), 1000);
        // Giving back wakes the waiters.
        assert!(!flag.0.load(Ordering::SeqCst));
        let held = x.hold(700);
        drop(held);
        assert!(flag.0.load(Ordering::SeqCst));
        assert_eq!(b.used(), 300);
        y.give_back(300);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn one_connection_takes_at_most_its_share() {
        let b = budget(1000, 400);
        let x = Account::new(b.clone());
        let waker = Waker::from(Arc::new(Flag(false.into())));
        assert!(x.take_or_wait(400, false, &waker));
        // Its message waits for the engine: nothing more until it is handled.
        let in_engine = x.hold(400);
        assert!(!x.take_or_wait(1, false, &waker));
        drop(in_engine);
        assert!(x.take_or_wait(400, false, &waker));
        assert!(Account::new(b.clone()).take_or_wait(400, false, &waker));
    }

    #[test]
    fn the_limits_always_fit_the_largest_message() {
        let limits = BufferLimits {
            max_buffered: 1,
            max_buffered_per_connection: 1,
            frame_deadline: Duration::from_secs(1),
            frame_min_rate: 0,
        }
        .effective(1 << 20);
        assert!(limits.max_buffered - limits.max_buffered / 4 > 1 << 20);
        assert!(limits.max_buffered_per_connection > 1 << 20);
        assert_eq!(limits.frame_min_rate, 1);
    }
}
