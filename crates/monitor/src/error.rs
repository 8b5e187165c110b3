//! Why a monitoring operation on a node (watches, alarms, the notification outbox, key
//! providers) was refused or failed.

/// Why a monitoring operation on a node was refused or failed. Nothing was changed when
/// one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's context (its store, a rule of the authority) refused or failed.
    #[error(transparent)]
    Node(#[from] certherd_authority::Error),
    /// The address is a KMIP server of the provider already.
    #[error("{address} is already a server of '{provider}'")]
    KmipServerExists {
        /// The key provider.
        provider: String,
        /// The server's address.
        address: String,
    },
    /// The address is not a KMIP server of the provider.
    #[error("{address} is not a server of '{provider}'")]
    NoSuchKmipServer {
        /// The key provider.
        provider: String,
        /// The address given.
        address: String,
    },
    /// A key provider has no client certificate yet.
    #[error("'{0}' has no client certificate yet")]
    NoClientCertificate(String),
    /// A signed client certificate came without a key, and no CSR of the provider waits.
    #[error("no CSR is pending for '{0}'")]
    NoPendingCsr(String),
    /// A server presents another certificate than the thumbprint given.
    #[error("{address} presents a certificate with SHA-256 {sha256} and SHA-1 {sha1}, not the thumbprint given; nothing was trusted")]
    ThumbprintMismatch {
        /// The server.
        address: String,
        /// The presented certificate's SHA-256.
        sha256: String,
        /// Its SHA-1.
        sha1: String,
    },
    /// A TLS endpoint completed a handshake without presenting a certificate.
    #[error("the endpoint presented no certificate")]
    NothingPresented,
    /// An endpoint presents another certificate than the one to pin.
    #[error(
        "{target} presents a certificate with SHA-256 {sha256}, not {given}; nothing was pinned"
    )]
    PinMismatch {
        /// The endpoint's HOST:PORT.
        target: String,
        /// The presented certificate's SHA-256.
        sha256: String,
        /// The SHA-256 given.
        given: String,
    },
}

// The store's failures are the node's: wrapped as `certherd_authority::Error` wraps them, so
// every caller maps them in one place.
impl From<certherd_store::Error> for Error {
    fn from(e: certherd_store::Error) -> Self {
        Self::Node(e.into())
    }
}

impl From<certherd_core::Error> for Error {
    fn from(e: certherd_core::Error) -> Self {
        Self::Node(e.into())
    }
}

impl From<certherd_x509::Error> for Error {
    fn from(e: certherd_x509::Error) -> Self {
        Self::Node(e.into())
    }
}
