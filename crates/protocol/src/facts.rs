//! The facts a scan records besides its findings, as typed fields (never `k=v` text):
//! stored with each watch, and sent as they are in the admin API's endpoint rows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a TLS scan saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TlsFacts {
    /// The protocol version, e.g. `TLSv1_3`.
    pub tls_version: String,
    /// The cipher suite negotiated.
    pub cipher_suite: String,
    /// The STARTTLS protocol used before the handshake, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<String>,
    /// The leaf's public key, e.g. `ECDSA P-256`.
    pub key: String,
    /// The leaf's signature algorithm.
    pub signature: String,
    /// How many certificates the server sent.
    pub chain_length: usize,
    /// Whether the chain reaches a trusted root (or the leaf is pinned), whatever the dates.
    pub trusted: bool,
    /// Whether the leaf matches the endpoint's pin.
    #[serde(default)]
    pub pinned: bool,
    /// The name checked (the SNI sent, or the host).
    pub name: String,
    /// Whether the leaf's SANs cover that name.
    pub covers_name: bool,
}

/// What a file scan saw in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileFacts {
    /// `PEM`, `DER` or `PKCS#12`.
    pub format: String,
    /// How many certificates it holds.
    pub certificates: usize,
    /// How many private keys it holds.
    pub keys: usize,
    /// Whether it holds more than one certificate.
    pub bundle: bool,
    /// Whether it is an encrypted PKCS#12 file that could not be opened.
    #[serde(default)]
    pub locked: bool,
    /// Symbolic links found in the scan that lead to this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// The facts of a watch's last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Facts {
    /// Not scanned, or the scan failed before anything was seen.
    #[default]
    None,
    /// A TLS endpoint.
    Tls(TlsFacts),
    /// A file.
    File(FileFacts),
}
