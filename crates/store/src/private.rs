//! A store is private to the user who owns it: every canvas, journal, and
//! the remotes' tokens in the settings are in it. The store directory is
//! created `0700` and the store's own files `0600` whatever the umask; a
//! store directory found with wider permissions (one made by an older
//! gapmap, or by hand) is tightened, with a warning, together with what is
//! inside. sled creates its files with the process's umask, so they are
//! tightened after sled opens; inside a `0700` directory nobody else can
//! reach them anyway.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the store directory and the directories inside it.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of the files inside it.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) `0700`; tightens an existing one.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
    }
    Ok(())
}

/// Tightens the store directory when others may enter or read it, and
/// what is inside with it. Best effort: a directory we do not own stays as
/// it is, with a warning.
pub(crate) fn tighten_store_dir(dir: &Path) {
    let Ok(meta) = fs::metadata(dir) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)) {
        Ok(()) => {
            tracing::warn!(dir = %dir.display(), was = format!("{mode:o}"),
                "the store directory was readable by other users; made it private (0700)");
            tighten_tree(dir);
        }
        Err(e) => tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), error = %e,
            "the store directory is readable by other users and cannot be made private"),
    }
}

/// Removes group and other permissions from everything under `dir`.
pub(crate) fn tighten_tree(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if mode & 0o077 != 0 {
                let _ = fs::set_permissions(&path, Permissions::from_mode(DIR_MODE));
            }
            tighten_tree(&path);
        } else if mode & 0o077 != 0 {
            let _ = fs::set_permissions(&path, Permissions::from_mode(mode & 0o700));
        }
    }
}

/// Opens `path` for writing, created `0600` (truncated if it exists).
pub(crate) fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// `OpenOptions` that create files `0600`.
pub(crate) fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_store_dir_is_tightened_with_its_contents() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fs::create_dir_all(dir.join("journal")).unwrap();
        fs::write(dir.join("journal/a.log"), b"x").unwrap();
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join("journal"), Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(dir.join("journal/a.log"), Permissions::from_mode(0o644)).unwrap();
        tighten_store_dir(&dir);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("journal")), 0o700);
        assert_eq!(mode(&dir.join("journal/a.log")), 0o600);
    }
}
