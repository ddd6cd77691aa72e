//! A real `redis-server` for the multi-relay tests: started on a free
//! loopback port over a temporary directory, with the append-only file
//! fsynced on every write (what docs/scaling.md asks of production), killed
//! when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, require_redis_server};

/// A running `redis-server`.
pub struct Redis {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    starts: usize,
}

impl Redis {
    /// Starts one over `dir` (its append-only file lives there).
    pub fn start(dir: &Path) -> Redis {
        std::fs::create_dir_all(dir).expect("redis dir");
        for _ in 0..5 {
            let mut redis = Redis {
                child: None,
                port: free_port(),
                dir: dir.to_path_buf(),
                starts: 0,
            };
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server would not start on a free port after 5 tries");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.join(format!("redis-{}.log", self.starts))
    }

    /// Everything the last start logged.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Starts the server on `self.port`; true once it answers PING.
    fn spawn(&mut self) -> bool {
        self.starts += 1;
        let log = std::fs::File::create(self.log()).expect("redis log");
        let child = Command::new(require_redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--protected-mode", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().expect("try_wait").is_some() {
                    self.child = None;
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer PING within 10 s:\n{}",
            self.stderr()
        );
    }

    /// Whether it answers PING with PONG now (not while loading its file).
    pub fn ping(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        if tcp.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(tcp.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// SIGKILL: no shutdown save, only what the append-only file holds.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`Redis::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a killed Redis only");
        for _ in 0..20 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "redis-server would not start again on port {}:\n{}",
            self.port,
            self.stderr()
        );
    }

    /// A raw command (inline form), its reply's first line.
    pub fn command(&self, line: &str) -> String {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to Redis");
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
