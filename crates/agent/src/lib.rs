//! The certherd host agent: joins a management server with a one-time token, pinning the
//! server's root CA by fingerprint before it sends anything, then polls over mutual TLS
//! with its pool-internal identity: heartbeat, the pool's trusted roots and CRLs, and a
//! new host certificate when its own is due. Keys are made on the host and never leave it.
#![forbid(unsafe_code)]

mod backoff;
mod deploy;
pub(crate) mod http;

pub use backoff::{Backoff, Jitter};
pub use deploy::{
    listen, reload, reload_within, server_config, write_layouts, write_targets, LayoutDeployed,
    LayoutOutcome, ReloadError, Served,
};
pub use http::post as post_json;

use std::sync::Arc;
use std::time::Duration;

use certherd_ca::Node;
use certherd_store::Store;
use certherd_tls::{Endpoint, Identity, RecordingVerifier};
use certherd_x509::{CertificateDer, Purpose, VerifyInput};
use serde_json::{json, Value};

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
    /// The connection failed.
    #[error(transparent)]
    Tls(#[from] certherd_tls::Error),
    /// The server refused.
    #[error("the server refused ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
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
    #[error("the server {server} no longer knows this host ({message}); this host forgot the server and its trust: add it again with `certherd host add` on the server and join with the new token")]
    HostRemoved {
        /// The server's URL.
        server: String,
        /// What the server said.
        message: String,
    },
    /// A local operation failed.
    #[error(transparent)]
    Node(#[from] certherd_ca::Error),
}

/// The HTTP status the server answers a client certificate it no longer knows with.
pub const STATUS_HOST_UNKNOWN: u16 = 410;

fn host_port(url: &str) -> Result<(String, String), Error> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Error::Url(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| Error::Url(url.to_owned()))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(Error::Url(url.to_owned()));
    }
    Ok((
        authority.to_owned(),
        host.trim_matches(['[', ']']).to_owned(),
    ))
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

/// Checks the server against the roots this host trusts (after the join).
fn check_trusted(
    chain: &[CertificateDer<'static>],
    anchors: &[CertificateDer<'static>],
    host: &str,
    at: certherd_core::OffsetDateTime,
) -> Result<(), Error> {
    let leaf = chain
        .first()
        .ok_or_else(|| Error::Protocol("the server presented no certificate".into()))?;
    certherd_x509::verify(&VerifyInput {
        end_entity: leaf,
        intermediates: &chain[1..],
        trusted: anchors,
        crls: &[],
        at,
        name: Some(host),
        purpose: Purpose::Server,
    })
    .map_err(|r| Error::Protocol(format!("the server's certificate is not trusted: {r}")))?;
    Ok(())
}

fn pems(v: &Value, field: &str) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    for p in v[field].as_array().map(Vec::as_slice).unwrap_or_default() {
        let text = p
            .as_str()
            .ok_or_else(|| Error::Protocol(format!("{field}: not a string")))?;
        let der = if field == "crls" {
            certherd_x509::parse_crl(text.as_bytes())
                .map_err(|e| Error::Protocol(format!("{field}: {e}")))?
                .to_vec()
        } else {
            certherd_x509::parse_certificates(text.as_bytes())
                .map_err(|e| Error::Protocol(format!("{field}: {e}")))?
                .remove(0)
                .to_vec()
        };
        out.push(der);
    }
    Ok(out)
}

/// The host key algorithm the server's `host` profile sets, from an answer's
/// `host_key_algo` (absent: it sets none, or the server predates the field).
fn host_key_algo(v: &Value) -> Result<Option<certherd_x509::KeyAlgorithm>, Error> {
    match &v["host_key_algo"] {
        Value::Null => Ok(None),
        Value::String(name) => name
            .parse()
            .map(Some)
            .map_err(|_| Error::Protocol(format!("host_key_algo: unknown key algorithm '{name}'"))),
        _ => Err(Error::Protocol("host_key_algo: not a string".into())),
    }
}

fn answer(status: u16, body: &[u8]) -> Result<Value, Error> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| Error::Protocol(format!("HTTP {status} without a JSON body")))?;
    if status != 200 {
        return Err(Error::Refused {
            status,
            message: v["error"].as_str().unwrap_or("no reason given").to_owned(),
        });
    }
    Ok(v)
}

/// What a join did.
#[derive(Debug)]
pub struct Joined {
    /// The host name the server knows this host by.
    pub host: String,
    /// Trusted roots received.
    pub trusted_roots: usize,
}

/// What `agent join` needs.
#[derive(Debug)]
pub struct JoinOptions<'a> {
    /// The server, `https://HOST:PORT`.
    pub server: &'a str,
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
        token,
        ca_fingerprint,
        hostname,
        ips,
        verification,
        key_algo,
        timeout,
    } = *o;
    let (address, host) = host_port(server)?;
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
    let mut s = certherd_tls::connect_for_request(&endpoint, recorder.clone(), None)?;
    check_server(&recorder.chain(), ca_fingerprint, &host, node.now())?;
    let (status, reply) = http::post_within(
        &mut s,
        timeout,
        &host,
        "/v1/enrollment",
        &json!({"token": token}).to_string(),
    )?;
    let v = match (answer(status, &reply), hostname) {
        (Ok(v), _) => v,
        // With --hostname, a token the server refuses is refused again by the join itself,
        // which the server counts and records as a refused join.
        (Err(Error::Refused { .. }), Some(_)) => Value::Null,
        (Err(e), _) => return Err(e),
    };
    let server_key_algo = host_key_algo(&v)?;
    let (hostname, ips): (String, Vec<std::net::IpAddr>) = match hostname {
        Some(h) => (h.to_owned(), ips.to_vec()),
        None => {
            let name = v["host"]
                .as_str()
                .ok_or_else(|| Error::Protocol("enrollment without a host name".into()))?
                .to_owned();
            let enrolled = v["ips"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.as_str()?.parse().ok())
                .collect();
            (
                name,
                if ips.is_empty() {
                    enrolled
                } else {
                    ips.to_vec()
                },
            )
        }
    };
    let req = node.agent_prepare(&hostname, &ips, key_algo, server_key_algo)?;
    let id = identity(req.pool_cert.clone(), &req.pool_key)?;
    let recorder = Arc::new(RecordingVerifier::default());
    let mut stream = certherd_tls::connect_for_request(&endpoint, recorder.clone(), Some(&id))?;
    // Nothing is sent until the server proved it holds a certificate from the pinned CA.
    check_server(&recorder.chain(), ca_fingerprint, &host, node.now())?;
    let body = json!({
        "token": token,
        "csr": certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, &req.csr),
        "pool_certificate": certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &req.pool_cert),
        "verification": verification,
    });
    let (status, reply) =
        http::post_within(&mut stream, timeout, &host, "/v1/join", &body.to_string())?;
    let v = answer(status, &reply)?;
    let chain = pems(&v, "host_chain")?;
    node.agent_install(&req, server, &normalize(ca_fingerprint), &chain)?;
    node.agent_set_server_key_algo(host_key_algo(&v)?)?;
    let roots = pems(&v, "trusted_roots")?;
    let crls = pems(&v, "crls")?;
    node.agent_sync_trust(&roots, &crls)?;
    Ok(Joined {
        host: v["host"].as_str().unwrap_or(&hostname).to_owned(),
        trusted_roots: roots.len(),
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
}

/// One poll: heartbeat, trust sync, renewal when due. The server is verified against the
/// pinned root CA; the agent authenticates with its pool-internal certificate.
pub fn poll<S: Store>(node: &mut Node<S>, timeout: Duration) -> Result<Polled, Error> {
    let (url, ca_sha256) = node.agent_server()?;
    let verifying = node.agent_verification()?;
    // After the join, the server is trusted the way the pool trusts: by the roots the
    // server distributes, so a staged CA rotation never breaks the session.
    let anchors = node.trust_anchors()?;
    let held: Vec<String> = anchors
        .iter()
        .map(|c| certherd_x509::hex(&certherd_x509::sha256(c)))
        .collect();
    let _ = &ca_sha256;
    let (address, host) = host_port(&url)?;
    let (pool_cert, pool_key) = node.agent_identity()?;
    let id = identity(pool_cert, &pool_key)?;
    let recorder = Arc::new(RecordingVerifier::default());
    let mut stream = certherd_tls::connect_for_request(
        &Endpoint {
            address: address.clone(),
            proxy: None,
            timeout,
            server_name: None,
            starttls: None,
        },
        recorder.clone(),
        Some(&id),
    )?;
    // Emergency-disabled verification skips the check (and the server holds an alarm).
    if verifying {
        check_trusted(&recorder.chain(), &anchors, &host, node.now())?;
    }
    let due = node.agent_renewal_due()?;
    // The last deploy's problem (a layout not written, a reload that failed), so the
    // server raises `deploy-failed`; null clears it.
    let deploy_error = node.agent_deploy_error()?;
    let body = match &due {
        Some((_, csr)) => {
            json!({"renew_csr": certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, csr), "verification": verifying, "trusted_roots": held, "deploy_error": deploy_error})
        }
        None => {
            json!({"verification": verifying, "trusted_roots": held, "deploy_error": deploy_error})
        }
    };
    let (status, reply) =
        http::post_within(&mut stream, timeout, &host, "/v1/poll", &body.to_string())?;
    let mut v = match answer(status, &reply) {
        Err(Error::Refused {
            status: STATUS_HOST_UNKNOWN,
            message,
        }) => {
            node.agent_forget_server()?;
            return Err(Error::HostRemoved {
                server: url,
                message,
            });
        }
        other => other?,
    };
    // The server's `host` profile decides the algorithm of the next host key, if it sets one.
    node.agent_set_server_key_algo(host_key_algo(&v)?)?;
    let mut due = due;
    if v["renew"].as_bool() == Some(true) && !v["host_chain"].is_array() {
        // The server ordered a new certificate (`fleet renew`), or refused the CSR sent
        // because its key is not of the algorithm the host profile now sets: a new key,
        // and ask again (once).
        let (key, csr) = node.agent_new_host_key()?;
        let mut again = certherd_tls::connect_for_request(
            &Endpoint {
                address: address.clone(),
                proxy: None,
                timeout,
                server_name: None,
                starttls: None,
            },
            recorder.clone(),
            Some(&id),
        )?;
        if verifying {
            check_trusted(&recorder.chain(), &anchors, &host, node.now())?;
        }
        let body = json!({"renew_csr": certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, &csr), "verification": verifying, "trusted_roots": held, "deploy_error": deploy_error});
        let (status, reply) =
            http::post_within(&mut again, timeout, &host, "/v1/poll", &body.to_string())?;
        v = answer(status, &reply)?;
        due = Some((key, csr));
    }
    let mut out = Polled::default();
    if v["refresh_pool"].as_bool() == Some(true) {
        // A new pool-internal identity, registered over a session the old one authenticates.
        let (key, cert) = node.agent_new_pool_identity()?;
        let mut again = certherd_tls::connect_for_request(
            &Endpoint {
                address: address.clone(),
                proxy: None,
                timeout,
                server_name: None,
                starttls: None,
            },
            recorder.clone(),
            Some(&id),
        )?;
        if verifying {
            check_trusted(&recorder.chain(), &anchors, &host, node.now())?;
        }
        let body = json!({"pool_certificate": certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert)});
        let (status, reply) =
            http::post_within(&mut again, timeout, &host, "/v1/pool", &body.to_string())?;
        answer(status, &reply)?;
        node.agent_install_pool_identity(&key, &cert)?;
        out.pool_refreshed = true;
    }
    if let (Some((key, _)), Some(_)) = (&due, v["host_chain"].as_array()) {
        node.agent_install_host(key, &pems(&v, "host_chain")?)?;
        out.renewed = true;
    }
    let (added, removed) =
        node.agent_sync_trust(&pems(&v, "trusted_roots")?, &pems(&v, "crls")?)?;
    out.trust_added = added;
    out.trust_removed = removed;
    Ok(out)
}
