//! Building certificates and CSRs with rcgen, from a [`CertSpec`] that states intent.

use std::net::IpAddr;

use pki_types::CertificateDer;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use time::OffsetDateTime;

use crate::{Error, PrivateKey};

/// Whether a certificate is a CA or a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A certificate authority; `path_len` limits the intermediates below it.
    Ca {
        /// basicConstraints pathLenConstraint.
        path_len: Option<u8>,
    },
    /// An end-entity certificate.
    Leaf,
}

/// Extended key usages certherd profiles use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Eku {
    /// TLS server authentication.
    ServerAuth,
    /// TLS client authentication.
    ClientAuth,
}

impl Eku {
    /// The name used in output (`serverAuth`, `clientAuth`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ServerAuth => "serverAuth",
            Self::ClientAuth => "clientAuth",
        }
    }
}

/// What to put in a certificate or CSR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    /// Subject common name.
    pub common_name: String,
    /// Subject organization, if any.
    pub organization: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity (truncated to whole seconds).
    pub not_before: OffsetDateTime,
    /// End of validity (truncated to whole seconds).
    pub not_after: OffsetDateTime,
    /// CA or leaf.
    pub role: Role,
    /// Extended key usages; empty means no EKU extension.
    pub eku: Vec<Eku>,
}

/// Whether `c` is a control character (C0, DEL, C1) or a Unicode bidirectional override,
/// embedding, isolate or mark: characters that drive a terminal or reorder what it shows.
/// certherd signs no name holding one, and escapes them wherever it shows text.
pub fn is_control_or_bidi(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

impl CertSpec {
    /// Splits names into DNS and IP SANs, refusing anything that is neither.
    pub fn with_names<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Error> {
        for name in names {
            if let Ok(ip) = name.parse::<IpAddr>() {
                if !self.ip_addresses.contains(&ip) {
                    self.ip_addresses.push(ip);
                }
            } else if is_dns_name(name) {
                let lower = name.to_ascii_lowercase();
                if !self.dns_names.contains(&lower) {
                    self.dns_names.push(lower);
                }
            } else {
                return Err(Error::InvalidName(name.to_owned()));
            }
        }
        Ok(self)
    }

    fn params(&self, key_is_rsa: bool) -> Result<CertificateParams, Error> {
        for (field, value) in [
            ("common name", Some(&self.common_name)),
            ("organization", self.organization.as_ref()),
        ] {
            if let Some(v) = value.filter(|v| v.chars().any(is_control_or_bidi)) {
                return Err(Error::ControlCharacter {
                    field,
                    shown: v.escape_debug().to_string(),
                });
            }
        }
        let not_before = whole_seconds(self.not_before);
        let not_after = whole_seconds(self.not_after);
        if not_before >= not_after {
            return Err(Error::InvalidValidity {
                not_before,
                not_after,
            });
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        params.distinguished_name = dn;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        params.subject_alt_names = self
            .dns_names
            .iter()
            .map(|d| {
                d.as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| Error::InvalidName(d.clone()))
            })
            .chain(
                self.ip_addresses
                    .iter()
                    .map(|ip| Ok(SanType::IpAddress(*ip))),
            )
            .collect::<Result<_, _>>()?;
        match self.role {
            Role::Ca { path_len } => {
                params.is_ca = IsCa::Ca(match path_len {
                    Some(n) => BasicConstraints::Constrained(n),
                    None => BasicConstraints::Unconstrained,
                });
                params.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                ];
            }
            Role::Leaf => {
                params.is_ca = IsCa::ExplicitNoCa;
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                // An RSA leaf carries keyEncipherment whatever its EKU: RSA key exchange in
                // TLS 1.2 needs it, and GnuTLS (libvirt, QEMU) refuses server and client
                // certificates without it. EC and Ed25519 keys must not carry it (RFC 8813).
                if key_is_rsa {
                    params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
                }
            }
        }
        params.extended_key_usages = self
            .eku
            .iter()
            .map(|e| match e {
                Eku::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                Eku::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect();
        Ok(params)
    }
}

/// A CA able to sign: its certificate and its key.
#[derive(Debug)]
pub struct Issuer<'a> {
    /// The CA certificate, DER.
    pub cert: &'a [u8],
    /// The CA's private key.
    pub key: &'a PrivateKey,
}

fn build_err(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| Error::Build {
        what,
        detail: e.to_string(),
    }
}

fn spki_is_rsa(spki_der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map(|(_, s)| s.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1")
        .unwrap_or(false)
}

/// The key algorithm of a DER SubjectPublicKeyInfo, when it is one certherd offers
/// (`None` for any other key, or bytes that do not parse).
pub fn spki_key_algorithm(spki_der: &[u8]) -> Option<crate::KeyAlgorithm> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    crate::KeyAlgorithm::ALL
        .into_iter()
        .find(|a| a.description() == crate::info::describe_key(&spki))
}

/// Issues a certificate for the public key `subject_spki` (DER SubjectPublicKeyInfo),
/// signed by `issuer`.
pub fn issue(
    spec: &CertSpec,
    subject_spki: &[u8],
    issuer: &Issuer<'_>,
) -> Result<CertificateDer<'static>, Error> {
    issue_with_crl_url(spec, subject_spki, issuer, None)
}

/// A CRL signed by `issuer` revoking the certificates with these serial numbers (hex, as
/// [`crate::CertInfo::serial`] shows them) at `this_update` without a reason code, valid
/// from `this_update` to `next_update`. See [`crate::crl_with`] for reasons and times.
pub fn crl(
    issuer: &Issuer<'_>,
    revoked_serials: &[&str],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, Error> {
    let revoked: Vec<crate::Revoked> = revoked_serials
        .iter()
        .map(|s| crate::Revoked {
            serial: (*s).to_owned(),
            revoked_at: this_update,
            reason: crate::RevocationReason::Unspecified,
        })
        .collect();
    crate::crl_with(issuer, &revoked, number, this_update, next_update)
}

/// Like [`issue`], with a CRL Distribution Points extension naming `crl_url` (RFC 5280
/// 4.2.1.13: one distribution point, a full name of one URI) when one is given.
pub fn issue_with_crl_url(
    spec: &CertSpec,
    subject_spki: &[u8],
    issuer: &Issuer<'_>,
    crl_url: Option<&str>,
) -> Result<CertificateDer<'static>, Error> {
    let mut params = spec.params(spki_is_rsa(subject_spki))?;
    if let Some(url) = crl_url {
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![url.to_owned()],
        }];
    }
    let public = SubjectPublicKeyInfo::from_der(subject_spki).map_err(build_err("certificate"))?;
    let ca = rcgen::Issuer::from_ca_cert_der(&CertificateDer::from(issuer.cert), issuer.key.pair())
        .map_err(build_err("issuer"))?;
    let cert = params
        .signed_by(&public, &ca)
        .map_err(build_err("certificate"))?;
    Ok(cert.der().clone())
}

/// Builds a self-signed certificate (a root CA, or a self-signed identity).
pub fn self_sign(spec: &CertSpec, key: &PrivateKey) -> Result<CertificateDer<'static>, Error> {
    let params = spec.params(key.algorithm().is_rsa())?;
    let cert = params
        .self_signed(key.pair())
        .map_err(build_err("certificate"))?;
    Ok(cert.der().clone())
}

/// Builds a PKCS#10 CSR for `key` carrying the spec's subject, SANs, usages and role.
pub fn signing_request(spec: &CertSpec, key: &PrivateKey) -> Result<Vec<u8>, Error> {
    let mut params = spec.params(key.algorithm().is_rsa())?;
    // The CA chooses the serial and writes the AKI; a CSR carries neither.
    params.serial_number = None;
    params.use_authority_key_identifier_extension = false;
    let csr = params
        .serialize_request(key.pair())
        .map_err(build_err("CSR"))?;
    Ok(csr.der().to_vec())
}

/// 32 random bytes from the crypto provider's generator (join tokens, secrets).
pub fn random32() -> Result<[u8; 32], Error> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Key("random generator failed".into()))?;
    Ok(bytes)
}

/// A random positive 128-bit serial number (RFC 5280 asks for at most 20 octets; CA/B
/// guidance asks for at least 64 bits of entropy).
pub fn random_serial() -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Key("random generator failed".into()))?;
    // Clear the sign bit so the INTEGER is positive, and set the next one so the encoding
    // keeps all 16 octets (no leading-zero trimming).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertInfo, KeyAlgorithm};
    use time::macros::datetime;

    fn spec(cn: &str, role: Role) -> CertSpec {
        CertSpec {
            common_name: cn.into(),
            organization: Some("certherd".into()),
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2036-01-01 0:00 UTC),
            role,
            eku: vec![],
        }
    }

    #[test]
    fn names_with_control_or_bidi_characters_are_never_signed() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        for cn in [
            "svc \u{1b}]0;PWNED\u{7}",
            "evil\u{202e}fdp.exe",
            "a\u{9b}b",
            "tab\there",
        ] {
            let e = self_sign(&spec(cn, Role::Leaf), &key).unwrap_err();
            assert!(
                matches!(
                    &e,
                    Error::ControlCharacter {
                        field: "common name",
                        ..
                    }
                ),
                "{cn:?}: {e}"
            );
            assert!(
                !e.to_string().contains('\u{1b}'),
                "the message is escaped: {e}"
            );
            let ca = spec("Root", Role::Ca { path_len: None });
            let root = self_sign(&ca, &key).unwrap();
            let issuer = Issuer {
                cert: &root,
                key: &key,
            };
            assert!(issue(&spec(cn, Role::Leaf), &key.public_key_spki(), &issuer).is_err());
            assert!(signing_request(&spec(cn, Role::Leaf), &key).is_err());
        }
        let mut o = spec("fine", Role::Leaf);
        o.organization = Some("Evil\u{7}Corp".into());
        assert!(matches!(
            self_sign(&o, &key),
            Err(Error::ControlCharacter {
                field: "organization",
                ..
            })
        ));
        // Other non-ASCII text is fine.
        assert!(self_sign(&spec("Zürich Ünïcode", Role::Leaf), &key).is_ok());
    }

    #[test]
    fn root_and_leaf_have_the_expected_extensions() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }), &ca_key).unwrap();
        let root_info = CertInfo::from_der(&root).unwrap();
        assert!(root_info.is_ca && root_info.self_issued);
        assert!(root_info.key_usage.contains(&"keyCertSign"));
        assert!(root_info.subject_key_id.is_some());

        let leaf_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let mut leaf_spec = spec("node1.example.com", Role::Leaf)
            .with_names(["node1.example.com", "10.0.0.5"])
            .unwrap();
        leaf_spec.eku = vec![Eku::ServerAuth, Eku::ClientAuth];
        leaf_spec.not_after = datetime!(2028-01-01 0:00 UTC);
        let leaf = issue(
            &leaf_spec,
            &leaf_key.public_key_spki(),
            &Issuer {
                cert: &root,
                key: &ca_key,
            },
        )
        .unwrap();
        let info = CertInfo::from_der(&leaf).unwrap();
        assert!(!info.is_ca);
        assert_eq!(info.dns_names, vec!["node1.example.com"]);
        assert_eq!(info.ip_addresses.len(), 1);
        assert_eq!(info.extended_key_usage, vec!["serverAuth", "clientAuth"]);
        assert!(info.key_usage.contains(&"keyEncipherment"));
        assert_eq!(info.authority_key_id, root_info.subject_key_id);
        assert_eq!(info.serial.len(), 32);
        assert!(CertInfo::is_signed_by(&leaf, &root));
        assert!(!CertInfo::is_signed_by(&root, &leaf));
    }

    /// The key usages a leaf must carry for its key: RSA digitalSignature and
    /// keyEncipherment (GnuTLS, as libvirt and QEMU use it, refuses an RSA certificate
    /// without keyEncipherment); ECDSA and Ed25519 digitalSignature only (RFC 8813).
    fn expected_leaf_usages(algo: KeyAlgorithm) -> Vec<&'static str> {
        if algo.is_rsa() {
            vec!["digitalSignature", "keyEncipherment"]
        } else {
            vec!["digitalSignature"]
        }
    }

    #[test]
    fn leaf_key_usages_follow_the_subject_key_for_every_eku() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = self_sign(&spec("Root", Role::Ca { path_len: None }), &ca_key).unwrap();
        let issuer = Issuer {
            cert: &root,
            key: &ca_key,
        };
        for algo in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let key = PrivateKey::generate(algo).unwrap();
            assert_eq!(spki_key_algorithm(&key.public_key_spki()), Some(algo));
            for eku in [
                vec![Eku::ServerAuth, Eku::ClientAuth],
                vec![Eku::ClientAuth],
                vec![Eku::ServerAuth],
                vec![],
            ] {
                let mut s = spec("host1.example.com", Role::Leaf);
                s.eku = eku.clone();
                // Issued for a public key (as from a CSR): the usages follow that key,
                // not the issuer's.
                let issued = issue(&s, &key.public_key_spki(), &issuer).unwrap();
                let info = CertInfo::from_der(&issued).unwrap();
                assert_eq!(info.key_usage, expected_leaf_usages(algo), "{algo} {eku:?}");
                // Self-signed (pool-internal) the same.
                let own = self_sign(&s, &key).unwrap();
                let info = CertInfo::from_der(&own).unwrap();
                assert_eq!(info.key_usage, expected_leaf_usages(algo), "{algo} {eku:?}");
                // From a CSR's public key, as the fleet server issues host certificates.
                let csr = signing_request(&s, &key).unwrap();
                let csr = crate::CsrInfo::from_der(&csr).unwrap();
                let issued = issue(&s, &csr.spki_der, &issuer).unwrap();
                let info = CertInfo::from_der(&issued).unwrap();
                assert_eq!(info.key_usage, expected_leaf_usages(algo), "{algo} {eku:?}");
            }
            // A CA never gets keyEncipherment, whatever its key.
            let ca = self_sign(&spec("CA", Role::Ca { path_len: None }), &key).unwrap();
            let info = CertInfo::from_der(&ca).unwrap();
            assert_eq!(
                info.key_usage,
                vec!["digitalSignature", "keyCertSign", "cRLSign"]
            );
        }
        assert_eq!(spki_key_algorithm(b"not a key"), None);
    }

    #[test]
    fn bad_names_and_validity_are_refused() {
        assert!(spec("x", Role::Leaf).with_names(["not a name"]).is_err());
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let mut s = spec("x", Role::Leaf);
        s.not_after = s.not_before;
        assert!(matches!(
            self_sign(&s, &key),
            Err(Error::InvalidValidity { .. })
        ));
    }

    #[test]
    fn csr_carries_subject_names_and_a_valid_signature() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let s = spec("node1.example.com", Role::Leaf)
            .with_names(["node1.example.com", "192.0.2.1"])
            .unwrap();
        let der = signing_request(&s, &key).unwrap();
        let info = crate::CsrInfo::from_der(&der).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some("node1.example.com"));
        assert_eq!(info.dns_names, vec!["node1.example.com"]);
        assert_eq!(info.ip_addresses.len(), 1);
        assert!(info.signature_valid);
        assert_eq!(info.spki_der, key.public_key_spki());
    }

    #[test]
    fn serials_are_positive_and_distinct() {
        let a = random_serial().unwrap().to_bytes();
        let b = random_serial().unwrap().to_bytes();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0);
    }
}
