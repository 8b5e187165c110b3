//! What certherd shows and stores about a certificate, CRL or CSR, read with x509-parser.

use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::{hex, sha1, sha256, Error};

/// The facts about one certificate that certherd lists, stores and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN in RFC 4514-like form (`CN=...`).
    pub subject: String,
    /// The subject's first common name, if any.
    pub subject_cn: Option<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Raw DER of the subject name, for matching issuers.
    pub subject_raw: Vec<u8>,
    /// Raw DER of the issuer name.
    pub issuer_raw: Vec<u8>,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// DNS names from the SAN extension.
    pub dns_names: Vec<String>,
    /// IP addresses from the SAN extension.
    pub ip_addresses: Vec<IpAddr>,
    /// Other SANs (email, URI), rendered `email:...` / `URI:...`.
    pub other_names: Vec<String>,
    /// Key usage bits by RFC 5280 name (`digitalSignature`, `keyCertSign`, ...).
    pub key_usage: Vec<&'static str>,
    /// Whether the keyUsage extension is marked critical (TLS stacks such as GnuTLS
    /// refuse a certificate only for a critical keyUsage that lacks a bit).
    pub key_usage_critical: bool,
    /// Extended key usages (`serverAuth`, `clientAuth`, or a dotted OID).
    pub extended_key_usage: Vec<String>,
    /// Whether the certificate has an extendedKeyUsage extension at all (absent: any
    /// purpose).
    pub has_extended_key_usage: bool,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// Subject and issuer names are equal (a root or a self-signed leaf).
    pub self_issued: bool,
    /// Public key description, e.g. `ECDSA P-256`, `RSA 2048`.
    pub public_key: String,
    /// Signature algorithm, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// Subject key identifier, hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier, hex.
    pub authority_key_id: Option<String>,
    /// SHA-256 thumbprint of the DER, lower-case hex.
    pub sha256: String,
    /// SHA-1 thumbprint of the DER, lower-case hex (legacy display only).
    pub sha1: String,
}

fn malformed(what: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what,
        detail: e.to_string(),
    }
}

fn to_time(t: x509_parser::time::ASN1Time) -> OffsetDateTime {
    t.to_datetime()
}

impl CertInfo {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| malformed("certificate", e))?;
        let mut info = CertInfo {
            subject: cert.subject().to_string(),
            subject_cn: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            issuer: cert.issuer().to_string(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            serial: hex(cert.raw_serial()),
            not_before: to_time(cert.validity().not_before),
            not_after: to_time(cert.validity().not_after),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            other_names: Vec::new(),
            key_usage: Vec::new(),
            key_usage_critical: false,
            extended_key_usage: Vec::new(),
            has_extended_key_usage: false,
            is_ca: false,
            path_len: None,
            self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
            public_key: describe_key(cert.public_key()),
            signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
            spki_der: cert.public_key().raw.to_vec(),
            subject_key_id: None,
            authority_key_id: None,
            sha256: hex(&sha256(der)),
            sha1: hex(&sha1(der)),
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => info.dns_names.push((*d).to_owned()),
                            GeneralName::IPAddress(bytes) => match bytes.len() {
                                4 => {
                                    let mut a = [0u8; 4];
                                    a.copy_from_slice(bytes);
                                    info.ip_addresses.push(IpAddr::from(a));
                                }
                                16 => {
                                    let mut a = [0u8; 16];
                                    a.copy_from_slice(bytes);
                                    info.ip_addresses.push(IpAddr::from(a));
                                }
                                _ => info.other_names.push(format!("IP:<{} bytes>", bytes.len())),
                            },
                            GeneralName::RFC822Name(e) => {
                                info.other_names.push(format!("email:{e}"))
                            }
                            GeneralName::URI(u) => info.other_names.push(format!("URI:{u}")),
                            other => info.other_names.push(format!("{other}")),
                        }
                    }
                }
                ParsedExtension::KeyUsage(ku) => {
                    let bits: [(bool, &'static str); 9] = [
                        (ku.digital_signature(), "digitalSignature"),
                        (ku.non_repudiation(), "contentCommitment"),
                        (ku.key_encipherment(), "keyEncipherment"),
                        (ku.data_encipherment(), "dataEncipherment"),
                        (ku.key_agreement(), "keyAgreement"),
                        (ku.key_cert_sign(), "keyCertSign"),
                        (ku.crl_sign(), "cRLSign"),
                        (ku.encipher_only(), "encipherOnly"),
                        (ku.decipher_only(), "decipherOnly"),
                    ];
                    info.key_usage = bits.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
                    info.key_usage_critical = ext.critical;
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    info.has_extended_key_usage = true;
                    let named: [(bool, &str); 7] = [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ];
                    info.extended_key_usage = named
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, n)| (*n).to_owned())
                        .chain(eku.other.iter().map(|o| o.to_id_string()))
                        .collect();
                }
                ParsedExtension::BasicConstraints(bc) => {
                    info.is_ca = bc.ca;
                    info.path_len = bc.path_len_constraint;
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    info.subject_key_id = Some(hex(ski.0))
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    info.authority_key_id = aki.key_identifier.as_ref().map(|k| hex(k.0));
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// The SANs as `DNS:name` / `IP:addr` / others, in certificate order by kind.
    pub fn subject_alt_names(&self) -> Vec<String> {
        self.dns_names
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(self.ip_addresses.iter().map(|i| format!("IP:{i}")))
            .chain(self.other_names.iter().cloned())
            .collect()
    }

    /// Whether the certificate's SANs (or, without SANs, its CN) cover `name`:
    /// an exact DNS name, a single-label wildcard, or an exact IP address.
    pub fn covers_name(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let dns_match = |pattern: &str| {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            if let Some(suffix) = pattern.strip_prefix("*.") {
                name.split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
            } else {
                pattern == name
            }
        };
        if self.dns_names.is_empty() && self.ip_addresses.is_empty() {
            return self.subject_cn.as_deref().is_some_and(dns_match);
        }
        self.dns_names.iter().any(|d| dns_match(d))
    }

    /// Whether `issuer` signed this certificate (names chain and the signature verifies).
    pub fn is_signed_by(der: &[u8], issuer_der: &[u8]) -> bool {
        let (Ok((_, cert)), Ok((_, issuer))) = (
            X509Certificate::from_der(der),
            X509Certificate::from_der(issuer_der),
        ) else {
            return false;
        };
        cert.issuer().as_raw() == issuer.subject().as_raw()
            && cert.verify_signature(Some(issuer.public_key())).is_ok()
    }
}

pub(crate) fn describe_key(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                Some("1.3.132.0.34") => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                _ => format!("EC {} bits", point.key_size()),
            }
        }
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => "Ed25519".into(),
            "1.3.101.113" => "Ed448".into(),
            other => format!("unknown ({other})"),
        },
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.3.101.112" => "ED25519",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// The SubjectPublicKeyInfo of a DER certificate as written in it (parsed by x509-parser,
/// without the hashes and names [`CertInfo`] computes), to match keys to certificates.
pub fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.tbs_certificate.subject_pki.raw)
}

/// The facts certherd keeps about a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// Issuer DN.
    pub issuer: String,
    /// Raw DER of the issuer name.
    pub issuer_raw: Vec<u8>,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate, if present.
    pub next_update: Option<OffsetDateTime>,
    /// How many certificates it revokes.
    pub revoked: usize,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
}

impl CrlInfo {
    /// Parses a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
            .map_err(|e| malformed("CRL", e))?;
        Ok(CrlInfo {
            issuer: crl.issuer().to_string(),
            issuer_raw: crl.issuer().as_raw().to_vec(),
            this_update: to_time(crl.last_update()),
            next_update: crl.next_update().map(to_time),
            revoked: crl.iter_revoked_certificates().count(),
            sha256: hex(&sha256(der)),
        })
    }

    /// Whether the CRL's signature verifies under `issuer_der`'s public key.
    pub fn is_signed_by(der: &[u8], issuer_der: &[u8]) -> bool {
        let (Ok((_, crl)), Ok((_, issuer))) = (
            x509_parser::revocation_list::CertificateRevocationList::from_der(der),
            X509Certificate::from_der(issuer_der),
        ) else {
            return false;
        };
        crl.issuer().as_raw() == issuer.subject().as_raw()
            && crl.verify_signature(issuer.public_key()).is_ok()
    }
}

/// The facts about a certificate signing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrInfo {
    /// Subject DN.
    pub subject: String,
    /// The subject's common name.
    pub subject_cn: Option<String>,
    /// DNS SANs requested.
    pub dns_names: Vec<String>,
    /// IP SANs requested.
    pub ip_addresses: Vec<IpAddr>,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// Whether the request's self-signature verifies.
    pub signature_valid: bool,
}

impl CsrInfo {
    /// Parses a DER CSR.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
            .map_err(|e| malformed("certificate signing request", e))?;
        let info = &csr.certification_request_info;
        let mut out = CsrInfo {
            subject: info.subject.to_string(),
            subject_cn: info
                .subject
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            spki_der: info.subject_pki.raw.to_vec(),
            signature_valid: csr.verify_signature().is_ok(),
        };
        for ext in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => out.dns_names.push((*d).to_owned()),
                        GeneralName::IPAddress(b) if b.len() == 4 => {
                            let mut a = [0u8; 4];
                            a.copy_from_slice(b);
                            out.ip_addresses.push(IpAddr::from(a));
                        }
                        GeneralName::IPAddress(b) if b.len() == 16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(b);
                            out.ip_addresses.push(IpAddr::from(a));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }
}
