//! The inspection's findings for the situations that real servers showed certherd getting
//! wrong: every finding reported, each independent of the others. Test PKI is made here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certherd_inspect::{
    inspect, summary, ChainInput, FindingKind as K, Inspection, Severity, Target, Thresholds,
    TrustPolicy,
};
use certherd_x509::{
    issue, self_sign, CertInfo, CertSpec, CertificateDer, Eku, Issuer, KeyAlgorithm, PrivateKey,
    Purpose, Role,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-06-01 0:00 UTC);

fn spec(cn: &str, role: Role, from: OffsetDateTime, to: OffsetDateTime) -> CertSpec {
    CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: from,
        not_after: to,
        role,
        eku: vec![],
    }
}

struct Ca {
    cert: CertificateDer<'static>,
    key: PrivateKey,
}

fn root(cn: &str) -> Ca {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = self_sign(
        &spec(
            cn,
            Role::Ca { path_len: None },
            datetime!(2020-01-01 0:00 UTC),
            datetime!(2035-01-01 0:00 UTC),
        ),
        &key,
    )
    .unwrap();
    Ca { cert, key }
}

fn sub(parent: &Ca, cn: &str) -> Ca {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = issue(
        &spec(
            cn,
            Role::Ca { path_len: Some(0) },
            datetime!(2021-01-01 0:00 UTC),
            datetime!(2034-01-01 0:00 UTC),
        ),
        &key.public_key_spki(),
        &Issuer {
            cert: &parent.cert,
            key: &parent.key,
        },
    )
    .unwrap();
    Ca { cert, key }
}

fn leaf(
    ca: &Ca,
    names: &[&str],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> CertificateDer<'static> {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut s = spec(names[0], Role::Leaf, from, to)
        .with_names(names.iter().copied())
        .unwrap();
    s.eku = vec![Eku::ServerAuth];
    issue(
        &s,
        &key.public_key_spki(),
        &Issuer {
            cert: &ca.cert,
            key: &ca.key,
        },
    )
    .unwrap()
}

fn run(
    presented: &[CertificateDer<'static>],
    trusted: &[CertificateDer<'static>],
    name: Option<&str>,
    pins: &[String],
    policy: TrustPolicy,
) -> Inspection {
    inspect(&ChainInput {
        presented,
        name,
        purpose: Purpose::Server,
        at: NOW,
        trusted,
        anchor_subjects: None,
        crls: &[],
        pins,
        thresholds: Thresholds::default(),
        policy,
        ca_expected: false,
        target: Target::Endpoint {
            name: "wlb",
            address: "127.0.0.1:8012",
        },
        rfc5280: Default::default(),
    })
}

fn kinds(i: &Inspection) -> Vec<K> {
    let mut k: Vec<K> = i
        .findings
        .iter()
        .filter(|f| f.is_problem())
        .map(|f| f.kind)
        .collect();
    k.sort();
    k
}

#[test]
fn expired_wrong_name_and_incomplete_chain_are_three_findings() {
    let r = root("Example Root");
    let i = sub(&r, "Example Issuing CA");
    let l = leaf(
        &i,
        &["www.example.test"],
        datetime!(2025-01-01 0:00 UTC),
        datetime!(2026-05-01 0:00 UTC),
    );
    // The server forgot its intermediate.
    let got = run(
        &[l],
        std::slice::from_ref(&r.cert),
        Some("other.example.test"),
        &[],
        TrustPolicy::Required,
    );
    assert_eq!(
        kinds(&got),
        vec![K::Expired, K::IncompleteChain, K::NameMismatch],
        "{:#?}",
        got.findings
    );
    let mismatch = got
        .findings
        .iter()
        .find(|f| f.kind == K::NameMismatch)
        .unwrap();
    assert!(mismatch.message.contains("other.example.test"));
    assert!(mismatch.message.contains("www.example.test"));
    let expired = got.findings.iter().find(|f| f.kind == K::Expired).unwrap();
    assert!(
        expired.message.contains("expired 31 days ago"),
        "{}",
        expired.message
    );
    assert_eq!(summary(&got.findings), "expired (+2)");
    assert!(!got.trusted);
}

#[test]
fn an_appliance_ca_true_self_signed_certificate_gets_every_finding() {
    // What `openssl req -x509 -subj /CN=wlb.example.test` makes: CA:TRUE, no SAN.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = self_sign(
        &spec(
            "wlb.example.test",
            Role::Ca { path_len: None },
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-06-03 0:00 UTC),
        ),
        &key,
    )
    .unwrap();
    let got = run(&[cert], &[], Some("127.0.0.1"), &[], TrustPolicy::Expected);
    assert_eq!(
        kinds(&got),
        vec![
            K::Expiring,
            K::SelfSigned,
            K::NameMismatch,
            K::NoSan,
            K::CaAsLeaf
        ],
        "{:#?}",
        got.findings
    );
    let expiring = got.findings.iter().find(|f| f.kind == K::Expiring).unwrap();
    assert_eq!(expiring.severity, Severity::Critical);
    assert!(
        expiring.message.contains("expires in 2 days"),
        "{}",
        expiring.message
    );
    let selfsigned = got
        .findings
        .iter()
        .find(|f| f.kind == K::SelfSigned)
        .unwrap();
    assert!(selfsigned
        .hint
        .as_deref()
        .unwrap()
        .contains("certherd endpoint trust wlb"));
}

#[test]
fn an_expired_leaf_under_a_trusted_root_is_expired_and_trusted() {
    let r = root("Example Root");
    let i = sub(&r, "Example Issuing CA");
    let l = leaf(
        &i,
        &["db.example.test"],
        datetime!(2025-01-01 0:00 UTC),
        datetime!(2026-05-31 23:59:34 UTC),
    );
    let got = run(
        &[l, i.cert.clone()],
        std::slice::from_ref(&r.cert),
        Some("db.example.test"),
        &[],
        TrustPolicy::Required,
    );
    assert_eq!(kinds(&got), vec![K::Expired], "{:#?}", got.findings);
    assert!(got.trusted);
    assert!(got.findings[0].message.contains("expired 26 seconds ago"));
    assert_eq!(got.path.len(), 3);
}

#[test]
fn trusting_unrelated_certificates_never_changes_a_self_signed_verdict() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut s = spec(
        "localhost",
        Role::Leaf,
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2028-01-01 0:00 UTC),
    )
    .with_names(["localhost"])
    .unwrap();
    s.eku = vec![Eku::ServerAuth];
    let cert = self_sign(&s, &key).unwrap();
    let alone = run(
        std::slice::from_ref(&cert),
        &[],
        Some("localhost"),
        &[],
        TrustPolicy::Required,
    );
    let others = [root("localhost").cert, root("localhost").cert];
    let crowded = run(
        &[cert],
        &others,
        Some("localhost"),
        &[],
        TrustPolicy::Required,
    );
    assert_eq!(kinds(&alone), vec![K::SelfSigned]);
    assert_eq!(alone.findings, crowded.findings);
}

#[test]
fn a_pin_trusts_the_appliance_and_a_changed_certificate_is_a_pin_mismatch() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut s = spec(
        "backup.example.test",
        Role::Leaf,
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2029-01-01 0:00 UTC),
    )
    .with_names(["backup.example.test"])
    .unwrap();
    s.eku = vec![Eku::ServerAuth];
    let cert = self_sign(&s, &key).unwrap();
    let sha = CertInfo::from_der(&cert).unwrap().sha256;
    let pinned = run(
        std::slice::from_ref(&cert),
        &[],
        Some("backup.example.test"),
        std::slice::from_ref(&sha),
        TrustPolicy::Required,
    );
    assert!(pinned.is_ok(), "{:#?}", pinned.findings);
    assert!(pinned.trusted && pinned.pinned);
    // The name is still checked.
    let wrong_name = run(
        std::slice::from_ref(&cert),
        &[],
        Some("other.example.test"),
        std::slice::from_ref(&sha),
        TrustPolicy::Required,
    );
    assert_eq!(kinds(&wrong_name), vec![K::NameMismatch]);
    // Another certificate: pin-mismatch naming both thumbprints.
    let other = self_sign(&s, &PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap()).unwrap();
    let other_sha = CertInfo::from_der(&other).unwrap().sha256;
    let changed = run(
        &[other],
        &[],
        Some("backup.example.test"),
        std::slice::from_ref(&sha),
        TrustPolicy::Required,
    );
    assert_eq!(kinds(&changed), vec![K::PinMismatch]);
    // In the form people see thumbprints everywhere: upper case with colons.
    let m = &changed.findings[0].message;
    assert!(m.contains(&certherd_x509::thumbprint(&sha)), "{m}");
    assert!(m.contains(&certherd_x509::thumbprint(&other_sha)), "{m}");
    assert!(!changed.trusted);
}

#[test]
fn a_good_chain_is_ok_and_a_sent_root_is_information() {
    let r = root("Example Root");
    let i = sub(&r, "Example Issuing CA");
    let l = leaf(
        &i,
        &["ok.example.test", "192.0.2.7"],
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-01-01 0:00 UTC),
    );
    let got = run(
        &[l, i.cert.clone(), r.cert.clone()],
        std::slice::from_ref(&r.cert),
        Some("192.0.2.7"),
        &[],
        TrustPolicy::Required,
    );
    assert!(got.is_ok(), "{:#?}", got.findings);
    assert_eq!(summary(&got.findings), "ok");
    assert!(got.has(K::AnchorSent));
    assert_eq!(got.covers_name, Some(true));
}

#[test]
fn an_untrusted_root_and_the_policy_sets_the_severity() {
    let r = root("Private Root");
    let i = sub(&r, "Private Issuing CA");
    let l = leaf(
        &i,
        &["app.example.test"],
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-01-01 0:00 UTC),
    );
    let presented = [l, i.cert.clone(), r.cert.clone()];
    let required = run(&presented, &[], None, &[], TrustPolicy::Required);
    let expected = run(&presented, &[], None, &[], TrustPolicy::Expected);
    assert_eq!(kinds(&required), vec![K::UntrustedIssuer]);
    assert_eq!(required.findings[0].severity, Severity::Critical);
    assert_eq!(expected.findings[0].severity, Severity::Warning);
    assert!(required.findings[0].message.contains("Private Root"));
}

#[test]
fn an_empty_chain_is_a_finding_not_a_panic() {
    let got = run(&[], &[], Some("x"), &[], TrustPolicy::Required);
    assert_eq!(kinds(&got), vec![K::NoCertificate]);
}

proptest! {
    #[test]
    fn any_bytes_as_a_chain_never_panic(
        a in proptest::collection::vec(any::<u8>(), 0..600),
        b in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let presented = [CertificateDer::from(a), CertificateDer::from(b)];
        let got = run(&presented, &[], Some("example.test"), &[], TrustPolicy::Expected);
        prop_assert!(!got.findings.is_empty());
    }
}

/// A common name over RFC 5280's ub-common-name (64) is flagged as a warning that does
/// not fail a strict verification: every validator still accepts the certificate.
#[test]
fn a_common_name_over_64_characters_is_a_warning_that_does_not_fail() {
    let r = root("Example Root");
    let long = format!("{}.example.test", "a".repeat(60));
    let l = leaf(
        &r,
        &[&long],
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-01-01 0:00 UTC),
    );
    let got = run(
        &[l],
        std::slice::from_ref(&r.cert),
        Some(&long),
        &[],
        TrustPolicy::Required,
    );
    let f = got
        .findings
        .iter()
        .find(|f| f.kind == K::LongCommonName)
        .unwrap_or_else(|| panic!("{:#?}", got.findings));
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("73 characters") && f.message.contains("ub-common-name"),
        "{}",
        f.message
    );
    assert!(got.is_valid(), "{:#?}", got.findings);
    assert!(!got.passes_strict(), "a warning fails --strict");

    // 64 characters exactly: nothing to say.
    let edge = format!("{}.example.test", "b".repeat(51));
    assert_eq!(edge.len(), 64);
    let l = leaf(
        &r,
        &[&edge],
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-01-01 0:00 UTC),
    );
    let got = run(
        &[l],
        std::slice::from_ref(&r.cert),
        Some(&edge),
        &[],
        TrustPolicy::Required,
    );
    assert!(!got.has(K::LongCommonName), "{:#?}", got.findings);
}
