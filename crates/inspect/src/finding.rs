//! What an inspection reports: findings with a kind, a severity, a message and a hint.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Info < Warning < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing, nothing to fix (the server sends its root).
    Info,
    /// Fix it before it becomes critical (expiring within 30 days, a weak profile).
    Warning,
    /// Something fails now, or within 7 days, for a client that verifies.
    Critical,
}

impl Severity {
    /// The name shown in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $v:ident = $s:literal ),+ $(,)?) => {
        /// What a finding is about. The kebab-case names are stable: scripts match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum FindingKind {
            $( $(#[$doc])* $v, )+
        }

        impl FindingKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$v),+];

            /// The stable kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$v => $s, )+ }
            }

            /// Parses a stable name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $s => Some(Self::$v), )+ _ => None }
            }
        }
    };
}

kinds! {
    /// A certificate of the chain is past its notAfter.
    Expired = "expired",
    /// A certificate of the chain is before its notBefore.
    NotYetValid = "not-yet-valid",
    /// A certificate of the chain expires within the warning threshold.
    Expiring = "expiring",
    /// The certificate signed itself and is not trusted or pinned.
    SelfSigned = "self-signed",
    /// The chain ends at a root that is not trusted.
    UntrustedIssuer = "untrusted-issuer",
    /// The chain stops at a certificate whose issuer was not sent and is not trusted.
    IncompleteChain = "incomplete-chain",
    /// The server sends its root certificate (harmless; clients use their own).
    AnchorSent = "anchor-sent",
    /// The certificate does not cover the name used to reach it.
    NameMismatch = "name-mismatch",
    /// The certificate has no subjectAltName; clients ignore the CN.
    NoSan = "no-san",
    /// A CA certificate (basicConstraints CA:TRUE) is used as the end-entity certificate.
    CaAsLeaf = "ca-as-leaf",
    /// A key too weak to trust (RSA under 2048 bits, DSA, unusual curves).
    WeakKey = "weak-key",
    /// A signature with a broken hash (SHA-1, MD5).
    WeakSignature = "weak-signature",
    /// A certificate that is not a CA issued another.
    IssuerNotCa = "issuer-not-ca",
    /// An issuer whose keyUsage lacks keyCertSign.
    IssuerLacksKeycertsign = "issuer-lacks-keycertsign",
    /// A pathLenConstraint is exceeded.
    PathLength = "path-length",
    /// A name in the chain violates an issuer's name constraints.
    NameConstraints = "name-constraints",
    /// The certificate policies of the chain do not permit the path.
    Policy = "policy",
    /// The extended key usage does not allow the purpose.
    EkuUnfit = "eku-unfit",
    /// A certificate is revoked by a trusted CRL.
    Revoked = "revoked",
    /// The revocation status of a certificate could not be determined from the CRLs, and
    /// it had to be (`verify --crl-check-all`).
    RevocationUnknown = "revocation-unknown",
    /// The endpoint presents another certificate than the one pinned.
    PinMismatch = "pin-mismatch",
    /// A signature in the chain does not verify.
    BadSignature = "bad-signature",
    /// The chain fails validation for another reason (named in the message).
    InvalidChain = "invalid-chain",
    /// A rule of the RFC 5280 profile that is a SHOULD (missing key identifiers, serial size).
    Profile = "profile",
    /// The common name is longer than RFC 5280's ub-common-name (64 characters): path
    /// validators accept it, so it warns without failing `verify`.
    LongCommonName = "long-common-name",
    /// A certificate could not be decoded.
    Malformed = "malformed",
    /// No TCP connection could be made.
    Unreachable = "unreachable",
    /// The port answered, but not with TLS.
    NotTls = "not-tls",
    /// The server speaks the STARTTLS protocol but declined (or did not offer) TLS.
    StarttlsRefused = "starttls-refused",
    /// The server offers only TLS versions older than 1.2 (RFC 8996 deprecates 1.0 and
    /// 1.1): a server configuration problem that current clients refuse.
    ObsoleteProtocol = "obsolete-protocol",
    /// The TLS handshake failed for another reason.
    TlsHandshake = "tls-handshake",
    /// The server requires a client certificate we did not send.
    ClientCertificateRequired = "client-certificate-required",
    /// The server presented no certificate.
    NoCertificate = "no-certificate",
    /// A PKCS#12 file could not be opened with the password given (or none).
    WrongPassword = "wrong-password",
    /// A file holding a private key is readable by group or others.
    KeyPermissions = "key-permissions",
    /// A private key matches no certificate found.
    OrphanedKey = "orphaned-key",
    /// The file could not be read.
    Unreadable = "unreadable",
    /// The file looks like a certificate or key but does not decode.
    Damaged = "damaged",
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FindingKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding kind '{s}'")))
    }
}

/// One thing an inspection found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// How bad it is.
    pub severity: Severity,
    /// The facts, in words: both names on a mismatch, days and hours left, which certificate.
    pub message: String,
    /// What to do next, as a command where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The subject of the certificate it is about, when it is one certificate of a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Finding {
    /// A finding without a hint or subject.
    pub fn new(kind: FindingKind, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            kind,
            severity,
            message: message.into(),
            hint: None,
            subject: None,
        }
    }

    /// The same finding with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether it needs attention (a warning or worse).
    pub fn is_problem(&self) -> bool {
        self.severity >= Severity::Warning
    }
}

/// Kinds that explain the most come first among findings of equal severity: a lapsed
/// certificate before the trust and name problems that a client would also hit.
fn rank(kind: FindingKind) -> u8 {
    match kind {
        FindingKind::Expired | FindingKind::NotYetValid => 0,
        FindingKind::Revoked | FindingKind::PinMismatch => 1,
        FindingKind::Expiring => 2,
        _ => 3,
    }
}

/// The worst finding first; among equal severities the most telling kind (expiry), then
/// the order they were found in.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(rank(a.kind).cmp(&rank(b.kind)))
    });
}

/// The worst severity among findings that need attention, if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings
        .iter()
        .filter(|f| f.is_problem())
        .map(|f| f.severity)
        .max()
}

/// The FINDING column of a table: the worst finding's kind and how many more need attention
/// (`expired (+2)`), or `ok` when nothing is a warning or worse.
pub fn summary(findings: &[Finding]) -> String {
    let problems: Vec<&Finding> = findings.iter().filter(|f| f.is_problem()).collect();
    let Some(first) = problems.iter().max_by_key(|f| f.severity) else {
        return "ok".into();
    };
    // The first of the worst, in the order `sort` gives.
    let first = problems
        .iter()
        .filter(|f| f.severity == first.severity)
        .min_by_key(|f| rank(f.kind))
        .unwrap_or(first);
    if problems.len() > 1 {
        format!("{} (+{})", first.kind, problems.len() - 1)
    } else {
        first.kind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_round_trip() {
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::parse(k.as_str()), Some(*k));
            let j = serde_json::to_string(k).unwrap();
            assert_eq!(serde_json::from_str::<FindingKind>(&j).unwrap(), *k);
        }
        assert_eq!(
            FindingKind::IssuerLacksKeycertsign.as_str(),
            "issuer-lacks-keycertsign"
        );
        assert!(serde_json::from_str::<FindingKind>("\"nope\"").is_err());
    }

    #[test]
    fn summary_shows_the_worst_and_the_count() {
        let f = |k, s| Finding::new(k, s, "m");
        assert_eq!(summary(&[]), "ok");
        assert_eq!(summary(&[f(FindingKind::AnchorSent, Severity::Info)]), "ok");
        assert_eq!(
            summary(&[
                f(FindingKind::SelfSigned, Severity::Warning),
                f(FindingKind::Expired, Severity::Critical),
                f(FindingKind::NameMismatch, Severity::Critical),
                f(FindingKind::AnchorSent, Severity::Info),
            ]),
            "expired (+2)"
        );
    }
}
