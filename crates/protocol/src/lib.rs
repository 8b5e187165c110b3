//! The certherd fleet protocol: every request and answer body that the management server
//! and the host agent exchange, as serde types both ends share, and the error body with
//! its stable codes. No I/O: the server crate and the agent crate move the bytes.
//!
//! Unknown fields: the server refuses a request with a field it does not know
//! (`deny_unknown_fields`, answered 400 [`ErrorCode::InvalidRequest`]): a misspelled
//! field is an error, never a default silently taken. The agent tolerates fields it does
//! not know in answers (and error codes it does not know, as [`ErrorCode::Other`]), so a
//! server may add to its answers without breaking the agents already deployed: upgrade
//! the servers first, then the agents.
//!
//! Certificates, CSRs and CRLs travel as PEM text; times as RFC 3339 text.
#![forbid(unsafe_code)]

use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub mod admin;
pub mod console;
pub mod facts;
mod host_port;
pub mod webhook;

pub use host_port::{HostPort, HostPortError, HostPortProblem};

/// `POST /v1/enrollment`: which host a token was issued for (the token is not spent).
pub const ENROLLMENT: &str = "/v1/enrollment";
/// `POST /v1/join`: a host joins with its one-time token.
pub const JOIN: &str = "/v1/join";
/// `POST /v1/poll`: a joined host's heartbeat, trust sync and renewal.
pub const POLL: &str = "/v1/poll";
/// `POST /v1/pool`: a joined host replaces its pinned pool-internal certificate.
pub const POOL: &str = "/v1/pool";
/// `GET /v1/health`.
pub const HEALTH: &str = "/v1/health";
/// `GET`: the signing CA's current CRL, DER (`application/pkix-crl`), without
/// authentication; also served by the plain-HTTP listener of `certherd server
/// --crl-listen`. Each live CA's CRL is at [`CRL_DIR`]`FILE` as well (see [`crl_file`]).
pub const CRL: &str = "/crl/ca.crl";
/// `GET /crl/FILE.crl`: the CRLs, one per live CA (signing and, during a rotation,
/// retiring), named after the CA entry's alias; `ca.crl` is the signing CA's.
pub const CRL_DIR: &str = "/crl/";

/// The CRL file a request path names (`/crl/root.crl` names `root.crl`), if it names one:
/// a single segment under [`CRL_DIR`] ending in `.crl`.
pub fn crl_file(path: &str) -> Option<&str> {
    let file = path.strip_prefix(CRL_DIR)?;
    let stem = file.strip_suffix(".crl")?;
    (!stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    .then_some(file)
}
/// `GET /v1/hosts` (admin).
pub const HOSTS: &str = "/v1/hosts";
/// `GET /v1/alarms` (admin).
pub const ALARMS: &str = "/v1/alarms";

/// Reads a body of type `T` (a request on the server, an answer on the agent).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The most bytes of anything a caller sent (a path, a method, a field name, a header)
/// that a server repeats in an audit row, a log line or an answer: a stranger's request
/// must not decide how much the server stores or writes.
pub const MAX_ECHO: usize = 200;

/// `text` cut to at most `max` bytes (on a character boundary), an ellipsis marking a cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    // The ellipsis (3 bytes) counts towards the bound.
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\u{2026}", &text[..end])
}

/// [`clip`] to [`MAX_ECHO`]: for one piece of what a caller sent.
pub fn echo(text: &str) -> String {
    clip(text, MAX_ECHO)
}

/// Writes a body.
pub fn encode<T: Serialize>(body: &T) -> String {
    // Every type here serializes to JSON (string keys, no non-finite floats): the
    // fallback is never taken, but a panic is not an option either.
    serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"))
}

fn yes() -> bool {
    true
}

/// `POST /v1/enrollment` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRequest {
    /// The token from `certherd host add`.
    pub token: String,
}

/// `POST /v1/enrollment` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The host name the token was issued for.
    pub host: String,
    /// Its enrolled IP addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// The key algorithm the server's `host` profile sets, if it sets one.
    #[serde(default)]
    pub host_key_algo: Option<String>,
}

/// `POST /v1/join` request, over mutual TLS with the pool-internal certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The one-time token.
    pub token: String,
    /// The host certificate's CSR (PEM).
    pub csr: String,
    /// The self-signed pool-internal certificate (PEM): the client certificate of the
    /// session.
    pub pool_certificate: String,
    /// Whether the host verifies certificates (must match the pool's; default on).
    #[serde(default = "yes")]
    pub verification: bool,
}

/// `POST /v1/poll` request, over mutual TLS with the pool-internal certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// A CSR for a new host certificate, when it is due or was ordered (PEM).
    #[serde(default)]
    pub renew_csr: Option<String>,
    /// Whether the host verifies the server (off only in an emergency; default on).
    #[serde(default = "yes")]
    pub verification: bool,
    /// The SHA-256 (hex) of each root the host trusts.
    #[serde(default)]
    pub trusted_roots: Vec<String>,
    /// The last deploy's problem; `None` clears it.
    #[serde(default)]
    pub deploy_error: Option<String>,
}

/// The answer to a join and to a poll: what the host should hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The host name the server knows this host by.
    pub host: String,
    /// The server orders a new host certificate: send a CSR (with a new key) now.
    #[serde(default)]
    pub renew: bool,
    /// The server orders a new pool-internal certificate.
    #[serde(default)]
    pub refresh_pool: bool,
    /// The host certificate and its chain, leaf first (PEM each), when one was issued now.
    #[serde(default)]
    pub host_chain: Option<Vec<String>>,
    /// Every trusted root of the pool (PEM each).
    #[serde(default)]
    pub trusted_roots: Vec<String>,
    /// Every trusted CRL (PEM each).
    #[serde(default)]
    pub crls: Vec<String>,
    /// The key algorithm of every host key, when the server's `host` profile sets one.
    #[serde(default)]
    pub host_key_algo: Option<String>,
    /// The fleet's servers (`[fleet] servers`), each `https://HOST:PORT`, that the agent
    /// may fail over to; empty: only the one it joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
}

/// `POST /v1/pool` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    /// The new pool-internal certificate (PEM).
    pub pool_certificate: String,
}

/// `POST /v1/pool` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAnswer {
    /// The host whose pin was replaced.
    pub host: String,
}

/// `GET /v1/health` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`, or `degraded` (answered 503) when the server cannot reach its database.
    pub status: String,
    /// Who runs the lifecycle loop, for a server that runs one (absent from older
    /// servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleState>,
    /// Whether the server reaches its database, and its connections (absent from older
    /// servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseState>,
}

/// The server's database as `GET /v1/health` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DatabaseState {
    /// Whether a `SELECT 1` on one of the server's connections answered in time.
    pub reachable: bool,
    /// `sqlite` or `postgresql`.
    pub backend: String,
    /// The most connections the server opens to it (`[database] max_connections`).
    pub max_connections: u32,
    /// The connections open now (in use or idle).
    pub open_connections: u32,
    /// Why it is not reachable (no password in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which server of several on one database runs the lifecycle loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LifecycleState {
    /// This server's name in the lifecycle lease.
    pub this_server: String,
    /// Whether this server runs the loop now.
    pub runs_loop: bool,
    /// Who held the lease at this server's last renewal (None before the first).
    pub lease_holder: Option<String>,
}

/// One row of `GET /v1/hosts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostRow {
    /// The host name.
    pub name: String,
    /// Its enrolled IP addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// When it joined (RFC 3339), if it did.
    #[serde(default)]
    pub joined_at: Option<String>,
    /// When it last polled (RFC 3339).
    #[serde(default)]
    pub last_seen: Option<String>,
    /// The SHA-256 of the pool-internal certificate pinned for it, once it joined.
    #[serde(default)]
    pub pool_internal_sha256: Option<String>,
    /// Whether a new host certificate was ordered and the host has not fetched it yet.
    #[serde(default)]
    pub renew_pending: bool,
    /// Whether the host reported that it verifies pool certificates (`None`: not
    /// reported yet).
    #[serde(default)]
    pub verification: Option<bool>,
}

/// One row of `GET /v1/alarms`: an open alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlarmRow {
    /// The alarm kind, e.g. `host-silent`.
    pub kind: String,
    /// What it is about.
    pub subject: String,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
    /// When it cleared (RFC 3339); `None` while open.
    #[serde(default)]
    pub cleared_at: Option<String>,
    /// What it is about, in a sentence, when there is more to say.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Why the server refused a request: a stable code a client decides by (the message is
/// for people and may change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not JSON of the endpoint's shape (a field missing, unknown or of the
    /// wrong type), or a PEM field does not parse, or the request breaks a rule of the
    /// certificate it asks for. 400.
    InvalidRequest,
    /// The request needs a credential it did not present: a client certificate or an
    /// admin bearer token. 401.
    Unauthenticated,
    /// The admin credential presented is not valid. 403.
    Forbidden,
    /// The admin credential presented was revoked (`admin credential revoke`). 401.
    CredentialRevoked,
    /// The admin credential presented is past its expiry. 401.
    CredentialExpired,
    /// A `reader` credential called an endpoint that changes something. 403.
    ReaderOnly,
    /// The join token is unknown, spent or expired. 403.
    TokenRefused,
    /// The host is enrolled for other names than the request asks for. 403.
    NotEnrolled,
    /// The CSR's key is not of the algorithm the server's `host` profile sets. 403.
    KeyAlgorithm,
    /// The client certificate is revoked by a CRL the server holds (its CA's own, or one
    /// added with `trust add-crl`). 403.
    CertificateRevoked,
    /// A change made with the web console's session cookie lacks the session's
    /// `X-CSRF-Token`, or a browser sent it from another site (`Origin`,
    /// `Sec-Fetch-Site`). 403.
    CsrfRefused,
    /// No such endpoint. 404.
    NotFound,
    /// The path is an admin endpoint's, not with this method (see `Allow`). 405.
    MethodNotAllowed,
    /// The body did not arrive in time. 408.
    BodyTimeout,
    /// The server does not know the client certificate (the host was removed): the agent
    /// forgets the server. 410.
    HostUnknown,
    /// The object exists already (an enrolled host, an entry's alias). 409.
    Conflict,
    /// The body is larger than the server accepts. 413.
    BodyTooLarge,
    /// A request body that is not sent as `Content-Type: application/json`. 415.
    UnsupportedMediaType,
    /// The request is well-formed but cannot be carried out: an invalid name, PEM text,
    /// profile, or an operation the object does not allow. 422.
    Unprocessable,
    /// Too many refused joins, or failed authentications (console logins, admin bearer
    /// tokens), from this address: try again after `Retry-After`. 429.
    TooManyRefusals,
    /// The server failed (see its log); another server may answer. 500.
    Internal,
    /// The server cannot reach its database now, or every one of its database connections
    /// stayed busy: another server may answer. 503.
    Unavailable,
    /// A code this build does not know (a newer server's), kept so an older agent still
    /// reads the body.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// Every code a server sends, in the order of their HTTP status.
    pub const ALL: [Self; 22] = [
        Self::InvalidRequest,
        Self::Unauthenticated,
        Self::CredentialRevoked,
        Self::CredentialExpired,
        Self::Forbidden,
        Self::ReaderOnly,
        Self::TokenRefused,
        Self::NotEnrolled,
        Self::KeyAlgorithm,
        Self::CertificateRevoked,
        Self::CsrfRefused,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BodyTimeout,
        Self::Conflict,
        Self::HostUnknown,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::Unprocessable,
        Self::TooManyRefusals,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The HTTP status a server answers this code with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Unauthenticated | Self::CredentialRevoked | Self::CredentialExpired => 401,
            Self::Forbidden
            | Self::ReaderOnly
            | Self::TokenRefused
            | Self::NotEnrolled
            | Self::KeyAlgorithm
            | Self::CertificateRevoked
            | Self::CsrfRefused => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BodyTimeout => 408,
            Self::Conflict => 409,
            Self::HostUnknown => 410,
            Self::BodyTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::TooManyRefusals => 429,
            Self::Internal | Self::Other => 500,
            Self::Unavailable => 503,
        }
    }

    /// The code as it is written on the wire, e.g. `host_unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::CredentialRevoked => "credential_revoked",
            Self::CredentialExpired => "credential_expired",
            Self::Forbidden => "forbidden",
            Self::ReaderOnly => "reader_only",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::Unprocessable => "unprocessable",
            Self::TokenRefused => "token_refused",
            Self::NotEnrolled => "not_enrolled",
            Self::KeyAlgorithm => "key_algorithm",
            Self::CertificateRevoked => "certificate_revoked",
            Self::CsrfRefused => "csrf_refused",
            Self::NotFound => "not_found",
            Self::BodyTimeout => "body_timeout",
            Self::HostUnknown => "host_unknown",
            Self::BodyTooLarge => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRefusals => "too_many_refusals",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }
}

/// What an admin usually does after a refusal, by a stable name: each front end words it
/// in its own terms (the CLI names its commands), so a refusal the server sends reads as
/// the same refusal on a home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NextStep {
    /// Replace it by rotating the CA (it is the CA's own).
    RotateCaToReplace,
    /// Rotate the CA instead.
    RotateCa,
    /// Replace the CA by rotating it (the CA's own certificate cannot be revoked).
    ReplaceByRotation,
    /// Finish the CA rotation in progress.
    FinishRotation,
    /// Renew the entry: a new key and certificate.
    Renew,
    /// Manage it as a trusted CA certificate.
    ManageTrust,
    /// Add CA certificates to the trusted roots instead.
    AddTrust,
    /// CA certificates are added to the trusted roots, not imported as entries.
    AddTrustNotImport,
    /// Manage it as a CA.
    ManageCa,
    /// Let the host's agent get it from the server.
    AgentRun,
    /// Renew it with its issuer and import the new certificate.
    ImportRenewed,
    /// Name a trusted certificate by its SHA-256 as the trust list shows it.
    ListTrust,
    /// A new CA request needs a new home in subordinate mode.
    NewSubordinateHome,
    /// Trust the CRL's issuer first.
    TrustCrlIssuer,
    /// The admin credentials are listed.
    ListCredentials,
    /// The hosts are listed.
    ListHosts,
    /// The endpoints are listed.
    ListEndpoints,
    /// The key providers are listed.
    ListKeyProviders,
    /// Remove the host first to enroll it again.
    RemoveHostFirst {
        /// The host.
        host: String,
    },
    /// The entries are listed.
    ListEntries,
    /// The stores are listed.
    ListStores,
    /// Trust the issuing CA, or give the intermediates.
    TrustIssuer,
    /// Issue it with the extended key usages the profile needs, or import it under another
    /// profile.
    ReissueWithEku,
    /// Give a common name of at most 64 characters.
    ShortenCommonName,
    /// Complete subordinate mode with the signed CA certificate.
    ImportSigned,
    /// Make the key provider's client certificate.
    NewKmipClientCert {
        /// The key provider.
        provider: String,
    },
    /// Make a CSR for the key provider's client certificate first, or give its key.
    KmipClientCsr,
}

/// The body of every refusal: `{code, message}`, plus `error` (the message again) that
/// servers before the codes sent alone, and the usual next step when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What a client decides by; absent from a server that predates the codes.
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// For people.
    #[serde(default)]
    pub message: Option<String>,
    /// The message, under the name it had before the codes.
    #[serde(default)]
    pub error: Option<String>,
    /// What the caller usually does next, when there is a usual next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextStep>,
    /// What to look at, in words, when the domain knows (a probe's finding: "check the
    /// address, the port, firewalls..."); never names a CLI command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorBody {
    /// A refusal with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code: Some(code),
            error: Some(message.clone()),
            message: Some(message),
            next: None,
            hint: None,
        }
    }

    /// The same refusal, with the usual next step.
    pub fn with_next(mut self, next: Option<NextStep>) -> Self {
        self.next = next;
        self
    }

    /// The same refusal, with the domain's advice in words.
    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The message, whichever name it came under.
    pub fn text(&self) -> &str {
        self.message
            .as_deref()
            .or(self.error.as_deref())
            .unwrap_or("no reason given")
    }
}

/// A server URL, `https://HOST:PORT` (a path is ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// The server's address.
    pub address: HostPort,
}

/// A URL that is not `https://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidUrl(pub String);

impl std::fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid server URL '{}': expected https://HOST:PORT",
            self.0
        )
    }
}

impl std::error::Error for InvalidUrl {}

impl ServerUrl {
    /// Parses `https://HOST:PORT[/...]`; the address follows [`HostPort`]'s rules.
    pub fn parse(url: &str) -> Result<Self, InvalidUrl> {
        let bad = || InvalidUrl(url.to_owned());
        let rest = url.strip_prefix("https://").ok_or_else(bad)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let address = authority.parse().map_err(|_| bad())?;
        Ok(Self { address })
    }

    /// `HOST:PORT`, an IPv6 address in brackets.
    pub fn authority(&self) -> String {
        self.address.to_string()
    }

    /// The host, without brackets: the name the server's certificate must hold.
    pub fn host(&self) -> &str {
        self.address.host()
    }

    /// The canonical form, `https://HOST:PORT`: two spellings of one server compare equal.
    pub fn canonical(&self) -> String {
        format!("https://{}", self.address)
    }
}

/// `urls` in order, each in its canonical form, without repeats; those that are not
/// `https://HOST:PORT` are left out.
pub fn dedup_servers<'a>(urls: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in urls {
        if let Ok(s) = ServerUrl::parse(u) {
            let c = s.canonical();
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_crl_path_names_one_file() {
        assert_eq!(crl_file(CRL), Some("ca.crl"));
        assert_eq!(
            crl_file("/crl/root-20261125190957.crl"),
            Some("root-20261125190957.crl")
        );
        for bad in [
            "/crl/.crl",
            "/crl/a/b.crl",
            "/crl/root",
            "/v1/root.crl",
            "/crl/%2e.crl",
        ] {
            assert_eq!(crl_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_grant_round_trips_and_keeps_the_wire_names() {
        let g = Grant {
            host: "esx1.example.test".into(),
            renew: true,
            refresh_pool: false,
            host_chain: Some(vec!["-----BEGIN CERTIFICATE-----".into()]),
            trusted_roots: vec!["r".into()],
            crls: vec![],
            host_key_algo: Some("ecdsa-p256".into()),
            servers: vec!["https://a:8443".into()],
        };
        let text = encode(&g);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for k in [
            "host",
            "renew",
            "refresh_pool",
            "host_chain",
            "trusted_roots",
            "crls",
            "host_key_algo",
            "servers",
        ] {
            assert!(v.get(k).is_some(), "{k} in {text}");
        }
        assert_eq!(decode::<Grant>(text.as_bytes()).unwrap(), g);
        // No servers configured: the field is left out, as before it existed.
        let plain = encode(&Grant::default());
        assert!(!plain.contains("servers"), "{plain}");
        assert!(plain.contains("\"host_chain\":null"), "{plain}");
    }

    #[test]
    fn requests_round_trip() {
        let p = PollRequest {
            renew_csr: Some("csr".into()),
            verification: false,
            trusted_roots: vec!["ab".into()],
            deploy_error: None,
        };
        assert_eq!(decode::<PollRequest>(encode(&p).as_bytes()).unwrap(), p);
        let j = JoinRequest {
            token: "t".into(),
            csr: "c".into(),
            pool_certificate: "p".into(),
            verification: true,
        };
        assert_eq!(decode::<JoinRequest>(encode(&j).as_bytes()).unwrap(), j);
        let e = EnrollmentRequest { token: "t".into() };
        assert_eq!(
            decode::<EnrollmentRequest>(encode(&e).as_bytes()).unwrap(),
            e
        );
        let r = PoolRequest {
            pool_certificate: "p".into(),
        };
        assert_eq!(decode::<PoolRequest>(encode(&r).as_bytes()).unwrap(), r);
        let rows = vec![HostRow {
            name: "h".into(),
            ips: vec!["127.0.0.1".into()],
            joined_at: None,
            last_seen: Some("2026-01-01T00:00:00Z".into()),
            pool_internal_sha256: None,
            renew_pending: false,
            verification: Some(true),
        }];
        assert_eq!(
            decode::<Vec<HostRow>>(encode(&rows).as_bytes()).unwrap(),
            rows
        );
        let alarms = vec![AlarmRow {
            kind: "host-silent".into(),
            subject: "h".into(),
            raised_at: "2026-01-01T00:00:00Z".into(),
            cleared_at: None,
            detail: Some("no poll for 2h".into()),
        }];
        // An answer of an older server (without the later fields) still reads.
        let old: Vec<AlarmRow> =
            decode(br#"[{"kind":"k","subject":"s","raised_at":"2026-01-01T00:00:00Z"}]"#).unwrap();
        assert_eq!(
            (old[0].cleared_at.as_deref(), old[0].detail.as_deref()),
            (None, None)
        );
        assert_eq!(
            decode::<Vec<AlarmRow>>(encode(&alarms).as_bytes()).unwrap(),
            alarms
        );
    }

    #[test]
    fn an_old_agents_poll_and_join_bodies_are_read_with_their_defaults() {
        let p: PollRequest = decode(b"{}").unwrap();
        assert!(p.verification && p.renew_csr.is_none() && p.trusted_roots.is_empty());
        let j: JoinRequest = decode(br#"{"token":"t","csr":"c","pool_certificate":"p"}"#).unwrap();
        assert!(j.verification);
    }

    #[test]
    fn the_server_refuses_unknown_request_fields_and_the_agent_tolerates_unknown_answer_fields() {
        assert!(decode::<PollRequest>(br#"{"verfication":false}"#).is_err());
        assert!(decode::<EnrollmentRequest>(br#"{"token":"t","extra":1}"#).is_err());
        let g: Grant = decode(br#"{"host":"h","a_future_field":{"x":1}}"#).unwrap();
        assert_eq!(g.host, "h");
        let e: ErrorBody = decode(br#"{"code":"a_future_code","message":"m","more":1}"#).unwrap();
        assert_eq!(e.code, Some(ErrorCode::Other));
    }

    #[test]
    fn error_codes_have_stable_names_and_statuses() {
        for c in ErrorCode::ALL {
            let body = encode(&ErrorBody::new(c, "m"));
            assert!(
                body.contains(&format!("\"code\":\"{}\"", c.name())),
                "{body}"
            );
            let back: ErrorBody = decode(body.as_bytes()).unwrap();
            assert_eq!(back.code, Some(c));
            assert_eq!(back.text(), "m");
            assert!((400..600).contains(&c.status()));
        }
        assert_eq!(ErrorCode::HostUnknown.status(), 410);
        assert_eq!(
            (
                ErrorCode::UnsupportedMediaType.status(),
                ErrorCode::UnsupportedMediaType.name()
            ),
            (415, "unsupported_media_type")
        );
        // A server before the codes.
        let old: ErrorBody = decode(br#"{"error":"gone"}"#).unwrap();
        assert_eq!((old.code, old.text()), (None, "gone"));
    }

    #[test]
    fn server_urls_are_parsed_and_deduplicated() {
        let u = ServerUrl::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((u.authority().as_str(), u.host()), ("[::1]:8443", "::1"));
        for bad in [
            "http://a:1",
            "https://a",
            "https://:1",
            "https://a:x",
            "https://a b:1",
            "https://a:0",
            "https://::1:8443",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            dedup_servers(["https://A:1", "https://a:1/", "nope", "https://b:2"]),
            vec!["https://a:1".to_owned(), "https://b:2".to_owned()]
        );
    }

    proptest! {
        /// Arbitrary bytes into every body parser of both ends: an error or a value,
        /// never a panic.
        #[test]
        fn arbitrary_bytes_never_panic_a_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<EnrollmentRequest>(&bytes);
            let _ = decode::<JoinRequest>(&bytes);
            let _ = decode::<PollRequest>(&bytes);
            let _ = decode::<PoolRequest>(&bytes);
            let _ = decode::<Enrollment>(&bytes);
            let _ = decode::<Grant>(&bytes);
            let _ = decode::<PoolAnswer>(&bytes);
            let _ = decode::<Health>(&bytes);
            let _ = decode::<Vec<HostRow>>(&bytes);
            let _ = decode::<Vec<AlarmRow>>(&bytes);
            let _ = decode::<ErrorBody>(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = ServerUrl::parse(&text);
        }

        /// JSON-shaped input (the likely kind of garbage) as well.
        #[test]
        fn json_shaped_garbage_never_panics_a_parser(s in r#"\{("[a-z_]{1,12}":(null|true|1|"[ -~]{0,8}"|\[\]|\{\}),?){0,6}\}"#) {
            let _ = decode::<PollRequest>(s.as_bytes());
            let _ = decode::<JoinRequest>(s.as_bytes());
            let _ = decode::<Grant>(s.as_bytes());
            let _ = decode::<ErrorBody>(s.as_bytes());
        }
    }
}
