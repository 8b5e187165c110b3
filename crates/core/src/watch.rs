//! Watched endpoints and files: certificates certherd did not issue but must see expire.

use time::OffsetDateTime;

use certherd_inspect::{Facts, Finding};

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
    /// Endpoint: the STARTTLS protocol spoken before the handshake (`postgres`, `ldap`,
    /// `smtp`), if any.
    pub starttls: Option<String>,
    /// Endpoint: the SHA-256 thumbprint (lower-case hex) of the certificate it is pinned to.
    pub pin: Option<String>,
    /// Every finding of the last scan, worst first; empty when it found nothing.
    pub findings: Vec<Finding>,
    /// The facts of the last scan (TLS version, algorithms, file format...).
    pub facts: Facts,
}

impl Watch {
    /// The inventory entry holding the certificate last seen.
    pub fn entry(&self) -> Option<EntryRef> {
        Some(EntryRef::new(self.kind.store(), self.name.parse().ok()?))
    }

    /// How bad its last scan's findings are. The findings' severities already say whether
    /// clients verify it (a verified endpoint's untrusted chain is critical, a scanned one's
    /// a warning); information is not a problem.
    pub fn severity(&self) -> Severity {
        match certherd_inspect::worst(&self.findings) {
            Some(certherd_inspect::Severity::Critical) => Severity::Critical,
            Some(certherd_inspect::Severity::Warning) => Severity::Warning,
            _ => Severity::Ok,
        }
    }

    /// Whether its last scan found a warning or worse.
    pub fn has_problem(&self) -> bool {
        self.findings.iter().any(Finding::is_problem)
    }

    /// The worst finding, for one-line displays.
    pub fn worst_finding(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.is_problem())
    }
}
