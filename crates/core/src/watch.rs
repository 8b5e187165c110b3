//! Watched endpoints and files: certificates certherd did not issue but must see expire.

use time::OffsetDateTime;

use crate::{EntryRef, Severity, StoreName};

/// What is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// A TLS endpoint (HOST:PORT): an appliance, a key server, a backup product.
    Endpoint,
    /// A certificate file on this node's disk.
    File,
}

impl WatchKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Endpoint => "endpoint",
            Self::File => "file",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "endpoint" => Some(Self::Endpoint),
            "file" => Some(Self::File),
            _ => None,
        }
    }

    /// The store its certificates are kept in.
    pub fn store(self) -> StoreName {
        let name = match self {
            Self::Endpoint => StoreName::ENDPOINTS,
            Self::File => StoreName::FILES,
        };
        StoreName::builtin(name)
    }
}

/// One watched endpoint or file, with what its last scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Endpoint or file.
    pub kind: WatchKind,
    /// Its name: the endpoint's name, or the file certificate's alias.
    pub name: String,
    /// HOST:PORT, or the file's path.
    pub target: String,
    /// Endpoint: the name the certificate must cover (and the SNI sent), if not the host.
    pub server_name: Option<String>,
    /// Endpoint: whether its chain must reach a trusted root and cover the name.
    pub verify: bool,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// When it was last scanned.
    pub scanned_at: Option<OffsetDateTime>,
    /// The problem the last scan found, in words; `None` when it found none.
    pub problem: Option<Problem>,
    /// Facts from the last scan (TLS version, algorithms, path...), for display.
    pub detail: String,
}

/// What a scan found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A short machine-readable kind: `unreachable`, `not-tls`, `untrusted`, `name-mismatch`,
    /// `wrong-password`, `key-permissions`, `orphaned-key`, `unreadable`...
    pub kind: String,
    /// What an admin reads.
    pub message: String,
}

impl Watch {
    /// The inventory entry holding the certificate last seen.
    pub fn entry(&self) -> Option<EntryRef> {
        Some(EntryRef::new(self.kind.store(), self.name.parse().ok()?))
    }

    /// How bad its problem is: a verified endpoint that fails verification is critical
    /// (the integration stops, as XenServer's WLB does with `wlb-verify-cert`); anything
    /// else found is a warning.
    pub fn severity(&self) -> Severity {
        match &self.problem {
            None => Severity::Ok,
            Some(_) if self.verify => Severity::Critical,
            Some(_) => Severity::Warning,
        }
    }
}
