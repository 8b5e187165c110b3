//! Writing a file so that readers see the old content or the new, never a mix.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Error;

/// What a file type is, in words, for messages: "a regular file", "a directory", "a
/// symbolic link", "a FIFO", "a character device", "a block device", "a socket".
pub fn file_type_words(t: &fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Refuses a target that exists and is not a regular file. A rename would replace it: a
/// device node such as /dev/stdout or /dev/full would become a file holding a key, and a
/// symbolic link would be cut instead of followed.
fn check_target(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            let kind = file_type_words(&m.file_type());
            Err(Error::NotRegularTarget {
                path: path.to_path_buf(),
                kind,
                hint: match kind {
                    "a symbolic link" => ", such as the one the link points to",
                    "a directory" => " inside it",
                    _ => "",
                },
            })
        }
        _ => Ok(()),
    }
}

/// Writes `data` to `path` atomically with permission `mode`: a temporary file in the same
/// directory is written, synced, given its mode and renamed over the target, and the
/// directory is synced. On any failure the previous file is untouched. A target that
/// exists and is not a regular file (a device, FIFO, socket, directory or symbolic link)
/// is refused before anything is written.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    check_target(path)?;
    write_via_temporary(path, data, mode, "replace", |tmp, path| {
        fs::rename(tmp, path)
    })
}

/// The mode of a directory certherd creates to hold a file of `file_mode`: 0700 when the
/// file gives others nothing (a private key, a credential), else 0755.
pub fn dir_mode_for(file_mode: u32) -> u32 {
    if file_mode & 0o077 == 0 {
        0o700
    } else {
        0o755
    }
}

/// Creates the missing directories above `path` (an `--out FILE`), each with mode `mode`
/// (less the umask); those that exist are left as they are. Returns the directories
/// created, outermost first.
pub fn create_parents(path: &Path, mode: u32) -> Result<Vec<std::path::PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        if fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        dir = d.parent();
    }
    missing.reverse();
    for d in &missing {
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => {}
            // Made by someone else meanwhile: there all the same.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "create directory",
                    path: d.clone(),
                    source,
                })
            }
        }
    }
    Ok(missing)
}

/// [`write_atomic`] to a path whose missing parent directories are created first (with
/// [`dir_mode_for`] `mode`): what every `--out FILE` writes with.
pub fn write_out(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    check_target(path)?;
    create_parents(path, dir_mode_for(mode))?;
    write_atomic(path, data, mode)
}

/// Writes `data` to `path`, which must not exist, with permission `mode`: a temporary file
/// in the same directory is written and synced, then hard-linked to `path` (never over an
/// existing file: that is an error) and the directory synced.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    write_via_temporary(path, data, mode, "create", |tmp, path| {
        fs::hard_link(tmp, path)
    })
}

/// Writes, syncs and chmods a temporary file beside `path`, then `place`s it at `path`
/// (`place_action` names that step in errors) and syncs the directory. The temporary file
/// is gone afterwards, whatever happened.
fn write_via_temporary(
    path: &Path,
    data: &[u8],
    mode: u32,
    place_action: &'static str,
    place: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> Result<(), Error> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| Error::Corrupt("random generator failed".into()))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", certherd_x509::hex(&nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            // Named by the target the user asked for, and the directory that refused: the
            // temporary file's name means nothing to them.
            .map_err(|source| Error::Io {
                action: "write",
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "cannot create a file in directory {}: {source}",
                        dir.display()
                    ),
                ),
            })?;
        f.write_all(data).map_err(io("write", &tmp))?;
        // The umask may have narrowed the mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("chmod", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        place(&tmp, path).map_err(io(place_action, path))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    // After a rename there is nothing left to remove; after a link or a failure there is.
    if fs::symlink_metadata(&tmp).is_ok() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_out_creates_the_missing_parents_0700_for_keys_else_0755() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a/b/key.pem");
        write_out(&key, b"k", 0o600).unwrap();
        let cert = dir.path().join("a/c/d/cert.pem");
        write_out(&cert, b"c", 0o644).unwrap();
        let mode = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        // Under the test's umask (022 or stricter): never more than asked.
        assert_eq!(mode("a") & !0o700, 0, "{:o}", mode("a"));
        assert_eq!(mode("a/b") & !0o700, 0);
        assert_eq!(mode("a/c") & !0o755, 0);
        assert_eq!(mode("a/c/d") & !0o755, 0);
        assert_eq!(mode("a/b/key.pem"), 0o600);
        assert_eq!(fs::read(&cert).unwrap(), b"c");
        // A parent that is a file is said, and nothing is written.
        let under_file = dir.path().join("a/b/key.pem/x.pem");
        assert!(write_out(&under_file, b"x", 0o644).is_err());
        // Existing directories keep their mode.
        fs::set_permissions(dir.path().join("a/c"), fs::Permissions::from_mode(0o750)).unwrap();
        write_out(&dir.path().join("a/c/e.pem"), b"e", 0o600).unwrap();
        assert_eq!(mode("a/c"), 0o750);
    }

    #[test]
    fn replaces_content_with_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn devices_fifos_directories_and_links_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let real = dir.path().join("real.pem");
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        for (target, kind) in [
            (Path::new("/dev/null"), "a character device"),
            (fifo.as_path(), "a FIFO"),
            (link.as_path(), "a symbolic link"),
            (sub.as_path(), "a directory"),
            (Path::new("/"), "a directory"),
        ] {
            let err = write_atomic(target, b"secret", 0o600).unwrap_err();
            assert!(
                matches!(&err, Error::NotRegularTarget { kind: k, .. } if *k == kind),
                "{}: {err}",
                target.display()
            );
        }
        // Nothing changed: /dev/null is still a device, the link still a link to the old file.
        assert!(fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "old");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            4,
            "no temp file left"
        );
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.pem"), b"x", 0o600).unwrap_err();
        let msg = err.to_string();
        assert_eq!(
            msg,
            "write /nonexistent-dir/x.pem: cannot create a file in directory /nonexistent-dir: \
             No such file or directory (os error 2)"
        );
        assert!(!msg.contains(".tmp"), "{msg}");
    }
}
