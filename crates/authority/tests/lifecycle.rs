//! Lifecycle rules of one node, exercised at chosen dates with a clock the test moves.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use certherd_authority::{InitOptions, IssueRequest, Mode, Node, RenewSelection};
use certherd_core::{Clock, EntryRef, OffsetDateTime, Severity, Status, StoreName};
use certherd_store::{Home, HomeStore, Store};
use certherd_x509::{CertInfo, KeyAlgorithm, Purpose, VerifyInput};
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

fn node_with(
    config: Option<&str>,
    algo: KeyAlgorithm,
) -> (tempfile::TempDir, TestClock, Node<HomeStore>) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    let clock = TestClock(Arc::new(Mutex::new(START)));
    let mut node = Node::new(
        home.create().unwrap(),
        Box::new(clock.clone()),
        config,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "node1.example.test".into(),
        ips: vec!["192.0.2.10".parse().unwrap()],
        key_algo: algo,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, clock, node)
}

fn node() -> (tempfile::TempDir, TestClock, Node<HomeStore>) {
    node_with(None, KeyAlgorithm::EcdsaP256)
}

fn r(s: &str) -> EntryRef {
    s.parse().unwrap()
}

#[test]
fn init_creates_the_design_entries_with_their_lifetimes() {
    let (_d, _c, node) = node();
    let stores: Vec<String> = node
        .stores()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(
        stores,
        ["backup", "ca", "machine-ssl", "sts", "trusted-roots"]
    );
    let list = node.list(None, START).unwrap();
    let get = |e: &str| {
        list.iter()
            .find(|v| v.meta.entry == r(e))
            .unwrap_or_else(|| panic!("{e} missing"))
    };
    assert_eq!(
        get("machine-ssl/machine").meta.not_after,
        START + Duration::days(730)
    );
    assert_eq!(
        get("sts/sts-signing").meta.not_after,
        START + Duration::days(3650)
    );
    assert_eq!(get("ca/root").meta.not_after, START + Duration::days(3650));
    assert_eq!(
        list.iter()
            .filter(|v| v.meta.entry.store.as_str() == "trusted-roots")
            .count(),
        1
    );
    let machine = CertInfo::from_der(
        &node
            .store()
            .entry(&r("machine-ssl/machine"))
            .unwrap()
            .unwrap()
            .cert,
    )
    .unwrap();
    assert_eq!(machine.extended_key_usage, ["serverAuth", "clientAuth"]);
    assert_eq!(
        machine.subject_alt_names(),
        ["DNS:node1.example.test", "IP:192.0.2.10"]
    );
}

#[test]
fn status_and_check_follow_the_date() {
    let (_d, _c, node) = node();
    let t = node.thresholds();
    let at = |days: i64| START + Duration::days(days);
    assert_eq!(node.check(at(1), t).unwrap().severity(), Severity::Ok);
    // 30 days before machine-ssl's expiry: WARNING, as vCenter's alarm.
    let c = node.check(at(700), t).unwrap();
    assert_eq!(c.severity(), Severity::Warning);
    assert_eq!(c.findings.len(), 1);
    assert_eq!(c.findings[0].meta.entry, r("machine-ssl/machine"));
    assert_eq!(
        node.check(at(725), t).unwrap().severity(),
        Severity::Critical
    );
    let expired = node.check(at(731), t).unwrap();
    assert_eq!(expired.findings[0].status, Status::Expired);
    assert_eq!(expired.findings[0].days_left, -1);
    // Ten years on, everything has lapsed.
    assert_eq!(node.check(at(3651), t).unwrap().findings.len(), 4);
}

#[test]
fn renewal_keeps_the_full_lifetime_and_the_previous_entry() {
    let (_d, clock, mut node) = node();
    let before = node
        .store()
        .entry(&r("machine-ssl/machine"))
        .unwrap()
        .unwrap();
    clock.set(datetime!(2027-06-01 0:00 UTC));
    let (issued, backup) = node.renew(&r("machine-ssl/machine")).unwrap();
    // Never shortened: the new certificate gets the profile's whole two years from now.
    assert_eq!(
        issued.meta.not_after,
        datetime!(2027-06-01 0:00 UTC) + Duration::days(730)
    );
    let info = CertInfo::from_der(
        &node
            .store()
            .entry(&r("machine-ssl/machine"))
            .unwrap()
            .unwrap()
            .cert,
    )
    .unwrap();
    assert_eq!(info.dns_names, ["node1.example.test"]);
    assert_eq!(
        info.ip_addresses,
        ["192.0.2.10".parse::<std::net::IpAddr>().unwrap()]
    );
    let old = node.store().entry(&backup).unwrap().unwrap();
    assert_eq!(
        old.cert, before.cert,
        "the previous certificate is kept in backup"
    );
    assert_ne!(
        old.key,
        node.store()
            .entry(&r("machine-ssl/machine"))
            .unwrap()
            .unwrap()
            .key,
        "a new key by default"
    );
    // The superseded certificate never raises a problem, even after it lapses.
    let late = node
        .check(datetime!(2027-12-31 0:00 UTC), node.thresholds())
        .unwrap();
    assert!(late
        .findings
        .iter()
        .all(|f| !f.meta.entry.store.is_backup()));
    assert_eq!(
        node.view(old.meta, datetime!(2028-06-01 0:00 UTC)).status,
        Status::Superseded
    );
}

#[test]
fn backups_are_pruned_after_the_retention() {
    let (_d, clock, mut node) = node();
    let (_, first_backup) = node.renew(&r("machine-ssl/machine")).unwrap();
    clock.advance(Duration::days(29));
    node.renew(&r("sts/sts-signing")).unwrap();
    assert!(
        node.store().entry(&first_backup).unwrap().is_some(),
        "kept within 30 days"
    );
    clock.advance(Duration::days(2));
    node.renew(&r("sts/sts-signing")).unwrap();
    assert!(
        node.store().entry(&first_backup).unwrap().is_none(),
        "pruned after 30 days"
    );
}

#[test]
fn due_selection_follows_two_thirds_of_the_lifetime() {
    let (_d, clock, mut node) = node();
    assert!(node
        .select_for_renewal(&RenewSelection::Due)
        .unwrap()
        .is_empty());
    // machine-ssl lives 730 days: due from about day 450-487 (2/3 minus up to 5% jitter).
    clock.set(START + Duration::days(440));
    assert!(node
        .select_for_renewal(&RenewSelection::Due)
        .unwrap()
        .is_empty());
    clock.set(START + Duration::days(488));
    assert_eq!(
        node.select_for_renewal(&RenewSelection::Due).unwrap(),
        [r("machine-ssl/machine")]
    );
    let done = node.renew_selected(&RenewSelection::Due).unwrap();
    assert!(done[0].result.is_ok());
    assert!(node
        .select_for_renewal(&RenewSelection::Due)
        .unwrap()
        .is_empty());
    let within = node
        .select_for_renewal(&RenewSelection::ExpiringWithin("4000d".parse().unwrap()))
        .unwrap();
    assert!(within.contains(&r("sts/sts-signing")));
}

#[test]
fn no_leaf_outlives_its_issuer() {
    let (_d, clock, mut node) = node_with(
        Some("[profiles.host]\nlifetime = \"20y\"\n"),
        KeyAlgorithm::EcdsaP256,
    );
    clock.set(START + Duration::days(365));
    let issued = node
        .issue(&IssueRequest {
            profile: "host".into(),
            entry: r("hosts/esx1"),
            common_name: None,
            names: vec!["esx1.example.test".into()],
            key_algo: None,
        })
        .unwrap();
    let root = node.store().entry(&r("ca/root")).unwrap().unwrap();
    assert_eq!(issued.meta.not_after, root.meta.not_after);
    assert!(
        issued.warnings[0].contains("capped"),
        "{:?}",
        issued.warnings
    );
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("h"));
    let clock = TestClock(Arc::new(Mutex::new(START)));
    for (cfg, needle) in [
        ("[check]\nwarn = \"soon\"\n", "invalid duration"),
        ("[renewal]\nat = 1.5\n", "renewal.at"),
        ("[profiles.nope]\nlifetime = \"1y\"\n", "unknown profile"),
        ("[chek]\n", "unknown field"),
    ] {
        let err = Node::new(
            home.create().unwrap(),
            Box::new(clock.clone()),
            Some(cfg),
            "certherd.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("certherd.toml") && err.contains(needle),
            "{cfg}: {err}"
        );
    }
}

fn verify_all_against_trust(node: &Node<HomeStore>, at: OffsetDateTime) {
    let trusted = node.trust_anchors().unwrap();
    for m in node.store().entries(None).unwrap() {
        if m.entry.store.is_backup()
            || m.entry.store.as_str() == StoreName::TRUSTED_ROOTS
            || m.entry.store.as_str() == StoreName::CA
        {
            continue;
        }
        let e = node.store().entry(&m.entry).unwrap().unwrap();
        if e.chain.is_empty() {
            continue; // self-signed
        }
        let inter: Vec<_> = e
            .chain
            .iter()
            .map(|c| certherd_x509::CertificateDer::from(c.clone()))
            .collect();
        certherd_x509::verify(&VerifyInput {
            end_entity: &e.cert,
            intermediates: &inter,
            trusted: &trusted,
            crls: &[],
            at,
            name: None,
            purpose: Purpose::Any,
        })
        .unwrap_or_else(|reason| panic!("{} does not chain to a trusted root: {reason}", m.entry));
    }
}

/// Rotations within one second (a script running `ca rotate` twice) each make a CA of
/// their own name.
#[test]
fn two_rotations_within_one_second_name_their_cas_apart() {
    let (_d, _clock, mut node) = node();
    let first = node.ca_rotate().unwrap();
    assert!(first.retired);
    let second = node.ca_rotate().unwrap();
    assert!(second.retired);
    assert_ne!(first.new_ca, second.new_ca);
    let third = node.ca_rotate().unwrap();
    // Never the name of a CA retired before, although its entry is gone.
    assert_ne!(third.new_ca, first.new_ca);
    assert_ne!(third.new_ca, second.new_ca);
    assert_eq!(node.trust_list().unwrap().len(), 1);
}

#[test]
fn rotation_reissues_everything_and_retires_the_old_root() {
    let (_d, clock, mut node) = node();
    node.add_service("vpxd").unwrap();
    clock.advance(Duration::days(100));
    let old_root = node.ca_root().unwrap();
    let report = node.ca_rotate().unwrap();
    assert!(report.retired);
    assert_eq!(report.reissued.len(), 3);
    assert!(report.reissued.iter().all(|x| x.result.is_ok()));
    assert_ne!(node.ca_root().unwrap(), old_root);
    let trust = node.trust_list().unwrap();
    assert_eq!(trust.len(), 1);
    assert_ne!(
        trust[0].sha256,
        certherd_x509::hex(&certherd_x509::sha256(&old_root))
    );
    verify_all_against_trust(&node, node.now());
}

#[test]
fn an_interrupted_rotation_resumes_and_never_leaves_an_untrusted_signer() {
    let (_d, _clock, mut node) = node();
    node.add_service("vpxd").unwrap();
    // Crash right after the new root is committed.
    node.set_fault_hook(std::rc::Rc::new(|p: &str| {
        if p == "rotate.new-root" {
            panic!("injected crash at {p}");
        }
    }));
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.ca_rotate()));
    assert!(crashed.is_err());
    // Both roots are trusted meanwhile; every entry still chains to a trusted root.
    assert_eq!(node.trust_list().unwrap().len(), 2);
    verify_all_against_trust(&node, node.now());
    assert!(node.ca_summary().unwrap().retiring.is_some());
    node.set_fault_hook(std::rc::Rc::new(|_: &str| {}));
    let report = node.ca_rotate().unwrap();
    assert!(report.retired);
    assert_eq!(node.trust_list().unwrap().len(), 1);
    assert!(node.ca_summary().unwrap().retiring.is_none());
    verify_all_against_trust(&node, node.now());
}

#[test]
fn the_retiring_root_and_ca_stay_until_the_rotation_retires_them() {
    let (_d, _clock, mut node) = node();
    let old_ca = node.ca_summary().unwrap().entry.unwrap();
    let old_root = certherd_x509::hex(&certherd_x509::sha256(&node.ca_root().unwrap()));
    // A rotation left staged: the new root signs, the old one is retiring.
    node.set_fault_hook(std::rc::Rc::new(|p: &str| {
        if p == "rotate.new-root" {
            panic!("injected crash at {p}");
        }
    }));
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.ca_rotate()));
    assert!(crashed.is_err());
    node.set_fault_hook(std::rc::Rc::new(|_: &str| {}));
    assert_eq!(node.ca_summary().unwrap().retiring, Some(old_ca.clone()));
    let trusted = node.trust_list().unwrap();
    assert_eq!(trusted.len(), 2);
    // Removing the old root (by a fingerprint prefix or as an entry) is refused, as is
    // deleting the retiring CA: what it signed must keep validating until reissued.
    let refused = node.trust_remove(&old_root[..12]).unwrap_err();
    assert!(
        matches!(
            &refused,
            certherd_authority::Error::Protected {
                instead: Some(certherd_authority::Instead::FinishRotation),
                ..
            }
        ) && refused.to_string().contains("anchors the retiring CA"),
        "{refused}"
    );
    let old_trust = trusted.iter().find(|m| m.sha256 == old_root).unwrap();
    assert!(matches!(
        node.delete(&old_trust.entry),
        Err(certherd_authority::Error::Protected { .. })
    ));
    assert!(matches!(
        node.delete(&old_ca),
        Err(certherd_authority::Error::Protected { .. })
    ));
    assert_eq!(node.trust_list().unwrap(), trusted);
    // Once the rotation retires it, the old root is gone without anyone removing it.
    assert!(node.ca_rotate().unwrap().retired);
    assert_eq!(node.trust_list().unwrap().len(), 1);
    verify_all_against_trust(&node, node.now());
}

#[test]
fn import_refuses_certificates_not_valid_at_the_instant() {
    let (_d, clock, mut node) = node();
    // A certificate from this node's own CA, exported, then imported at chosen dates.
    node.issue(&IssueRequest {
        profile: "host".into(),
        entry: r("hosts/a"),
        common_name: None,
        names: vec!["a.example.test".into()],
        key_algo: None,
    })
    .unwrap();
    let pem = node
        .export(
            &r("hosts/a"),
            certherd_authority::ExportFormat::Pem,
            true,
            None,
        )
        .unwrap();
    clock.set(START - Duration::days(1));
    let err = node
        .import(&r("hosts/b"), &pem, &[], Some(&pem), Some("host"))
        .unwrap_err();
    assert!(
        matches!(err, certherd_authority::Error::NotYetValid { .. }),
        "{err}"
    );
    clock.set(START + Duration::days(5 * 366));
    let err = node
        .import(&r("hosts/b"), &pem, &[], Some(&pem), Some("host"))
        .unwrap_err();
    assert!(
        matches!(err, certherd_authority::Error::Expired { .. }),
        "{err}"
    );
    clock.set(START + Duration::days(10));
    node.import(&r("hosts/b"), &pem, &[], Some(&pem), Some("host"))
        .unwrap();
    let v = node
        .list(None, node.now())
        .unwrap()
        .into_iter()
        .find(|v| v.meta.entry == r("hosts/b"))
        .unwrap();
    assert!(!v.auto_renew, "imported entries are monitored, not renewed");
    assert!(node.renew(&r("hosts/b")).is_err());
}

#[test]
fn every_key_algorithm_issues_a_verifiable_chain() {
    for algo in KeyAlgorithm::ALL {
        let (_d, _c, node) = node_with(None, algo);
        let e = node
            .store()
            .entry(&r("machine-ssl/machine"))
            .unwrap()
            .unwrap();
        assert_eq!(
            certherd_x509::parse_private_key(e.key.as_ref().unwrap().expose())
                .unwrap()
                .algorithm(),
            algo
        );
        verify_all_against_trust(&node, START + Duration::days(1));
    }
}

#[test]
fn private_keys_are_sealed_in_the_database_file() {
    let (d, _c, node) = node();
    let e = node
        .store()
        .entry(&r("machine-ssl/machine"))
        .unwrap()
        .unwrap();
    let key = e.key.unwrap();
    drop(node);
    let mut raw = Vec::new();
    for f in std::fs::read_dir(d.path().join("home")).unwrap() {
        raw.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    // A P-256 PKCS#8 holds the private scalar at bytes 36..68 (its tail is the public point,
    // which the certificate carries anyway).
    for needle in [key.expose(), &key.expose()[36..68]] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "key material found in clear on disk"
        );
    }
}

#[test]
fn a_batch_is_written_whole_or_not_at_all() {
    let (_d, _c, mut node) = node();
    let req = |alias: &str| IssueRequest {
        profile: "host".into(),
        entry: r(&format!("hosts/{alias}")),
        common_name: None,
        names: vec![format!("{alias}.example.test")],
        key_algo: None,
    };
    let done = node.issue_batch(&[req("a"), req("b")]).unwrap();
    assert_eq!(done.len(), 2);
    // "b" exists already: the whole batch is refused and "c" is not written.
    assert!(node.issue_batch(&[req("c"), req("b")]).is_err());
    assert!(node.store().entry(&r("hosts/c")).unwrap().is_none());
    assert!(node.issue_batch(&[req("d"), req("d")]).is_err());
    assert!(node.store().entry(&r("hosts/d")).unwrap().is_none());
}

#[test]
fn forecast_follows_profile_and_service_dependencies() {
    let config = "[profiles.service]\ndepends_on = [\"sts/sts-signing\"]\n\n[services.backup-product]\nimpact = \"nightly backups stop\"\ndepends_on = [\"vpxd/vpxd\"]\n";
    let (_d, _clock, mut node) = node_with(Some(config), KeyAlgorithm::EcdsaP256);
    node.add_service("vpxd").unwrap();
    let f = node.forecast(START + Duration::days(365 * 11)).unwrap();
    let item = |r: &str| {
        f.items
            .iter()
            .find(|i| i.entry.to_string() == r)
            .unwrap()
            .clone()
    };
    // vpxd's own certificate: vpxd, and the backup product that depends on it.
    assert_eq!(item("vpxd/vpxd").affected, ["backup-product", "vpxd"]);
    assert!(
        item("vpxd/vpxd").covered,
        "a service certificate renews automatically"
    );
    // The STS certificate reaches vpxd through the service profile's depends_on.
    assert_eq!(item("sts/sts-signing").affected, ["backup-product", "vpxd"]);
    // The root reaches everything it issued; nothing renews it: the first unattended breakage.
    let first = f.first_unattended().unwrap();
    assert_eq!(first.entry.store.as_str(), "ca");
    assert!(!first.covered && first.affected.contains(&"vpxd".to_owned()));
}
