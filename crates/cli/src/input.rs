//! Reading the files users name on the command line: regular files only, up to a limit.
//!
//! `--cert /dev/zero` must not fill memory and `--cert FIFO` must not block forever, so
//! the file's type is checked before it is opened, and the read stops one byte past the
//! limit.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest certificate, chain, key, bundle or list file read (4 MiB).
pub const FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Largest password file read (64 KiB).
pub const SECRET_LIMIT: u64 = 64 * 1024;

/// Why a named input file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The path is a directory, a FIFO, a device or a socket.
    #[error("{path}: not a regular file ({kind}); certherd reads certificates, keys and passwords from regular files only")]
    NotRegular {
        /// The file named.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than the limit for its kind.
    #[error("{path}: larger than {limit} bytes ({shown}), the limit for {what}")]
    TooLarge {
        /// The file named.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
        /// The limit, human-readable.
        shown: &'static str,
        /// What the file is meant to hold.
        what: &'static str,
    },
    /// A name given on the command line holds a control or bidi character.
    #[error(
        "{option} '{shown}' holds a control character; names in certificates must be printable"
    )]
    ControlCharacter {
        /// The option, e.g. `--cn`.
        option: &'static str,
        /// The value, escaped for display.
        shown: String,
    },
    /// Opening or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file named.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// What kind of input a file holds, which sets its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Certificates, chains, keys, bundles and lists of targets: [`FILE_LIMIT`].
    Material,
    /// A password: [`SECRET_LIMIT`].
    Secret,
    /// `cert issue --from`'s requests:
    /// [`FILE_LIMIT`](crate::commands::issue_lines::FILE_LIMIT).
    Requests,
}

impl Kind {
    fn limit(self) -> (u64, &'static str, &'static str) {
        match self {
            Self::Material => (FILE_LIMIT, "4 MiB", "certificate, key and list files"),
            Self::Secret => (SECRET_LIMIT, "64 KiB", "password files"),
            Self::Requests => (
                crate::commands::issue_lines::FILE_LIMIT,
                "256 MiB",
                "request files",
            ),
        }
    }
}

/// Reads the regular file at `path` (symbolic links followed), refusing anything else
/// before it is opened, and refusing it once it is larger than `kind`'s limit.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_owned(),
        source,
    };
    let (limit, shown, what) = kind.limit();
    let too_large = || InputError::TooLarge {
        path: path.to_owned(),
        limit,
        shown,
        what,
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.file_type().is_file() {
            return Err(InputError::NotRegular {
                path: path.to_owned(),
                kind: certherd_store::file_type_words(&meta.file_type()),
            });
        }
        if meta.len() > limit {
            return Err(too_large());
        }
        Ok(())
    };
    // Before opening: opening a FIFO for reading blocks until a writer comes.
    check(&std::fs::metadata(path).map_err(io)?)?;
    // Non-blocking, in case the path was replaced by a FIFO in between: the open returns at
    // once, and the check below refuses what was opened. (Reads of a regular file never
    // block, flag or not.)
    let file = open_nonblocking(path).map_err(io)?;
    // Again on what was opened, in case the path was replaced in between.
    check(&file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Opens `path` for reading without waiting for a FIFO's writer.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

/// Refuses a name given for a certificate (`--cn`, `--san`) that holds a control
/// character (C0, DEL, C1) or a bidi control: it would reach every terminal that shows it.
pub fn printable(option: &'static str, value: &str) -> Result<(), InputError> {
    if value.chars().any(crate::output::is_hidden) {
        return Err(InputError::ControlCharacter {
            option,
            shown: crate::output::escape(value).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_fifo_swapped_in_after_the_first_check_is_opened_without_blocking_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("swapped.pem");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // What read() does after its first check: this returns at once (no writer needed),
        // and what was opened is not a regular file.
        let file = open_nonblocking(&fifo).unwrap();
        assert!(file.metadata().unwrap().file_type().is_fifo());
        assert!(matches!(
            read(&fifo, Kind::Material),
            Err(InputError::NotRegular { .. })
        ));
    }

    #[test]
    fn regular_files_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.pem");
        std::fs::write(&ok, b"x".repeat(SECRET_LIMIT as usize)).unwrap();
        assert_eq!(
            read(&ok, Kind::Secret).unwrap().len(),
            SECRET_LIMIT as usize
        );
        let big = dir.path().join("big");
        std::fs::write(&big, b"x".repeat(SECRET_LIMIT as usize + 1)).unwrap();
        assert!(matches!(
            read(&big, Kind::Secret),
            Err(InputError::TooLarge { .. })
        ));
        assert!(read(&big, Kind::Material).is_ok());
        assert!(matches!(
            read(dir.path(), Kind::Material),
            Err(InputError::NotRegular {
                kind: "a directory",
                ..
            })
        ));
        assert!(matches!(
            read(Path::new("/dev/zero"), Kind::Material),
            Err(InputError::NotRegular {
                kind: "a character device",
                ..
            })
        ));
        assert!(matches!(
            read(&dir.path().join("missing"), Kind::Material),
            Err(InputError::Io { .. })
        ));
    }
}
