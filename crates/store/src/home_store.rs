//! The store a home opens: its SQLite file, or the PostgreSQL database it is configured
//! with.

use certherd_core::{
    Alarm, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, StoreName, Watch,
    WatchKind,
};

use crate::{
    AdminCredential, AuditRecord, Change, CrlRecord, Entry, Error, FaultHook, HostState, Lease,
    Notification, PgStore, RevocationRecord, Secret, SqliteStore, Store, StoreInfo,
};

/// A home's store, on either backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum HomeStore {
    /// The home's `certherd.db`.
    Sqlite(SqliteStore),
    /// A PostgreSQL database (`--database`, `CERTHERD_DATABASE_URL`, `[database] url`).
    Postgres(Box<PgStore>),
}

impl HomeStore {
    /// Whether the store's connection is gone for good and it must be opened again (a
    /// PostgreSQL connection closed by the database or the network; never a SQLite file).
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Sqlite(_) => false,
            Self::Postgres(s) => s.is_closed(),
        }
    }

    /// Whether the database answers (a `SELECT 1` on this connection; PostgreSQL's
    /// bounded by `timeout` on the server's side): a health check, cheap enough for every
    /// call. The error names no password.
    pub fn ping(&self, timeout: std::time::Duration) -> Result<(), Error> {
        match self {
            Self::Sqlite(s) => s.ping(),
            Self::Postgres(s) => s.ping(timeout),
        }
    }

    /// `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }

    /// Installs a fault-injection hook (see [`SqliteStore::set_fault_hook`]).
    pub fn set_fault_hook(&mut self, hook: FaultHook) {
        match self {
            Self::Sqlite(s) => s.set_fault_hook(hook),
            Self::Postgres(s) => s.set_fault_hook(hook),
        }
    }

    /// Bounds this connection's memory for a bulk write (SQLite's page cache and memory
    /// map; PostgreSQL's memory is the server's, so nothing to do there).
    pub fn bound_memory(&self) -> Result<(), Error> {
        match self {
            Self::Sqlite(s) => s.bound_memory(),
            Self::Postgres(_) => Ok(()),
        }
    }
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            HomeStore::Sqlite($s) => $e,
            HomeStore::Postgres($s) => $e,
        }
    };
}

impl Store for HomeStore {
    fn location(&self) -> String {
        match self {
            Self::Sqlite(s) => s.location(),
            Self::Postgres(s) => s.location(),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        both!(self, s => s.meta(key))
    }
    fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        both!(self, s => s.stores())
    }
    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
        both!(self, s => s.entries(store))
    }
    fn entry(&self, entry: &EntryRef) -> Result<Option<Entry>, Error> {
        both!(self, s => s.entry(entry))
    }
    fn secret(&self, name: &str) -> Result<Option<Secret>, Error> {
        both!(self, s => s.secret(name))
    }
    fn crls(&self) -> Result<Vec<CrlRecord>, Error> {
        both!(self, s => s.crls())
    }
    fn revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        both!(self, s => s.revocations())
    }
    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error> {
        both!(self, s => s.audit_log())
    }
    fn hosts(&self) -> Result<Vec<Host>, Error> {
        both!(self, s => s.hosts())
    }
    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        both!(self, s => s.host(name))
    }
    fn host_any_case(&self, name: &str) -> Result<Option<Host>, Error> {
        both!(self, s => s.host_any_case(name))
    }
    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        both!(self, s => s.host_by_pool(pool_sha256))
    }
    fn host_state(&self, host: &str) -> Result<HostState, Error> {
        both!(self, s => s.host_state(host))
    }
    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error> {
        both!(self, s => s.admin_credential(sha256))
    }
    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        both!(self, s => s.admin_credentials())
    }
    fn undelivered(&self) -> Result<Vec<Notification>, Error> {
        both!(self, s => s.undelivered())
    }
    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        both!(self, s => s.join_token(sha256))
    }
    fn alarms(&self) -> Result<Vec<Alarm>, Error> {
        both!(self, s => s.alarms())
    }
    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        both!(self, s => s.watches(kind))
    }
    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error> {
        both!(self, s => s.key_providers())
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        both!(self, s => s.apply(changes))
    }
    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Lease, Error> {
        both!(self, s => s.take_lease(name, holder, now, until))
    }
    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        both!(self, s => s.release_lease(name, holder))
    }
    fn lease(&self, name: &str) -> Result<Option<Lease>, Error> {
        both!(self, s => s.lease(name))
    }
}
