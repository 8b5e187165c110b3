//! Every operation as a request and an answer: [`Request`] names what is asked with its
//! inputs parsed, [`Answer`] holds what the operation gives back, of the protocol's types
//! (the admin API's bodies), so one view renders it whichever side carried it out.

use certherd_core::{EntryRef, OffsetDateTime};
use certherd_protocol::admin::{self as api, Op};
use certherd_protocol::{AlarmRow, HostRow};
use certherd_x509::RevocationReason;

/// Which entries `cert list` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertFilter {
    /// Only this store's entries (every entry of it, scanned copies too); else one row per
    /// certificate, its scanned copies named under it.
    pub store: Option<String>,
    /// Only entries of this profile.
    pub profile: Option<String>,
    /// Only entries of this status (`ok`, `warn`, `critical`, `expired`, ...).
    pub status: Option<String>,
    /// Only entries that lapse within this many days.
    pub expiring_within_days: Option<i64>,
    /// The instant each entry's status and days left are judged at (now when absent):
    /// `cert list --at +2y` shows what will have lapsed by then.
    pub at: Option<OffsetDateTime>,
}

/// Which records of the audit log `audit` pages through (every record when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only records of this action (`issue`, `host-add`, `admin-api`...), exactly.
    pub action: Option<String>,
    /// Only records whose subject contains this text (ignoring ASCII case).
    pub subject: Option<String>,
    /// Only records written at or after this time.
    pub since: Option<time::OffsetDateTime>,
    /// Only records written before this time.
    pub until: Option<time::OffsetDateTime>,
}

impl AuditFilter {
    /// Whether a record written at `at` with `action` and `subject` passes.
    pub fn passes(&self, at: time::OffsetDateTime, action: &str, subject: &str) -> bool {
        self.action.as_deref().is_none_or(|a| a == action)
            && self.subject.as_deref().is_none_or(|s| {
                subject
                    .to_ascii_lowercase()
                    .contains(&s.to_ascii_lowercase())
            })
            && self.since.is_none_or(|t| at >= t)
            && self.until.is_none_or(|t| at < t)
    }
}

/// How far ahead a forecast looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Horizon {
    /// This many days from now.
    Days(i64),
    /// Up to this time.
    Until(OffsetDateTime),
}

/// A key algorithm's name as the node takes it (`ecdsa-p256`, `rsa-2048`...), if given.
pub(crate) fn key_algo(
    name: Option<&str>,
) -> Result<Option<certherd_x509::KeyAlgorithm>, crate::Error> {
    name.map(str::parse)
        .transpose()
        .map_err(crate::Error::KeyAlgorithm)
}

/// Bytes that must not be shown (a private key, a PKCS#12 file, a password): `Debug`
/// prints their length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// What `cert import` reads its entry from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportSource {
    /// A certificate file (PEM or DER, perhaps with its chain), chain files and a key file.
    Files {
        /// The certificate file as read.
        cert: Vec<u8>,
        /// The chain files as read.
        chain: Vec<Vec<u8>>,
        /// The key file as read.
        key: Option<Secret>,
    },
    /// A PKCS#12 file and its password (empty: none).
    Pkcs12 {
        /// The file as read.
        data: Secret,
        /// Its password.
        password: Secret,
    },
}

/// One operation and its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// The fleet's hosts (`host list`).
    HostList,
    /// Enroll a host (`host add`).
    HostAdd(api::HostAddRequest),
    /// Forget a host and revoke its certificates (`host remove`).
    HostRemove {
        /// The host's name.
        name: String,
    },
    /// Order a new host certificate at the host's next poll (`host reset-server-cert`).
    HostResetServerCert {
        /// The host's name.
        name: String,
    },
    /// Order a new pool-internal certificate at the host's next poll
    /// (`host refresh-pool-cert`).
    HostRefreshPoolCert {
        /// The host's name.
        name: String,
    },
    /// Order new host certificates (`fleet renew`).
    FleetRenew(api::FleetRenewRequest),
    /// Certificate entries (`cert list`).
    CertList(CertFilter),
    /// Issue a certificate and key into a new entry (`cert issue`).
    CertIssue(api::IssueRequest),
    /// Issue several certificates in one transaction, all or none (`cert issue --from`).
    CertIssueBatch(api::IssueBatchRequest),
    /// One entry described (`cert show`).
    CertShow {
        /// The entry.
        entry: EntryRef,
    },
    /// Renew one entry (`cert renew STORE/ALIAS [--key-algo ALG]`).
    CertRenew {
        /// The entry.
        entry: EntryRef,
        /// The new key's algorithm; `None` keeps the old key's.
        key_algo: Option<certherd_x509::KeyAlgorithm>,
    },
    /// An entry's certificate and chain, never its key (`cert export`).
    CertExport {
        /// The entry.
        entry: EntryRef,
    },
    /// Revoke a certificate the CA issued (`cert revoke`).
    CertRevoke {
        /// The entry.
        entry: EntryRef,
        /// Why.
        reason: RevocationReason,
    },
    /// Trusted CA certificates (`trust list`).
    TrustList,
    /// Trust the CA certificates in PEM text (`trust add`).
    TrustAdd {
        /// The certificates, PEM.
        pem: String,
    },
    /// Stop trusting a CA certificate (`trust remove`).
    TrustRemove {
        /// Its SHA-256, or a unique prefix of 8+ hex digits (colons allowed).
        fingerprint: String,
    },
    /// Trusted CRLs.
    CrlList,
    /// Add a CRL signed by a trusted CA (`trust add-crl`).
    CrlAdd {
        /// The CRL, PEM.
        pem: String,
    },
    /// Alarms (`alarms`).
    Alarms {
        /// Cleared ones too.
        all: bool,
    },
    /// A page of the audit log, oldest first (`audit`).
    Audit {
        /// The index of the first record (among those `filter` passes).
        offset: u64,
        /// Records at most.
        limit: u64,
        /// Which records are paged through.
        filter: AuditFilter,
    },
    /// The pool's certificate verification setting (`pool verification status`).
    PoolVerificationGet,
    /// Turn the pool's certificate verification on or off.
    PoolVerificationSet {
        /// On or off.
        enabled: bool,
    },
    /// The signing CA (`ca show`).
    CaShow,
    /// One step of the staged CA rotation (`ca rotate`).
    CaRotate,
    /// Every expiry ahead (`forecast`).
    Forecast(Horizon),
    /// Each key provider and the health of its KMIP servers, checked now
    /// (`key-provider status`).
    KeyProviders {
        /// Only this provider.
        name: Option<String>,
        /// How long each server may take to connect and answer, in seconds.
        timeout_seconds: u64,
    },
    /// The monitoring check of the whole inventory (`check`).
    Check {
        /// The instant to check (now when absent).
        at: Option<OffsetDateTime>,
        /// The warning threshold (certherd.toml's when absent).
        warn: Option<certherd_core::Span>,
        /// The critical threshold (certherd.toml's when absent).
        crit: Option<certherd_core::Span>,
    },
    /// The node at a glance (`status`).
    Status,
    /// The named stores (`store list`).
    StoreList,
    /// The profiles in force (`profile list`).
    ProfileList,
    /// Each host's pinned certificates (`pool certificate-list`).
    PoolCertificates,
    /// The root clients should trust (`ca export`).
    CaRoot,
    /// The webhook notifications not delivered yet (under `alarms`).
    Notifications,
    /// The signing CA's current CRL (`ca crl`).
    CaCrl,
    /// Delete an entry (`cert delete`).
    CertDelete {
        /// The entry.
        entry: EntryRef,
    },
    /// The watched endpoints (`endpoint list`).
    EndpointList,
    /// Stop watching an endpoint (`endpoint remove`).
    EndpointRemove {
        /// The endpoint's name.
        name: String,
    },
    /// Replace an imported entry with a CA-issued one (`cert reset STORE/ALIAS`).
    CertReset {
        /// The entry.
        entry: EntryRef,
    },
    /// Renew a selection of entries, or plan it (`cert renew --all`, `--due`...).
    Renewals(api::RenewalsRequest),
    /// Reset every imported entry, or plan it (`cert reset --all`).
    Resets(api::ResetsRequest),
    /// Import a certificate and its key into an entry (`cert import`).
    CertImport {
        /// The entry.
        entry: EntryRef,
        /// The files.
        source: ImportSource,
        /// The profile renewals and checks apply to it.
        profile: Option<String>,
    },
    /// Create a service identity: its store and certificate (`service add`).
    ServiceAdd {
        /// The service's name.
        name: String,
    },
    /// Watch a TLS endpoint (`endpoint add`).
    EndpointAdd(api::EndpointAddRequest),
    /// Scan TLS endpoints from this side and record them (`scan tls`).
    ScanTls(api::ScanTlsRequest),
    /// Pin what an endpoint presents now (`endpoint trust`).
    EndpointTrust {
        /// The endpoint's name.
        name: String,
        /// The thumbprint checked, and the bound of the probe.
        probe: api::ProbeRequest,
    },
    /// Diagnose an endpoint (`endpoint diagnose`).
    EndpointDiagnose {
        /// The endpoint's name.
        name: String,
        /// The bound of the probe.
        probe: api::ProbeRequest,
    },
    /// The HTML report, its forecast up to `until` (`report`).
    Report {
        /// The end of the forecast.
        until: OffsetDateTime,
    },
    /// Judge a certificate against the home's trust (`verify`).
    Verify(api::VerifyRequest),
    /// Create a key provider with its first KMIP server (`key-provider create`).
    KeyProviderCreate(api::KeyProviderCreateRequest),
    /// The key providers as set up (`key-provider list`).
    KeyProviderList,
    /// Add a KMIP server to a key provider (`key-provider add-server`).
    KeyProviderAddServer {
        /// The provider.
        name: String,
        /// The server.
        server: api::KmipServerAddRequest,
    },
    /// Remove a key provider (`key-provider remove`).
    KeyProviderRemove {
        /// The provider.
        name: String,
    },
    /// Make a provider's client certificate (`key-provider client-cert new`).
    KmipClientNew {
        /// The provider.
        name: String,
        /// How.
        request: api::KmipClientNewRequest,
    },
    /// A provider's client certificate and chain, PEM (`key-provider client-cert export`).
    KmipClientExport {
        /// The provider.
        name: String,
    },
    /// A CSR for a provider's client certificate, its key kept sealed
    /// (`key-provider client-cert csr`).
    KmipClientCsr {
        /// The provider.
        name: String,
        /// How.
        request: api::KmipClientCsrRequest,
    },
    /// Upload the client certificate signed from the provider's CSR
    /// (`key-provider client-cert upload` without `--key`).
    KmipClientUpload {
        /// The provider.
        name: String,
        /// The certificate file as read.
        cert: Vec<u8>,
    },
    /// What each KMIP server of a provider presents (`key-provider server-cert get`).
    KmipServerCerts {
        /// The provider.
        name: String,
    },
    /// Trust what a provider's KMIP servers present (`key-provider server-cert trust`).
    KmipServerTrust {
        /// The provider.
        name: String,
        /// The thumbprint and the server.
        request: api::KmipTrustRequest,
    },
    /// Issue an admin bearer token (`admin credential NAME`).
    CredentialAdd(api::CredentialAddRequest),
    /// Every admin credential (`admin credential list`).
    CredentialList,
    /// Revoke every credential of a name (`admin credential revoke`).
    CredentialRevoke {
        /// Whose.
        name: String,
        /// Why, for the CRL.
        reason: RevocationReason,
    },
}

impl Request {
    /// The admin endpoint that carries it.
    pub fn op(&self) -> Op {
        match self {
            Self::HostList => Op::HostList,
            Self::HostAdd(_) => Op::HostAdd,
            Self::HostRemove { .. } => Op::HostRemove,
            Self::HostResetServerCert { .. } => Op::HostResetServerCert,
            Self::HostRefreshPoolCert { .. } => Op::HostRefreshPoolCert,
            Self::FleetRenew(_) => Op::FleetRenew,
            Self::CertList(_) => Op::CertList,
            Self::CertIssue(_) => Op::CertIssue,
            Self::CertIssueBatch(_) => Op::CertIssueBatch,
            Self::CertShow { .. } => Op::CertShow,
            Self::CertRenew { .. } => Op::CertRenew,
            Self::CertExport { .. } => Op::CertExport,
            Self::CertRevoke { .. } => Op::CertRevoke,
            Self::TrustList => Op::TrustList,
            Self::TrustAdd { .. } => Op::TrustAdd,
            Self::TrustRemove { .. } => Op::TrustRemove,
            Self::CrlList => Op::CrlList,
            Self::CrlAdd { .. } => Op::CrlAdd,
            Self::Alarms { .. } => Op::Alarms,
            Self::Audit { .. } => Op::Audit,
            Self::PoolVerificationGet => Op::PoolVerificationGet,
            Self::PoolVerificationSet { .. } => Op::PoolVerificationSet,
            Self::CaShow => Op::CaShow,
            Self::CaRotate => Op::CaRotate,
            Self::Forecast(_) => Op::Forecast,
            Self::KeyProviders { .. } => Op::KeyProviders,
            Self::Check { .. } => Op::Check,
            Self::Status => Op::Status,
            Self::StoreList => Op::StoreList,
            Self::ProfileList => Op::ProfileList,
            Self::PoolCertificates => Op::PoolCertificates,
            Self::CaRoot => Op::CaRoot,
            Self::Notifications => Op::Notifications,
            Self::CaCrl => Op::CaCrl,
            Self::CertDelete { .. } => Op::CertDelete,
            Self::EndpointList => Op::EndpointList,
            Self::EndpointRemove { .. } => Op::EndpointRemove,
            Self::CertReset { .. } => Op::CertReset,
            Self::Renewals(_) => Op::Renewals,
            Self::Resets(_) => Op::Resets,
            Self::CertImport { .. } => Op::CertImport,
            Self::ServiceAdd { .. } => Op::ServiceAdd,
            Self::EndpointAdd(_) => Op::EndpointAdd,
            Self::ScanTls(_) => Op::ScanTls,
            Self::EndpointTrust { .. } => Op::EndpointTrust,
            Self::EndpointDiagnose { .. } => Op::EndpointDiagnose,
            Self::Report { .. } => Op::Report,
            Self::Verify(_) => Op::Verify,
            Self::KeyProviderCreate(_) => Op::KeyProviderCreate,
            Self::KeyProviderList => Op::KeyProviderList,
            Self::KeyProviderAddServer { .. } => Op::KeyProviderAddServer,
            Self::KeyProviderRemove { .. } => Op::KeyProviderRemove,
            Self::KmipClientNew { .. } => Op::KmipClientNew,
            Self::KmipClientExport { .. } => Op::KmipClientExport,
            Self::KmipClientCsr { .. } => Op::KmipClientCsr,
            Self::KmipClientUpload { .. } => Op::KmipClientUpload,
            Self::KmipServerCerts { .. } => Op::KmipServerCerts,
            Self::KmipServerTrust { .. } => Op::KmipServerTrust,
            Self::CredentialAdd(_) => Op::CredentialAdd,
            Self::CredentialList => Op::CredentialList,
            Self::CredentialRevoke { .. } => Op::CredentialRevoke,
        }
    }
}

/// What an operation gave back: one variant per [`Request`] variant, of the admin API's
/// answer types.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Answer {
    /// [`Request::HostList`].
    Hosts(Vec<HostRow>),
    /// [`Request::HostAdd`].
    HostAdded(api::HostAdded),
    /// [`Request::HostRemove`].
    HostRemoved(api::HostRemoved),
    /// [`Request::HostResetServerCert`], [`Request::HostRefreshPoolCert`],
    /// [`Request::FleetRenew`]: the hosts ordered.
    Ordered(api::HostsAnswer),
    /// [`Request::CertList`].
    Certs(Vec<api::CertRow>),
    /// [`Request::CertIssue`], [`Request::CertRenew`], [`Request::CertReset`],
    /// [`Request::ServiceAdd`].
    Issued(api::IssuedAnswer),
    /// [`Request::CertIssueBatch`].
    IssuedBatch(api::IssueBatchAnswer),
    /// [`Request::CertShow`].
    Cert(api::CertDetail),
    /// [`Request::CertExport`].
    Exported(api::ExportAnswer),
    /// [`Request::CertRevoke`].
    Revoked(api::RevokeAnswer),
    /// [`Request::TrustList`].
    Trusted(Vec<api::TrustRow>),
    /// [`Request::TrustAdd`].
    TrustAdded(api::TrustAddAnswer),
    /// [`Request::TrustRemove`].
    TrustRemoved(api::TrustRow),
    /// [`Request::CrlList`].
    Crls(Vec<api::CrlRow>),
    /// [`Request::CrlAdd`].
    CrlAdded(api::CrlRow),
    /// [`Request::Alarms`].
    Alarms(Vec<AlarmRow>),
    /// [`Request::Audit`].
    Audit(api::AuditPage),
    /// [`Request::PoolVerificationGet`], [`Request::PoolVerificationSet`].
    Verification(api::PoolVerification),
    /// [`Request::CaShow`].
    Ca(api::CaAnswer),
    /// [`Request::CaRotate`].
    Rotation(api::RotationAnswer),
    /// [`Request::Forecast`].
    Forecast(api::ForecastAnswer),
    /// [`Request::KeyProviders`].
    KeyProviders(Vec<api::KeyProviderHealth>),
    /// [`Request::Check`].
    Check(api::CheckAnswer),
    /// [`Request::Status`].
    Status(Box<api::StatusAnswer>),
    /// [`Request::StoreList`].
    Stores(Vec<api::StoreRow>),
    /// [`Request::ProfileList`].
    Profiles(Vec<api::ProfileRow>),
    /// [`Request::PoolCertificates`].
    PoolCertificates(Vec<api::PoolCertRow>),
    /// [`Request::CaRoot`].
    CaRoot(api::CaRoot),
    /// [`Request::Notifications`].
    Notifications(api::NotificationsRow),
    /// [`Request::CaCrl`].
    CaCrl(api::CaCrl),
    /// [`Request::CertDelete`].
    Deleted(api::Deleted),
    /// [`Request::EndpointList`].
    Endpoints(Vec<api::WatchRow>),
    /// [`Request::EndpointRemove`].
    EndpointRemoved(api::EndpointRemoved),
    /// [`Request::Renewals`], [`Request::Resets`].
    Run(api::RunAnswer),
    /// [`Request::CertImport`].
    Imported(api::ImportAnswer),
    /// [`Request::EndpointAdd`].
    EndpointAdded(api::WatchRow),
    /// [`Request::ScanTls`].
    TlsScanned(api::ScanTlsAnswer),
    /// [`Request::EndpointTrust`].
    EndpointTrusted(api::EndpointTrusted),
    /// [`Request::EndpointDiagnose`].
    Diagnosis(api::DiagnosisAnswer),
    /// [`Request::Report`].
    Report(api::ReportAnswer),
    /// [`Request::Verify`].
    Verified(api::VerifyAnswer),
    /// [`Request::KeyProviderCreate`].
    KeyProviderCreated(api::KeyProviderCreated),
    /// [`Request::KeyProviderList`].
    KeyProviderRows(Vec<api::KeyProviderRow>),
    /// [`Request::KeyProviderAddServer`]: the provider as it is now.
    KeyProviderRow(api::KeyProviderRow),
    /// [`Request::KeyProviderRemove`].
    KeyProviderRemoved(api::KeyProviderRemoved),
    /// [`Request::KmipClientNew`], [`Request::KmipClientUpload`].
    KmipClient(api::KmipClientCert),
    /// [`Request::KmipClientExport`], [`Request::KmipClientCsr`].
    KmipPem(api::KmipPem),
    /// [`Request::KmipServerCerts`].
    KmipPresented(Vec<api::KmipPresented>),
    /// [`Request::KmipServerTrust`].
    KmipTrusted(Vec<api::KmipTrusted>),
    /// [`Request::CredentialAdd`].
    CredentialIssued(api::CredentialIssued),
    /// [`Request::CredentialList`].
    Credentials(Vec<api::CredentialRow>),
    /// [`Request::CredentialRevoke`].
    CredentialsRevoked(api::CredentialsRevoked),
}

impl Answer {
    /// The answer as the admin API's JSON body: the inner value alone (the variant is the
    /// endpoint's, not part of the body).
    pub fn to_json(&self) -> String {
        certherd_protocol::encode(self)
    }
}
