//! Renewal at scale and at the edges: backup names for the longest aliases, pruning once
//! per bulk run, a re-import that changes nothing, and `reset` back to CA-issued.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use certherd_authority::{Bulk, BulkStep, InitOptions, IssueRequest, Mode, Node, RenewSelection};
use certherd_core::{
    Alarm, Clock, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, Source,
    StoreName, Watch, WatchKind,
};
use certherd_store::{
    AuditRecord, Change, CrlRecord, Entry, Error, Home, HomeStore, Secret, Store, StoreInfo,
};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;
use time::Duration;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

const START: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

/// A SQLite store that counts full listings of the backup store, and fails reading the
/// CRLs or writing anything while told to (a database gone away).
struct Counting {
    inner: HomeStore,
    backup_scans: Rc<Cell<usize>>,
    fail_crls: Cell<bool>,
    fail_writes: Cell<bool>,
}

fn unreachable() -> Error {
    Error::Io {
        action: "read",
        path: "certherd.db".into(),
        source: std::io::Error::other("connection closed"),
    }
}

impl Store for Counting {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.inner.meta(key)
    }
    fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        self.inner.stores()
    }
    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
        if store.is_some_and(StoreName::is_backup) {
            self.backup_scans.set(self.backup_scans.get() + 1);
        }
        self.inner.entries(store)
    }
    fn entry(&self, entry: &EntryRef) -> Result<Option<Entry>, Error> {
        self.inner.entry(entry)
    }
    fn secret(&self, name: &str) -> Result<Option<Secret>, Error> {
        self.inner.secret(name)
    }
    fn crls(&self) -> Result<Vec<CrlRecord>, Error> {
        if self.fail_crls.get() {
            return Err(unreachable());
        }
        self.inner.crls()
    }
    fn revocations(&self) -> Result<Vec<certherd_store::RevocationRecord>, Error> {
        self.inner.revocations()
    }
    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error> {
        self.inner.audit_log()
    }
    fn hosts(&self) -> Result<Vec<Host>, Error> {
        self.inner.hosts()
    }
    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        self.inner.host(name)
    }
    fn host_any_case(&self, name: &str) -> Result<Option<Host>, Error> {
        self.inner.host_any_case(name)
    }
    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        self.inner.host_by_pool(pool_sha256)
    }
    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        self.inner.join_token(sha256)
    }
    fn alarms(&self) -> Result<Vec<Alarm>, Error> {
        self.inner.alarms()
    }
    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        self.inner.watches(kind)
    }
    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error> {
        self.inner.key_providers()
    }
    fn host_state(&self, host: &str) -> Result<certherd_store::HostState, Error> {
        self.inner.host_state(host)
    }
    fn admin_credential(
        &self,
        sha256: &str,
    ) -> Result<Option<certherd_store::AdminCredential>, Error> {
        self.inner.admin_credential(sha256)
    }
    fn admin_credentials(&self) -> Result<Vec<certherd_store::AdminCredential>, Error> {
        self.inner.admin_credentials()
    }
    fn undelivered(&self) -> Result<Vec<certherd_store::Notification>, Error> {
        self.inner.undelivered()
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        if self.fail_writes.get() {
            return Err(unreachable());
        }
        self.inner.apply(changes)
    }
    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: certherd_core::OffsetDateTime,
        until: certherd_core::OffsetDateTime,
    ) -> Result<certherd_store::Lease, Error> {
        self.inner.take_lease(name, holder, now, until)
    }
    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        self.inner.release_lease(name, holder)
    }
    fn lease(&self, name: &str) -> Result<Option<certherd_store::Lease>, Error> {
        self.inner.lease(name)
    }
}

fn node() -> (
    tempfile::TempDir,
    TestClock,
    Node<Counting>,
    Rc<Cell<usize>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    let clock = TestClock(Arc::new(Mutex::new(START)));
    let scans = Rc::new(Cell::new(0));
    let store = Counting {
        inner: home.create().unwrap(),
        backup_scans: scans.clone(),
        fail_crls: Cell::new(false),
        fail_writes: Cell::new(false),
    };
    let mut node = Node::new(store, Box::new(clock.clone()), None, "certherd.toml").unwrap();
    node.init(&InitOptions {
        hostname: "node1.example.test".into(),
        ips: vec!["192.0.2.10".parse().unwrap()],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, clock, node, scans)
}

fn r(s: &str) -> EntryRef {
    s.parse().unwrap()
}

fn issue(node: &mut Node<Counting>, entry: &str, profile: &str, names: &[&str]) {
    node.issue(&IssueRequest {
        profile: profile.into(),
        entry: r(entry),
        common_name: None,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        key_algo: None,
    })
    .unwrap();
}

fn backups(node: &Node<Counting>) -> Vec<EntryMeta> {
    node.store()
        .entries(Some(&StoreName::BACKUP.parse().unwrap()))
        .unwrap()
}

/// Renews `entry` five times, twice within one second and then a second apart, and
/// checks that every backup got its own valid, time-stamped alias.
fn renew_five_times(node: &mut Node<Counting>, clock: &TestClock, entry: &str) -> Vec<String> {
    let before = backups(node).len();
    let mut names = Vec::new();
    for i in 0..5 {
        let (_, backup) = node.renew(&r(entry)).unwrap();
        names.push(backup.alias.to_string());
        if i != 0 {
            clock.advance(Duration::seconds(1));
        }
    }
    assert_eq!(backups(node).len(), before + 5);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "{names:?}");
    for n in &names {
        assert!(n.len() <= 64, "{n}");
        assert!(n.contains("20260101T0000"), "the timestamp survives: {n}");
    }
    names
}

#[test]
fn the_longest_alias_renews_again_and_again() {
    let (_d, clock, mut node, _) = node();
    let alias = format!("s{}", "v".repeat(63));
    let entry = format!("svc/{alias}");
    issue(&mut node, &entry, "service", &[]);
    let names = renew_five_times(&mut node, &clock, &entry);
    // The sequence within one second, then the next seconds; never cut off.
    assert!(names[1].ends_with("T000000Z.1"), "{names:?}");
    assert!(names[2].ends_with("T000001Z"), "{names:?}");
    // Another alias of the same length sharing a long prefix gets its own backups.
    let twin = format!("svc/s{}w", "v".repeat(62));
    issue(&mut node, &twin, "service", &[]);
    let twin_names = renew_five_times(&mut node, &clock, &twin);
    assert!(twin_names.iter().all(|n| !names.contains(n)));
}

#[test]
fn a_fleet_host_name_renews_again_and_again() {
    let (_d, clock, mut node, _) = node();
    let host = "esx01.rack-12.datacenter-east.corp.example.test";
    let entry = format!("hosts/{host}");
    issue(&mut node, &entry, "host", &[host]);
    let names = renew_five_times(&mut node, &clock, &entry);
    assert!(names[0].starts_with("hosts.esx01.rack-12"), "{names:?}");
    // A short name stays readable: STORE.ALIAS.TIMESTAMP.
    let (_, b) = node.renew(&r("machine-ssl/machine")).unwrap();
    assert_eq!(b.alias.as_str(), "machine-ssl.machine.20260101T000004Z");
}

#[test]
fn a_bulk_run_prunes_the_backups_once() {
    let (_d, clock, mut node, scans) = node();
    for i in 0..12 {
        issue(&mut node, &format!("svc/s{i}"), "service", &[]);
    }
    // A first run leaves 14 backups (12 services, machine-ssl, sts) that expire later.
    node.renew_selected(&RenewSelection::All).unwrap();
    assert_eq!(backups(&node).len(), 14);
    clock.advance(Duration::days(31));
    scans.set(0);
    let done = node.renew_selected(&RenewSelection::All).unwrap();
    assert_eq!(done.len(), 14);
    assert!(done.iter().all(|d| d.result.is_ok()));
    assert_eq!(
        scans.get(),
        1,
        "one scan of the backup store for the whole run"
    );
    // The retention elapsed for the first 14; the 14 just made are kept.
    assert_eq!(backups(&node).len(), 14);
    let pruned = node
        .store()
        .audit_log()
        .unwrap()
        .iter()
        .filter(|a| a.action == "backup-prune")
        .count();
    assert_eq!(pruned, 14);
}

#[test]
fn a_bulk_run_skips_what_a_concurrent_run_renewed() {
    let (_d, clock, mut node, _) = node();
    for i in 0..3 {
        issue(&mut node, &format!("svc/s{i}"), "service", &[]);
    }
    let plan = node.plan_renewal(&RenewSelection::All).unwrap();
    assert_eq!(plan.targets.len(), 5);
    // The CA is matched but not renewed, and says why (the CLI names `ca rotate`).
    assert!(plan.skipped.iter().any(|s| s.entry == r("ca/root")
        && s.reason == certherd_authority::SkipReason::CertificateAuthority
        && s.to_string() == "a CA certificate"));
    clock.advance(Duration::hours(1));
    let other_run_began = node.now();
    node.renew(&r("svc/s1")).unwrap();
    clock.advance(Duration::seconds(5));
    let mut steps = Vec::new();
    node.run_bulk(
        &Bulk::Renew(RenewSelection::All),
        &plan.targets,
        Some(other_run_began),
        &mut |s| steps.push(s),
    )
    .unwrap();
    let skipped: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            BulkStep::Skipped(s) => Some(s.entry.to_string()),
            BulkStep::Done(_) => None,
        })
        .collect();
    assert_eq!(skipped, ["svc/s1"]);
    assert_eq!(steps.len(), 5);
}

fn import_foreign(node: &mut Node<Counting>, entry: &str, profile: Option<&str>) -> Vec<u8> {
    // A certificate from certherd's own CA, exported and imported back, stands in for one
    // issued elsewhere: the import path and the reset path do not care who signed it.
    let tmp = format!("tmp/{}", r(entry).alias);
    issue(
        node,
        &tmp,
        "machine-ssl",
        &["portal.example.test", "192.0.2.77"],
    );
    let pem = node
        .export(&r(&tmp), certherd_authority::ExportFormat::Pem, true, None)
        .unwrap();
    node.delete(&r(&tmp)).unwrap();
    node.import(&r(entry), &pem, &[], Some(&pem), profile)
        .unwrap();
    pem
}

#[test]
fn importing_the_live_certificate_again_changes_nothing() {
    let (_d, _c, mut node, _) = node();
    let pem = import_foreign(&mut node, "web/portal", None);
    let audit_before = node.store().audit_log().unwrap().len();
    let again = node
        .import(&r("web/portal"), &pem, &[], Some(&pem), None)
        .unwrap();
    assert!(again.unchanged);
    assert!(
        backups(&node).is_empty(),
        "no backup of the identical entry"
    );
    assert_eq!(node.store().audit_log().unwrap().len(), audit_before);
    // Without the key it is not the same entry: that is a change.
    let cert_only = node
        .export(
            &r("web/portal"),
            certherd_authority::ExportFormat::Pem,
            false,
            None,
        )
        .unwrap();
    let changed = node
        .import(&r("web/portal"), &cert_only, &[], None, None)
        .unwrap();
    assert!(!changed.unchanged);
    assert_eq!(backups(&node).len(), 1);
}

#[test]
fn reset_replaces_an_imported_certificate_with_a_ca_issued_one() {
    let (_d, _c, mut node, _) = node();
    import_foreign(&mut node, "web/portal", None);
    let before = node.store().entry(&r("web/portal")).unwrap().unwrap();
    assert_eq!(before.meta.source, Source::Imported);
    // renew refuses it; reset is the way back.
    assert!(node.renew(&r("web/portal")).is_err());
    let plan = node.plan_renewal(&RenewSelection::All).unwrap();
    let skip = plan
        .skipped
        .iter()
        .find(|s| s.entry == r("web/portal"))
        .unwrap();
    // The fact; the CLI adds `certherd cert reset web/portal`.
    assert_eq!(skip.reason, certherd_authority::SkipReason::Imported);
    assert_eq!(skip.to_string(), "imported");
    let (issued, backup) = node.reset(&r("web/portal")).unwrap();
    assert_eq!(issued.meta.source, Source::Issued);
    // No profile recorded, the store is no profile, serverAuth: the default leaf profile.
    assert_eq!(
        issued.meta.profile.as_deref(),
        Some(certherd_authority::RESET_DEFAULT_PROFILE)
    );
    let info = certherd_x509::CertInfo::from_der(
        &node.store().entry(&r("web/portal")).unwrap().unwrap().cert,
    )
    .unwrap();
    assert_eq!(
        info.subject_alt_names(),
        ["DNS:portal.example.test", "IP:192.0.2.77"]
    );
    assert_eq!(info.subject_cn.as_deref(), Some("portal.example.test"));
    let kept = node.store().entry(&backup).unwrap().unwrap();
    assert_eq!(kept.meta.sha256, before.meta.sha256);
    assert!(node
        .store()
        .audit_log()
        .unwrap()
        .iter()
        .any(|a| a.action == "reset" && a.subject == "web/portal"));
    // Now it renews like any certherd-issued entry, and reset refuses it.
    assert!(node.reset(&r("web/portal")).is_err());
    assert!(node
        .select_for_renewal(&RenewSelection::All)
        .unwrap()
        .contains(&r("web/portal")));
}

#[test]
fn reset_all_takes_every_imported_entry_under_its_profile() {
    let (_d, _c, mut node, _) = node();
    import_foreign(&mut node, "web/portal", None);
    import_foreign(&mut node, "hosts/portal2", Some("host"));
    let plan = node.plan_reset().unwrap();
    assert_eq!(plan.targets, [r("hosts/portal2"), r("web/portal")]);
    let mut steps = Vec::new();
    node.run_bulk(&Bulk::Reset, &plan.targets, None, &mut |s| steps.push(s))
        .unwrap();
    let profiles: Vec<Option<String>> = steps
        .iter()
        .map(|s| match s {
            BulkStep::Done(d) => d.result.as_ref().unwrap().meta.profile.clone(),
            BulkStep::Skipped(s) => panic!("{s}"),
        })
        .collect();
    assert_eq!(
        profiles,
        [Some("host".to_owned()), Some("machine-ssl".to_owned())]
    );
    assert!(node.plan_reset().unwrap().targets.is_empty());
}

#[test]
fn replacing_a_revoked_certificate_says_whether_the_check_or_the_renewal_failed() {
    let (_d, _c, mut node, _) = node();
    let machine = r("machine-ssl/machine");
    assert!(node.renew_if_revoked(&machine).unwrap().is_none());
    // The CRLs cannot be read: nothing is known to be revoked, and it says so.
    node.store().fail_crls.set(true);
    let e = node.renew_if_revoked(&machine).unwrap_err();
    node.store().fail_crls.set(false);
    assert!(
        matches!(e, certherd_authority::ReplaceRevokedError::Check { .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "cannot check whether machine-ssl/machine is revoked: read certherd.db: connection closed"
    );
    // Revoked, and the renewal cannot be written.
    node.revocations_mut()
        .revoke(
            &machine,
            certherd_x509::RevocationReason::KeyCompromise,
            "test",
        )
        .unwrap();
    node.store().fail_writes.set(true);
    let e = node.renew_if_revoked(&machine).unwrap_err();
    node.store().fail_writes.set(false);
    assert!(
        matches!(e, certherd_authority::ReplaceRevokedError::Renew { .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("machine-ssl/machine is revoked and could not be replaced: "),
        "{e}"
    );
    // Then it is replaced.
    assert!(node.renew_if_revoked(&machine).unwrap().is_some());
    assert!(node.renew_if_revoked(&machine).unwrap().is_none());
}
