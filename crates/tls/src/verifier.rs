//! Server certificate verifiers: one that records what is presented (to show it before it
//! is trusted), and one that accepts only pinned certificates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

/// Accepts any server certificate and records the chain presented. Only for looking at a
/// server before deciding to trust it: the handshake signature is still verified, so the
/// recorded certificate belongs to the peer that answered.
#[derive(Debug, Default)]
pub struct RecordingVerifier {
    seen: Mutex<Vec<CertificateDer<'static>>>,
    /// Whether the peer's handshake signature verified with the recorded leaf's key.
    signed: AtomicBool,
}

impl RecordingVerifier {
    /// The chain presented by the last handshake, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The chain presented, only once the peer proved it holds the leaf's key (its
    /// handshake signature verified): what a handshake that failed afterwards still shows.
    pub fn proven_chain(&self) -> Vec<CertificateDer<'static>> {
        if self.signed.load(Ordering::SeqCst) {
            self.chain()
        } else {
            Vec::new()
        }
    }

    fn signature(
        &self,
        r: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if r.is_ok() {
            self.signed.store(true, Ordering::SeqCst);
        }
        r
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.signed.store(false, Ordering::SeqCst);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(verify_tls12_signature(message, cert, dss, &algorithms()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(verify_tls13_signature(message, cert, dss, &algorithms()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

/// Accepts a server only if its leaf certificate is one of the pinned certificates
/// (trust on first contact, as XenServer pools and vSphere key providers do).
#[derive(Debug)]
pub struct PinnedServer {
    pinned: Vec<CertificateDer<'static>>,
    /// What the server presented when it was refused, for the error message.
    refused: Mutex<Option<CertificateDer<'static>>>,
}

impl PinnedServer {
    /// A verifier trusting exactly these certificates.
    pub fn new(pinned: Vec<CertificateDer<'static>>) -> Arc<Self> {
        Arc::new(Self {
            pinned,
            refused: Mutex::new(None),
        })
    }

    /// The certificate presented in a refused handshake, if any.
    pub fn refused(&self) -> Option<CertificateDer<'static>> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(end_entity.clone().into_owned());
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

/// `e` as a verifier returns it, with a name mismatch's presented names read from
/// `end_entity` (in its subjectAltName's order, as an admin writes them): webpki lists them
/// only as its Debug text (`DnsName("...")`), which no message should show and nothing
/// should parse. Every other error is returned as it is.
pub fn with_presented_names(e: rustls::Error, end_entity: &CertificateDer<'_>) -> rustls::Error {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            expected,
            ..
        }) => rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            expected,
            presented: certherd_x509::presented_names(end_entity),
        }),
        other => other,
    }
}

/// rustls' webpki verifier, with a name mismatch's names as written (see
/// [`with_presented_names`]).
#[derive(Debug)]
struct Anchored(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for Anchored {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map_err(|e| with_presented_names(e, end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The standard verifier (rustls-webpki: chain to `anchors`, validity, name), for servers
/// certherd should trust the usual way, such as a webhook receiver behind HTTPS.
pub fn anchored(
    anchors: Vec<CertificateDer<'static>>,
) -> Result<Arc<dyn ServerCertVerifier>, crate::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for a in anchors {
        roots
            .add(a)
            .map_err(|e| crate::Error::Handshake(format!("a trusted root is unusable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let v = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| crate::Error::Handshake(format!("no trusted roots to verify with: {e}")))?;
    Ok(Arc::new(Anchored(v)))
}
