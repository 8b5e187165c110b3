//! The admin API: every request and answer body of the endpoints under `/v1` that an
//! admin credential calls, the table of those endpoints ([`ROUTES`]), and the OpenAPI 3
//! document built from that table and these types ([`openapi`]), so the document, the
//! server's routing and the bodies cannot drift apart.
//!
//! Request bodies refuse fields they do not know (400 `invalid_request`); answers may gain
//! fields. Times are RFC 3339 text, certificates PEM text. No endpoint ever answers a
//! private key.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{AlarmRow, ErrorBody, ErrorCode, HostRow};

/// `GET /v1/openapi.json`: this API's OpenAPI 3 document (no credential needed).
pub const OPENAPI: &str = "/v1/openapi.json";

/// `POST /v1/hosts` request: enroll a host and issue its one-time join token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostAddRequest {
    /// The host's fully qualified name (its certificate's CN).
    #[schemars(regex(
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    ))]
    pub name: String,
    /// Its IP addresses (put in its certificate), at most 64 (`certherd_authority::MAX_HOST_IPS`).
    #[serde(default)]
    pub ips: Vec<String>,
    /// How long the token may be redeemed, in hours (default 24, at most 720).
    #[serde(default)]
    #[schemars(range(min = 1, max = 720))]
    pub token_ttl_hours: Option<u32>,
    /// The same in seconds, from 3600 to 2592000 (instead of `token_ttl_hours`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3600, max = 2_592_000))]
    pub token_ttl_seconds: Option<u32>,
}

/// `POST /v1/hosts` answer: the token is shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostAdded {
    /// The host enrolled.
    pub host: HostRow,
    /// The one-time join token (`certherd agent join --token`).
    pub token: String,
    /// When the token expires (RFC 3339).
    pub token_expires_at: String,
    /// The SHA-256 of the root CA the agent pins (`--ca-fingerprint`).
    pub ca_fingerprint: String,
    /// Whether the server's `/metrics` is readable without a credential (it lists every
    /// host): `[metrics] require_token = true` in certherd.toml closes it.
    #[serde(default)]
    pub metrics_open: bool,
}

/// Hosts ordered to do something at their next poll (`reset-server-cert`,
/// `refresh-pool-cert`, `fleet renew`), or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostsAnswer {
    /// The hosts concerned.
    pub hosts: Vec<String>,
}

/// `DELETE /v1/hosts/{name}` answer: the host is forgotten and its certificates revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostRemoved {
    /// The host removed.
    pub host: String,
    /// The certificates the removal revoked (the CA's CRL lists them).
    pub revoked: Vec<HostRevocation>,
}

/// One certificate revoked by a host's removal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostRevocation {
    /// The entry (`STORE/ALIAS`).
    pub entry: String,
    /// Its serial number, hex.
    pub serial: String,
    /// The reason name.
    pub reason: String,
}

/// `POST /v1/fleet/renew` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetRenewRequest {
    /// The hosts to order a new host certificate from; empty: every joined host.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// One certificate entry as `cert list` shows it (never its key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CertRow {
    /// Its store.
    pub store: String,
    /// Its alias within the store.
    pub alias: String,
    /// The profile it was issued under, if any.
    pub profile: Option<String>,
    /// `issued`, `imported`, `trusted`, ...
    pub source: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// `ok`, `warn`, `critical`, `expired`, ...
    pub status: String,
    /// Whether certherd renews it.
    pub auto_renew: bool,
    /// When its renewal is due, for entries certherd renews.
    pub renew_after: Option<String>,
    /// Whether the home holds its private key (never given out by the API).
    pub has_key: bool,
    /// SHA-256 of the certificate (hex).
    pub sha256: String,
    /// Other entries holding the same certificate (scanned copies), listed under it
    /// instead of on their own when no store is asked for.
    #[serde(default)]
    pub also_seen_at: Vec<String>,
}

/// One certificate of a chain, as `cert show` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainCert {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// SHA-256 (hex).
    pub sha256: String,
}

/// `GET /v1/certificates/{store}/{alias}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CertDetail {
    /// The entry.
    pub certificate: CertRow,
    /// DNS names and IP addresses it covers.
    pub sans: Vec<String>,
    /// Key usages.
    #[serde(default)]
    pub key_usage: Vec<String>,
    /// Extended key usages.
    pub extended_key_usage: Vec<String>,
    /// The public key, described.
    pub public_key: String,
    /// The signature algorithm.
    pub signature_algorithm: String,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// A CA certificate's path length constraint.
    #[serde(default)]
    pub path_len: Option<u32>,
    /// SHA-1 of the certificate (hex), as older tools show thumbprints.
    #[serde(default)]
    pub sha1: String,
    /// The chain above it, issuer first.
    pub chain: Vec<ChainCert>,
}

/// `POST /v1/certificates` request: `cert issue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The store to write to (created if needed; not a store certherd manages).
    pub store: String,
    /// The alias, which must not exist in the store.
    pub alias: String,
    /// The profile (`service`, `machine-ssl`, ...).
    pub profile: String,
    /// The common name; defaults to the first name, else the alias.
    #[serde(default)]
    pub common_name: Option<String>,
    /// DNS names and IP addresses, at most 100 (`certherd_authority::MAX_SANS`).
    #[serde(default)]
    pub names: Vec<String>,
    /// The key algorithm (`ecdsa-p256`, `rsa-2048`, ...); defaults to the profile's.
    #[serde(default)]
    pub key_algo: Option<String>,
}

/// The most requests one `POST /v1/certificates/batch` call takes.
pub const MAX_ISSUE_BATCH: usize = 1000;

/// `POST /v1/certificates/batch` request: several certificates issued in one transaction
/// (`cert issue --from FILE`), all of them or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBatchRequest {
    /// The certificates, 1 to 1,000 ([`MAX_ISSUE_BATCH`]), each as `POST /v1/certificates`
    /// takes it; no two for the same entry.
    pub requests: Vec<IssueRequest>,
}

/// `POST /v1/certificates/batch` answer: what each request issued, in the order asked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IssueBatchAnswer {
    /// One per request, in order.
    pub issued: Vec<IssuedAnswer>,
}

/// `POST /v1/certificates/{store}/{alias}/renew` body (`cert renew STORE/ALIAS`); the body
/// may be left out (older clients send none), which is `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The new key's algorithm (`rsa-2048`, `ecdsa-p256`, ...; any that `POST
    /// /v1/certificates` takes); defaults to the old key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_algo: Option<String>,
}

/// `POST /v1/certificates/{store}/{alias}/revoke` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The RFC 5280 reason name: `unspecified` (the default), `keyCompromise`,
    /// `cACompromise`, `affiliationChanged`, `superseded`, `cessationOfOperation`,
    /// `privilegeWithdrawn`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/certificates/{store}/{alias}/revoke` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevokeAnswer {
    /// The entry.
    pub entry: String,
    /// Its serial number, hex.
    pub serial: String,
    /// Its subject DN.
    #[serde(default)]
    pub subject: String,
    /// Its issuer DN.
    #[serde(default)]
    pub issuer: String,
    /// The reason name.
    pub reason: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: String,
    /// Who revoked it.
    pub revoked_by: String,
    /// False when it had been revoked before (nothing changed).
    pub revoked_now: bool,
    /// The number of the CRL published with it (a revocation now only).
    #[serde(default)]
    pub crl_number: Option<u64>,
    /// A live fleet host's certificate: the host ordered a new key and certificate at its
    /// next poll, with the revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_ordered: Option<String>,
}

/// `POST /v1/certificates` and `.../renew` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IssuedAnswer {
    /// The entry written.
    pub certificate: CertRow,
    /// Where the previous entry went (a renewal only).
    #[serde(default)]
    pub backup: Option<String>,
    /// Things the admin should know (validity capped by the CA...).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `GET /v1/certificates/{store}/{alias}/export` answer: the certificate and its chain,
/// never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExportAnswer {
    /// The certificate (PEM).
    pub certificate: String,
    /// The chain above it, issuer first (PEM each).
    pub chain: Vec<String>,
}

/// `POST /v1/trust` and `POST /v1/trust/crls` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PemRequest {
    /// PEM text: CA certificates, or a CRL.
    pub pem: String,
}

/// One trusted certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrustRow {
    /// Its alias in trusted-roots.
    pub alias: String,
    /// Subject DN.
    pub subject: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// SHA-256 (hex): what `DELETE /v1/trust/{sha256}` takes.
    pub sha256: String,
}

/// `POST /v1/trust` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrustAddAnswer {
    /// Newly trusted.
    pub added: Vec<TrustRow>,
    /// Trusted already.
    pub already: Vec<TrustRow>,
    /// What the inspection warns of.
    pub warnings: Vec<String>,
}

/// One trusted CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrlRow {
    /// Issuer DN.
    pub issuer: String,
    /// SHA-256 of its DER (hex).
    pub sha256: String,
    /// Its thisUpdate (RFC 3339).
    pub this_update: String,
    /// Its nextUpdate (RFC 3339), if it has one.
    #[serde(default)]
    pub next_update: Option<String>,
    /// How many certificates it revokes.
    #[serde(default)]
    pub revoked: u64,
    /// When it was added (RFC 3339).
    pub added_at: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRow {
    /// When (RFC 3339).
    pub at: String,
    /// The action (`issue`, `host-add`, `admin-api`...).
    pub action: String,
    /// What it was about (for `admin-api`: the credential's name).
    pub subject: String,
    /// Details.
    pub detail: String,
}

/// `GET /v1/audit` answer: one page, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    /// Records in the whole log.
    pub total: u64,
    /// The index of this page's first record.
    pub offset: u64,
    /// The page's records.
    pub records: Vec<AuditRow>,
}

/// `GET` and `PUT /v1/pool/verification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolVerification {
    /// Whether the pool's hosts verify certificates.
    pub enabled: bool,
}

/// `GET /v1/ca` answer: `ca show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaAnswer {
    /// `ca` or `subordinate`.
    pub mode: String,
    /// The signing CA's entry, when ready.
    pub entry: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
    /// Its issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Its notAfter (RFC 3339).
    pub not_after: Option<String>,
    /// Its public key, described.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Its SHA-256.
    pub sha256: Option<String>,
    /// The root at the top of its chain: its subject.
    #[serde(default)]
    pub root_subject: Option<String>,
    /// The root at the top of its chain: its SHA-256 (what agents pin).
    pub root_sha256: Option<String>,
    /// A rotation in progress: the retiring CA's entry.
    pub retiring: Option<String>,
    /// Subordinate mode waiting for its signed certificate.
    pub pending: bool,
}

/// `POST /v1/ca/rotate` answer: what one step of the staged rotation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RotationAnswer {
    /// The new CA's entry.
    pub new_ca: String,
    /// Its SHA-256.
    pub new_sha256: String,
    /// The old CA's entry.
    pub old_ca: String,
    /// Entries reissued under the new CA in this step, in order (those also in `failed`
    /// could not be).
    pub reissued: Vec<String>,
    /// Entries of `reissued` that could not be reissued, and why.
    #[serde(default)]
    pub failed: Vec<ReissueFailure>,
    /// Entries issued by the old CA that were not reissued on purpose (revoked ones stay
    /// revoked), and why.
    #[serde(default)]
    pub skipped: Vec<ReissueSkip>,
    /// Whether the old root was retired.
    pub retired: bool,
    /// Hosts that have not confirmed the new root yet (call again once they have).
    pub waiting_for: Vec<String>,
    /// Hosts ordered to renew under the new root.
    pub ordered: Vec<String>,
}

/// An entry a CA rotation step could not reissue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReissueFailure {
    /// The entry (`STORE/ALIAS`).
    pub entry: String,
    /// Why it failed.
    pub error: String,
}

/// An entry a CA rotation step left as it is on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReissueSkip {
    /// The entry (`STORE/ALIAS`).
    pub entry: String,
    /// Why, as a stable code (`revoked`).
    pub reason: String,
    /// Why, and what the admin may do, in words.
    pub detail: String,
}

/// One expiry on the forecast's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ForecastRow {
    /// The entry (`STORE/ALIAS`).
    pub entry: String,
    /// Its subject.
    pub subject: String,
    /// When it lapses (RFC 3339).
    pub not_after: String,
    /// What stops working.
    pub impact: String,
    /// Services affected.
    pub affected: Vec<String>,
    /// Whether automatic renewal replaces it in time.
    pub covered: bool,
    /// Whether it had lapsed already.
    pub already_expired: bool,
}

/// `GET /v1/forecast` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ForecastAnswer {
    /// The start (RFC 3339).
    pub from: String,
    /// The end (RFC 3339).
    pub until: String,
    /// Every expiry in the period, soonest first.
    pub items: Vec<ForecastRow>,
    /// The first expiry nothing renews: the day something breaks unattended.
    #[serde(default)]
    pub first_unattended: Option<ForecastRow>,
}

/// A home file or directory that group or others may read or write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HomeProblemRow {
    /// The file or directory.
    pub path: String,
    /// Its permission bits, four octal digits (`0644`).
    pub mode: String,
    /// The command that fixes it.
    pub fix: String,
    /// Who may do what to it, and the fix, in words.
    pub message: String,
}

/// An entry `check` found a problem with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckFinding {
    /// Its store.
    pub store: String,
    /// Its alias.
    pub alias: String,
    /// Its profile, if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// Its subject.
    pub subject: String,
    /// Valid from (RFC 3339).
    pub not_before: String,
    /// Valid until (RFC 3339).
    pub not_after: String,
    /// Whole days from the instant checked to notAfter (negative once lapsed).
    pub days_left: i64,
    /// `warn`, `critical`, `expired`, `not-yet-valid`, `revoked`, ...
    pub status: String,
    /// `WARNING` or `CRITICAL`.
    pub severity: String,
}

/// One problem finding of a watched endpoint's or file's last scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchFindingRow {
    /// What was found (`expired`, `untrusted-root`, ...).
    pub kind: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// What it means, in words.
    pub message: String,
    /// What to do, if anything.
    #[serde(default)]
    pub hint: Option<String>,
}

/// A watched endpoint or file whose last scan found a warning or worse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchProblemRow {
    /// `endpoint` or `file`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `HOST:PORT`, or the file's path.
    pub target: String,
    /// The worst finding, in one line.
    pub finding: String,
    /// Every problem finding, worst first.
    pub findings: Vec<WatchFindingRow>,
    /// `WARNING` or `CRITICAL`.
    pub severity: String,
}

/// An open alarm no entry's status explains (chain-invalid, host-silent, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpenAlarmRow {
    /// Its kind.
    pub kind: String,
    /// What it is about.
    pub subject: String,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
    /// `WARNING` or `CRITICAL`.
    pub severity: String,
}

/// `GET /v1/check` answer: the monitoring check of the whole inventory at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckAnswer {
    /// `OK`, `WARNING` or `CRITICAL`.
    pub status: String,
    /// The monitoring-plugin exit code of `status` (0, 1 or 2).
    pub exit_code: u8,
    /// The instant checked (RFC 3339).
    pub at: String,
    /// The warning threshold (`30d`).
    pub warn: String,
    /// The critical threshold (`7d`).
    pub crit: String,
    /// Entries examined.
    pub examined: u64,
    /// The home's files that others may read or write (a warning each).
    pub home_problems: Vec<HomeProblemRow>,
    /// The entries with a problem, worst first.
    pub findings: Vec<CheckFinding>,
    /// Watched endpoints and files with a problem.
    pub watch_problems: Vec<WatchProblemRow>,
    /// Open alarms no entry explains.
    pub open_alarms: Vec<OpenAlarmRow>,
}

/// The CA as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusCa {
    /// Its entry (`STORE/ALIAS`), if it has one.
    #[serde(default)]
    pub entry: Option<String>,
    /// Its subject.
    pub subject: String,
    /// Its notAfter (RFC 3339).
    pub not_after: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// Where the home's master key is, and what chose it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MasterKeyRow {
    /// The key file.
    pub path: String,
    /// `home`, `env` (`CERTHERD_MASTER_KEY_FILE`) or `credential` (systemd).
    pub source: String,
}

/// The webhook notifications not delivered yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationsRow {
    /// How many wait in the outbox.
    pub undelivered: u64,
    /// The last delivery error, if any.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A failed poll of an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PollError {
    /// When (RFC 3339).
    pub at: String,
    /// Why.
    pub message: String,
}

/// A joined host's agent as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentStatus {
    /// The server it joined; none once the server removed it.
    #[serde(default)]
    pub server: Option<String>,
    /// The last successful poll (RFC 3339).
    #[serde(default)]
    pub last_poll: Option<String>,
    /// The last failed poll since then.
    #[serde(default)]
    pub last_error: Option<PollError>,
    /// The host certificate's notAfter (RFC 3339), if the host holds one.
    #[serde(default)]
    pub host_certificate_not_after: Option<String>,
    /// Whether it verifies the server.
    pub verification: bool,
}

/// `GET /v1/status` answer: the node at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusAnswer {
    /// The node's hostname.
    pub hostname: String,
    /// `ca`, `subordinate`, `hybrid` or `custom`.
    pub mode: String,
    /// The signing CA, once it is ready.
    #[serde(default)]
    pub ca: Option<StatusCa>,
    /// Entries in all.
    pub total: u64,
    /// Entries per status.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// The soonest expiry (superseded entries aside).
    #[serde(default)]
    pub next_expiry: Option<CertRow>,
    /// The soonest renewal due.
    #[serde(default)]
    pub next_renewal: Option<CertRow>,
    /// Where the master key is.
    #[serde(default)]
    pub master_key: Option<MasterKeyRow>,
    /// Where the inventory is kept (a file, or a PostgreSQL URL without its password).
    pub database: String,
    /// Webhook notifications not delivered yet.
    pub notifications: NotificationsRow,
    /// The home's files that others may read or write.
    pub mode_warnings: Vec<HomeProblemRow>,
    /// This node's agent, when it is a joined host.
    #[serde(default)]
    pub agent: Option<AgentStatus>,
}

/// A named store, as `store list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoreRow {
    /// Its name.
    pub name: String,
    /// How many entries it holds.
    pub entries: u64,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// A profile in force, as `profile list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileRow {
    /// Its name.
    pub name: String,
    /// The lifetime of what it issues (`2y`, `90d`).
    pub lifetime: String,
    /// Whether it issues CA certificates.
    pub ca: bool,
    /// Whether what it issues is self-signed.
    pub self_signed: bool,
    /// The extended key usages it sets (`serverAuth`, ...).
    pub eku: Vec<String>,
    /// The key algorithm it sets, if it sets one.
    #[serde(default)]
    pub key_algo: Option<String>,
    /// What stops working when a certificate of it lapses.
    pub impact: String,
}

/// A host's pinned certificate, as `pool certificate-list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PoolCertRow {
    /// The host.
    pub host: String,
    /// `pool-internal` or `server-identity`.
    pub kind: String,
    /// Its subject.
    pub subject: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// Its notAfter (RFC 3339).
    pub not_after: String,
}

/// `POST /v1/certificates/{store}/{alias}/import` request (`cert import`): files as read,
/// each in standard base64; either `cert` (with `chain` and `key`) or `pkcs12`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The certificate file (PEM or DER; a PEM bundle may carry its chain), base64.
    #[serde(default)]
    pub cert: Option<String>,
    /// Intermediate and root certificate files (PEM or DER), base64.
    #[serde(default)]
    pub chain: Vec<String>,
    /// The private key file (PEM or DER; PKCS#8, PKCS#1 or SEC1), base64.
    #[serde(default)]
    pub key: Option<String>,
    /// A PKCS#12 file carrying the certificate, its chain and its key, base64.
    #[serde(default)]
    pub pkcs12: Option<String>,
    /// The PKCS#12 file's password (empty or absent: none).
    #[serde(default)]
    pub password: Option<String>,
    /// The profile renewals and checks apply to it.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Never shows the key, the PKCS#12 file or its password: only whether each is there.
impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("cert", &self.cert.as_ref().map(String::len))
            .field("chain", &self.chain.len())
            .field("key", &self.key.is_some())
            .field("pkcs12", &self.pkcs12.is_some())
            .field("password", &self.password.is_some())
            .field("profile", &self.profile)
            .finish()
    }
}

/// `POST /v1/certificates/{store}/{alias}/import` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportAnswer {
    /// The live entry after the import.
    pub certificate: CertRow,
    /// Things the admin should know.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The certificate and key were already the live entry: nothing was changed and no
    /// backup made.
    #[serde(default)]
    pub unchanged: bool,
}

/// `POST /v1/services` request (`service add`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAddRequest {
    /// The service's name (`vpxd`, `wcp`...): its store, and its certificate's CN.
    pub name: String,
}

/// `POST /v1/endpoints` request (`endpoint add`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointAddRequest {
    /// A name for it (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// Where it listens, `HOST:PORT`.
    pub address: String,
    /// The name its certificate must cover and the SNI sent (default: the host).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Its chain must reach a trusted root (or its pin) and cover the name.
    #[serde(default)]
    pub verify: bool,
    /// STARTTLS spoken first: `postgres`, `ldap` or `smtp` (default: by the port).
    #[serde(default)]
    pub starttls: Option<String>,
}

/// `POST /v1/scans/tls` request (`scan tls`): the server connects to each target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanTlsRequest {
    /// `HOST:PORT` targets, each once (at most 10,000).
    pub targets: Vec<String>,
    /// The server name to send and check; absent: the host, and every name its watches
    /// were added with.
    #[serde(default)]
    pub sni: Option<String>,
    /// STARTTLS spoken first: `postgres`, `ldap` or `smtp` (absent: each watch's, else by
    /// the port).
    #[serde(default)]
    pub starttls: Option<String>,
    /// Probes at once (1 to 256).
    pub concurrency: u32,
    /// The bound of each probe, in milliseconds (1 to 3,600,000).
    pub timeout_ms: u64,
}

/// An endpoint a scan did not record, as it is watched with other settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeptWatch {
    /// The watch's name.
    pub name: String,
    /// The STARTTLS protocol it is watched with.
    pub starttls: String,
}

/// `POST /v1/scans/tls` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanTlsAnswer {
    /// Each target's watch as recorded, with its findings.
    pub watches: Vec<WatchRow>,
    /// The watches this scan created.
    #[serde(default)]
    pub new_names: Vec<String>,
    /// The endpoints it did not record.
    #[serde(default)]
    pub kept: Vec<KeptWatch>,
    /// The worst finding's severity (`warning`, `critical`), if any.
    #[serde(default)]
    pub worst: Option<String>,
}

/// `POST /v1/endpoints/{name}/trust` and `.../diagnose` request: how long to wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// The SHA-256 thumbprint checked on the appliance (trust only; 64 hex digits, colons
    /// allowed): a certificate with another one is refused.
    #[serde(default)]
    pub thumbprint: Option<String>,
    /// The connect and handshake bound, in milliseconds (1 to 3,600,000).
    pub timeout_ms: u64,
}

/// `POST /v1/endpoints/{name}/trust` answer: the certificate pinned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointTrusted {
    /// The endpoint's name.
    pub name: String,
    /// Its `HOST:PORT`.
    pub target: String,
    /// The certificate's subject.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Its serial number, hex.
    pub serial: String,
    /// Its notBefore, RFC 3339.
    pub not_before: String,
    /// Its notAfter, RFC 3339.
    pub not_after: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// `POST /v1/endpoints/{name}/diagnose` answer: whose configuration is at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiagnosisAnswer {
    /// The endpoint's name.
    pub endpoint: String,
    /// Its `HOST:PORT`.
    pub target: String,
    /// The STARTTLS protocol spoken, if any.
    pub starttls: Option<String>,
    /// The name the certificate was checked against.
    pub name_checked: String,
    /// `ok`, `network`, `service`, `server`, `credentials` or `certificate`.
    pub verdict: String,
    /// The worst finding in one line.
    pub finding: String,
    /// Every finding, critical first.
    pub findings: Vec<FindingRow>,
    /// What the scan saw besides its findings.
    pub facts: crate::facts::Facts,
}

/// `GET /v1/report` answer (`report`): one self-contained HTML page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportAnswer {
    /// The page.
    pub html: String,
    /// Certificates on it.
    pub certificates: u64,
    /// Certificates and watches needing attention.
    pub attention: u64,
    /// Open alarms.
    pub alarms: u64,
}

/// `POST /v1/verify` request (`verify`): a certificate judged against the server's trust
/// (or the anchors given) and its CRLs. Certificates and CRLs are DER, each in standard
/// base64. Nothing is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The certificate, then the intermediates presented with it (at most 10,000).
    pub presented: Vec<String>,
    /// Trust anchors instead of the home's trusted roots (at most 10,000).
    #[serde(default)]
    pub trusted: Vec<String>,
    /// CRLs to consult besides the home's (at most 10,000).
    #[serde(default)]
    pub crls: Vec<String>,
    /// A DNS name or IP address the certificate must cover.
    #[serde(default)]
    pub name: Option<String>,
    /// The instant to validate at, RFC 3339 (absent: now).
    #[serde(default)]
    pub at: Option<String>,
    /// `server`, `client` or `any` (absent: any).
    #[serde(default)]
    pub purpose: Option<String>,
    /// `expiring` is a warning within this span (absent: certherd.toml's).
    #[serde(default)]
    pub warn: Option<String>,
    /// `expiring` is critical within this span (absent: certherd.toml's).
    #[serde(default)]
    pub crit: Option<String>,
    /// Every certificate's revocation status must be known from the CRLs.
    #[serde(default)]
    pub crl_check_all: bool,
    /// Acceptable certificate policies, dotted OIDs (absent: anyPolicy).
    #[serde(default)]
    pub policy: Vec<String>,
    /// RFC 5280 initial-explicit-policy.
    #[serde(default)]
    pub explicit_policy: bool,
    /// RFC 5280 initial-policy-mapping-inhibit.
    #[serde(default)]
    pub inhibit_policy_mapping: bool,
    /// RFC 5280 initial-any-policy-inhibit.
    #[serde(default)]
    pub inhibit_any_policy: bool,
    /// Fail on every warning too.
    #[serde(default)]
    pub strict: bool,
}

/// `POST /v1/verify` answer: the verdict, the path and every finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyAnswer {
    /// Whether it passes (under `strict`, no warning either).
    pub valid: bool,
    /// The certificate's subject.
    pub subject: String,
    /// The instant judged, RFC 3339.
    pub at: String,
    /// Whether the path reaches a trust anchor.
    pub trusted: bool,
    /// Whether it covers the name asked for (absent when none was).
    pub covers_name: Option<bool>,
    /// The path's subjects, the certificate first.
    pub chain: Vec<String>,
    /// The worst finding in one line.
    pub finding: String,
    /// Whether it was judged strictly.
    pub strict: bool,
    /// What fails it, when it fails.
    pub failure: Option<String>,
    /// Every finding, worst first.
    pub findings: Vec<FindingRow>,
}

/// Which entries a renewal run takes (`cert renew` with a selection, or one entry's plan).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RenewSelect {
    /// Those due under the renewal policy (`--due`, the default).
    Due,
    /// Every entry certherd's CA issued (`--all`).
    All,
    /// Those of one profile (`--profile`).
    Profile {
        /// The profile's name.
        profile: String,
    },
    /// Those that lapse within a span (`--expiring-within 30d`).
    ExpiringWithin {
        /// The span: a number and a unit (`30d`, `12h`, `2w`).
        span: String,
    },
    /// One named entry (what `cert renew STORE/ALIAS --dry-run` plans).
    One {
        /// The entry (`STORE/ALIAS`).
        entry: String,
    },
}

/// `POST /v1/renewals` request: a renewal run over a selection (`cert renew --all`...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalsRequest {
    /// Which entries.
    pub select: RenewSelect,
    /// Only say which entries the run would take; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/resets` request: every imported entry replaced by a CA-issued one
/// (`cert reset --all`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetsRequest {
    /// Only say which entries the run would take; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One entry's turn in a renewal or reset run, in the order the run took them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RunStep {
    /// Renewed (or reset): the new certificate's facts.
    Renewed {
        /// The entry (`STORE/ALIAS`).
        entry: String,
        /// The new certificate's serial number, hex.
        serial: String,
        /// When the new certificate lapses, RFC 3339.
        not_after: String,
        /// Its profile.
        #[serde(default)]
        profile: Option<String>,
        /// Where the previous entry went.
        #[serde(default)]
        backup: Option<String>,
        /// Things the admin should know.
        #[serde(default)]
        warnings: Vec<String>,
    },
    /// The renewal failed; the entry is as it was.
    Failed {
        /// The entry (`STORE/ALIAS`).
        entry: String,
        /// Why.
        error: String,
    },
    /// Left alone when its turn came.
    Skipped(ReissueSkip),
}

/// `POST /v1/renewals` and `POST /v1/resets` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunAnswer {
    /// A dry run's entries, in the order a run would take them (empty for a run).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Each entry's turn, in order (empty for a dry run).
    #[serde(default)]
    pub steps: Vec<RunStep>,
    /// Entries the selection matched but that are left alone, with why.
    #[serde(default)]
    pub skipped: Vec<ReissueSkip>,
}

/// `DELETE /v1/certificates/{store}/{alias}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// The entry deleted (`STORE/ALIAS`).
    pub entry: String,
}

/// `GET /v1/ca/crl` answer: the signing CA's current CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaCrl {
    /// The CRL, PEM (published first when it was due).
    pub pem: String,
}

/// `GET /v1/ca/root` answer: the root clients should trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaRoot {
    /// The root certificate, PEM.
    pub pem: String,
}

/// One finding of a watch's last scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FindingRow {
    /// What was found (`expired`, `untrusted-root`, ...).
    pub kind: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// What it means, in words.
    pub message: String,
    /// What to do, if anything.
    pub hint: Option<String>,
    /// The certificate it is about, when not the leaf.
    pub subject: Option<String>,
}

/// A watched endpoint or file, as `endpoint list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchRow {
    /// `endpoint` or `file`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `HOST:PORT`, or the file's path.
    pub target: String,
    /// The name the certificate must cover (and the SNI sent), if not the host.
    pub server_name: Option<String>,
    /// The STARTTLS protocol spoken before the handshake, if any.
    pub starttls: Option<String>,
    /// Whether its chain must reach a trusted root and cover the name.
    pub verify: bool,
    /// The SHA-256 of the certificate it is pinned to, if any.
    pub pin_sha256: Option<String>,
    /// When it was last scanned (RFC 3339).
    pub scanned_at: Option<String>,
    /// `ok`, `warning` or `critical`.
    pub severity: String,
    /// The worst finding in one line (`not scanned yet` before the first scan).
    pub finding: String,
    /// Every finding of the last scan, worst first.
    pub findings: Vec<FindingRow>,
    /// What the last scan saw besides its findings.
    pub facts: crate::facts::Facts,
    /// The subject of the certificate last seen.
    pub subject: Option<String>,
    /// Its notAfter (RFC 3339).
    pub not_after: Option<String>,
    /// Its SHA-256.
    pub sha256: Option<String>,
}

/// `DELETE /v1/endpoints/{name}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointRemoved {
    /// The endpoint no longer watched.
    pub name: String,
}

/// One KMIP server of a key provider, as the health check found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KmipServerHealth {
    /// `HOST:PORT`.
    pub address: String,
    /// The proxy it is reached through, if any.
    #[serde(default)]
    pub proxy: Option<String>,
    /// `ok`, `unreachable`, `client-certificate-refused`, `server-certificate-changed`,
    /// `server-certificate-not-trusted`, `kmip-error` or `failed`.
    pub status: String,
    /// What was found, one line.
    pub detail: String,
}

/// `GET /v1/key-providers` answer row: a key provider and the health of its KMIP
/// servers (`key-provider status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyProviderHealth {
    /// The provider's name.
    pub name: String,
    /// The primary key id the key server holds.
    pub primary_key_id: String,
    /// Whether certherd holds a client certificate for it (none yet: every server fails,
    /// until `key-provider client-cert new NAME`).
    #[serde(default)]
    pub client_certificate: bool,
    /// `OK` only when a mutually authenticated KMIP session to each server works, else
    /// `ERROR`.
    pub health: String,
    /// Each server, in order.
    pub servers: Vec<KmipServerHealth>,
}

/// What an admin endpoint does (the server dispatches on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `GET /v1/hosts`.
    HostList,
    /// `POST /v1/hosts`.
    HostAdd,
    /// `DELETE /v1/hosts/{name}`.
    HostRemove,
    /// `POST /v1/hosts/{name}/reset-server-cert`.
    HostResetServerCert,
    /// `POST /v1/hosts/{name}/refresh-pool-cert`.
    HostRefreshPoolCert,
    /// `GET /v1/certificates`.
    CertList,
    /// `POST /v1/certificates`.
    CertIssue,
    /// `POST /v1/certificates/batch`.
    CertIssueBatch,
    /// `GET /v1/certificates/{store}/{alias}`.
    CertShow,
    /// `POST /v1/certificates/{store}/{alias}/renew`.
    CertRenew,
    /// `GET /v1/certificates/{store}/{alias}/export`.
    CertExport,
    /// `POST /v1/certificates/{store}/{alias}/revoke`.
    CertRevoke,
    /// `GET /v1/trust`.
    TrustList,
    /// `POST /v1/trust`.
    TrustAdd,
    /// `DELETE /v1/trust/{sha256}`.
    TrustRemove,
    /// `GET /v1/trust/crls`.
    CrlList,
    /// `POST /v1/trust/crls`.
    CrlAdd,
    /// `GET /v1/alarms`.
    Alarms,
    /// `GET /v1/audit`.
    Audit,
    /// `GET /v1/pool/verification`.
    PoolVerificationGet,
    /// `PUT /v1/pool/verification`.
    PoolVerificationSet,
    /// `POST /v1/fleet/renew`.
    FleetRenew,
    /// `GET /v1/ca`.
    CaShow,
    /// `POST /v1/ca/rotate`.
    CaRotate,
    /// `GET /v1/forecast`.
    Forecast,
    /// `GET /v1/key-providers`.
    KeyProviders,
    /// `GET /v1/check`.
    Check,
    /// `GET /v1/status`.
    Status,
    /// `GET /v1/stores`.
    StoreList,
    /// `GET /v1/profiles`.
    ProfileList,
    /// `GET /v1/pool/certificates`.
    PoolCertificates,
    /// `GET /v1/ca/root`.
    CaRoot,
    /// `GET /v1/notifications`.
    Notifications,
    /// `GET /v1/ca/crl`.
    CaCrl,
    /// `DELETE /v1/certificates/{store}/{alias}`.
    CertDelete,
    /// `GET /v1/endpoints`.
    EndpointList,
    /// `DELETE /v1/endpoints/{name}`.
    EndpointRemove,
    /// `POST /v1/certificates/{store}/{alias}/reset`.
    CertReset,
    /// `POST /v1/renewals`.
    Renewals,
    /// `POST /v1/resets`.
    Resets,
    /// `POST /v1/certificates/{store}/{alias}/import`.
    CertImport,
    /// `POST /v1/services`.
    ServiceAdd,
    /// `POST /v1/endpoints`.
    EndpointAdd,
    /// `POST /v1/scans/tls`.
    ScanTls,
    /// `POST /v1/endpoints/{name}/trust`.
    EndpointTrust,
    /// `POST /v1/endpoints/{name}/diagnose`.
    EndpointDiagnose,
    /// `GET /v1/report`.
    Report,
    /// `POST /v1/verify`.
    Verify,
    /// `POST /v1/key-providers`.
    KeyProviderCreate,
    /// `GET /v1/key-providers/list`.
    KeyProviderList,
    /// `POST /v1/key-providers/{name}/servers`.
    KeyProviderAddServer,
    /// `DELETE /v1/key-providers/{name}`.
    KeyProviderRemove,
    /// `POST /v1/key-providers/{name}/client-cert`.
    KmipClientNew,
    /// `GET /v1/key-providers/{name}/client-cert`.
    KmipClientExport,
    /// `POST /v1/key-providers/{name}/client-cert/csr`.
    KmipClientCsr,
    /// `PUT /v1/key-providers/{name}/client-cert`.
    KmipClientUpload,
    /// `GET /v1/key-providers/{name}/server-certs`.
    KmipServerCerts,
    /// `POST /v1/key-providers/{name}/server-certs/trust`.
    KmipServerTrust,
    /// `POST /v1/admin/credentials`.
    CredentialAdd,
    /// `GET /v1/admin/credentials`.
    CredentialList,
    /// `POST /v1/admin/credentials/{name}/revoke`.
    CredentialRevoke,
}

/// The type of a query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamType {
    /// Text.
    Text,
    /// A whole number in `min..=max`.
    Integer {
        /// The least accepted.
        min: i64,
        /// The most accepted.
        max: i64,
    },
    /// `true` or `false`.
    Boolean,
}

/// A query parameter of an endpoint (each optional).
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its type.
    pub kind: ParamType,
}

/// Builds the schema of a body (a reference into the document's components).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One admin endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// What it does.
    pub op: Op,
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{name}` for each path parameter.
    pub path: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// Its query parameters.
    pub query: &'static [Param],
    /// Its request body, if it takes one.
    pub request: Option<SchemaFn>,
    /// Its answer's body (status 200).
    pub answer: SchemaFn,
}

/// Two routes are the same endpoint when their method and path are.
impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        (self.op, self.method, self.path) == (other.op, other.method, other.path)
    }
}

impl Eq for Route {}

impl Route {
    /// Whether it changes anything (a `reader` credential may not call it).
    pub fn changes(&self) -> bool {
        self.method != "GET"
    }

    /// Whether its request body may be left out (an empty body is `{}`): a body added to
    /// an endpoint after clients that send none.
    pub fn body_optional(&self) -> bool {
        self.request.is_some() && matches!(self.op, Op::CertRenew)
    }

    /// The CLI commands its summary names, each in backticks (`host list`).
    pub fn commands(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut rest = self.summary;
        while let Some(start) = rest.find('`') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else { break };
            out.push(&after[..end]);
            rest = &after[end + 1..];
        }
        out
    }
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

const STORE_FILTER: Param = Param {
    name: "store",
    description: "only this store's entries",
    kind: ParamType::Text,
};
const PROFILE_FILTER: Param = Param {
    name: "profile",
    description: "only entries of this profile",
    kind: ParamType::Text,
};
const STATUS_FILTER: Param = Param {
    name: "status",
    description: "only entries of this status (ok, warn, critical, expired, ...)",
    kind: ParamType::Text,
};
const EXPIRING_FILTER: Param = Param {
    name: "expiring_within_days",
    description: "only entries that lapse within this many days",
    kind: ParamType::Integer { min: 0, max: 36500 },
};
const LIST_AT: Param = Param {
    name: "at",
    description: "judge each entry's status and days left at this instant, RFC 3339 (default now)",
    kind: ParamType::Text,
};
const ALL_ALARMS: Param = Param {
    name: "all",
    description: "cleared alarms too",
    kind: ParamType::Boolean,
};
const OFFSET: Param = Param {
    name: "offset",
    description: "the index of the first record (default 0)",
    kind: ParamType::Integer {
        min: 0,
        max: i64::MAX,
    },
};
const LIMIT: Param = Param {
    name: "limit",
    description: "records per page (default 100)",
    kind: ParamType::Integer { min: 1, max: 1000 },
};
const AUDIT_ACTION: Param = Param {
    name: "action",
    description: "only records of this action (issue, host-add, admin-api, ...)",
    kind: ParamType::Text,
};
const AUDIT_SUBJECT: Param = Param {
    name: "subject",
    description: "only records whose subject contains this text (ignoring case)",
    kind: ParamType::Text,
};
const AUDIT_SINCE: Param = Param {
    name: "since",
    description: "only records written at or after this time, RFC 3339",
    kind: ParamType::Text,
};
const AUDIT_UNTIL: Param = Param {
    name: "until",
    description: "only records written before this time, RFC 3339",
    kind: ParamType::Text,
};
const DAYS: Param = Param {
    name: "days",
    description: "how far ahead (default 365)",
    kind: ParamType::Integer { min: 1, max: 36500 },
};
const PROVIDER_FILTER: Param = Param {
    name: "name",
    description: "only this key provider",
    kind: ParamType::Text,
};
const KMIP_TIMEOUT: Param = Param {
    name: "timeout_seconds",
    description: "how long each KMIP server may take to connect and answer (default 10)",
    kind: ParamType::Integer { min: 1, max: 300 },
};
const CHECK_AT: Param = Param {
    name: "at",
    description: "the instant to check, RFC 3339 (default now)",
    kind: ParamType::Text,
};
const CHECK_WARN: Param = Param {
    name: "warn",
    description: "the warning threshold, a span such as 30d (default: certherd.toml, else 30d)",
    kind: ParamType::Text,
};
const CHECK_CRIT: Param = Param {
    name: "crit",
    description: "the critical threshold, a span such as 7d (default: certherd.toml, else 7d)",
    kind: ParamType::Text,
};
const UNTIL: Param = Param {
    name: "until",
    description: "the end of the period, RFC 3339, not in the past nor more than 100 years ahead (instead of days)",
    kind: ParamType::Text,
};

/// Every admin endpoint. The server routes by this table, and [`openapi`] describes it.
pub const ROUTES: &[Route] = &[
    Route {
        op: Op::HostList,
        method: "GET",
        path: "/v1/hosts",
        summary: "The fleet's hosts (`host list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<HostRow>>,
    },
    Route {
        op: Op::HostAdd,
        method: "POST",
        path: "/v1/hosts",
        summary: "Enroll a host; its one-time join token is in the answer, shown once (`host add`)",
        query: &[],
        request: Some(schema::<HostAddRequest>),
        answer: schema::<HostAdded>,
    },
    Route {
        op: Op::HostRemove,
        method: "DELETE",
        path: "/v1/hosts/{name}",
        summary: "Forget a host, its pins and its certificate, and revoke its certificates (`host remove`)",
        query: &[],
        request: None,
        answer: schema::<HostRemoved>,
    },
    Route {
        op: Op::HostResetServerCert,
        method: "POST",
        path: "/v1/hosts/{name}/reset-server-cert",
        summary: "Order a new host certificate at the host's next poll (`host reset-server-cert`)",
        query: &[],
        request: None,
        answer: schema::<HostsAnswer>,
    },
    Route {
        op: Op::HostRefreshPoolCert,
        method: "POST",
        path: "/v1/hosts/{name}/refresh-pool-cert",
        summary: "Order a new pool-internal certificate at the host's next poll (`host refresh-pool-cert`)",
        query: &[],
        request: None,
        answer: schema::<HostsAnswer>,
    },
    Route {
        op: Op::CertList,
        method: "GET",
        path: "/v1/certificates",
        summary: "Certificate entries, filtered (`cert list`)",
        query: &[
            STORE_FILTER,
            PROFILE_FILTER,
            STATUS_FILTER,
            EXPIRING_FILTER,
            LIST_AT,
        ],
        request: None,
        answer: schema::<Vec<CertRow>>,
    },
    Route {
        op: Op::CertIssue,
        method: "POST",
        path: "/v1/certificates",
        summary: "Issue a certificate and key under a profile into a new entry (`cert issue`)",
        query: &[],
        request: Some(schema::<IssueRequest>),
        answer: schema::<IssuedAnswer>,
    },
    Route {
        op: Op::CertIssueBatch,
        method: "POST",
        path: "/v1/certificates/batch",
        summary: "Issue up to 1,000 certificates and keys in one transaction, all of them or none; the answer lists each in the order asked (`cert issue`)",
        query: &[],
        request: Some(schema::<IssueBatchRequest>),
        answer: schema::<IssueBatchAnswer>,
    },
    Route {
        op: Op::CertShow,
        method: "GET",
        path: "/v1/certificates/{store}/{alias}",
        summary: "One entry, its certificate and chain described (`cert show`)",
        query: &[],
        request: None,
        answer: schema::<CertDetail>,
    },
    Route {
        op: Op::CertRenew,
        method: "POST",
        path: "/v1/certificates/{store}/{alias}/renew",
        summary: "Renew an entry: a new key (of the body's key_algo when given) and certificate, the old one backed up (`cert renew`)",
        query: &[],
        request: Some(schema::<RenewRequest>),
        answer: schema::<IssuedAnswer>,
    },
    Route {
        op: Op::CertRevoke,
        method: "POST",
        path: "/v1/certificates/{store}/{alias}/revoke",
        summary: "Revoke a certificate the CA issued and publish a new CRL (`cert revoke`); revoking again changes nothing",
        query: &[],
        request: Some(schema::<RevokeRequest>),
        answer: schema::<RevokeAnswer>,
    },
    Route {
        op: Op::CertExport,
        method: "GET",
        path: "/v1/certificates/{store}/{alias}/export",
        summary: "An entry's certificate and chain as PEM; never its key (`cert export`)",
        query: &[],
        request: None,
        answer: schema::<ExportAnswer>,
    },
    Route {
        op: Op::TrustList,
        method: "GET",
        path: "/v1/trust",
        summary: "Trusted CA certificates (`trust list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<TrustRow>>,
    },
    Route {
        op: Op::TrustAdd,
        method: "POST",
        path: "/v1/trust",
        summary: "Trust the CA certificates in PEM text, each inspected first (`trust add`)",
        query: &[],
        request: Some(schema::<PemRequest>),
        answer: schema::<TrustAddAnswer>,
    },
    Route {
        op: Op::TrustRemove,
        method: "DELETE",
        path: "/v1/trust/{sha256}",
        summary: "Stop trusting a CA certificate, by SHA-256 or a unique prefix of 8+ digits (`trust remove`)",
        query: &[],
        request: None,
        answer: schema::<TrustRow>,
    },
    Route {
        op: Op::CrlList,
        method: "GET",
        path: "/v1/trust/crls",
        summary: "Trusted CRLs",
        query: &[],
        request: None,
        answer: schema::<Vec<CrlRow>>,
    },
    Route {
        op: Op::CrlAdd,
        method: "POST",
        path: "/v1/trust/crls",
        summary: "Add a CRL signed by a trusted CA (`trust add-crl`)",
        query: &[],
        request: Some(schema::<PemRequest>),
        answer: schema::<CrlRow>,
    },
    Route {
        op: Op::Alarms,
        method: "GET",
        path: "/v1/alarms",
        summary: "Open alarms (with all=true, cleared ones too) (`alarms`)",
        query: &[ALL_ALARMS],
        request: None,
        answer: schema::<Vec<AlarmRow>>,
    },
    Route {
        op: Op::Audit,
        method: "GET",
        path: "/v1/audit",
        summary: "The audit log, oldest first, a page at a time, optionally filtered (`audit`)",
        query: &[
            OFFSET,
            LIMIT,
            AUDIT_ACTION,
            AUDIT_SUBJECT,
            AUDIT_SINCE,
            AUDIT_UNTIL,
        ],
        request: None,
        answer: schema::<AuditPage>,
    },
    Route {
        op: Op::PoolVerificationGet,
        method: "GET",
        path: "/v1/pool/verification",
        summary: "The pool's certificate verification setting (`pool verification status`)",
        query: &[],
        request: None,
        answer: schema::<PoolVerification>,
    },
    Route {
        op: Op::PoolVerificationSet,
        method: "PUT",
        path: "/v1/pool/verification",
        summary: "Turn the pool's certificate verification on or off (`pool verification enable|disable`)",
        query: &[],
        request: Some(schema::<PoolVerification>),
        answer: schema::<PoolVerification>,
    },
    Route {
        op: Op::FleetRenew,
        method: "POST",
        path: "/v1/fleet/renew",
        summary: "Order new host certificates at the hosts' next polls; answers what was ordered at once (`fleet renew`)",
        query: &[],
        request: Some(schema::<FleetRenewRequest>),
        answer: schema::<HostsAnswer>,
    },
    Route {
        op: Op::CaShow,
        method: "GET",
        path: "/v1/ca",
        summary: "The signing CA (`ca show`)",
        query: &[],
        request: None,
        answer: schema::<CaAnswer>,
    },
    Route {
        op: Op::CaRotate,
        method: "POST",
        path: "/v1/ca/rotate",
        summary: "One step of the staged CA rotation; call again until the old root is retired (`ca rotate`)",
        query: &[],
        request: None,
        answer: schema::<RotationAnswer>,
    },
    Route {
        op: Op::Forecast,
        method: "GET",
        path: "/v1/forecast",
        summary: "Every expiry ahead, what it breaks, and whether renewal covers it (`forecast`)",
        query: &[DAYS, UNTIL],
        request: None,
        answer: schema::<ForecastAnswer>,
    },
    Route {
        op: Op::KeyProviders,
        method: "GET",
        path: "/v1/key-providers",
        summary: "The key providers and the health of each KMIP server, checked now over mutual TLS (`key-provider status`)",
        query: &[PROVIDER_FILTER, KMIP_TIMEOUT],
        request: None,
        answer: schema::<Vec<KeyProviderHealth>>,
    },
    Route {
        op: Op::Check,
        method: "GET",
        path: "/v1/check",
        summary: "The monitoring check of the whole inventory: status, exit code and every problem (`check`)",
        query: &[CHECK_AT, CHECK_WARN, CHECK_CRIT],
        request: None,
        answer: schema::<CheckAnswer>,
    },
    Route {
        op: Op::Status,
        method: "GET",
        path: "/v1/status",
        summary: "The node at a glance: its CA, entries per status, the next expiry and renewal, its database and master key (`status`)",
        query: &[],
        request: None,
        answer: schema::<StatusAnswer>,
    },
    Route {
        op: Op::StoreList,
        method: "GET",
        path: "/v1/stores",
        summary: "The named stores and how many entries each holds (`store list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<StoreRow>>,
    },
    Route {
        op: Op::ProfileList,
        method: "GET",
        path: "/v1/profiles",
        summary: "The profiles in force: lifetime, usage, impact (`profile list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<ProfileRow>>,
    },
    Route {
        op: Op::PoolCertificates,
        method: "GET",
        path: "/v1/pool/certificates",
        summary: "Each host's pinned pool-internal and server-identity certificate (`pool certificate-list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<PoolCertRow>>,
    },
    Route {
        op: Op::CaRoot,
        method: "GET",
        path: "/v1/ca/root",
        summary: "The root certificate clients should trust, PEM (`ca export`)",
        query: &[],
        request: None,
        answer: schema::<CaRoot>,
    },
    Route {
        op: Op::Notifications,
        method: "GET",
        path: "/v1/notifications",
        summary: "The webhook notifications not delivered yet, and the last delivery error (under the alarms)",
        query: &[],
        request: None,
        answer: schema::<NotificationsRow>,
    },
    Route {
        op: Op::CaCrl,
        method: "GET",
        path: "/v1/ca/crl",
        summary: "The signing CA's current CRL, PEM, published first when it is due (`ca crl`)",
        query: &[],
        request: None,
        answer: schema::<CaCrl>,
    },
    Route {
        op: Op::CertDelete,
        method: "DELETE",
        path: "/v1/certificates/{store}/{alias}",
        summary: "Delete an entry; the signing CA and its root are refused (`cert delete`)",
        query: &[],
        request: None,
        answer: schema::<Deleted>,
    },
    Route {
        op: Op::EndpointList,
        method: "GET",
        path: "/v1/endpoints",
        summary: "The endpoints certherd watches, with their last scan (`endpoint list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<WatchRow>>,
    },
    Route {
        op: Op::EndpointRemove,
        method: "DELETE",
        path: "/v1/endpoints/{name}",
        summary: "Stop watching an endpoint (`endpoint remove`)",
        query: &[],
        request: None,
        answer: schema::<EndpointRemoved>,
    },
    Route {
        op: Op::CertReset,
        method: "POST",
        path: "/v1/certificates/{store}/{alias}/reset",
        summary: "Replace an imported entry with a certificate and key certherd's CA issues; the imported one moves to backup (`cert reset`)",
        query: &[],
        request: None,
        answer: schema::<IssuedAnswer>,
    },
    Route {
        op: Op::Renewals,
        method: "POST",
        path: "/v1/renewals",
        summary: "Renew a selection of entries under the home's renewal lock: those due, all, one profile's, or those lapsing within a span; or only plan it (`cert renew`)",
        query: &[],
        request: Some(schema::<RenewalsRequest>),
        answer: schema::<RunAnswer>,
    },
    Route {
        op: Op::Resets,
        method: "POST",
        path: "/v1/resets",
        summary: "Replace every imported entry with a CA-issued one under the home's renewal lock, or only plan it (`cert reset`)",
        query: &[],
        request: Some(schema::<ResetsRequest>),
        answer: schema::<RunAnswer>,
    },
    Route {
        op: Op::CertImport,
        method: "POST",
        path: "/v1/certificates/{store}/{alias}/import",
        summary: "Import a certificate with its chain and key, or a PKCS#12 file, into an entry; a different live entry moves to backup (`cert import`)",
        query: &[],
        request: Some(schema::<ImportRequest>),
        answer: schema::<ImportAnswer>,
    },
    Route {
        op: Op::ServiceAdd,
        method: "POST",
        path: "/v1/services",
        summary: "Create a service identity: store NAME with a certificate of the service profile, CN = NAME, clientAuth (`service add`)",
        query: &[],
        request: Some(schema::<ServiceAddRequest>),
        answer: schema::<IssuedAnswer>,
    },
    Route {
        op: Op::EndpointAdd,
        method: "POST",
        path: "/v1/endpoints",
        summary: "Watch a TLS endpoint under a name; the server's scans then record its certificate (`endpoint add`)",
        query: &[],
        request: Some(schema::<EndpointAddRequest>),
        answer: schema::<WatchRow>,
    },
    Route {
        op: Op::ScanTls,
        method: "POST",
        path: "/v1/scans/tls",
        summary: "Connect from the server to each HOST:PORT, judge the chain it presents and record it as a watched endpoint (`scan tls`)",
        query: &[],
        request: Some(schema::<ScanTlsRequest>),
        answer: schema::<ScanTlsAnswer>,
    },
    Route {
        op: Op::EndpointTrust,
        method: "POST",
        path: "/v1/endpoints/{name}/trust",
        summary: "Pin the certificate the endpoint presents now, after checking its thumbprint when given (`endpoint trust`)",
        query: &[],
        request: Some(schema::<ProbeRequest>),
        answer: schema::<EndpointTrusted>,
    },
    Route {
        op: Op::EndpointDiagnose,
        method: "POST",
        path: "/v1/endpoints/{name}/diagnose",
        summary: "Scan an endpoint as watched and say whose configuration is at fault: certificate, network, service, server or credentials (`endpoint diagnose`)",
        query: &[],
        request: Some(schema::<ProbeRequest>),
        answer: schema::<DiagnosisAnswer>,
    },
    Route {
        op: Op::Report,
        method: "GET",
        path: "/v1/report",
        summary: "One self-contained HTML page of the inventory, what needs attention, the open alarms and the forecast up to the time given (`report`)",
        query: &[UNTIL],
        request: None,
        answer: schema::<ReportAnswer>,
    },
    Route {
        op: Op::Verify,
        method: "POST",
        path: "/v1/verify",
        summary: "Judge a certificate and its chain against the server's trusted roots (or the anchors given) and its CRLs, as RFC 5280 and the purpose ask; nothing is stored (`verify`)",
        query: &[],
        request: Some(schema::<VerifyRequest>),
        answer: schema::<VerifyAnswer>,
    },
    Route {
        op: Op::KeyProviderCreate,
        method: "POST",
        path: "/v1/key-providers",
        summary: "Create a key provider with its first KMIP server, and the store for its certificates (`key-provider create`)",
        query: &[],
        request: Some(schema::<KeyProviderCreateRequest>),
        answer: schema::<KeyProviderCreated>,
    },
    Route {
        op: Op::KeyProviderList,
        method: "GET",
        path: "/v1/key-providers/list",
        summary: "The key providers and their KMIP servers, as set up (no server is contacted) (`key-provider list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<KeyProviderRow>>,
    },
    Route {
        op: Op::KeyProviderAddServer,
        method: "POST",
        path: "/v1/key-providers/{name}/servers",
        summary: "Add a KMIP server (a cluster member) to a key provider (`key-provider add-server`)",
        query: &[],
        request: Some(schema::<KmipServerAddRequest>),
        answer: schema::<KeyProviderRow>,
    },
    Route {
        op: Op::KeyProviderRemove,
        method: "DELETE",
        path: "/v1/key-providers/{name}",
        summary: "Remove a key provider; its certificates are kept in the backup store (`key-provider remove`)",
        query: &[],
        request: None,
        answer: schema::<KeyProviderRemoved>,
    },
    Route {
        op: Op::KmipClientNew,
        method: "POST",
        path: "/v1/key-providers/{name}/client-cert",
        summary: "Make the provider's client certificate, CA-issued or self-signed; its key stays sealed on the server (`key-provider client-cert new`)",
        query: &[],
        request: Some(schema::<KmipClientNewRequest>),
        answer: schema::<KmipClientCert>,
    },
    Route {
        op: Op::KmipClientExport,
        method: "GET",
        path: "/v1/key-providers/{name}/client-cert",
        summary: "The provider's client certificate with its chain, PEM, for the key server's admin; never its key (`key-provider client-cert export`)",
        query: &[],
        request: None,
        answer: schema::<KmipPem>,
    },
    Route {
        op: Op::KmipClientCsr,
        method: "POST",
        path: "/v1/key-providers/{name}/client-cert/csr",
        summary: "A CSR for the key server vendor to sign; its key is made and kept sealed on the server (`key-provider client-cert csr`)",
        query: &[],
        request: Some(schema::<KmipClientCsrRequest>),
        answer: schema::<KmipPem>,
    },
    Route {
        op: Op::KmipClientUpload,
        method: "PUT",
        path: "/v1/key-providers/{name}/client-cert",
        summary: "Upload the client certificate signed from the provider's CSR; a certificate with its own key is uploaded on the server's home (`key-provider client-cert upload`)",
        query: &[],
        request: Some(schema::<KmipClientUploadRequest>),
        answer: schema::<KmipClientCert>,
    },
    Route {
        op: Op::KmipServerCerts,
        method: "GET",
        path: "/v1/key-providers/{name}/server-certs",
        summary: "Connect to each KMIP server of a provider and show the certificate it presents, and whether it is trusted (`key-provider server-cert get`)",
        query: &[],
        request: None,
        answer: schema::<Vec<KmipPresented>>,
    },
    Route {
        op: Op::KmipServerTrust,
        method: "POST",
        path: "/v1/key-providers/{name}/server-certs/trust",
        summary: "Connect to each KMIP server of a provider (or one) and trust the certificate it presents, when it matches the thumbprint given (`key-provider server-cert trust`)",
        query: &[],
        request: Some(schema::<KmipTrustRequest>),
        answer: schema::<Vec<KmipTrusted>>,
    },
    Route {
        op: Op::CredentialAdd,
        method: "POST",
        path: "/v1/admin/credentials",
        summary: "Issue an admin bearer token, shown once in the answer; client certificates are issued on the server's home (`admin credential`)",
        query: &[],
        request: Some(schema::<CredentialAddRequest>),
        answer: schema::<CredentialIssued>,
    },
    Route {
        op: Op::CredentialList,
        method: "GET",
        path: "/v1/admin/credentials",
        summary: "Every admin credential: name, kind, role, created, expires, revoked (`admin credential list`)",
        query: &[],
        request: None,
        answer: schema::<Vec<CredentialRow>>,
    },
    Route {
        op: Op::CredentialRevoke,
        method: "POST",
        path: "/v1/admin/credentials/{name}/revoke",
        summary: "Revoke every credential of a name; its client certificates go on the CA's CRL (`admin credential revoke`)",
        query: &[],
        request: Some(schema::<CredentialRevokeRequest>),
        answer: schema::<CredentialsRevoked>,
    },
];

/// How a request's method and path matched [`ROUTES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matched {
    /// This endpoint, with its path parameters in order.
    Route(&'static Route, Vec<String>),
    /// The path is an endpoint's, not with this method: these are allowed.
    MethodNotAllowed(Vec<&'static str>),
    /// No admin endpoint has this path.
    NotFound,
}

/// One router a method, each holding the position in [`ROUTES`] of that method's routes.
type Routers = Vec<(&'static str, matchit::Router<usize>)>;

/// The routers of [`ROUTES`] (matchit, the router axum uses), built once. One a method:
/// where a literal path and a parameter overlap (`/v1/trust/crls`, `/v1/trust/{sha256}`)
/// matchit prefers the literal, and each method must still find its own endpoint there
/// (`DELETE /v1/trust/crls` is the removal of a root so named, as the table says).
static ROUTERS: std::sync::LazyLock<Result<Routers, matchit::InsertError>> =
    std::sync::LazyLock::new(|| {
        let mut routers: Routers = Vec::new();
        for (i, r) in ROUTES.iter().enumerate() {
            let at = match routers.iter().position(|(m, _)| *m == r.method) {
                Some(at) => at,
                None => {
                    routers.push((r.method, matchit::Router::new()));
                    routers.len() - 1
                }
            };
            routers[at].1.insert(r.path, i)?;
        }
        Ok(routers)
    });

/// Finds the endpoint of `method` and `path` (without its query).
pub fn route(method: &str, path: &str) -> Matched {
    // The table's test builds the routers: an error is not reached outside a broken build.
    let Ok(routers) = &*ROUTERS else {
        return Matched::NotFound;
    };
    // HEAD is GET without the body (RFC 9110 9.3.2), wherever GET is served.
    let wanted = if method == "HEAD" { "GET" } else { method };
    let mut elsewhere = Vec::new();
    for (m, router) in routers {
        let Ok(found) = router.at(path) else { continue };
        let r = &ROUTES[*found.value];
        if *m == wanted {
            let params = found.params.iter().map(|(_, v)| v.to_owned()).collect();
            return Matched::Route(r, params);
        }
        elsewhere.push(*found.value);
    }
    if elsewhere.is_empty() {
        return Matched::NotFound;
    }
    // Allowed in the table's order, HEAD after each GET.
    elsewhere.sort_unstable();
    let mut allowed = Vec::new();
    for i in elsewhere {
        allowed.push(ROUTES[i].method);
        if ROUTES[i].method == "GET" {
            allowed.push("HEAD");
        }
    }
    Matched::MethodNotAllowed(allowed)
}

/// Whether `path` is one of the admin API's (any method).
pub fn is_admin_path(path: &str) -> bool {
    route("", path) != Matched::NotFound
}

/// The codes an admin endpoint may refuse with.
fn refusals(r: &Route) -> Vec<ErrorCode> {
    let mut codes = vec![
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::CredentialRevoked,
        ErrorCode::CredentialExpired,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::BodyTimeout,
        ErrorCode::BodyTooLarge,
        ErrorCode::Unprocessable,
        ErrorCode::TooManyRefusals,
        ErrorCode::Internal,
        // Every route reads or writes the database: 503 while it does not answer.
        ErrorCode::Unavailable,
    ];
    if r.request.is_some() {
        codes.push(ErrorCode::UnsupportedMediaType);
    }
    if r.changes() {
        codes.push(ErrorCode::ReaderOnly);
        codes.push(ErrorCode::CsrfRefused);
        codes.push(ErrorCode::Conflict);
    }
    codes
}

fn describe_status(status: u16) -> &'static str {
    match status {
        400 => "the request is malformed: not JSON of the body's shape (a field missing, unknown or of the wrong type), or a bad query parameter",
        401 => "no admin credential, or one that is revoked or expired",
        403 => "the credential is not valid, or is a reader's and this endpoint changes something, or a console session's change lacks its CSRF token",
        404 => "no such endpoint or object",
        405 => "the path is an endpoint's, not with this method",
        408 => "the request body did not arrive in time",
        409 => "the object exists already",
        413 => "the request body is too large",
        415 => "the request has a body not sent as Content-Type: application/json",
        422 => "the request is well-formed but cannot be carried out (an invalid name, PEM, profile...)",
        429 => "too many failed authentications from this address within a minute; try again after `Retry-After` seconds (a valid credential is never refused for them)",
        503 => "the server cannot reach its database now, or every database connection stayed busy; try again, or another server",
        _ => "the server failed; see its log",
    }
}

/// The admin API's OpenAPI 3.0 document: every endpoint of [`ROUTES`] with its
/// parameters, request body, answer and refusals, and the schemas of every body.
pub fn openapi(version: &str) -> Value {
    let mut g = schemars::generate::SchemaSettings::openapi3().into_generator();
    let error = g.subschema_for::<ErrorBody>();
    let mut paths: Map<String, Value> = Map::new();
    for r in ROUTES {
        let mut parameters: Vec<Value> = Vec::new();
        for seg in r.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                parameters.push(json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                }));
            }
        }
        for p in r.query {
            let schema = match p.kind {
                ParamType::Text => json!({"type": "string"}),
                ParamType::Integer { min, max } => {
                    json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
                }
                ParamType::Boolean => json!({"type": "boolean"}),
            };
            parameters.push(json!({
                "name": p.name,
                "in": "query",
                "required": false,
                "description": p.description,
                "schema": schema,
            }));
        }
        let mut responses: Map<String, Value> = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "done",
                "content": {"application/json": {"schema": (r.answer)(&mut g)}},
            }),
        );
        let mut statuses: Vec<u16> = refusals(r).iter().map(|c| c.status()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for s in statuses {
            let codes: Vec<&str> = refusals(r)
                .iter()
                .filter(|c| c.status() == s)
                .map(|c| c.name())
                .collect();
            responses.insert(
                s.to_string(),
                json!({
                    "description": format!("{} (code {})", describe_status(s), codes.join(", ")),
                    "content": {"application/json": {"schema": error.clone()}},
                }),
            );
        }
        let mut op = json!({
            "operationId": format!("{:?}", r.op),
            "summary": r.summary,
            "parameters": parameters,
            "responses": responses,
            // OpenAPI 3.0 has no scheme for mutual TLS (3.1's `mutualTLS`): the client
            // certificate is said in the description.
            "security": [{"bearer": []}],
        });
        if let Some(req) = r.request {
            op["requestBody"] = json!({
                "required": !r.body_optional(),
                "content": {"application/json": {"schema": req(&mut g)}},
            });
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "certherd admin API",
            "version": version,
            "description": "Every admin operation of a certherd management server. Authenticate with an admin bearer token (`Authorization: Bearer`, from `certherd admin credential NAME`) or an admin client certificate (mutual TLS, from `certherd admin credential NAME --client-cert`). A `reader` credential may only GET. Every call is written to the audit log with the credential's name. Refusals are `{code, message}` with a stable code.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    })
}

/// `POST /v1/key-providers` request (`key-provider create`): a key provider with its
/// first KMIP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyProviderCreateRequest {
    /// The provider's name, unique on the node.
    pub name: String,
    /// The primary key's id on the key server.
    pub primary_key_id: String,
    /// The KMIP server, `HOST:PORT`.
    pub server: String,
    /// An HTTP CONNECT proxy to reach it through, `HOST:PORT`.
    #[serde(default)]
    pub proxy: Option<String>,
}

/// `POST /v1/key-providers/{name}/servers` request (`key-provider add-server`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KmipServerAddRequest {
    /// The KMIP server, `HOST:PORT`.
    pub address: String,
    /// An HTTP CONNECT proxy to reach it through, `HOST:PORT`.
    #[serde(default)]
    pub proxy: Option<String>,
}

/// One KMIP server of a [`KeyProviderRow`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KmipServerRow {
    /// `HOST:PORT`.
    pub address: String,
    /// The proxy it is reached through, if any.
    pub proxy: Option<String>,
}

/// A key provider as it is set up (`key-provider list`), without checking its servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyProviderRow {
    /// The provider's name.
    pub name: String,
    /// The primary key's id on the key server.
    pub primary_key_id: String,
    /// Its KMIP servers, in order.
    pub servers: Vec<KmipServerRow>,
}

/// `POST /v1/key-providers` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyProviderCreated {
    /// The provider created.
    pub provider: KeyProviderRow,
    /// The store that holds its certificates.
    pub store: String,
}

/// `DELETE /v1/key-providers/{name}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyProviderRemoved {
    /// The provider removed (its certificates are kept in the backup store).
    pub name: String,
}

/// `POST /v1/key-providers/{name}/client-cert` request (`key-provider client-cert new`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KmipClientNewRequest {
    /// Self-signed instead of issued by certherd's CA.
    #[serde(default)]
    pub self_signed: bool,
    /// The key algorithm (the node's when absent).
    #[serde(default)]
    pub key_algo: Option<String>,
}

/// `POST /v1/key-providers/{name}/client-cert/csr` request (`key-provider client-cert
/// csr`): the key is made and kept sealed on the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KmipClientCsrRequest {
    /// The key algorithm (the node's when absent).
    #[serde(default)]
    pub key_algo: Option<String>,
}

/// `PUT /v1/key-providers/{name}/client-cert` request (`key-provider client-cert
/// upload`): the certificate signed from the provider's CSR. A key never comes through
/// the API: a certificate with its own key is uploaded on the server's home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KmipClientUploadRequest {
    /// The certificate file as read (PEM or DER, perhaps with its chain), base64.
    pub cert: String,
}

/// A key provider's client certificate just made or uploaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KmipClientCert {
    /// Its entry (`STORE/ALIAS`).
    pub entry: String,
    /// Its subject.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// When it lapses, RFC 3339.
    pub not_after: String,
    /// Things the admin should know.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// PEM text a key-provider operation gives: the client certificate with its chain
/// (`client-cert export`) or a CSR (`client-cert csr`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KmipPem {
    /// The PEM text.
    pub pem: String,
}

/// What one KMIP server presented (`key-provider server-cert get`), or why nothing came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum KmipPresented {
    /// Its leaf certificate, and whether it is the one trusted for it.
    Presented {
        /// `HOST:PORT`.
        server: String,
        /// The leaf's subject.
        subject: String,
        /// Its issuer.
        issuer: String,
        /// Its serial number, hex.
        serial: String,
        /// Its notBefore, RFC 3339.
        not_before: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
        /// Its SHA-1, hex.
        sha1: String,
        /// Its SHA-256, hex.
        sha256: String,
        /// Whether it is the certificate trusted for this server.
        trusted: bool,
    },
    /// The server could not be reached, or its certificate not read.
    Failed {
        /// `HOST:PORT`.
        server: String,
        /// Why.
        error: String,
    },
}

/// `POST /v1/key-providers/{name}/server-certs/trust` request (`key-provider server-cert
/// trust`): the server connects to each KMIP server and trusts what it presents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KmipTrustRequest {
    /// The SHA-256 or SHA-1 thumbprint checked (colons optional); a server presenting
    /// anything else is refused.
    #[serde(default)]
    pub thumbprint: Option<String>,
    /// Only this server (`HOST:PORT`); every server of the provider when absent.
    #[serde(default)]
    pub server: Option<String>,
}

/// One KMIP server's certificate trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KmipTrusted {
    /// `HOST:PORT`.
    pub server: String,
    /// The certificate's subject.
    pub subject: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The role of an admin credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialRole {
    /// Reads only (GET).
    #[default]
    Reader,
    /// Everything.
    Admin,
}

/// `POST /v1/admin/credentials` request (`admin credential NAME`): a bearer token. A
/// client certificate's key never comes through the API: those are issued on the
/// server's home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialAddRequest {
    /// Whose it is (recorded in the audit log with every call).
    pub name: String,
    /// What it may do.
    #[serde(default)]
    pub role: CredentialRole,
    /// How long it is valid, a span such as 90d (forever when absent).
    #[serde(default)]
    pub valid_for: Option<String>,
}

/// `POST /v1/admin/credentials` answer: the bearer token, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialIssued {
    /// Whose it is.
    pub name: String,
    /// Always `bearer`.
    pub kind: String,
    /// `reader` or `admin`.
    pub role: String,
    /// The token (only its SHA-256 is kept).
    pub token: String,
    /// When it lapses, RFC 3339 (never when absent).
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Never shows the token.
impl std::fmt::Debug for CredentialIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialIssued")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/admin/credentials` answer row (`admin credential list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialRow {
    /// Whose it is.
    pub name: String,
    /// `bearer` or `client-cert`.
    pub kind: String,
    /// `reader` or `admin`.
    pub role: String,
    /// When it was issued, RFC 3339.
    pub created_at: Option<String>,
    /// When it lapses, RFC 3339.
    pub expires_at: Option<String>,
    /// When it was revoked, RFC 3339.
    pub revoked_at: Option<String>,
    /// The SHA-256 of the token or certificate, hex.
    pub sha256: String,
}

/// `POST /v1/admin/credentials/{name}/revoke` request (`admin credential revoke`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialRevokeRequest {
    /// The RFC 5280 reason the CRL gives for its client certificates
    /// (`cessationOfOperation` when absent).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/admin/credentials/{name}/revoke` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialsRevoked {
    /// Whose credentials.
    pub name: String,
    /// How many were revoked.
    pub revoked: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Only security scheme types OpenAPI 3.0 knows (a validator refuses 3.1's
    /// `mutualTLS` in a 3.0.3 document).
    #[test]
    fn the_document_uses_only_openapi_3_0_security_schemes() {
        let doc = openapi("test");
        assert_eq!(doc["openapi"], "3.0.3");
        for (name, scheme) in doc["components"]["securitySchemes"].as_object().unwrap() {
            let t = scheme["type"].as_str().unwrap();
            assert!(
                ["apiKey", "http", "oauth2", "openIdConnect"].contains(&t),
                "{name}: {t}"
            );
        }
    }

    #[test]
    fn paths_route_to_their_endpoint_or_say_which_methods_are_allowed() {
        match route("GET", "/v1/certificates/web/site") {
            Matched::Route(r, p) => {
                assert_eq!(r.op, Op::CertShow);
                assert_eq!(p, vec!["web".to_owned(), "site".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            route("PATCH", "/v1/hosts"),
            Matched::MethodNotAllowed(vec!["GET", "HEAD", "POST"])
        );
        // HEAD is GET without the body, wherever GET is served; nowhere else.
        assert!(matches!(route("HEAD", "/v1/hosts"), Matched::Route(r, _) if r.method == "GET"));
        assert_eq!(
            route("HEAD", "/v1/ca/rotate"),
            Matched::MethodNotAllowed(vec!["POST"])
        );
        assert_eq!(route("GET", "/v1/nothing"), Matched::NotFound);
        assert_eq!(route("GET", "/v1/certificates//x"), Matched::NotFound);
        // A literal segment wins over nothing: /v1/trust/crls is the CRL list.
        assert!(
            matches!(route("GET", "/v1/trust/crls"), Matched::Route(r, _) if r.op == Op::CrlList)
        );
    }

    /// The routing before the router: each template compared segment by segment, the
    /// first route of the table whose path and method match wins.
    fn by_segments(method: &str, path: &str) -> Matched {
        let matches = |template: &str| -> Option<Vec<String>> {
            let t: Vec<&str> = template.split('/').collect();
            let p: Vec<&str> = path.split('/').collect();
            if t.len() != p.len() {
                return None;
            }
            let mut params = Vec::new();
            for (ts, ps) in t.iter().zip(&p) {
                if ts.starts_with('{') && ts.ends_with('}') {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((*ps).to_owned());
                } else if ts != ps {
                    return None;
                }
            }
            Some(params)
        };
        let mut allowed = Vec::new();
        for r in ROUTES {
            if let Some(params) = matches(r.path) {
                if r.method == method || (method == "HEAD" && r.method == "GET") {
                    return Matched::Route(r, params);
                }
                allowed.push(r.method);
                if r.method == "GET" {
                    allowed.push("HEAD");
                }
            }
        }
        if allowed.is_empty() {
            Matched::NotFound
        } else {
            Matched::MethodNotAllowed(allowed)
        }
    }

    const METHODS: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "",
    ];

    /// The table makes valid routers (no two routes of a method conflict).
    #[test]
    fn the_table_builds_its_routers() {
        assert!(ROUTERS.is_ok(), "{:?}", ROUTERS.as_ref().err());
    }

    /// The router answers as segment-by-segment matching did, on every route's path
    /// (parameters filled in, emptied, or given odd text) and its near misses.
    #[test]
    fn the_router_routes_as_matching_by_segments_did() {
        let mut paths = vec![
            "/".to_owned(),
            String::new(),
            "/v1".to_owned(),
            "/v1/".to_owned(),
            "/v1/trust/crls".to_owned(),
            "/v1/certificates//x".to_owned(),
            "/v1/hosts//refresh-pool-cert".to_owned(),
        ];
        for r in ROUTES {
            for fill in ["x", "", "crls", "a.b-c", "%2F", "{name}", "*", "a:b"] {
                let p: Vec<String> = r
                    .path
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            fill.to_owned()
                        } else {
                            s.to_owned()
                        }
                    })
                    .collect();
                let p = p.join("/");
                paths.extend([
                    p.clone(),
                    format!("{p}/"),
                    format!("{p}/more"),
                    format!("/{p}"),
                    p.to_uppercase(),
                ]);
            }
        }
        for path in &paths {
            for m in METHODS {
                assert_eq!(route(m, path), by_segments(m, path), "{m} {path:?}");
            }
        }
    }

    proptest::proptest! {
        /// Any path of the table's words and slashes routes as it did.
        #[test]
        fn any_path_routes_as_it_did(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "v1", "hosts", "trust", "crls", "certificates", "ca", "rotate", "x", "",
                    "export", "renew", "revoke", "pool", "verification", "fleet",
                ]),
                0..6,
            ),
            m in proptest::sample::select(METHODS.to_vec()),
        ) {
            let path = format!("/{}", words.join("/"));
            proptest::prop_assert_eq!(route(m, &path), by_segments(m, &path));
        }
    }

    #[test]
    fn every_route_is_in_the_document_with_its_body_answer_and_refusals() {
        let doc = openapi("test");
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.path);
            assert!(op["responses"]["200"]["content"]["application/json"]["schema"].is_object());
            for s in ["400", "401", "403", "404", "413", "429", "500", "503"] {
                assert!(
                    op["responses"][s].is_object(),
                    "{} {} lacks {s}",
                    r.method,
                    r.path
                );
            }
            assert!(
                op["responses"]["429"]["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("too_many_refusals")),
                "{} {}: a bearer token's failures may be answered 429",
                r.method,
                r.path
            );
            assert!(
                op["responses"]["503"]["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("unavailable") && d.contains("database")),
                "{} {}: every route answers 503 while the database does not",
                r.method,
                r.path
            );
            assert_eq!(op["requestBody"].is_object(), r.request.is_some());
            if r.request.is_some() {
                assert_eq!(op["requestBody"]["required"], !r.body_optional());
            }
            // A body must be sent as JSON: 415 otherwise, documented where there is one.
            assert_eq!(op["responses"]["415"].is_object(), r.request.is_some());
            if r.changes() {
                assert!(op["responses"]["409"].is_object());
            }
        }
        // Every reference resolves.
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "{name} unresolved");
        }
        // Request bodies refuse unknown fields in the document as on the wire.
        assert_eq!(
            schemas["HostAddRequest"]["additionalProperties"],
            Value::Bool(false)
        );
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_wrong_types() {
        assert!(crate::decode::<HostAddRequest>(br#"{"name":"h","extra":1}"#).is_err());
        assert!(crate::decode::<HostAddRequest>(br#"{"name":5}"#).is_err());
        assert!(crate::decode::<PoolVerification>(br#"{"enabled":"yes"}"#).is_err());
        assert!(crate::decode::<FleetRenewRequest>(b"{}").is_ok());
    }
}
