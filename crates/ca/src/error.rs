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
    #[error("fingerprint '{input}' is not hex ('{character}' is not a hex digit): give the SHA-256 in hex, colons allowed, as `certherd trust list` shows it")]
    FingerprintNotHex {
        /// What was given.
        input: String,
        /// The first character that is neither a hex digit nor a colon.
        character: char,
    },
    /// More IP addresses given for one host than [`crate::MAX_HOST_IPS`].
    #[error("{given} IP addresses given for one host: at most {max} are accepted")]
    TooManyAddresses {
        /// How many were given.
        given: usize,
        /// The most accepted.
        max: usize,
    },
    /// More subject alternative names asked for one certificate than [`crate::MAX_SANS`].
    #[error("{given} names given for one certificate: at most {max} subject alternative names are accepted")]
    TooManyNames {
        /// How many were given.
        given: usize,
        /// The most accepted.
        max: usize,
    },
    /// An IP address listed twice for one host.
    #[error("the IP address {address} is given twice")]
    DuplicateAddress {
        /// The address.
        address: std::net::IpAddr,
    },
    /// A join token lifetime outside 1h..=720h ([`certherd_core::MIN_TOKEN_TTL`],
    /// [`certherd_core::MAX_TOKEN_TTL`]).
    #[error("a join token's lifetime must be from 1h to 720h (30 days), not {seconds}s")]
    TokenTtl {
        /// The lifetime asked for, in seconds.
        seconds: i64,
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
        /// Why.
        why: &'static str,
    },
    /// The entry is protected from this operation.
    #[error("{entry}: {why}")]
    Protected {
        /// The entry or object.
        entry: String,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// The node has no signing CA yet (subordinate mode before `ca import-signed`).
    #[error("the CA is not ready: {0}")]
    CaNotReady(&'static str),
    /// The request is wrong in a way the message explains.
    #[error("{0}")]
    Invalid(String),
    /// A join token was refused.
    #[error(transparent)]
    Token(#[from] certherd_core::TokenError),
    /// A host asked for names it was not enrolled for.
    #[error("host {host} asked for {asked}, but is enrolled only for {enrolled}")]
    NotEnrolled {
        /// The host.
        host: String,
        /// The names it asked for that it may not have.
        asked: String,
        /// The names it may have.
        enrolled: String,
    },
    /// A host's key is not of the algorithm the server's `host` profile sets
    /// (`[profiles.host] key_algo`).
    #[error("the server's host profile sets key_algo = {wanted} (every host key of this fleet is {wanted}), but host {host} asked with an {asked} key: join without --key-algo, or with --key-algo {wanted}")]
    HostKeyAlgorithm {
        /// The host.
        host: String,
        /// The key it asked with (`ecdsa-p256`, or a description of a key certherd does
        /// not make).
        asked: String,
        /// The algorithm the host profile sets.
        wanted: certherd_x509::KeyAlgorithm,
    },
    /// A client certificate that is no host's pinned pool-internal certificate.
    #[error("the client certificate (SHA-256 {0}) is not the pinned identity of any host; a removed host must be added and joined again")]
    UnknownPeer(String),
    /// A CRL is not signed by any trusted CA.
    #[error("the CRL from '{issuer}' is not signed by a trusted CA; add the CA with `certherd trust add` first")]
    CrlUntrusted {
        /// Its issuer.
        issuer: String,
    },
    /// No trusted certificate matches the fingerprint.
    #[error("no trusted certificate has fingerprint {0}")]
    NoSuchTrust(String),
    /// No admin credential of this name is live (none was issued, or all are revoked).
    #[error("no live admin credential is named '{0}' (see `certherd admin credential list`)")]
    NoSuchCredential(String),
    /// A libvirt or QEMU layout was refused or could not be written.
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
}

impl Error {
    /// A short hint for the CLI's second line, when there is a usual next step.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Self::Store(certherd_store::Error::NotInitialized { .. }) => "run `certherd init --hostname FQDN` first, or pass --home",
            Self::Store(certherd_store::Error::AlreadyInitialized { .. }) => "use another --home, or remove the old home if you really mean to start over",
            Self::NoSuchEntry(_) => "`certherd cert list` shows the entries",
            Self::NoSuchStore(_) => "`certherd store list` shows the stores",
            Self::Untrusted(_) => "add the issuing CA with `certherd trust add CA.pem`, or pass the intermediates with --chain",
            Self::EkuMismatch { .. } => "issue the certificate with the EKUs the profile needs, or import it under another profile with --profile",
            Self::CommonNameTooLong { .. } => "give a common name of at most 64 characters (--cn; common_name in the API); longer DNS names belong in the SANs only",
            Self::CaNotReady(_) => "complete subordinate mode with `certherd ca import-signed CERT --chain ROOT.pem`",
            _ => return None,
        })
    }
}
