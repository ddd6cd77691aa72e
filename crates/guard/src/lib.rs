//! Automerge on untrusted bytes. gapmap reads Automerge data from peers
//! (sync messages) and from users (`gapmap import`) and must answer bad data
//! with an error, never a crash. Automerge 0.12 does not always: fuzzing
//! (`fuzz/`, docs/reliability.md) found chunks that make it panic, and a
//! 31-byte *bundle* chunk (an experimental chunk type no sync message or
//! saved document uses) that makes it allocate tens of gigabytes.
//!
//! [`check_chunks`] refuses, before Automerge sees them, chunk types gapmap
//! never exchanges, and compressed changes that would inflate past
//! [`MAX_INFLATED`] (Automerge inflates them without a bound: a few
//! megabytes of deflated zeros would ask for gigabytes). [`catch`] runs a closure, turns a panic inside it into an [`Err`] carrying
//! the panic's message, and keeps that panic off stderr (the default hook
//! would print it as if the program had crashed). Panics outside [`catch`],
//! and on other threads, are reported as usual.
//!
//! Only use it where the closure's effects are discarded on a panic, or are
//! known to happen before any state changes (Automerge parses every chunk
//! before it applies any).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Runs `f`; a panic inside it becomes `Err(its message)`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// The magic bytes that start every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of a deflated change.
const COMPRESSED: u8 = 2;
/// The chunk type of a bundle.
const BUNDLE: u8 = 3;
/// The most a compressed change may inflate to: 64 MiB, far beyond any
/// real change and eight times the relay's default message limit.
pub const MAX_INFLATED: u64 = 64 << 20;

/// Walks the chunks in `data` (a saved document, changes, or a run of
/// them, as `load_incremental` takes) and refuses bundles. A malformed chunk
/// header ends the walk with `Ok`: Automerge itself refuses it, and cannot
/// read past it.
pub fn check_chunks(mut data: &[u8]) -> Result<(), String> {
    while data.len() > 9 && data[..4] == MAGIC {
        if data[8] == BUNDLE {
            return Err("bundle chunks are not accepted".into());
        }
        let Some((len, used)) = uleb(&data[9..]) else {
            return Ok(());
        };
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(9 + used))
            .filter(|end| *end <= data.len())
        else {
            return Ok(());
        };
        if data[8] == COMPRESSED {
            check_inflated_size(&data[9 + used..end])?;
        }
        data = &data[end..];
    }
    Ok(())
}

/// Refuses deflated data that inflates past [`MAX_INFLATED`] (reading at
/// most that much; data that does not inflate is Automerge's to refuse).
fn check_inflated_size(deflated: &[u8]) -> Result<(), String> {
    use std::io::Read as _;
    let mut inflater = flate2::bufread::DeflateDecoder::new(deflated).take(MAX_INFLATED + 1);
    let mut sink = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match inflater.read(&mut sink) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => {
                total += n as u64;
                if total > MAX_INFLATED {
                    return Err(format!(
                        "a compressed change inflates past {} MiB",
                        MAX_INFLATED >> 20
                    ));
                }
            }
        }
    }
}

/// An unsigned LEB128 number and the bytes it took.
fn uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut c = MAGIC.to_vec();
        c.extend([0, 0, 0, 0, kind]);
        let mut n = body.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                c.push(b);
                break;
            }
            c.push(b | 0x80);
        }
        c.extend_from_slice(body);
        c
    }

    #[test]
    fn bundles_are_refused_wherever_they_are() {
        let (doc, change, bundle) = (chunk(0, b"d"), chunk(1, &[7; 200]), chunk(BUNDLE, b"b"));
        assert_eq!(
            check_chunks(&[doc.clone(), change.clone()].concat()),
            Ok(())
        );
        assert!(check_chunks(&bundle).is_err());
        assert!(check_chunks(&[doc, change, bundle].concat()).is_err());
        // Not chunks, or cut short: Automerge's to refuse.
        assert_eq!(check_chunks(b""), Ok(()));
        assert_eq!(check_chunks(b"not automerge at all"), Ok(()));
        assert_eq!(check_chunks(&chunk(1, &[7; 200])[..50]), Ok(()));
        let mut huge = MAGIC.to_vec();
        huge.extend([
            0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert_eq!(check_chunks(&huge), Ok(()));
    }

    #[test]
    fn compressed_changes_that_inflate_too_far_are_refused() {
        use std::io::Write as _;
        let deflate = |len: u64| {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1 << 20];
            let mut left = len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                e.write_all(&zeros[..n]).unwrap();
                left -= n as u64;
            }
            e.finish().unwrap()
        };
        let bomb = deflate(MAX_INFLATED + 1);
        assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
        let err = check_chunks(&chunk(COMPRESSED, &bomb)).unwrap_err();
        assert!(err.contains("64 MiB"), "{err}");
        assert_eq!(check_chunks(&chunk(COMPRESSED, &deflate(1000))), Ok(()));
        assert_eq!(check_chunks(&chunk(COMPRESSED, b"not deflate")), Ok(()));
    }

    #[test]
    fn values_pass_through() {
        assert_eq!(catch(|| 41 + 1), Ok(42));
    }

    #[test]
    fn panics_become_errors_with_their_message() {
        assert_eq!(
            catch(|| -> u8 { panic!("bad chunk") }),
            Err("bad chunk".into())
        );
        let n = 7;
        assert_eq!(
            catch(|| -> u8 { panic!("bad chunk {n}") }),
            Err("bad chunk 7".into())
        );
        let err: Result<u8, String> = catch(|| std::hint::black_box(None::<u8>).unwrap());
        assert!(err.unwrap_err().contains("None"));
    }

    #[test]
    fn nested_catches_and_later_panics_work() {
        let outer = catch(|| {
            let inner: Result<(), String> = catch(|| panic!("inner"));
            assert_eq!(inner, Err("inner".into()));
            panic!("outer")
        });
        assert_eq!(outer, Err::<(), _>("outer".into()));
        // The hook is restored for panics outside catch: this one still
        // reaches the test harness as a failure of its own thread.
        let thread = std::thread::spawn(|| panic!("outside"));
        assert!(thread.join().is_err());
    }
}
