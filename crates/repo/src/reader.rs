//! Reading the websocket frames of an accepted connection, with bounded
//! memory and a deadline.
//!
//! tungstenite reserves a whole frame's declared length as soon as it has
//! read the header, and keeps that buffer for as long as the connection
//! lives, even after the message was handed out (measured: 30 connections
//! that had each sent one complete 7 MiB message kept 210 MB). So frames
//! from peers are read here instead, and tungstenite only writes:
//!
//! - a frame's payload is counted against the [`Budget`](crate::budget)
//!   when its header arrives, all or nothing; a connection that does not
//!   fit waits (it is not read from, TCP pushes back);
//! - the message grows only as its bytes arrive and leaves with them: the
//!   connection keeps nothing but a [`READ_AHEAD`] buffer;
//! - once the first byte of a frame has arrived, the connection is closed
//!   when no byte of the message arrives for [`BufferLimits::frame_deadline`],
//!   or when the whole has not arrived within that plus one second per
//!   [`BufferLimits::frame_min_rate`] bytes received. The clock runs while the connection waits for the budget too:
//!   otherwise peers stalled behind other stallers would hold their
//!   connection slots for ever. Messages up to [`SMALL_FRAME`] have a share
//!   of the budget large ones cannot take, so they do not wait on large
//!   stallers; a large message may, and is then cut at its deadline like
//!   theirs.
//!
//! The frame rules are RFC 6455's for a server without extensions, as
//! tungstenite applies them: frames from a client are masked, reserved bits
//! are zero, control frames are short and unfragmented, continuation frames
//! continue a message.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::budget::{Account, BufferLimits, Held, SMALL_FRAME};
use crate::metrics::{Metrics, Refusal};

/// Bytes read from the socket at once for frame headers and small frames.
pub const READ_AHEAD: usize = 4096;

/// What came in.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A binary or text message, and its bytes' hold on the budget.
    Data(Vec<u8>, Held),
    /// A ping: answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// The peer closed the connection, with its reason if it gave one.
    Close(Option<String>),
    /// Nothing to act on (a pong; a ping tungstenite already answered).
    Other,
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// A message over the size limit.
    #[error("message of {size} bytes is over the limit of {max}")]
    TooLarge { size: u64, max: usize },
    /// A message that did not arrive within its deadline.
    #[error("message unfinished after {took:.1?} ({received} bytes received)")]
    TooSlow { took: Duration, received: u64 },
    /// A frame that breaks RFC 6455.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// tungstenite's error, on a connection we dialed.
    #[error(transparent)]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
}

/// One frame being read.
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
    /// Payload bytes read so far.
    read: usize,
    /// Whether its payload is counted against the budget yet.
    counted: bool,
}

impl Frame {
    fn is_control(&self) -> bool {
        self.opcode >= 8
    }
}

/// Frames in, [`Incoming`] out; see the module documentation.
pub(crate) struct FrameReader<R> {
    io: R,
    account: Account,
    limits: BufferLimits,
    max_message: usize,
    metrics: Arc<Metrics>,
    /// Bytes read and not consumed yet, `ahead[start..end]`; counted.
    ahead: Box<[u8; READ_AHEAD]>,
    start: usize,
    end: usize,
    /// A frame header being gathered.
    header: [u8; 14],
    header_len: usize,
    frame: Option<Frame>,
    /// The data message being assembled, and how many of its bytes are
    /// counted (all of its frames' payloads).
    message: Option<(Vec<u8>, usize)>,
    /// The payload of a control frame being read.
    control: Vec<u8>,
    /// When the first byte of the frame or message under way was seen.
    started: Option<Instant>,
    /// Its bytes received so far (headers and payloads).
    received: u64,
    /// When bytes last came from the socket while it was under way.
    heard: Instant,
    /// Whether this reader waits for the budget (each pause is counted).
    waiting: bool,
    logged_full: bool,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(
        io: R,
        account: Account,
        limits: BufferLimits,
        max_message: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        FrameReader {
            io,
            account,
            limits,
            max_message,
            metrics,
            ahead: Box::new([0; READ_AHEAD]),
            start: 0,
            end: 0,
            header: [0; 14],
            header_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            started: None,
            received: 0,
            heard: Instant::now(),
            waiting: false,
            logged_full: false,
            deadline: None,
            done: false,
        }
    }

    /// Gives back every byte this reader counts; it reads no more.
    fn release(&mut self) {
        self.give_back_all();
        self.done = true;
    }

    /// Nothing under way and nothing read ahead.
    fn idle(&self) -> bool {
        self.start == self.end
            && self.header_len == 0
            && self.frame.is_none()
            && self.message.is_none()
    }

    /// When the message under way must be complete; `None` when none is.
    fn deadline_at(&self) -> Option<Instant> {
        let started = self.started?;
        let extra = self.received as f64 / self.limits.frame_min_rate as f64;
        let whole = started + self.limits.frame_deadline + Duration::from_secs_f64(extra.min(1e6));
        Some(whole.min(self.heard + self.limits.frame_deadline))
    }

    /// Waits for the budget: counted once per pause; logged once while the
    /// shared budget stays spent, or once per connection (debug) when its
    /// own share is (its earlier messages still wait for the engine).
    fn start_waiting(&mut self, wanted: usize) {
        if !std::mem::replace(&mut self.waiting, true) {
            self.metrics.refused(Refusal::BufferFull);
            if self.account.own_share_spent(wanted) {
                if !std::mem::replace(&mut self.logged_full, true) {
                    tracing::debug!("a connection's share of the incoming buffer budget is spent; reading it paused (logged once per connection)");
                }
            } else if self.account.first_to_find_it_spent() {
                tracing::info!("the incoming buffer budget (--max-buffered) is spent; connections are read again as bytes are given back (logged once until half of it is free)");
            }
        }
    }

    fn stop_waiting(&mut self) {
        self.waiting = false;
    }

    /// One step. `Ready(Some(..))`: something to hand out; `Ready(None)`:
    /// progress, go on; `Pending`: waiting for the socket or the budget.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        if self.started.is_none() && !self.idle() {
            self.started = Some(Instant::now());
            self.heard = Instant::now();
            self.received = 0;
        }
        let Some(frame) = self.frame.as_mut() else {
            return self.step_header(cx);
        };
        if !frame.counted {
            let large = !frame.is_control()
                && frame.len + self.message.as_ref().map_or(0, |m| m.0.len()) > SMALL_FRAME;
            let (len, waker) = (frame.len, cx.waker());
            if !self.account.take_or_wait(len, large, waker) {
                self.start_waiting(len);
                return Poll::Pending;
            }
            self.stop_waiting();
            let frame = self.frame.as_mut().expect("a frame");
            frame.counted = true;
            if !frame.is_control() {
                let message = self.message.get_or_insert_with(|| (Vec::new(), 0));
                message.1 += len;
            }
            return Poll::Ready(None);
        }
        if frame.read == frame.len {
            let frame = self.frame.take().expect("a frame");
            return Poll::Ready(self.finish(frame).map(Ok));
        }
        // Payload: from the read-ahead buffer, else straight from the socket.
        let remaining = frame.len - frame.read;
        let (mask, offset, control) = (frame.mask, frame.read, frame.is_control());
        let target = if control {
            &mut self.control
        } else {
            &mut self.message.as_mut().expect("a message").0
        };
        let got = if self.start < self.end {
            let n = remaining.min(self.end - self.start);
            target.extend_from_slice(&self.ahead[self.start..self.start + n]);
            self.start += n;
            self.received += n as u64;
            // The frame's count covers these bytes now.
            self.account.give_back(n);
            n
        } else {
            // Grow geometrically, but never past the frame's end.
            if target.capacity() == target.len() {
                let want = target.len() + remaining;
                let grown = (target.capacity() * 2).max(target.capacity() + READ_AHEAD);
                target.reserve_exact(want.min(grown) - target.len());
            }
            let n = remaining.min(target.capacity() - target.len());
            let old = target.len();
            target.resize(old + n, 0);
            let mut buf = ReadBuf::new(&mut target[old..]);
            let polled = Pin::new(&mut self.io).poll_read(cx, &mut buf);
            let read = buf.filled().len();
            target.truncate(old + read);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Ok(())) if read == 0 => {
                    return Poll::Ready(Some(Err(unexpected_eof())));
                }
                Poll::Ready(Ok(())) => {}
            }
            self.received += read as u64;
            self.heard = Instant::now();
            read
        };
        let at = target.len() - got;
        for (i, byte) in target[at..].iter_mut().enumerate() {
            *byte ^= mask[(offset + i) % 4];
        }
        self.frame.as_mut().expect("a frame").read += got;
        Poll::Ready(None)
    }

    /// Gathers and checks a frame header.
    fn step_header(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        if self.start == self.end {
            return self.fill(cx);
        }
        let have = self.header_len;
        let n = (header_len(&self.header[..have]) - have).min(self.end - self.start);
        self.header[have..have + n].copy_from_slice(&self.ahead[self.start..self.start + n]);
        self.start += n;
        self.received += n as u64;
        self.header_len += n;
        self.account.give_back(n);
        if self.header_len < header_len(&self.header[..self.header_len]) {
            return Poll::Ready(None);
        }
        let fields = header_fields(&self.header[..self.header_len]);
        self.header_len = 0;
        match self.check(fields) {
            Ok(frame) => {
                self.frame = Some(frame);
                Poll::Ready(None)
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    /// Reads into the (empty) read-ahead buffer.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        if !self.account.room_or_wait(READ_AHEAD, cx.waker()) {
            self.start_waiting(READ_AHEAD);
            return Poll::Pending;
        }
        self.stop_waiting();
        self.start = 0;
        self.end = 0;
        let mut buf = ReadBuf::new(&mut self.ahead[..]);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    self.done = true;
                    // At a frame boundary this is the end of the stream.
                    return Poll::Ready((!self.idle()).then(|| Err(unexpected_eof())));
                }
                self.account.take_read(n);
                self.end = n;
                self.heard = Instant::now();
                Poll::Ready(None)
            }
        }
    }

    /// Checks a complete header against the rules and the size limit.
    fn check(&self, (fin, rsv, opcode, mask, len): HeaderFields) -> Result<Frame, ReadError> {
        if rsv != 0 {
            return Err(ReadError::Protocol(
                "reserved bits set, but no extension was negotiated",
            ));
        }
        let Some(mask) = mask else {
            return Err(ReadError::Protocol("unmasked frame from a client"));
        };
        let in_message = self.message.as_ref().map_or(0, |m| m.0.len() as u64);
        match opcode {
            0 if self.message.is_none() => {
                return Err(ReadError::Protocol("continuation frame outside a message"))
            }
            1 | 2 if self.message.is_some() => {
                return Err(ReadError::Protocol(
                    "new message before the last one was finished",
                ))
            }
            0..=2 => {
                let size = in_message.saturating_add(len);
                if size > self.max_message as u64 {
                    return Err(ReadError::TooLarge {
                        size,
                        max: self.max_message,
                    });
                }
            }
            8..=10 if !fin || len > 125 => {
                return Err(ReadError::Protocol(
                    "control frame fragmented or over 125 bytes",
                ))
            }
            8..=10 => {}
            _ => return Err(ReadError::Protocol("unknown opcode")),
        }
        Ok(Frame {
            fin,
            opcode,
            mask,
            len: len as usize,
            read: 0,
            counted: false,
        })
    }

    /// A whole frame is in: hands out what it completes.
    fn finish(&mut self, frame: Frame) -> Option<Incoming> {
        let incoming = if frame.is_control() {
            let payload = std::mem::take(&mut self.control);
            self.account.give_back(frame.len);
            match frame.opcode {
                8 => {
                    self.done = true;
                    let reason = payload
                        .get(2..)
                        .map(|r| String::from_utf8_lossy(r).into_owned())
                        .filter(|r| !r.is_empty());
                    Some(Incoming::Close(reason))
                }
                9 => Some(Incoming::Ping(payload)),
                _ => Some(Incoming::Other),
            }
        } else if frame.fin {
            let (data, counted) = self.message.take().expect("a message");
            Some(Incoming::Data(data, self.account.hold(counted)))
        } else {
            None
        };
        if self.message.is_none() && self.header_len == 0 {
            // The next message's clock starts at its first byte, seen on a
            // later poll (not while the connection is paused for its rate).
            self.started = None;
        }
        incoming
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Incoming, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(at) = this.deadline_at() {
                if Instant::now() >= at {
                    this.release();
                    let took = this.started.map(|s| s.elapsed()).unwrap_or_default();
                    return Poll::Ready(Some(Err(ReadError::TooSlow {
                        took,
                        received: this.received,
                    })));
                }
            }
            match this.step(cx) {
                Poll::Ready(Some(item)) => {
                    if item.is_err() {
                        this.release();
                    }
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => continue,
                Poll::Pending => {}
            }
            // Waiting: wake up at the deadline too.
            let Some(at) = this.deadline_at() else {
                return Poll::Pending;
            };
            let sleep = this
                .deadline
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if sleep.deadline() != at {
                sleep.as_mut().reset(at);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<R> FrameReader<R> {
    fn give_back_all(&mut self) {
        let mut n = self.end - self.start;
        self.start = self.end;
        if let Some((_, counted)) = self.message.take() {
            n += counted;
        }
        if let Some(frame) = self.frame.take() {
            if frame.counted && frame.is_control() {
                n += frame.len;
            }
        }
        self.account.give_back(n);
    }
}

impl<R> Drop for FrameReader<R> {
    fn drop(&mut self) {
        self.give_back_all();
    }
}

type HeaderFields = (bool, u8, u8, Option<[u8; 4]>, u64);

/// How long the header that starts with `head` is (2 until its second byte is in).
fn header_len(head: &[u8]) -> usize {
    let Some(&second) = head.get(1) else {
        return 2;
    };
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if second & 0x80 != 0 { 4 } else { 0 }
}

/// FIN, RSV bits, opcode, mask and payload length of a complete header.
fn header_fields(h: &[u8]) -> HeaderFields {
    let (fin, rsv, opcode) = (h[0] & 0x80 != 0, h[0] & 0x70, h[0] & 0x0f);
    let (mut at, len) = match h[1] & 0x7f {
        126 => (4, u64::from(u16::from_be_bytes([h[2], h[3]]))),
        127 => (
            10,
            u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")),
        ),
        n => (2, u64::from(n)),
    };
    let mask = (h[1] & 0x80 != 0).then(|| {
        let m = [h[at], h[at + 1], h[at + 2], h[at + 3]];
        at += 4;
        m
    });
    debug_assert_eq!(at, h.len());
    (fin, rsv, opcode, mask, len)
}

fn unexpected_eof() -> ReadError {
    ReadError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the connection ended inside a frame",
    ))
}

/// What tungstenite read on a connection we dialed, as [`Incoming`].
pub(crate) fn from_tungstenite(
    read: Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
) -> Result<Incoming, ReadError> {
    use tokio_tungstenite::tungstenite::{error::CapacityError, Error, Message};
    match read {
        Ok(Message::Binary(data)) => Ok(Incoming::Data(data.to_vec(), Held::none())),
        Ok(Message::Text(text)) => Ok(Incoming::Data(text.as_bytes().to_vec(), Held::none())),
        Ok(Message::Close(frame)) => Ok(Incoming::Close(
            frame
                .map(|f| f.reason.to_string())
                .filter(|r| !r.is_empty()),
        )),
        // tungstenite answers pings itself.
        Ok(_) => Ok(Incoming::Other),
        Err(Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
            Err(ReadError::TooLarge {
                size: size as u64,
                max: max_size,
            })
        }
        Err(e) => Err(ReadError::Ws(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use futures_util::StreamExt;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn limits(total: usize) -> BufferLimits {
        BufferLimits {
            max_buffered: total,
            max_buffered_per_connection: total,
            frame_deadline: Duration::from_secs(10),
            frame_min_rate: 1024,
        }
    }

    fn reader(
        budget: &Arc<Budget>,
        max_message: usize,
    ) -> (DuplexStream, FrameReader<DuplexStream>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let r = FrameReader::new(
            server,
            Account::new(budget.clone()),
            limits(0),
            max_message,
            Arc::new(Metrics::default()),
        );
        (client, r)
    }

    fn budget(total: usize) -> Arc<Budget> {
        Budget::new(&limits(total), Arc::new(Metrics::default()))
    }

    async fn next(r: &mut FrameReader<DuplexStream>) -> Result<Incoming, ReadError> {
        r.next().await.expect("an item")
    }

    /// Whether the reader has nothing to hand out right now.
    fn stuck(r: &mut FrameReader<DuplexStream>) -> bool {
        let waker = futures_util::task::noop_waker();
        Pin::new(r)
            .poll_next(&mut Context::from_waker(&waker))
            .is_pending()
    }

    #[tokio::test]
    async fn fragments_pings_and_close_byte_by_byte() {
        let b = budget(1 << 20);
        let (mut peer, mut r) = reader(&b, 1 << 20);
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut wire = frame(false, 2, b"hello ");
        wire.extend(frame(true, 9, b"are you there"));
        wire.extend(frame(true, 0, b"world"));
        wire.extend(frame(true, 2, &big));
        wire.extend(frame(true, 1, b"text"));
        wire.extend(frame(true, 8, b"\x03\xe8bye"));
        let writer = tokio::spawn(async move {
            for chunk in wire.chunks(7) {
                peer.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            peer
        });
        assert!(matches!(next(&mut r).await, Ok(Incoming::Ping(p)) if p == b"are you there"));
        let Ok(Incoming::Data(data, held)) = next(&mut r).await else {
            panic!()
        };
        assert_eq!(data, b"hello world");
        drop(held);
        let Ok(Incoming::Data(data, held)) = next(&mut r).await else {
            panic!()
        };
        assert_eq!(data, big);
        // Counted until handled.
        assert!(b.used() >= big.len());
        drop(held);
        assert!(matches!(next(&mut r).await, Ok(Incoming::Data(d, _)) if d == b"text"));
        assert!(matches!(next(&mut r).await, Ok(Incoming::Close(Some(reason))) if reason == "bye"));
        assert!(r.next().await.is_none());
        drop(writer.await.unwrap());
        drop(r);
        assert_eq!(b.used(), 0, "every byte given back");
    }

    #[tokio::test]
    async fn frames_that_break_the_rules_end_the_stream() {
        let unmasked = vec![0x82, 0x01, 0xff];
        let cases: [(Vec<u8>, &str); 6] = [
            (unmasked, "unmasked"),
            (
                [vec![0xc2], frame(true, 2, b"x")[1..].to_vec()].concat(),
                "reserved bits",
            ),
            (frame(true, 9, &[0; 126]), "control frame"),
            (frame(false, 9, b"x"), "control frame"),
            (frame(true, 0, b"x"), "continuation"),
            (frame(true, 3, b"x"), "opcode"),
        ];
        for (wire, what) in cases {
            let (mut peer, mut r) = reader(&budget(1 << 20), 1 << 20);
            peer.write_all(&wire).await.unwrap();
            let err = next(&mut r).await.unwrap_err();
            assert!(err.to_string().contains(what), "{what}: {err}");
            assert!(r.next().await.is_none());
        }
        // Too large is known from the header, before the payload comes.
        let (mut peer, mut r) = reader(&budget(1 << 20), 1000);
        peer.write_all(&frame(true, 2, &[0; 1001])[..14])
            .await
            .unwrap();
        assert!(matches!(
            next(&mut r).await,
            Err(ReadError::TooLarge {
                size: 1001,
                max: 1000
            })
        ));
        // The end of the stream inside a frame is an error, between frames not.
        let (mut peer, mut r) = reader(&budget(1 << 20), 1000);
        peer.write_all(&frame(true, 2, b"abc")[..5]).await.unwrap();
        drop(peer);
        assert!(matches!(next(&mut r).await, Err(ReadError::Io(_))));
        let (peer, mut r) = reader(&budget(1 << 20), 1000);
        drop(peer);
        assert!(r.next().await.is_none());
    }

    #[tokio::test]
    async fn a_large_frame_waits_for_the_budget_and_small_ones_pass() {
        // 400 KiB in all: large frames may fill 300 KiB of it.
        let b = budget(400 * 1024);
        let (mut staller, mut stalled) = reader(&b, 1 << 20);
        let (mut big, mut big_r) = reader(&b, 1 << 20);
        let (mut small, mut small_r) = reader(&b, 1 << 20);
        // The staller's 250 KiB frame is counted at its header; it sends half.
        staller
            .write_all(&frame(true, 2, &[1; 250 * 1024])[..100_000])
            .await
            .unwrap();
        assert!(stuck(&mut stalled));
        // Another 100 KiB frame does not fit the large share: it waits,
        // reading nothing more.
        big.write_all(&frame(true, 2, &[2; 100 * 1024]))
            .await
            .unwrap();
        assert!(stuck(&mut big_r));
        // A small message still passes.
        small.write_all(&frame(true, 2, b"edit")).await.unwrap();
        assert!(matches!(next(&mut small_r).await, Ok(Incoming::Data(d, _)) if d == b"edit"));
        // The staller goes: the waiting frame is read.
        drop(stalled);
        let Ok(Incoming::Data(data, _)) = next(&mut big_r).await else {
            panic!()
        };
        assert_eq!(data.len(), 100 * 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_stalled_mid_way_is_cut_at_its_deadline() {
        let b = budget(1 << 20);
        let (mut peer, mut r) = reader(&b, 1 << 20);
        // 10 s after its last byte (within 10 s plus one second per KiB
        // received).
        let wire = frame(true, 2, &[7; 8 * 1024]);
        peer.write_all(&wire[..2048 + 8]).await.unwrap();
        let started = Instant::now();
        let err = next(&mut r).await.unwrap_err();
        assert!(
            matches!(err, ReadError::TooSlow { received: 2056, .. }),
            "{err}"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(11),
            "{took:?}"
        );
        assert!(r.next().await.is_none());
        drop(r);
        assert_eq!(b.used(), 0);

        // A peer that keeps sending at the minimum rate is never cut.
        let (mut peer, mut r) = reader(&b, 1 << 20);
        let wire = frame(true, 2, &[7; 64 * 1024]);
        let writer = tokio::spawn(async move {
            for chunk in wire.chunks(1024) {
                peer.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(900)).await;
            }
            peer
        });
        assert!(matches!(next(&mut r).await, Ok(Incoming::Data(d, _)) if d.len() == 64 * 1024));
        drop(writer.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_waiting_for_the_budget_is_cut_at_its_deadline_too() {
        let b = budget(400 * 1024);
        let (mut staller, mut stalled) = reader(&b, 1 << 20);
        staller
            .write_all(&frame(true, 2, &[1; 250 * 1024])[..1000])
            .await
            .unwrap();
        assert!(stuck(&mut stalled));
        // Sent in full but not read: the budget is spent. Its slot is not
        // held for longer than the deadline for all that.
        let (mut waiting, mut waiting_r) = reader(&b, 1 << 20);
        waiting
            .write_all(&frame(true, 2, &[2; 100 * 1024]))
            .await
            .unwrap();
        let started = Instant::now();
        assert!(matches!(
            next(&mut waiting_r).await,
            Err(ReadError::TooSlow { .. })
        ));
        assert!(started.elapsed() < Duration::from_secs(11));
        assert!(matches!(
            next(&mut stalled).await,
            Err(ReadError::TooSlow { .. })
        ));
        drop((stalled, waiting_r));
        assert_eq!(b.used(), 0);
    }
}
