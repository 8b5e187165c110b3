//! `cert renew --all` against a large backup store, printed rather than asserted: the
//! real binary renews N entries once in a home that already holds B backups (a tenth of
//! them past the retention, so the run prunes them), and once in a home with none. With
//! pruning done once per run the cost per renewal does not depend on B; before, every
//! renewal rescanned the backup store and a run grew quadratically.
//!
//! `cargo bench -p certherd-cli --bench renew`: 10,000 entries, 50,000 backups.
//! CERTHERD_BENCH_QUICK=1: 1,000 entries, 5,000 backups.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::process::{Command, Stdio};
use std::time::Instant;

use certherd_authority::{InitOptions, IssueRequest, Mode, Node, SystemClock};
use certherd_core::{EntryRef, StoreName};
use certherd_store::{Change, Home, Store};
use certherd_x509::KeyAlgorithm;

/// A home with `entries` service certificates and `backups` backup entries.
fn home(dir: &std::path::Path, entries: usize, backups: usize) -> Home {
    let home = Home::new(dir.join("home"));
    let mut node = Node::new(
        home.create().unwrap(),
        Box::new(SystemClock),
        None,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "bench.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    for chunk in (0..entries).collect::<Vec<_>>().chunks(1000) {
        let reqs: Vec<IssueRequest> = chunk
            .iter()
            .map(|i| IssueRequest {
                profile: "service".into(),
                entry: format!("svc/s{i:06}").parse().unwrap(),
                common_name: None,
                names: vec![],
                key_algo: None,
            })
            .collect();
        node.issue_batch(&reqs).unwrap();
    }
    drop(node);
    // Backups are copies of one entry under backup aliases, each with its own serial; a
    // tenth are 40 days old.
    let mut store = home.open().unwrap();
    let template = store
        .entry(&"svc/s000000".parse().unwrap())
        .unwrap()
        .unwrap();
    let backup: StoreName = StoreName::BACKUP.parse().unwrap();
    let now = time::OffsetDateTime::now_utc();
    for chunk in (0..backups).collect::<Vec<_>>().chunks(5000) {
        let changes: Vec<Change> = chunk
            .iter()
            .map(|i| {
                let mut e = template.clone();
                e.meta.entry = EntryRef::new(
                    backup.clone(),
                    format!("svc.s{:06}.20260101T000000Z.{i}", i % entries.max(1))
                        .parse()
                        .unwrap(),
                );
                // An issued certificate's (issuer, serial) is unique in the store: each
                // copy gets its own serial (only the pruning's scan reads these rows).
                e.meta.serial = format!("ff{i:030x}");
                e.meta.stored_at = if i % 10 == 0 {
                    now - time::Duration::days(40)
                } else {
                    now - time::Duration::days(1)
                };
                Change::PutEntry {
                    entry: Box::new(e),
                    replace: false,
                }
            })
            .collect();
        store.apply(&changes).unwrap();
    }
    home
}

/// Runs `cert renew --all` and returns the seconds it took.
fn renew_all(home: &Home) -> f64 {
    let t = Instant::now();
    let st = Command::new(env!("CARGO_BIN_EXE_certherd"))
        .arg("--home")
        .arg(home.dir())
        .args(["cert", "renew", "--all"])
        .env_remove("CERTHERD_FAULT_POINT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "renew --all failed");
    t.elapsed().as_secs_f64()
}

fn backup_count(home: &Home) -> usize {
    home.open()
        .unwrap()
        .entries(Some(&StoreName::BACKUP.parse().unwrap()))
        .unwrap()
        .len()
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let (entries, backups) = if quick {
        (1_000, 5_000)
    } else {
        (10_000, 50_000)
    };
    println!(
        "certherd renew benchmark ({} mode): `cert renew --all`, real binary, ecdsa-p256",
        if quick { "quick" } else { "full" }
    );
    let renewed = entries + 2; // the services, machine-ssl and sts
    let mut per = Vec::new();
    for b in [0, backups] {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let home = home(dir.path(), entries, b);
        let setup = t.elapsed().as_secs_f64();
        let secs = renew_all(&home);
        let after = backup_count(&home);
        let expected = b - b.div_ceil(10) + renewed;
        assert_eq!(after, expected, "pruned once, one backup per renewal");
        let ms = secs * 1000.0 / renewed as f64;
        per.push(ms);
        println!(
            "  {renewed:>6} entries, {b:>6} backups before ({:>5} pruned): {secs:>7.2} s, {:>7.0} renewals/s, {ms:.3} ms each (setup {setup:.1} s)",
            b.div_ceil(10),
            renewed as f64 / secs,
        );
    }
    println!(
        "  cost per renewal with {backups} backups / with none: {:.2} (1.0 = independent of the backup store)",
        per[1] / per[0]
    );
}
