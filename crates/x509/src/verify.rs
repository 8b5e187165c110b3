//! Path validation: one decision from two validators. certval (see [`crate::rfc5280`],
//! tested with NIST PKITS) is authoritative for RFC 5280 path validity; rustls-webpki, the
//! engine our TLS connections use, adds the TLS rules certval does not check (the purpose
//! and EKU, the peer name, a CA certificate used as an end entity). When certval accepts a
//! path that webpki refuses for a rule certval evaluates fully (name chaining, name
//! constraints, path length, critical policy extensions, unique identifiers...), the path is
//! valid and [`VerifiedChain::webpki_refused`] says that rustls clients would still refuse
//! it. This module adds the profile checks (weak keys and signatures), reasons with context,
//! the e-mail peer name, and the chain that was built.

use std::fmt;

use pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use time::OffsetDateTime;
use webpki::{EndEntityCert, KeyUsage};

use crate::rfc3339;
use crate::rfc5280::{self, Rfc5280Options};

/// What the certificate must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// TLS server (serverAuth, if the certificate has an EKU extension).
    Server,
    /// TLS client (clientAuth, if the certificate has an EKU extension).
    Client,
    /// Any purpose: the EKU extension is not checked.
    Any,
}

/// Everything a validation needs; time is an argument, never the wall clock.
#[derive(Clone, Debug)]
pub struct VerifyInput<'a> {
    /// The certificate to validate (DER).
    pub end_entity: &'a [u8],
    /// Untrusted certificates that may help build the path.
    pub intermediates: &'a [CertificateDer<'a>],
    /// Trust anchors.
    pub trusted: &'a [CertificateDer<'a>],
    /// CRLs to consult; when empty no revocation check is made.
    pub crls: &'a [CertificateRevocationListDer<'a>],
    /// The instant of validation.
    pub at: OffsetDateTime,
    /// A DNS name, IP address or e-mail address (`user@domain`, matched against the
    /// subjectAltName's rfc822Name entries) the certificate must cover.
    pub name: Option<&'a str>,
    /// The required purpose.
    pub purpose: Purpose,
}

/// A successfully validated path: the end entity first, the trust anchor last.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// DER certificates from the end entity to the anchor.
    pub chain: Vec<CertificateDer<'static>>,
    /// The path is valid per RFC 5280 (certval), but rustls-webpki refuses it for this
    /// reason, so rustls (and Go-style) TLS clients would refuse it too; `None` when both
    /// accept it.
    pub webpki_refused: Option<Reason>,
}

/// Why a validation failed, with the context an admin needs to act.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A certificate in the path has expired.
    Expired {
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// The validation instant.
        now: OffsetDateTime,
    },
    /// A certificate in the path is not valid yet.
    NotYetValid {
        /// Its notBefore.
        not_before: OffsetDateTime,
        /// The validation instant.
        now: OffsetDateTime,
    },
    /// No path to a trusted root could be built.
    UnknownIssuer,
    /// The certificate does not cover the requested name.
    NameMismatch {
        /// The name asked for.
        expected: String,
        /// The names the certificate presents.
        presented: Vec<String>,
    },
    /// The requested name is not a valid DNS name or IP address.
    InvalidName(String),
    /// The EKU extension does not allow the requested purpose.
    WrongPurpose {
        /// The purpose asked for.
        required: &'static str,
    },
    /// A certificate in the path is revoked by a CRL.
    Revoked,
    /// A signature in the path does not verify.
    BadSignature,
    /// A CA certificate was given where an end-entity certificate is needed.
    CaUsedAsEndEntity,
    /// A non-CA certificate was used to issue another.
    EndEntityUsedAsCa,
    /// A pathLenConstraint was exceeded.
    PathLenExceeded,
    /// A name constraint forbids a name in the path.
    NameConstraintViolation,
    /// A certificate has a critical extension the validator does not understand.
    UnsupportedCriticalExtension,
    /// A signature algorithm is not supported or does not fit the key.
    UnsupportedSignatureAlgorithm,
    /// The certificate could not be decoded.
    Malformed(String),
    /// rustls-webpki stopped at one of its own resource limits (path depth, signature
    /// checks, path-building calls, name-constraint comparisons): a limit of that library,
    /// not a rule of RFC 5280, so it never decides validity when certval accepts the path.
    WebpkiLimit {
        /// Which limit, in words.
        limit: &'static str,
    },
    /// Any other webpki error, by its name.
    Other(String),
    /// The trust anchor the path ends at has expired (RFC 5280 validators and openssl refuse
    /// it; webpki does not look).
    AnchorExpired {
        /// The anchor's subject.
        subject: String,
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// The validation instant.
        now: OffsetDateTime,
    },
    /// An issuing CA certificate has a keyUsage extension without keyCertSign.
    IssuerLacksKeyCertSign {
        /// The issuer's subject.
        subject: String,
    },
    /// The end entity's keyUsage does not allow what the path requires.
    KeyUsageViolation {
        /// The certificate's subject.
        subject: String,
    },
    /// A certificate in the path has a weak public key: RSA under 2048 bits (or not a
    /// multiple of 8), DSA, or an elliptic curve other than P-256, P-384 and P-521.
    WeakKey {
        /// The certificate's subject.
        subject: String,
        /// The key algorithm ("RSA", "DSA", "EC curve <oid>").
        algorithm: String,
        /// The key size in bits.
        bits: u32,
    },
    /// A certificate in the path is signed with MD2, MD5 or SHA-1 (a trust anchor's own
    /// self-signature is not counted: nothing relies on it).
    WeakSignature {
        /// The certificate's subject.
        subject: String,
        /// The signature algorithm's name.
        algorithm: String,
    },
    /// No certificate policy acceptable to the caller is valid for the path (RFC 5280
    /// 6.1: an explicit policy was required, or a mapping to or from anyPolicy).
    PolicyViolation {
        /// What went wrong.
        detail: String,
    },
    /// A certificate breaks an RFC 5280 profile rule that only a misissued certificate
    /// breaks (a CA without a subject, keyCertSign without cA, misplaced or empty
    /// nameConstraints, a non-critical subjectAltName in a certificate without subject).
    ProfileViolation {
        /// The certificate's subject.
        subject: String,
        /// The rule, with its RFC 5280 section.
        rule: &'static str,
    },
    /// The revocation status of a certificate could not be determined from the CRLs given
    /// (reported only when [`crate::Rfc5280Options::require_revocation_status`] is set).
    RevocationUnknown {
        /// The certificate's subject.
        subject: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { not_after, now } => write!(
                f,
                "certificate expired at {} (checked at {})",
                rfc3339(*not_after),
                rfc3339(*now)
            ),
            Self::NotYetValid { not_before, now } => write!(
                f,
                "certificate not valid before {} (checked at {})",
                rfc3339(*not_before),
                rfc3339(*now)
            ),
            Self::UnknownIssuer => f.write_str("issuer not trusted: no chain to a trusted root"),
            Self::NameMismatch {
                expected,
                presented,
            } => write!(
                f,
                "certificate does not cover '{expected}' (it covers: {})",
                if presented.is_empty() {
                    "no names".to_owned()
                } else {
                    presented.join(", ")
                }
            ),
            Self::InvalidName(n) => write!(f, "'{n}' is not a valid DNS name or IP address"),
            Self::WrongPurpose { required } => {
                write!(f, "extended key usage does not allow {required}")
            }
            Self::Revoked => f.write_str("certificate revoked by a trusted CRL"),
            Self::BadSignature => f.write_str("a signature in the chain does not verify"),
            Self::CaUsedAsEndEntity => {
                f.write_str("a CA certificate cannot be used as an end-entity certificate")
            }
            Self::EndEntityUsedAsCa => f.write_str("a non-CA certificate was used as an issuer"),
            Self::PathLenExceeded => f.write_str("path length constraint exceeded"),
            Self::NameConstraintViolation => {
                f.write_str("a name violates the issuer's name constraints")
            }
            Self::UnsupportedCriticalExtension => f.write_str("unsupported critical extension"),
            Self::UnsupportedSignatureAlgorithm => f.write_str("unsupported signature algorithm"),
            Self::Malformed(d) => write!(f, "malformed certificate: {d}"),
            Self::WebpkiLimit { limit } => write!(f, "rustls-webpki stops at its limit of {limit}"),
            Self::Other(d) => write!(f, "validation failed: {d}"),
            Self::AnchorExpired {
                subject,
                not_after,
                now,
            } => write!(
                f,
                "trust anchor '{subject}' expired at {} (checked at {})",
                rfc3339(*not_after),
                rfc3339(*now)
            ),
            Self::IssuerLacksKeyCertSign { subject } => write!(
                f,
                "issuer '{subject}' has a keyUsage without keyCertSign: it may not sign certificates"
            ),
            Self::KeyUsageViolation { subject } => {
                write!(f, "keyUsage of '{subject}' does not allow this use")
            }
            Self::WeakKey {
                subject,
                algorithm,
                bits,
            } => write!(f, "weak key in '{subject}': {algorithm}, {bits} bits"),
            Self::WeakSignature { subject, algorithm } => {
                write!(f, "weak signature on '{subject}': {algorithm}")
            }
            Self::PolicyViolation { detail } => write!(f, "certificate policy: {detail}"),
            Self::ProfileViolation { subject, rule } => {
                write!(f, "'{subject}' breaks RFC 5280 {rule}")
            }
            Self::RevocationUnknown { subject } => write!(
                f,
                "revocation status of '{subject}' could not be determined from the CRLs given"
            ),
        }
    }
}

fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(t.unix_timestamp()).unwrap_or(0),
    ))
}

fn from_unix(t: UnixTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The names a certificate presents for name checks, in its subjectAltName's order, as an
/// admin writes them: DNS names and IP addresses (`a.example`, `192.0.2.1`); other kinds
/// are left out. Read from the certificate itself, never from a verifier's error text.
/// Empty when the certificate does not decode or has no such names.
pub fn presented_names(end_entity_der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(end_entity_der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.push((*d).to_owned()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            out.push(std::net::IpAddr::from(a).to_string());
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            out.push(std::net::IpAddr::from(a).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn reason(e: webpki::Error, purpose: Purpose) -> Reason {
    use webpki::Error as E;
    #[allow(deprecated)]
    match e {
        E::CertExpired { time, not_after } => Reason::Expired {
            not_after: from_unix(not_after),
            now: from_unix(time),
        },
        E::CertNotValidYet { time, not_before } => Reason::NotYetValid {
            not_before: from_unix(not_before),
            now: from_unix(time),
        },
        E::UnknownIssuer => Reason::UnknownIssuer,
        E::CertNotValidForName(ctx) => Reason::NameMismatch {
            expected: match &ctx.expected {
                ServerName::DnsName(d) => d.as_ref().to_owned(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            },
            // webpki lists the presented names only as its Debug text: the caller, which
            // holds the certificate, fills them in from it.
            presented: Vec::new(),
        },
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => Reason::WrongPurpose {
            required: match purpose {
                Purpose::Server => "serverAuth",
                Purpose::Client => "clientAuth",
                Purpose::Any => "any",
            },
        },
        E::CertRevoked => Reason::Revoked,
        E::InvalidSignatureForPublicKey => Reason::BadSignature,
        E::CaUsedAsEndEntity => Reason::CaUsedAsEndEntity,
        E::EndEntityUsedAsCa => Reason::EndEntityUsedAsCa,
        E::PathLenConstraintViolated => Reason::PathLenExceeded,
        E::NameConstraintViolation => Reason::NameConstraintViolation,
        E::UnsupportedCriticalExtension => Reason::UnsupportedCriticalExtension,
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::SignatureAlgorithmMismatch => Reason::UnsupportedSignatureAlgorithm,
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::MalformedExtensions
        | E::ExtensionValueInvalid => Reason::Malformed(format!("{e:?}")),
        E::MaximumPathDepthExceeded => Reason::WebpkiLimit {
            limit: "6 intermediate certificates in a path",
        },
        E::MaximumSignatureChecksExceeded => Reason::WebpkiLimit {
            limit: "100 signature checks while building a path",
        },
        E::MaximumPathBuildCallsExceeded => Reason::WebpkiLimit {
            limit: "200,000 path-building steps",
        },
        E::MaximumNameConstraintComparisonsExceeded => Reason::WebpkiLimit {
            limit: "250,000 name-constraint comparisons",
        },
        other => Reason::Other(format!("{other:?}")),
    }
}

/// Accepts any EKU; used for [`Purpose::Any`].
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        // Still walk the list so a malformed extension is reported.
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// Validates `input.end_entity` as `openssl verify` and a TLS peer would: path building
/// from the intermediates to a trust anchor, validity at `input.at`, basicConstraints and
/// path length, key usage, name constraints, policies, EKU, revocation against the given
/// CRLs, key and signature strength, and the name. Both webpki and certval must accept the
/// path; on failure the most important reason is returned (see [`verify_all`] for all).
pub fn verify(input: &VerifyInput<'_>) -> Result<VerifiedChain, Reason> {
    verify_all(input).map_err(|mut all| {
        if all.is_empty() {
            Reason::Other("rejected without a reason".to_owned())
        } else {
            all.swap_remove(0)
        }
    })
}

/// Like [`verify`], but on failure returns every reason either validator or the profile
/// checks found, deduplicated, the most important first.
pub fn verify_all(input: &VerifyInput<'_>) -> Result<VerifiedChain, Vec<Reason>> {
    verify_all_with(input, &Rfc5280Options::default())
}

/// [`verify_all`] with RFC 5280 inputs beyond the defaults: a user-initial-policy-set, the
/// explicit-policy, policy-mapping and anyPolicy inhibitors, and whether revocation status
/// must be determined (NIST PKITS runs this way).
pub fn verify_all_with(
    input: &VerifyInput<'_>,
    opts: &Rfc5280Options,
) -> Result<VerifiedChain, Vec<Reason>> {
    let mut reasons = Vec::new();
    let email = input.name.filter(|n| n.contains('@'));

    // A certificate that is itself a trust anchor is trusted as such (as openssl does for a
    // root given directly); only its validity period, key and name still apply.
    if let Some(anchor) = input
        .trusted
        .iter()
        .find(|t| t.as_ref() == input.end_entity)
    {
        let info = crate::CertInfo::from_der(anchor)
            .map_err(|e| vec![Reason::Malformed(e.to_string())])?;
        if input.at > info.not_after {
            reasons.push(Reason::Expired {
                not_after: info.not_after,
                now: input.at,
            });
        }
        if input.at < info.not_before {
            reasons.push(Reason::NotYetValid {
                not_before: info.not_before,
                now: input.at,
            });
        }
        reasons.extend(rfc5280::weak_key(anchor));
        if let Some(name) = email {
            if let (false, presented) = rfc5280::covers_email(anchor, name) {
                reasons.push(Reason::NameMismatch {
                    expected: name.to_owned(),
                    presented,
                });
            }
        } else if let Some(name) = input.name {
            if !info.covers_name(name) {
                reasons.push(Reason::NameMismatch {
                    expected: name.to_owned(),
                    presented: info.subject_alt_names(),
                });
            }
        }
        return finish(
            reasons,
            VerifiedChain {
                chain: vec![anchor.clone().into_owned()],
                webpki_refused: None,
            },
        );
    }

    let by_webpki = webpki_verify(input, email.is_none());
    let by_certval = rfc5280::validate(input, opts);

    // The path the profile checks look at, end entity first and the anchor last: webpki's
    // when it built one, else certval's, else the end entity alone.
    let (path, has_anchor): (Vec<Vec<u8>>, bool) = match (&by_webpki.path, &by_certval) {
        (Ok(c), _) => (c.iter().map(|d| d.to_vec()).collect(), c.len() > 1),
        (_, Ok(p)) | (_, Err((_, Some(p)))) => (p.iter().rev().cloned().collect(), true),
        _ => (vec![input.end_entity.to_vec()], false),
    };
    let last = path.len().saturating_sub(1);
    for (i, der) in path.iter().enumerate() {
        reasons.extend(rfc5280::profile_checks(der, has_anchor && i == last));
    }
    reasons.extend(rfc5280::wildcard_against_excluded(&path));
    if let Some(name) = email {
        if let (false, presented) = rfc5280::covers_email(input.end_entity, name) {
            reasons.push(Reason::NameMismatch {
                expected: name.to_owned(),
                presented,
            });
        }
    }
    // The name is a TLS rule only webpki checks: its verdict always counts.
    reasons.extend(by_webpki.name);
    match (by_webpki.path, by_certval) {
        (Ok(chain), Ok(_)) => finish(
            reasons,
            VerifiedChain {
                chain,
                webpki_refused: None,
            },
        ),
        (Ok(chain), Err((c, _))) => {
            reasons.extend(c);
            finish(
                reasons,
                VerifiedChain {
                    chain,
                    webpki_refused: None,
                },
            )
        }
        (Err(w), Ok(p)) => {
            // certval is authoritative for RFC 5280; webpki's refusal counts only for a TLS
            // rule certval does not check. When webpki stopped before judging the end
            // entity's purpose, those TLS rules are checked here instead.
            reasons.extend(rfc5280::tls_end_entity_checks(
                input.end_entity,
                input.purpose,
            ));
            let chain: Vec<CertificateDer<'static>> =
                p.into_iter().rev().map(CertificateDer::from).collect();
            if counts_despite_rfc5280(&w) {
                reasons.push(w);
                finish(
                    reasons,
                    VerifiedChain {
                        chain,
                        webpki_refused: None,
                    },
                )
            } else {
                finish(
                    reasons,
                    VerifiedChain {
                        chain,
                        webpki_refused: Some(w),
                    },
                )
            }
        }
        (Err(w), Err((c, _))) => {
            // A path builder says "unknown issuer" when every candidate path failed for
            // another reason (a path length, a name constraint); when the other validator
            // names that reason, it is the fact, and "no chain to a trusted root" is false.
            let named = c.iter().chain(std::iter::once(&w)).any(|r| {
                !matches!(
                    r,
                    Reason::UnknownIssuer
                        | Reason::Expired { .. }
                        | Reason::NotYetValid { .. }
                        | Reason::AnchorExpired { .. }
                        | Reason::RevocationUnknown { .. }
                        | Reason::WebpkiLimit { .. }
                        | Reason::Other(_)
                )
            });
            reasons.push(w);
            reasons.extend(c);
            if named {
                reasons.retain(|r| *r != Reason::UnknownIssuer);
            }
            finish(
                reasons,
                VerifiedChain {
                    chain: Vec::new(),
                    webpki_refused: None,
                },
            )
        }
    }
}

/// Whether a webpki refusal stands when certval accepts the path: the TLS rules certval
/// does not check (the purpose, the name), revocation (both read the same CRLs; a
/// disagreement fails closed) and refusals of an unknown class. A CA certificate as the end
/// entity is allowed by RFC 5280 and refused by webpki: it is reported in
/// `webpki_refused` (and by the inspection as `ca-as-leaf`), not failed here. Name chaining,
/// name constraints, path length, critical extensions, signatures, validity and encoding
/// are RFC 5280 rules certval evaluates fully, so its acceptance overrides webpki there.
fn counts_despite_rfc5280(r: &Reason) -> bool {
    matches!(
        r,
        Reason::WrongPurpose { .. }
            | Reason::NameMismatch { .. }
            | Reason::InvalidName(_)
            | Reason::Revoked
            | Reason::Other(_)
    )
}

/// How important a reason is, lower first: what makes the certificate unusable whatever
/// else is fixed comes before what a configuration change would cure.
fn rank(r: &Reason) -> u8 {
    match r {
        Reason::Malformed(_) => 0,
        Reason::Revoked => 1,
        Reason::AnchorExpired { .. } | Reason::Expired { .. } | Reason::NotYetValid { .. } => 2,
        // A weak algorithm explains why a signature is refused, so it comes first.
        Reason::WeakSignature { .. } | Reason::WeakKey { .. } => 3,
        Reason::BadSignature => 4,
        Reason::UnknownIssuer => 5,
        Reason::IssuerLacksKeyCertSign { .. }
        | Reason::EndEntityUsedAsCa
        | Reason::CaUsedAsEndEntity
        | Reason::PathLenExceeded
        | Reason::NameConstraintViolation
        | Reason::PolicyViolation { .. }
        | Reason::KeyUsageViolation { .. }
        | Reason::ProfileViolation { .. }
        | Reason::UnsupportedCriticalExtension => 6,
        Reason::RevocationUnknown { .. } => 7,
        Reason::NameMismatch { .. } | Reason::InvalidName(_) | Reason::WrongPurpose { .. } => 8,
        Reason::UnsupportedSignatureAlgorithm => 9,
        Reason::WebpkiLimit { .. } => 10,
        Reason::Other(_) => 10,
    }
}

fn finish(mut reasons: Vec<Reason>, chain: VerifiedChain) -> Result<VerifiedChain, Vec<Reason>> {
    // A weak key or signature algorithm is why the validators refuse a signature (neither
    // verifies SHA-1 or RSA under 2048 bits); the signature itself is not shown to be bad,
    // so saying it "does not verify" would be false (`openssl verify -auth_level 0`
    // verifies it).
    if reasons
        .iter()
        .any(|r| matches!(r, Reason::WeakKey { .. } | Reason::WeakSignature { .. }))
    {
        reasons.retain(|r| {
            !matches!(
                r,
                Reason::BadSignature | Reason::UnsupportedSignatureAlgorithm
            )
        });
    }
    if reasons.is_empty() {
        return Ok(chain);
    }
    reasons.sort_by_key(rank); // stable: webpki's reason stays ahead of an equal one
    let mut out: Vec<Reason> = Vec::with_capacity(reasons.len());
    for r in reasons {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Err(out)
}

/// webpki's verdict on a path and on the name, apart.
struct WebpkiVerdict {
    /// The path built, end entity first, or why none was.
    path: Result<Vec<CertificateDer<'static>>, Reason>,
    /// Why the end entity does not cover the name asked for (empty when it does).
    name: Vec<Reason>,
}

/// webpki's verdict: the path (end entity first) or its reason, and the name's. The name is
/// checked even when no path was built, so [`verify_all`] can list both.
fn webpki_verify(input: &VerifyInput<'_>, check_name: bool) -> WebpkiVerdict {
    let ee_der = CertificateDer::from(input.end_entity);
    let now = unix(input.at);
    let ee = match EndEntityCert::try_from(&ee_der) {
        Ok(ee) => ee,
        Err(e) => {
            // webpki cannot read it (certval may): the name is judged from the parsed SANs.
            let mut name = Vec::new();
            if let (true, Some(n), Ok(info)) = (
                check_name,
                input.name,
                crate::CertInfo::from_der(input.end_entity),
            ) {
                let has_san = !(info.dns_names.is_empty() && info.ip_addresses.is_empty());
                if !(has_san && info.covers_name(n)) {
                    name.push(Reason::NameMismatch {
                        expected: n.to_owned(),
                        presented: info.subject_alt_names(),
                    });
                }
            }
            return WebpkiVerdict {
                path: Err(reason(e, input.purpose)),
                name,
            };
        }
    };
    let anchors = input
        .trusted
        .iter()
        .filter_map(|t| webpki::anchor_from_trusted_cert(t).ok())
        .collect::<Vec<_>>();
    let owned_crls = input
        .crls
        .iter()
        .filter_map(|c| webpki::OwnedCertRevocationList::from_der(c).ok())
        .map(webpki::CertRevocationList::from)
        .collect::<Vec<_>>();
    let crl_refs = owned_crls.iter().collect::<Vec<_>>();
    let revocation = webpki::RevocationOptionsBuilder::new(&crl_refs)
        .ok()
        .map(|b| {
            b.with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                .build()
        });
    let algs = webpki::ALL_VERIFICATION_ALGS;
    let path = match input.purpose {
        Purpose::Server => ee.verify_for_usage(
            algs,
            &anchors,
            input.intermediates,
            now,
            KeyUsage::server_auth(),
            revocation,
            None,
        ),
        Purpose::Client => ee.verify_for_usage(
            algs,
            &anchors,
            input.intermediates,
            now,
            KeyUsage::client_auth(),
            revocation,
            None,
        ),
        Purpose::Any => ee.verify_for_usage(
            algs,
            &anchors,
            input.intermediates,
            now,
            AnyUsage,
            revocation,
            None,
        ),
    }
    .map_err(|e| reason(e, input.purpose));

    let mut name = Vec::new();
    if let (true, Some(n)) = (check_name, input.name) {
        match ServerName::try_from(n) {
            Err(_) => name.push(Reason::InvalidName(n.to_owned())),
            Ok(server_name) => {
                if let Err(e) = ee.verify_is_valid_for_subject_name(&server_name) {
                    name.push(match reason(e, input.purpose) {
                        // webpki's context lists names in Debug form; show them as SANs are
                        // usually shown.
                        Reason::NameMismatch { expected, .. } => Reason::NameMismatch {
                            expected,
                            presented: crate::CertInfo::from_der(input.end_entity)
                                .map(|i| i.subject_alt_names())
                                .unwrap_or_default(),
                        },
                        other => other,
                    });
                }
            }
        }
    }
    let path = path.map(|path| {
        let mut chain = vec![ee_der.clone().into_owned()];
        chain.extend(
            path.intermediate_certificates()
                .map(|c| c.der().into_owned()),
        );
        let anchor = path.anchor();
        if let Some(root) = input.trusted.iter().find(|t| {
            webpki::anchor_from_trusted_cert(t).is_ok_and(|a| {
                a.subject.as_ref() == anchor.subject.as_ref()
                    && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
            })
        }) {
            chain.push(root.clone().into_owned());
        }
        chain
    });
    WebpkiVerdict { path, name }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{issue, self_sign, CertSpec, Eku, Issuer, KeyAlgorithm, PrivateKey, Role};
    use time::macros::datetime;

    struct Pki {
        root: CertificateDer<'static>,
        inter: CertificateDer<'static>,
        leaf: CertificateDer<'static>,
    }

    fn spec(cn: &str, role: Role, years: i32) -> CertSpec {
        CertSpec {
            common_name: cn.into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2026-01-01 0:00 UTC)
                .replace_year(2026 + years)
                .unwrap(),
            role,
            eku: vec![],
        }
    }

    fn pki() -> Pki {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }, 10), &rk).unwrap();
        let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let inter = issue(
            &spec("Inter", Role::Ca { path_len: Some(0) }, 5),
            &ik.public_key_spki(),
            &Issuer {
                cert: &root,
                key: &rk,
            },
        )
        .unwrap();
        let lk = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let mut ls = spec("node1.example.com", Role::Leaf, 2)
            .with_names(["node1.example.com", "192.0.2.7"])
            .unwrap();
        ls.eku = vec![Eku::ServerAuth];
        let leaf = issue(
            &ls,
            &lk.public_key_spki(),
            &Issuer {
                cert: &inter,
                key: &ik,
            },
        )
        .unwrap();
        Pki { root, inter, leaf }
    }

    fn input<'a>(
        p: &'a Pki,
        inters: &'a [CertificateDer<'a>],
        trusted: &'a [CertificateDer<'a>],
    ) -> VerifyInput<'a> {
        VerifyInput {
            end_entity: &p.leaf,
            intermediates: inters,
            trusted,
            crls: &[],
            at: datetime!(2027-01-01 0:00 UTC),
            name: Some("node1.example.com"),
            purpose: Purpose::Server,
        }
    }

    #[test]
    fn valid_chain_is_built_in_order() {
        let p = pki();
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let chain = verify(&input(&p, &inters, &trusted)).unwrap().chain;
        assert_eq!(chain, vec![p.leaf.clone(), p.inter.clone(), p.root.clone()]);
        let mut by_ip = input(&p, &inters, &trusted);
        by_ip.name = Some("192.0.2.7");
        assert!(verify(&by_ip).is_ok());
    }

    /// The names a mismatched certificate holds read as written (the agent's refusal of
    /// a server shows them), not as webpki's Debug text.
    #[test]
    fn a_name_mismatch_lists_the_names_as_written() {
        let p = pki();
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let mut other = input(&p, &inters, &trusted);
        other.name = Some("localhost");
        let e = verify(&other).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("does not cover 'localhost'")
                && text.contains("node1.example.com")
                && text.contains("192.0.2.7")
                && !text.contains("DnsName")
                && !text.contains("IpAddress"),
            "{text}"
        );
        // Read from the certificate, in its order.
        assert_eq!(presented_names(&p.leaf), ["node1.example.com", "192.0.2.7"]);
        assert!(presented_names(b"not a certificate").is_empty());
    }

    #[test]
    fn each_failure_names_its_reason() {
        let p = pki();
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let mut late = input(&p, &inters, &trusted);
        late.at = datetime!(2029-01-01 0:00 UTC);
        assert!(matches!(verify(&late), Err(Reason::Expired { .. })));
        let mut early = input(&p, &inters, &trusted);
        early.at = datetime!(2025-01-01 0:00 UTC);
        assert!(matches!(verify(&early), Err(Reason::NotYetValid { .. })));
        assert_eq!(
            verify(&input(&p, &[], &trusted)).unwrap_err(),
            Reason::UnknownIssuer
        );
        let mut wrong = input(&p, &inters, &trusted);
        wrong.name = Some("other.example.com");
        assert!(matches!(verify(&wrong), Err(Reason::NameMismatch { .. })));
        let mut client = input(&p, &inters, &trusted);
        client.purpose = Purpose::Client;
        assert!(matches!(verify(&client), Err(Reason::WrongPurpose { .. })));
        let mut ca = input(&p, &inters, &trusted);
        ca.end_entity = &p.inter;
        ca.name = None;
        // RFC 5280 allows a CA certificate as the end entity; webpki's refusal is reported.
        assert_eq!(
            verify(&ca).unwrap().webpki_refused,
            Some(Reason::CaUsedAsEndEntity)
        );
    }

    #[test]
    fn a_crl_from_the_issuer_revokes() {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }, 10), &rk).unwrap();
        let lk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut ls = spec("node1.example.com", Role::Leaf, 2)
            .with_names(["node1.example.com"])
            .unwrap();
        ls.eku = vec![Eku::ServerAuth];
        let leaf = issue(
            &ls,
            &lk.public_key_spki(),
            &Issuer {
                cert: &root,
                key: &rk,
            },
        )
        .unwrap();
        let serial = crate::CertInfo::from_der(&leaf).unwrap().serial;
        let serial_bytes: Vec<u8> = (0..serial.len() / 2)
            .map(|i| u8::from_str_radix(&serial[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let crl = rcgen::CertificateRevocationListParams {
            this_update: datetime!(2026-06-01 0:00 UTC),
            next_update: datetime!(2026-07-01 0:00 UTC),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&serial_bytes),
                revocation_time: datetime!(2026-06-01 0:00 UTC),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&rcgen::Issuer::from_ca_cert_der(&root, rk.pair()).unwrap())
        .unwrap();
        let crls = [CertificateRevocationListDer::from(crl.der().to_vec())];
        let trusted = [root.clone()];
        let input = VerifyInput {
            end_entity: &leaf,
            intermediates: &[],
            trusted: &trusted,
            crls: &crls,
            at: datetime!(2027-01-01 0:00 UTC),
            name: None,
            purpose: Purpose::Server,
        };
        assert_eq!(verify(&input).unwrap_err(), Reason::Revoked);
    }

    #[test]
    fn a_trust_anchor_verifies_as_itself() {
        let p = pki();
        let trusted = [p.root.clone()];
        let mut i = input(&p, &[], &trusted);
        i.end_entity = &p.root;
        i.name = None;
        assert_eq!(verify(&i).unwrap().chain.len(), 1);
    }

    /// Root (P-256, 10 years, or `root_years`) -> intermediate built by rcgen directly with
    /// `inter_usages` -> ECDSA leaf for node1.example.com.
    fn pki_with(root_years: i32, inter_usages: Vec<rcgen::KeyUsagePurpose>) -> (Pki, PrivateKey) {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }, root_years), &rk).unwrap();
        let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut ip = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ip.distinguished_name
            .push(rcgen::DnType::CommonName, "Inter Without CertSign");
        ip.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ip.key_usages = inter_usages;
        ip.not_before = datetime!(2026-01-01 0:00 UTC);
        ip.not_after = datetime!(2031-01-01 0:00 UTC);
        let inter = ip
            .signed_by(
                ik.pair(),
                &rcgen::Issuer::from_ca_cert_der(&root, rk.pair()).unwrap(),
            )
            .unwrap()
            .der()
            .clone();
        let lk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut ls = spec("node1.example.com", Role::Leaf, 2)
            .with_names(["node1.example.com"])
            .unwrap();
        ls.eku = vec![Eku::ServerAuth];
        let leaf = issue(
            &ls,
            &lk.public_key_spki(),
            &Issuer {
                cert: &inter,
                key: &ik,
            },
        )
        .unwrap();
        (Pki { root, inter, leaf }, ik)
    }

    #[test]
    fn an_issuer_without_key_cert_sign_is_refused_by_name() {
        use rcgen::KeyUsagePurpose as K;
        let (p, _) = pki_with(10, vec![K::DigitalSignature, K::CrlSign]);
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let all = verify_all(&input(&p, &inters, &trusted)).unwrap_err();
        assert_eq!(
            all,
            vec![Reason::IssuerLacksKeyCertSign {
                subject: "CN=Inter Without CertSign".into()
            }]
        );
        assert!(all[0].to_string().contains("without keyCertSign"));
        // The same path with keyCertSign verifies.
        let (ok, _) = pki_with(10, vec![K::KeyCertSign, K::CrlSign]);
        let inters = [ok.inter.clone()];
        let trusted = [ok.root.clone()];
        assert!(verify(&input(&ok, &inters, &trusted)).is_ok());
    }

    #[test]
    fn a_chain_to_an_expired_root_names_the_root() {
        use rcgen::KeyUsagePurpose as K;
        // The root lapses on 2027-01-01; the intermediate and leaf are still within theirs.
        let (p, _) = pki_with(1, vec![K::KeyCertSign, K::CrlSign]);
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let mut i = input(&p, &inters, &trusted);
        i.at = datetime!(2027-06-01 0:00 UTC);
        let err = verify(&i).unwrap_err();
        assert_eq!(
            err,
            Reason::AnchorExpired {
                subject: "CN=Root".into(),
                not_after: datetime!(2027-01-01 0:00 UTC),
                now: datetime!(2027-06-01 0:00 UTC),
            }
        );
        assert!(err.to_string().contains("trust anchor 'CN=Root' expired"));
    }

    /// A DER SubjectPublicKeyInfo for an RSA key with a `bits`-bit modulus (only the leaf's
    /// public key is needed: its issuer signs it).
    fn rsa_spki(bits: usize) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            let n = body.len();
            if n < 128 {
                v.push(n as u8);
            } else if n < 256 {
                v.extend([0x81, n as u8]);
            } else {
                v.extend([0x82, (n >> 8) as u8, n as u8]);
            }
            v.extend_from_slice(body);
            v
        }
        let mut modulus = vec![0x00, 0xC3];
        modulus.extend(std::iter::repeat_n(0x5A, bits / 8 - 2));
        modulus.push(0x65);
        let key = tlv(
            0x30,
            &[tlv(0x02, &modulus), tlv(0x02, &[0x01, 0x00, 0x01])].concat(),
        );
        let alg = tlv(
            0x30,
            &[
                tlv(
                    0x06,
                    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01],
                ),
                vec![0x05, 0x00],
            ]
            .concat(),
        );
        tlv(
            0x30,
            &[alg, tlv(0x03, &[&[0u8][..], &key].concat())].concat(),
        )
    }

    #[test]
    fn a_1024_bit_rsa_leaf_is_a_weak_key() {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }, 10), &rk).unwrap();
        let mut ls = spec("weak.example.com", Role::Leaf, 2)
            .with_names(["weak.example.com"])
            .unwrap();
        ls.eku = vec![Eku::ServerAuth];
        let spki = rsa_spki(1024);
        let leaf = issue(
            &ls,
            &spki,
            &Issuer {
                cert: &root,
                key: &rk,
            },
        )
        .unwrap();
        let trusted = [root.clone()];
        let i = VerifyInput {
            end_entity: &leaf,
            intermediates: &[],
            trusted: &trusted,
            crls: &[],
            at: datetime!(2027-01-01 0:00 UTC),
            name: Some("weak.example.com"),
            purpose: Purpose::Server,
        };
        let err = verify(&i).unwrap_err();
        assert_eq!(
            err,
            Reason::WeakKey {
                subject: "CN=weak.example.com".into(),
                algorithm: "RSA".into(),
                bits: 1024,
            }
        );
        assert_eq!(
            err.to_string(),
            "weak key in 'CN=weak.example.com': RSA, 1024 bits"
        );
    }

    #[test]
    fn a_sha1_signed_leaf_is_a_weak_signature() {
        let rk = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }, 10), &rk).unwrap();
        let lk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut ls = spec("old.example.com", Role::Leaf, 2)
            .with_names(["old.example.com"])
            .unwrap();
        ls.eku = vec![Eku::ServerAuth];
        let leaf = issue(
            &ls,
            &lk.public_key_spki(),
            &Issuer {
                cert: &root,
                key: &rk,
            },
        )
        .unwrap();
        // Neither rcgen nor aws-lc-rs signs with SHA-1 any more; turn the leaf's two
        // sha256WithRSAEncryption identifiers into sha1WithRSAEncryption (same length), as a
        // SHA-1 signed certificate declares itself. The check reads the declared algorithm.
        let sha256_rsa = [
            0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B,
        ];
        let mut der = leaf.to_vec();
        let mut replaced = 0;
        for i in 0..der.len().saturating_sub(sha256_rsa.len()) {
            if der[i..i + sha256_rsa.len()] == sha256_rsa {
                der[i + sha256_rsa.len() - 1] = 0x05;
                replaced += 1;
            }
        }
        assert_eq!(replaced, 2);
        let trusted = [root.clone()];
        let i = VerifyInput {
            end_entity: &der,
            intermediates: &[],
            trusted: &trusted,
            crls: &[],
            at: datetime!(2027-01-01 0:00 UTC),
            name: Some("old.example.com"),
            purpose: Purpose::Server,
        };
        let all = verify_all(&i).unwrap_err();
        assert_eq!(
            all[0],
            Reason::WeakSignature {
                subject: "CN=old.example.com".into(),
                algorithm: "sha1WithRSAEncryption".into(),
            }
        );
        assert_eq!(
            verify(&i).unwrap_err().to_string(),
            "weak signature on 'CN=old.example.com': sha1WithRSAEncryption"
        );
    }

    #[test]
    fn every_key_algorithm_certherd_issues_verifies() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::Ed25519,
        ] {
            let rk = PrivateKey::generate(alg).unwrap();
            let root = self_sign(&spec("Root", Role::Ca { path_len: None }, 10), &rk).unwrap();
            let ik = PrivateKey::generate(alg).unwrap();
            let inter = issue(
                &spec("Inter", Role::Ca { path_len: Some(0) }, 5),
                &ik.public_key_spki(),
                &Issuer {
                    cert: &root,
                    key: &rk,
                },
            )
            .unwrap();
            let lk = PrivateKey::generate(alg).unwrap();
            let mut ls = spec("node1.example.com", Role::Leaf, 2)
                .with_names(["node1.example.com"])
                .unwrap();
            ls.eku = vec![Eku::ServerAuth];
            let leaf = issue(
                &ls,
                &lk.public_key_spki(),
                &Issuer {
                    cert: &inter,
                    key: &ik,
                },
            )
            .unwrap();
            let p = Pki { root, inter, leaf };
            let inters = [p.inter.clone()];
            let trusted = [p.root.clone()];
            assert!(
                verify(&input(&p, &inters, &trusted)).is_ok(),
                "{alg:?}: {:?}",
                verify_all(&input(&p, &inters, &trusted))
            );
        }
    }

    #[test]
    fn an_email_name_is_matched_against_rfc822_names() {
        let p = pki();
        let inters = [p.inter.clone()];
        let trusted = [p.root.clone()];
        let mut i = input(&p, &inters, &trusted);
        i.name = Some("admin@example.com");
        assert!(matches!(
            verify(&i),
            Err(Reason::NameMismatch { expected, .. }) if expected == "admin@example.com"
        ));
    }
}
