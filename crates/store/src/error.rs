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
    /// The configured PostgreSQL database holds no certherd home.
    #[error("the database {url} holds no certherd home{}", if *sqlite_here { " (this home's inventory is in its certherd.db)" } else { "" })]
    DatabaseEmpty {
        /// The database URL, its password masked.
        url: String,
        /// Whether the home directory holds a SQLite inventory.
        sqlite_here: bool,
    },
    /// A home with a master key but no inventory file.
    #[error("{home} holds a master key but no certherd.db: if its inventory is in PostgreSQL, give the URL (--database, CERTHERD_DATABASE_URL or [database] url in certherd.toml)")]
    NoInventoryHere {
        /// The home directory.
        home: PathBuf,
    },
    /// `init` on a database that another home already initialized.
    #[error("the database {url} already holds a certherd home: to serve it from this home too, copy that home's certherd.toml and master.key here (a second server); to start a new fleet, init into an empty database")]
    DatabaseInitialized {
        /// The database URL, its password masked.
        url: String,
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
    /// The database's schema is newer than this binary: it is left untouched.
    #[error("{database} has schema version {found}, newer than this certherd knows (up to {supported}); run the certherd release that migrated it, or a newer one")]
    SchemaTooNew {
        /// The database file, or its URL without password.
        database: String,
        /// The version recorded in it.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// A migration failed; the transaction that applied it was rolled back.
    #[error("schema migration {version:04} ({name}) failed: {source}")]
    Migration {
        /// Its version.
        version: i64,
        /// Its name.
        name: &'static str,
        /// Why.
        source: Box<Error>,
    },
    /// The PostgreSQL database failed.
    #[error("PostgreSQL error while {context}: {source}")]
    Postgres {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        source: postgres::Error,
    },
    /// The PostgreSQL database cannot be reached.
    #[error("cannot connect to the database {url}: {}", chain(.source))]
    Unreachable {
        /// Its URL, password redacted.
        url: String,
        /// The driver's error.
        source: postgres::Error,
    },
    /// The database server's certificate does not hold the name it was reached by
    /// (`sslmode=verify-full`).
    #[error("cannot connect to the database {url}: {source}")]
    ServerName {
        /// Its URL, password redacted.
        url: String,
        /// The names: [`certherd_tls::Error::NameMismatch`] (boxed: large, and rare).
        source: Box<certherd_tls::Error>,
    },
    /// A database URL that is not one.
    #[error("invalid database URL {url}: {detail}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Two issued certificates with one issuer and one serial number.
    #[error(
        "an issued certificate with issuer {issuer_sha256} and serial {serial} is already stored"
    )]
    DuplicateSerial {
        /// SHA-256 of the issuer certificate.
        issuer_sha256: String,
        /// The serial number (hex).
        serial: String,
    },
    /// `db copy` was pointed at a database that already holds tables.
    #[error("the target database {url} is not empty (it holds {tables})")]
    TargetNotEmpty {
        /// Its URL, password redacted.
        url: String,
        /// The tables found, comma-separated.
        tables: String,
    },
    /// After a copy, a table's row count differs between source and target.
    #[error("copy check failed: table {table} has {source_rows} rows in the home but {target_rows} in the target; nothing was committed")]
    CopyMismatch {
        /// The table.
        table: &'static str,
        /// Rows in the SQLite home.
        source_rows: i64,
        /// Rows in PostgreSQL.
        target_rows: i64,
    },
    /// A read was asked for while the store's one connection was busy (a bug: the store
    /// is used from one thread, one call at a time).
    #[error("the database connection is already in use by another call")]
    ConnectionInUse,
    /// A stored row could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl Error {
    pub(crate) fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
        move |source| Error::Sqlite { context, source }
    }
}

impl Error {
    pub(crate) fn pg(context: &'static str) -> impl Fn(postgres::Error) -> Error {
        move |source| Error::Postgres { context, source }
    }
}

/// An error and its causes, as one line: the driver's "error connecting to server" says
/// why only in its source.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out.replace('\n', " ")
}
