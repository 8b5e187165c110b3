//! Connecting: TCP (optionally through an HTTP CONNECT proxy), then the TLS handshake,
//! with every failure classified.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConfig, ClientConnection, SignatureScheme, StreamOwned};

use certherd_protocol::HostPort;

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

pub(crate) fn tcp(address: &HostPort, timeout: Duration) -> Result<TcpStream, Error> {
    let unreachable = |source| Error::Unreachable {
        address: address.to_string(),
        source,
    };
    let addrs: Vec<_> = (address.host(), address.port())
        .to_socket_addrs()
        .map_err(unreachable)?
        .collect();
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

fn through_proxy(
    proxy: &HostPort,
    target: &HostPort,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let mut s = tcp(proxy, timeout)?;
    let fail = |detail: String| Error::Proxy {
        proxy: proxy.to_string(),
        target: target.to_string(),
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

/// What the client did about client authentication, for telling why a server refused.
#[derive(Clone, Copy, Debug)]
struct ClientAuth {
    /// A client certificate was configured (and sent when asked for).
    sent: bool,
    /// The server sent a CertificateRequest.
    asked: bool,
}

/// The resolver of a client without a certificate: it sends none, and records whether the
/// server asked for one, so a server requiring mutual TLS is told from other refusals.
#[derive(Debug, Default)]
struct NoClientCertificate {
    asked: AtomicBool,
}

impl ResolvesClientCert for NoClientCertificate {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        // rustls calls this exactly when a CertificateRequest arrives.
        self.asked.store(true, Ordering::SeqCst);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

fn classify(e: rustls::Error, auth: ClientAuth, address: &str) -> Error {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => Error::NameMismatch {
            address: address.to_owned(),
            expected: expected.to_str().into_owned(),
            // certherd's verifiers put the names in as written (`with_presented_names`).
            presented,
        },
        E::InvalidCertificate(c) => Error::ServerNotTrusted(certificate_problem(&c)),
        // We offer TLS 1.2 and 1.3 only: a server that refuses both, or answers with an
        // older version, speaks nothing newer than TLS 1.1.
        E::AlertReceived(AlertDescription::ProtocolVersion) => Error::ObsoleteProtocol {
            address: address.to_owned(),
            detail: "it refused our TLS 1.2/1.3 hello with a protocol_version alert".into(),
        },
        E::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13) => {
            Error::ObsoleteProtocol {
                address: address.to_owned(),
                detail: "it answered our TLS 1.2/1.3 hello with an older version".into(),
            }
        }
        // TLS 1.2 servers (OpenSSL) answer a missing certificate with handshake_failure,
        // TLS 1.3 ones with certificate_required; others with a certificate alert.
        E::AlertReceived(a)
            if !auth.sent
                && (auth.asked || a == AlertDescription::CertificateRequired)
                && matches!(
                    a,
                    AlertDescription::HandshakeFailure
                        | AlertDescription::CertificateRequired
                        | AlertDescription::BadCertificate
                        | AlertDescription::UnknownCA
                        | AlertDescription::CertificateUnknown
                        | AlertDescription::UnsupportedCertificate
                        | AlertDescription::AccessDenied
                ) =>
        {
            Error::ClientCertificateRequired(if auth.asked {
                format!("it asked for one, then sent alert {a:?}")
            } else {
                format!("alert {a:?}")
            })
        }
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
            ) || (a == AlertDescription::HandshakeFailure && auth.sent) =>
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
    open(endpoint, verifier, identity, AwaitRefusal::OfCertificate)
}

/// As [`connect`], for a client that sends its request at once: a TLS 1.3 server's
/// refusal of the client certificate then arrives as an alert on the first read (see
/// [`Error::from_io`]) instead of being waited for here, which costs up to 200 ms.
pub fn connect_for_request(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
) -> Result<TlsStream, Error> {
    open(endpoint, verifier, identity, AwaitRefusal::Never)
}

/// When to wait, after a TLS 1.3 handshake, for the server to refuse the client: it does
/// so after the client's Finished, which ends the handshake on the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AwaitRefusal {
    /// Never: the caller's first read reports a refusal.
    Never,
    /// When a client certificate was sent.
    OfCertificate,
    /// Also when none was sent but the server asked for one: a probe reads nothing, so a
    /// refusal of the missing certificate would go unseen.
    OfCertificateOrAbsence,
}

fn open(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
    refusal: AwaitRefusal,
) -> Result<TlsStream, Error> {
    handshake(endpoint, verifier, identity, refusal).map_err(|f| f.error)
}

/// A failed handshake: why, and what had been negotiated by then (empty if nothing).
struct Failed {
    error: Error,
    version: String,
    cipher_suite: String,
}

impl From<Error> for Box<Failed> {
    fn from(error: Error) -> Self {
        Box::new(Failed {
            error,
            version: String::new(),
            cipher_suite: String::new(),
        })
    }
}

/// The protocol version and cipher suite a connection negotiated, as Debug names.
fn negotiated(conn: &ClientConnection) -> (String, String) {
    (
        conn.protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        conn.negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default(),
    )
}

/// One connection's client configuration, and what tells its refusal apart afterwards:
/// shared by the blocking handshake here and the asynchronous one of [`crate::http`].
pub(crate) struct Prepared {
    /// The rustls configuration: aws-lc-rs, the verifier, the identity if any.
    pub(crate) config: Arc<ClientConfig>,
    /// The name sent as SNI and checked.
    pub(crate) name: ServerName<'static>,
    target: HostPort,
    proxy: Option<HostPort>,
    none: Arc<NoClientCertificate>,
    sent: bool,
}

impl Prepared {
    /// The configuration for `endpoint`, trusting what `verifier` trusts, presenting
    /// `identity` when asked for a client certificate.
    pub(crate) fn new(
        endpoint: &Endpoint,
        verifier: Arc<dyn ServerCertVerifier>,
        identity: Option<&Identity>,
    ) -> Result<Self, Error> {
        let target: HostPort = endpoint.address.parse().map_err(Error::Address)?;
        let proxy: Option<HostPort> = match &endpoint.proxy {
            Some(p) => Some(p.parse().map_err(Error::Address)?),
            None => None,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| Error::Handshake(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let none = Arc::new(NoClientCertificate::default());
        let config = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| Error::Identity(e.to_string()))?,
            None => builder.with_client_cert_resolver(none.clone()),
        };
        let sni = endpoint
            .server_name
            .clone()
            .unwrap_or_else(|| target.host().to_owned());
        let name = ServerName::try_from(sni.clone()).map_err(|_| Error::ServerName(sni))?;
        Ok(Self {
            config: Arc::new(config),
            name,
            target,
            proxy,
            none,
            sent: identity.is_some(),
        })
    }

    fn auth(&self) -> ClientAuth {
        ClientAuth {
            sent: self.sent,
            asked: self.none.asked.load(Ordering::SeqCst),
        }
    }

    /// The TCP connection the handshake goes over: through the proxy if any, upgraded by
    /// the STARTTLS protocol if any, each step within the endpoint's timeout.
    pub(crate) fn socket(&self, endpoint: &Endpoint) -> Result<TcpStream, Error> {
        let sock = match &self.proxy {
            Some(p) => through_proxy(p, &self.target, endpoint.timeout)?,
            None => tcp(&self.target, endpoint.timeout)?,
        };
        if let Some(protocol) = endpoint.starttls {
            crate::starttls::upgrade(protocol, &sock, endpoint.timeout)?;
        }
        Ok(sock)
    }

    /// Why the handshake failed, from the I/O error it ended with (a TLS error inside it,
    /// a timeout, or a closed connection).
    pub(crate) fn failure(&self, e: std::io::Error, endpoint: &Endpoint) -> Error {
        let kind = e.kind();
        match e
            .into_inner()
            .and_then(|i| i.downcast::<rustls::Error>().ok())
        {
            Some(tls) => not_tls(&tls, &endpoint.address)
                .unwrap_or_else(|| classify(*tls, self.auth(), &endpoint.address)),
            None if matches!(
                kind,
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
            {
                Error::NotTls {
                    address: endpoint.address.clone(),
                    detail: format!("no TLS answer within {}s", endpoint.timeout.as_secs_f32()),
                }
            }
            // A server may also refuse a missing certificate by hanging up.
            None if self.auth().asked && !self.sent => Error::ClientCertificateRequired(
                "it asked for one, then closed the connection".into(),
            ),
            None => Error::Handshake("the connection closed during the handshake".into()),
        }
    }
}

fn handshake(
    endpoint: &Endpoint,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<&Identity>,
    refusal: AwaitRefusal,
) -> Result<TlsStream, Box<Failed>> {
    let prepared = Prepared::new(endpoint, verifier, identity)?;
    let conn = ClientConnection::new(prepared.config.clone(), prepared.name.clone())
        .map_err(|e| Error::Handshake(e.to_string()))?;
    let sock = prepared.socket(endpoint)?;
    let mut stream = StreamOwned::new(conn, sock);
    let failed = |error: Error, conn: &ClientConnection| {
        let (version, cipher_suite) = negotiated(conn);
        Box::new(Failed {
            error,
            version,
            cipher_suite,
        })
    };
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            let error = prepared.failure(e, endpoint);
            return Err(failed(error, &stream.conn));
        }
    }
    // TLS 1.3 servers check the client certificate (or its absence) after the client's
    // Finished: give them a moment to refuse it before reporting success. Only when there
    // is a certificate to refuse or the server asked for one, so other servers cost nothing.
    let wait = match refusal {
        AwaitRefusal::Never => false,
        AwaitRefusal::OfCertificate => identity.is_some(),
        AwaitRefusal::OfCertificateOrAbsence => identity.is_some() || prepared.auth().asked,
    };
    if wait && stream.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
        let _ = stream
            .sock
            .set_read_timeout(Some(Duration::from_millis(200)));
        let mut probe = [0u8; 0];
        if let Err(e) = stream.read(&mut probe) {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                let error = classify(tls.clone(), prepared.auth(), &endpoint.address);
                return Err(failed(error, &stream.conn));
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
    fn refusals_are_told_apart_by_what_was_sent_and_asked() {
        let alert = rustls::Error::AlertReceived;
        let auth = |sent, asked| ClientAuth { sent, asked };
        let c = |e, a| classify(e, a, "old.example:443");
        assert!(matches!(
            c(alert(AlertDescription::ProtocolVersion), auth(false, false)),
            Error::ObsoleteProtocol { .. }
        ));
        assert!(matches!(
            c(
                rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13.into(),
                auth(false, false)
            ),
            Error::ObsoleteProtocol { .. }
        ));
        // TLS 1.2: handshake_failure after our empty Certificate.
        assert!(matches!(
            c(alert(AlertDescription::HandshakeFailure), auth(false, true)),
            Error::ClientCertificateRequired(_)
        ));
        // Not asked, nothing sent: a handshake failure says nothing about certificates.
        assert!(matches!(
            c(
                alert(AlertDescription::HandshakeFailure),
                auth(false, false)
            ),
            Error::Handshake(_)
        ));
        // TLS 1.3: certificate_required names itself.
        assert!(matches!(
            c(
                alert(AlertDescription::CertificateRequired),
                auth(false, false)
            ),
            Error::ClientCertificateRequired(_)
        ));
        // A certificate sent and refused is refused, not missing.
        assert!(matches!(
            c(alert(AlertDescription::HandshakeFailure), auth(true, true)),
            Error::ClientRejected(_)
        ));
        assert!(matches!(
            c(
                alert(AlertDescription::CertificateRequired),
                auth(true, true)
            ),
            Error::ClientRejected(_)
        ));
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
    let mut s = match handshake(
        endpoint,
        recorder.clone(),
        None,
        AwaitRefusal::OfCertificateOrAbsence,
    ) {
        Ok(s) => s,
        Err(f) => {
            // A server that refuses us after proving its certificate (mutual TLS) still
            // showed it: the chain goes with the reason, to be judged all the same.
            let chain = recorder.proven_chain();
            if chain.is_empty() {
                return Err(f.error);
            }
            return Err(Error::AfterCertificate {
                chain,
                version: f.version,
                cipher_suite: f.cipher_suite,
                cause: Box::new(f.error),
            });
        }
    };
    let (version, cipher_suite) = negotiated(&s.conn);
    s.conn.send_close_notify();
    let _ = s.flush();
    Ok(Probe {
        chain: recorder.chain(),
        version,
        cipher_suite,
    })
}
