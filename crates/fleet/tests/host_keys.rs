//! Host keys that fit (issue 12, item 2): the host certificate the server issues from a
//! host's CSR carries the key usages of the CSR's key, whatever the server's own key; the
//! server's `[profiles.host] key_algo` decides every host key of the fleet.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{Clock, OffsetDateTime, DEFAULT_TOKEN_TTL};
use certherd_fleet::{join_key_algo, Error, FleetExt};
use certherd_store::{Home, HomeStore};
use certherd_x509::{CertInfo, KeyAlgorithm};
use time::macros::datetime;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn server(config: Option<&str>, ca_algo: KeyAlgorithm) -> (tempfile::TempDir, Node<HomeStore>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let mut node = Node::new(
        Home::new(dir.path().join("srv")).create().unwrap(),
        Box::new(clock),
        config,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "vc01.example.test".into(),
        ips: vec![],
        key_algo: ca_algo,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, node)
}

fn usages(algo: KeyAlgorithm) -> Vec<&'static str> {
    if algo.is_rsa() {
        vec!["digitalSignature", "keyEncipherment"]
    } else {
        vec!["digitalSignature"]
    }
}

#[test]
fn host_certificates_carry_the_usages_of_the_host_key_not_the_servers() {
    // The server's own keys are ECDSA: the usages follow the host's CSR key.
    let (_d, mut node) = server(None, KeyAlgorithm::EcdsaP256);
    for (i, algo) in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("esx{i}.example.test");
        let (_, token, _) = node
            .fleet_mut()
            .host_add(&name, &[], DEFAULT_TOKEN_TTL, [i as u8 + 1; 32])
            .unwrap();
        let req = node
            .agent()
            .agent_prepare(&name, &[], Some(algo), None)
            .unwrap();
        assert_eq!(req.host_key.algorithm(), algo);
        assert_eq!(
            CertInfo::from_der(&req.pool_cert).unwrap().public_key,
            "ECDSA P-256",
            "the pool-internal identity stays ECDSA P-256"
        );
        let (_, grant) = node
            .fleet_mut()
            .host_join(&token, &req.csr, &req.pool_cert, true)
            .unwrap();
        assert_eq!(grant.host_key_algo, None);
        let info = CertInfo::from_der(&grant.host_chain.unwrap()[0]).unwrap();
        assert_eq!(info.public_key, algo.description());
        assert_eq!(info.key_usage, usages(algo), "{algo} host certificate");
        assert_eq!(info.extended_key_usage, vec!["serverAuth", "clientAuth"]);
        // A renewal through a poll, with a new key of the same algorithm.
        let again = node
            .agent()
            .agent_prepare(&name, &[], Some(algo), None)
            .unwrap();
        let (_, grant) = node
            .fleet_mut()
            .host_poll(&req.pool_cert, Some(&again.csr), true, &[])
            .unwrap();
        let info = CertInfo::from_der(&grant.host_chain.unwrap()[0]).unwrap();
        assert_eq!(
            info.key_usage,
            usages(algo),
            "{algo} renewed host certificate"
        );
    }
}

#[test]
fn the_host_profile_sets_every_host_key_of_the_fleet() {
    let (_d, mut node) = server(
        Some("[profiles.host]\nkey_algo = \"rsa-2048\"\n"),
        KeyAlgorithm::EcdsaP256,
    );
    assert_eq!(
        node.fleet().host_key_algo().unwrap(),
        Some(KeyAlgorithm::Rsa2048)
    );
    let name = "esx1.example.test";
    let (_, token, _) = node
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [7; 32])
        .unwrap();

    // An agent that did not learn the profile (an older one) sends an ECDSA CSR: refused,
    // and the token is not spent.
    let ecdsa = node
        .agent()
        .agent_prepare(name, &[], Some(KeyAlgorithm::EcdsaP256), None)
        .unwrap();
    let e = node
        .fleet_mut()
        .host_join(&token, &ecdsa.csr, &ecdsa.pool_cert, true)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::HostKeyAlgorithm {
                wanted: KeyAlgorithm::Rsa2048,
                asked,
                ..
            } if asked == "ecdsa-p256"
        ),
        "{e}"
    );
    assert!(e.to_string().contains("key_algo = rsa-2048"), "{e}");

    // An agent told the profile, asking for another algorithm, refuses before sending.
    assert!(matches!(
        node.agent().agent_prepare(
            name,
            &[],
            Some(KeyAlgorithm::EcdsaP256),
            Some(KeyAlgorithm::Rsa2048),
        ),
        Err(Error::HostKeyAlgorithm { .. })
    ));

    // Without --key-algo the profile's algorithm is used.
    let req = node
        .agent()
        .agent_prepare(name, &[], None, Some(KeyAlgorithm::Rsa2048))
        .unwrap();
    assert_eq!(req.host_key.algorithm(), KeyAlgorithm::Rsa2048);
    let (_, grant) = node
        .fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert_eq!(grant.host_key_algo, Some(KeyAlgorithm::Rsa2048));
    let info = CertInfo::from_der(&grant.host_chain.unwrap()[0]).unwrap();
    assert_eq!(info.public_key, "RSA 2048");
    assert_eq!(info.key_usage, usages(KeyAlgorithm::Rsa2048));

    // A renewal CSR with another key gets no certificate and a new order instead.
    let wrong = node
        .agent()
        .agent_prepare(name, &[], Some(KeyAlgorithm::EcdsaP256), None)
        .unwrap();
    let (_, grant) = node
        .fleet_mut()
        .host_poll(&req.pool_cert, Some(&wrong.csr), true, &[])
        .unwrap();
    assert!(grant.host_chain.is_none());
    assert!(grant.renew_ordered, "the host is asked for a new CSR");
    assert_eq!(grant.host_key_algo, Some(KeyAlgorithm::Rsa2048));
    // Asked again with the profile's algorithm: renewed.
    let right = node
        .agent()
        .agent_prepare(name, &[], None, grant.host_key_algo)
        .unwrap();
    let (_, grant) = node
        .fleet_mut()
        .host_poll(&req.pool_cert, Some(&right.csr), true, &[])
        .unwrap();
    assert!(!grant.renew_ordered);
    let info = CertInfo::from_der(&grant.host_chain.unwrap()[0]).unwrap();
    assert_eq!(info.public_key, "RSA 2048");
}

#[test]
fn the_join_algorithm_is_the_profiles_else_the_asked_one_else_ecdsa_p256() {
    use KeyAlgorithm::*;
    let h = "esx1.example.test";
    assert_eq!(join_key_algo(h, None, None).unwrap(), EcdsaP256);
    assert_eq!(join_key_algo(h, Some(Rsa3072), None).unwrap(), Rsa3072);
    assert_eq!(join_key_algo(h, None, Some(Rsa2048)).unwrap(), Rsa2048);
    assert_eq!(
        join_key_algo(h, Some(Rsa2048), Some(Rsa2048)).unwrap(),
        Rsa2048
    );
    assert!(matches!(
        join_key_algo(h, Some(EcdsaP256), Some(Rsa2048)),
        Err(Error::HostKeyAlgorithm { .. })
    ));
}

#[test]
fn issued_and_renewed_leaves_carry_the_usages_of_their_key_under_every_profile() {
    use certherd_authority::IssueRequest;
    use certherd_store::Store;
    let (_d, mut node) = server(None, KeyAlgorithm::EcdsaP384);
    for algo in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        for profile in [
            "machine-ssl",
            "service",
            "host",
            "sts-signing",
            "kmip-client",
        ] {
            let entry: certherd_core::EntryRef =
                format!("{profile}/{}", algo.name()).parse().unwrap();
            let issued = node
                .issue(&IssueRequest {
                    profile: profile.into(),
                    entry: entry.clone(),
                    common_name: Some("svc.example.test".into()),
                    names: vec!["svc.example.test".into()],
                    key_algo: Some(algo),
                })
                .unwrap();
            let cert = node
                .store()
                .entry(&issued.meta.entry)
                .unwrap()
                .unwrap()
                .cert;
            let info = CertInfo::from_der(&cert).unwrap();
            assert_eq!(info.public_key, algo.description());
            assert_eq!(info.key_usage, usages(algo), "{profile} {algo}");
            let (renewed, _) = node.renew(&entry).unwrap();
            let cert = node
                .store()
                .entry(&renewed.meta.entry)
                .unwrap()
                .unwrap()
                .cert;
            let info = CertInfo::from_der(&cert).unwrap();
            assert_eq!(info.key_usage, usages(algo), "renewed {profile} {algo}");
        }
    }
}
