//! The server crate's error.

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
}
