//! The SQLite implementation of [`Store`]: one file, WAL journal, one transaction per batch.
//!
//! This module holds the connection, its opening and the transaction of a batch; the
//! schema's migration is in `schema`, and each table group (see `crate::groups`) has its
//! reads and writes in a module of its own: `entries`, `trust`, `fleet`, `alarms`,
//! `watches`, `providers`, `audit`. [`Store`]'s methods hand over to them.

use std::path::Path;

use certherd_core::{
    Alarm, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, StoreName, Watch,
    WatchKind,
};
use rusqlite::{Connection, Transaction};

use crate::groups::Grouped;
use crate::{
    AdminCredential, AuditRecord, Change, CrlRecord, Entry, Error, HostState, Lease, MasterKey,
    Notification, RevocationRecord, Secret, Store, StoreInfo,
};

mod alarms;
mod audit;
mod entries;
mod fleet;
mod providers;
mod schema;
mod trust;
mod watches;

/// Statements through the connection's statement cache: a batch runs the same few
/// statements many times, and re-preparing them cost more than running them.
trait Cached {
    fn execute_cached(&self, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn query_row_cached<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn execute_cached(&self, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(p, f)
    }
}

/// The size SQLite truncates the write-ahead log to when it restarts it
/// (`journal_size_limit`), bytes.
const WAL_KEPT: u64 = 8 * 1024 * 1024;

/// The size of the write-ahead log past which a commit checkpoints it and truncates it,
/// waiting (briefly) for the readers: readers that never all stop at once (a busy
/// server's request threads) otherwise starve SQLite's own checkpoints and the log grows
/// by every write.
const WAL_LIMIT: u64 = 32 * 1024 * 1024;

/// How long that checkpoint waits for readers and writers, milliseconds: a reader that
/// stays longer (a long export) only puts it off to a later commit.
const WAL_CHECKPOINT_WAIT_MS: u64 = 200;

/// The connection's usual wait for a lock held by another, milliseconds.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Called with a crash-point name; tests make it abort the process.
pub type FaultHook = Box<dyn Fn(&str)>;

/// A node's inventory in one SQLite file.
pub struct SqliteStore {
    pub(crate) conn: Connection,
    path: std::path::PathBuf,
    key: MasterKey,
    pub(crate) fault: Option<FaultHook>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, sealing keys with `key`, and
    /// applies the migrations it lacks. A database of a newer schema than this binary
    /// knows is refused and left as it is.
    pub fn open(path: &Path, key: MasterKey) -> Result<Self, Error> {
        let conn = Connection::open(path).map_err(Error::sql("opening the database"))?;
        // WAL keeps readers off writers' backs; NORMAL sync never corrupts and, in WAL, loses
        // at most the last commits on power loss, which only ever rolls an entry back to its
        // previous (still stored) version.
        conn.execute_batch(&format!("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout={BUSY_TIMEOUT_MS}; PRAGMA journal_size_limit={WAL_KEPT}; PRAGMA cache_size=-32768; PRAGMA mmap_size=268435456;"))
            .map_err(Error::sql("configuring the database"))?;
        schema::migrate(&conn, path)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            key,
            fault: None,
        })
    }

    /// Whether the database file answers: its schema read, for a health check.
    pub fn ping(&self) -> Result<(), Error> {
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(Error::sql("checking that the database answers"))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bounds the memory this connection uses, for a bulk write (a scan of a whole disk):
    /// a smaller page cache and no memory map, so the database's pages are not all mapped
    /// in as they are written and read back. Slower for large reads; writes barely notice.
    pub fn bound_memory(&self) -> Result<(), Error> {
        self.conn
            .execute_batch("PRAGMA cache_size=-8192; PRAGMA mmap_size=0;")
            .map_err(Error::sql("configuring the database"))
    }

    /// Checkpoints the write-ahead log and truncates it when it grew past [`WAL_LIMIT`]
    /// (one `stat` otherwise). Housekeeping after a commit that stands: a checkpoint that
    /// cannot finish within [`WAL_CHECKPOINT_WAIT_MS`] (a long reader, another
    /// connection's checkpoint) is left to a later commit, and fails nothing.
    fn bound_wal(&self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).map_or(0, |m| m.len()) <= WAL_LIMIT {
            return;
        }
        let wait = |ms: u64| self.conn.busy_timeout(std::time::Duration::from_millis(ms));
        if wait(WAL_CHECKPOINT_WAIT_MS).is_ok() {
            // (busy, frames in the log, frames checkpointed): busy is a try put off.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                });
        }
        let _ = wait(BUSY_TIMEOUT_MS);
    }

    /// Installs a fault-injection hook, called with a point name at each crash point
    /// (`store.before-commit`). Tests use it to kill the process mid-write.
    pub fn set_fault_hook(&mut self, hook: FaultHook) {
        self.fault = Some(hook);
    }

    /// Applies one change inside `tx`, in the module of its table group.
    fn apply_one(&self, tx: &Transaction<'_>, change: &Change) -> Result<(), Error> {
        match change.grouped() {
            Grouped::Entries(c) => entries::apply(&self.key, tx, c),
            Grouped::Trust(c) => trust::apply(tx, c),
            Grouped::Fleet(c) => fleet::apply(tx, c),
            Grouped::Alarms(c) => alarms::apply(tx, c),
            Grouped::Watches(c) => watches::apply(tx, c),
            Grouped::KeyProviders(c) => providers::apply(tx, c),
            Grouped::Audit(a) => audit::apply(tx, a),
        }
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        entries::meta(self, key)
    }

    fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        entries::stores(self)
    }

    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
        entries::entries(self, store)
    }

    fn entry(&self, r: &EntryRef) -> Result<Option<Entry>, Error> {
        entries::entry(self, r)
    }

    fn secret(&self, name: &str) -> Result<Option<Secret>, Error> {
        entries::secret(self, name)
    }

    fn crls(&self) -> Result<Vec<CrlRecord>, Error> {
        trust::crls(self)
    }

    fn revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        trust::revocations(self)
    }

    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error> {
        audit::audit_log(self)
    }

    fn hosts(&self) -> Result<Vec<Host>, Error> {
        fleet::hosts(self)
    }

    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        fleet::host(self, name)
    }

    fn host_any_case(&self, name: &str) -> Result<Option<Host>, Error> {
        fleet::host_any_case(self, name)
    }

    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        fleet::host_by_pool(self, pool_sha256)
    }

    fn host_state(&self, host: &str) -> Result<HostState, Error> {
        fleet::host_state(self, host)
    }

    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error> {
        fleet::admin_credential(self, sha256)
    }

    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        fleet::admin_credentials(self)
    }

    fn undelivered(&self) -> Result<Vec<Notification>, Error> {
        alarms::undelivered(self)
    }

    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        fleet::join_token(self, sha256)
    }

    fn alarms(&self) -> Result<Vec<Alarm>, Error> {
        alarms::alarms(self)
    }

    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        watches::watches(self, kind)
    }

    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error> {
        providers::key_providers(self)
    }

    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Lease, Error> {
        fleet::take_lease(self, name, holder, now, until)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        fleet::release_lease(self, name, holder)
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>, Error> {
        fleet::lease(self, name)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(Error::sql("starting a transaction"))?;
        for change in changes {
            self.apply_one(&tx, change)?;
        }
        if let Some(hook) = &self.fault {
            hook("store.before-commit");
        }
        tx.commit().map_err(Error::sql("committing"))?;
        self.bound_wal();
        Ok(())
    }
}
