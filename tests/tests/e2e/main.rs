//! End-to-end tests: the real binaries, real stores on disk, real processes.

mod abuse;
mod bad_input;
mod board;
mod board_research;
mod bombs;
mod carry;
mod cli;
mod convergence;
mod crash;
mod crashloop;
mod diskfull;
mod doctor;
mod first_run;
mod import_fuzz;
mod interop;
mod netcut;
mod private;
mod readme;
mod relay;
mod research;
mod research_model;
mod scaleout;
mod scaleout_cluster;
mod stalls;
mod sync;
mod util;
