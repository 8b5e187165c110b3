//! Storage for certherd: the [`Store`] trait, its SQLite implementation (the embedded
//! default), the home directory, and the master key that seals every private key at rest.
//!
//! [`PgStore`] implements the same trait on PostgreSQL; both backends' schemas are the
//! migration files under `migrations/`, applied once each and recorded (see [`migrations`]).
#![forbid(unsafe_code)]

mod atomic_file;
mod copy;
mod error;
mod groups;
mod home;
mod home_store;
mod lock;
mod master_key;
pub mod migrations;
mod model;
mod pg;
mod sqlite;

pub use home::INITIALIZED;

pub use atomic_file::{create_parents, dir_mode_for, file_type_words, write_atomic, write_out};
pub use copy::{CopiedTable, TABLES};
pub use error::Error;
pub use home::{
    DatabaseUrl, Home, KeyLocation, KeySource, ModeProblem, MovedKey, MASTER_KEY_CREDENTIAL,
    MASTER_KEY_ENV,
};
pub use home_store::HomeStore;
pub use lock::{HomeLock, LockHolder, Locked};
pub use master_key::MasterKey;
pub use model::{
    AdminCredential, AdminRole, AuditRecord, Change, CredentialKind, CrlRecord, Entry, HostOrder,
    HostState, Lease, Notification, RevocationRecord, Secret, StoreInfo,
};
pub use pg::{is_postgres_url, redact_url, PgStore};
pub use sqlite::{FaultHook, SqliteStore};

use certherd_core::{
    Alarm, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, StoreName, Watch,
    WatchKind,
};

/// The inventory of one node. Reads return plain values; every write goes through
/// [`Store::apply`], which applies a whole batch atomically or not at all.
///
/// Its methods fall into the store's table groups: entries (stores, entries, secrets,
/// settings), trust (CRLs, revocations), the audit log, the fleet (hosts with their state,
/// join tokens, admin credentials, leases), alarms with the webhook outbox, watches, and
/// key providers. Each backend implements each group in a module of its own
/// (`sqlite/fleet.rs`, `pg/fleet.rs`, ...), and `apply` hands every change to its group's
/// module. It stays one trait: a batch crosses groups (an alarm with its notification, an
/// entry with its audit record), and callers name one trait.
pub trait Store {
    /// Where the inventory is kept, for people: the SQLite file, or the PostgreSQL URL
    /// with its password redacted.
    fn location(&self) -> String;
    /// A node-level setting (hostname, mode, current CA...).
    fn meta(&self, key: &str) -> Result<Option<String>, Error>;
    /// Every store with its entry count.
    fn stores(&self) -> Result<Vec<StoreInfo>, Error>;
    /// Entry facts without certificate or key bytes; one store or all.
    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error>;
    /// One entry in full, its key unsealed.
    fn entry(&self, entry: &EntryRef) -> Result<Option<Entry>, Error>;
    /// A named sealed secret (a pending CA key), unsealed.
    fn secret(&self, name: &str) -> Result<Option<Secret>, Error>;
    /// Trusted CRLs.
    fn crls(&self) -> Result<Vec<CrlRecord>, Error>;
    /// The CA's revocations, oldest first.
    fn revocations(&self) -> Result<Vec<RevocationRecord>, Error>;
    /// The audit log, oldest first.
    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error>;
    /// Hosts of the fleet, by name.
    fn hosts(&self) -> Result<Vec<Host>, Error>;
    /// One host by name.
    fn host(&self, name: &str) -> Result<Option<Host>, Error>;
    /// One host by name in any ASCII case (names enter lower-case, but an older release
    /// kept them as typed); by an index of the lower-cased names, not a scan.
    fn host_any_case(&self, name: &str) -> Result<Option<Host>, Error>;
    /// The host whose pinned pool-internal certificate has this SHA-256.
    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error>;
    /// A host's fleet state (what it reported, what is ordered); empty for an unknown host.
    fn host_state(&self, host: &str) -> Result<HostState, Error>;
    /// An admin credential by the SHA-256 of its token or client certificate.
    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error>;
    /// Every admin credential, by name then creation.
    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error>;
    /// Webhook notifications not delivered yet, oldest first.
    fn undelivered(&self) -> Result<Vec<Notification>, Error>;
    /// A join token by the SHA-256 of its text.
    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error>;
    /// Alarms, open and cleared, oldest first.
    fn alarms(&self) -> Result<Vec<Alarm>, Error>;
    /// Watched endpoints and files, of one kind or all, by kind then name.
    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error>;
    /// Key providers with their servers, by name.
    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error>;
    /// Applies every change, or none of them.
    fn apply(&mut self, changes: &[Change]) -> Result<(), Error>;
    /// Takes the lease `name` for `holder` until `until`, or renews it, unless another
    /// holder's lease still runs at `now`; atomic against every other server on the
    /// database. Returns the lease as it stands afterwards (see [`Lease::held_by`]).
    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Lease, Error>;
    /// Gives up `holder`'s lease `name` so another server takes it at once; a lease
    /// someone else holds is left alone.
    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error>;
    /// The lease `name`, if anyone ever took it.
    fn lease(&self, name: &str) -> Result<Option<Lease>, Error>;
}
