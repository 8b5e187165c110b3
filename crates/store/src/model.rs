//! The values stored: entries with their bytes, secrets, CRLs, audit records, changes.

use crate::Error;
use certherd_core::{
    Alarm, AlarmKind, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime,
    ProviderName, StoreName, Watch, WatchKind,
};

/// Secret bytes (a private key in DER). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes; call only where they are needed.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One entry in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The facts.
    pub meta: EntryMeta,
    /// The certificate, DER.
    pub cert: Vec<u8>,
    /// The chain above it (issuer first), DER each.
    pub chain: Vec<Vec<u8>>,
    /// The private key (PKCS#8 or other DER), if held.
    pub key: Option<Secret>,
}

/// A store and how many entries it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreInfo {
    /// Its name.
    pub name: StoreName,
    /// Entries in it.
    pub entries: usize,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A trusted CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlRecord {
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Issuer DN.
    pub issuer: String,
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Its thisUpdate: of two CRLs from one issuer, the later one is kept.
    pub this_update: OffsetDateTime,
    /// When it was added.
    pub added_at: OffsetDateTime,
}

/// A certificate the CA revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRecord {
    /// SHA-256 (hex) of the CA certificate that issued it.
    pub issuer_sha256: String,
    /// Its serial number, hex.
    pub serial: String,
    /// Its issuer DN.
    pub issuer: String,
    /// Its subject DN.
    pub subject: String,
    /// The entry it was (`STORE/ALIAS`).
    pub entry: String,
    /// The RFC 5280 reason name (`keyCompromise`, `unspecified`...).
    pub reason: String,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Who revoked it (a local user, an admin credential, or `host-remove`).
    pub revoked_by: String,
}

/// What an admin credential may do on the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminRole {
    /// Reads only (`GET`).
    Reader,
    /// Everything.
    Admin,
}

impl AdminRole {
    /// The role as stored and shown: `reader` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Admin => "admin",
        }
    }

    /// The role of a stored or typed name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reader" => Some(Self::Reader),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// How an admin credential is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// `Authorization: Bearer TOKEN`; the SHA-256 of the token is kept.
    Bearer,
    /// A client certificate over mutual TLS, issued by the CA; the SHA-256 of its DER is
    /// kept.
    ClientCert,
}

impl CredentialKind {
    /// The kind as stored and shown: `bearer` or `client-cert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::ClientCert => "client-cert",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bearer" => Some(Self::Bearer),
            "client-cert" => Some(Self::ClientCert),
            _ => None,
        }
    }
}

/// An admin credential of the server's admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminCredential {
    /// SHA-256 (hex) of the bearer token's text, or of the client certificate's DER.
    pub sha256: String,
    /// The admin's name (written in the audit log with every call).
    pub name: String,
    /// How it is presented.
    pub kind: CredentialKind,
    /// What it may do.
    pub role: AdminRole,
    /// When it was issued (`None`: before this was recorded).
    pub created_at: Option<OffsetDateTime>,
    /// When it stops being accepted, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// A client certificate's DER, kept so that revoking it can list it on the CA's CRL
    /// (`None` for a bearer token, and for certificates issued before it was kept).
    pub cert: Option<Vec<u8>>,
}

/// One line of the append-only audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: OffsetDateTime,
    /// What kind of action (`issue`, `renew`, `import`, `delete`, `trust-add`...).
    pub action: String,
    /// The entry or object acted on.
    pub subject: String,
    /// Details (never key material).
    pub detail: String,
}

/// What the server ordered a host to do at its next poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostOrder {
    /// Send a CSR for a new host certificate.
    Renew,
    /// Make and register a new pool-internal certificate.
    RefreshPool,
}

impl HostOrder {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Renew => "renew",
            Self::RefreshPool => "refresh-pool",
        }
    }

    /// The order of that name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "renew" => Some(Self::Renew),
            "refresh-pool" => Some(Self::RefreshPool),
            _ => None,
        }
    }
}

/// The fleet's state of one host besides its row: what it last reported and what is
/// ordered. All of it belongs to the host and is deleted with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    /// Its verification as it last reported it (`None` before its first report).
    pub verification: Option<bool>,
    /// SHA-256 (hex) of the roots it said it holds at its last poll, sorted.
    pub roots: Vec<String>,
    /// When a new host certificate was ordered, while the order waits.
    pub renew_ordered_at: Option<OffsetDateTime>,
    /// When a new pool-internal certificate was ordered, while the order waits.
    pub refresh_pool_ordered_at: Option<OffsetDateTime>,
    /// The deploy problem its agent last reported (`None`: its last deploy went well).
    pub deploy_error: Option<String>,
}

/// A webhook notification in the outbox, waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its row id.
    pub id: i64,
    /// The webhook URL it goes to.
    pub webhook: String,
    /// The JSON body.
    pub body: String,
    /// When it was queued (with the alarm change it tells of).
    pub created_at: OffsetDateTime,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not attempted before this instant.
    pub next_attempt: OffsetDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl Notification {
    /// Whether it is due for an attempt at `now`.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        self.next_attempt <= now
    }
}

/// Work that one server of several on a database does at a time, and who does it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What it is for (`lifecycle`).
    pub name: String,
    /// Who holds it (a server process).
    pub holder: String,
    /// When this holder took it (renewals keep it).
    pub taken_at: OffsetDateTime,
    /// When it lapses unless renewed; after that any server may take it.
    pub expires_at: OffsetDateTime,
}

impl Lease {
    /// Whether it is `holder`'s and still runs at `now`.
    pub fn held_by(&self, holder: &str, now: OffsetDateTime) -> bool {
        self.holder == holder && now < self.expires_at
    }
}

/// Unix milliseconds, as leases are stored (a lease bound of seconds needs better than
/// seconds).
pub(crate) fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The instant of stored unix milliseconds (out of range: the epoch, which has expired).
pub(crate) fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The statement that takes or renews a lease, in SQL both backends run: the row is
/// written when it is new, when its holder renews it, or when it has expired; a lease
/// held by another server and still running is left alone. `taken_at` stays while the
/// same holder renews. Parameters: name, holder, now, expires_at (unix ms).
pub(crate) const TAKE_LEASE: &str = "INSERT INTO leases (name, holder, taken_at, expires_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
     taken_at = CASE WHEN leases.holder = excluded.holder THEN leases.taken_at ELSE excluded.taken_at END \
     WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.taken_at";

/// Seconds since the epoch, as every time but a lease's is stored.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// The instant of stored seconds since the epoch; out of range is corruption.
pub(crate) fn from_ts(t: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp(t)
        .map_err(|_| Error::Corrupt(format!("timestamp {t} out of range")))
}

/// The context a stored entry's key is sealed under: its certificate's SHA-256.
pub(crate) fn key_context(sha256: &str) -> String {
    format!("entry-key:{sha256}")
}

/// A chain as stored: the certificates in PEM, one after the other.
pub(crate) fn chain_pem(chain: &[Vec<u8>]) -> String {
    chain
        .iter()
        .map(|c| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, c))
        .collect()
}

/// An entry's columns without its certificate, chain and key, in the order both backends
/// read them.
pub(crate) const META_COLUMNS: &str = "store, alias, kind, profile, source, subject, issuer, serial, not_before, not_after, sha256, issuer_sha256, stored_at";

/// Whether a database holds a sealed private key or secret, in SQL both backends run
/// (readable without the master key).
pub(crate) const HOLDS_SEALED_SECRETS: &str =
    "SELECT EXISTS (SELECT 1 FROM entries WHERE key_sealed IS NOT NULL) OR EXISTS (SELECT 1 FROM secrets)";

/// One write, applied with others in a single transaction by [`crate::Store::apply`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Change {
    /// Creates a store; an existing one is left as is.
    CreateStore(StoreName, OffsetDateTime),
    /// Writes an entry; refuses to overwrite unless `replace`.
    PutEntry {
        /// The entry.
        entry: Box<Entry>,
        /// Whether an existing entry of that name may be overwritten.
        replace: bool,
    },
    /// Deletes an entry, which must exist.
    DeleteEntry(EntryRef),
    /// Renames an entry (e.g. into the backup store), which must exist.
    MoveEntry {
        /// Current name.
        from: EntryRef,
        /// New name; must be free.
        to: EntryRef,
        /// When; becomes the entry's `stored_at`.
        at: OffsetDateTime,
    },
    /// Removes a node-level setting if present.
    DeleteMeta(String),
    /// Sets a node-level setting.
    SetMeta {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Stores a named secret, sealed.
    PutSecret {
        /// Name.
        name: String,
        /// The secret.
        secret: Secret,
    },
    /// Removes a named secret if present.
    DeleteSecret(String),
    /// Adds a trusted CRL (an identical one is kept as is).
    PutCrl(CrlRecord),
    /// Records a revocation; a certificate already revoked is refused.
    PutRevocation(RevocationRecord),
    /// Removes a CRL by its SHA-256, if present.
    DeleteCrl(String),
    /// Appends to the audit log.
    Audit(AuditRecord),
    /// Creates or replaces a key provider with its server list.
    PutKeyProvider {
        /// The provider.
        provider: KeyProvider,
        /// When (kept as its creation time on first write).
        at: OffsetDateTime,
    },
    /// Deletes a key provider, which must exist.
    DeleteKeyProvider(ProviderName),
    /// Deletes a store, which must be empty.
    DeleteStore(StoreName),
    /// Creates or replaces a watched endpoint or file.
    PutWatch(Box<Watch>),
    /// Deletes a watch, which must exist.
    DeleteWatch(WatchKind, String),
    /// Creates or updates a host.
    PutHost(Box<Host>),
    /// Forgets a host, which must exist, with every row that belongs to it: its tokens,
    /// reported verification, held roots and pending orders.
    DeleteHost(String),
    /// Records a join token, or its use.
    PutToken(JoinToken),
    /// Records what a host reported of its verification.
    SetHostVerification {
        /// The host, which must exist.
        host: String,
        /// Whether its verification is on.
        enabled: bool,
    },
    /// Records the deploy problem a host's agent reported, or clears it (`None`).
    SetHostDeployError {
        /// The host, which must exist.
        host: String,
        /// What went wrong, with the reload's output.
        error: Option<String>,
    },
    /// Replaces the roots a host reported holding.
    SetHostRoots {
        /// The host, which must exist.
        host: String,
        /// SHA-256 (hex) of each root.
        roots: Vec<String>,
    },
    /// Orders a host to do something at its next poll (a later order replaces the earlier).
    PutHostOrder {
        /// The host, which must exist.
        host: String,
        /// What is ordered.
        order: HostOrder,
        /// When.
        at: OffsetDateTime,
    },
    /// Removes an order once carried out, if present.
    DeleteHostOrder {
        /// The host.
        host: String,
        /// What was ordered.
        order: HostOrder,
    },
    /// Records an admin credential: a bearer token by the SHA-256 of its text, or a client
    /// certificate by the SHA-256 of its DER.
    PutAdminCredential(AdminCredential),
    /// Revokes every admin credential of this name not revoked yet.
    RevokeAdminCredentials {
        /// The admin's name.
        name: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Queues a webhook notification, due at once.
    QueueNotification {
        /// The webhook URL.
        webhook: String,
        /// The JSON body.
        body: String,
        /// When (its creation and first due time).
        at: OffsetDateTime,
    },
    /// Records a failed delivery attempt of a queued notification, which must exist.
    NotificationFailed {
        /// Its id.
        id: i64,
        /// Why it failed.
        error: String,
        /// When to try again.
        next_attempt: OffsetDateTime,
    },
    /// Removes a notification from the outbox (delivered, or its webhook is gone).
    DeleteNotification(i64),
    /// Records a newly raised alarm.
    RaiseAlarm(Alarm),
    /// Clears the open alarm of this kind about this subject, which must exist.
    ClearAlarm {
        /// Its kind.
        kind: AlarmKind,
        /// Its subject.
        subject: String,
        /// When it cleared.
        at: OffsetDateTime,
    },
}
