//! Fleet rules on the server side at chosen dates: tokens expire, a refused join changes
//! nothing, names are enforced, polls renew and keep hosts from going silent.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{AlarmKind, Clock, OffsetDateTime, TokenError, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_store::{Home, HomeStore, Store};
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
fn tokens_expire_and_refusals_change_nothing() {
    let (_d, clock, mut node) = server();
    let (_, token, _) = node
        .fleet_mut()
        .host_add(
            "esx1.example.test",
            &["192.0.2.21".parse().unwrap()],
            DEFAULT_TOKEN_TTL,
            [3; 32],
        )
        .unwrap();
    let req = node
        .agent()
        .agent_prepare(
            "esx1.example.test",
            &["192.0.2.21".parse().unwrap()],
            None,
            None,
        )
        .unwrap();
    clock.advance(Duration::hours(25));
    let e = node
        .fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap_err();
    assert!(
        matches!(e, certherd_fleet::Error::Token(TokenError::Expired { .. })),
        "{e}"
    );
    assert!(node.fleet().hosts().unwrap()[0].joined_at.is_none());

    let (_, token, _) = node
        .fleet_mut()
        .host_add("esx2.example.test", &[], DEFAULT_TOKEN_TTL, [4; 32])
        .unwrap();
    let wrong = node
        .agent()
        .agent_prepare(
            "esx2.example.test",
            &["192.0.2.99".parse().unwrap()],
            None,
            None,
        )
        .unwrap();
    let e = node
        .fleet_mut()
        .host_join(&token, &wrong.csr, &wrong.pool_cert, true)
        .unwrap_err();
    assert!(
        matches!(e, certherd_fleet::Error::NotEnrolled { .. }),
        "{e}"
    );
    let right = node
        .agent()
        .agent_prepare("esx2.example.test", &[], None, None)
        .unwrap();
    let (host, grant) = node
        .fleet_mut()
        .host_join(&token, &right.csr, &right.pool_cert, true)
        .unwrap();
    assert_eq!(host.name, "esx2.example.test");
    let chain = grant.host_chain.unwrap();
    let info = certherd_x509::CertInfo::from_der(&chain[0]).unwrap();
    assert_eq!(info.dns_names, ["esx2.example.test"]);
    assert_eq!(
        info.not_after,
        clock.now() + Duration::days(365 * 5),
        "the host profile's five years"
    );
    assert!(
        node.fleet_mut()
            .host_join(&token, &right.csr, &right.pool_cert, true)
            .is_err(),
        "a token joins once"
    );
}

#[test]
fn polls_keep_hosts_from_going_silent_and_renew_on_request() {
    let (_d, clock, mut node) = server();
    let (_, token, _) = node
        .fleet_mut()
        .host_add("esx1.example.test", &[], DEFAULT_TOKEN_TTL, [5; 32])
        .unwrap();
    let req = node
        .agent()
        .agent_prepare("esx1.example.test", &[], None, None)
        .unwrap();
    node.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    clock.advance(Duration::minutes(4));
    assert!(node.alarms_mut().evaluate_alarms().unwrap().is_empty());
    clock.advance(Duration::minutes(2));
    node.alarms_mut().evaluate_alarms().unwrap();
    let open: Vec<_> = node
        .alarms()
        .alarm_history()
        .unwrap()
        .into_iter()
        .filter(|a| a.is_open())
        .collect();
    assert_eq!(
        (open[0].kind, open[0].subject.as_str()),
        (AlarmKind::HostSilent, "esx1.example.test")
    );
    // The host polls (after its certificate's expiry, even): heard again, and renewed.
    clock.advance(Duration::days(365 * 6));
    let again = node
        .agent()
        .agent_prepare("esx1.example.test", &[], None, None)
        .unwrap();
    let (_, grant) = node
        .fleet_mut()
        .host_poll(&req.pool_cert, Some(&again.csr), true, &[])
        .unwrap();
    assert!(grant.host_chain.is_some());
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(node
        .alarms()
        .alarm_history()
        .unwrap()
        .iter()
        .all(|a| !a.is_open() || a.kind != AlarmKind::HostSilent));
    assert_eq!(
        node.store()
            .entries(Some(&"backup".parse().unwrap()))
            .unwrap()
            .len(),
        1,
        "the previous host certificate is in backup"
    );
    // Someone else's certificate does not authenticate.
    assert!(matches!(
        node.fleet_mut()
            .host_poll(&again.pool_cert, None, true, &[]),
        Err(certherd_fleet::Error::UnknownPeer(_))
    ));
}

/// Issue 11, item 10: a host removed while its verification was off, then added again,
/// raises no `verification-disabled` alarm before it joins; nothing of the old host (its
/// verification, held roots, renewal and refresh orders) survives its removal.
#[test]
fn a_host_removed_and_added_again_starts_from_nothing() {
    let (_d, clock, mut node) = server();
    let name = "esx1.example.test";
    let (_, token, _) = node
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [6; 32])
        .unwrap();
    let req = node.agent().agent_prepare(name, &[], None, None).unwrap();
    node.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    // The host turns its verification off (emergency-disable) and reports it; the server
    // orders a renewal and a pool refresh it never carries out.
    node.fleet_mut()
        .host_poll(&req.pool_cert, None, false, &["r1".into()])
        .unwrap();
    node.fleet_mut().order_renewal(&[name.to_owned()]).unwrap();
    node.fleet_mut().order_pool_refresh(name).unwrap();
    node.alarms_mut().evaluate_alarms().unwrap();
    let open = |node: &Node<HomeStore>| -> Vec<(AlarmKind, String)> {
        node.alarms()
            .alarm_history()
            .unwrap()
            .into_iter()
            .filter(|a| a.is_open())
            .map(|a| (a.kind, a.subject))
            .collect()
    };
    assert_eq!(
        open(&node),
        [(AlarmKind::VerificationDisabled, name.to_owned())]
    );
    assert_eq!(node.fleet().host_verification(name).unwrap(), Some(false));

    node.fleet_mut().host_remove(name).unwrap();
    assert_eq!(
        node.store().host_state(name).unwrap(),
        certherd_store::HostState::default()
    );
    // Its alarm cleared with it.
    assert!(open(&node).is_empty(), "{:?}", open(&node));
    clock.advance(Duration::minutes(1));
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(open(&node).is_empty(), "{:?}", open(&node));

    // Added again: it has not joined, so it has reported nothing and is ordered nothing.
    let (_, token, _) = node
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [7; 32])
        .unwrap();
    assert_eq!(node.fleet().host_verification(name).unwrap(), None);
    assert!(!node.fleet().renewal_pending(name).unwrap());
    assert!(!node.fleet().pool_refresh_pending(name).unwrap());
    clock.advance(Duration::minutes(1));
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(open(&node).is_empty(), "{:?}", open(&node));
    // It joins with verification on, as the pool has it.
    let req = node.agent().agent_prepare(name, &[], None, None).unwrap();
    let (_, grant) = node
        .fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert!(!grant.renew_ordered && !grant.refresh_pool_ordered);
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(open(&node).is_empty(), "{:?}", open(&node));
}

/// Host names are DNS names: kept lower-case, so the same name in another case is the
/// same host, and an agent joins under either spelling.
#[test]
fn host_names_are_kept_lower_case() {
    let (_d, _clock, mut node) = server();
    let (host, token, _) = node
        .fleet_mut()
        .host_add("ESX1.Example.TEST", &[], DEFAULT_TOKEN_TTL, [3; 32])
        .unwrap();
    assert_eq!(host.name, "esx1.example.test");
    let e = node
        .fleet_mut()
        .host_add("esx1.example.test", &[], DEFAULT_TOKEN_TTL, [4; 32])
        .unwrap_err();
    assert!(e.to_string().contains("already enrolled"), "{e}");
    let req = node
        .agent()
        .agent_prepare("ESX1.EXAMPLE.TEST", &[], None, None)
        .unwrap();
    let (joined, _) = node
        .fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert_eq!(joined.name, "esx1.example.test");
}

/// A host an older release stored as typed (upper case) is still found by any spelling:
/// removed, ordered, its verification read, and not enrolled a second time.
#[test]
fn a_host_stored_upper_case_by_an_older_release_is_found_by_any_case() {
    let (d, _clock, mut node) = server();
    let mut legacy = Home::new(d.path().join("srv")).open().unwrap();
    legacy
        .apply(&[certherd_store::Change::PutHost(Box::new(
            certherd_core::Host {
                name: "ESX9.Example.TEST".into(),
                ips: vec![],
                created_at: datetime!(2026-02-01 0:00 UTC),
                joined_at: None,
                pool_sha256: None,
                last_seen: None,
            },
        ))])
        .unwrap();
    drop(legacy);
    assert_eq!(
        node.fleet()
            .stored_name("esx9.example.test")
            .unwrap()
            .as_deref(),
        Some("ESX9.Example.TEST")
    );
    let e = node
        .fleet_mut()
        .host_add("esx9.example.test", &[], DEFAULT_TOKEN_TTL, [5; 32])
        .unwrap_err();
    assert!(e.to_string().contains("already enrolled"), "{e}");
    assert_eq!(
        node.fleet().host_verification("esx9.EXAMPLE.test").unwrap(),
        None
    );
    let e = node
        .fleet_mut()
        .order_renewal(&["esx9.example.test".into()])
        .unwrap_err();
    assert!(e.to_string().contains("has not joined yet"), "{e}");
    node.fleet_mut().host_remove("esx9.example.test").unwrap();
    assert!(node.fleet().hosts().unwrap().is_empty());
}

/// A join token lives from 1h to 720h, on every path (the admin API says the same).
#[test]
fn a_token_lifetime_is_bounded() {
    let (_d, _clock, mut node) = server();
    for ttl in [
        Duration::days(9999),
        Duration::hours(721),
        Duration::minutes(59),
    ] {
        let e = node
            .fleet_mut()
            .host_add("esx1.example.test", &[], ttl, [3; 32])
            .unwrap_err();
        assert!(matches!(e, certherd_fleet::Error::TokenTtl { .. }), "{e}");
        assert!(e.to_string().contains("from 1h to 720h"), "{e}");
    }
    assert!(node.fleet().hosts().unwrap().is_empty());
    for ttl in [certherd_core::MIN_TOKEN_TTL, certherd_core::MAX_TOKEN_TTL] {
        let name = format!("esx{}.example.test", ttl.whole_hours());
        node.fleet_mut().host_add(&name, &[], ttl, [3; 32]).unwrap();
    }
}

/// A host name is its certificate's common name: one longer than RFC 5280's 64 is
/// refused at `host add` and `agent join --hostname`, naming that limit (not called "not
/// a fully qualified DNS name", which it is).
#[test]
fn host_names_longer_than_64_are_refused_naming_the_common_name_limit() {
    let (_d, _clock, mut node) = server();
    let name = format!("{}.b.example.test", "a".repeat(51));
    assert_eq!(name.len(), 66);
    let e = node
        .fleet_mut()
        .host_add(&name, &[], DEFAULT_TOKEN_TTL, [3; 32])
        .unwrap_err();
    assert!(
        matches!(
            e,
            certherd_fleet::Error::Node(certherd_authority::Error::HostnameTooLong {
                length: 66,
                ..
            })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("at most 64"), "{e}");
    assert!(node.fleet().hosts().unwrap().is_empty());
    let Err(e) = node.agent().agent_prepare(&name, &[], None, None) else {
        panic!("a 66-character host name was accepted by agent join");
    };
    assert!(
        matches!(
            e,
            certherd_fleet::Error::Node(certherd_authority::Error::HostnameTooLong {
                length: 66,
                ..
            })
        ),
        "{e}"
    );
}
