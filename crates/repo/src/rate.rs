//! How fast one accepted connection may send messages: a token bucket.
//!
//! A peer over its rate is not cut off and none of its messages is dropped
//! (Automerge's sync assumes every message arrives): the connection stops
//! reading until the bucket has refilled halfway, so TCP pushes back on the
//! sender and the engine loop — shared by every connection — spends on it
//! no more than the rate. Time is passed in, so the arithmetic is tested
//! without sleeping.

use std::time::{Duration, Instant};

/// Messages per second and burst, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second.
    pub per_second: u32,
    /// Messages that may arrive at once after a quiet spell (a sync of many
    /// documents opens them all together).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 500 messages a second, bursts of 5,000: far above what gapmap or an
    /// automerge-repo client sends (a `gapmap sync` of 1,000 canvases sends
    /// about 3,000 messages, most in its first second), far below what
    /// one connection could make the engine loop do.
    fn default() -> Self {
        RateLimit {
            per_second: 500,
            burst: 5_000,
        }
    }
}

/// The bucket of one connection.
#[derive(Debug)]
pub(crate) struct Bucket {
    limit: RateLimit,
    /// Messages that may still arrive now (negative: owed).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            at: now,
        }
    }

    /// Counts one message that arrived at `now`. `Some(pause)` when the
    /// bucket ran dry: stop reading for that long (until it is half full).
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let rate = f64::from(self.limit.per_second.max(1));
        let burst = f64::from(self.limit.burst.max(1));
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64((burst / 2.0 - self.tokens) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 100,
            burst: 10,
        };
        let mut bucket = Bucket::new(limit, t0);
        for _ in 0..10 {
            assert_eq!(bucket.take(t0), None);
        }
        // The 11th message at once: pause until half the burst is back.
        let pause = bucket.take(t0).expect("over the burst");
        assert!((pause.as_secs_f64() - 0.06).abs() < 1e-9, "{pause:?}");
        // After the pause, half a burst passes again.
        let later = t0 + pause;
        for _ in 0..5 {
            assert_eq!(bucket.take(later), None);
        }
        assert!(bucket.take(later).is_some());
    }

    #[test]
    fn a_steady_sender_under_the_rate_never_waits() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(
            RateLimit {
                per_second: 100,
                burst: 10,
            },
            t0,
        );
        for i in 0..10_000u64 {
            assert_eq!(bucket.take(t0 + Duration::from_millis(11 * i)), None);
        }
    }
}
