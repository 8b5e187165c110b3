//! Key providers (seed 002): a named set of KMIP servers holding the keys of encrypted
//! VMs, the trust between them and certherd, and the health verdict.

use std::fmt;
use std::str::FromStr;

use crate::{Alias, EntryRef, Error, StoreName};

/// A key provider's name: unique across the node, usable in a store name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderName(String);

impl ProviderName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProviderName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        // "kmip-" + name must itself be a valid store name.
        if s.len() <= 59
            && format!("kmip-{s}").parse::<StoreName>().is_ok()
            && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::Name {
                what: "key provider name",
                input: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A HOST:PORT address (IPv6 in brackets): the one address type, under the name the key
/// provider code has always used for it.
pub type ServerAddress = certherd_protocol::HostPort;

/// One KMIP server of a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmipServer {
    /// Where it listens.
    pub address: ServerAddress,
    /// An HTTP CONNECT proxy to reach it through, if any.
    pub proxy: Option<ServerAddress>,
}

/// A key provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyProvider {
    /// Its unique name.
    pub name: ProviderName,
    /// The primary key's id on the key server (a UUID there).
    pub primary_key_id: String,
    /// Its KMIP servers.
    pub servers: Vec<KmipServer>,
}

impl KeyProvider {
    /// The store holding this provider's client certificate and trusted server certificates.
    pub fn store(&self) -> Result<StoreName, Error> {
        store_of(&self.name)
    }

    /// The entry of the client certificate the key server must trust.
    pub fn client_entry(&self) -> Result<EntryRef, Error> {
        Ok(EntryRef::new(self.store()?, "client".parse::<Alias>()?))
    }

    /// The entry pinning a server's certificate.
    pub fn server_entry(&self, address: &ServerAddress) -> Result<EntryRef, Error> {
        let host: String = address
            .host()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let text: String = format!("server.{host}.{}", address.port())
            .chars()
            .take(64)
            .collect();
        Ok(EntryRef::new(self.store()?, text.parse::<Alias>()?))
    }
}

/// The store of a provider's certificates.
pub fn store_of(name: &ProviderName) -> Result<StoreName, Error> {
    format!("kmip-{name}").parse()
}

/// The outcome of checking one KMIP server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerCheck {
    /// Mutual TLS opened and KMIP answered.
    Ok {
        /// Protocol versions the server supports, e.g. `1.2`.
        versions: Vec<String>,
        /// Its vendor identification, if it said.
        vendor: Option<String>,
    },
    /// No TCP connection.
    Unreachable(String),
    /// The server refused our client certificate.
    ClientRejected(String),
    /// We do not trust the server's certificate (none trusted yet, or it changed).
    ServerNotTrusted {
        /// Whether a certificate was trusted before and the server now presents another.
        changed: bool,
        /// SHA-256 of what the server presented, if known.
        presented_sha256: Option<String>,
    },
    /// KMIP answered with an error.
    KmipError {
        /// The result reason.
        reason: String,
        /// The result message.
        message: String,
    },
    /// Anything else (handshake without a common suite, protocol garbage...).
    Failed(String),
}

impl ServerCheck {
    /// Whether this server is healthy.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }

    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ok { .. } => "ok",
            Self::Unreachable(_) => "unreachable",
            Self::ClientRejected(_) => "client-certificate-refused",
            Self::ServerNotTrusted { changed: true, .. } => "server-certificate-changed",
            Self::ServerNotTrusted { .. } => "server-certificate-not-trusted",
            Self::KmipError { .. } => "kmip-error",
            Self::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for ServerCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok { versions, vendor } => write!(
                f,
                "OK: mutual TLS and KMIP work (versions {}{})",
                versions.join(", "),
                vendor
                    .as_ref()
                    .map(|v| format!(", vendor {v}"))
                    .unwrap_or_default()
            ),
            Self::Unreachable(d) => write!(f, "unreachable: {d}"),
            Self::ClientRejected(d) => {
                write!(f, "the key server refused our client certificate ({d})")
            }
            Self::ServerNotTrusted {
                changed: true,
                presented_sha256,
            } => write!(
                f,
                "the server's certificate changed since it was trusted (now SHA-256 {})",
                presented_sha256.as_deref().unwrap_or("unknown")
            ),
            Self::ServerNotTrusted { changed: false, .. } => {
                f.write_str("the server's certificate is not trusted yet")
            }
            Self::KmipError { reason, message } => write!(f, "KMIP error: {reason}: {message}"),
            Self::Failed(d) => write!(f, "failed: {d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        assert!("prod-kms".parse::<ProviderName>().is_ok());
        assert!("bad name".parse::<ProviderName>().is_err());
        assert!("x".repeat(60).parse::<ProviderName>().is_err());
        let a: ServerAddress = "KMS1.example.com:5696".parse().unwrap();
        assert_eq!(a.to_string(), "kms1.example.com:5696");
        let v6: ServerAddress = "[::1]:5696".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:5696");
        for bad in ["kms", "kms:0", "kms:70000", ":5696", "a b:1", "::1:5696"] {
            assert!(bad.parse::<ServerAddress>().is_err(), "{bad}");
        }
        let p = KeyProvider {
            name: "prod".parse().unwrap(),
            primary_key_id: "k".into(),
            servers: vec![],
        };
        assert_eq!(p.client_entry().unwrap().to_string(), "kmip-prod/client");
        assert_eq!(
            p.server_entry(&v6).unwrap().to_string(),
            "kmip-prod/server.__1.5696"
        );
    }
}
