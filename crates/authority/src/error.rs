//! The one error type of the node operations, each variant carrying what an admin needs.

use certherd_core::{EntryRef, OffsetDateTime};
use certherd_x509::Reason;

/// Why a node operation was refused or failed. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] certherd_store::Error),
    /// Building or parsing X.509 failed.
    #[error(transparent)]
    X509(#[from] certherd_x509::Error),
    /// The entry's certificate is not certherd's CA's to revoke.
    #[error("{entry} cannot be revoked: {why}")]
    NotRevocable {
        /// The entry.
        entry: EntryRef,
        /// Why not.
        why: crate::NotRevocable,
    },
    /// A value is not valid for the domain.
    #[error(transparent)]
    Core(#[from] certherd_core::Error),
    /// certherd.toml could not be used.
    #[error("{path}: {detail}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// No such entry.
    #[error("entry {0} does not exist")]
    NoSuchEntry(EntryRef),
    /// No such store.
    #[error("store '{0}' does not exist")]
    NoSuchStore(String),
    /// The entry exists already.
    #[error("entry {0} already exists (renew it, or delete it first)")]
    EntryExists(EntryRef),
    /// The hostname given to init is not a DNS name.
    #[error(
        "invalid hostname '{0}': expected a fully qualified DNS name such as node1.example.com"
    )]
    InvalidHostname(String),
    /// A host name given as an IP address literal: a host's name is its DNS name (the
    /// common name of its certificate); its addresses are given apart.
    #[error("'{0}' is an IP address, not a host name: give the host's DNS name, and its addresses as IP addresses (--ip, \"ips\")")]
    HostnameIsAddress(String),
    /// A host name longer than a common name may be (RFC 5280's ub-common-name, 64
    /// characters): it is the common name of the host's certificate.
    #[error("hostname '{name}' is {length} characters: it is the common name of the host's certificate, and RFC 5280 allows a common name of at most 64 characters (ub-common-name); give a name of at most 64")]
    HostnameTooLong {
        /// The name given.
        name: String,
        /// Its length in characters.
        length: usize,
    },
    /// A common name longer than RFC 5280's ub-common-name
    /// ([`certherd_x509::UB_COMMON_NAME`], 64 characters).
    #[error("{} is {length} characters, longer than the 64 RFC 5280 allows (ub-common-name)", if *from_name { "the common name (the first name, as none was given)" } else { "the common name" })]
    CommonNameTooLong {
        /// Its length in characters.
        length: usize,
        /// Whether it was taken from the first name because no common name was given.
        from_name: bool,
    },
    /// An empty common name: RFC 5280 gives a common name at least one character.
    #[error("{} is empty or only spaces; RFC 5280 requires a common name of 1 to 64 characters", if *from_name { "the common name (the first name, as none was given)" } else { "the common name" })]
    CommonNameEmpty {
        /// Whether it was taken from the first name because no common name was given.
        from_name: bool,
    },
    /// A certificate fingerprint given with a character that is not a hex digit.
    #[error("fingerprint '{input}' is not hex ('{character}' is not a hex digit): give the SHA-256 in hex, colons allowed")]
    FingerprintNotHex {
        /// What was given.
        input: String,
        /// The first character that is neither a hex digit nor a colon.
        character: char,
    },
    /// More subject alternative names asked for one certificate than [`crate::MAX_SANS`].
    #[error("{given} names given for one certificate: at most {max} subject alternative names are accepted")]
    TooManyNames {
        /// How many were given.
        given: usize,
        /// The most accepted.
        max: usize,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// No certificate in the input matches the pending key, or no leaf could be found.
    #[error("{0}")]
    NoCertificate(String),
    /// The certificate does not chain to a trusted root, or is otherwise invalid.
    #[error("certificate not accepted: {0}")]
    Untrusted(Reason),
    /// The certificate is expired at the instant of the operation.
    #[error("certificate expired at {} (now {})", certherd_x509::rfc3339(*not_after), certherd_x509::rfc3339(*now))]
    Expired {
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// The instant of the operation.
        now: OffsetDateTime,
    },
    /// The certificate is not valid yet.
    #[error("certificate not valid before {} (now {})", certherd_x509::rfc3339(*not_before), certherd_x509::rfc3339(*now))]
    NotYetValid {
        /// Its notBefore.
        not_before: OffsetDateTime,
        /// The instant of the operation.
        now: OffsetDateTime,
    },
    /// A machine-ssl certificate does not cover the node's hostname.
    #[error("certificate does not cover the node's hostname '{hostname}' (it covers: {names})")]
    HostnameNotCovered {
        /// The node's hostname.
        hostname: String,
        /// The names it covers.
        names: String,
    },
    /// The certificate's extended key usage does not fit the profile.
    #[error(
        "extended key usage [{present}] does not fit profile {profile}, which needs [{required}]"
    )]
    EkuMismatch {
        /// The profile.
        profile: String,
        /// What the profile needs.
        required: String,
        /// What the certificate has.
        present: String,
    },
    /// The inspection found critical problems; nothing was changed.
    #[error("{what} refused: {}", .findings.iter().map(|f| format!("{}: {}", f.kind, f.message)).collect::<Vec<_>>().join("; "))]
    Rejected {
        /// What was refused (`the certificate`, `the root CN=...`).
        what: String,
        /// Every critical finding.
        findings: Vec<certherd_inspect::Finding>,
    },
    /// A certificate given as a CA is not one.
    #[error("'{subject}' is not a CA certificate (basicConstraints CA:TRUE is missing)")]
    NotCa {
        /// Its subject.
        subject: String,
    },
    /// The entry cannot be renewed by certherd.
    #[error("{entry} cannot be renewed: {why}")]
    NotRenewable {
        /// The entry.
        entry: EntryRef,
        /// Why (the fact alone).
        why: &'static str,
        /// What the admin does instead, when there is a usual way (the CLI names its
        /// command).
        instead: Option<Instead>,
    },
    /// The entry is protected from this operation.
    #[error("{entry}: {why}")]
    Protected {
        /// The entry or object.
        entry: String,
        /// Why (the fact alone).
        why: &'static str,
        /// What the admin does instead, when there is a usual way (the CLI names its
        /// command).
        instead: Option<Instead>,
    },
    /// The node has no signing CA yet (subordinate mode before `ca import-signed`).
    #[error("the CA is not ready: {0}")]
    CaNotReady(&'static str),
    /// No object of this kind has that name.
    #[error("{}", what.not_found(name))]
    NotFound {
        /// What was looked for.
        what: ObjectKind,
        /// The name given.
        name: String,
    },
    /// An object of this kind has that name already.
    #[error("{}", what.exists(name))]
    AlreadyExists {
        /// What was to be created.
        what: ObjectKind,
        /// The name given.
        name: String,
    },
    /// A value given is not of its kind's form.
    #[error("{}", what.invalid(value))]
    InvalidValue {
        /// What kind of value.
        what: ValueKind,
        /// The value given.
        value: String,
    },
    /// A host is enrolled but has not joined yet.
    #[error("host '{0}' has not joined yet")]
    HostNotJoined(String),
    /// A signed CA certificate came, but no CA request waits for it.
    #[error("no CA request is pending (this node is not in subordinate mode, or the CA is already imported)")]
    NoPendingCaRequest,
    /// In subordinate mode the enterprise CA signs the CA: certherd makes no new one.
    #[error("in subordinate mode the enterprise CA signs certherd's CA")]
    SubordinateCa,
    /// An entry that must hold a private key holds none.
    #[error("{}", match (file, detail) {
        (Some(f), _) => format!("{entry} has no private key for {f}"),
        (None, Some(d)) => format!("{entry} holds no private key ({d})"),
        (None, None) => format!("{entry} holds no private key"),
    })]
    NoPrivateKey {
        /// The entry.
        entry: String,
        /// The file the key was wanted for, if any.
        file: Option<String>,
        /// What the entry is instead, if known.
        detail: Option<&'static str>,
    },
    /// A fingerprint prefix matches more than one trusted certificate.
    #[error("fingerprint prefix '{prefix}' matches {matches} certificates; give more digits")]
    AmbiguousFingerprint {
        /// The prefix given.
        prefix: String,
        /// How many certificates it matches.
        matches: usize,
    },
    /// A CRL older than the one held from the same issuer.
    #[error("this CRL (this update {}) is older than the one held from {issuer} (this update {})", certherd_x509::rfc3339(*this_update), certherd_x509::rfc3339(*held))]
    StaleCrl {
        /// The CRL's issuer.
        issuer: String,
        /// Its thisUpdate.
        this_update: OffsetDateTime,
        /// The held CRL's thisUpdate.
        held: OffsetDateTime,
    },
    /// An export's options do not fit together.
    #[error("{0}")]
    ExportOptions(ExportConflict),
    /// A PKCS#12 file to import holds no private key, or several.
    #[error("{}", if *keys == 0 { "the PKCS#12 file holds no private key" } else { "the PKCS#12 file holds several private keys; export the one you want" })]
    Pkcs12Keys {
        /// How many it holds.
        keys: usize,
    },
    /// A CA profile asked of an operation that issues leaves.
    #[error("profile {0} is a CA profile")]
    CaProfile(String),
    /// A CA certificate given to import as an entry.
    #[error("a CA certificate is trusted, not imported as an entry")]
    CaCertificateImport,
    /// Every backup alias of an entry is taken.
    #[error("no free backup alias for {0}")]
    NoFreeBackupAlias(EntryRef),
    /// A CRL is not signed by any trusted CA.
    #[error("the CRL from '{issuer}' is not signed by a trusted CA")]
    CrlUntrusted {
        /// Its issuer.
        issuer: String,
    },
    /// No trusted certificate matches the fingerprint.
    #[error("no trusted certificate has fingerprint {0}")]
    NoSuchTrust(String),
    /// No admin credential of this name is live (none was issued, or all are revoked).
    #[error("no live admin credential is named '{0}'")]
    NoSuchCredential(String),
}

/// The kinds of named objects an operation looks up or creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A store.
    Store,
    /// A fleet host.
    Host,
    /// A watched TLS endpoint.
    Endpoint,
    /// A key provider.
    KeyProvider,
}

impl ObjectKind {
    fn not_found(self, name: &str) -> String {
        match self {
            Self::Store => format!("store '{name}' does not exist"),
            Self::Host => format!("no host named '{name}'"),
            Self::Endpoint => format!("no endpoint named '{name}'"),
            Self::KeyProvider => format!("key provider '{name}' does not exist"),
        }
    }

    fn exists(self, name: &str) -> String {
        match self {
            Self::Store => format!("store '{name}' already exists"),
            Self::Host => format!("host '{name}' is already enrolled"),
            Self::Endpoint => format!("an endpoint named '{name}' already exists"),
            Self::KeyProvider => {
                format!("a key provider named '{name}' already exists; names are unique")
            }
        }
    }
}

/// The kinds of values checked for their form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// An export format (`pem`, `der`, `p12`).
    ExportFormat,
    /// A full SHA-256 thumbprint.
    Sha256,
    /// A fingerprint prefix, at least 8 hex digits.
    FingerprintPrefix,
    /// A key provider's primary key id.
    PrimaryKeyId,
}

impl ValueKind {
    fn invalid(self, value: &str) -> String {
        match self {
            Self::ExportFormat => format!("unknown format '{value}': expected pem, der or p12"),
            Self::Sha256 => format!(
                "'{value}' is not a SHA-256 thumbprint: expected 64 hexadecimal digits (colons allowed)"
            ),
            Self::FingerprintPrefix => format!(
                "fingerprint '{value}' is too short: give at least 8 hex digits of the SHA-256"
            ),
            Self::PrimaryKeyId => "--primary-key-id must not be empty".to_owned(),
        }
    }
}

/// Export options that do not fit together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportConflict {
    /// `--key-only` with a format other than PEM.
    #[error("--key-only writes the key as PEM: leave out --format, or use --format pem")]
    KeyOnlyNotPem,
    /// `--with-root` with DER.
    #[error("DER holds the certificate alone: --with-root applies to --format pem and p12")]
    DerWithRoot,
    /// `--key` with DER.
    #[error("DER holds one object: export the key with --format pem or --format p12")]
    DerWithKey,
    /// PKCS#12 without `--key`.
    #[error("a PKCS#12 bundle carries the private key: add --key (or use --format pem for the certificate alone)")]
    P12WithoutKey,
    /// PKCS#12 without a password.
    #[error("a PKCS#12 export needs a password (--password-file FILE)")]
    P12WithoutPassword,
}

/// What an admin does instead of a refused operation: the usual way, named as a fact so
/// that each interface words it (the CLI names its command, the admin API its route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Instead {
    /// Replace certherd's CA by rotating it.
    RotateCa,
    /// Finish the CA rotation in progress (a running server finishes it once every host
    /// has renewed).
    FinishRotation,
    /// Renew the entry (a new key and certificate from certherd's CA).
    Renew,
    /// Manage it as a trusted CA certificate.
    ManageTrust,
    /// Add a CA certificate to the trusted roots.
    AddTrust,
    /// Manage it as a CA (CA certificates are not leaves).
    ManageCa,
    /// Let the host's agent get it from the server.
    AgentRun,
    /// Renew it with its issuer and import the new certificate.
    ImportRenewed,
}
