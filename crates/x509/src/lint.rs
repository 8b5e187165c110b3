//! Certificate-profile lints: the RFC 5280 section 4 rules a conforming CA follows and the
//! CA/Browser Forum Baseline Requirements rules for TLS certificates that no path validator
//! checks (missing key identifiers, serial numbers out of range, EKU profile, a CN that is
//! not a SAN, criticality of constraint extensions...). Each lint names its rule. They are
//! warnings about how a certificate was issued, not reasons to refuse a path: the caller
//! decides (`certherd verify` fails on them, as `openssl verify -x509_strict` does).
//!
//! Sans I/O and without hand-written ASN.1: the fields come from x509-parser.

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_CRL_NUMBER, OID_X509_EXT_EXTENDED_KEY_USAGE,
    OID_X509_EXT_NAME_CONSTRAINTS, OID_X509_EXT_POLICY_CONSTRAINTS, OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The place of a certificate in the path it is judged in; it selects the rules that apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LintRole {
    /// The end-entity certificate; `tls` when it is used as a TLS server or client identity
    /// (the CA/Browser Forum rules for subscriber certificates then apply).
    Leaf {
        /// Whether the certificate is judged for TLS.
        tls: bool,
    },
    /// An intermediate CA certificate.
    Intermediate,
    /// A root: the trust anchor (usually self-signed).
    Root,
}

/// One broken profile rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// The rule, by its source and section, e.g. "RFC 5280 4.2.1.1".
    pub rule: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

fn mk(rule: &'static str, message: impl Into<String>) -> Lint {
    Lint {
        rule,
        message: message.into(),
    }
}

/// The profile rules `der` breaks in the role `role`; empty when it follows them or does not
/// decode (a certificate that does not decode is reported elsewhere).
pub fn lint(der: &[u8], role: LintRole) -> Vec<Lint> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let is_ca_role = matches!(role, LintRole::Intermediate | LintRole::Root);
    let self_signed =
        c.subject().as_raw() == c.issuer().as_raw() && c.verify_signature(None).is_ok();

    // A self-signed root's serial number identifies it to no issuer (no CRL lists it), and
    // deployed public roots have a zero serial (Starfield Root G2): the rule binds the
    // certificates an issuer signs.
    if !(role == LintRole::Root && self_signed) {
        serial(&c, &mut out);
    }

    let mut aki = None;
    let mut ski = None;
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ParseError { error } => out.push(mk(
                "RFC 5280 4.2",
                format!("the extension {} does not decode: {error}", ext.oid),
            )),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = Some(a),
            ParsedExtension::SubjectKeyIdentifier(s) => ski = Some(s),
            _ => {}
        }
    }
    // A trust anchor is an input to path validation (RFC 5280 6.1.1), not a certificate
    // the path relies on an issuer for, so only the certificates below it need an AKI.
    if aki.is_none() && !self_signed && role != LintRole::Root {
        out.push(mk(
"RFC 5280 4.2.1.1",
            "authorityKeyIdentifier is missing (required in every certificate that is not self-signed)",
        ));
    }
    if ski.is_none() && is_ca_role {
        out.push(mk(
            "RFC 5280 4.2.1.2",
            "subjectKeyIdentifier is missing (required in every CA certificate)",
        ));
    }
    if is_ca_role {
        match criticality(&c, &OID_X509_EXT_BASIC_CONSTRAINTS) {
            None => out.push(mk(
                "RFC 5280 4.2.1.9",
                "basicConstraints is missing from a CA certificate",
            )),
            Some(false) => out.push(mk(
                "RFC 5280 4.2.1.9",
                "basicConstraints is not critical in a CA certificate",
            )),
            Some(_) => {}
        }
    }
    if criticality(&c, &OID_X509_EXT_NAME_CONSTRAINTS) == Some(false) {
        out.push(mk(
            "RFC 5280 4.2.1.10",
            "nameConstraints is not marked critical",
        ));
    }
    if criticality(&c, &OID_X509_EXT_POLICY_CONSTRAINTS) == Some(false) {
        out.push(mk(
            "RFC 5280 4.2.1.11",
            "policyConstraints is not marked critical",
        ));
    }
    for d in &san_dns_names(&c) {
        if !preferred_name_syntax(d) {
            out.push(mk(
"RFC 5280 4.2.1.6",
                format!("the dNSName '{d}' is not in the preferred name syntax (letters, digits and hyphens; '*' only as the whole first label)"),
            ));
        }
    }

    if role == LintRole::Root && self_signed {
        root_rules(&c, aki, ski, &mut out);
    }
    // An end entity that claims to be a CA yet may not sign certificates is neither: the
    // profile contradicts itself (a real CA used as a leaf carries keyCertSign).
    if matches!(role, LintRole::Leaf { .. }) {
        if let (Ok(Some(bc)), Ok(Some(ku))) = (c.basic_constraints(), c.key_usage()) {
            if bc.value.ca && !ku.value.key_cert_sign() {
                out.push(mk(
                    "RFC 5280 4.2.1.9, CA/B BR 7.1.2.7.8",
                    "basicConstraints says cA=TRUE but keyUsage does not allow keyCertSign",
                ));
            }
        }
    }
    if role == (LintRole::Leaf { tls: true }) {
        tls_leaf_rules(&c, &mut out);
    }
    out
}

/// The dNSNames of a certificate's subjectAltName, in order (none when it has none, or
/// one that does not decode).
pub(crate) fn san_dns_names<'a>(c: &X509Certificate<'a>) -> Vec<&'a str> {
    c.subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(*d),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the extension `oid` is critical; `None` when absent (or present twice, which the
/// validators refuse).
fn criticality(c: &X509Certificate<'_>, oid: &x509_parser::der_parser::Oid<'_>) -> Option<bool> {
    c.get_extension_unique(oid)
        .ok()
        .flatten()
        .map(|e| e.critical)
}

/// RFC 5280 4.1.2.2: a positive integer of at most 20 octets.
fn serial(c: &X509Certificate<'_>, out: &mut Vec<Lint>) {
    let raw = c.raw_serial();
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        out.push(mk("RFC 5280 4.1.2.2", "the serial number is negative"));
    } else if raw.iter().all(|b| *b == 0) {
        out.push(mk("RFC 5280 4.1.2.2", "the serial number is zero"));
    }
    if raw.len() > 20 {
        out.push(mk(
            "RFC 5280 4.1.2.2",
            format!(
                "the serial number is {} octets long (at most 20)",
                raw.len()
            ),
        ));
    }
}

/// CA/Browser Forum Baseline Requirements 7.1.2.1 (self-signed roots): a root has no extendedKeyUsage, and its
/// authorityKeyIdentifier, when present, is its own keyIdentifier alone.
fn root_rules(
    c: &X509Certificate<'_>,
    aki: Option<&x509_parser::extensions::AuthorityKeyIdentifier<'_>>,
    ski: Option<&x509_parser::extensions::KeyIdentifier<'_>>,
    out: &mut Vec<Lint>,
) {
    if c.get_extension_unique(&OID_X509_EXT_EXTENDED_KEY_USAGE)
        .ok()
        .flatten()
        .is_some()
    {
        out.push(mk(
            "CA/B BR 7.1.2.1.2",
            "a root certificate has an extendedKeyUsage extension",
        ));
    }
    if let Some(aki) = aki {
        match (&aki.key_identifier, ski) {
            (None, _) => out.push(mk(
                "CA/B BR 7.1.2.1.3",
                "a root's authorityKeyIdentifier has no keyIdentifier",
            )),
            (Some(k), Some(s)) if k.0 != s.0 => out.push(mk(
                "CA/B BR 7.1.2.1.3",
                "a root's authorityKeyIdentifier differs from its subjectKeyIdentifier",
            )),
            _ => {}
        }
        if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial.is_some() {
            out.push(mk(
"CA/B BR 7.1.2.1.3",
                "a root's authorityKeyIdentifier has authorityCertIssuer or authorityCertSerialNumber",
            ));
        }
    }
}

/// CA/Browser Forum Baseline Requirements 7.1.2.7 for TLS subscriber certificates.
fn tls_leaf_rules(c: &X509Certificate<'_>, out: &mut Vec<Lint>) {
    match c.get_extension_unique(&OID_X509_EXT_EXTENDED_KEY_USAGE) {
        Ok(None) => out.push(mk(
            "CA/B BR 7.1.2.7.10",
            "a TLS certificate has no extendedKeyUsage",
        )),
        Ok(Some(e)) => {
            if e.critical {
                out.push(mk(
                    "CA/B BR 7.1.2.7.6",
                    "extendedKeyUsage is marked critical",
                ));
            }
            if let ParsedExtension::ExtendedKeyUsage(eku) = e.parsed_extension() {
                if eku.any {
                    out.push(mk(
                        "CA/B BR 7.1.2.7.10",
                        "a TLS certificate has anyExtendedKeyUsage",
                    ));
                }
            }
        }
        Err(_) => {}
    }
    let empty_subject = c.subject().iter().next().is_none();
    if let Ok(Some(e)) = c.get_extension_unique(&OID_X509_EXT_SUBJECT_ALT_NAME) {
        if e.critical && !empty_subject {
            out.push(mk(
                "CA/B BR 7.1.2.7.12",
                "subjectAltName is critical although the subject is not empty",
            ));
        }
    }
    // Every commonName must be a copy of a SAN: a dNSName byte for byte, or an IP address
    // in its canonical text form (dotted quad, RFC 5952).
    let (dns, ips): (Vec<String>, Vec<IpAddr>) = match c.subject_alternative_name() {
        Ok(Some(san)) => {
            let mut dns = Vec::new();
            let mut ips = Vec::new();
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            ips.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            ips.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
            (dns, ips)
        }
        _ => (Vec::new(), Vec::new()),
    };
    // A leaf whose identities are all of other kinds (e-mail, directory names) is not a
    // TLS server certificate, which the rule is about.
    let tls_identity = !(dns.is_empty() && ips.is_empty());
    for cn in c.subject().iter_common_name().filter(|_| tls_identity) {
        let Ok(cn) = cn.as_str() else {
            out.push(mk(
                "CA/B BR 7.1.4.3",
                "the subject commonName is not a string that copies a SAN",
            ));
            continue;
        };
        let in_san = dns.iter().any(|d| d == cn) || ips.iter().any(|ip| ip.to_string() == cn);
        if !in_san {
            out.push(mk(
                "CA/B BR 7.1.4.3",
                format!("the subject commonName '{cn}' is not one of the subjectAltName entries"),
            ));
        }
    }
}

/// RFC 1034 3.5 preferred name syntax as RFC 5280 4.2.1.6 requires for dNSName, with the
/// wildcard first label RFC 6125 allows.
fn preferred_name_syntax(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut labels = name.split('.').peekable();
    if labels.peek() == Some(&"*") {
        labels.next();
    }
    let mut any = false;
    for label in labels {
        any = true;
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh {
            return false;
        }
    }
    any
}

/// Lints a CRL's profile: a CRLNumber that is present and not critical (RFC 5280 5.2.3),
/// and an issuer (when given, DER) whose keyUsage allows signing CRLs (RFC 5280 4.2.1.3).
/// A CRL that does not decode gives no lint (the validators refuse it).
pub fn lint_crl(der: &[u8], issuer: Option<&[u8]>) -> Vec<Lint> {
    let Ok((_, crl)) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match crl
        .tbs_cert_list
        .extensions()
        .iter()
        .find(|e| e.oid == OID_X509_EXT_CRL_NUMBER)
    {
        None => out.push(mk("RFC 5280 5.2.3", "it has no CRLNumber extension")),
        Some(e) if e.critical => out.push(mk("RFC 5280 5.2.3", "its CRLNumber is marked critical")),
        Some(_) => {}
    }
    if let Some(Ok((_, c))) = issuer.map(X509Certificate::from_der) {
        if let Ok(Some(ku)) = c.key_usage() {
            if !ku.value.crl_sign() {
                out.push(mk(
                    "RFC 5280 4.2.1.3",
                    "its issuer's keyUsage does not allow cRLSign",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_name_syntax_refuses_underscores_and_empty_labels() {
        assert!(preferred_name_syntax("a-b.example.com"));
        assert!(preferred_name_syntax("*.example.com"));
        assert!(!preferred_name_syntax("a_b.example.com"));
        assert!(!preferred_name_syntax("a..example.com"));
        assert!(!preferred_name_syntax("*"));
        assert!(!preferred_name_syntax("a.*.example.com"));
    }

    /// Every profile certherd issues (build.rs), with every key algorithm, lints clean.
    #[test]
    fn certificates_certherd_issues_have_no_lint() {
        use crate::{issue, self_sign, CertSpec, Eku, Issuer, KeyAlgorithm, PrivateKey, Role};
        use time::macros::datetime;
        let spec = |cn: &str, role: Role, eku: Vec<Eku>| CertSpec {
            common_name: cn.into(),
            organization: Some("certherd".into()),
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2028-01-01 0:00 UTC),
            role,
            eku,
        };
        let leaf_names = |cn: &str, eku: Vec<Eku>| {
            spec(cn, Role::Leaf, eku)
                .with_names([cn, "192.0.2.7"])
                .unwrap()
        };
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::Ed25519,
        ] {
            let rk = PrivateKey::generate(alg).unwrap();
            let root =
                self_sign(&spec("Root CA", Role::Ca { path_len: None }, vec![]), &rk).unwrap();
            assert_eq!(lint(&root, LintRole::Root), vec![], "root-ca {alg:?}");
            let ik = PrivateKey::generate(alg).unwrap();
            let inter = issue(
                &spec("Issuing CA", Role::Ca { path_len: Some(0) }, vec![]),
                &ik.public_key_spki(),
                &Issuer {
                    cert: &root,
                    key: &rk,
                },
            )
            .unwrap();
            assert_eq!(
                lint(&inter, LintRole::Intermediate),
                vec![],
                "intermediate-ca {alg:?}"
            );
            let both = vec![Eku::ServerAuth, Eku::ClientAuth];
            for (profile, eku, tls) in [
                ("machine-ssl", both.clone(), true),
                ("service", vec![Eku::ClientAuth], true),
                ("host", both.clone(), true),
                ("sts-signing", vec![], false),
                ("kmip-client", vec![Eku::ClientAuth], true),
            ] {
                let lk = PrivateKey::generate(alg).unwrap();
                let leaf = issue(
                    &leaf_names("node1.example.com", eku),
                    &lk.public_key_spki(),
                    &Issuer {
                        cert: &inter,
                        key: &ik,
                    },
                )
                .unwrap();
                assert_eq!(
                    lint(&leaf, LintRole::Leaf { tls }),
                    vec![],
                    "{profile} {alg:?}"
                );
            }
            let pk = PrivateKey::generate(alg).unwrap();
            let pool = self_sign(&leaf_names("esx1.example.com", both), &pk).unwrap();
            assert_eq!(
                lint(&pool, LintRole::Leaf { tls: true }),
                vec![],
                "pool-internal {alg:?}"
            );
        }
    }

    #[test]
    fn garbage_has_no_lint() {
        assert!(lint(b"not a certificate", LintRole::Root).is_empty());
    }
}
