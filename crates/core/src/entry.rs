//! What the inventory knows about one entry, without its certificate or key bytes.

use time::OffsetDateTime;

use crate::EntryRef;

/// How an entry came to be in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Issued (or self-signed) by certherd: renewed automatically.
    Issued,
    /// Imported by an admin: monitored, never renewed automatically.
    Imported,
    /// A trusted CA certificate (trusted-roots).
    Trusted,
    /// Seen on a watched endpoint or in a watched file: monitored, renewed by its owner.
    Watched,
}

impl Source {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Imported => "imported",
            Self::Trusted => "trusted",
            Self::Watched => "watched",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "issued" => Some(Self::Issued),
            "imported" => Some(Self::Imported),
            "trusted" => Some(Self::Trusted),
            "watched" => Some(Self::Watched),
            _ => None,
        }
    }
}

/// Whether an entry holds a certificate with a private key, or a certificate alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Certificate and private key.
    KeyPair,
    /// Certificate only.
    Certificate,
}

/// The facts about one entry that listing, checking and planning need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// Where it lives.
    pub entry: EntryRef,
    /// With or without key.
    pub kind: EntryKind,
    /// The profile it was issued under, if any.
    pub profile: Option<String>,
    /// Issued, imported or trusted.
    pub source: Source,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// SHA-256 of the certificate, hex.
    pub sha256: String,
    /// SHA-256 of the CA certificate that issued it, when certherd's CA did.
    pub issuer_sha256: Option<String>,
    /// When the entry was written under its current name (for a backup entry: when it
    /// was superseded).
    pub stored_at: OffsetDateTime,
}

impl EntryMeta {
    /// Whether certherd renews this entry on its own.
    pub fn renews_automatically(&self) -> bool {
        self.source == Source::Issued && !self.entry.store.is_backup()
    }
}
