//! Issue 11, item 19: webhook notifications are queued with the alarm change that causes
//! them and leave the outbox only when delivered; failed attempts are retried with a
//! doubling backoff, at the node's clock.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{Clock, OffsetDateTime, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_monitor::OutboxSummary;
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

const DOWN: &str = "http://127.0.0.1:9/down";
const UP: &str = "http://127.0.0.1:9/up";

fn config(hooks: &[&str]) -> String {
    hooks
        .iter()
        .map(|h| format!("[[webhooks]]\nurl = \"{h}\"\nbackoff = \"10s\"\n"))
        .collect()
}

fn node(home: &std::path::Path, clock: &TestClock, hooks: &[&str]) -> Node<HomeStore> {
    Node::new(
        Home::new(home.to_path_buf()).open().unwrap(),
        Box::new(clock.clone()),
        Some(&config(hooks)),
        "certherd.toml",
    )
    .unwrap()
}

fn init(home: &std::path::Path, clock: &TestClock) {
    let mut n = Node::new(
        Home::new(home.to_path_buf()).create().unwrap(),
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
}

fn join(n: &mut Node<HomeStore>, name: &str, random: u8) {
    let (_, token, _) = n
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [random; 32])
        .unwrap();
    let req = n.agent().agent_prepare(name, &[], None, None).unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
}

/// A webhook gets its notifications in order: the oldest, waiting for its retry, holds
/// back the later ones, and the next attempt is the oldest's.
#[test]
fn a_webhook_gets_its_notifications_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("srv");
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    init(&home, &clock);
    let mut n = node(&home, &clock, &[DOWN]);
    join(&mut n, "esx1.example.test", 1);
    join(&mut n, "esx2.example.test", 2);
    clock.advance(Duration::minutes(6));
    assert_eq!(n.alarms_mut().evaluate_alarms().unwrap().len(), 2);
    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(due.len(), 2);
    n.alarms_mut()
        .record_delivery(&due[0], Err("refused".into()))
        .unwrap();
    // The second was never attempted and is past its due time, but waits for the first.
    assert!(n.alarms_mut().due_notifications().unwrap().is_empty());
    assert_eq!(
        n.alarms().next_notification_at().unwrap(),
        Some(clock.now() + Duration::seconds(10))
    );
    clock.advance(Duration::seconds(10));
    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(
        due.iter()
            .map(|d| d.notification.attempts)
            .collect::<Vec<_>>(),
        [1, 0]
    );
}

#[test]
fn notifications_wait_in_the_outbox_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("srv");
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    init(&home, &clock);
    let mut n = node(&home, &clock, &[DOWN, UP]);
    let (_, token, _) = n
        .fleet_mut()
        .host_add("esx1.example.test", &[], DEFAULT_TOKEN_TTL, [9; 32])
        .unwrap();
    let req = n
        .agent()
        .agent_prepare("esx1.example.test", &[], None, None)
        .unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert!(n.store().undelivered().unwrap().is_empty());

    // The host goes silent: the alarm and one notification per webhook, together.
    clock.advance(Duration::minutes(6));
    assert_eq!(n.alarms_mut().evaluate_alarms().unwrap().len(), 1);
    let queued = n.store().undelivered().unwrap();
    assert_eq!(queued.len(), 2);
    let body: serde_json::Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(
        (
            body["event"].as_str(),
            body["kind"].as_str(),
            body["subject"].as_str(),
            body["node"].as_str()
        ),
        (
            Some("raised"),
            Some("host-silent"),
            Some("esx1.example.test"),
            Some("vc01.example.test")
        )
    );
    // Evaluating again changes nothing and queues nothing.
    assert!(n.alarms_mut().evaluate_alarms().unwrap().is_empty());
    assert_eq!(n.store().undelivered().unwrap().len(), 2);

    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(due.len(), 2);
    for d in &due {
        let outcome = if d.webhook.url == DOWN {
            Err("connection refused".to_owned())
        } else {
            Ok(())
        };
        n.alarms_mut().record_delivery(d, outcome).unwrap();
    }
    assert_eq!(
        n.alarms().outbox_summary().unwrap(),
        OutboxSummary {
            undelivered: 1,
            last_error: Some("connection refused".into())
        }
    );
    // Not due again before its backoff...
    assert!(n.alarms_mut().due_notifications().unwrap().is_empty());
    assert_eq!(
        n.alarms().next_notification_at().unwrap(),
        Some(clock.now() + Duration::seconds(10))
    );
    clock.advance(Duration::seconds(9));
    assert!(n.alarms_mut().due_notifications().unwrap().is_empty());
    // ...then due; a second failure doubles the wait.
    clock.advance(Duration::seconds(1));
    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].notification.attempts, 1);
    let next = n
        .alarms_mut()
        .record_delivery(&due[0], Err("HTTP 503".into()))
        .unwrap();
    assert_eq!(next, Some(clock.now() + Duration::seconds(20)));
    assert_eq!(
        n.alarms().outbox_summary().unwrap().last_error.as_deref(),
        Some("HTTP 503")
    );
    clock.advance(Duration::seconds(20));
    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(due[0].notification.attempts, 2);
    assert_eq!(
        n.alarms_mut().record_delivery(&due[0], Ok(())).unwrap(),
        None
    );
    assert_eq!(
        n.alarms().outbox_summary().unwrap(),
        OutboxSummary::default()
    );

    // A notification for a webhook taken out of the settings is dropped, and audited.
    clock.advance(Duration::days(1));
    n.fleet_mut()
        .host_poll(&req.pool_cert, None, true, &[])
        .unwrap();
    assert_eq!(
        n.alarms_mut().evaluate_alarms().unwrap().len(),
        1,
        "host-silent cleared"
    );
    assert_eq!(n.store().undelivered().unwrap().len(), 2);
    drop(n);
    let mut n = node(&home, &clock, &[UP]);
    let due = n.alarms_mut().due_notifications().unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].webhook.url, UP);
    assert_eq!(n.store().undelivered().unwrap().len(), 1);
    assert!(n
        .store()
        .audit_log()
        .unwrap()
        .iter()
        .any(|r| r.action == "notification-dropped" && r.subject == DOWN));
}
