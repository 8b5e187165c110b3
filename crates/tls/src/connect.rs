//! Connecting: TCP (optionally through an HTTP CONNECT proxy), then the TLS handshake,
//! with every failure classified.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::client::danger::ServerCertVerifier;
use rustls::{AlertDescription, ClientConfig, ClientConnection, StreamOwned};

use crate::{Error, RecordingVerifier};

/// An established TLS connection.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Where to connect.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// HOST:PORT of the server.
    pub address: String,
    /// HOST:PORT of an HTTP CONNECT proxy, if any.
    pub proxy: Option<String>,
    /// Connect and handshake timeout.
    pub timeout: Duration,
    /// The name sent as SNI, when it is not the host of `address` (e.g. an IP address
    /// serving a named certificate).
    pub server_name: Option<String>,
    /// The plaintext protocol to upgrade with before the handshake, if any.
    pub starttls: Option<crate::StartTls>,
}

/// A client certificate chain and its key.
#[derive(Debug)]
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (PKCS#8, PKCS#1 or SEC1 DER).
    pub key: PrivateKeyDer<'static>,
}

fn host_of(address: &str) -> Result<(String, u16), Error> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| Error::Address(address.to_owned()))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Address(address.to_owned()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(Error::Address(address.to_owned()));
    }
    Ok((host.to_owned(), port))
}

fn tcp(address: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let unreachable = |source| Error::Unreachable {
        address: address.to_owned(),
        source,
    };
    let addrs: Vec<_> = address.to_socket_addrs().map_err(unreachable)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address resolved");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout)).map_err(unreachable)?;
                s.set_write_timeout(Some(timeout)).map_err(unreachable)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
}

fn through_proxy(proxy: &str, target: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let mut s = tcp(proxy, timeout)?;
    let fail = |detail: String| Error::Proxy {
        proxy: proxy.to_owned(),
        target: target.to_owned(),
        detail,
    };
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")
        .map_err(|e| fail(e.to_string()))?;
    let mut reader = BufReader::new(s.try_clone().map_err(|e| fail(e.to_string()))?);
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .map_err(|e| fail(e.to_string()))?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!("answered '{}'", status.trim())));
    }
    // Skip the response headers; the tunnel starts after the blank line.
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| fail(e.to_string()))?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    if !reader.buffer().is_empty() {
        return Err(fail("sent data before the tunnel was open".into()));
    }
    Ok(s)
}

/// A handshake error that shows the peer answered with something other than TLS records.
fn not_tls(e: &rustls::Error, address: &str) -> Option<Error> {
    use rustls::InvalidMessage as M;
    let why = match e {
        rustls::Error::InvalidMessage(M::InvalidContentType) => "",
        rustls::Error::InvalidMessage(M::UnknownProtocolVersion) => " (unknown record version)",
        rustls::Error::InvalidMessage(M::MessageTooLarge) => " (record too large)",
        _ => return None,
    };
    Some(Error::NotTls {
        address: address.to_owned(),
        detail: format!("its answer is not a TLS record{why}"),
    })
}

/// Why the server's certificate was refused, in words (rustls's Debug text is no message).
fn certificate_problem(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match c {
        C::UnknownIssuer => "it is not issued by a CA this side trusts".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::Revoked => "it is revoked".into(),
        C::BadSignature => "its signature does not verify".into(),
        C::BadEncoding => "it does not decode".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "its extended key usage does not allow a TLS server".into()
        }
        other => other.to_string(),
    }
}

fn classify(e: rustls::Error, sent_client_cert: bool, address: &str) -> Error {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => Error::NameMismatch {
            address: address.to_owned(),
            expected: expected.to_str().into_owned(),
            presented: presented
                .iter()
                .map(|n| certherd_x509::presented_name(n))
                .collect(),
        },
        E::InvalidCertificate(c) => Error::ServerNotTrusted(certificate_problem(&c)),
        E::AlertReceived(a)
            if matches!(
                a,
                AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::CertificateRequired
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::AccessDenied
                    | AlertDescription::DecryptError
            ) || (a == AlertDescription::HandshakeFailure && sent_client_cert) =>
        {
            Error::ClientRejected(format!("alert {a:?}"))
        }
        other => Error::Handshake(other.to_string()),
    }
}

/// Connects and completes the handshake. `verifier` decides whether the server is trusted;
/// `identity` is presented when the server asks for a client certificate.
pub fn connect(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
) -> Result<TlsStream, Error> {
    open(endpoint, verifier, identity, true)
}

/// As [`connect`], for a client that sends its request at once: a TLS 1.3 server's
/// refusal of the client certificate then arrives as an alert on the first read (see
/// [`Error::from_io`]) instead of being waited for here, which costs up to 200 ms.
pub fn connect_for_request(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
) -> Result<TlsStream, Error> {
    open(endpoint, verifier, identity, false)
}

fn open(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
    probe_refusal: bool,
) -> Result<TlsStream, Error> {
    let (host, _) = host_of(&endpoint.address)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| Error::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| Error::Identity(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    let sni = endpoint.server_name.clone().unwrap_or(host);
    let name = ServerName::try_from(sni).map_err(|_| Error::Address(endpoint.address.clone()))?;
    let conn = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Error::Handshake(e.to_string()))?;
    let sock = match &endpoint.proxy {
        Some(p) => through_proxy(p, &endpoint.address, endpoint.timeout)?,
        None => tcp(&endpoint.address, endpoint.timeout)?,
    };
    if let Some(protocol) = endpoint.starttls {
        crate::starttls::upgrade(protocol, &sock, endpoint.timeout)?;
    }
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            let kind = e.kind();
            return Err(
                match e
                    .into_inner()
                    .and_then(|i| i.downcast::<rustls::Error>().ok())
                {
                    Some(tls) => not_tls(&tls, &endpoint.address)
                        .unwrap_or_else(|| classify(*tls, identity.is_some(), &endpoint.address)),
                    None if matches!(
                        kind,
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) =>
                    {
                        Error::NotTls {
                            address: endpoint.address.clone(),
                            detail: format!(
                                "no TLS answer within {}s",
                                endpoint.timeout.as_secs_f32()
                            ),
                        }
                    }
                    None => Error::Handshake("the connection closed during the handshake".into()),
                },
            );
        }
    }
    // TLS 1.3 servers check the client certificate after the client's Finished: give
    // them a moment to refuse it before reporting success.
    if probe_refusal
        && identity.is_some()
        && stream.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
    {
        let _ = stream
            .sock
            .set_read_timeout(Some(Duration::from_millis(200)));
        let mut probe = [0u8; 0];
        if let Err(e) = stream.read(&mut probe) {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Err(classify(tls.clone(), true, &endpoint.address));
            }
        }
        let _ = stream.sock.set_read_timeout(Some(endpoint.timeout));
    }
    Ok(stream)
}

/// Connects without trusting anything and returns the chain the server presents (leaf
/// first), to be shown to an admin before it is trusted.
pub fn fetch_chain(
    endpoint: &Endpoint,
    identity: Option<&Identity>,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let recorder = Arc::new(RecordingVerifier::default());
    match connect(endpoint, recorder.clone(), identity) {
        Ok(mut s) => {
            s.conn.send_close_notify();
            let _ = s.flush();
            Ok(recorder.chain())
        }
        // The server may refuse us (no client certificate yet) after showing its own.
        Err(e) => {
            let chain = recorder.chain();
            if chain.is_empty() {
                Err(e)
            } else {
                Ok(chain)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            host_of("kms.example.com:5696").unwrap(),
            ("kms.example.com".into(), 5696)
        );
        assert_eq!(host_of("[::1]:5696").unwrap(), ("::1".into(), 5696));
        assert!(host_of("kms").is_err());
        assert!(host_of(":5696").is_err());
        assert!(host_of("kms:99999").is_err());
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = fetch_chain(
            &Endpoint {
                address: addr,
                proxy: None,
                timeout: Duration::from_secs(2),
                server_name: None,
                starttls: None,
            },
            None,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    }
}

/// What a TLS endpoint presented: its chain and the session it negotiated.
#[derive(Debug)]
pub struct Probe {
    /// The chain as sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// The cipher suite negotiated.
    pub cipher_suite: String,
}

/// Connects without trusting anything, as a scan does, and reports what the server
/// presented; whether it is trusted is decided afterwards by certherd's own validator, so
/// an untrusted endpoint is still seen.
pub fn probe(endpoint: &Endpoint) -> Result<Probe, Error> {
    let recorder = Arc::new(RecordingVerifier::default());
    let mut s = connect(endpoint, recorder.clone(), None)?;
    let version = s
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher_suite = s
        .conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    s.conn.send_close_notify();
    let _ = s.flush();
    Ok(Probe {
        chain: recorder.chain(),
        version,
        cipher_suite,
    })
}
