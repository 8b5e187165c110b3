//! The home directory: `certherd.db`, `master.key` (0600) and the optional `certherd.toml`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, MasterKey, SqliteStore, Store};

/// The meta key that marks a completed `init`.
pub const INITIALIZED: &str = "node.initialized";

/// A certherd home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// A home at `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("certherd.db")
    }

    /// The master key file.
    pub fn master_key_path(&self) -> PathBuf {
        self.dir.join("master.key")
    }

    /// The lock file renewing commands hold (see [`crate::HomeLock`]).
    pub fn lock_path(&self) -> PathBuf {
        crate::lock::lock_path(&self.dir)
    }

    /// The optional settings file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("certherd.toml")
    }

    /// Reads certherd.toml if present.
    pub fn read_config(&self) -> Result<Option<String>, Error> {
        let path = self.config_path();
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Prepares a home for `init`: creates the directory (0700), the master key and the
    /// database. Refuses when a completed home is already there; a home left half-made by
    /// an interrupted `init` is reused.
    pub fn create(&self) -> Result<SqliteStore, Error> {
        if self.db_path().exists() && self.master_key_path().exists() {
            let store =
                SqliteStore::open(&self.db_path(), MasterKey::load(&self.master_key_path())?)?;
            if store.meta(INITIALIZED)?.is_some() {
                return Err(Error::AlreadyInitialized {
                    home: self.dir.clone(),
                });
            }
            return Ok(store);
        }
        if self.db_path().exists() || self.master_key_path().exists() {
            return Err(Error::AlreadyInitialized {
                home: self.dir.clone(),
            });
        }
        if !self.dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|source| Error::Io {
                    action: "create",
                    path: self.dir.clone(),
                    source,
                })?;
            let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700));
        }
        let key = MasterKey::create(&self.master_key_path())?;
        SqliteStore::open(&self.db_path(), key)
    }

    /// Opens an initialized home.
    pub fn open(&self) -> Result<SqliteStore, Error> {
        if !self.db_path().exists() || !self.master_key_path().exists() {
            return Err(Error::NotInitialized {
                home: self.dir.clone(),
            });
        }
        let store = SqliteStore::open(&self.db_path(), MasterKey::load(&self.master_key_path())?)?;
        if store.meta(INITIALIZED)?.is_none() {
            return Err(Error::NotInitialized {
                home: self.dir.clone(),
            });
        }
        Ok(store)
    }
}
