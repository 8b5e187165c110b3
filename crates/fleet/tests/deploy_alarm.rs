//! Issue 12, item 3: a host's agent reports a failed deploy (a layout not written, a
//! reload that failed or hung) in its poll; the server raises `deploy-failed` about the
//! host, with the reload's output in the webhook notification, and clears it when the
//! host reports a good deploy.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{AlarmChange, AlarmKind, Clock, OffsetDateTime, DEFAULT_TOKEN_TTL};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_store::{Home, Store};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[test]
fn a_reported_deploy_failure_raises_deploy_failed_with_the_output_and_a_good_one_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock(Arc::new(Mutex::new(datetime!(2026-03-01 0:00 UTC))));
    let home = dir.path().join("srv");
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
    let mut n = Node::new(
        Home::new(home).open().unwrap(),
        Box::new(clock.clone()),
        Some("[[webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\n"),
        "certherd.toml",
    )
    .unwrap();
    let name = "kvm1.example.test";
    let (_, token, _) = n
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [7; 32])
        .unwrap();
    let req = n.agent().agent_prepare(name, &[], None, None).unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert!(n.alarms_mut().evaluate_alarms().unwrap().is_empty());

    // Nothing to report: nothing changes.
    assert!(n
        .alarms_mut()
        .host_report_deploy(name, None)
        .unwrap()
        .is_empty());

    let said =
        "qemu layout in /etc/pki/qemu: reload `false` failed (exit status: 1); it printed: boom";
    let c = n.alarms_mut().host_report_deploy(name, Some(said)).unwrap();
    assert!(
        matches!(&c[..], [AlarmChange::Raised(a)] if a.kind == AlarmKind::DeployFailed && a.subject == name),
        "{c:?}"
    );
    assert_eq!(
        n.alarms().host_deploy_error(name).unwrap().as_deref(),
        Some(said)
    );
    let queued = n.store().undelivered().unwrap();
    assert_eq!(queued.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(body["kind"], "deploy-failed");
    assert_eq!(body["detail"], said);

    // The same report again (every poll until it is fixed): nothing new.
    assert!(n
        .alarms_mut()
        .host_report_deploy(name, Some(said))
        .unwrap()
        .is_empty());
    assert!(n.alarms_mut().evaluate_alarms().unwrap().is_empty());

    // A good deploy clears it.
    let c = n.alarms_mut().host_report_deploy(name, None).unwrap();
    assert!(
        matches!(&c[..], [AlarmChange::Cleared(a)] if a.kind == AlarmKind::DeployFailed),
        "{c:?}"
    );
    assert_eq!(n.alarms().host_deploy_error(name).unwrap(), None);

    // A report from before the host was removed is not held against it when it is
    // added and joined again under the same name.
    n.alarms_mut().host_report_deploy(name, Some(said)).unwrap();
    n.fleet_mut().host_remove(name).unwrap();
    assert!(n
        .alarms()
        .alarm_history()
        .unwrap()
        .iter()
        .all(|a| !a.is_open()));
    *clock.0.lock().unwrap() += time::Duration::hours(1);
    let (_, token, _) = n
        .fleet_mut()
        .host_add(name, &[], DEFAULT_TOKEN_TTL, [8; 32])
        .unwrap();
    let req = n.agent().agent_prepare(name, &[], None, None).unwrap();
    n.fleet_mut()
        .host_join(&token, &req.csr, &req.pool_cert, true)
        .unwrap();
    assert_eq!(n.alarms().host_deploy_error(name).unwrap(), None);
    assert!(n.alarms_mut().evaluate_alarms().unwrap().is_empty());
}
