//! Issue 14 §4: an entry's status is `revoked` when any CRL its home holds lists its
//! certificate (the CA's own revocations, and the CRLs received with the trust sync), on
//! the server and on a joined host alike; `cert revoke` of a live host's certificate
//! orders that host a new key and certificate; the server raises the one `revoked`
//! alarm for it, not `chain-invalid` as well.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node, RevokeOutcome};
use certherd_core::{AlarmKind, Clock, EntryRef, OffsetDateTime, Severity, Status};
use certherd_core::{Thresholds, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_store::{Home, HomeStore, Store};
use certherd_x509::{KeyAlgorithm, RevocationReason};
use time::macros::datetime;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn node(dir: &std::path::Path, name: &str, clock: &TestClock) -> Node<HomeStore> {
    Node::new(
        Home::new(dir.join(name)).create().unwrap(),
        Box::new(clock.clone()),
        None,
        "certherd.toml",
    )
    .unwrap()
}

fn status_of(n: &Node<HomeStore>, entry: &str) -> Status {
    let r: EntryRef = entry.parse().unwrap();
    let listed = n
        .list(None, n.now())
        .unwrap()
        .into_iter()
        .find(|v| v.meta.entry == r)
        .unwrap()
        .status;
    assert_eq!(n.show(&r).unwrap().0.status, listed, "cert show agrees");
    listed
}

fn open_alarms(n: &mut Node<HomeStore>) -> Vec<(AlarmKind, String)> {
    n.alarms_mut().evaluate_alarms().unwrap();
    n.alarms()
        .alarm_history()
        .unwrap()
        .into_iter()
        .filter(|a| a.is_open())
        .map(|a| (a.kind, a.subject))
        .collect()
}

/// A server with its CA and a host `esx1.example.test` joined to it, its home holding its
/// host certificate and the pool's trust.
/// Returns the server, the host and the host's pool-internal certificate.
fn joined(dir: &std::path::Path, clock: &TestClock) -> (Node<HomeStore>, Node<HomeStore>, Vec<u8>) {
    let mut server = node(dir, "srv", clock);
    server
        .init(&InitOptions {
            hostname: "vc01.example.test".into(),
            ips: vec![],
            key_algo: KeyAlgorithm::EcdsaP256,
            mode: Mode::Ca,
        })
        .unwrap();
    let name = "esx1.example.test";
    let (_, token, _) = server
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [9; 32])
        .unwrap();
    let mut host = node(dir, "esx1", clock);
    let req = host.agent().agent_prepare(name, &[], None, None).unwrap();
    let (_, grant) = server
        .fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    let root = server.trust_list().unwrap()[0].sha256.clone();
    host.agent_mut()
        .agent_install(
            &req,
            "https://127.0.0.1:1",
            &root,
            grant.host_chain.as_deref().unwrap(),
        )
        .unwrap();
    host.agent_mut()
        .agent_sync_trust(&grant.trusted_roots, &grant.crls)
        .unwrap();
    (server, host, req.pool_cert)
}

/// A keyCompromise revocation orders nothing: the host's polls are authenticated by its
/// pool identity, which whoever copied its keys holds too, so a new certificate would go
/// to the first of them to poll. The entry stays revoked, its alarm open.
#[test]
fn a_key_compromise_orders_no_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let (mut server, _host, _) = joined(dir.path(), &clock);
    let name = "esx1.example.test";
    let fleet_entry = format!("fleet-hosts/{name}");
    let outcome = server
        .revocations_mut()
        .revoke(
            &fleet_entry.parse().unwrap(),
            RevocationReason::KeyCompromise,
            "admin",
        )
        .unwrap();
    assert!(
        matches!(
            &outcome,
            RevokeOutcome::Revoked {
                renewal_ordered: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(!server.fleet().renewal_pending(name).unwrap());
    assert_eq!(status_of(&server, &fleet_entry), Status::Revoked);
    // Nor does a `fleet renew` of every host order it; naming it does (the admin's call).
    assert!(server.fleet_mut().order_renewal(&[]).unwrap().is_empty());
    assert!(!server.fleet().renewal_pending(name).unwrap());
    assert_eq!(
        server
            .fleet_mut()
            .order_renewal(&[name.to_owned()])
            .unwrap(),
        [name.to_owned()]
    );
}

#[test]
fn a_revoked_host_certificate_is_revoked_everywhere_and_replaced_at_the_next_poll() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let (mut server, mut host, pool_cert) = joined(dir.path(), &clock);
    let name = "esx1.example.test";
    let host_entry = "machine-ssl/host";
    let fleet_entry = format!("fleet-hosts/{name}");
    assert_eq!(status_of(&host, host_entry), Status::Ok);
    assert_eq!(status_of(&server, &fleet_entry), Status::Ok);

    // The admin revokes the live host's certificate (superseded): a new one is ordered
    // with it.
    let outcome = server
        .revocations_mut()
        .revoke(
            &fleet_entry.parse().unwrap(),
            RevocationReason::Superseded,
            "admin",
        )
        .unwrap();
    assert!(
        matches!(&outcome, RevokeOutcome::Revoked { renewal_ordered: Some(h), .. } if h == name),
        "{outcome:?}"
    );
    assert!(server.fleet().renewal_pending(name).unwrap());
    assert_eq!(status_of(&server, &fleet_entry), Status::Revoked);
    // One alarm for the one event: `revoked`, not `chain-invalid` as well.
    assert_eq!(
        open_alarms(&mut server),
        [(AlarmKind::Revoked, fleet_entry.clone())]
    );
    let check = server.check(server.now(), Thresholds::default()).unwrap();
    assert_eq!(check.severity(), Severity::Critical);
    assert_eq!(check.findings.len(), 1);
    assert_eq!(check.findings[0].status, Status::Revoked);
    assert!(check.open_alarms.is_empty(), "{:?}", check.open_alarms);

    // The host polls: it receives the CRL listing its certificate and the order.
    let (_, grant) = server
        .fleet_mut()
        .host_poll(&pool_cert, None, true, &[])
        .unwrap();
    assert!(grant.renew_ordered);
    host.agent_mut()
        .agent_sync_trust(&grant.trusted_roots, &grant.crls)
        .unwrap();
    assert_eq!(status_of(&host, host_entry), Status::Revoked);
    let check = host.check(host.now(), Thresholds::default()).unwrap();
    assert_eq!(check.severity(), Severity::Critical);
    assert_eq!(check.findings[0].meta.entry.to_string(), host_entry);
    assert_eq!(check.findings[0].status, Status::Revoked);
    assert_eq!(
        open_alarms(&mut host),
        [(AlarmKind::Revoked, host_entry.to_owned())]
    );

    // It asks for its new certificate with a new key; the revoked one is superseded.
    let (key, csr) = host.agent().agent_new_host_key().unwrap();
    let (_, grant) = server
        .fleet_mut()
        .host_poll(&pool_cert, Some(&csr), true, &[])
        .unwrap();
    host.agent_mut()
        .agent_install_host(&key, grant.host_chain.as_deref().unwrap())
        .unwrap();
    assert_eq!(status_of(&host, host_entry), Status::Ok);
    assert_eq!(
        host.check(host.now(), Thresholds::default())
            .unwrap()
            .severity(),
        Severity::Ok
    );
    assert!(open_alarms(&mut host).is_empty());
    assert_eq!(status_of(&server, &fleet_entry), Status::Ok);
    assert!(open_alarms(&mut server).is_empty());
    assert!(!server.fleet().renewal_pending(name).unwrap());
}

/// A CRL added with `trust add-crl` counts as well: an entry another (trusted) CA issued
/// and revoked is `revoked` in `cert list` and `check`; a certificate of the same serial
/// from another issuer is not.
#[test]
fn a_crl_added_by_hand_makes_the_entries_it_lists_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let init = |n: &mut Node<HomeStore>, h: &str| {
        n.init(&InitOptions {
            hostname: h.into(),
            ips: vec![],
            key_algo: KeyAlgorithm::EcdsaP256,
            mode: Mode::Ca,
        })
        .unwrap();
    };
    let mut a = node(dir.path(), "a", &clock);
    init(&mut a, "a.example.test");
    let mut b = node(dir.path(), "b", &clock);
    init(&mut b, "b.example.test");
    // A's machine certificate, imported into B; B trusts A's root.
    let m: EntryRef = "machine-ssl/machine".parse().unwrap();
    let cert = a.store().entry(&m).unwrap().unwrap().cert;
    let pem = |label, der: &[u8]| certherd_x509::to_pem(label, der);
    let a_root = a.trust_anchors().unwrap()[0].to_vec();
    b.trust_add(pem(certherd_x509::PemLabel::Certificate, &a_root).as_bytes())
        .unwrap();
    let imported: EntryRef = "web/a".parse().unwrap();
    b.import(
        &imported,
        pem(certherd_x509::PemLabel::Certificate, &cert).as_bytes(),
        &[],
        None,
        None,
    )
    .unwrap();
    assert_eq!(status_of(&b, "web/a"), Status::Ok);
    a.revocations_mut()
        .revoke(&m, RevocationReason::KeyCompromise, "admin")
        .unwrap();
    let crl = a.revocations_mut().current_crl().unwrap();
    b.trust_add_crl(&crl).unwrap();
    assert_eq!(status_of(&b, "web/a"), Status::Revoked);
    // B's own machine certificate, from another issuer, is not.
    assert_eq!(status_of(&b, "machine-ssl/machine"), Status::Ok);
    let check = b.check(b.now(), Thresholds::default()).unwrap();
    assert_eq!(check.severity(), Severity::Critical);
    assert_eq!(
        (check.findings.len(), check.findings[0].meta.entry.clone()),
        (1, imported.clone())
    );
    assert_eq!(b.status().unwrap().counts.get("revoked"), Some(&1));
    assert_eq!(
        open_alarms(&mut b),
        [(AlarmKind::Revoked, imported.to_string())]
    );
}
