//! Unfinished frames against a real `gapmap-relay`: joined connections that
//! start a large frame and never finish it. The relay's memory must stay
//! within its incoming budget (`--max-buffered`), honest peers must keep
//! syncing (their round trips are measured and printed, `--nocapture`), and
//! every staller must be closed by the message deadline (`--frame-deadline`),
//! so that they cannot hold `--max-connections` either.
//!
//! `GAPMAP_STALL_CONNECTIONS` (default 200) stallers each send all but the
//! last byte of a frame of `GAPMAP_STALL_BYTES` (default 1 MiB); the long
//! form of docs/reliability.md is 300 × 8388608.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::abuse::{assert_served, baseline, refusals, rss_kib, Honest};
use crate::relay::harness::{Got, Peer, Relay, Replica, Until, PATIENCE};
use crate::util::count;

const MIB: usize = 1024 * 1024;

/// The header of a masked binary frame of `len` bytes (mask 0: the payload
/// goes as is).
fn frame_header(len: usize) -> Vec<u8> {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(len as u64).to_be_bytes());
    header.extend_from_slice(&[0; 4]);
    header
}

/// A joined peer that has started a frame and sends it slowly or not at all.
struct Staller {
    peer: Peer,
    /// Bytes of the frame (header included) still to send before it stops.
    left: usize,
}

/// Joins `n` peers; each starts a frame of `size` bytes and sends all of it
/// but the last byte, as far as the relay takes it within `within` (a
/// relay that stops reading leaves the rest in the socket buffers).
fn stall(relay: &Relay, n: usize, size: usize, within: Duration) -> Vec<Staller> {
    let mut stallers: Vec<Staller> = (0..n)
        .map(|i| {
            let mut peer = relay.join(&format!("staller-{i}"), None);
            let header = frame_header(size);
            peer.ws.get_mut().write_all(&header).expect("frame header");
            peer.ws
                .get_ref()
                .tcp()
                .set_write_timeout(Some(Duration::from_millis(1)))
                .unwrap();
            Staller {
                peer,
                left: size - 1,
            }
        })
        .collect();
    let zeros = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && stallers.iter().any(|s| s.left > 0) {
        for s in stallers.iter_mut().filter(|s| s.left > 0) {
            if let Ok(n) = s.peer.ws.get_mut().write(&zeros[..s.left.min(zeros.len())]) {
                s.left -= n;
            }
        }
    }
    stallers
}

/// Waits until the relay has closed every staller; how long it took.
fn wait_closed(stallers: &mut [Staller], patience: Duration) -> Duration {
    let started = Instant::now();
    for (i, s) in stallers.iter_mut().enumerate() {
        let left = patience.saturating_sub(started.elapsed());
        match s.peer.recv(left.max(Duration::from_millis(1))) {
            Got::Closed => {}
            other => panic!(
                "staller #{i} still open after {:?}: {other:?}",
                started.elapsed()
            ),
        }
    }
    started.elapsed()
}

#[test]
fn hundreds_of_unfinished_frames_hold_no_more_than_the_budget() {
    let n = count("GAPMAP_STALL_CONNECTIONS", 200);
    let size = count("GAPMAP_STALL_BYTES", MIB);
    let dir = tempfile::tempdir().unwrap();
    let max_message = size.max(MIB).to_string();
    let budget = 32 * MIB;
    let mut relay = Relay::start(
        dir.path(),
        &[
            "--open",
            "--max-message",
            &max_message,
            "--max-buffered",
            &budget.to_string(),
            "--frame-deadline",
            "3",
            "--frame-min-rate",
            &MIB.to_string(),
        ],
    );
    let before = baseline(&relay);
    let rss_before = rss_kib(&relay);
    let honest = Honest::start(&relay, "honest");
    let started = Instant::now();
    let mut stallers = stall(&relay, n, size, Duration::from_secs(2));
    let stalled_in = started.elapsed();
    let sent: usize = stallers.iter().map(|s| size - 1 - s.left).sum();
    let buffered = relay.metric("gapmap_buffered_bytes");
    let rss_peak = rss_kib(&relay);
    // A newcomer joins and syncs while the stallers hold the budget.
    let joined = Instant::now();
    let mut newcomer = relay.join("newcomer", None);
    Replica::new(Replica::random_id(), "title", "Field notes")
        .sync(&mut newcomer, Until::InSync, PATIENCE)
        .expect("a newcomer syncs during the attack");
    let newcomer_took = joined.elapsed();
    // The honest peer goes on while the stallers still hold the budget
    // (their deadline is 3 s plus 1 s per MiB).
    std::thread::sleep(Duration::from_millis(1500));
    let during = honest.finish();
    wait_closed(&mut stallers, Duration::from_secs(60));
    let closed_after = started.elapsed();
    let growth_mib = rss_peak.saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "{n} stallers × a {size}-byte frame: {:.0} MiB written by them in {stalled_in:.1?}, {:.1} MiB buffered by the relay \
         (budget {} MiB); relay RSS {rss_before} KiB before, {rss_peak} KiB with them ({growth_mib:.0} MiB more); \
         a newcomer joined and synced in {newcomer_took:.1?}; every staller closed {closed_after:.1?} after the first joined; \
         honest peer before: {before}; during: {during}",
        sent as f64 / MIB as f64,
        buffered / MIB as f64,
        budget / MIB
    );
    // Generous: the budget, plus what hundreds of connections cost anyway.
    assert!(
        growth_mib < (budget / MIB + 96) as f64,
        "the relay grew by {growth_mib:.0} MiB holding unfinished frames"
    );
    assert!(buffered <= budget as f64, "{buffered} bytes buffered");
    assert_served(&during, "unfinished frames");
    assert_eq!(refusals(&relay, "slow_message"), n as f64);
    let deadline = Instant::now() + PATIENCE;
    while relay.metric("gapmap_buffered_bytes") > 0.0 {
        assert!(Instant::now() < deadline, "buffered bytes never given back");
        std::thread::sleep(Duration::from_millis(50));
    }
    relay.assert_healthy();
}

#[test]
fn a_connection_stalled_mid_frame_is_closed_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path(), &["--open", "--frame-deadline", "2"]);
    // 64 KiB of a 1 MiB frame, then nothing: closed 2 s after the last byte.
    let mut staller = relay.join("staller", None);
    let stream = staller.ws.get_mut();
    stream.write_all(&frame_header(MIB)).unwrap();
    stream.write_all(&vec![0; 64 * 1024]).unwrap();
    let started = Instant::now();
    staller.expect_closed(PATIENCE);
    let took = started.elapsed();
    // A slow but steady sender (above the minimum rate) is not cut: its
    // 384 KiB frame, sent over ~1.5 s, arrives whole (and, not being a
    // protocol message, gets the engine's `error`).
    let mut slow = relay.join("slow", None);
    let slow_started = Instant::now();
    slow.ws
        .get_mut()
        .write_all(&frame_header(384 * 1024))
        .unwrap();
    for _ in 0..24 {
        slow.ws.get_mut().write_all(&[0xff; 16 * 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    let error = slow.expect_error_and_close();
    eprintln!(
        "a staller holding 64 KiB of a 1 MiB frame was closed {took:.1?} after its last byte \
         (--frame-deadline 2); a steady sender's 384 KiB frame took {:.1?} and arrived whole",
        slow_started.elapsed()
    );
    assert!(took >= Duration::from_secs(2), "closed after only {took:?}");
    assert!(error.contains("invalid message"), "{error}");
    assert_eq!(refusals(&relay, "slow_message"), 1.0);
    relay.assert_healthy();
}

#[test]
fn mid_frame_stallers_hold_max_connections_no_longer_than_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(
        dir.path(),
        &[
            "--open",
            "--max-connections",
            "20",
            "--frame-deadline",
            "2",
            "--frame-min-rate",
            &MIB.to_string(),
        ],
    );
    // Every slot taken by a joined peer sitting in a frame (deadline: 2 s
    // plus 1 s per MiB received).
    let mut stallers = stall(&relay, 20, MIB, Duration::from_millis(200));
    let started = Instant::now();
    // An honest peer's connection waits in the backlog until a slot frees.
    let mut honest = relay.join("honest", None);
    let waited = started.elapsed();
    let mut doc = Replica::new(Replica::random_id(), "title", "Onboarding");
    doc.sync(&mut honest, Until::InSync, PATIENCE)
        .expect("the honest peer syncs once in");
    let closed = wait_closed(&mut stallers, PATIENCE);
    eprintln!(
        "20 stallers on a relay with --max-connections 20 --frame-deadline 2: an honest peer got in after {waited:.1?}, \
         every staller closed after {closed:.1?}"
    );
    assert!(waited < PATIENCE, "waited {waited:?}");
    relay.assert_healthy();
}
