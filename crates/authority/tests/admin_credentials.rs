//! Admin credentials at chosen dates: a credential expires at its time, a revoked one is
//! refused however it is presented, a bearer token's hash is never taken for a client
//! certificate, and roles are kept.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{AdminAuth, InitOptions, Mode, Node};
use certherd_core::{Clock, OffsetDateTime, Span};
use certherd_store::{AdminRole, CredentialKind, Home, HomeStore};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;
use time::Duration;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

fn server() -> (tempfile::TempDir, TestClock, Node<HomeStore>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let mut node = Node::new(
        Home::new(dir.path().join("srv")).create().unwrap(),
        Box::new(clock.clone()),
        None,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "vc01.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, clock, node)
}

#[test]
fn a_credential_is_accepted_until_its_expiry_and_refused_after() {
    let (_dir, clock, mut node) = server();
    let token = node
        .admin_mut()
        .admin_credential_add(
            "ci",
            AdminRole::Reader,
            Some("30d".parse::<Span>().unwrap()),
            [7; 32],
        )
        .unwrap();
    let cert = node
        .admin_mut()
        .admin_client_cert_add(
            "alice",
            AdminRole::Admin,
            Some("90d".parse::<Span>().unwrap()),
        )
        .unwrap();
    assert!(
        matches!(node.admin().admin_by_token(&token).unwrap(), AdminAuth::Accepted(c) if c.role == AdminRole::Reader)
    );
    assert!(
        matches!(node.admin().admin_by_client_cert(&cert.cert).unwrap(), AdminAuth::Accepted(c) if c.role == AdminRole::Admin && c.kind == CredentialKind::ClientCert)
    );
    // The certificate's notAfter is the credential's expiry.
    let info = certherd_x509::CertInfo::from_der(&cert.cert).unwrap();
    assert_eq!(Some(info.not_after), cert.credential.expires_at);
    clock.advance(Duration::days(30));
    assert!(
        matches!(node.admin().admin_by_token(&token).unwrap(), AdminAuth::Expired(c) if c.name == "ci")
    );
    assert!(matches!(
        node.admin().admin_by_client_cert(&cert.cert).unwrap(),
        AdminAuth::Accepted(_)
    ));
    clock.advance(Duration::days(61));
    assert!(matches!(
        node.admin().admin_by_client_cert(&cert.cert).unwrap(),
        AdminAuth::Expired(_)
    ));
}

#[test]
fn revocation_ends_every_credential_of_the_name() {
    let (_dir, _clock, mut node) = server();
    let token = node
        .admin_mut()
        .admin_credential_add("bob", AdminRole::Admin, None, [1; 32])
        .unwrap();
    let cert = node
        .admin_mut()
        .admin_client_cert_add("bob", AdminRole::Admin, None)
        .unwrap();
    let other = node
        .admin_mut()
        .admin_credential_add("carol", AdminRole::Admin, None, [2; 32])
        .unwrap();
    assert_eq!(node.revocations().revocation_of(&cert.cert).unwrap(), None);
    assert_eq!(node.admin_mut().admin_credential_revoke("bob").unwrap(), 2);
    // The client certificate is on the CA's CRL (the token has nothing to list).
    let listed = node
        .revocations()
        .revocation_of(&cert.cert)
        .unwrap()
        .unwrap();
    assert_eq!(
        listed.reason,
        Some(certherd_x509::RevocationReason::CessationOfOperation)
    );
    assert!(matches!(
        node.admin().admin_by_token(&token).unwrap(),
        AdminAuth::Revoked(_)
    ));
    assert!(matches!(
        node.admin().admin_by_client_cert(&cert.cert).unwrap(),
        AdminAuth::Revoked(_)
    ));
    assert!(matches!(
        node.admin().admin_by_token(&other).unwrap(),
        AdminAuth::Accepted(_)
    ));
    assert!(matches!(
        node.admin_mut().admin_credential_revoke("bob"),
        Err(certherd_authority::Error::NoSuchCredential(_))
    ));
    let listed = node.admin().admin_credentials().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|c| c.revoked_at.is_some()).count(), 2);
}

#[test]
fn a_token_hash_is_not_a_client_certificate_and_garbage_is_unknown() {
    let (_dir, _clock, mut node) = server();
    let token = node
        .admin_mut()
        .admin_credential_add("ops", AdminRole::Admin, None, [3; 32])
        .unwrap();
    // The token's text presented as a certificate hashes to the token's record: refused
    // as a certificate, because the kind is checked.
    assert_eq!(
        node.admin().admin_by_client_cert(token.as_bytes()).unwrap(),
        AdminAuth::Unknown
    );
    for bad in ["", "cha1_", "cha1_zz", "Bearer x", &"a".repeat(500)] {
        assert_eq!(
            node.admin().admin_by_token(bad).unwrap(),
            AdminAuth::Unknown,
            "{bad}"
        );
    }
    assert!(node
        .admin_mut()
        .admin_credential_add("not a name", AdminRole::Reader, None, [4; 32])
        .is_err());
}
