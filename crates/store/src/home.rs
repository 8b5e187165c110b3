//! The home directory: `certherd.db` (0600), the master key (0600; in the home as
//! `master.key`, or elsewhere: `CERTHERD_MASTER_KEY_FILE` or a systemd credential) and the
//! optional `certherd.toml`. With a database URL the inventory is in PostgreSQL instead
//! of `certherd.db`; the master key and certherd.toml stay in the home.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, HomeStore, MasterKey, PgStore, SqliteStore, Store};

/// The meta key that marks a completed `init`.
pub const INITIALIZED: &str = "node.initialized";

/// The environment variable naming the master key file when it lives outside the home.
pub const MASTER_KEY_ENV: &str = "CERTHERD_MASTER_KEY_FILE";

/// The name of the systemd credential (`LoadCredential=certherd-master-key:PATH`) that holds
/// the master key, found in `$CREDENTIALS_DIRECTORY`.
pub const MASTER_KEY_CREDENTIAL: &str = "certherd-master-key";

/// Where the master key was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// `master.key` in the home directory.
    Home,
    /// The file named by `CERTHERD_MASTER_KEY_FILE`.
    Env,
    /// `$CREDENTIALS_DIRECTORY/certherd-master-key`, from systemd.
    SystemdCredential,
}

impl KeySource {
    /// The name shown in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Env => "env CERTHERD_MASTER_KEY_FILE",
            Self::SystemdCredential => "systemd credential",
        }
    }
}

/// The master key's file and how it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLocation {
    /// The key file.
    pub path: PathBuf,
    /// Where the choice came from.
    pub source: KeySource,
}

impl KeyLocation {
    /// Chooses the master key of the home at `dir` from the environment's values: a
    /// non-empty `CERTHERD_MASTER_KEY_FILE` wins; then a systemd credential
    /// `certherd-master-key` when `$CREDENTIALS_DIRECTORY` holds one; else `master.key` in
    /// the home.
    pub fn choose(dir: &Path, env_file: Option<&OsStr>, credentials_dir: Option<&OsStr>) -> Self {
        if let Some(f) = env_file.filter(|f| !f.is_empty()) {
            return Self {
                path: PathBuf::from(f),
                source: KeySource::Env,
            };
        }
        if let Some(d) = credentials_dir.filter(|d| !d.is_empty()) {
            let path = Path::new(d).join(MASTER_KEY_CREDENTIAL);
            if path.exists() {
                return Self {
                    path,
                    source: KeySource::SystemdCredential,
                };
            }
        }
        Self {
            path: dir.join("master.key"),
            source: KeySource::Home,
        }
    }
}

/// A file or directory of a home that group or others may read or write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeProblem {
    /// The file or directory.
    pub path: PathBuf,
    /// Its permission bits (e.g. `0o644`).
    pub mode: u32,
    /// Whether it is a directory (the fix is then `chmod 700`, else `chmod 600`).
    pub dir: bool,
}

impl ModeProblem {
    /// The command that fixes it.
    pub fn fix(&self) -> String {
        format!(
            "chmod {} {}",
            if self.dir { "700" } else { "600" },
            shell_quote(&self.path)
        )
    }
}

impl std::fmt::Display for ModeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match (self.mode & 0o070 != 0, self.mode & 0o007 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        };
        write!(
            f,
            "{} is mode {:04o}: {who} may {} it; fix: {}",
            self.path.display(),
            self.mode,
            match (self.mode & 0o044 != 0, self.mode & 0o022 != 0) {
                (true, true) => "read and write",
                (false, true) => "write",
                _ => "read",
            },
            self.fix()
        )
    }
}

/// `path` as one shell word.
fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What `certherd home seal-key move` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedKey {
    /// Where the key was.
    pub from: PathBuf,
    /// Where it is now.
    pub to: PathBuf,
    /// The entry whose sealed key the moved file was checked to open, if the home has one.
    pub verified_with: Option<String>,
}

/// A PostgreSQL URL for a home's inventory. Shown (`Debug`, `Display`) with its password
/// redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks that `url` is a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<Self, Error> {
        if !crate::is_postgres_url(url) {
            return Err(Error::BadUrl {
                url: crate::redact_url(url),
                detail: "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE".into(),
            });
        }
        Ok(Self(url.to_owned()))
    }

    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::redact_url(&self.0))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A certherd home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
    key: Option<KeyLocation>,
    database: Option<DatabaseUrl>,
}

impl Home {
    /// A home at `dir` whose master key is `master.key` inside it (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            key: None,
            database: None,
        }
    }

    /// The same home with its inventory in the PostgreSQL database at `url` instead of
    /// `certherd.db` (the master key and certherd.toml stay in the home).
    pub fn with_database(mut self, url: Option<DatabaseUrl>) -> Self {
        self.database = url;
        self
    }

    /// The PostgreSQL database this home uses, if any.
    pub fn database(&self) -> Option<&DatabaseUrl> {
        self.database.as_ref()
    }

    /// The same home on its SQLite file, whatever database it is configured with
    /// (`db copy` reads it).
    pub fn sqlite(&self) -> Self {
        self.clone().with_database(None)
    }

    /// The same home with its master key at `key` (see [`KeyLocation::choose`]).
    pub fn with_master_key(mut self, key: KeyLocation) -> Self {
        self.key = Some(key);
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("certherd.db")
    }

    /// The master key file and where that choice came from.
    pub fn master_key_location(&self) -> KeyLocation {
        self.key.clone().unwrap_or_else(|| KeyLocation {
            path: self.dir.join("master.key"),
            source: KeySource::Home,
        })
    }

    /// The master key file.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_location().path
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

    /// Prepares a home for `init`: creates the directory (0700), the master key (0600; an
    /// existing key outside the home is used) and the database (0600). Refuses when a
    /// completed home is already there; a home left half-made by an interrupted `init` is
    /// reused.
    pub fn create(&self) -> Result<HomeStore, Error> {
        if let Some(url) = &self.database {
            return self
                .create_on(url)
                .map(|s| HomeStore::Postgres(Box::new(s)));
        }
        let key = self.master_key_location();
        let key_exists = key.path.exists();
        let db_exists = self.db_path().exists();
        if db_exists && key_exists {
            let store = self.open_store(MasterKey::load(&key.path)?)?;
            if store.meta(INITIALIZED)?.is_some() {
                return Err(Error::AlreadyInitialized {
                    home: self.dir.clone(),
                });
            }
            return Ok(HomeStore::Sqlite(store));
        }
        if db_exists && !key_exists && self.holds_sealed_secrets() {
            return Err(self.key_missing());
        }
        // A key outside the home may be provisioned first (a systemd credential must be).
        if db_exists || (key_exists && key.source == KeySource::Home) {
            return Err(Error::AlreadyInitialized {
                home: self.dir.clone(),
            });
        }
        self.make_dir()?;
        let master = if key_exists {
            MasterKey::load(&key.path)?
        } else {
            MasterKey::create(&key.path)?
        };
        // SQLite gives -wal and -shm the database file's mode: make it 0600 first.
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.db_path())
            .map_err(|source| Error::Io {
                action: "create",
                path: self.db_path(),
                source,
            })?;
        self.open_store(master).map(HomeStore::Sqlite)
    }

    /// `init` on PostgreSQL: the home directory and master key as for SQLite, the schema
    /// by the migrations; a database some home already initialized is refused.
    fn create_on(&self, url: &DatabaseUrl) -> Result<PgStore, Error> {
        // An unreachable database, or one that already holds a home, is said before
        // anything is written to the home.
        if crate::pg::holds_home(url.expose())? {
            return Err(Error::DatabaseInitialized {
                url: crate::redact_url(url.expose()),
            });
        }
        self.make_dir()?;
        let key = self.master_key_location();
        let master = if key.path.exists() {
            MasterKey::load(&key.path)?
        } else {
            MasterKey::create(&key.path)?
        };
        let store = PgStore::connect(url.expose(), master)?;
        if store.meta(INITIALIZED)?.is_some() {
            return Err(Error::AlreadyInitialized {
                home: self.dir.clone(),
            });
        }
        Ok(store)
    }

    /// Creates the home directory (0700) if it does not exist.
    fn make_dir(&self) -> Result<(), Error> {
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
        Ok(())
    }

    /// Opens an initialized home: its PostgreSQL database when it has one, else its
    /// `certherd.db`.
    pub fn open(&self) -> Result<HomeStore, Error> {
        self.open_as(crate::pg::APPLICATION)
    }

    /// [`Home::open`], a PostgreSQL connection naming itself `application` in
    /// `pg_stat_activity` (unless the URL sets `application_name`).
    pub fn open_as(&self, application: &str) -> Result<HomeStore, Error> {
        if let Some(url) = &self.database {
            let key = self.master_key_path();
            if !key.exists() {
                if crate::pg::holds_sealed_secrets(url.expose())? {
                    return Err(self.key_missing());
                }
                return Err(Error::NotInitialized {
                    home: self.dir.clone(),
                });
            }
            // A database without a home is said as such, and left as it was (no schema
            // made in it), so that `init` or `db copy` can still use it.
            let store =
                PgStore::connect_home_as(url.expose(), MasterKey::load(&key)?, application)?
                    .ok_or_else(|| Error::DatabaseEmpty {
                        url: crate::redact_url(url.expose()),
                        sqlite_here: self.db_path().exists(),
                    })?;
            return Ok(HomeStore::Postgres(Box::new(store)));
        }
        if !self.db_path().exists() && self.master_key_path().exists() {
            // A master key and no certherd.db: most likely a home on PostgreSQL opened
            // without its URL.
            return Err(Error::NoInventoryHere {
                home: self.dir.clone(),
            });
        }
        self.open_sqlite().map(HomeStore::Sqlite)
    }

    /// Opens the home's initialized `certherd.db`, whatever database it is configured with.
    pub fn open_sqlite(&self) -> Result<SqliteStore, Error> {
        if !self.db_path().exists() {
            return Err(Error::NotInitialized {
                home: self.dir.clone(),
            });
        }
        if !self.master_key_path().exists() {
            if self.holds_sealed_secrets() {
                return Err(self.key_missing());
            }
            return Err(Error::NotInitialized {
                home: self.dir.clone(),
            });
        }
        let store = self.open_store(MasterKey::load(&self.master_key_path())?)?;
        if store.meta(INITIALIZED)?.is_none() {
            return Err(Error::NotInitialized {
                home: self.dir.clone(),
            });
        }
        Ok(store)
    }

    /// Opens the database after making it and its -wal and -shm files 0600.
    fn open_store(&self, key: MasterKey) -> Result<SqliteStore, Error> {
        for path in self.db_files() {
            if let Ok(m) = fs::symlink_metadata(&path) {
                if m.is_file() && m.permissions().mode() & 0o077 != 0 {
                    // Not the owner: `status` and `check` name the file and the fix.
                    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
                }
            }
        }
        SqliteStore::open(&self.db_path(), key)
    }

    fn db_files(&self) -> [PathBuf; 3] {
        [
            self.db_path(),
            self.dir.join("certherd.db-wal"),
            self.dir.join("certherd.db-shm"),
        ]
    }

    /// Whether the database holds a sealed private key or secret (read without the key);
    /// a database that cannot be read is assumed to.
    fn holds_sealed_secrets(&self) -> bool {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let Ok(conn) = rusqlite::Connection::open_with_flags(self.db_path(), flags) else {
            return true;
        };
        conn.query_row(crate::model::HOLDS_SEALED_SECRETS, [], |r| {
            r.get::<_, bool>(0)
        })
        .unwrap_or(true)
    }

    fn key_missing(&self) -> Error {
        let chosen = self.master_key_location();
        let mut looked = vec![chosen.clone()];
        if chosen.source != KeySource::Home {
            looked.push(KeyLocation {
                path: self.dir.join("master.key"),
                source: KeySource::Home,
            });
        }
        Error::MasterKeyMissing {
            home: self.dir.clone(),
            looked: looked
                .iter()
                .map(|l| {
                    // A key in the home that the chosen place overrides is there, but not
                    // used: say so, or the message reads as if it were missing too.
                    if l.source == KeySource::Home
                        && chosen.source != KeySource::Home
                        && l.path.exists()
                    {
                        format!(
                            "{} (home: present, but not used while {} is chosen)",
                            l.path.display(),
                            chosen.source.as_str()
                        )
                    } else {
                        format!("{} ({}: no such file)", l.path.display(), l.source.as_str())
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The home directory, its files and the master key file when group or others may read
    /// or write them, each with the `chmod` that fixes it.
    pub fn mode_problems(&self) -> Result<Vec<ModeProblem>, Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                action: "inspect",
                path,
                source,
            }
        };
        let mut out = Vec::new();
        let meta = fs::metadata(&self.dir).map_err(io(&self.dir))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            out.push(ModeProblem {
                path: self.dir.clone(),
                mode,
                dir: true,
            });
        }
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        let key = self.master_key_path();
        if !files.contains(&key) {
            files.push(key);
        }
        files.sort();
        for path in files {
            let Ok(m) = fs::symlink_metadata(&path) else {
                continue;
            };
            let mode = m.permissions().mode() & 0o7777;
            if m.is_file() && mode & 0o077 != 0 {
                out.push(ModeProblem {
                    path,
                    mode,
                    dir: false,
                });
            }
        }
        Ok(out)
    }

    /// `certherd home seal-key move --to PATH`: writes the master key to `to` (0600; `to`
    /// must not exist), checks that the copy opens a sealed key of this home, and only then
    /// removes the old file. On any failure before that the old file is untouched and the
    /// new one removed.
    pub fn move_master_key(&self, to: &Path) -> Result<MovedKey, Error> {
        let from = self.master_key_location();
        if from.source == KeySource::SystemdCredential {
            return Err(Error::MasterKey {
                path: from.path,
                detail: "it is a systemd credential, read-only here; change LoadCredential= in the unit instead",
            });
        }
        // Loading checks the key and its mode before it is copied anywhere.
        self.open()?;
        MasterKey::load(&from.path)?;
        let bytes = fs::read(&from.path).map_err(|source| Error::Io {
            action: "read",
            path: from.path.clone(),
            source,
        })?;
        if same_file(&from.path, to) {
            return Err(Error::MasterKey {
                path: to.to_path_buf(),
                detail: "that is where the key already is",
            });
        }
        crate::atomic_file::write_new(to, &bytes, 0o600)?;
        let verified = self.clone().with_master_key(KeyLocation {
            path: to.to_path_buf(),
            source: KeySource::Env,
        });
        let verified_with = match verified.open().and_then(|s| first_sealed_entry(&s)) {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(to);
                return Err(e);
            }
        };
        fs::remove_file(&from.path).map_err(|source| Error::Io {
            action: "remove",
            path: from.path.clone(),
            source,
        })?;
        if let Some(parent) = from.path.parent() {
            if let Ok(d) = fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(MovedKey {
            from: from.path,
            to: to.to_path_buf(),
            verified_with,
        })
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The first entry with a sealed key, opened with the store's master key (`None` when the
/// home holds no private key yet).
fn first_sealed_entry(store: &impl Store) -> Result<Option<String>, Error> {
    for meta in store.entries(None)? {
        if let Some(e) = store.entry(&meta.entry)? {
            if e.key.is_some() {
                return Ok(Some(meta.entry.to_string()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Entry, Secret};
    use certherd_core::{EntryKind, EntryMeta, EntryRef, OffsetDateTime, Source};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// A home with one entry whose key is sealed.
    fn home_with_sealed_key(home: &Home) {
        let mut store = home.create().unwrap();
        let r: EntryRef = "svc/web".parse().unwrap();
        let at = OffsetDateTime::UNIX_EPOCH;
        let meta = EntryMeta {
            entry: r.clone(),
            kind: EntryKind::KeyPair,
            profile: None,
            source: Source::Issued,
            subject: "CN=web".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: at,
            not_after: at,
            sha256: "ab".repeat(32),
            issuer_sha256: None,
            stored_at: at,
        };
        store
            .apply(&[
                Change::CreateStore(r.store.clone(), at),
                Change::PutEntry {
                    entry: Box::new(Entry {
                        meta,
                        cert: vec![0x30, 0x00],
                        chain: vec![],
                        key: Some(Secret::new(b"private key".to_vec())),
                    }),
                    replace: false,
                },
                Change::SetMeta {
                    key: INITIALIZED.into(),
                    value: "1".into(),
                },
            ])
            .unwrap();
    }

    #[test]
    fn the_database_and_its_wal_files_are_0600_and_an_open_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        home_with_sealed_key(&home);
        let store = home.open().unwrap();
        for f in [
            "certherd.db",
            "certherd.db-wal",
            "certherd.db-shm",
            "master.key",
        ] {
            assert_eq!(mode(&home.dir().join(f)), 0o600, "{f}");
        }
        assert_eq!(mode(home.dir()), 0o700);
        assert!(home.mode_problems().unwrap().is_empty());
        drop(store);
        // A database left 0644 by an older certherd is made 0600 when it is opened.
        for f in ["certherd.db", "certherd.db-wal", "certherd.db-shm"] {
            let p = home.dir().join(f);
            if p.exists() {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        assert_eq!(
            home.mode_problems().unwrap().len(),
            1 + usize::from(home.dir().join("certherd.db-wal").exists())
                + usize::from(home.dir().join("certherd.db-shm").exists())
        );
        let _store = home.open().unwrap();
        assert_eq!(mode(&home.db_path()), 0o600);
        assert!(home.mode_problems().unwrap().is_empty());
    }

    #[test]
    fn an_open_home_directory_and_files_are_named_with_their_fix() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("my home");
        fs::create_dir(&h).unwrap();
        fs::set_permissions(&h, fs::Permissions::from_mode(0o755)).unwrap();
        let home = Home::new(&h);
        home_with_sealed_key(&home);
        fs::write(home.config_path(), "").unwrap();
        fs::set_permissions(home.config_path(), fs::Permissions::from_mode(0o664)).unwrap();
        let problems = home.mode_problems().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].dir && problems[0].mode == 0o755);
        assert_eq!(problems[0].fix(), format!("chmod 700 '{}'", h.display()));
        let line = problems[1].to_string();
        assert!(
            line.contains("certherd.toml is mode 0664: group and others may read and write it; fix: chmod 600 '"),
            "{line}"
        );
        // The database is 0600 even in an open directory.
        assert_eq!(mode(&home.db_path()), 0o600);
    }

    #[test]
    fn the_key_location_is_chosen_env_first_then_systemd_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("h");
        let creds = dir.path().join("creds");
        fs::create_dir(&creds).unwrap();
        let home_key = KeyLocation::choose(&h, None, Some(creds.as_os_str()));
        assert_eq!(
            home_key.source,
            KeySource::Home,
            "no credential file: the home"
        );
        assert_eq!(home_key.path, h.join("master.key"));
        fs::write(creds.join(MASTER_KEY_CREDENTIAL), [0u8; 32]).unwrap();
        let cred = KeyLocation::choose(&h, Some(OsStr::new("")), Some(creds.as_os_str()));
        assert_eq!(cred.source, KeySource::SystemdCredential);
        assert_eq!(cred.path, creds.join(MASTER_KEY_CREDENTIAL));
        let env = KeyLocation::choose(&h, Some(OsStr::new("/k/m.key")), Some(creds.as_os_str()));
        assert_eq!(
            (env.path.as_path(), env.source),
            (Path::new("/k/m.key"), KeySource::Env)
        );
    }

    #[test]
    fn the_key_moves_atomically_and_a_home_without_it_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        home_with_sealed_key(&home);
        let to = dir.path().join("keys").join("certherd.key");
        // The destination directory does not exist: nothing changes.
        assert!(home.move_master_key(&to).is_err());
        assert!(home.master_key_path().exists());
        fs::create_dir(dir.path().join("keys")).unwrap();
        // An existing file is never overwritten.
        fs::write(&to, b"other").unwrap();
        assert!(home.move_master_key(&to).is_err());
        assert_eq!(fs::read(&to).unwrap(), b"other");
        assert!(home.master_key_path().exists());
        fs::remove_file(&to).unwrap();

        let moved = home.move_master_key(&to).unwrap();
        assert_eq!(moved.verified_with.as_deref(), Some("svc/web"));
        assert_eq!(mode(&to), 0o600);
        assert!(!home.dir().join("master.key").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("keys")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");

        let err = home.open().unwrap_err();
        assert!(matches!(err, Error::MasterKeyMissing { .. }), "{err}");
        assert!(err
            .to_string()
            .contains(&home.dir().join("master.key").display().to_string()));
        let err = home.create().unwrap_err();
        assert!(matches!(err, Error::MasterKeyMissing { .. }), "{err}");

        let elsewhere = home.clone().with_master_key(KeyLocation::choose(
            home.dir(),
            Some(to.as_os_str()),
            None,
        ));
        let store = elsewhere.open().unwrap();
        let e = store.entry(&"svc/web".parse().unwrap()).unwrap().unwrap();
        assert_eq!(e.key.unwrap().expose(), b"private key");
        // A key that is not this home's is refused and removed; the old one stays.
        let wrong = dir.path().join("wrong.key");
        MasterKey::create(&wrong).unwrap();
        let bad = home.clone().with_master_key(KeyLocation {
            path: wrong.clone(),
            source: KeySource::Env,
        });
        let back = home.dir().join("master.key");
        let err = bad.move_master_key(&back).unwrap_err();
        assert!(matches!(err, Error::Unseal { .. }), "{err}");
        assert!(!back.exists() && wrong.exists());
    }

    #[test]
    fn a_home_key_overridden_by_a_missing_env_key_is_called_present_not_missing() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        home_with_sealed_key(&home);
        let gone = dir.path().join("nonexistent.key");
        let err = home
            .clone()
            .with_master_key(KeyLocation {
                path: gone.clone(),
                source: KeySource::Env,
            })
            .open()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("{} (env CERTHERD_MASTER_KEY_FILE: no such file)", gone.display()))
                && text.contains("master.key (home: present, but not used while env CERTHERD_MASTER_KEY_FILE is chosen)"),
            "{text}"
        );
    }

    #[test]
    fn init_with_the_key_outside_the_home_writes_no_key_into_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("m.key");
        let home = Home::new(dir.path().join("h")).with_master_key(KeyLocation {
            path: key.clone(),
            source: KeySource::Env,
        });
        home_with_sealed_key(&home);
        assert!(key.exists() && !home.dir().join("master.key").exists());
        assert_eq!(mode(&key), 0o600);
        home.open().unwrap();
    }
}
