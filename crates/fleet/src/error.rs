//! Why a fleet operation was refused or failed, each variant carrying what an admin (or
//! the host's agent) needs.

/// Why a fleet or agent operation was refused or failed. Nothing was changed when one is
/// returned (a refused join is recorded in the audit log, nothing else).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's context (its store, its CA, a rule of the authority) refused or failed.
    #[error(transparent)]
    Node(#[from] certherd_authority::Error),
    /// Clearing a removed host's alarms failed.
    #[error(transparent)]
    Monitor(#[from] certherd_monitor::Error),
    /// More IP addresses given for one host than [`crate::MAX_HOST_IPS`].
    #[error("{given} IP addresses given for one host: at most {max} are accepted")]
    TooManyAddresses {
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
    /// This home (an agent's) has not joined a server.
    #[error("this home has not joined a server")]
    NotJoined,
    /// An agent-side entry that must hold a key holds none.
    #[error("the {0} entry has no key")]
    EntryWithoutKey(&'static str),
    /// The fleet server answered a join or renewal without the host certificate.
    #[error("the server sent no host certificate")]
    NoHostCertificate,
    /// A CSR whose signature does not verify under its own key.
    #[error("the CSR's signature does not verify")]
    CsrSignature,
    /// A host's pool-internal certificate is not acceptable.
    #[error("{}", match (why, host) {
        (PoolCertificateProblem::NotSelfSigned, Some(h)) => format!("a pool-internal certificate must be self-signed with CN {h}"),
        (PoolCertificateProblem::NotSelfSigned, None) => "the pool-internal certificate must be self-signed".to_owned(),
        (PoolCertificateProblem::Taken, _) => "that pool-internal certificate already belongs to another host".to_owned(),
    })]
    PoolCertificate {
        /// What is wrong with it.
        why: PoolCertificateProblem,
        /// The host whose common name it must carry, when that is the rule broken.
        host: Option<String>,
    },
    /// The pool and a joining host disagree about certificate verification.
    #[error("the pool's certificate verification is {} but this host's is {}; both sides must agree to join", on_off(*pool), on_off(*host))]
    VerificationMismatch {
        /// Whether the pool verifies.
        pool: bool,
        /// Whether the joining host verifies.
        host: bool,
    },
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
    /// A libvirt or QEMU layout was refused or could not be written.
    #[error(transparent)]
    Layout(#[from] crate::LayoutError),
}

// The context's own failures (store, X.509, a value's form) are the node's: wrapped as
// `certherd_authority::Error` would wrap them, so every caller maps them in one place.
impl From<certherd_store::Error> for Error {
    fn from(e: certherd_store::Error) -> Self {
        Self::Node(e.into())
    }
}

impl From<certherd_x509::Error> for Error {
    fn from(e: certherd_x509::Error) -> Self {
        Self::Node(e.into())
    }
}

impl From<certherd_core::Error> for Error {
    fn from(e: certherd_core::Error) -> Self {
        Self::Node(e.into())
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "enabled"
    } else {
        "disabled"
    }
}

/// What is wrong with a host's pool-internal certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolCertificateProblem {
    /// It is not self-signed (with the host's name as its CN).
    NotSelfSigned,
    /// Another host has pinned it already.
    Taken,
}
