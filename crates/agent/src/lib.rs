//! The certherd host agent: joins a management server with a one-time token, pinning the
//! server's root CA by fingerprint before it sends anything, then polls over mutual TLS
//! with its pool-internal identity: heartbeat, the pool's trusted roots and CRLs, and a
//! new host certificate when its own is due. Keys are made on the host and never leave it.
#![forbid(unsafe_code)]

mod backoff;
mod deploy;
pub(crate) mod http;
mod run;

pub use backoff::{Backoff, Jitter};
pub use deploy::{
    installed_qemu, listen, reload, reload_within, server_config, write_layouts, write_targets,
    CommandError, Kept, LayoutDeployed, LayoutOutcome, ReloadError, Served,
};
pub use http::post as post_json;
pub use run::{
    run, DeployError, Ended, Event, LayoutProblem, Removed, RoundError, RunConfig, StartError,
};

use std::sync::Arc;
use std::time::Duration;

use certherd_authority::Node;
use certherd_fleet::FleetExt;
use certherd_protocol as proto;
use certherd_store::Store;
use certherd_tls::http::Session;
use certherd_tls::{Endpoint, Identity, RecordingVerifier};
use certherd_x509::{CertificateDer, CertificateRevocationListDer, Purpose, VerifyInput};
use proto::ErrorCode;

pub use proto::ErrorCode as RefusalCode;

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL is not `https://HOST:PORT`.
    #[error("invalid server URL '{0}': expected https://HOST:PORT")]
    Url(String),
    /// The server's root CA is not the one the admin gave.
    #[error("the server's CA does not match --ca-fingerprint {expected} (it presented {presented}); nothing was sent")]
    FingerprintMismatch {
        /// What the admin gave.
        expected: String,
        /// The SHA-256 of each certificate the server presented.
        presented: String,
    },
    /// A server's certificate does not validate to the roots this host trusts (another
    /// CA than the pool's): it is refused, nothing is sent to it.
    #[error("refused: the server's certificate does not validate to the pool's CA ({reason}); nothing was sent to it")]
    ServerNotTrusted {
        /// The server's URL.
        server: String,
        /// Why it does not validate.
        reason: String,
    },
    /// A server presented a certificate that a CRL this host holds lists (its key may be
    /// in other hands): it is refused, nothing is sent to it, and the next server is tried.
    #[error("refused: the server's certificate (serial {serial}) is revoked{detail}; nothing was sent to it")]
    ServerRevoked {
        /// The server's URL.
        server: String,
        /// The serial of the certificate it presented, hex.
        serial: String,
        /// When and why, as the CRL says (empty when a CA certificate of its chain is
        /// the one revoked).
        detail: String,
    },
    /// The connection failed.
    #[error(transparent)]
    Tls(#[from] certherd_tls::Error),
    /// The server refused.
    #[error("the server refused ({status}{}): {message}", code.map(|c| format!(", {}", c.name())).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The protocol's code, when the server sent one.
        code: Option<ErrorCode>,
        /// Its message.
        message: String,
    },
    /// The server's answer broke an HTTP bound (too slow, too large) or was not HTTP.
    #[error(transparent)]
    Http(certherd_tls::http::Error),
    /// The server's answer is not what the protocol says.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The server no longer knows this host (`certherd host remove`): it answered
    /// 410 Gone. This host has forgotten the server and the trust it distributed.
    #[error("the server {server} no longer knows this host ({message}); this host forgot the server and its trust")]
    HostRemoved {
        /// The server's URL.
        server: String,
        /// What the server said.
        message: String,
    },
    /// None of the servers answered (each one down, unreachable, failing, or refused as
    /// not trusted).
    #[error("no server answered: {}", tried.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "))]
    NoServerAnswered {
        /// Each server tried, in order, and why it did not do.
        tried: Vec<(String, String)>,
    },
    /// This home has no server to poll.
    #[error("this home has not joined a server")]
    NotJoined,
    /// A local operation failed.
    #[error(transparent)]
    Node(#[from] certherd_fleet::Error),
}

// The node's context failures are the fleet's (its `Node` variant), so a caller maps
// them in one place whichever facet they came from.
impl From<certherd_authority::Error> for Error {
    fn from(e: certherd_authority::Error) -> Self {
        Self::Node(e.into())
    }
}

impl Error {
    /// Whether the server did not answer (no connection, a broken or late answer, a 5xx):
    /// the next server is tried.
    pub fn unanswered(&self) -> bool {
        use certherd_tls::Error as T;
        match self {
            Self::Tls(t) => matches!(
                t,
                T::Unreachable { .. } | T::Io(_) | T::NotTls { .. } | T::Handshake(_)
            ),
            Self::Http(_) => true,
            Self::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the server said it does not know this host: by the protocol's code, or
    /// by the status of a server that predates the codes.
    fn host_unknown(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                code: Some(ErrorCode::HostUnknown),
                ..
            } | Self::Refused {
                status: STATUS_HOST_UNKNOWN,
                code: None,
                ..
            }
        )
    }
}

/// The HTTP status the server answers a client certificate it no longer knows with.
pub const STATUS_HOST_UNKNOWN: u16 = 410;

fn host_port(url: &str) -> Result<(String, String), Error> {
    let u = proto::ServerUrl::parse(url).map_err(|_| Error::Url(url.to_owned()))?;
    Ok((u.authority(), u.host().to_owned()))
}

fn normalize(fp: &str) -> String {
    fp.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn identity(cert: Vec<u8>, key: &certherd_x509::PrivateKey) -> Result<Identity, Error> {
    Ok(Identity {
        chain: vec![CertificateDer::from(cert)],
        key: pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec())
            .map_err(|e| Error::Protocol(e.to_string()))?,
    })
}

/// Checks the chain the server presented: it must include the root with `fingerprint`,
/// and the server's certificate must validate to it for the host in the URL.
fn check_server(
    chain: &[CertificateDer<'static>],
    fingerprint: &str,
    host: &str,
    at: certherd_core::OffsetDateTime,
) -> Result<(), Error> {
    let want = normalize(fingerprint);
    let root = chain
        .iter()
        .find(|c| certherd_x509::hex(&certherd_x509::sha256(c)) == want);
    let mismatch = || Error::FingerprintMismatch {
        expected: fingerprint.to_owned(),
        presented: chain
            .iter()
            .map(|c| certherd_x509::hex(&certherd_x509::sha256(c)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let root = root.ok_or_else(mismatch)?;
    let leaf = chain.first().ok_or_else(mismatch)?;
    let anchors = [root.clone()];
    certherd_x509::verify(&VerifyInput {
        end_entity: leaf,
        intermediates: &chain[1..],
        trusted: &anchors,
        crls: &[],
        at,
        name: Some(host),
        purpose: Purpose::Server,
    })
    .map_err(|r| {
        Error::Protocol(format!(
            "the server's certificate does not validate to the pinned CA: {r}"
        ))
    })?;
    Ok(())
}

/// Checks the server `server` against the roots and CRLs this host trusts (after the
/// join): a certificate that does not validate to them is [`Error::ServerNotTrusted`], one
/// a held CRL lists [`Error::ServerRevoked`].
fn check_trusted(
    chain: &[CertificateDer<'static>],
    anchors: &[CertificateDer<'static>],
    crls: &[CertificateRevocationListDer<'static>],
    server: &str,
    host: &str,
    at: certherd_core::OffsetDateTime,
) -> Result<(), Error> {
    let not_trusted = |reason: String| Error::ServerNotTrusted {
        server: server.to_owned(),
        reason,
    };
    let leaf = chain
        .first()
        .ok_or_else(|| not_trusted("the server presented no certificate".to_owned()))?;
    match certherd_x509::verify(&VerifyInput {
        end_entity: leaf,
        intermediates: &chain[1..],
        trusted: anchors,
        crls,
        at,
        name: Some(host),
        purpose: Purpose::Server,
    }) {
        Ok(_) => Ok(()),
        Err(certherd_x509::Reason::Revoked) => {
            let detail = crls
                .iter()
                .find_map(|c| certherd_x509::find_revoked(c, leaf))
                .map_or_else(
                    || " (a CA certificate of its chain is)".to_owned(),
                    |r| {
                        format!(
                            " by the pool's CRL since {}, reason {}",
                            certherd_x509::rfc3339(r.revoked_at),
                            r.reason.map_or("unspecified", |x| x.name())
                        )
                    },
                );
            Err(Error::ServerRevoked {
                server: server.to_owned(),
                serial: certherd_x509::CertInfo::from_der(leaf)
                    .map(|i| i.serial)
                    .unwrap_or_default(),
                detail,
            })
        }
        Err(r) => Err(not_trusted(r.to_string())),
    }
}

#[derive(Clone, Copy)]
enum PemKind {
    Certificate,
    Crl,
}

fn pems(texts: &[String], field: &str, kind: PemKind) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    for text in texts {
        let der = match kind {
            PemKind::Crl => certherd_x509::parse_crl(text.as_bytes())
                .map_err(|e| Error::Protocol(format!("{field}: {e}")))?
                .to_vec(),
            PemKind::Certificate => certherd_x509::parse_certificates(text.as_bytes())
                .map_err(|e| Error::Protocol(format!("{field}: {e}")))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Protocol(format!("{field}: no certificate")))?
                .to_vec(),
        };
        out.push(der);
    }
    Ok(out)
}

/// The host key algorithm the server's `host` profile sets, from an answer's
/// `host_key_algo` (absent: it sets none, or the server predates the field).
fn host_key_algo(name: Option<&str>) -> Result<Option<certherd_x509::KeyAlgorithm>, Error> {
    name.map(|name| {
        name.parse()
            .map_err(|_| Error::Protocol(format!("host_key_algo: unknown key algorithm '{name}'")))
    })
    .transpose()
}

/// An answer: the body of type `T` for a 200, else the refusal (its code, when the server
/// sent one). Fields this build does not know are ignored.
fn answer<T: serde::de::DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Error> {
    if status != 200 {
        let refused: Option<proto::ErrorBody> = proto::decode(body).ok();
        return Err(Error::Refused {
            status,
            code: refused.as_ref().and_then(|r| r.code),
            message: refused.map_or_else(
                || format!("HTTP {status} without a JSON body"),
                |r| r.text().to_owned(),
            ),
        });
    }
    proto::decode(body)
        .map_err(|e| Error::Protocol(format!("the answer is not of the protocol's shape: {e}")))
}

fn csr_pem(der: &[u8]) -> String {
    certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, der)
}

fn cert_pem(der: &[u8]) -> String {
    certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, der)
}

/// What a join did.
#[derive(Debug)]
pub struct Joined {
    /// The host name the server knows this host by.
    pub host: String,
    /// Trusted roots received.
    pub trusted_roots: usize,
    /// The servers this agent may poll from now on (see `Agent::agent_servers`).
    pub servers: Vec<String>,
}

/// What `agent join` needs.
#[derive(Debug)]
pub struct JoinOptions<'a> {
    /// The server, `https://HOST:PORT`: the join goes to it.
    pub server: &'a str,
    /// More servers of the same fleet (`--server` repeated), for polls to fail over to.
    pub more_servers: &'a [String],
    /// The token from `host add`.
    pub token: &'a str,
    /// The SHA-256 of the server's root CA.
    pub ca_fingerprint: &'a str,
    /// This host's FQDN; `None` takes the name the token was issued for.
    pub hostname: Option<&'a str>,
    /// This host's IP addresses; empty with no hostname takes the enrolled ones.
    pub ips: &'a [std::net::IpAddr],
    /// This host's certificate verification setting (must match the pool's).
    pub verification: bool,
    /// The host key algorithm asked for (`--key-algo`); `None` takes the server's `host`
    /// profile's, else ECDSA P-256. One that differs from the profile's is refused.
    pub key_algo: Option<certherd_x509::KeyAlgorithm>,
    /// Connect timeout.
    pub timeout: Duration,
}

/// `agent join`: pins the server by its root CA fingerprint, then sends the token, the CSR
/// and the pool-internal certificate, and installs what comes back.
pub fn join<S: Store>(node: &mut Node<S>, o: &JoinOptions<'_>) -> Result<Joined, Error> {
    let JoinOptions {
        server,
        more_servers,
        token,
        ca_fingerprint,
        hostname,
        ips,
        verification,
        key_algo,
        timeout,
    } = *o;
    let (address, host) = host_port(server)?;
    for s in more_servers {
        host_port(s)?;
    }
    let endpoint = Endpoint {
        address,
        proxy: None,
        timeout,
        server_name: None,
        starttls: None,
    };
    // Ask the server which host the token is for and which host key algorithm its `host`
    // profile sets (the token is not spent); the server is checked against the pinned CA
    // before the token is sent.
    let recorder = Arc::new(RecordingVerifier::default());
    let s = Session::open(&endpoint, recorder.clone(), None)?;
    check_server(&recorder.chain(), ca_fingerprint, &host, node.now())?;
    let (status, reply) = http::post_within(
        s,
        timeout,
        &host,
        proto::ENROLLMENT,
        &proto::encode(&proto::EnrollmentRequest {
            token: token.to_owned(),
        }),
    )?;
    let enrollment = match (answer::<proto::Enrollment>(status, &reply), hostname) {
        (Ok(v), _) => Some(v),
        // With --hostname, a token the server refuses is refused again by the join itself,
        // which the server counts and records as a refused join.
        (Err(Error::Refused { .. }), Some(_)) => None,
        (Err(e), _) => return Err(e),
    };
    let server_key_algo =
        host_key_algo(enrollment.as_ref().and_then(|e| e.host_key_algo.as_deref()))?;
    let (hostname, ips): (String, Vec<std::net::IpAddr>) = match (hostname, enrollment) {
        (Some(h), _) => (h.to_owned(), ips.to_vec()),
        (None, None) => return Err(Error::Protocol("enrollment without a host name".into())),
        (None, Some(e)) => {
            let enrolled = e.ips.iter().filter_map(|i| i.parse().ok()).collect();
            (
                e.host,
                if ips.is_empty() {
                    enrolled
                } else {
                    ips.to_vec()
                },
            )
        }
    };
    let req = node
        .agent()
        .agent_prepare(&hostname, &ips, key_algo, server_key_algo)?;
    let id = identity(req.pool_cert.clone(), &req.pool_key)?;
    let recorder = Arc::new(RecordingVerifier::default());
    let session = Session::open(&endpoint, recorder.clone(), Some(&id))?;
    // Nothing is sent until the server proved it holds a certificate from the pinned CA.
    check_server(&recorder.chain(), ca_fingerprint, &host, node.now())?;
    let body = proto::JoinRequest {
        token: token.to_owned(),
        csr: csr_pem(&req.csr),
        pool_certificate: cert_pem(&req.pool_cert),
        verification,
    };
    let (status, reply) =
        http::post_within(session, timeout, &host, proto::JOIN, &proto::encode(&body))?;
    let v: proto::Grant = answer(status, &reply)?;
    let chain = pems(
        v.host_chain.as_deref().unwrap_or_default(),
        "host_chain",
        PemKind::Certificate,
    )?;
    node.agent_mut()
        .agent_install(&req, server, &normalize(ca_fingerprint), &chain)?;
    node.agent_mut()
        .agent_set_server_key_algo(host_key_algo(v.host_key_algo.as_deref())?)?;
    let mut given = vec![server.to_owned()];
    given.extend(more_servers.iter().cloned());
    node.agent_mut().agent_set_servers_given(&given)?;
    node.agent_mut()
        .agent_answered(&proto::dedup_servers([server]).concat(), &v.servers)?;
    let roots = pems(&v.trusted_roots, "trusted_roots", PemKind::Certificate)?;
    let crls = pems(&v.crls, "crls", PemKind::Crl)?;
    node.agent_mut().agent_sync_trust(&roots, &crls)?;
    Ok(Joined {
        host: if v.host.is_empty() { hostname } else { v.host },
        trusted_roots: roots.len(),
        servers: node.agent().agent_servers()?,
    })
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct Polled {
    /// Trusted roots added and removed.
    pub trust_added: usize,
    /// Trusted roots removed.
    pub trust_removed: usize,
    /// Whether the host certificate was renewed.
    pub renewed: bool,
    /// Whether the pool-internal identity was replaced.
    pub pool_refreshed: bool,
    /// The server that answered.
    pub server: String,
    /// The servers tried before it, and why each did not do (down, failing, or refused
    /// as not trusted).
    pub skipped: Vec<(String, String)>,
}

/// The order a poll tries the servers in: the one that answered last, then the others
/// in their recorded order.
fn poll_order(servers: Vec<String>, last: Option<String>) -> Vec<String> {
    match last {
        Some(l) if servers.contains(&l) => {
            let mut out = vec![l.clone()];
            out.extend(servers.into_iter().filter(|s| *s != l));
            out
        }
        _ => servers,
    }
}

/// One poll: heartbeat, trust sync, renewal when due, at the first server that answers
/// (the one that answered last first, see [`Agent::agent_servers`](certherd_fleet::Agent::agent_servers)). A server that does
/// not answer (no connection, a late or broken answer, a 5xx) is passed over for the
/// next; a server whose certificate does not validate to the roots this host trusts (the
/// pool's CA, pinned at join) is refused, nothing is sent to it, and said so in
/// [`Polled::skipped`]; any other refusal ends the poll. The agent authenticates with its
/// pool-internal certificate.
pub fn poll<S: Store>(node: &mut Node<S>, timeout: Duration) -> Result<Polled, Error> {
    let servers = poll_order(
        node.agent().agent_servers()?,
        node.agent().agent_last_server()?,
    );
    if servers.is_empty() {
        return Err(Error::NotJoined);
    }
    let mut tried: Vec<(String, Error)> = Vec::new();
    for url in servers {
        match poll_at(node, &url, timeout) {
            Ok(mut p) => {
                p.skipped = tried.into_iter().map(|(s, e)| (s, e.to_string())).collect();
                return Ok(p);
            }
            Err(e)
                if e.unanswered()
                    || matches!(
                        e,
                        Error::ServerNotTrusted { .. } | Error::ServerRevoked { .. }
                    ) =>
            {
                tried.push((url, e));
            }
            Err(e) => return Err(e),
        }
    }
    // With one server, its own error as it was.
    if tried.len() == 1 {
        if let Some((_, e)) = tried.pop() {
            return Err(e);
        }
    }
    Err(Error::NoServerAnswered {
        tried: tried.into_iter().map(|(s, e)| (s, e.to_string())).collect(),
    })
}

/// One poll at the server `url`.
fn poll_at<S: Store>(node: &mut Node<S>, url: &str, timeout: Duration) -> Result<Polled, Error> {
    let verifying = node.agent().agent_verification()?;
    // After the join, the server is trusted the way the pool trusts: by the roots the
    // server distributes, so a staged CA rotation never breaks the session, and a server
    // of another CA is refused.
    let anchors = node.trust_anchors()?;
    // A server whose certificate a held CRL lists is refused as well.
    let crls = node.trusted_crls()?;
    let held: Vec<String> = anchors
        .iter()
        .map(|c| certherd_x509::hex(&certherd_x509::sha256(c)))
        .collect();
    let (address, host) = host_port(url)?;
    let (pool_cert, pool_key) = node.agent().agent_identity()?;
    let id = identity(pool_cert, &pool_key)?;
    let endpoint = Endpoint {
        address,
        proxy: None,
        timeout,
        server_name: None,
        starttls: None,
    };
    // Each request on a new session, the server checked before anything is sent.
    let now = node.now();
    let send = |path: &str, body: String| -> Result<(u16, Vec<u8>), Error> {
        let recorder = Arc::new(RecordingVerifier::default());
        let session = Session::open(&endpoint, recorder.clone(), Some(&id))?;
        // Emergency-disabled verification skips the check (and the server holds an alarm).
        if verifying {
            check_trusted(&recorder.chain(), &anchors, &crls, url, &host, now)?;
        }
        http::post_within(session, timeout, &host, path, &body)
    };
    let due = node.agent().agent_renewal_due()?;
    // The last deploy's problem (a layout not written, a reload that failed), so the
    // server raises `deploy-failed`; null clears it.
    let deploy_error = node.agent().agent_deploy_error()?;
    let request = |csr: Option<&[u8]>| proto::PollRequest {
        renew_csr: csr.map(csr_pem),
        verification: verifying,
        trusted_roots: held.clone(),
        deploy_error: deploy_error.clone(),
    };
    let (status, reply) = send(
        proto::POLL,
        proto::encode(&request(due.as_ref().map(|(_, csr)| csr.as_slice()))),
    )?;
    let mut v: proto::Grant = match answer(status, &reply) {
        Err(e) if e.host_unknown() => {
            let message = match e {
                Error::Refused { message, .. } => message,
                other => other.to_string(),
            };
            node.agent_mut().agent_forget_server()?;
            return Err(Error::HostRemoved {
                server: url.to_owned(),
                message,
            });
        }
        other => other?,
    };
    // The server's `host` profile decides the algorithm of the next host key, if it sets one.
    node.agent_mut()
        .agent_set_server_key_algo(host_key_algo(v.host_key_algo.as_deref())?)?;
    let mut due = due;
    if v.renew && v.host_chain.is_none() {
        // The server ordered a new certificate (`fleet renew`), or refused the CSR sent
        // because its key is not of the algorithm the host profile now sets: a new key,
        // and ask again (once).
        let (key, csr) = node.agent().agent_new_host_key()?;
        let (status, reply) = send(proto::POLL, proto::encode(&request(Some(&csr))))?;
        v = answer(status, &reply)?;
        due = Some((key, csr));
    }
    let mut out = Polled {
        server: url.to_owned(),
        ..Polled::default()
    };
    if v.refresh_pool {
        // A new pool-internal identity, registered over a session the old one authenticates.
        let (key, cert) = node.agent().agent_new_pool_identity()?;
        let (status, reply) = send(
            proto::POOL,
            proto::encode(&proto::PoolRequest {
                pool_certificate: cert_pem(&cert),
            }),
        )?;
        answer::<proto::PoolAnswer>(status, &reply)?;
        node.agent_mut().agent_install_pool_identity(&key, &cert)?;
        out.pool_refreshed = true;
    }
    if let (Some((key, _)), Some(chain)) = (&due, &v.host_chain) {
        node.agent_mut()
            .agent_install_host(key, &pems(chain, "host_chain", PemKind::Certificate)?)?;
        out.renewed = true;
    }
    let (added, removed) = node.agent_mut().agent_sync_trust(
        &pems(&v.trusted_roots, "trusted_roots", PemKind::Certificate)?,
        &pems(&v.crls, "crls", PemKind::Crl)?,
    )?;
    out.trust_added = added;
    out.trust_removed = removed;
    node.agent_mut().agent_answered(url, &v.servers)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_server_that_answered_last_is_tried_first() {
        let all = vec![
            "https://a:1".to_owned(),
            "https://b:2".into(),
            "https://c:3".into(),
        ];
        assert_eq!(
            poll_order(all.clone(), Some("https://b:2".into())),
            ["https://b:2", "https://a:1", "https://c:3"]
        );
        assert_eq!(poll_order(all.clone(), None), all);
        // One no longer listed: the list as it is.
        assert_eq!(poll_order(all.clone(), Some("https://z:9".into())), all);
    }

    #[test]
    fn a_refusal_is_decided_by_its_code_not_its_message() {
        let gone = answer::<proto::Grant>(
            410,
            proto::encode(&proto::ErrorBody::new(ErrorCode::HostUnknown, "whatever")).as_bytes(),
        )
        .unwrap_err();
        assert!(gone.host_unknown() && !gone.unanswered());
        // A server before the codes: by the status.
        let old = answer::<proto::Grant>(410, br#"{"error":"x"}"#).unwrap_err();
        assert!(old.host_unknown());
        // A 410 with another code is not a removal.
        let other = answer::<proto::Grant>(
            410,
            proto::encode(&proto::ErrorBody::new(
                ErrorCode::InvalidRequest,
                "host unknown",
            ))
            .as_bytes(),
        )
        .unwrap_err();
        assert!(!other.host_unknown());
        // 5xx, JSON or not: the next server is tried.
        assert!(answer::<proto::Grant>(500, b"{}").unwrap_err().unanswered());
        assert!(answer::<proto::Grant>(502, b"<html>")
            .unwrap_err()
            .unanswered());
        // A server that cannot reach its database (or has no free connection to it).
        let unavailable = proto::encode(&proto::ErrorBody::new(
            proto::ErrorCode::Unavailable,
            "the server cannot reach its database",
        ));
        assert!(answer::<proto::Grant>(503, unavailable.as_bytes())
            .unwrap_err()
            .unanswered());
        assert!(!answer::<proto::Grant>(403, b"{}").unwrap_err().unanswered());
    }

    proptest! {
        /// Arbitrary bytes as any answer to any request, with any status: an error or a
        /// value, never a panic.
        #[test]
        fn arbitrary_answers_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = answer::<proto::Grant>(status, &body);
            let _ = answer::<proto::Enrollment>(status, &body);
            let _ = answer::<proto::PoolAnswer>(status, &body);
            if let Ok(g) = answer::<proto::Grant>(200, &body) {
                let _ = pems(&g.trusted_roots, "trusted_roots", PemKind::Certificate);
                let _ = pems(&g.crls, "crls", PemKind::Crl);
                let _ = host_key_algo(g.host_key_algo.as_deref());
            }
        }
    }
}
