//! The kit the cross-process tests share (the end-to-end tests under
//! `tests/tests/` and `crates/bench`'s tests): where the built binaries are,
//! the prerequisites a test needs, each checked once.
//!
//! A missing prerequisite fails the test with the way to install it; no test
//! installs anything itself and none passes without what it tests.
//! `scripts/test` installs every prerequisite, then builds every binary.
//!
//! ```no_run
//! let relay = gapmap_tests::bin("gapmap-relay");
//! gapmap_tests::require_node();
//! assert!(relay.is_file());
//! ```

use std::path::{Path, PathBuf};

/// What to tell someone whose machine lacks a prerequisite.
pub const INSTALL_HINT: &str = "run scripts/test, which installs Node.js, the pinned npm \
     packages (npm ci in tests/js), Debian's chromium and redis-server, and builds every binary";

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/TEST-xxxx → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The path of a workspace binary; fails the test when it is not built
/// (`cargo test -p CRATE` alone does not build the other crates' binaries).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: {INSTALL_HINT} (or run `cargo build --workspace --bins` first)",
        path.display()
    );
    path
}

/// tests/js: the pinned automerge-repo and playwright-core packages and the
/// scripts that drive them.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// The first `name` on `PATH` (or in the usual system directories).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Fails the test unless `node` runs and tests/js holds the pinned
/// automerge-repo packages.
pub fn require_node() {
    assert!(
        find_program("node").is_some(),
        "no `node` on PATH: this test runs automerge-repo JavaScript: {INSTALL_HINT}"
    );
    let dir = js_dir();
    assert!(
        dir.join("node_modules/@automerge/automerge-repo/package.json")
            .is_file(),
        "{} has no node_modules: {INSTALL_HINT}",
        dir.display()
    );
}

/// Where the board's browser tests find Chromium: Debian's, never a
/// downloaded browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Fails the test unless Chromium and playwright-core (with node) are there;
/// returns Chromium's path.
pub fn require_chromium() -> &'static str {
    require_node();
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the board's tests drive Debian's chromium: {INSTALL_HINT}"
    );
    assert!(
        js_dir()
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "tests/js/node_modules lacks playwright-core: {INSTALL_HINT}"
    );
    CHROMIUM
}

/// The `redis-server` binary; fails the test when it is not installed.
pub fn require_redis_server() -> PathBuf {
    find_program("redis-server").unwrap_or_else(|| {
        panic!("redis-server is not installed: this test starts its own Redis on loopback: {INSTALL_HINT}")
    })
}

/// A free loopback port right now (bound, then released): for servers that
/// cannot be told port 0, such as redis-server; whoever binds it a moment
/// later should retry on "address in use".
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

mod redis;
pub use redis::Redis;
