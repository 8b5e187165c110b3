//! The certherd management server: the fleet API over HTTPS (rustls, hyper, tokio), and
//! the lifecycle loop that evaluates the inventory on a timer.
//!
//! Every rule lives in `certherd-ca`; this crate moves bytes. Each request opens the
//! node's store on a blocking thread (SQLite in WAL mode serves concurrent readers and
//! one writer), so the async side never holds the database.
//!
//! API (JSON bodies, certificates as PEM):
//! - `POST /v1/enrollment` `{token}`: the host name and IP addresses a token was issued
//!   for, without spending it.
//! - `POST /v1/join` `{token, csr, pool_certificate}`: a host joins with its one-time
//!   token; answers `{host, host_chain, trusted_roots, crls}`.
//! - `POST /v1/poll` `{renew_csr?, verification, trusted_roots}`: a joined host, authenticated by the pool-internal
//!   certificate it presents over mutual TLS; answers the same shape.
//! - `POST /v1/pool` `{pool_certificate}`: a joined host replaces its pinned
//!   pool-internal certificate, authenticated by the current one.
//! - `GET /metrics`: Prometheus text; with `[metrics] require_token`, an admin credential.
//! - `GET /v1/hosts`, `GET /v1/alarms`: admin calls, `Authorization: Bearer` with a token
//!   from `certherd admin credential`.
//! - `GET /v1/health`: `{"status":"ok"}`.
#![forbid(unsafe_code)]

mod client_auth;
mod error;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use certherd_ca::Node;
use certherd_store::SqliteStore;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

pub use error::Error;

/// Opens the node for one request (on a blocking thread).
pub type OpenNode = Arc<dyn Fn() -> Result<Node<SqliteStore>, String> + Send + Sync>;

/// The lifecycle loop's work, run on a blocking thread at each tick.
pub type Tick = Arc<dyn Fn() + Send + Sync>;

/// How the server runs.
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Opens the node.
    pub open: OpenNode,
    /// The lifecycle evaluation, and how often.
    pub tick: Option<(Tick, Duration)>,
}

thread_local! {
    /// Each blocking thread keeps its node (its SQLite connection, the unsealed CA) between
    /// requests rather than opening the home every time. certherd.toml is read when a
    /// thread first opens the node: restart the server after editing it.
    static NODE: std::cell::RefCell<Option<Node<SqliteStore>>> = const { std::cell::RefCell::new(None) };
}

/// This thread's node, put back when dropped.
struct Cached(Option<Node<SqliteStore>>);

impl std::ops::Deref for Cached {
    type Target = Node<SqliteStore>;
    fn deref(&self) -> &Self::Target {
        // Set in `cached` and only taken in `drop`.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a Cached node is present until dropped"))
    }
}

impl std::ops::DerefMut for Cached {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("a Cached node is present until dropped"))
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        if let Some(node) = self.0.take() {
            NODE.with(|n| *n.borrow_mut() = Some(node));
        }
    }
}

fn cached(open: &OpenNode) -> Result<Cached, (StatusCode, String)> {
    let held = NODE.with(|n| n.borrow_mut().take());
    match held {
        Some(node) => Ok(Cached(Some(node))),
        None => open()
            .map(|n| Cached(Some(n)))
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

/// Largest request body accepted (a CSR and a certificate are a few kilobytes).
const MAX_BODY: usize = 256 * 1024;

fn pem(der: &[u8]) -> String {
    certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, der)
}

fn grant_json(host: &certherd_core::Host, g: &certherd_ca::Grant) -> Value {
    json!({
        "host": host.name,
        "renew": g.renew_ordered,
        "refresh_pool": g.refresh_pool_ordered,
        "host_chain": g.host_chain.as_ref().map(|c| c.iter().map(|d| pem(d)).collect::<Vec<_>>()),
        "trusted_roots": g.trusted_roots.iter().map(|d| pem(d)).collect::<Vec<_>>(),
        "crls": g.crls.iter().map(|d| certherd_x509::to_pem(certherd_x509::PemLabel::Crl, d)).collect::<Vec<_>>(),
    })
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Maps a refusal to a status and a message safe to show the caller; the cause goes to the
/// server's log.
fn refusal(e: &certherd_ca::Error) -> (StatusCode, String) {
    use certherd_ca::Error as E;
    let status = match e {
        E::Token(_) => StatusCode::FORBIDDEN,
        // Gone: the agent stops polling (a removed host), typed by status, not by text.
        E::UnknownPeer(_) => StatusCode::GONE,
        E::NotEnrolled { .. } => StatusCode::FORBIDDEN,
        E::X509(_) | E::Invalid(_) | E::InvalidHostname(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "internal error; see the server log".to_owned()
    } else {
        e.to_string()
    };
    (status, message)
}

fn field<'a>(v: &'a Value, name: &'static str) -> Result<&'a str, (StatusCode, String)> {
    v[name].as_str().ok_or((
        StatusCode::BAD_REQUEST,
        format!("missing field '{name}' (a string)"),
    ))
}

fn der_of(text: &str, what: &'static str) -> Result<Vec<u8>, (StatusCode, String)> {
    if what == "csr" {
        return certherd_x509::parse_signing_request(text.as_bytes())
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("{what}: {e}")));
    }
    certherd_x509::parse_certificates(text.as_bytes())
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("{what}: {e}")))?
        .into_iter()
        .next()
        .map(|c| c.to_vec())
        .ok_or((StatusCode::BAD_REQUEST, format!("{what}: no certificate")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, (StatusCode, String)> + Send + 'static,
) -> Result<T, (StatusCode, String)> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log".into(),
        ))
    })
}

async fn handle(
    open: OpenNode,
    peer: Option<Vec<u8>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("request body over {MAX_BODY} bytes")}),
            ))
        }
    };
    let path = parts.uri.path().to_owned();
    let bearer: Option<String> = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let result: Result<Response<Full<Bytes>>, (StatusCode, String)> = match (
        parts.method.clone(),
        path.as_str(),
    ) {
        (Method::GET, "/v1/health") => Ok(reply(StatusCode::OK, json!({"status": "ok"}))),
        (Method::GET, "/metrics") => {
            blocking(move || {
                let node = cached(&open)?;
                if node.metrics_require_token() {
                    admin(&node, bearer.as_deref())?;
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
        (Method::GET, "/v1/hosts") => {
            blocking(move || {
                let node = cached(&open)?;
                admin(&node, bearer.as_deref())?;
                let hosts = node.hosts().map_err(|e| refusal(&e))?;
                Ok(reply(
                    StatusCode::OK,
                    json!(hosts
                        .iter()
                        .map(|h| json!({
                            "name": h.name,
                            "ips": h.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "joined_at": h.joined_at.map(certherd_x509::rfc3339),
                            "last_seen": h.last_seen.map(certherd_x509::rfc3339),
                        }))
                        .collect::<Vec<_>>()),
                ))
            })
            .await
        }
        (Method::GET, "/v1/alarms") => {
            blocking(move || {
                let node = cached(&open)?;
                admin(&node, bearer.as_deref())?;
                let alarms = node.alarm_history().map_err(|e| refusal(&e))?;
                Ok(reply(
                    StatusCode::OK,
                    json!(alarms
                        .iter()
                        .filter(|a| a.is_open())
                        .map(|a| json!({"kind": a.kind.name(), "subject": a.subject, "raised_at": certherd_x509::rfc3339(a.raised_at)}))
                        .collect::<Vec<_>>()),
                ))
            })
            .await
        }
        (Method::POST, "/v1/enrollment") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            blocking(move || {
                let token = field(&v, "token")?.to_owned();
                let node = cached(&open)?;
                let host = node.enrollment(&token).map_err(|e| refusal(&e))?;
                Ok(reply(StatusCode::OK, json!({"host": host.name, "ips": host.ips.iter().map(ToString::to_string).collect::<Vec<_>>()})))
            })
            .await
        }
        (Method::POST, "/v1/join") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            blocking(move || {
                let token = field(&v, "token")?.to_owned();
                let csr = der_of(field(&v, "csr")?, "csr")?;
                let pool = der_of(field(&v, "pool_certificate")?, "pool_certificate")?;
                // Possession: the pool-internal certificate registered must be the one the
                // host authenticated the TLS session with.
                if peer.as_deref() != Some(pool.as_slice()) {
                    return Err((StatusCode::BAD_REQUEST, "the pool-internal certificate must be the client certificate of this TLS session".into()));
                }
                let mut node = cached(&open)?;
                let (host, grant) = node.host_join(&token, &csr, &pool, v["verification"].as_bool().unwrap_or(true)).map_err(|e| {
                    eprintln!("certherd server: join refused: {e}");
                    refusal(&e)
                })?;
                eprintln!("certherd server: host {} joined", host.name);
                Ok(reply(StatusCode::OK, grant_json(&host, &grant)))
            })
            .await
        }
        (Method::POST, "/v1/poll") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match peer.clone() {
                None => Err((
                    StatusCode::UNAUTHORIZED,
                    "a client certificate (the host's pool-internal certificate) is required"
                        .into(),
                )),
                Some(peer) => {
                    blocking(move || {
                        let csr = match v["renew_csr"].as_str() {
                            Some(t) => Some(der_of(t, "csr")?),
                            None => None,
                        };
                        let mut node = cached(&open)?;
                        let (host, grant) = node
                            .host_poll(
                                &peer,
                                csr.as_deref(),
                                v["verification"].as_bool().unwrap_or(true),
                                &v["trusted_roots"]
                                    .as_array()
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|r| r.as_str().map(str::to_owned))
                                            .collect::<Vec<_>>()
                                    })
                                    .unwrap_or_default(),
                            )
                            .map_err(|e| {
                                eprintln!("certherd server: poll refused: {e}");
                                {
                                if csr.is_some() {
                                    RENEWAL_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                refusal(&e)
                            }
                            })?;
                        if grant.host_chain.is_some() {
                            RENEWALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(reply(StatusCode::OK, grant_json(&host, &grant)))
                    })
                    .await
                }
            }
        }
        (Method::POST, "/v1/pool") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match peer.clone() {
                None => Err((StatusCode::UNAUTHORIZED, "a client certificate (the host's current pool-internal certificate) is required".into())),
                Some(peer) => {
                    blocking(move || {
                        let new = der_of(field(&v, "pool_certificate")?, "pool_certificate")?;
                        let mut node = cached(&open)?;
                        let host = node.host_repin(&peer, &new).map_err(|e| {
                            eprintln!("certherd server: pool refresh refused: {e}");
                            refusal(&e)
                        })?;
                        Ok(reply(StatusCode::OK, json!({"host": host.name})))
                    })
                    .await
                }
            }
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {} {path}", parts.method),
        )),
    };
    Ok(result.unwrap_or_else(|(status, message)| reply(status, json!({"error": message}))))
}

/// Admin calls need a bearer token from `certherd admin credential`.
fn admin(node: &Node<SqliteStore>, bearer: Option<&str>) -> Result<String, (StatusCode, String)> {
    let token = bearer.ok_or((
        StatusCode::UNAUTHORIZED,
        "an admin credential is required (Authorization: Bearer, from `certherd admin credential`)"
            .to_owned(),
    ))?;
    node.admin_for(token).map_err(|e| refusal(&e))?.ok_or((
        StatusCode::FORBIDDEN,
        "that admin credential is not valid".to_owned(),
    ))
}

/// Host certificate renewals served since the server started, and refusals of them.
static RENEWALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RENEWAL_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn metrics(node: &Node<SqliteStore>) -> Result<String, certherd_ca::Error> {
    use certherd_store::Store;
    use std::sync::atomic::Ordering;
    let hostname = node.hostname()?;
    let entries = node.store().entries(None)?;
    let alarms = node.alarm_history()?;
    // A host's certificates are labelled with the host they live on.
    let node_of = |e: &certherd_core::EntryMeta| -> String {
        let store = e.entry.store.as_str();
        if store == certherd_ca::HOSTS_STORE || store == certherd_ca::POOL_STORE {
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

/// The node's machine-ssl entry as (its SHA-256, a certified key for rustls).
fn machine_identity(
    node: &Node<SqliteStore>,
) -> Result<(String, Arc<rustls::sign::CertifiedKey>), Error> {
    use certherd_store::Store;
    let r: certherd_core::EntryRef = "machine-ssl/machine"
        .parse()
        .map_err(|e: certherd_core::Error| Error::Setup(e.to_string()))?;
    let e = node
        .store()
        .entry(&r)
        .map_err(|e| Error::Setup(e.to_string()))?
        .ok_or_else(|| {
            Error::Setup(
                "this home has no machine-ssl/machine certificate; run `certherd init` first"
                    .into(),
            )
        })?;
    let key = e
        .key
        .ok_or_else(|| Error::Setup("machine-ssl/machine has no private key".into()))?;
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
    node: &Node<SqliteStore>,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Identity>), Error> {
    let identity = Arc::new(Identity {
        current: std::sync::RwLock::new(machine_identity(node)?),
    });
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_client_cert_verifier(Arc::new(client_auth::AnyClientCertificate::new(&provider)))
        .with_cert_resolver(identity.clone());
    Ok((Arc::new(config), identity))
}

/// Serves until the process is stopped. `ready` is called with the bound address.
pub fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    let node = (config.open)().map_err(Error::Setup)?;
    let (tls, identity) = tls_config(&node)?;
    drop(node);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(e.to_string()))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Listen {
                address: config.listen.to_string(),
                source: e,
            })?;
        let bound = listener.local_addr().map_err(|e| Error::Listen {
            address: config.listen.to_string(),
            source: e,
        })?;
        ready(bound);
        // Pick up a renewed machine-ssl certificate within a second.
        let open = config.open.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            loop {
                interval.tick().await;
                let (open, identity) = (open.clone(), identity.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    let Ok(node) = cached(&open) else { return };
                    let Ok(held) = identity.current.read().map(|c| c.0.clone()) else { return };
                    if let Ok((sha, key)) = machine_identity(&node) {
                        if sha != held {
                            if let Ok(mut c) = identity.current.write() {
                                *c = (sha, key);
                                eprintln!("certherd server: now presenting the renewed machine-ssl certificate");
                            }
                        }
                    }
                })
                .await;
            }
        });
        if let Some((tick, every)) = config.tick {
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(every);
                loop {
                    interval.tick().await;
                    let t = tick.clone();
                    let _ = tokio::task::spawn_blocking(move || t()).await;
                }
            });
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let open = config.open.clone();
            tokio::spawn(async move {
                // A handshake that stalls must not hold a task forever.
                let Ok(Ok(stream)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let peer = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                let service =
                    hyper::service::service_fn(move |req| handle(open.clone(), peer.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
