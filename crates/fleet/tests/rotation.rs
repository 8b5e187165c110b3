//! A CA rotation with a joined host: the old root stays until the host holds the new one,
//! both CAs publish CRLs meanwhile, and removing the host revokes its certificate on the
//! CRL of the CA that issued it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{Clock, OffsetDateTime, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_store::{Home, HomeStore};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;

/// A clock stopped at one instant.
struct At(OffsetDateTime);

impl Clock for At {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

fn node(dir: &std::path::Path) -> Node<HomeStore> {
    let mut n = Node::new(
        Home::new(dir.join("srv")).create().unwrap(),
        Box::new(At(datetime!(2026-03-01 0:00 UTC))),
        None,
        "certherd.toml",
    )
    .unwrap();
    n.init(&InitOptions {
        hostname: "vc01.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    n
}

#[test]
fn during_a_rotation_both_cas_publish_and_a_removed_host_is_revoked_by_its_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = node(dir.path());
    // A joined host keeps the rotation waiting: the old root is retiring.
    let (_, token, _) = n
        .fleet_mut()
        .host_add("esx1.example.test", &[], DEFAULT_TOKEN_TTL, [7; 32])
        .unwrap();
    let req = n
        .agent()
        .agent_prepare("esx1.example.test", &[], None, None)
        .unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    let report = n.ca_rotate().unwrap();
    assert!(!report.waiting_for.is_empty());
    let old = report.old_ca;
    let published = n.revocations_mut().crl_refresh(false).unwrap();
    assert_eq!(published.len(), 2, "{published:?}");
    assert_ne!(published[0].ca, old);
    assert_eq!(published[1].ca, old);
    assert_eq!(
        published.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // The host's certificate, issued by the old root, goes on the old root's CRL.
    let removed = n.fleet_mut().host_remove("esx1.example.test").unwrap();
    assert_eq!(removed.len(), 1);
    let crls = n.revocations().published_crls().unwrap();
    assert_eq!((crls[0].revoked, crls[1].revoked), (0, 1));
    assert_eq!(crls[1].ca, old);
}
