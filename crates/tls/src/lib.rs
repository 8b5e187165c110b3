//! rustls at certherd's edge: fetching the chain a server presents, verifying a server
//! against pinned certificates, and connecting with a client identity — each failure
//! classified so an admin knows whether the network, the server's trust in us, or our
//! trust in the server is at fault.
//!
//! Blocking I/O over `std::net`, with timeouts (the HTTP client runs hyper on a runtime of
//! its own behind its blocking API); one crypto provider, aws-lc-rs.
#![forbid(unsafe_code)]

mod connect;
mod error;
pub mod http;
mod starttls;
mod verifier;

/// The one `HOST:PORT` type, from the lowest crate (the fleet protocol needs it too), named
/// here where the TLS edge's users look for it.
pub use certherd_protocol::{HostPort, HostPortError, HostPortProblem};
pub use connect::{
    connect, connect_for_request, fetch_chain, probe, Endpoint, Identity, Probe, TlsStream,
};
pub use error::Error;
/// The TLS library's own error, for callers that classify failures after the handshake.
pub use rustls::Error as RustlsError;
pub use starttls::{StartTls, UnknownStartTls};
pub use verifier::{anchored, with_presented_names, PinnedServer, RecordingVerifier};
