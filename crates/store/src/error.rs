//! The one error type of the storage crate.

use std::path::PathBuf;

/// Storage failures, each naming what it was doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The home has no certherd state yet.
    #[error("no certherd home at {home}")]
    NotInitialized {
        /// The home directory.
        home: PathBuf,
    },
    /// `init` was asked to create state where some already exists.
    #[error("{home} already holds a certherd home")]
    AlreadyInitialized {
        /// The home directory.
        home: PathBuf,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file to write exists and is not a regular file: certherd never replaces a device,
    /// a FIFO, a socket, a directory or a symbolic link with a file.
    #[error("{path} is {kind}, not a regular file; certherd writes only regular files (name a file path{hint})")]
    NotRegularTarget {
        /// The path asked for.
        path: PathBuf,
        /// What is there: "a directory", "a character device", "a symbolic link", ...
        kind: &'static str,
        /// More advice for some kinds.
        hint: &'static str,
    },
    /// The master key file is not a valid key.
    #[error("master key {path} is invalid: {detail}")]
    MasterKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// The database holds sealed keys but the master key is in none of the places looked.
    #[error("the master key of {home} is missing: looked at {looked}; its database holds sealed private keys that only that key opens (set CERTHERD_MASTER_KEY_FILE to where it is, or restore it from its backup)")]
    MasterKeyMissing {
        /// The home directory.
        home: PathBuf,
        /// Each place looked, with where the choice came from.
        looked: String,
    },
    /// A sealed key could not be opened (wrong master key or tampered data).
    #[error("cannot unseal the private key of {entry}: wrong master key or corrupted data")]
    Unseal {
        /// The entry or secret.
        entry: String,
    },
    /// The database failed.
    #[error("database error while {context}: {source}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        source: rusqlite::Error,
    },
    /// An entry or store that must exist does not.
    #[error("{what} '{name}' does not exist")]
    NotFound {
        /// "entry" or "store".
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// An entry or store that must not exist does.
    #[error("{what} '{name}' already exists")]
    Exists {
        /// "entry" or "store".
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A stored row could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl Error {
    pub(crate) fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
        move |source| Error::Sqlite { context, source }
    }
}
