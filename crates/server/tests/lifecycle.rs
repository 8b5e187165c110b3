//! The lifecycle loop as the server runs it, at an injected clock with an injected
//! delivery: an alarm raised at one tick is delivered, a receiver that is down gets it at
//! a later tick after its backoff, and a CA rotation in progress advances a stage a tick.

#![allow(clippy::unwrap_used, missing_docs)] // tests fail loudly by design

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{Clock, OffsetDateTime, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_server::lifecycle::{self, Deliver, Event};
use certherd_store::{Home, HomeStore};
use certherd_x509::{CertificateDer, KeyAlgorithm};
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

/// Records every attempt; answers as `up` says.
#[derive(Default)]
struct Receiver {
    up: RefCell<bool>,
    got: RefCell<Vec<(String, String)>>,
}

impl Deliver for Receiver {
    fn deliver(
        &self,
        url: &str,
        body: &[u8],
        _anchors: &[CertificateDer<'static>],
    ) -> Result<(), lifecycle::DeliveryError> {
        if *self.up.borrow() {
            self.got
                .borrow_mut()
                .push((url.to_owned(), String::from_utf8_lossy(body).into_owned()));
            Ok(())
        } else {
            Err(lifecycle::DeliveryError::Other(Box::new(
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            )))
        }
    }
}

const HOOK: &str = "http://127.0.0.1:9/hook";

fn node(home: &std::path::Path, clock: &TestClock) -> Node<HomeStore> {
    Node::new(
        Home::new(home.to_path_buf()).open().unwrap(),
        Box::new(clock.clone()),
        Some(&format!(
            "[[webhooks]]\nurl = \"{HOOK}\"\nbackoff = \"10s\"\n"
        )),
        "certherd.toml",
    )
    .unwrap()
}

/// The events of one tick, but CRL publications (see `crls_are_published_...`).
fn tick(n: &mut Node<HomeStore>, via: &Receiver) -> Vec<String> {
    let mut events = Vec::new();
    lifecycle::tick(n, via, &mut |e: Event| {
        if !matches!(e, Event::CrlPublished(_)) {
            events.push(e.to_string())
        }
    });
    events
}

#[test]
fn crls_are_published_at_the_first_tick_then_from_half_their_validity_and_at_each_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("srv");
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let config = "[crl]\nnext_update = \"2d\"\n";
    let mut n = Node::new(
        Home::new(home.clone()).create().unwrap(),
        Box::new(clock.clone()),
        Some(config),
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
    let receiver = Receiver::default();
    let crl_tick = |n: &mut Node<HomeStore>| {
        let mut out = Vec::new();
        lifecycle::tick(n, &receiver, &mut |e: Event| {
            if let Event::CrlPublished(p) = e {
                out.push((p.number, p.this_update, p.next_update, p.revoked));
            }
        });
        out
    };
    let t0 = clock.now();
    // No CRL yet: the first tick publishes number 1, valid two days.
    assert_eq!(crl_tick(&mut n), vec![(1, t0, t0 + Duration::days(2), 0)]);
    // Before half its validity: nothing.
    clock.advance(Duration::hours(23) + Duration::minutes(59));
    assert!(crl_tick(&mut n).is_empty());
    // At half of it: number 2.
    clock.advance(Duration::minutes(1));
    let t1 = clock.now();
    assert_eq!(crl_tick(&mut n), vec![(2, t1, t1 + Duration::days(2), 0)]);
    assert!(crl_tick(&mut n).is_empty());
    // A revocation publishes at once (number 3); the next tick has nothing to do.
    clock.advance(Duration::hours(1));
    let r: certherd_core::EntryRef = "machine-ssl/machine".parse().unwrap();
    match n
        .revocations_mut()
        .revoke(&r, certherd_x509::RevocationReason::KeyCompromise, "test")
        .unwrap()
    {
        certherd_authority::RevokeOutcome::Revoked { crl_number, .. } => assert_eq!(crl_number, 3),
        other => panic!("{other:?}"),
    }
    assert!(crl_tick(&mut n).is_empty());
    let held = n.revocations().published_crls().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].number, held[0].revoked), (3, 1));
    // A server stopped past the next update publishes at its first tick back.
    clock.advance(Duration::days(5));
    let t2 = clock.now();
    assert_eq!(crl_tick(&mut n), vec![(4, t2, t2 + Duration::days(2), 1)]);
}

#[test]
fn a_tick_evaluates_delivers_and_retries_at_the_nodes_clock() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("srv");
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let mut n = Node::new(
        Home::new(home.clone()).create().unwrap(),
        Box::new(clock.clone()),
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
    drop(n);
    let mut n = node(&home, &clock);
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
    let receiver = Receiver::default();
    assert!(tick(&mut n, &receiver).is_empty());

    // The host goes silent: raised, and the receiver (down) is tried once.
    clock.advance(Duration::minutes(6));
    let events = tick(&mut n, &receiver);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], "raised host-silent esx1.example.test");
    assert!(
        events[1].starts_with(&format!(
            "warning: webhook {HOOK}: connection refused (attempt 1; next attempt at 2026-03-01T00:06:10"
        )),
        "{events:?}"
    );
    // Back up, but before the backoff: nothing is attempted.
    *receiver.up.borrow_mut() = true;
    assert!(tick(&mut n, &receiver).is_empty());
    assert!(receiver.got.borrow().is_empty());
    // After it: delivered once, and the outbox is empty.
    clock.advance(Duration::seconds(10));
    assert!(tick(&mut n, &receiver).is_empty());
    assert_eq!(receiver.got.borrow().len(), 1);
    assert!(receiver.got.borrow()[0].1.contains("host-silent"));
    assert_eq!(n.alarms().outbox_summary().unwrap().undelivered, 0);
    assert!(tick(&mut n, &receiver).is_empty());
    assert_eq!(receiver.got.borrow().len(), 1);

    // A CA rotation on a fleet waits for the hosts to trust the new root, a tick at a time.
    let started = n.ca_rotate().unwrap();
    assert!(!started.waiting_for.is_empty());
    let events = tick(&mut n, &receiver);
    assert!(
        events
            .iter()
            .any(|e| e == "CA rotation waits for 1 host(s) to trust the new root"),
        "{events:?}"
    );
}

/// `certherd alarms` waits for a retry with the function it is given (no sleeping here:
/// the clock is advanced instead).
#[test]
fn a_one_off_run_waits_for_the_retry_with_the_sleep_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("srv");
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let mut n = Node::new(
        Home::new(home.clone()).create().unwrap(),
        Box::new(clock.clone()),
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
    drop(n);
    let mut n = node(&home, &clock);
    let (_, token, _) = n
        .fleet_mut()
        .host_add("esx1.example.test", &[], DEFAULT_TOKEN_TTL, [8; 32])
        .unwrap();
    let req = n
        .agent()
        .agent_prepare("esx1.example.test", &[], None, None)
        .unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    clock.advance(Duration::minutes(6));

    /// Down for the first attempt only.
    struct Flaky(RefCell<u32>);
    impl Deliver for Flaky {
        fn deliver(
            &self,
            _: &str,
            _: &[u8],
            _: &[CertificateDer<'static>],
        ) -> Result<(), lifecycle::DeliveryError> {
            *self.0.borrow_mut() += 1;
            if *self.0.borrow() == 1 {
                Err(lifecycle::DeliveryError::Status(503))
            } else {
                Ok(())
            }
        }
    }
    let flaky = Flaky(RefCell::new(0));
    let slept = RefCell::new(Vec::new());
    let sleep = |d: std::time::Duration| {
        slept.borrow_mut().push(d);
        clock.advance(Duration::try_from(d).unwrap());
    };
    let mut events = Vec::new();
    lifecycle::evaluate_and_notify(&mut n, &flaky, Some(&sleep), &mut |e| {
        events.push(e.to_string())
    })
    .unwrap();
    assert_eq!(*flaky.0.borrow(), 2, "{events:?}");
    assert_eq!(*slept.borrow(), [std::time::Duration::from_secs(10)]);
    assert_eq!(n.alarms().outbox_summary().unwrap().undelivered, 0);
}
