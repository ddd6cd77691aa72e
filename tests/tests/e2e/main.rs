//! End-to-end tests: the real binaries, real stores on disk, real processes.

mod bad_input;
mod board;
mod cli;
mod convergence;
mod crash;
mod relay;
mod research;
mod sync;
mod interop;
mod util;
