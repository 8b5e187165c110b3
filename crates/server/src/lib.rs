//! The certherd management server: the fleet API over HTTPS (rustls, hyper, tokio), and
//! the lifecycle loop that evaluates the inventory on a timer.
//!
//! Every rule lives in `certherd-ca`; this crate moves bytes. Each request uses the
//! node's store on one of a fixed number of database threads ([`pool`], `[database]
//! max_connections`, each keeping one connection), so the async side never holds the
//! database and the server never holds more connections than that.
//!
//! API (JSON bodies of the types in [`certherd_protocol`], certificates as PEM; a request
//! with a field the endpoint does not know is refused 400, and every refusal is
//! `{code, message}` with a stable [`certherd_protocol::ErrorCode`]; join and poll answers
//! carry `servers`, the fleet's servers of `[fleet] servers`, for agents to fail over to):
//! - `POST /v1/enrollment` `{token}`: the host name and IP addresses a token was issued
//!   for, without spending it.
//! - `POST /v1/join` `{token, csr, pool_certificate}`: a host joins with its one-time
//!   token; answers `{host, host_chain, trusted_roots, crls, host_key_algo?}`. The
//!   enrollment answer and every grant carry `host_key_algo` when the server's `host`
//!   profile sets one (`[profiles.host] key_algo`): the algorithm of every host key, and
//!   a join or renewal CSR with another key is refused (a renewal is asked again, `renew`).
//! - `POST /v1/poll` `{renew_csr?, verification, trusted_roots, deploy_error?}`: a joined host, authenticated by the pool-internal
//!   certificate it presents over mutual TLS; answers the same shape.
//! - `POST /v1/pool` `{pool_certificate}`: a joined host replaces its pinned
//!   pool-internal certificate, authenticated by the current one.
//! - `GET /metrics`: Prometheus text; with `[metrics] require_token`, an admin credential.
//! - The admin API ([`certherd_protocol::admin::ROUTES`], described by the OpenAPI 3
//!   document at `GET /v1/openapi.json`): hosts, certificates, trust, alarms, audit, pool
//!   verification, fleet renew, the CA, the forecast and key-provider health, each calling the node operation
//!   the CLI calls. An admin credential from `certherd admin credential` is required: a
//!   client certificate over mutual TLS, or `Authorization: Bearer`; a `reader` may only
//!   GET. The caller is authenticated and authorized before its body is read, and every
//!   call is audited with the credential's name (see `admin.rs`).
//! - The web console (see `console.rs`): `GET /` and its files under `/console/`, built
//!   into the binary; `POST /console/login` `{token}` opens a session (an `HttpOnly;
//!   Secure; SameSite=Strict` cookie the admin API takes as that token), `GET
//!   /console/session` says who the console acts as and gives the CSRF token every change
//!   made with the cookie must carry as `X-CSRF-Token` (else 403 `csrf_refused`), `POST
//!   /console/logout` ends it, `GET /console/timeline.svg` is the report's timeline. A
//!   change a browser sends from another site (`Sec-Fetch-Site`, `Origin`) is refused
//!   whatever its credential. Every answer carries a `default-src 'self'` content
//!   security policy.
//! - `GET /v1/health`: `{"status":"ok","lifecycle":{..},"database":{"reachable":true,
//!   "backend","max_connections","open_connections"}}`; 503 with `"status":"degraded"` and
//!   `database.error` when a `SELECT 1` on a pooled connection does not answer within 2s.
//!   A request that cannot reach the database, or finds every connection busy for 10s,
//!   is refused 503 `unavailable`: an agent tries its next server.
//! - `GET /crl/ca.crl`: the signing CA's current CRL (DER, `application/pkix-crl`), no
//!   credential needed; `GET /crl/ALIAS.crl` each live CA's (signing and, during a
//!   rotation, retiring: what their certificates' CRL Distribution Point names); with
//!   [`Config::crl_listen`] also over plain HTTP, where nothing else is served.
//!   A client certificate a CRL of the home lists is refused on every endpoint (403
//!   `certificate_revoked`).
//!
//! Limits ([`certherd_core::ServerLimits`], `[server]` in certherd.toml): at most
//! `max_connections` connections, at most `max_connections_per_address` of them from one
//! address (an IPv6 /64 counting as one), each closed when its TLS handshake, its headers,
//! its body or its wait for the next request outlasts its time; making room never closes
//! another address's connection for an address at its own limit (see [`conns`]); refused joins
//! are counted per source, written to the audit log aggregated, and answered 429 over a
//! per-source rate (see [`refusals`]). The soft open-file limit is raised to the hard one
//! at start, and a failing `accept` backs off rather than spins.
#![forbid(unsafe_code)]

mod admin;
pub mod auth_limit;
mod client_auth;
pub mod conns;
mod console;
mod error;
pub mod lifecycle;
pub mod pool;
pub mod refusals;
mod start;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use certherd_authority::Node;
use certherd_core::{Clock, ServerLimits};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_protocol as proto;
use certherd_store::{AuditRecord, HomeStore};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use proto::ErrorCode;

pub use error::{Error, Seam};
use pool::{Lent, Pool};
pub use start::{start, NodeOver, StartConfig, Started};

/// Opens the node for one request (on a blocking thread).
pub type OpenNode = Arc<dyn Fn() -> Result<Node<HomeStore>, Seam> + Send + Sync>;

/// How the lifecycle loop delivers webhook notifications.
pub type Delivery = Arc<dyn lifecycle::Deliver + Send + Sync>;

/// Appends records to the node's audit log (in one transaction).
pub type AuditSink = Arc<dyn Fn(&[AuditRecord]) -> Result<(), Seam> + Send + Sync>;

/// How the server runs.
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Opens the node.
    pub open: OpenNode,
    /// How often the lifecycle loop ([`lifecycle::tick`]) runs, on a node opened afresh
    /// each time (certherd.toml re-read), and how it delivers notifications; `None`: no
    /// loop.
    pub lifecycle: Option<(Duration, Delivery)>,
    /// Connection limits and the refusal rate.
    pub limits: ServerLimits,
    /// Where aggregated refusals are written.
    pub audit: AuditSink,
    /// The time stamped on refusals.
    pub clock: Arc<dyn Clock>,
    /// When the settings last changed; `None`: a node once opened is kept.
    pub settings_stamp: Option<SettingsStamp>,
    /// This server process's name in the lifecycle lease (host, address, pid), unique
    /// among the servers on one database.
    pub holder: String,
    /// The machine-ssl entry this server presents (`machine-ssl/machine`, or its own
    /// `machine-ssl/HOSTNAME` when several servers share one database).
    pub identity: certherd_core::EntryRef,
    /// Where to serve the CAs' CRLs over plain HTTP (`GET /crl/FILE.crl` only), if anywhere.
    pub crl_listen: Option<SocketAddr>,
    /// The home served, if any: its renewal lock file (`HOME/certherd.lock`), which the
    /// admin API's renew takes as the CLI's runs do (refused 409 while one of them holds
    /// it), and its files, whose modes `check` reports.
    pub home: Option<certherd_store::Home>,
    /// The most nodes (database connections) open at once (`[database] max_connections`),
    /// the lifecycle loop's included; a request waits up to [`DATABASE_WAIT`] for one.
    pub database_connections: usize,
}

/// How long a request waits for a free database connection before it is refused 503.
pub const DATABASE_WAIT: Duration = Duration::from_secs(10);

/// What every request handler shares.
struct Shared {
    /// The home served, if any (its renewal lock and its files' modes).
    home: Option<certherd_store::Home>,
    /// Whether this server runs the lifecycle loop (none: it runs no loop).
    leadership: Option<Arc<std::sync::Mutex<lifecycle::Leadership>>>,
    /// The nodes (database connections) requests take theirs from.
    open: Arc<Pool>,
    /// One database thread of its own for the lifecycle lease and `/v1/health`, so that
    /// neither waits behind requests (a lease renewal queued behind a burst could let the
    /// lease run out and the loop move for nothing).
    lane: Arc<Pool>,
    /// `sqlite` or `postgresql`.
    database_backend: &'static str,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
    refusals: std::sync::Mutex<refusals::Refusals>,
    /// Admin API and console calls refused to a caller no credential authenticated,
    /// counted per source like refused joins (the 429 is [`Shared::auth_failures`]'s).
    denied: std::sync::Mutex<refusals::Refusals>,
    body_timeout: Duration,
    refusal_interval: Duration,
    /// The web console's sessions (this process's memory only).
    sessions: std::sync::Mutex<console::Sessions>,
    /// Failed authentications per source (console logins, bearer tokens).
    auth_failures: std::sync::Mutex<auth_limit::AuthFailures>,
    /// The last database check of `/v1/health`, answered to callers that come while
    /// another check runs.
    health: HealthCache,
}

/// `/v1/health`'s database checks: one at a time, whatever the number of callers (health
/// answers anyone; a flood of it must not keep the lane, and so the lifecycle lease, busy).
#[derive(Default)]
struct HealthCache {
    last: std::sync::Mutex<Option<proto::DatabaseState>>,
    checking: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// A refused authentication from `source` that presented a credential (a bearer
    /// token, a console login): counted, and answered 429 `too_many_refusals` instead
    /// once the source is over its rate (see [`auth_limit`]; `Retry-After` is added by
    /// [`handle`]). A failure of the server's own (a 5xx) is not the caller's: not counted.
    fn auth_refused(&self, source: std::net::IpAddr, r: Refused) -> Refused {
        if !client_error(r.0) {
            return r;
        }
        let now = self.clock.now();
        let over = self
            .auth_failures
            .lock()
            .map(|mut f| f.failed(source, now))
            .unwrap_or(false);
        if over {
            (
                ErrorCode::TooManyRefusals,
                "too many failed authentications from this address; try again after Retry-After seconds".into(),
            )
        } else {
            r
        }
    }

    /// The audit record for a row of refusals of `kind`.
    fn record(&self, kind: Kind, row: &refusals::Row) -> AuditRecord {
        let (action, subject) = match kind {
            Kind::Join => ("host-join-refused", "fleet"),
            Kind::Denied => ("admin-api-refused", "-"),
        };
        AuditRecord {
            at: self.clock.now(),
            action: action.into(),
            subject: subject.into(),
            detail: row.detail(),
        }
    }

    /// The counts of refusals of `kind`.
    fn counts(&self, kind: Kind) -> &std::sync::Mutex<refusals::Refusals> {
        match kind {
            Kind::Join => &self.refusals,
            Kind::Denied => &self.denied,
        }
    }

    /// Writes rows of `kind` (logging each); rows that cannot be written go back to be
    /// retried.
    fn write(&self, kind: Kind, rows: Vec<refusals::Row>) {
        if rows.is_empty() {
            return;
        }
        for r in &rows {
            tracing::warn!(source = %r.source, count = r.count, "certherd server: {}: {}", kind.what(), r.detail());
        }
        let records: Vec<AuditRecord> = rows.iter().map(|r| self.record(kind, r)).collect();
        if let Err(e) = (self.audit)(&records) {
            tracing::error!(
                "certherd server: cannot write {} rows of refusals to the audit log (will retry): {}",
                rows.len(),
                refusals::echo(&e.to_string())
            );
            if let Ok(mut r) = self.counts(kind).lock() {
                r.requeue(rows);
            }
        }
    }

    /// An admin API or console call from `peer` refused before any credential
    /// authenticated it (`summary` says which and why): whether to write its own audit row
    /// now (the first few of the source's interval); the others are counted and written
    /// as one row when the interval closes.
    fn denied(&self, peer: std::net::IpAddr, summary: &str) -> bool {
        let now = self.clock.now();
        self.denied
            .lock()
            .map(|mut r| r.refused(peer, now, summary).is_some())
            .unwrap_or(true)
    }

    /// A join from `peer` was refused for `reason` by the server: written now, or counted.
    fn refused(&self, peer: std::net::IpAddr, reason: &str) {
        let now = self.clock.now();
        let row = self
            .refusals
            .lock()
            .ok()
            .and_then(|mut r| r.refused(peer, now, reason));
        if let Some(row) = row {
            self.write(Kind::Join, vec![row]);
        }
    }

    /// Before any work on a fleet request from `peer` that may be refused (a join, an
    /// enrollment): 429 when the source is over its rate of refusals (already counted).
    fn fleet_gate(&self, peer: std::net::IpAddr) -> Option<Response<Full<Bytes>>> {
        let now = self.clock.now();
        let gate = self
            .refusals
            .lock()
            .map(|mut r| r.gate(peer, now))
            .unwrap_or(refusals::Gate::Admit);
        if gate == refusals::Gate::Admit {
            return None;
        }
        let mut r = refuse(
            ErrorCode::TooManyRefusals,
            "too many refused joins from this address; try again later",
        );
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(self.refusal_interval.as_secs()),
        );
        Some(r)
    }
}

/// Which refusals a row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Joins and enrollments (`host-join-refused`).
    Join,
    /// Admin API and console calls of unauthenticated callers (`admin-api-refused`).
    Denied,
}

impl Kind {
    /// How the server's log names a row of this kind.
    fn what(self) -> &'static str {
        match self {
            Self::Join => "join refused",
            Self::Denied => "admin call refused",
        }
    }
}

/// The modification time of the settings (certherd.toml): a kept node opened before it
/// changed is opened again, so an edited `[profiles]` applies without a restart.
pub type SettingsStamp = Arc<dyn Fn() -> Option<std::time::SystemTime> + Send + Sync>;

/// A refusal: its code (which sets the status) and a message safe to show the caller.
type Refused = (ErrorCode, String);

/// The node of this database thread (see [`pool`]), kept between requests (its database
/// connection, the unsealed CA) rather than opening the home every time; opened again
/// when certherd.toml changed or its connection is gone. 503 `unavailable` when the
/// database cannot be reached.
fn cached() -> Result<Lent, Refused> {
    pool::node(false)
}

/// How long `/v1/health` waits for the database's answer, a free connection included.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database answers a `SELECT 1` on a pooled connection within
/// [`HEALTH_TIMEOUT`], and the pool's figures.
async fn database_state(shared: &Shared) -> proto::DatabaseState {
    use std::sync::atomic::Ordering;
    // Another caller is checking: the answer of the check before it will do.
    if shared.health.checking.swap(true, Ordering::SeqCst) {
        if let Some(state) = shared.health.last.lock().ok().and_then(|l| l.clone()) {
            return state;
        }
    }
    // Cleared however this ends: a caller that hangs up drops this future mid-check.
    struct Checking<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Checking<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let _checking = Checking(&shared.health.checking);
    let state = check_database(shared).await;
    if let Ok(mut l) = shared.health.last.lock() {
        *l = Some(state.clone());
    }
    state
}

/// One check of the database for [`database_state`].
async fn check_database(shared: &Shared) -> proto::DatabaseState {
    // The ping waits at most HEALTH_TIMEOUT for the lane's thread and as long again for
    // the database: past both, the database (or the network to it) is not answering.
    let check = tokio::time::timeout(
        HEALTH_TIMEOUT * 2 + Duration::from_millis(500),
        shared.lane.run_within(HEALTH_TIMEOUT, || {
            // A connection lost since its last use is found out here: once more on a new
            // one, and every other thread's is opened anew too.
            let mut outcome = Ok(());
            for _ in 0..2 {
                let node = match pool::held(false) {
                    Ok(n) => n,
                    Err(e) => {
                        pool::lost();
                        return Ok(Err(e.to_string()));
                    }
                };
                outcome = node.store().ping(HEALTH_TIMEOUT).map_err(|e| e.to_string());
                drop(node);
                if outcome.is_ok() {
                    break;
                }
                pool::lost();
            }
            Ok(outcome)
        }),
    )
    .await;
    let error = match check {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e),
        Ok(Err((_, m))) => Some(m),
        Err(_) => Some(format!(
            "no answer within {}s",
            (HEALTH_TIMEOUT * 2).as_secs()
        )),
    };
    // The cause (the database's address, its user, the driver's words) goes to the log;
    // health answers anyone, so it says only that the database does not answer.
    if let Some(e) = &error {
        tracing::error!("certherd server: health: the database is not reachable: {e}");
    }
    proto::DatabaseState {
        reachable: error.is_none(),
        backend: shared.database_backend.to_owned(),
        max_connections: u32::try_from(shared.open.max() + shared.lane.max()).unwrap_or(u32::MAX),
        open_connections: u32::try_from(shared.open.open_now() + shared.lane.open_now())
            .unwrap_or(u32::MAX),
        error: error
            .map(|_| "the database does not answer (the cause is in the server's log)".to_owned()),
    }
}

/// Largest request body accepted (a CSR and a certificate are a few kilobytes).
const MAX_BODY: usize = 256 * 1024;

fn pem(der: &[u8]) -> String {
    certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, der)
}

/// The protocol's answer to a join or a poll; `servers` is what the server advertises
/// for the agent to fail over to (`[fleet] servers`).
fn grant_body(
    host: &certherd_core::Host,
    g: &certherd_fleet::Grant,
    servers: Vec<String>,
) -> proto::Grant {
    proto::Grant {
        host: host.name.clone(),
        renew: g.renew_ordered,
        refresh_pool: g.refresh_pool_ordered,
        host_chain: g
            .host_chain
            .as_ref()
            .map(|c| c.iter().map(|d| pem(d)).collect()),
        trusted_roots: g.trusted_roots.iter().map(|d| pem(d)).collect(),
        crls: g
            .crls
            .iter()
            .map(|d| certherd_x509::to_pem(certherd_x509::PemLabel::Crl, d))
            .collect(),
        host_key_algo: g.host_key_algo.map(|a| a.name().to_owned()),
        servers,
    }
}

/// The servers this server advertises to agents (`[fleet] servers`, checked at start).
fn advertised<S: certherd_store::Store>(node: &Node<S>) -> Vec<String> {
    proto::dedup_servers(node.settings().fleet.servers.iter().map(String::as_str))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A 200 answer with `body`.
fn ok<T: serde::Serialize>(body: &T) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, proto::encode(body))
}

/// A refusal: `{code, message}` with the code's status.
fn refuse(code: ErrorCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(status, proto::encode(&proto::ErrorBody::new(code, message)))
}

/// Maps a refusal to a code and a message safe to show the caller; the cause goes to the
/// server's log.
fn refusal(e: &certherd_authority::Error) -> Refused {
    use certherd_authority::Error as E;
    let code = match e {
        // What the request asked is wrong (as the message says), not the server.
        E::X509(_)
        | E::NotFound { .. }
        | E::AlreadyExists { .. }
        | E::InvalidValue { .. }
        | E::HostNotJoined(_)
        | E::NoPendingCaRequest
        | E::SubordinateCa
        | E::NoPrivateKey { .. }
        | E::AmbiguousFingerprint { .. }
        | E::StaleCrl { .. }
        | E::ExportOptions(_)
        | E::Pkcs12Keys { .. }
        | E::CaProfile(_)
        | E::CaCertificateImport
        | E::NoFreeBackupAlias(_)
        | E::InvalidHostname(_)
        | E::HostnameIsAddress(_)
        | E::HostnameTooLong { .. } => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    answer_of(code, e)
}

/// [`refusal`] for the fleet's refusals: the node's own go through [`refusal`].
fn fleet_refusal(e: &certherd_fleet::Error) -> Refused {
    use certherd_fleet::Error as F;
    let code = match e {
        F::Node(e) | F::Monitor(certherd_monitor::Error::Node(e)) => return refusal(e),
        F::Token(_) => ErrorCode::TokenRefused,
        // Gone: the agent stops polling (a removed host), by code, not by text.
        F::UnknownPeer(_) => ErrorCode::HostUnknown,
        F::NotEnrolled { .. } => ErrorCode::NotEnrolled,
        F::HostKeyAlgorithm { .. } => ErrorCode::KeyAlgorithm,
        // What the request asked is wrong (as the message says), not the server.
        F::NotJoined
        | F::EntryWithoutKey(_)
        | F::NoHostCertificate
        | F::CsrSignature
        | F::PoolCertificate { .. }
        | F::VerificationMismatch { .. } => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    answer_of(code, e)
}

/// The answer of a refusal with `code`: its message, unless the server failed (the
/// cause goes to the server's log then).
fn answer_of(code: ErrorCode, e: &dyn std::fmt::Display) -> Refused {
    let message = if code == ErrorCode::Internal {
        "internal error; see the server log".to_owned()
    } else {
        e.to_string()
    };
    (code, message)
}

/// A check the server makes of its own (nothing the caller asked for) failed with `e`;
/// `closed`: the store's connection is gone since. The cause goes to the log; a database
/// out of reach (its connection lost, or not reachable) is 503 `unavailable`, as for every
/// request the database cannot serve, so that an agent tries its next server; anything
/// else is 500.
fn check_failed(what: &str, e: &certherd_authority::Error, closed: bool) -> Refused {
    let unreachable = closed
        || matches!(
            e,
            certherd_authority::Error::Store(certherd_store::Error::Unreachable { .. })
        );
    tracing::error!("certherd server: {what} failed: {e}");
    if unreachable {
        (
            ErrorCode::Unavailable,
            "the server cannot reach its database; try again, or another server".to_owned(),
        )
    } else {
        (ErrorCode::Internal, INTERNAL.to_owned())
    }
}

/// Whether a refusal is the caller's doing (a 4xx), not the server's.
fn client_error(code: ErrorCode) -> bool {
    code.status() < 500
}

/// A request body of the endpoint's type; anything else (not JSON, a field missing,
/// unknown or of the wrong type) is refused 400.
fn body_of<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refused> {
    certherd_ops::wire::json_object(body).map_err(|p| (ErrorCode::InvalidRequest, p.to_string()))
}

fn der_of(text: &str, what: &'static str) -> Result<Vec<u8>, Refused> {
    if what == "csr" {
        return certherd_x509::parse_signing_request(text.as_bytes())
            .map_err(|e| (ErrorCode::InvalidRequest, format!("{what}: {e}")));
    }
    certherd_x509::parse_certificates(text.as_bytes())
        .map_err(|e| (ErrorCode::InvalidRequest, format!("{what}: {e}")))?
        .into_iter()
        .next()
        .map(|c| c.to_vec())
        .ok_or((ErrorCode::InvalidRequest, format!("{what}: no certificate")))
}

/// Runs `f` on a database thread of `pool` (see [`pool`]).
async fn blocking<T: Send + 'static>(
    pool: &Pool,
    f: impl FnOnce() -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    pool.run(f).await
}

/// What a 500 says: the cause goes to the server's log only.
const INTERNAL: &str = "internal error; see the server log";

/// Reads a request body of at most [`MAX_BODY`] bytes within `timeout`; a refusal
/// otherwise (413, or 408 closing the connection).
async fn read_body(body: Incoming, timeout: Duration) -> Result<Bytes, Response<Full<Bytes>>> {
    match tokio::time::timeout(timeout, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(_)) => Err(refuse(
            ErrorCode::BodyTooLarge,
            format!("request body over {MAX_BODY} bytes"),
        )),
        Err(_) => {
            let mut r = refuse(
                ErrorCode::BodyTimeout,
                format!(
                    "the request body did not arrive within {}s",
                    timeout.as_secs()
                ),
            );
            r.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
            Err(r)
        }
    }
}

/// Serves one request, recording the connection's phase as it goes.
async fn handle(
    shared: Arc<Shared>,
    conn: Arc<conns::Conn>,
    source: SocketAddr,
    peer: Option<Vec<u8>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    conn.set(conns::Phase::Body);
    let mut response = route(shared.clone(), &conn, source, peer, req).await;
    // A 429 for failed authentications says when to try again.
    if response.status() == StatusCode::TOO_MANY_REQUESTS
        && !response.headers().contains_key(hyper::header::RETRY_AFTER)
    {
        let now = shared.clock.now();
        let wait = shared
            .auth_failures
            .lock()
            .ok()
            .and_then(|f| f.retry_after(source.ip(), now))
            .unwrap_or(auth_limit::WINDOW.whole_seconds().unsigned_abs());
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(wait),
        );
    }
    console::harden(response.headers_mut());
    conn.set(conns::Phase::Idle);
    Ok(response)
}

async fn route(
    shared: Arc<Shared>,
    conn: &conns::Conn,
    source: SocketAddr,
    peer: Option<Vec<u8>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let open = shared.open.clone();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let bearer: Option<String> = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    // A client certificate a CRL of the home lists is refused whatever it asks for; a
    // revoked admin client certificate calling the admin API is refused (and audited) by
    // it, by name, as `credential_revoked`.
    if let Some(cert) = peer.clone().filter(|_| proto::crl_file(&path).is_none()) {
        let open = open.clone();
        let admin_call = proto::admin::is_admin_path(&path);
        if let Err((code, message)) = blocking(&open, move || {
            let node = cached()?;
            match node.revocations().revocation_of(&cert).map_err(|e| {
                check_failed(
                    "the client certificate's revocation check",
                    &e,
                    node.store().is_closed(),
                )
            })? {
                None => Ok(()),
                Some(_)
                    if admin_call
                        && matches!(
                            node.admin().admin_by_client_cert(&cert),
                            Ok(certherd_authority::AdminAuth::Revoked(_))
                        ) =>
                {
                    Ok(())
                }
                Some(r) => Err((
                    ErrorCode::CertificateRevoked,
                    format!(
                        "the client certificate is revoked (since {}, reason {})",
                        certherd_x509::rfc3339(r.revoked_at),
                        r.reason.map_or("unknown", |x| x.name())
                    ),
                )),
            }
        })
        .await
        {
            tracing::warn!(source = %source, code = ?code, "certherd server: refused {source}: {message}");
            return refuse(code, message);
        }
    }
    // HEAD is GET without the body (hyper leaves the body out of a HEAD's answer).
    let reads = parts.method == Method::GET || parts.method == Method::HEAD;
    if reads && path == proto::admin::OPENAPI {
        conn.set(conns::Phase::Working);
        return reply(StatusCode::OK, admin::openapi_text().to_owned());
    }
    if reads {
        if let Some(page) = console::file(&path) {
            conn.set(conns::Phase::Working);
            return page;
        }
    }
    // A change a browser sends from another site is refused whatever its credential
    // (a client certificate and a session cookie go along with any request).
    let changes = parts.method != Method::GET && parts.method != Method::HEAD;
    let forged = (changes && bearer.is_none() && console::cross_site(&parts.headers)).then(|| {
        (
            ErrorCode::CsrfRefused,
            "a change sent by a browser from another site is refused".to_owned(),
        )
    });
    // The console's session cookie stands for the bearer token that logged in; a change
    // made with it needs the session's CSRF token. An `Authorization` header wins.
    let cookie = console::cookie(&parts.headers).filter(|_| bearer.is_none());
    let session = cookie.as_deref().map(|id| {
        let now = shared.clock.now();
        shared
            .sessions
            .lock()
            .map_err(|_| console::Refusal::NoSession)
            .and_then(|mut s| s.check(id, changes, console::csrf(&parts.headers), now))
    });
    // A session is only as good as the credential that opened it: one revoked or expired
    // since the login ends the session at once. The admin API is then handed the
    // credential itself, so that it refuses (and audits) it by name.
    let mut withdrawn: Option<String> = None;
    let session = match (cookie.as_deref(), session) {
        (Some(id), Some(Ok(s))) => {
            let vetted = vet_session(&shared, id, &s.token).await;
            if matches!(vetted, Err(console::Refusal::Withdrawn(_))) {
                withdrawn = Some(s.token.clone());
            }
            Some(vetted.map(|()| s))
        }
        (_, other) => other,
    };
    if path.starts_with("/console/") {
        conn.set(conns::Phase::Working);
        let body = match read_body(body, shared.body_timeout).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let answer = console_call(
            shared,
            ConsoleCall {
                method: parts.method.clone(),
                path,
                peer,
                bearer,
                session,
                cookie,
                forged,
                source: source.ip(),
                content_type: parts
                    .headers
                    .get(hyper::header::CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            },
            &body,
        )
        .await;
        return answer.unwrap_or_else(|(code, message)| refuse(code, message));
    }
    if proto::admin::is_admin_path(&path) {
        let (bearer, refused) = match session {
            Some(Ok(s)) => (Some(s.token), forged),
            Some(Err(console::Refusal::Withdrawn(_))) if withdrawn.is_some() => (withdrawn, forged),
            Some(Err(r)) => (None, forged.or(Some(r.answer()))),
            None => (bearer, forged),
        };
        // The caller is authenticated and authorized before its body is read.
        let call = admin::Call {
            method: parts.method.to_string(),
            path,
            query: parts.uri.query().map(str::to_owned),
            peer,
            bearer,
            source: source.ip(),
            session: cookie.is_some(),
            refused,
            content_type: parts
                .headers
                .get(hyper::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        };
        let timeout = shared.body_timeout;
        let read = || async move {
            let b = read_body(body, timeout).await?;
            conn.set(conns::Phase::Working);
            Ok(b)
        };
        return admin::serve(shared, call, read).await;
    }
    let body = match read_body(body, shared.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // The request is complete: its work is not cut short to make room or by a timeout.
    conn.set(conns::Phase::Working);
    // HEAD is GET without the body (hyper leaves the body out of a HEAD's answer).
    let method = if parts.method == Method::HEAD {
        Method::GET
    } else {
        parts.method.clone()
    };
    let result: Result<Response<Full<Bytes>>, Refused> = match (method, path.as_str()) {
        (Method::GET, p) if proto::crl_file(p).is_some() => {
            let file = proto::crl_file(p).unwrap_or_default().to_owned();
            blocking(&open, move || crl_response(&file)).await
        }
        (m, p) if proto::crl_file(p).is_some() => return crl_method_not_allowed(&m, p),
        (Method::GET, proto::HEALTH) => {
            let lifecycle = shared
                .leadership
                .as_ref()
                .and_then(|l| l.lock().ok())
                .map(|l| proto::LifecycleState {
                    this_server: l.holder().to_owned(),
                    runs_loop: l.leads(shared.clock.now()),
                    lease_holder: l.holder_seen().map(str::to_owned),
                });
            let database = database_state(&shared).await;
            let (status, word) = if database.reachable {
                (StatusCode::OK, "ok")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "degraded")
            };
            Ok(reply(
                status,
                proto::encode(&proto::Health {
                    status: word.into(),
                    lifecycle,
                    database: Some(database),
                }),
            ))
        }
        (Method::GET, "/metrics") => {
            let s = shared.clone();
            blocking(&open, move || {
                let node = cached()?;
                if node.fleet().metrics_require_token() {
                    admin::authenticate(&node, peer.as_deref(), bearer.as_deref())
                        .map_err(|(_, r)| s.auth_refused(source.ip(), r))?;
                }
                let text = metrics(&node).map_err(|e| refusal(&e))?;
                let mut r = Response::new(Full::new(Bytes::from(text)));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                Ok(r)
            })
            .await
        }
        (Method::POST, proto::ENROLLMENT) => {
            // Refused enrollments count with refused joins: a token guessed here is one
            // guessed for a join.
            if let Some(r) = shared.fleet_gate(source.ip()) {
                return r;
            }
            let parsed = body_of::<proto::EnrollmentRequest>(&body);
            let s = shared.clone();
            let ip = source.ip();
            blocking(&open, move || {
                let token = parsed
                    .inspect_err(|(_, m)| s.refused(ip, &format!("enrollment: {m}")))?
                    .token;
                let node = cached()?;
                let host = node.fleet().enrollment(&token).map_err(|e| {
                    let (code, message) = fleet_refusal(&e);
                    if client_error(code) {
                        s.refused(ip, &format!("enrollment: {message}"));
                    } else {
                        tracing::error!("certherd server: enrollment failed: {e}");
                    }
                    (code, message)
                })?;
                let algo = node
                    .fleet()
                    .host_key_algo()
                    .map_err(|e| fleet_refusal(&e))?;
                Ok(ok(&proto::Enrollment {
                    host: host.name,
                    ips: host.ips.iter().map(ToString::to_string).collect(),
                    host_key_algo: algo.map(|a| a.name().to_owned()),
                }))
            })
            .await
        }
        (Method::POST, proto::JOIN) => join(shared.clone(), source.ip(), peer, &body).await,
        (Method::POST, proto::POLL) => {
            match peer.clone() {
                None => Err((
                    ErrorCode::Unauthenticated,
                    "a client certificate (the host's pool-internal certificate) is required"
                        .into(),
                )),
                Some(peer) => {
                    let parsed = body_of::<proto::PollRequest>(&body);
                    let s = shared.clone();
                    let ip = source.ip();
                    blocking(&open, move || {
                        let v = parsed?;
                        let csr = match v.renew_csr.as_deref() {
                            Some(t) => Some(der_of(t, "csr")?),
                            None => None,
                        };
                        let mut node = cached()?;
                        let (host, grant) = node
                            .fleet_mut()
                            .host_poll(&peer, csr.as_deref(), v.verification, &v.trusted_roots)
                            .map_err(|e| {
                                // Any self-signed certificate is presented as a host's:
                                // a stranger's polls are counted, not logged one by one.
                                if matches!(e, certherd_fleet::Error::UnknownPeer(_)) {
                                    s.refused(ip, &format!("poll: {e}"));
                                } else {
                                    tracing::warn!(source = %ip, "certherd server: poll refused: {e}");
                                }
                                {
                                    if csr.is_some() {
                                        RENEWAL_FAILURES
                                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    }
                                    fleet_refusal(&e)
                                }
                            })?;
                        if grant.host_chain.is_some() {
                            RENEWALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // What the agent says of its last deploy: raises or clears
                        // `deploy-failed`. The poll itself stands either way.
                        let deploy_error = v.deploy_error.as_deref();
                        match node
                            .alarms_mut()
                            .host_report_deploy(&host.name, deploy_error)
                        {
                            Ok(changes) => {
                                if let (Some(e), false) = (deploy_error, changes.is_empty()) {
                                    tracing::warn!(
                                        host = %host.name,
                                        "certherd server: {} could not deploy: {e}",
                                        host.name
                                    );
                                }
                            }
                            Err(e) => tracing::error!(
                                host = %host.name,
                                "certherd server: recording the deploy report of {}: {e}",
                                host.name
                            ),
                        }
                        let servers = advertised(&node);
                        Ok(ok(&grant_body(&host, &grant, servers)))
                    })
                    .await
                }
            }
        }
        (Method::POST, proto::POOL) => match peer.clone() {
            None => Err((
                ErrorCode::Unauthenticated,
                "a client certificate (the host's current pool-internal certificate) is required"
                    .into(),
            )),
            Some(peer) => {
                let parsed = body_of::<proto::PoolRequest>(&body);
                let s = shared.clone();
                let ip = source.ip();
                blocking(&open, move || {
                    let new = der_of(&parsed?.pool_certificate, "pool_certificate")?;
                    let mut node = cached()?;
                    let host = node.fleet_mut().host_repin(&peer, &new).map_err(|e| {
                        if matches!(e, certherd_fleet::Error::UnknownPeer(_)) {
                            s.refused(ip, &format!("pool refresh: {e}"));
                        } else {
                            tracing::warn!(source = %ip, "certherd server: pool refresh refused: {e}");
                        }
                        fleet_refusal(&e)
                    })?;
                    Ok(ok(&proto::PoolAnswer { host: host.name }))
                })
                .await
            }
        },
        _ => Err((
            ErrorCode::NotFound,
            format!(
                "no such endpoint: {} {}",
                refusals::echo(parts.method.as_str()),
                refusals::echo(&path)
            ),
        )),
    };
    result.unwrap_or_else(|(code, message)| refuse(code, message))
}

/// Whether the credential behind the console session `id` (its bearer token `token`)
/// still authenticates; the session is ended when it does not.
async fn vet_session(shared: &Arc<Shared>, id: &str, token: &str) -> Result<(), console::Refusal> {
    let open = shared.open.clone();
    let token = token.to_owned();
    let verdict = blocking(&open, move || {
        let node = cached()?;
        Ok(admin::authenticate(&node, None, Some(&token))
            .map(|_| ())
            .map_err(|(_, (code, _))| code))
    })
    .await
    .ok();
    shared
        .sessions
        .lock()
        .map_err(|_| console::Refusal::Unavailable)
        .and_then(|mut s| s.vet(id, verdict))
}

/// A request to one of the console's endpoints (`/console/...`).
struct ConsoleCall {
    method: Method,
    path: String,
    peer: Option<Vec<u8>>,
    bearer: Option<String>,
    /// The session its cookie names, checked (a change against its CSRF token).
    session: Option<Result<console::Session, console::Refusal>>,
    cookie: Option<String>,
    /// Sent by a browser from another site.
    forged: Option<Refused>,
    source: std::net::IpAddr,
    /// The `Content-Type` header, if any.
    content_type: Option<String>,
}

/// Serves a console endpoint: login, session, logout, the timeline.
async fn console_call(
    shared: Arc<Shared>,
    c: ConsoleCall,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, Refused> {
    use proto::console as api;
    if let Some(r) = c.forged.clone() {
        return Err(r);
    }
    let open = shared.open.clone();
    match (c.method.clone(), c.path.as_str()) {
        (Method::POST, api::LOGIN) => {
            // A body is JSON and says so, as the admin API's (a form posted from another
            // page is not taken for one).
            if !body.is_empty() && !admin::is_json(c.content_type.as_deref()) {
                return Err((
                    ErrorCode::UnsupportedMediaType,
                    format!(
                        "the request body must be sent as Content-Type: application/json, not {}",
                        refusals::echo(c.content_type.as_deref().unwrap_or("(none)"))
                    ),
                ));
            }
            // A malformed login is a failed one: counted.
            let login: api::LoginRequest =
                body_of(body).map_err(|r| shared.auth_refused(c.source, r))?;
            let s = shared.clone();
            blocking(&open, move || {
                let mut node = cached()?;
                let authenticated = admin::authenticate(&node, None, Some(&login.token));
                let call = admin::Call {
                    method: c.method.to_string(),
                    path: c.path.clone(),
                    query: None,
                    peer: None,
                    bearer: None,
                    source: c.source,
                    session: true,
                    refused: None,
                    content_type: None,
                };
                let (caller, role) = match authenticated {
                    Ok(caller) => match caller.role() {
                        Some(role) => (caller.clone(), role),
                        None => {
                            return Err(s.auth_refused(
                                c.source,
                                (
                                    ErrorCode::Forbidden,
                                    "that admin credential is not valid".into(),
                                ),
                            ))
                        }
                    },
                    Err((caller, r)) => {
                        let r = s.auth_refused(c.source, r);
                        admin::audit_denied(&s, &mut node, &call, &caller, &Err(r.clone()));
                        return Err(r);
                    }
                };
                let now = s.clock.now();
                let opened = s.sessions.lock().ok().and_then(|mut t| {
                    t.open(
                        login.token,
                        caller.name().to_owned(),
                        role,
                        caller.expires_at(),
                        now,
                    )
                });
                let Some((id, session)) = opened else {
                    tracing::error!(
                        "certherd server: cannot open a console session (no randomness)"
                    );
                    return Err((ErrorCode::Internal, INTERNAL.to_owned()));
                };
                admin::audit(&mut node, &call, &caller, &Ok(()));
                let mut r = ok(&console::info(caller.name(), Some(role), Some(&session)));
                if let Ok(v) = hyper::header::HeaderValue::from_str(&console::set_cookie(Some(&id)))
                {
                    r.headers_mut().insert(hyper::header::SET_COOKIE, v);
                }
                Ok(r)
            })
            .await
        }
        (Method::GET, api::SESSION) => match c.session {
            Some(Ok(s)) => Ok(ok(&console::info(&s.name, Some(s.role), Some(&s)))),
            Some(Err(r)) => {
                let mut resp = refuse(r.answer().0, r.answer().1);
                if let Ok(v) = hyper::header::HeaderValue::from_str(&console::set_cookie(None)) {
                    resp.headers_mut().insert(hyper::header::SET_COOKIE, v);
                }
                Ok(resp)
            }
            None => {
                let s = shared.clone();
                blocking(&open, move || {
                    let node = cached()?;
                    // No credential counts as a failure too: strangers are rate limited
                    // whatever they send (a stale session cookie is answered above).
                    let caller = admin::authenticate(&node, c.peer.as_deref(), c.bearer.as_deref())
                        .map_err(|(_, r)| s.auth_refused(c.source, r))?;
                    Ok(ok(&console::info(caller.name(), caller.role(), None)))
                })
                .await
            }
        },
        (Method::POST, api::LOGOUT) => {
            let Some(id) = c.cookie else {
                return Err(console::Refusal::NoSession.answer());
            };
            let now = shared.clock.now();
            let csrf = c
                .session
                .as_ref()
                .and_then(|s| s.as_ref().ok())
                .map(|s| s.csrf.clone());
            // The cookie's session was checked against the request's CSRF token already.
            let closed = match c.session {
                Some(Ok(_)) => shared
                    .sessions
                    .lock()
                    .map_err(|_| console::Refusal::NoSession)
                    .and_then(|mut t| t.close(&id, csrf.as_deref(), now)),
                Some(Err(r)) => Err(r),
                None => Err(console::Refusal::NoSession),
            };
            closed.map_err(console::Refusal::answer)?;
            let mut r = ok(&api::LoggedOut { logged_out: true });
            if let Ok(v) = hyper::header::HeaderValue::from_str(&console::set_cookie(None)) {
                r.headers_mut().insert(hyper::header::SET_COOKIE, v);
            }
            Ok(r)
        }
        (Method::GET, api::TIMELINE) => {
            let (bearer, counted) = match c.session {
                Some(Ok(s)) => (Some(s.token), false),
                Some(Err(r)) => return Err(r.answer()),
                None => (c.bearer.clone(), true),
            };
            let s = shared.clone();
            blocking(&open, move || {
                let node = cached()?;
                admin::authenticate(&node, c.peer.as_deref(), bearer.as_deref()).map_err(
                    |(_, r)| {
                        if counted {
                            s.auth_refused(c.source, r)
                        } else {
                            r
                        }
                    },
                )?;
                let now = node.now();
                let hostname = node.hostname().map_err(|e| refusal(&e))?;
                let rows = certherd_authority::report::rows(&node, &hostname, now)
                    .map_err(|e| refusal(&e))?;
                let svg =
                    certherd_authority::report::timeline(&certherd_authority::report::ReportData {
                        title: String::new(),
                        generated_at: now,
                        rows,
                        attention: Vec::new(),
                        alarms: Vec::new(),
                        forecast: Vec::new(),
                        headline: None,
                    });
                let mut r = Response::new(Full::new(Bytes::from(svg)));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("image/svg+xml"),
                );
                Ok(r)
            })
            .await
        }
        (m, p) => Err((
            ErrorCode::NotFound,
            format!(
                "no such endpoint: {} {}",
                refusals::echo(m.as_str()),
                refusals::echo(p)
            ),
        )),
    }
}

/// The current CRL served as `file` (`ca.crl`: the signing CA's; `ALIAS.crl`: that live
/// CA's) as `application/pkix-crl`, published first when it has none or it is due.
fn crl_response(file: &str) -> Result<Response<Full<Bytes>>, Refused> {
    let mut node = cached()?;
    let der = node
        .revocations_mut()
        .crl_file(file)
        .map_err(|e| {
            tracing::error!("certherd server: CRL: {e}");
            refusal(&e)
        })?
        .ok_or_else(|| {
            (
                ErrorCode::NotFound,
                format!("no CA of this server publishes {}{file}", proto::CRL_DIR),
            )
        })?;
    let mut r = Response::new(Full::new(Bytes::from(der)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/pkix-crl"),
    );
    Ok(r)
}

/// A method other than GET or HEAD on a CRL's path: 405 with `Allow`.
fn crl_method_not_allowed(m: &Method, path: &str) -> Response<Full<Bytes>> {
    let mut r = refuse(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} {} is not served; allowed: GET, HEAD",
            refusals::echo(m.as_str()),
            refusals::echo(path)
        ),
    );
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static("GET, HEAD"),
    );
    r
}

/// The token of an `Authorization: Bearer TOKEN` header; the scheme's case does not
/// matter (RFC 9110 11.1), nor do extra spaces before the token.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The plain-HTTP CRL listener (`--crl-listen`): `GET /crl/FILE.crl` and nothing else,
/// a request at a time per connection, each connection closed after its answer or 10s.
async fn serve_crl(listener: tokio::net::TcpListener, open: Arc<Pool>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let open = open.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let open = open.clone();
                async move {
                    let path = req.uri().path().to_owned();
                    let answer = match (req.method(), proto::crl_file(&path)) {
                        (&Method::GET | &Method::HEAD, Some(file)) => {
                            let file = file.to_owned();
                            blocking(&open, move || crl_response(&file))
                                .await
                                .unwrap_or_else(|(code, message)| refuse(code, message))
                        }
                        (m, Some(_)) => crl_method_not_allowed(m, &path),
                        (m, None) => refuse(
                            ErrorCode::NotFound,
                            format!(
                                "only GET {}FILE.crl is served here, not {} {}",
                                proto::CRL_DIR,
                                refusals::echo(m.as_str()),
                                refusals::echo(req.uri().path())
                            ),
                        ),
                    };
                    Ok::<_, Infallible>(answer)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        });
    }
}

/// `POST /v1/join`. A source over its rate of refused joins is answered 429 before
/// anything is parsed or read; a refusal the server decides (a malformed request, an
/// unknown, spent or expired token) is counted per source and written aggregated; a
/// refusal `host_join` decides (a valid token, a bad request) is written by it.
async fn join(
    shared: Arc<Shared>,
    source: std::net::IpAddr,
    peer: Option<Vec<u8>>,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, Refused> {
    if let Some(r) = shared.fleet_gate(source) {
        return Ok(r);
    }
    let parsed = body_of::<proto::JoinRequest>(body);
    let open = shared.open.clone();
    let s = shared.clone();
    blocking(&open, move || {
        let checked = (|| {
            let v = parsed?;
            let csr = der_of(&v.csr, "csr")?;
            let pool = der_of(&v.pool_certificate, "pool_certificate")?;
            // Possession: the pool-internal certificate registered must be the one the
            // host authenticated the TLS session with.
            if peer.as_deref() != Some(pool.as_slice()) {
                return Err((ErrorCode::InvalidRequest, "the pool-internal certificate must be the client certificate of this TLS session".to_owned()));
            }
            Ok((v.token, csr, pool, v.verification))
        })();
        let (token, csr, pool, verification) =
            checked.inspect_err(|(_, m)| s.refused(source, m))?;
        let mut node = cached()?;
        // A token that could not be redeemed is refused here, read-only, and counted
        // with the other refusals from this source.
        if let Err(e) = node.fleet().enrollment(&token) {
            let (code, message) = fleet_refusal(&e);
            if client_error(code) {
                s.refused(source, &message);
            } else {
                tracing::error!(source = %source, "certherd server: join failed: {e}");
            }
            return Err((code, message));
        }
        let (host, grant) = node.fleet_mut().host_join(&token, &csr, &pool, verification).map_err(|e| {
            tracing::warn!(source = %source, "certherd server: join refused from {source}: {e}");
            let (code, message) = fleet_refusal(&e);
            if client_error(code) {
                if let Ok(mut r) = s.refusals.lock() {
                    r.noted(source, s.clock.now());
                }
            }
            (code, message)
        })?;
        tracing::info!(host = %host.name, source = %source, "certherd server: host {} joined", host.name);
        let servers = advertised(&node);
        Ok(ok(&grant_body(&host, &grant, servers)))
    })
    .await
}

/// A connection's stream that tells its [`conns::Conn`] when bytes arrive: the first
/// byte of a kept-alive connection's next request ends its idle wait, and the request's
/// headers get `header_timeout` from there, not what was left of `idle_timeout`. It also
/// keeps request heads to CRLF line endings (see [`HeadLines`]).
struct Stirred<S> {
    inner: S,
    conn: Arc<conns::Conn>,
    head: HeadLines,
}

impl<S> Stirred<S> {
    fn new(inner: S, conn: Arc<conns::Conn>) -> Self {
        Self {
            inner,
            conn,
            head: HeadLines::default(),
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stirred<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            if self.conn.stirred() {
                self.head.begin();
            }
            self.head.scan(&mut buf.filled_mut()[before..]);
        }
        polled
    }
}

/// Keeps the line endings of a request head to CRLF (RFC 9112 2.2): a bare LF in a head is
/// made a NUL byte, which the HTTP parser refuses with 400, so no request is read with
/// line endings a proxy in front could frame otherwise (request smuggling). Only the head
/// is looked at: from the start of a request to the blank line that ends its head; the
/// body, whatever it holds, is passed on untouched. A request pipelined behind a body is
/// passed on unchecked (never altered).
#[derive(Debug)]
struct HeadLines {
    /// Inside a request head.
    in_head: bool,
    /// The previous byte of the head.
    prev: u8,
    /// How much of CR LF CR LF was just seen.
    end: u8,
}

impl Default for HeadLines {
    fn default() -> Self {
        Self {
            in_head: true,
            prev: 0,
            end: 0,
        }
    }
}

impl HeadLines {
    /// A new request's head begins (a kept-alive connection stirred from idle).
    fn begin(&mut self) {
        *self = Self::default();
    }

    /// Checks (and where needed alters) the bytes just read.
    fn scan(&mut self, bytes: &mut [u8]) {
        for b in bytes.iter_mut() {
            if !self.in_head {
                return;
            }
            if *b == b'\n' && self.prev != b'\r' {
                *b = 0;
            }
            self.end = match (self.end, *b) {
                (0 | 2, b'\r') => self.end + 1,
                (1 | 3, b'\n') => self.end + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.end == 4 {
                self.in_head = false;
            }
            self.prev = *b;
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Stirred<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Host certificate renewals served since the server started, and refusals of them.
static RENEWALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RENEWAL_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn metrics(node: &Node<HomeStore>) -> Result<String, certherd_authority::Error> {
    use certherd_store::Store;
    use std::sync::atomic::Ordering;
    let hostname = node.hostname()?;
    let entries = node.store().entries(None)?;
    let alarms = node.store().alarms()?;
    // A host's certificates are labelled with the host they live on.
    let node_of = |e: &certherd_core::EntryMeta| -> String {
        let store = e.entry.store.as_str();
        if store == certherd_authority::HOSTS_STORE || store == certherd_authority::POOL_STORE {
            e.entry.alias.to_string()
        } else {
            hostname.clone()
        }
    };
    let labelled: Vec<(String, &certherd_core::EntryMeta)> =
        entries.iter().map(|e| (node_of(e), e)).collect();
    Ok(certherd_core::render_metrics(
        labelled.iter().map(|(n, e)| (n.as_str(), *e)),
        &alarms,
        certherd_core::Counters {
            renewals: RENEWALS.load(Ordering::Relaxed),
            renewal_failures: RENEWAL_FAILURES.load(Ordering::Relaxed),
        },
        node.now(),
    ))
}

/// The machine-ssl certificate and key the server presents, swapped in place when the
/// entry changes (a renewal, a CA rotation) so the server never needs a restart for it.
#[derive(Debug)]
struct Identity {
    current: std::sync::RwLock<(String, Arc<rustls::sign::CertifiedKey>)>,
}

impl rustls::server::ResolvesServerCert for Identity {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.current.read().ok().map(|c| c.1.clone())
    }
}

/// The server's machine-ssl entry `r` as (its SHA-256, a certified key for rustls).
fn machine_identity(
    node: &Node<HomeStore>,
    r: &certherd_core::EntryRef,
) -> Result<(String, Arc<rustls::sign::CertifiedKey>), Error> {
    use certherd_store::Store;
    let e = node
        .store()
        .entry(r)
        .map_err(|e| Error::Setup(e.to_string()))?
        .ok_or_else(|| {
            Error::Setup(format!(
                "this home has no {r} certificate; run `certherd init` first"
            ))
        })?;
    let key = e
        .key
        .ok_or_else(|| Error::Setup(format!("{r} has no private key")))?;
    let mut chain = vec![pki_types::CertificateDer::from(e.cert)];
    chain.extend(e.chain.into_iter().map(pki_types::CertificateDer::from));
    let key = pki_types::PrivateKeyDer::try_from(key.expose().to_vec())
        .map_err(|e| Error::Setup(e.to_string()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::Setup(format!("machine-ssl key unusable: {e}")))?;
    Ok((
        e.meta.sha256,
        Arc::new(rustls::sign::CertifiedKey::new(chain, signing)),
    ))
}

/// The TLS configuration: the node's machine-ssl certificate (reloaded when it changes),
/// client certificates requested (hosts present their pool-internal certificate) but not
/// required.
fn tls_config(
    node: &Node<HomeStore>,
    r: &certherd_core::EntryRef,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Identity>), Error> {
    let identity = Arc::new(Identity {
        current: std::sync::RwLock::new(machine_identity(node, r)?),
    });
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_client_cert_verifier(Arc::new(client_auth::AnyClientCertificate::new(&provider)))
        .with_cert_resolver(identity.clone());
    Ok((Arc::new(config), identity))
}

/// File descriptors kept back from the connection cap: the database (its -wal and -shm)
/// on each database thread (at most as many as blocking threads), the listener, standard
/// streams.
const FD_RESERVE: u64 = 4 * BLOCKING_THREADS as u64 + 64;

/// Blocking threads (the database threads are as many as `[database] max_connections`).
const BLOCKING_THREADS: usize = 32;

/// Raises the soft open-file limit to the hard one; the soft limit now in force (`None`:
/// unlimited or unknown).
fn raise_open_files() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let l = getrlimit(Resource::Nofile);
    // An unlimited hard limit cannot be the soft one (the kernel caps open files at
    // fs.nr_open): aim at the kernel's default cap then.
    let target = l.maximum.unwrap_or(1 << 20);
    match l.current {
        Some(current) if current < target => {
            let raised = Rlimit {
                current: Some(target),
                maximum: l.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => Some(target),
                Err(e) => {
                    tracing::warn!(
                        "certherd server: cannot raise the open-file limit from {current} to {target}: {e}"
                    );
                    Some(current)
                }
            }
        }
        other => other,
    }
}

/// The connection cap that fits in the open-file limit.
fn fitted_cap(wanted: u32, open_files: Option<u64>) -> usize {
    let wanted = wanted as usize;
    match open_files {
        Some(n) if n.saturating_sub(FD_RESERVE) < wanted as u64 => {
            let fitted = usize::try_from(n.saturating_sub(FD_RESERVE).max(1)).unwrap_or(1);
            tracing::warn!(
                "certherd server: serving at most {fitted} connections, not {wanted}: the open-file limit is {n}"
            );
            fitted
        }
        _ => wanted,
    }
}

/// Connections the kernel holds for `accept` (capped by `net.core.somaxconn`). The
/// default of 128 overflows under a burst of connections from one source, and the SYNs of
/// everyone else are then dropped too (their connect waits a second or more to retry).
const LISTEN_BACKLOG: u32 = 4096;

/// The listening socket (SO_REUSEADDR, as std sets it), with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Resolves at SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// Serves until SIGTERM or SIGINT, then writes the refusals still counted and returns.
/// `ready` is called with the bound address.
pub fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    let node = (config.open)().map_err(Error::Open)?;
    // The servers advertised to agents must each be a URL an agent can use.
    for url in &node.settings().fleet.servers {
        proto::ServerUrl::parse(url)?;
    }
    let (tls, identity) = tls_config(&node, &config.identity)?;
    let database_backend = node.store().backend();
    let location = certherd_store::Store::location(node.store());
    drop(node);
    // One connection of the bound is the lane's (the lease and health), the rest serve.
    let pool = Pool::start(
        config.open.clone(),
        config.settings_stamp.clone(),
        config.database_connections.saturating_sub(1).max(1),
        DATABASE_WAIT,
    )
    .map_err(|e| Error::Setup(format!("cannot start the database threads: {e}")))?;
    let lane = Pool::start(
        config.open.clone(),
        config.settings_stamp.clone(),
        1,
        DATABASE_WAIT,
    )
    .map_err(|e| Error::Setup(format!("cannot start the database threads: {e}")))?;
    tracing::info!(
        "certherd server: database {location} ({database_backend}), at most {} connections (one of them for the lifecycle lease and health)",
        pool.max() + lane.max()
    );
    let limits = config.limits;
    let cap = fitted_cap(limits.max_connections, raise_open_files());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .map_err(|e| Error::Setup(e.to_string()))?;
    let leadership = config.lifecycle.is_some().then(|| {
        Arc::new(std::sync::Mutex::new(lifecycle::Leadership::new(
            config.holder.clone(),
            limits.lifecycle_lease,
        )))
    });
    let shared = Arc::new(Shared {
        leadership: leadership.clone(),
        open: pool.clone(),
        lane: lane.clone(),
        database_backend,
        audit: config.audit.clone(),
        clock: config.clock.clone(),
        refusals: std::sync::Mutex::new(refusals::Refusals::new(
            limits.refusal_interval,
            limits.refusals_per_interval,
        )),
        // Its rate is never asked: failed authentications are answered 429 by
        // `auth_failures`.
        denied: std::sync::Mutex::new(refusals::Refusals::new(limits.refusal_interval, u32::MAX)),
        body_timeout: limits.body_timeout,
        refusal_interval: limits.refusal_interval,
        sessions: std::sync::Mutex::new(console::Sessions::default()),
        auth_failures: std::sync::Mutex::new(auth_limit::AuthFailures::new()),
        health: HealthCache::default(),
        home: config.home.clone(),
    });
    // Never more than the cap (which the open-file limit may have lowered).
    let per_address = usize::try_from(limits.max_connections_per_address)
        .unwrap_or(cap)
        .min(cap);
    let registry = Arc::new(conns::Registry::new(conns::Table::new(
        cap,
        per_address,
        conns::Timeouts {
            handshake: limits.handshake_timeout,
            headers: limits.header_timeout,
            body: limits.body_timeout,
            idle: limits.idle_timeout,
        },
    )));
    let served = rt.block_on(async {
        let listener = listen(config.listen).map_err(|e| Error::Listen {
            address: config.listen.to_string(),
            source: e,
        })?;
        let bound = listener.local_addr().map_err(|e| Error::Listen {
            address: config.listen.to_string(),
            source: e,
        })?;
        if let Some(addr) = config.crl_listen {
            let crl = listen(addr).map_err(|e| Error::Listen {
                address: addr.to_string(),
                source: e,
            })?;
            let at = crl.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
            tracing::info!(
                "certherd server: serving the CRLs on http://{at}{}ALIAS.crl (the signing CA's also at {})",
                proto::CRL_DIR,
                proto::CRL
            );
            tokio::spawn(serve_crl(crl, pool.clone()));
        }
        ready(bound);
        // Pick up a renewed machine-ssl certificate within a second; one a CRL of the
        // home lists (`cert revoke`) is replaced first, with a new key.
        let open = pool.clone();
        let served_entry = config.identity.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            let mut said: Option<String> = None;
            loop {
                interval.tick().await;
                let (open, identity, entry) = (open.clone(), identity.clone(), served_entry.clone());
                let replaced = open.run(move || {
                    let Ok(mut node) = cached() else { return Ok(None) };
                    let replaced = match node.renew_if_revoked(&entry) {
                        Ok(Some(issued)) => {
                            tracing::warn!(
                                %entry,
                                serial = %issued.meta.serial,
                                "certherd server: {entry} is revoked: replaced it with a new key and certificate (serial {})",
                                issued.meta.serial
                            );
                            None
                        }
                        Ok(None) => None,
                        // Says whether the check failed (nothing known to be revoked) or
                        // the replacement of a revoked certificate did.
                        Err(e) => Some(format!("certherd server: {e}")),
                    };
                    let Ok(held) = identity.current.read().map(|c| c.0.clone()) else {
                        return Ok(replaced);
                    };
                    if let Ok((sha, key)) = machine_identity(&node, &entry) {
                        if sha != held {
                            if let Ok(mut c) = identity.current.write() {
                                *c = (sha, key);
                                tracing::info!("certherd server: now presenting the renewed machine-ssl certificate");
                            }
                        }
                    }
                    Ok(replaced)
                })
                .await
                .ok()
                .flatten();
                // A failure is said once, not every second.
                if let Some(e) = &replaced {
                    if said.as_ref() != Some(e) {
                        tracing::error!("{e}");
                    }
                }
                said = replaced;
            }
        });
        if let (Some((every, via)), Some(leadership)) = (config.lifecycle, leadership.clone()) {
            // The lease: taken or renewed every third of its length, on its own task and
            // database thread so that neither a long tick nor a burst of requests lets it
            // run out.
            let open = lane.clone();
            let held = leadership.clone();
            let renew_every = held.lock().map(|l| l.renew_every()).unwrap_or(Duration::from_secs(5));
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(renew_every);
                loop {
                    interval.tick().await;
                    let (open, held) = (open.clone(), held.clone());
                    let waited = open.run(move || {
                        let Ok(mut l) = held.lock() else { return Ok(()) };
                        let (holder, ttl) = (l.holder().to_owned(), l.lease_length());
                        match cached().map_err(|(_, m)| m).and_then(|mut node| {
                            let lease = node.lifecycle_lease_take(&holder, ttl).map_err(|e| e.to_string())?;
                            Ok((lease, node.now()))
                        }) {
                            Ok((lease, now)) => {
                                if let Some(e) = l.observe(&lease, now) {
                                    // Losing the lease to another server is the one
                                    // change an admin may want to hear of.
                                    if matches!(e, lifecycle::LeaseEvent::Lost { .. }) {
                                        tracing::warn!(holder = %lease.holder, "certherd server: {e}");
                                    } else {
                                        tracing::info!(holder = %lease.holder, "certherd server: {e}");
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("certherd server: cannot renew the lifecycle lease (retrying in {}s): {e}", renew_every.as_secs()),
                        }
                        Ok(())
                    })
                    .await;
                    if let Err((_, e)) = waited {
                        tracing::warn!("certherd server: cannot renew the lifecycle lease (retrying in {}s): {e}", renew_every.as_secs());
                    }
                }
            });
            let open = pool.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(every);
                loop {
                    interval.tick().await;
                    let (open, via, leadership) = (open.clone(), via.clone(), leadership.clone());
                    // A node opened afresh: certherd.toml and the CA read anew.
                    let waited = open.run(move || {
                        match pool::node(true) {
                        Ok(mut node) => {
                            // Only the lease holder runs the loop.
                            let leads = leadership.lock().is_ok_and(|l| l.leads(node.now()));
                            if leads {
                                lifecycle::tick(&mut node, via.as_ref(), &mut log_lifecycle);
                            }
                        }
                        Err((_, e)) => tracing::error!("certherd server: lifecycle: cannot open the node: {e}"),
                        }
                        Ok(())
                    })
                    .await;
                    if let Err((_, e)) = waited {
                        tracing::warn!("certherd server: lifecycle: skipped this tick: {e}");
                    }
                }
            });
        }
        // Close connections whose phase ran out of time.
        let reaper = registry.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(250));
            loop {
                interval.tick().await;
                reaper.reap();
            }
        });
        // Write the refusals of closed intervals.
        let flusher = shared.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            loop {
                interval.tick().await;
                let now = flusher.clock.now();
                for kind in [Kind::Join, Kind::Denied] {
                    let rows = flusher
                        .counts(kind)
                        .lock()
                        .map(|mut r| r.due(now))
                        .unwrap_or_default();
                    if !rows.is_empty() {
                        let s = flusher.clone();
                        let _ = tokio::task::spawn_blocking(move || s.write(kind, rows)).await;
                    }
                }
            }
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        // Slow headers on a kept-alive connection are bounded by hyper as well.
        let header_backstop = limits.header_timeout.max(limits.idle_timeout);
        let mut backoff = conns::Backoff::new();
        // When each limit was last reported (at most once a minute).
        let mut last_full = None;
        let mut last_address_full = None;
        let due = |last: &mut Option<std::time::Instant>| {
            let due = last.is_none_or(|t: std::time::Instant| t.elapsed() >= Duration::from_secs(60));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        let stop = stop_signal();
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut stop => break,
            };
            let (tcp, source) = match accepted {
                Ok(a) => {
                    backoff.succeeded();
                    a
                }
                Err(e) => {
                    let pause = backoff.failed();
                    if pause == conns::Backoff::MIN || pause == conns::Backoff::MAX {
                        tracing::error!("certherd server: accept failed: {e}; pausing {}ms", pause.as_millis());
                    }
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (admitted, full) = registry.admit(source.ip());
            match full {
                Some(conns::Limit::Total) if due(&mut last_full) => tracing::warn!(
                    "certherd server: {cap} connections open (server.max_connections): closing the longest idle of the address holding the most to make room, or refusing when all are busy"
                ),
                Some(conns::Limit::Source) if due(&mut last_address_full) => tracing::warn!(
                    source = %conns::Source::of(source.ip()),
                    "certherd server: {} holds {per_address} connections (server.max_connections_per_address): closing its own longest idle to make room, or refusing when all of its are busy",
                    conns::Source::of(source.ip())
                ),
                _ => {}
            }
            // Every connection that could make room busy with a request: this one is
            // closed at once.
            let Some(conn) = admitted else {
                drop(tcp);
                continue;
            };
            let conn = Arc::new(conn);
            let acceptor = acceptor.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let served = async {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    conn.set(conns::Phase::Headers);
                    let peer = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    let c = conn.clone();
                    let service = hyper::service::service_fn(move |req| {
                        handle(shared.clone(), c.clone(), source, peer.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(header_backstop)
                        .serve_connection(
                            hyper_util::rt::TokioIo::new(Stirred::new(stream, conn.clone())),
                            service,
                        )
                        .await;
                };
                // Dropping the connection's future closes it.
                tokio::select! {
                    () = served => {}
                    () = conn.closed() => {}
                }
            });
        }
        Ok::<(), Error>(())
    });
    // Requests still under way finish (up to a second), then every refusal still counted
    // goes to the audit log before the process ends.
    rt.shutdown_timeout(Duration::from_secs(1));
    for kind in [Kind::Join, Kind::Denied] {
        let rows = shared
            .counts(kind)
            .lock()
            .map(|mut r| r.drain())
            .unwrap_or_default();
        shared.write(kind, rows);
        let unwritten = shared
            .counts(kind)
            .lock()
            .map(|mut r| r.drain())
            .unwrap_or_default();
        for r in unwritten {
            tracing::error!(
                source = %r.source,
                "certherd server: NOT in the audit log: {}: {}",
                kind.what(),
                r.detail()
            );
        }
    }
    // A clean stop hands the loop over at once instead of after the lease runs out.
    if let Some(l) = &leadership {
        if let Ok(l) = l.lock() {
            if l.leads(config.clock.now()) {
                match (config.open)().and_then(|mut n| {
                    n.lifecycle_lease_release(l.holder()).map_err(Seam::from)
                }) {
                    Ok(()) => tracing::info!("certherd server: gave up the lifecycle lease"),
                    Err(e) => tracing::warn!("certherd server: cannot give up the lifecycle lease (it runs out by itself): {e}"),
                }
            }
        }
    }
    tracing::info!("certherd server: stopped");
    served
}

/// One line of the log for something the lifecycle did: failures are warnings (the next
/// tick tries again), the rest information, with the alarm's kind and subject, the CA, or
/// the webhook as fields to filter on.
fn log_lifecycle(e: lifecycle::Event) {
    use certherd_core::AlarmChange as A;
    use lifecycle::Event as E;
    match &e {
        E::Alarm(A::Raised(x) | A::Cleared(x)) => tracing::info!(
            kind = %x.kind,
            subject = %x.subject,
            "certherd server: {e}"
        ),
        E::CrlPublished(p) => {
            tracing::info!(ca = %p.ca, number = %p.number, "certherd server: {e}")
        }
        E::DeliveryFailed { url, attempt, .. } => {
            tracing::warn!(url = %url, attempt, "certherd server: {e}")
        }
        E::RotationFailed(_) | E::EvaluationFailed(_) | E::CrlFailed(_) => {
            tracing::warn!("certherd server: {e}")
        }
        _ => tracing::info!("certherd server: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scanned(chunks: &[&[u8]]) -> Vec<u8> {
        let mut h = HeadLines::default();
        let mut out = Vec::new();
        for c in chunks {
            let mut c = c.to_vec();
            h.scan(&mut c);
            out.extend(c);
        }
        out
    }

    /// A bare LF in a request head becomes a byte the parser refuses; CRLF heads, and
    /// whatever follows the head (a JSON body with bare LFs), pass untouched, also when a
    /// CR LF pair is split across reads.
    #[test]
    fn bare_line_feeds_are_refused_in_heads_only() {
        let good = b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n{\n\"a\":1\n}";
        assert_eq!(scanned(&[good]), good.to_vec());
        assert_eq!(
            scanned(&[&good[..18], &good[18..20], &good[20..]]),
            good.to_vec()
        );
        let bad = b"GET / HTTP/1.1\nHost: a\r\n\r\n";
        let out = scanned(&[bad]);
        assert_eq!(out[14], 0);
        assert_eq!(out.iter().filter(|b| **b == 0).count(), 1);
        // After the head ends, nothing is altered until a new request begins.
        let mut h = HeadLines::default();
        let mut head = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        h.scan(&mut head);
        let mut body = b"a\nb".to_vec();
        h.scan(&mut body);
        assert_eq!(body, b"a\nb");
        h.begin();
        let mut next = b"GET / HTTP/1.1\nX".to_vec();
        h.scan(&mut next);
        assert_eq!(next[14], 0);
    }

    proptest! {
        /// Arbitrary bytes as any request body: refused 400 or read, never a panic.
        #[test]
        fn arbitrary_request_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            for r in [
                body_of::<proto::EnrollmentRequest>(&body).map(|_| ()),
                body_of::<proto::JoinRequest>(&body).map(|_| ()),
                body_of::<proto::PollRequest>(&body).map(|_| ()),
                body_of::<proto::PoolRequest>(&body).map(|_| ()),
            ] {
                if let Err((code, _)) = r {
                    prop_assert_eq!(code, ErrorCode::InvalidRequest);
                }
            }
            let text = String::from_utf8_lossy(&body);
            let _ = der_of(&text, "csr");
            let _ = der_of(&text, "pool_certificate");
        }
    }

    /// The revocation check of a client certificate failing because the database is gone
    /// is 503 (an agent fails over), not 500; another failure stays 500.
    #[test]
    fn a_check_that_lost_the_database_is_unavailable_not_internal() {
        let e = certherd_authority::Error::Store(certherd_store::Error::Corrupt("no row".into()));
        let (code, message) = check_failed("the revocation check", &e, true);
        assert_eq!((code, code.status()), (ErrorCode::Unavailable, 503));
        assert!(!message.contains("no row"), "{message}");
        let (code, message) = check_failed("the revocation check", &e, false);
        assert_eq!((code, code.status()), (ErrorCode::Internal, 500));
        assert_eq!(message, INTERNAL);
    }

    /// A misspelled field is refused with the code, not taken as its default.
    #[test]
    fn an_unknown_request_field_is_refused_400() {
        let (code, message) =
            body_of::<proto::PollRequest>(br#"{"verfication": false}"#).unwrap_err();
        assert_eq!((code, code.status()), (ErrorCode::InvalidRequest, 400));
        assert!(message.contains("verfication"), "{message}");
        let r = refuse(code, message);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    /// The bearer scheme is case-insensitive (RFC 9110 11.1); other schemes are not it.
    #[test]
    fn the_bearer_scheme_is_read_whatever_its_case() {
        for h in ["Bearer cha1_x", "bearer cha1_x", "BEARER  cha1_x "] {
            assert_eq!(bearer_token(h), Some("cha1_x"), "{h}");
        }
        for h in ["Basic cha1_x", "Bearer", "Bearer ", "Bearercha1_x"] {
            assert_eq!(bearer_token(h), None, "{h}");
        }
    }

    /// A body is a JSON object: an array of the fields in order (which serde reads as the
    /// struct) is refused 400 like any other shape.
    #[test]
    fn a_body_that_is_not_a_json_object_is_refused_400() {
        for body in [&br#"["tok"]"#[..], b" [\"tok\"]", b"\"tok\"", b"7"] {
            let (code, message) = body_of::<proto::EnrollmentRequest>(body).unwrap_err();
            assert_eq!(code, ErrorCode::InvalidRequest);
            assert!(message.contains("JSON object"), "{message}");
        }
        assert!(body_of::<proto::EnrollmentRequest>(br#" {"token":"t"}"#).is_ok());
    }

    /// A burst of connections from one source, none accepted yet, fits in the kernel's
    /// queue: nobody's SYN is dropped (with std's backlog of 128, the 130th connect waits
    /// a second to retry and times out here).
    #[test]
    fn the_listen_queue_holds_a_burst_of_connections() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // The kernel caps the backlog at net.core.somaxconn (4096 by default since 5.4).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let burst = somaxconn.min(600);
        let held: Vec<std::net::TcpStream> = (0..burst)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} not queued: {e}"))
            })
            .collect();
        assert_eq!(held.len(), burst);
    }
}
