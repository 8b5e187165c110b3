//! Alarms on one node at chosen dates, with a clock the test moves: certificates cross
//! the expiry tiers and clear when renewed; a revoked entry keeps its alarm through bulk
//! renewals and a CA rotation until it is renewed by hand.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, IssueRequest, Mode, Node, RenewSelection};
use certherd_core::{Clock, EntryRef, OffsetDateTime, Status};
use certherd_monitor::MonitorExt;
use certherd_store::{Home, HomeStore, Store};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;
use time::Duration;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
    fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

const START: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn node() -> (tempfile::TempDir, TestClock, Node<HomeStore>) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    let clock = TestClock(Arc::new(Mutex::new(START)));
    let mut node = Node::new(
        home.create().unwrap(),
        Box::new(clock.clone()),
        None,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "node1.example.test".into(),
        ips: vec!["192.0.2.10".parse().unwrap()],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, clock, node)
}

fn r(s: &str) -> EntryRef {
    s.parse().unwrap()
}

/// Issues `svc/ALIAS` under the service profile.
fn service(node: &mut Node<HomeStore>, alias: &str) -> EntryRef {
    let e = r(&format!("svc/{alias}"));
    node.issue(&IssueRequest {
        profile: "service".into(),
        entry: e.clone(),
        common_name: None,
        names: vec![format!("{alias}.example.test")],
        key_algo: None,
    })
    .unwrap();
    e
}

/// The open alarms, as `kind subject`.
fn open_alarms(node: &Node<HomeStore>) -> Vec<String> {
    node.alarms()
        .alarm_history()
        .unwrap()
        .iter()
        .filter(|a| a.is_open())
        .map(|a| format!("{} {}", a.kind, a.subject))
        .collect()
}

#[test]
fn a_rotation_and_bulk_renewals_leave_revoked_entries_revoked() {
    let (_d, clock, mut node) = node();
    let gone = service(&mut node, "gone");
    let kept = service(&mut node, "kept");
    let revoked_serial = node.show(&gone).unwrap().0.meta.serial;
    node.revocations_mut()
        .revoke(
            &gone,
            certherd_x509::RevocationReason::KeyCompromise,
            "test",
        )
        .unwrap();
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(open_alarms(&node).contains(&"revoked svc/gone".to_owned()));

    // Bulk renewals leave it alone, reporting why; it stays as it was.
    for sel in [
        RenewSelection::All,
        RenewSelection::Profile("service".into()),
    ] {
        let plan = node.plan_renewal(&sel).unwrap();
        assert!(!plan.targets.contains(&gone), "{:?}", plan.targets);
        assert!(plan.targets.contains(&kept));
        let skip = plan.skipped.iter().find(|s| s.entry == gone).unwrap();
        assert_eq!(skip.reason, certherd_authority::SkipReason::Revoked);
        assert!(skip.to_string().contains("the admin's decision"), "{skip}");
    }
    // Due at the end of its life: `cert renew --due` leaves it alone all the same.
    clock.advance(Duration::days(3000));
    assert!(!node
        .select_for_renewal(&RenewSelection::Due)
        .unwrap()
        .contains(&gone));
    // A bulk run given it anyway (revoked after its plan was made) skips it at its turn.
    let mut steps = Vec::new();
    node.run_bulk(
        &certherd_authority::Bulk::Renew(RenewSelection::All),
        std::slice::from_ref(&gone),
        None,
        &mut |s| steps.push(s),
    )
    .unwrap();
    assert!(matches!(
        steps.as_slice(),
        [certherd_authority::BulkStep::Skipped(s)] if s.reason == certherd_authority::SkipReason::Revoked
    ));
    assert_eq!(node.show(&gone).unwrap().0.meta.serial, revoked_serial);
    clock.set(START + Duration::days(100));

    // The rotation reissues everything else, skips the revoked entry (reported), and
    // the old root still retires: the revoked entry needs no trust to stay revoked.
    let report = node.ca_rotate().unwrap();
    let reissued: Vec<String> = report
        .reissued
        .iter()
        .map(|x| x.entry.to_string())
        .collect();
    assert!(reissued.contains(&"svc/kept".to_owned()), "{reissued:?}");
    assert!(!reissued.contains(&"svc/gone".to_owned()), "{reissued:?}");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].entry, gone);
    assert_eq!(
        report.skipped[0].reason,
        certherd_authority::SkipReason::Revoked
    );
    assert!(report.retired);
    let (view, _, _) = node.show(&gone).unwrap();
    assert_eq!(view.meta.serial, revoked_serial);
    assert_eq!(view.status, Status::Revoked);
    assert!(node
        .revocations()
        .revocation_of(&node.store().entry(&gone).unwrap().unwrap().cert)
        .unwrap()
        .is_some());
    // Its alarm stays open while it is revoked.
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(open_alarms(&node).contains(&"revoked svc/gone".to_owned()));

    // Renewing it by hand is the admin's decision, and clears the alarm.
    node.renew(&gone).unwrap();
    assert_ne!(node.show(&gone).unwrap().0.meta.serial, revoked_serial);
    node.alarms_mut().evaluate_alarms().unwrap();
    assert!(!open_alarms(&node).contains(&"revoked svc/gone".to_owned()));
}

#[test]
fn alarms_cross_the_tiers_and_clear_when_renewed() {
    use certherd_core::{AlarmChange, AlarmKind};
    let (_d, clock, mut node) = node();
    let machine: EntryRef = "machine-ssl/machine".parse().unwrap();
    let not_after = node
        .store()
        .entry(&machine)
        .unwrap()
        .unwrap()
        .meta
        .not_after;
    let open = |node: &Node<HomeStore>| {
        node.alarms()
            .alarm_history()
            .unwrap()
            .into_iter()
            .filter(|a| a.is_open())
            .map(|a| (a.kind, a.subject))
            .collect::<Vec<_>>()
    };
    assert!(node.alarms_mut().evaluate_alarms().unwrap().is_empty());
    clock.set(not_after - Duration::days(29));
    let changes = node.alarms_mut().evaluate_alarms().unwrap();
    assert!(
        matches!(&changes[..], [AlarmChange::Raised(a)] if a.kind == AlarmKind::Expiring { days: 30 })
    );
    assert!(
        node.alarms_mut().evaluate_alarms().unwrap().is_empty(),
        "nothing new on a second look"
    );
    clock.set(not_after - Duration::days(6));
    node.alarms_mut().evaluate_alarms().unwrap();
    assert_eq!(
        open(&node),
        vec![(AlarmKind::Expiring { days: 7 }, machine.to_string())]
    );
    // Renewal: the superseded entry in backup keeps no alarm alive.
    node.renew(&machine).unwrap();
    let changes = node.alarms_mut().evaluate_alarms().unwrap();
    assert!(matches!(&changes[..], [AlarmChange::Cleared(a)] if a.cleared_at == Some(clock.now())));
    assert!(open(&node).is_empty());
    let history = node.alarms().alarm_history().unwrap();
    assert_eq!(
        history.len(),
        2,
        "the 30-day and 7-day alarms, both cleared: {history:?}"
    );
    assert!(history
        .iter()
        .all(|a| a.cleared_at.is_some() && a.cleared_at >= Some(a.raised_at)));
}
