//! RFC 5280 path validation by certval (carl-wallace/rust-pki, tested with NIST PKITS), the
//! second opinion behind [`crate::verify`]: webpki is what our TLS handshakes use, certval
//! adds what webpki leaves out (keyCertSign on issuers, an expired trust anchor, path length
//! of self-issued certificates, e-mail and directoryName name constraints, certificate
//! policies). This module also holds the small profile checks on parsed fields (weak keys,
//! weak signatures) and the e-mail peer-name check. No ASN.1 or path processing is written
//! here: certval parses and processes, x509-parser gives the fields for the reasons.

use std::sync::{Arc, Mutex};

use certval::{
    check_revocation_local, enforce_trust_anchor_constraints, CertFile, CertSource, CertVector,
    CertificationPath, CertificationPathResults, CertificationPathSettings,
    DefaultSignatureVerificationCache, MemoryCrlSource, PDVCertificate, PathValidationStatus as S,
    PkiEnvironment, TaSource, TimeOfInterest,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::verify::{Purpose, Reason, VerifyInput};

/// RFC 5280 section 6.1.1 inputs beyond the path itself, for [`crate::verify_all_with`].
///
/// `Default` is what [`crate::verify`] uses: any policy, no explicit policy, mapping and
/// anyPolicy allowed, and revocation checked only where a CRL for the issuer was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rfc5280Options {
    /// user-initial-policy-set as dotted OIDs; empty means anyPolicy.
    pub initial_policy_set: Vec<String>,
    /// initial-explicit-policy: the path must be valid for a policy of the set.
    pub initial_explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    pub initial_policy_mapping_inhibit: bool,
    /// initial-any-policy-inhibit.
    pub initial_any_policy_inhibit: bool,
    /// Fail when the revocation status of a certificate in the path cannot be determined
    /// from the given CRLs (by default an unknown status is allowed, as in our TLS).
    pub require_revocation_status: bool,
}

/// The path certval validated, anchor first, as DER.
pub(crate) type Rfc5280Path = Vec<Vec<u8>>;

/// Facts about one certificate, read with x509-parser, for the reasons' context.
struct Facts {
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn facts(der: &[u8]) -> Option<Facts> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some(Facts {
        subject: c.subject().to_string(),
        not_before: c.validity().not_before.to_datetime(),
        not_after: c.validity().not_after.to_datetime(),
    })
}

fn status_reason(status: S, index: Option<usize>, path: &[Vec<u8>], at: OffsetDateTime) -> Reason {
    let der = index.and_then(|i| path.get(i));
    let f = der.and_then(|d| facts(d));
    let subject = f
        .as_ref()
        .map_or_else(|| "(unknown certificate)".to_owned(), |f| f.subject.clone());
    let is_anchor = index == Some(0);
    let is_target = index.is_some_and(|i| i + 1 == path.len());
    match status {
        S::NameChainingFailure
        | S::NoPathsFound
        | S::MissingTrustAnchor
        | S::MissingTrustAnchorName
        | S::MissingCertificate => Reason::UnknownIssuer,
        S::SignatureVerificationFailure => Reason::BadSignature,
        S::InvalidNotBeforeDate => match f {
            Some(f) => Reason::NotYetValid {
                not_before: f.not_before,
                now: at,
            },
            None => Reason::Other(format!("{status}")),
        },
        S::InvalidNotAfterDate => match f {
            Some(f) if is_anchor => Reason::AnchorExpired {
                subject,
                not_after: f.not_after,
                now: at,
            },
            Some(f) => Reason::Expired {
                not_after: f.not_after,
                now: at,
            },
            None => Reason::Other(format!("{status}")),
        },
        S::MissingBasicConstraints | S::InvalidBasicConstraints => Reason::EndEntityUsedAsCa,
        S::InvalidPathLength => Reason::PathLenExceeded,
        S::InvalidKeyUsage if !is_target => Reason::IssuerLacksKeyCertSign { subject },
        S::InvalidKeyUsage => Reason::KeyUsageViolation { subject },
        S::NullPolicySet => Reason::PolicyViolation {
            detail: "no certificate policy is valid for the whole path".to_owned(),
        },
        S::InvalidPolicyMapping => Reason::PolicyViolation {
            detail: format!("'{subject}' maps to or from anyPolicy"),
        },
        S::NameConstraintsViolation => Reason::NameConstraintViolation,
        S::UnprocessedCriticalExtension => Reason::UnsupportedCriticalExtension,
        S::CertificateRevoked
        | S::CertificateRevokedEndEntity
        | S::CertificateRevokedIntermediateCa
        | S::CertificateOnHold
        | S::CertificateBlocklisted => Reason::Revoked,
        S::RevocationStatusNotDetermined | S::StatusCheckReliedOnStaleCrl => {
            Reason::RevocationUnknown { subject }
        }
        S::InsufficientKeySize => der.and_then(|d| weak_key(d)).unwrap_or(Reason::WeakKey {
            subject,
            algorithm: "RSA".to_owned(),
            bits: 0,
        }),
        S::EncodingError => Reason::Malformed(format!("certval: {status}")),
        other => Reason::Other(format!("certval: {other}")),
    }
}

fn error_reason(
    e: certval::Error,
    cpr: &CertificationPathResults,
    path: &[Vec<u8>],
    at: OffsetDateTime,
) -> Reason {
    let index = cpr
        .get_failure_index()
        .and_then(|i| usize::try_from(i).ok());
    match e {
        certval::Error::PathValidation(s) => {
            status_reason(cpr.get_validation_status().unwrap_or(s), index, path, at)
        }
        certval::Error::Asn1Error(d) => Reason::Malformed(format!("certval: {d}")),
        certval::Error::ParseError | certval::Error::LengthError => {
            Reason::Malformed(format!("certval: {e}"))
        }
        other => Reason::Other(format!("certval: {other}")),
    }
}

fn settings(input: &VerifyInput<'_>, opts: &Rfc5280Options) -> CertificationPathSettings {
    let mut cps = CertificationPathSettings::new();
    let secs = u64::try_from(input.at.unix_timestamp()).unwrap_or(0);
    if let Ok(toi) = TimeOfInterest::from_unix_secs(secs) {
        cps.set_time_of_interest(toi);
    }
    cps.set_enforce_trust_anchor_constraints(true);
    cps.set_enforce_trust_anchor_validity(true);
    if !opts.initial_policy_set.is_empty() {
        cps.set_initial_policy_set(opts.initial_policy_set.clone());
    }
    cps.set_initial_explicit_policy_indicator(opts.initial_explicit_policy);
    cps.set_initial_policy_mapping_inhibit_indicator(opts.initial_policy_mapping_inhibit);
    cps.set_initial_inhibit_any_policy_indicator(opts.initial_any_policy_inhibit);
    cps.set_check_revocation_status(!input.crls.is_empty() || opts.require_revocation_status);
    cps.set_check_crls(true);
    cps
}

/// A certval path as DER, anchor first.
fn path_ders(p: &CertificationPath) -> Rfc5280Path {
    let mut v = vec![p.trust_anchor.as_bytes().to_vec()];
    v.extend(p.intermediates.iter().map(|c| c.as_bytes().to_vec()));
    v.push(p.target.as_bytes().to_vec());
    v
}

/// certval's environment for one set of anchors, intermediates and CRLs at one instant.
/// Building it parses every certificate and verifies the partial paths between them, the
/// costly part of a call; a scan validates thousands of certificates against the same set,
/// so the last one is kept (with a cache of verified signatures) and reused when the next
/// call's inputs are byte for byte the same.
struct Prepared {
    trusted: Vec<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
    at: i64,
    opts: Rfc5280Options,
    pe: PkiEnvironment,
}

static LAST: Mutex<Option<Arc<Prepared>>> = Mutex::new(None);

fn same<T: AsRef<[u8]>>(a: &[T], b: &[Vec<u8>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_ref() == y.as_slice())
}

fn prepared(
    input: &VerifyInput<'_>,
    opts: &Rfc5280Options,
    cps: &CertificationPathSettings,
) -> Arc<Prepared> {
    let at = input.at.unix_timestamp();
    if let Ok(last) = LAST.lock() {
        if let Some(p) = last.as_ref().filter(|p| {
            p.at == at
                && p.opts == *opts
                && same(input.trusted, &p.trusted)
                && same(input.intermediates, &p.intermediates)
                && same(input.crls, &p.crls)
        }) {
            return Arc::clone(p);
        }
    }
    let mut pe = PkiEnvironment::new();
    pe.populate_5280_pki_environment();
    pe.add_signature_cache(Box::new(DefaultSignatureVerificationCache::new()));
    let mut tas = TaSource::new();
    for t in input.trusted {
        tas.push(CertFile {
            filename: String::new(),
            bytes: t.to_vec(),
        });
    }
    // An anchor certval cannot parse is simply not an anchor for it; webpki decides alone.
    let _ = tas.initialize();
    pe.add_trust_anchor_source(Box::new(tas));
    let mut certs = CertSource::new();
    for c in input.intermediates {
        certs.push(CertFile {
            filename: String::new(),
            bytes: c.to_vec(),
        });
    }
    // Likewise an intermediate it cannot parse is left out of the paths it builds.
    let _ = certs.initialize(cps);
    certs.find_all_partial_paths(&pe, cps);
    pe.add_certificate_source(Box::new(certs));
    if !input.crls.is_empty() {
        let crls = MemoryCrlSource::new();
        for c in input.crls {
            crls.add(c);
        }
        pe.add_crl_source(Box::new(crls));
    }
    let p = Arc::new(Prepared {
        trusted: input.trusted.iter().map(|c| c.to_vec()).collect(),
        intermediates: input.intermediates.iter().map(|c| c.to_vec()).collect(),
        crls: input.crls.iter().map(|c| c.to_vec()).collect(),
        at,
        opts: opts.clone(),
        pe,
    });
    if let Ok(mut last) = LAST.lock() {
        *last = Some(Arc::clone(&p));
    }
    p
}

/// Validates `input` per RFC 5280 with certval. On success returns the path (anchor first);
/// on failure, the reasons for the first path tried (or why none could be built), and that
/// path when there was one.
pub(crate) fn validate(
    input: &VerifyInput<'_>,
    opts: &Rfc5280Options,
) -> Result<Rfc5280Path, (Vec<Reason>, Option<Rfc5280Path>)> {
    let cps = settings(input, opts);
    let target = PDVCertificate::try_from(input.end_entity)
        .map_err(|e| (vec![Reason::Malformed(format!("certval: {e}"))], None))?;

    let prepared = prepared(input, opts, &cps);
    let pe = &prepared.pe;
    let toi = cps.get_time_of_interest();
    let mut paths: Vec<CertificationPath> = Vec::new();
    let built = pe.get_paths_for_target(&target, &mut paths, 0, toi);
    if paths.is_empty() {
        let lone = vec![input.end_entity.to_vec()];
        let reason = match built {
            // The target itself is out of its validity period.
            Err(certval::Error::PathValidation(s)) => status_reason(s, Some(0), &lone, input.at),
            _ => Reason::UnknownIssuer,
        };
        // Index 0 of a one-certificate "path" is the target, not an anchor.
        let reason = match reason {
            Reason::AnchorExpired { not_after, now, .. } => Reason::Expired { not_after, now },
            r => r,
        };
        return Err((vec![reason], None));
    }
    let mut first_failure = None;
    for path in &paths {
        let ders = path_ders(path);
        let mut cpr = CertificationPathResults::new();
        let r = enforce_trust_anchor_constraints(&cps, &path.trust_anchor).and_then(|mod_cps| {
            pe.validate_path(pe, &mod_cps, path, &mut cpr)?;
            match check_revocation_local(pe, &mod_cps, path, &mut cpr) {
                Err(certval::Error::PathValidation(
                    S::RevocationStatusNotDetermined | S::StatusCheckReliedOnStaleCrl,
                )) if !opts.require_revocation_status => Ok(()),
                other => other,
            }
        });
        match r {
            Ok(()) => return Ok(ders),
            Err(e) => {
                if first_failure.is_none() {
                    first_failure = Some((error_reason(e, &cpr, &ders, input.at), ders));
                }
            }
        }
    }
    match first_failure {
        Some((reason, ders)) => Err((vec![reason], Some(ders))),
        None => Err((vec![Reason::UnknownIssuer], None)),
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const WEAK_SIGNATURES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.3.14.3.2.29", "sha1WithRSASignature"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
];
const GOOD_CURVES: &[(&str, &str)] = &[
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
];

/// A `WeakKey` reason for a DER certificate whose key is too weak (see [`weaknesses`]).
pub(crate) fn weak_key(der: &[u8]) -> Option<Reason> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    weak_key_of(&c)
}

/// What is weak in a DER certificate, parsed once: a `WeakKey` reason (RSA under 2048 bits
/// or not a multiple of 8 bits, DSA, an elliptic curve other than P-256/P-384/P-521) and a
/// `WeakSignature` reason (MD2, MD5 or SHA-1). The one rule for both: path validation and
/// the inspection use it.
pub fn weaknesses(der: &[u8]) -> Vec<Reason> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    weak_key_of(&c)
        .into_iter()
        .chain(weak_signature_of(&c))
        .collect()
}

/// The profile checks for one certificate of a path, parsed once: its key (anchors too),
/// its signature algorithm and the RFC 5280 profile rules (both skipped or relaxed for the
/// trust anchor, whose self-signature nothing relies on).
pub(crate) fn profile_checks(der: &[u8], anchor: bool) -> Vec<Reason> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !anchor {
        out.extend(weak_signature_of(&c));
    }
    out.extend(weak_key_of(&c));
    out.extend(profile_violations_of(&c, anchor));
    out
}

/// A `WeakKey` reason for a certificate whose key is too weak: RSA under 2048 bits or not a
/// multiple of 8 bits, DSA, or an elliptic curve other than P-256/P-384/P-521.
fn weak_key_of(c: &X509Certificate<'_>) -> Option<Reason> {
    let subject = c.subject().to_string();
    let spki = c.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let m = rsa.modulus;
            let m = &m[m.iter().take_while(|b| **b == 0).count()..];
            let bits = m.first().map_or(0, |b| {
                u32::try_from(m.len() * 8).unwrap_or(u32::MAX) - b.leading_zeros()
            });
            (bits < 2048 || bits % 8 != 0).then(|| Reason::WeakKey {
                subject,
                algorithm: "RSA".to_owned(),
                bits,
            })
        }
        Ok(PublicKey::DSA(y)) => Some(Reason::WeakKey {
            subject,
            algorithm: "DSA".to_owned(),
            bits: u32::try_from(y.len() * 8).unwrap_or(u32::MAX),
        }),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            (!GOOD_CURVES.iter().any(|(oid, _)| *oid == curve)).then(|| Reason::WeakKey {
                subject,
                algorithm: format!("EC curve {curve}"),
                bits: u32::try_from(point.key_size()).unwrap_or(u32::MAX),
            })
        }
        Ok(_) => None,
        // An RSA key x509-parser cannot read is reported by the validators, not here.
        Err(_) if spki.algorithm.algorithm.to_id_string() == OID_RSA => None,
        Err(_) => None,
    }
}

/// A `WeakSignature` reason for a certificate signed with MD2, MD5 or SHA-1.
fn weak_signature_of(c: &X509Certificate<'_>) -> Option<Reason> {
    let oid = c.signature_algorithm.algorithm.to_id_string();
    WEAK_SIGNATURES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, name)| Reason::WeakSignature {
            subject: c.subject().to_string(),
            algorithm: (*name).to_owned(),
        })
}

/// Whether the certificate's subjectAltName holds the e-mail address `addr` (RFC 5280
/// 4.2.1.6: the local part exact, the domain case-insensitive), and the addresses it holds.
pub(crate) fn covers_email(der: &[u8], addr: &str) -> (bool, Vec<String>) {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return (false, Vec::new());
    };
    let mut presented = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::RFC822Name(e) = n {
                presented.push((*e).to_owned());
            }
        }
    }
    let split = |s: &str| {
        s.rsplit_once('@')
            .map(|(l, d)| (l.to_owned(), d.to_ascii_lowercase()))
    };
    let want = split(addr);
    let ok = want.is_some() && presented.iter().any(|p| split(p) == want);
    (ok, presented)
}

/// `ProfileViolation` reasons for RFC 5280 certificate-profile rules that a path validator
/// does not check but that only a misissued certificate breaks. `anchor` relaxes the rules
/// about how a certificate was issued, which do not bind a trust anchor.
fn profile_violations_of(c: &X509Certificate<'_>, anchor: bool) -> Vec<Reason> {
    let subject = c.subject().to_string();
    let mut rules: Vec<&'static str> = Vec::new();
    let is_ca = matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if is_ca && c.subject().iter().next().is_none() {
        rules.push("4.1.2.6: a CA certificate must have a non-empty subject");
    }
    let mut oids: Vec<String> = c
        .extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .collect();
    oids.sort_unstable();
    if oids.windows(2).any(|w| w[0] == w[1]) {
        rules.push("4.2: a certificate must not include more than one instance of an extension");
    }
    if let Ok(Some(nc)) = c.name_constraints() {
        let empty = |s: &Option<Vec<_>>| s.as_ref().is_none_or(Vec::is_empty);
        if empty(&nc.value.permitted_subtrees) && empty(&nc.value.excluded_subtrees) {
            rules.push("4.2.1.10: nameConstraints must hold permitted or excluded subtrees");
        }
        if !anchor && !is_ca {
            rules.push("4.2.1.10: nameConstraints may appear only in a CA certificate");
        }
    }
    if !anchor {
        if let Ok(Some(ku)) = c.key_usage() {
            if ku.value.key_cert_sign() && !is_ca {
                rules.push("4.2.1.3: keyCertSign is asserted but basicConstraints cA is not");
            }
        }
        if let Ok(Some(san)) = c.subject_alternative_name() {
            if !san.critical && c.subject().iter().next().is_none() {
                rules.push("4.2.1.6: subjectAltName must be critical when the subject is empty");
            }
        }
    }
    rules
        .into_iter()
        .map(|rule| Reason::ProfileViolation {
            subject: subject.clone(),
            rule,
        })
        .collect()
}

/// The TLS rule webpki applies to the end entity while building a path, for a path webpki
/// did not build (certval accepted it, webpki stopped earlier): an EKU extension must allow
/// the purpose (anyExtendedKeyUsage does not, as in webpki). A CA certificate as the end
/// entity is RFC 5280-valid; the inspection reports it as `ca-as-leaf`.
pub(crate) fn tls_end_entity_checks(der: &[u8], purpose: Purpose) -> Vec<Reason> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let required = match purpose {
        Purpose::Server => Some("serverAuth"),
        Purpose::Client => Some("clientAuth"),
        Purpose::Any => None,
    };
    if let (Some(required), Ok(Some(eku))) = (required, c.extended_key_usage()) {
        let allowed = match purpose {
            Purpose::Server => eku.value.server_auth,
            _ => eku.value.client_auth,
        };
        if !allowed {
            out.push(Reason::WrongPurpose { required });
        }
    }
    out
}

/// The defensive reading of name constraints for wildcards (CVE-2025-61727, as webpki and
/// Go apply it): a wildcard dNSName `*.B` in the end entity (`path[0]`, the path end entity
/// first) covers every `L.B`, so an issuer's excluded subtree `L.B` forbids it even though
/// the string `*.B` is outside the subtree that RFC 5280 6.1 compares it with.
pub(crate) fn wildcard_against_excluded(path: &[Vec<u8>]) -> Option<Reason> {
    let (ee, issuers) = path.split_first()?;
    let (_, ee) = X509Certificate::from_der(ee).ok()?;
    let san = ee.subject_alternative_name().ok().flatten()?;
    let bases: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => d.strip_prefix("*.").map(str::to_ascii_lowercase),
            _ => None,
        })
        .collect();
    if bases.is_empty() {
        return None;
    }
    for der in issuers {
        let Ok((_, ca)) = X509Certificate::from_der(der) else {
            continue;
        };
        let Ok(Some(nc)) = ca.name_constraints() else {
            continue;
        };
        for subtree in nc.value.excluded_subtrees.iter().flatten() {
            let GeneralName::DNSName(excluded) = subtree.base else {
                continue;
            };
            let excluded = excluded.trim_start_matches('.').to_ascii_lowercase();
            let hit = bases.iter().any(|b| {
                excluded
                    .strip_suffix(b.as_str())
                    .and_then(|l| l.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.contains('.'))
            });
            if hit {
                return Some(Reason::NameConstraintViolation);
            }
        }
    }
    None
}
