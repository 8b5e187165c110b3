//! Path validation: a thin layer over rustls-webpki, the engine our TLS connections use,
//! so `certherd verify` and a real handshake agree. This module adds what webpki does not
//! give directly: a reason with context, and the chain that was built.

use std::fmt;

use pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use time::OffsetDateTime;
use webpki::{EndEntityCert, KeyUsage};

use crate::rfc3339;

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
    /// A DNS name or IP address the certificate must cover.
    pub name: Option<&'a str>,
    /// The required purpose.
    pub purpose: Purpose,
}

/// A successfully validated path: the end entity first, the trust anchor last.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// DER certificates from the end entity to the anchor.
    pub chain: Vec<CertificateDer<'static>>,
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
    /// Any other webpki error, by its name.
    Other(String),
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
            Self::Other(d) => write!(f, "validation failed: {d}"),
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
            presented: ctx.presented,
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
/// path length, name constraints, EKU, revocation against the given CRLs, and the name.
pub fn verify(input: &VerifyInput<'_>) -> Result<VerifiedChain, Reason> {
    let ee_der = CertificateDer::from(input.end_entity);
    let now = unix(input.at);

    // A certificate that is itself a trust anchor is trusted as such (as openssl does for a
    // root given directly); only its validity period and name still apply.
    if let Some(anchor) = input
        .trusted
        .iter()
        .find(|t| t.as_ref() == input.end_entity)
    {
        let info =
            crate::CertInfo::from_der(anchor).map_err(|e| Reason::Malformed(e.to_string()))?;
        if input.at > info.not_after {
            return Err(Reason::Expired {
                not_after: info.not_after,
                now: input.at,
            });
        }
        if input.at < info.not_before {
            return Err(Reason::NotYetValid {
                not_before: info.not_before,
                now: input.at,
            });
        }
        if let Some(name) = input.name {
            if !info.covers_name(name) {
                return Err(Reason::NameMismatch {
                    expected: name.to_owned(),
                    presented: info.subject_alt_names(),
                });
            }
        }
        return Ok(VerifiedChain {
            chain: vec![anchor.clone().into_owned()],
        });
    }

    let ee = EndEntityCert::try_from(&ee_der).map_err(|e| reason(e, input.purpose))?;
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
    .map_err(|e| reason(e, input.purpose))?;

    if let Some(name) = input.name {
        let server_name =
            ServerName::try_from(name).map_err(|_| Reason::InvalidName(name.to_owned()))?;
        ee.verify_is_valid_for_subject_name(&server_name)
            .map_err(|e| match reason(e, input.purpose) {
                // webpki's context lists names in Debug form; show them as SANs are usually shown.
                Reason::NameMismatch { expected, .. } => Reason::NameMismatch {
                    expected,
                    presented: crate::CertInfo::from_der(input.end_entity)
                        .map(|i| i.subject_alt_names())
                        .unwrap_or_default(),
                },
                other => other,
            })?;
    }

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
    Ok(VerifiedChain { chain })
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
        assert_eq!(verify(&ca).unwrap_err(), Reason::CaUsedAsEndEntity);
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
}
