//! The key-provider health check over the network: mutual TLS to each KMIP server,
//! pinned to the certificate trusted for it, then the KMIP exchange of
//! [`certherd_kmip::health`]. Each server's outcome is a [`ServerCheck`].

use std::io::{Read, Write};
use std::time::Duration;

use certherd_core::{KmipServer, ServerCheck};
use certherd_tls::{Endpoint, Identity, PinnedServer};
use certherd_x509::CertificateDer;

/// Why a provider's client identity cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The key is not a private key DER rustls takes.
    #[error("client key unusable: {0}")]
    Key(&'static str),
}

/// The TLS endpoint of a KMIP server.
pub fn endpoint(server: &KmipServer, timeout: Duration) -> Endpoint {
    Endpoint {
        address: server.address.to_string(),
        proxy: server.proxy.as_ref().map(ToString::to_string),
        timeout,
        server_name: None,
        starttls: None,
    }
}

/// The client identity of a provider: its chain (leaf first, DER) and key (DER).
pub fn identity(chain: &[Vec<u8>], key: &[u8]) -> Result<Identity, IdentityError> {
    let key = pki_types::PrivateKeyDer::try_from(key.to_vec()).map_err(IdentityError::Key)?;
    Ok(Identity {
        chain: chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect(),
        key,
    })
}

/// Why a KMIP server's certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresentedError {
    /// The TLS handshake failed (the server unreachable, the proxy refusing...).
    #[error(transparent)]
    Tls(#[from] certherd_tls::Error),
    /// The handshake completed without a certificate.
    #[error("presented no certificate")]
    Nothing,
}

/// The leaf certificate (DER) a KMIP server presents at a TLS handshake made with the
/// provider's client identity (if it has one), read without trusting it: what
/// `key-provider server-cert get` shows and `server-cert trust` pins.
pub fn presented_leaf(
    server: &KmipServer,
    identity: Option<&Identity>,
    timeout: Duration,
) -> Result<Vec<u8>, PresentedError> {
    let chain = certherd_tls::fetch_chain(&endpoint(server, timeout), identity)?;
    chain
        .first()
        .map(|c| c.to_vec())
        .ok_or(PresentedError::Nothing)
}

/// What the health check found at each server of one provider.
#[derive(Debug)]
pub struct ProviderHealth {
    /// Each server and its check, in the provider's order.
    pub servers: Vec<(KmipServer, ServerCheck)>,
}

impl ProviderHealth {
    /// OK only when the provider has servers and a mutually authenticated KMIP session
    /// to each one works.
    pub fn healthy(&self) -> bool {
        !self.servers.is_empty() && self.servers.iter().all(|(_, c)| c.is_ok())
    }
}

/// Checks each server of a provider (with the certificate trusted for it, if any);
/// `identity` `None`: the provider has no client certificate yet, `no_identity` says so
/// for each server.
pub fn provider_health(
    servers: &[(KmipServer, Option<Vec<u8>>)],
    identity: Option<&Identity>,
    timeout: Duration,
    no_identity: impl Fn() -> String,
) -> ProviderHealth {
    ProviderHealth {
        servers: servers
            .iter()
            .map(|(s, pinned)| {
                let check = match identity {
                    None => ServerCheck::Failed(no_identity()),
                    Some(i) => check_server(s, pinned.as_deref(), Some(i), timeout),
                };
                (s.clone(), check)
            })
            .collect(),
    }
}

/// Mutual TLS to one KMIP server, pinned to `pinned`, then the KMIP health exchange.
pub fn check_server(
    server: &KmipServer,
    pinned: Option<&[u8]>,
    id: Option<&Identity>,
    timeout: Duration,
) -> ServerCheck {
    let Some(pinned) = pinned else {
        return ServerCheck::ServerNotTrusted {
            changed: false,
            presented_sha256: None,
        };
    };
    let verifier = PinnedServer::new(vec![CertificateDer::from(pinned.to_vec())]);
    let mut stream = match certherd_tls::connect(&endpoint(server, timeout), verifier.clone(), id) {
        Ok(s) => s,
        Err(certherd_tls::Error::ServerNotTrusted(_)) => {
            return ServerCheck::ServerNotTrusted {
                changed: true,
                presented_sha256: verifier
                    .refused()
                    .map(|c| certherd_x509::hex(&certherd_x509::sha256(&c))),
            }
        }
        Err(certherd_tls::Error::Unreachable { source, .. }) => {
            return ServerCheck::Unreachable(source.to_string())
        }
        Err(e @ certherd_tls::Error::Proxy { .. }) => {
            return ServerCheck::Unreachable(e.to_string())
        }
        Err(
            certherd_tls::Error::ClientRejected(d)
            | certherd_tls::Error::ClientCertificateRequired(d),
        ) => return ServerCheck::ClientRejected(d),
        Err(e) => return ServerCheck::Failed(e.to_string()),
    };
    kmip_health(&mut stream)
}

/// One KMIP request/response over an established TLS stream.
fn exchange(stream: &mut certherd_tls::TlsStream, request: &[u8]) -> Result<Vec<u8>, ServerCheck> {
    stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .map_err(exchange_failure)?;
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).map_err(exchange_failure)?;
    let total = certherd_kmip::message_length(&header)
        .map_err(|e| ServerCheck::Failed(format!("not a KMIP response: {e}")))?;
    let mut msg = header.to_vec();
    msg.resize(total, 0);
    stream.read_exact(&mut msg[8..]).map_err(exchange_failure)?;
    Ok(msg)
}

/// Why one request/response exchange failed, sorted the way the health report needs it.
fn exchange_failure(e: std::io::Error) -> ServerCheck {
    if let Some(tls) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<certherd_tls::RustlsError>())
    {
        if let certherd_tls::RustlsError::AlertReceived(a) = tls {
            return ServerCheck::ClientRejected(format!("alert {a:?} after the handshake"));
        }
        return ServerCheck::Failed(format!("TLS: {tls}"));
    }
    match e.kind() {
        // A key server that accepts the TLS session but not the identity in it (PyKMIP without the
        // clientAuth EKU, for one) hangs up before it answers.
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => ServerCheck::ClientRejected(
            "the server closed the connection without a KMIP answer (it refused the client certificate after the handshake)".into(),
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            ServerCheck::Failed("no KMIP answer before the timeout".into())
        }
        _ => ServerCheck::Failed(e.to_string()),
    }
}

/// The KMIP health exchange on an open stream, closed cleanly when it went well.
fn kmip_health(stream: &mut certherd_tls::TlsStream) -> ServerCheck {
    use certherd_kmip::HealthError;
    match certherd_kmip::health(|request| exchange(stream, request)) {
        Ok(h) => {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            ServerCheck::Ok {
                versions: h.versions,
                vendor: h.vendor,
            }
        }
        Err(HealthError::Exchange(check)) => check,
        Err(HealthError::Refused { reason, message }) => ServerCheck::KmipError { reason, message },
        Err(e) => ServerCheck::Failed(e.to_string()),
    }
}
