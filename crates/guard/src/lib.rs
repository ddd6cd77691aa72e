//! Automerge on untrusted bytes. gapmap reads Automerge data from peers
//! (sync messages), from users (`gapmap import`) and from disk and Redis,
//! and must answer bad data with an error — never a crash, never gigabytes
//! of memory, never minutes of work on one message. Automerge 0.12 does not
//! always: fuzzing and attacks from outside (docs/reliability.md) found
//! chunks that make it panic, and chunks of a few bytes that make it
//! allocate or walk gigabytes.
//!
//! Two tools, used together wherever outside bytes reach Automerge:
//!
//! - [`check`] (and [`check_joined`] for a sync message's change entries)
//!   measures the bytes exactly as Automerge will read them and refuses
//!   them when Automerge would materialise more than a [`Budget`] decided
//!   from their length (see the `gate` module's documentation), or when it
//!   cannot measure them;
//! - [`catch`] runs a closure, turns a panic inside it into an [`Err`]
//!   carrying the panic's message, and keeps that panic off stderr (the
//!   default hook would print it as if the program had crashed). Panics
//!   outside [`catch`], and on other threads, are reported as usual. Only
//!   use it where the closure's effects are discarded on a panic.
//!
//! ```
//! use gapmap_guard::{check, Budget, Refusal};
//!
//! // A bundle chunk (type 3): refused before Automerge sees it.
//! let bundle = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 3, 1, 0];
//! assert_eq!(check(&bundle, Budget::DEFAULT), Err(Refusal::Bundle));
//! assert!(check(b"", Budget::DEFAULT).is_ok());
//! ```
#![deny(missing_docs)]

mod gate;

pub use gate::{check, check_joined, Budget, Cost, Refusal, INFLATED_COST, ROW_COST};

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

#[cfg(test)]
mod tests {
    use super::*;

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
