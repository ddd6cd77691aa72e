//! One store, one owner: an advisory `flock` on `dir/lock`, and `dir/owner.pid`
//! saying who holds it.
//!
//! The lock is taken before anything else in the directory is touched, so
//! clean-ups such as removing sled's stale `snap.*.generating` files can never
//! hit a live process's files. `flock` belongs to the open file description
//! and dies with the process, so an `owner.pid` left by a killed process is
//! harmless: the next opener simply overwrites it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{file_err, Result, StoreError};
use crate::private;

/// Name of the lock file inside the store directory.
pub(crate) const LOCK_FILE: &str = "lock";
/// Name of the owner file inside the store directory.
pub(crate) const OWNER_FILE: &str = "owner.pid";

/// Holds the store's lock until dropped.
#[derive(Debug)]
pub(crate) struct OwnerLock {
    /// Kept open: closing it releases the lock.
    _file: fs::File,
    /// `dir/owner.pid`, removed on a clean drop.
    owner_path: PathBuf,
}

impl OwnerLock {
    /// Creates `dir` if needed, takes the lock and writes `owner.pid`.
    pub(crate) fn acquire(dir: &Path) -> Result<OwnerLock> {
        private::create_dir(dir).map_err(|e| not_writable_or(dir, "create", e))?;
        private::tighten_store_dir(dir);
        let lock_path = dir.join(LOCK_FILE);
        let file = private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| not_writable_or(dir, "open", e))?;
        // On Unix `try_lock` is `flock(LOCK_EX | LOCK_NB)`.
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let (pid, command) = read_owner(dir);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid,
                    command,
                });
            }
            Err(fs::TryLockError::Error(err)) => return Err(file_err("lock", lock_path)(err)),
        }
        let owner_path = dir.join(OWNER_FILE);
        write_owner(&owner_path).map_err(|e| not_writable_or(dir, "write owner.pid in", e))?;
        Ok(OwnerLock {
            _file: file,
            owner_path,
        })
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Still locked here: the file closes after this body runs.
        let _ = fs::remove_file(&self.owner_path);
    }
}

/// Maps the errors that mean "you cannot write here" to `NotWritable`.
pub(crate) fn not_writable_or(dir: &Path, action: &'static str, err: io::Error) -> StoreError {
    let denied = matches!(
        err.raw_os_error(),
        Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOTDIR | libc::EEXIST)
    );
    if denied {
        StoreError::NotWritable(dir.to_path_buf())
    } else {
        file_err(action, dir)(err)
    }
}

/// Reads `owner.pid`: "<pid> <command line>". Missing or garbled parts are `None`.
pub(crate) fn read_owner(dir: &Path) -> (Option<u32>, Option<String>) {
    let Ok(text) = fs::read_to_string(dir.join(OWNER_FILE)) else {
        return (None, None);
    };
    let text = text.trim();
    let (pid, command) = text.split_once(' ').unwrap_or((text, ""));
    let command = command.trim();
    (
        pid.parse().ok(),
        (!command.is_empty()).then(|| command.to_string()),
    )
}

/// Writes `owner.pid` through a temporary file and a rename, so a reader never
/// sees half of it.
fn write_owner(path: &Path) -> io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    let mut f = private::create_file(&tmp)?;
    writeln!(f, "{} {}", std::process::id(), command_line())?;
    drop(f);
    fs::rename(&tmp, path)
}

/// This process's command line with the program's directory dropped and
/// secrets masked, on one line: `gapmap ui --listen 127.0.0.1:7777 --token ***`.
fn command_line() -> String {
    let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let line = std::iter::once(program)
        .chain(masked(args))
        .collect::<Vec<_>>()
        .join(" ");
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.chars().take(200).collect()
}

/// `args` with secrets replaced by `***`: the value of any option whose
/// name says token, secret or password (`--token T`, `--token=T`; not
/// `--token-file F`, a path), a URL's password (`redis://:pw@host`) and a
/// `token=` query parameter.
fn masked(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for arg in args {
        if std::mem::take(&mut hide_next) {
            out.push("***".to_string());
            continue;
        }
        if arg.starts_with('-') {
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg.as_str(), None),
            };
            if secret_option(name) {
                match value {
                    Some(_) => out.push(format!("{name}=***")),
                    None => {
                        out.push(arg.clone());
                        hide_next = true;
                    }
                }
                continue;
            }
        }
        out.push(masked_url(&arg));
    }
    out
}

fn secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !name.ends_with("-file")
        && ["token", "secret", "password", "passwd"]
            .iter()
            .any(|s| name.contains(s))
}

/// A URL's password and `token=` query parameter masked.
fn masked_url(arg: &str) -> String {
    let mut arg = arg.to_string();
    if let Some(scheme_end) = arg.find("://") {
        let rest = &arg[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            arg = format!("{}://***@{}", &arg[..scheme_end], &rest[at + 1..]);
        }
    }
    let mut out = String::new();
    let mut rest = arg.as_str();
    while let Some(i) = rest.find("token=") {
        let boundary = i == 0 || matches!(rest.as_bytes()[i - 1], b'?' | b'&');
        let value_start = i + "token=".len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if boundary {
            let end = rest.find(['&', '#']).unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_the_command_line() {
        let args = |a: &[&str]| masked(a.iter().map(|s| s.to_string()));
        assert_eq!(
            args(&["serve", "--token", "s3cret", "--listen", "0.0.0.0:1"]),
            ["serve", "--token", "***", "--listen", "0.0.0.0:1"]
        );
        assert_eq!(args(&["ui", "--token=s3cret"]), ["ui", "--token=***"]);
        assert_eq!(
            args(&["sync", "--token-file", "/run/t"]),
            ["sync", "--token-file", "/run/t"]
        );
        assert_eq!(
            args(&["--backend", "redis://:pw@10.0.0.5:6379/2"]),
            ["--backend", "redis://***@10.0.0.5:6379/2"]
        );
        assert_eq!(
            args(&["sync", "wss://relay.example/?token=abc&x=1"]),
            ["sync", "wss://relay.example/?token=***&x=1"]
        );
        assert_eq!(
            args(&["add", "now", "mytoken=fine"]),
            ["add", "now", "mytoken=fine"]
        );
    }

    #[test]
    fn owner_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let lock = OwnerLock::acquire(dir.path()).unwrap();
        let (pid, command) = read_owner(dir.path());
        assert_eq!(pid, Some(std::process::id()));
        assert!(command.is_some());
        drop(lock);
        assert!(!dir.path().join(OWNER_FILE).exists());
    }

    #[test]
    fn second_lock_in_same_process_conflicts() {
        // flock locks belong to open file descriptions, so two opens of the
        // same file conflict even within one process.
        let dir = tempfile::tempdir().unwrap();
        let _first = OwnerLock::acquire(dir.path()).unwrap();
        match OwnerLock::acquire(dir.path()) {
            Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn garbled_owner_file_gives_none() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(OWNER_FILE), "not-a-pid").unwrap();
        assert_eq!(read_owner(dir.path()), (None, None));
    }
}
