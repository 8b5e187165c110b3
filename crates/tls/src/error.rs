//! The one error type of the TLS edge, classified for troubleshooting.

use std::io;

use pki_types::CertificateDer;

use crate::StartTls;

/// Why a TLS connection failed, in the terms of seed 004's troubleshooting rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not a valid HOST:PORT.
    #[error(transparent)]
    Address(#[from] certherd_protocol::HostPortError),
    /// The server name to send (SNI) and check is neither a DNS name nor an IP address.
    #[error("invalid server name '{0}': expected a DNS name or an IP address")]
    ServerName(String),
    /// No TCP connection could be made (refused, timed out, no route, DNS).
    #[error("unreachable: {address}: {source}")]
    Unreachable {
        /// The address tried.
        address: String,
        /// The OS error.
        source: io::Error,
    },
    /// The HTTP CONNECT proxy refused or failed.
    #[error("proxy {proxy} did not open a tunnel to {target}: {detail}")]
    Proxy {
        /// The proxy.
        proxy: String,
        /// The target.
        target: String,
        /// What the proxy said.
        detail: String,
    },
    /// The server's certificate is not one we trust.
    #[error("server certificate not trusted: {0}")]
    ServerNotTrusted(String),
    /// The server's certificate does not hold the name it was reached by.
    #[error("{address} presents a certificate for {}, not {expected}", if presented.is_empty() { "no name".to_owned() } else { presented.join(", ") })]
    NameMismatch {
        /// The address dialled (HOST:PORT).
        address: String,
        /// The name checked (the host of the address, or the server name given).
        expected: String,
        /// The names the certificate holds (its subjectAltName entries).
        presented: Vec<String>,
    },
    /// The server refused our client certificate (or the lack of one).
    #[error("the server refused our client certificate ({0})")]
    ClientRejected(String),
    /// The server asked for a client certificate, none was sent, and it ended the
    /// handshake: it admits only clients with a certificate (mutual TLS).
    #[error("the server requires a client certificate and none was sent ({0})")]
    ClientCertificateRequired(String),
    /// The server speaks only TLS versions older than 1.2, which RFC 8996 deprecates and
    /// certherd (as every current client) does not offer: a server configuration problem.
    #[error("{address} offers only TLS versions older than 1.2 (RFC 8996 deprecates TLS 1.0 and 1.1): {detail}")]
    ObsoleteProtocol {
        /// The address tried.
        address: String,
        /// How the server showed it.
        detail: String,
    },
    /// The handshake failed after the server presented its certificate: the chain is kept
    /// so it can still be judged, beside the reason the session did not open.
    #[error("{cause}")]
    AfterCertificate {
        /// The chain the server presented, leaf first (its handshake signature verified).
        chain: Vec<CertificateDer<'static>>,
        /// The protocol version negotiated, e.g. `TLSv1_2`.
        version: String,
        /// The cipher suite negotiated.
        cipher_suite: String,
        /// Why the handshake failed, classified as without a chain.
        cause: Box<Error>,
    },
    /// The TLS handshake failed for another reason (no common version or cipher suite...).
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The connection failed after the handshake.
    #[error("I/O error after the handshake: {0}")]
    Io(io::Error),
    /// The client identity could not be used.
    #[error("client identity unusable: {0}")]
    Identity(String),
    /// The port answered, but not with TLS (a plaintext service, or silence).
    #[error("{address} does not speak TLS: {detail}")]
    NotTls {
        /// The address tried.
        address: String,
        /// What was seen instead of a TLS answer.
        detail: String,
    },
    /// The server speaks the STARTTLS protocol but declines to start TLS (PostgreSQL with
    /// `ssl = off`, an SMTP server without STARTTLS, an LDAP server without a certificate).
    #[error("STARTTLS: the {} server refuses TLS: {detail}", protocol.name())]
    StartTlsRefused {
        /// The protocol spoken.
        protocol: StartTls,
        /// What the server answered.
        detail: String,
    },
    /// The port does not answer as the STARTTLS protocol does (it speaks something else,
    /// or nothing within the timeout).
    #[error("STARTTLS: the port does not speak {}: {detail}", protocol.name())]
    StartTlsUnexpected {
        /// The protocol expected.
        protocol: StartTls,
        /// What the port answered instead, or that it did not answer.
        detail: String,
    },
}

impl Error {
    /// Why the connection failed: the cause of [`Error::AfterCertificate`], else itself.
    pub fn cause(&self) -> &Error {
        match self {
            Self::AfterCertificate { cause, .. } => cause,
            other => other,
        }
    }

    /// Classifies an I/O error from reading or writing an established stream: a TLS alert
    /// refusing our certificate becomes [`Error::ClientRejected`].
    pub fn from_io(e: io::Error) -> Self {
        if let Some(rustls::Error::AlertReceived(a)) =
            e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Self::ClientRejected(format!("alert {a:?} after the handshake"));
        }
        Self::Io(e)
    }
}
