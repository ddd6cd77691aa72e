//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the store. Each message is one line and
/// says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another [`Store`](crate::Store) in this process)
    /// owns the store. `pid` and `command` come from `owner.pid`; they are
    /// `None` when the owner has not written it yet or is not gapmap.
    #[error("the store {} is in use by {}; stop it or run the command through it", dir.display(), owner(*pid, command.as_deref()))]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// Process id of the owner.
        pid: Option<u32>,
        /// Command line of the owner, e.g. `gapmap ui`.
        command: Option<String>,
    },
    /// The store directory cannot be created or written.
    #[error("the store directory {} cannot be created or written; check its permissions or choose another directory", .0.display())]
    NotWritable(PathBuf),
    /// The disk holding the store is full (or over quota). Nothing that was
    /// acknowledged is lost; the command can be run again once there is space.
    #[error("no space left on the disk holding {}; free some space and try again", .0.display())]
    NoSpace(PathBuf),
    /// Stored data does not read back. The journal can usually rebuild it.
    #[error("store data in {} is damaged ({detail}); run `gapmap doctor` to rebuild it from the journal", path.display())]
    Corrupt {
        /// The file or directory that is damaged.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// A document id the store cannot use as a key and file name.
    #[error("invalid document id {0:?}: use 1-128 ASCII letters, digits, '-' or '_'")]
    InvalidId(String),
    /// The embedded database failed.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// An operating system call failed on `path`.
    #[error("cannot {action} {}: {error}", path.display())]
    File {
        /// What the store was doing, e.g. "append to".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system error (in the message, not as a `source`: printing
        /// the error chain would repeat it).
        error: io::Error,
    },
    /// An operating system call failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Automerge rejected a document or change.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// The result type of the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn owner(pid: Option<u32>, command: Option<&str>) -> String {
    match (pid, command) {
        (Some(pid), Some(cmd)) => format!("process {pid} ({cmd})"),
        (Some(pid), None) => format!("process {pid}"),
        _ => "another process".to_string(),
    }
}

/// Adds the path and action to an io error; a full disk is
/// [`StoreError::NoSpace`].
pub(crate) fn file_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |error| {
        if is_no_space(&error) {
            StoreError::NoSpace(path)
        } else {
            StoreError::File {
                action,
                path,
                error,
            }
        }
    }
}

/// ENOSPC or EDQUOT: the disk (or the user's quota) is full.
pub(crate) fn is_no_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_message_names_the_owner() {
        let err = StoreError::Locked {
            dir: PathBuf::from("/x/y"),
            pid: Some(1234),
            command: Some("gapmap ui".into()),
        };
        assert_eq!(
            err.to_string(),
            "the store /x/y is in use by process 1234 (gapmap ui); stop it or run the command through it"
        );
        let err = StoreError::Locked {
            dir: PathBuf::from("/x/y"),
            pid: None,
            command: None,
        };
        assert!(err.to_string().contains("in use by another process"));
    }

    #[test]
    fn a_full_disk_is_said_once_and_plainly() {
        let full = io::Error::from_raw_os_error(libc::ENOSPC);
        let err = file_err("append to", "/s/journal/x.log")(full);
        assert_eq!(
            err.to_string(),
            "no space left on the disk holding /s/journal/x.log; free some space and try again"
        );
        let other = io::Error::from_raw_os_error(libc::EIO);
        let err = file_err("append to", "/s/journal/x.log")(other);
        assert!(
            std::error::Error::source(&err).is_none(),
            "the chain would repeat it"
        );
        assert!(err
            .to_string()
            .starts_with("cannot append to /s/journal/x.log: "));
    }
}
