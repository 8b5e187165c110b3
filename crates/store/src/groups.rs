//! Every [`Change`] by the table group it writes, for both backends: each backend's
//! `apply` matches [`Change::grouped`] and hands each group's changes to that group's
//! module (`sqlite/entries.rs` and `pg/entries.rs`, ...). The match below is the one
//! place that says which group a change belongs to.
//!
//! The groups: entries (stores, entries, secrets, settings), trust (CRLs, revocations),
//! fleet (hosts, join tokens, their state, admin credentials; leases are read and taken
//! outside batches), alarms with the webhook outbox, watches, key providers, audit.

use certherd_core::{
    Alarm, AlarmKind, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, ProviderName,
    StoreName, Watch, WatchKind,
};

use crate::{
    AdminCredential, AuditRecord, Change, CrlRecord, Entry, HostOrder, RevocationRecord, Secret,
};

/// A change, by its table group; every field borrowed from the [`Change`].
pub(crate) enum Grouped<'a> {
    /// Stores, entries, secrets and settings.
    Entries(EntryChange<'a>),
    /// CRLs and revocations.
    Trust(TrustChange<'a>),
    /// Hosts and their rows, join tokens, admin credentials.
    Fleet(FleetChange<'a>),
    /// Alarms and the webhook outbox.
    Alarms(AlarmChange<'a>),
    /// Watched endpoints and files.
    Watches(WatchChange<'a>),
    /// Key providers with their servers.
    KeyProviders(ProviderChange<'a>),
    /// An audit record.
    Audit(&'a AuditRecord),
}

/// A change of stores, entries, secrets or settings (see [`Change`] for each).
pub(crate) enum EntryChange<'a> {
    CreateStore(&'a StoreName, &'a OffsetDateTime),
    DeleteStore(&'a StoreName),
    PutEntry {
        entry: &'a Entry,
        replace: &'a bool,
    },
    DeleteEntry(&'a EntryRef),
    MoveEntry {
        from: &'a EntryRef,
        to: &'a EntryRef,
        at: &'a OffsetDateTime,
    },
    SetMeta {
        key: &'a String,
        value: &'a String,
    },
    DeleteMeta(&'a String),
    PutSecret {
        name: &'a String,
        secret: &'a Secret,
    },
    DeleteSecret(&'a String),
}

/// A change of CRLs or revocations.
pub(crate) enum TrustChange<'a> {
    PutCrl(&'a CrlRecord),
    DeleteCrl(&'a String),
    PutRevocation(&'a RevocationRecord),
}

/// A change of hosts, their state, join tokens or admin credentials.
pub(crate) enum FleetChange<'a> {
    PutHost(&'a Host),
    DeleteHost(&'a String),
    PutToken(&'a JoinToken),
    SetHostVerification {
        host: &'a String,
        enabled: &'a bool,
    },
    SetHostDeployError {
        host: &'a String,
        error: &'a Option<String>,
    },
    SetHostRoots {
        host: &'a String,
        roots: &'a Vec<String>,
    },
    PutHostOrder {
        host: &'a String,
        order: &'a HostOrder,
        at: &'a OffsetDateTime,
    },
    DeleteHostOrder {
        host: &'a String,
        order: &'a HostOrder,
    },
    PutAdminCredential(&'a AdminCredential),
    RevokeAdminCredentials {
        name: &'a String,
        at: &'a OffsetDateTime,
    },
}

/// A change of alarms or the webhook outbox.
pub(crate) enum AlarmChange<'a> {
    RaiseAlarm(&'a Alarm),
    ClearAlarm {
        kind: &'a AlarmKind,
        subject: &'a String,
        at: &'a OffsetDateTime,
    },
    QueueNotification {
        webhook: &'a String,
        body: &'a String,
        at: &'a OffsetDateTime,
    },
    NotificationFailed {
        id: &'a i64,
        error: &'a String,
        next_attempt: &'a OffsetDateTime,
    },
    DeleteNotification(&'a i64),
}

/// A change of watches.
pub(crate) enum WatchChange<'a> {
    PutWatch(&'a Watch),
    DeleteWatch(&'a WatchKind, &'a String),
}

/// A change of key providers.
pub(crate) enum ProviderChange<'a> {
    PutKeyProvider {
        provider: &'a KeyProvider,
        at: &'a OffsetDateTime,
    },
    DeleteKeyProvider(&'a ProviderName),
}

impl Change {
    /// This change by its table group.
    pub(crate) fn grouped(&self) -> Grouped<'_> {
        use Grouped as G;
        match self {
            Change::CreateStore(name, at) => G::Entries(EntryChange::CreateStore(name, at)),
            Change::DeleteStore(name) => G::Entries(EntryChange::DeleteStore(name)),
            Change::PutEntry { entry, replace } => G::Entries(EntryChange::PutEntry {
                entry: entry.as_ref(),
                replace,
            }),
            Change::DeleteEntry(r) => G::Entries(EntryChange::DeleteEntry(r)),
            Change::MoveEntry { from, to, at } => {
                G::Entries(EntryChange::MoveEntry { from, to, at })
            }
            Change::SetMeta { key, value } => G::Entries(EntryChange::SetMeta { key, value }),
            Change::DeleteMeta(key) => G::Entries(EntryChange::DeleteMeta(key)),
            Change::PutSecret { name, secret } => {
                G::Entries(EntryChange::PutSecret { name, secret })
            }
            Change::DeleteSecret(name) => G::Entries(EntryChange::DeleteSecret(name)),
            Change::PutCrl(c) => G::Trust(TrustChange::PutCrl(c)),
            Change::DeleteCrl(sha) => G::Trust(TrustChange::DeleteCrl(sha)),
            Change::PutRevocation(r) => G::Trust(TrustChange::PutRevocation(r)),
            Change::PutHost(h) => G::Fleet(FleetChange::PutHost(h.as_ref())),
            Change::DeleteHost(name) => G::Fleet(FleetChange::DeleteHost(name)),
            Change::PutToken(t) => G::Fleet(FleetChange::PutToken(t)),
            Change::SetHostVerification { host, enabled } => {
                G::Fleet(FleetChange::SetHostVerification { host, enabled })
            }
            Change::SetHostDeployError { host, error } => {
                G::Fleet(FleetChange::SetHostDeployError { host, error })
            }
            Change::SetHostRoots { host, roots } => {
                G::Fleet(FleetChange::SetHostRoots { host, roots })
            }
            Change::PutHostOrder { host, order, at } => {
                G::Fleet(FleetChange::PutHostOrder { host, order, at })
            }
            Change::DeleteHostOrder { host, order } => {
                G::Fleet(FleetChange::DeleteHostOrder { host, order })
            }
            Change::PutAdminCredential(c) => G::Fleet(FleetChange::PutAdminCredential(c)),
            Change::RevokeAdminCredentials { name, at } => {
                G::Fleet(FleetChange::RevokeAdminCredentials { name, at })
            }
            Change::RaiseAlarm(a) => G::Alarms(AlarmChange::RaiseAlarm(a)),
            Change::ClearAlarm { kind, subject, at } => {
                G::Alarms(AlarmChange::ClearAlarm { kind, subject, at })
            }
            Change::QueueNotification { webhook, body, at } => {
                G::Alarms(AlarmChange::QueueNotification { webhook, body, at })
            }
            Change::NotificationFailed {
                id,
                error,
                next_attempt,
            } => G::Alarms(AlarmChange::NotificationFailed {
                id,
                error,
                next_attempt,
            }),
            Change::DeleteNotification(id) => G::Alarms(AlarmChange::DeleteNotification(id)),
            Change::PutWatch(w) => G::Watches(WatchChange::PutWatch(w.as_ref())),
            Change::DeleteWatch(kind, name) => G::Watches(WatchChange::DeleteWatch(kind, name)),
            Change::PutKeyProvider { provider, at } => {
                G::KeyProviders(ProviderChange::PutKeyProvider { provider, at })
            }
            Change::DeleteKeyProvider(name) => {
                G::KeyProviders(ProviderChange::DeleteKeyProvider(name))
            }
            Change::Audit(a) => G::Audit(a),
        }
    }
}
