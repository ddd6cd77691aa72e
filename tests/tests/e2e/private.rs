//! What other users of the machine can see and do: the store is private
//! (0700, files 0600, even under umask 000), `owner.pid` holds no secret,
//! tokens can stay off the command line, the owner socket refuses another
//! user's process and drops a client that sends half a request.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, Store};

const NOBODY: u32 = 65534;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `gapmap serve` on a store, stopped (SIGTERM) when dropped, even when a
/// test fails half-way.
struct Serving(Option<Child>, String);

impl Serving {
    /// Started with `umask` and `args`, once it listens and its owner
    /// socket is up.
    fn start(s: &Store, umask: u32, args: &[&str]) -> Serving {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut cmd = s.command(&all);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        // SAFETY: umask(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("serving"), "gapmap serve said: {line}");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .expect("the address")
            .to_string();
        let serving = Serving(Some(child), url);
        // The owner socket comes up beside the listener (its file exists a
        // moment before it listens).
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(s.home.join("owner.sock")).is_err() {
            assert!(Instant::now() < deadline, "no owner socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        serving
    }

    /// Stops it; returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let child = self.0.take().expect("running");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_store_is_private_even_under_umask_000() {
    let s = Store::new("ana");
    let mut new = s.command(&["new", "Private"]);
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        new.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    assert!(new.stdout(Stdio::null()).status().unwrap().success());
    let serving = Serving::start(&s, 0, &[]);
    assert_eq!(mode(&s.home), 0o700, "store directory");
    assert_eq!(mode(&s.home.join("owner.sock")), 0o600, "owner socket");
    assert_eq!(mode(&s.home.join("owner.pid")), 0o600, "owner.pid");
    for dir in ["journal", "db"] {
        assert_eq!(mode(&s.home.join(dir)), 0o700, "{dir}/");
        for entry in std::fs::read_dir(s.home.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is readable by others",
                    path.display()
                );
            }
        }
    }
    serving.stop();
}

#[test]
fn a_store_made_readable_by_others_is_tightened() {
    let s = Store::new("ana");
    s.ok(&["new", "Was shared"]);
    std::fs::set_permissions(&s.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let journal = s.home.join("journal");
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.ok(&["list"]);
    assert_eq!(mode(&s.home), 0o700);
    assert_eq!(mode(&journal), 0o700);
}

#[test]
fn owner_pid_and_ps_stay_free_of_tokens_given_by_file_or_environment() {
    let s = Store::new("ana");
    s.ok(&["new", "Secret"]);
    let secret = "argv-secret-0123456789";
    let serving = Serving::start(&s, 0o022, &["--token", secret]);
    let pid_file = std::fs::read_to_string(s.home.join("owner.pid")).unwrap();
    assert!(!pid_file.contains(secret), "owner.pid: {pid_file}");
    assert!(pid_file.contains("--token ***"), "owner.pid: {pid_file}");
    let stderr = serving.stop();
    assert!(
        stderr.contains("visible to other users"),
        "no warning for a token in argv: {stderr}"
    );

    // From a file: nothing in argv, nothing in owner.pid, no warning; a
    // client gives it by environment variable.
    let file = s.home.parent().unwrap().join("token");
    std::fs::write(&file, "file-secret-0123456789\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let serving = Serving::start(&s, 0o022, &["--token-file", file.to_str().unwrap()]);
    let pid_file = std::fs::read_to_string(s.home.join("owner.pid")).unwrap();
    assert!(!pid_file.contains("file-secret"), "owner.pid: {pid_file}");
    let url = serving.1.clone();
    let other = Store::new("ben");
    let id = s.json(&["list"])[0]["id"].as_str().unwrap().to_string();
    let refused = other.run(&["clone", &id, "--from", &url]);
    assert_eq!(refused.code, 1, "no token: {}", refused.stderr);
    let out = other
        .command(&["clone", &id, "--from", &url])
        .env("GAPMAP_TOKEN", "file-secret-0123456789")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("visible to other users"), "{stderr}");
    assert!(!serving.stop().contains("visible to other users"));
}

#[test]
fn an_exported_gapmap_token_goes_only_to_the_remote_the_command_names() {
    let ana = Store::new("ana");
    ana.ok(&["new", "Shared"]);
    let file = ana.home.parent().unwrap().join("token");
    std::fs::write(&file, "team-secret-0123456789").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let serving = Serving::start(&ana, 0o022, &["--token-file", file.to_str().unwrap()]);
    let ben = Store::new("ben");
    ben.ok(&["new", "Ben's"]);
    ben.ok(&[
        "remote",
        "add",
        "team",
        &serving.1,
        "--token-file",
        file.to_str().unwrap(),
    ]);
    let with_env = |args: &[&str]| {
        ben.command(args)
            .env("GAPMAP_TOKEN", "meant-for-another-server")
            .output()
            .unwrap()
    };
    // Every remembered remote: each gets its own token, not the exported one.
    let all = with_env(&["sync"]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    // The remote named: the exported token is used (and refused here).
    let named = with_env(&["sync", "team"]);
    assert_eq!(named.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&named.stderr).contains("401"));
    serving.stop();
}

#[test]
fn the_owner_refuses_a_process_of_another_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root, to run a client as uid {NOBODY}: run the e2e tests as root (as CI does)");
    }
    let s = Store::new("ana");
    s.ok(&["new", "Mine"]);
    let serving = Serving::start(&s, 0o022, &[]);
    // What an older gapmap left under umask 000: everything open to all.
    let root = s.home.parent().unwrap();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&s.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        s.home.join("owner.sock"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(bin("gapmap"));
    cmd.arg("--home")
        .arg(&s.home)
        .args(["add", "now", "written by nobody"]);
    cmd.env_remove("GAPMAP_HOME").env("NO_COLOR", "1");
    // SAFETY: setgid/setuid are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stderr}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("belongs to another user"), "{stderr}");
    let texts = crate::util::texts(&s.show(), "now");
    assert!(texts.is_empty(), "another user's command ran: {texts:?}");
    serving.stop();
}

#[test]
fn half_sent_requests_to_the_owner_are_dropped() {
    let s = Store::new("ana");
    s.ok(&["new", "Busy"]);
    let serving = Serving::start(&s, 0o022, &[]);
    let sock = s.home.join("owner.sock");
    let started = Instant::now();
    let mut clients: Vec<UnixStream> = (0..100)
        .map(|i| {
            let mut c = UnixStream::connect(&sock).unwrap();
            if i % 2 == 0 {
                c.write_all(br#"{"cli": {"home": nul"#).unwrap();
            }
            c
        })
        .collect();
    // Meanwhile the owner still serves an honest command.
    assert_eq!(s.ok(&["add", "now", "still served"]).len(), 12);
    let deadline = started + Duration::from_secs(15);
    for c in &mut clients {
        let left = deadline.saturating_duration_since(Instant::now());
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 64];
        // The owner closes the connection: EOF (or a reset), not a reply.
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0, "a half-sent request got a reply"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("still connected after 15 s: {e}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(20),
        "dropped after {waited:?}, want about 5 s"
    );
    serving.stop();
}

#[test]
fn the_relay_reads_its_backend_url_from_a_file_and_warns_about_a_password_in_argv() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(bin("gapmap-relay"))
            .args(["--listen", "127.0.0.1:0", "--open", "--data"])
            .arg(dir.path().join("data"))
            .args(args)
            .env_remove("GAPMAP_RELAY_BACKEND")
            .output()
            .unwrap()
    };
    // Nothing listens on port 1: the relay stops at connecting either way.
    let out = run(&["--backend", "redis://:pw-in-argv@127.0.0.1:1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("password in --backend is visible"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-in-argv"), "{stderr}");
    let file = dir.path().join("backend");
    std::fs::write(&file, "redis://:pw-in-file@127.0.0.1:1\n").unwrap();
    let out = run(&["--backend-file", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("visible"), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:1"),
        "the file's URL was not used: {stderr}"
    );
    assert!(!stderr.contains("pw-in-file"), "{stderr}");
}
