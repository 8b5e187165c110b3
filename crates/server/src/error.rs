//! The server crate's errors.

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node or its TLS identity is not usable.
    #[error("{0}")]
    Setup(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// A `[fleet] servers` entry of certherd.toml is not `https://HOST:PORT`.
    #[error("certherd.toml: [fleet] servers: {0}")]
    FleetServer(#[from] certherd_protocol::InvalidUrl),
    /// A setting of certherd.toml the server reads at start is out of its bounds.
    #[error("certherd.toml: {0}")]
    Settings(certherd_core::Error),
    /// The node could not be opened.
    #[error(transparent)]
    Open(Seam),
    /// A node operation at start (the server's identity) failed.
    #[error(transparent)]
    Node(#[from] certherd_authority::Error),
    /// `--hostname` is not a name an entry alias can hold.
    #[error("invalid --hostname '{0}': expected a host name of at most 64 letters, digits, '.', '-' (it names the entry machine-ssl/HOSTNAME)")]
    Hostname(String),
    /// A thread of the server could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// Why one of the server's seams failed: opening the node, writing the audit log,
/// delivering a notification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Seam {
    /// The store could not be opened or written.
    #[error(transparent)]
    Store(#[from] certherd_store::Error),
    /// A node operation failed.
    #[error(transparent)]
    Node(#[from] certherd_authority::Error),
    /// The caller's node opener refused (its own error, e.g. certherd.toml not valid).
    #[error("{0}")]
    Open(Box<dyn std::error::Error + Send + Sync>),
    /// The store was used outside a database thread (a bug).
    #[error("the store used outside a database thread")]
    NoDatabaseThread,
    /// The audit thread has ended.
    #[error("the audit thread has ended")]
    AuditThreadEnded,
    /// The audit thread's queue is poisoned (a thread panicked holding it).
    #[error("the audit thread's queue is poisoned")]
    AuditQueuePoisoned,
    /// An HTTP exchange failed (a webhook's URL, connection or answer).
    #[error(transparent)]
    Http(#[from] certherd_tls::http::Error),
    /// A notification was not delivered.
    #[error(transparent)]
    Delivery(#[from] certherd_monitor::lifecycle::DeliveryError),
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
