//! Prints issuance rates (issue + store + commit) beside the raw rate of the same crypto,
//! and the time `check` takes over 100,000 stored certificates.
//!
//! `cargo bench -p certherd-ca --bench lifecycle` (set CERTHERD_BENCH_QUICK=1 for a smoke run).
//! Targets: issuance at least half the raw crypto rate; check over 100,000 under 1 s.

use std::time::{Duration, Instant};

use certherd_authority::{InitOptions, IssueRequest, Mode, Node, SystemClock};
use certherd_core::{Clock, EntryKind, EntryMeta, EntryRef, Source};
use certherd_store::{Change, Entry, Home, Store};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};

#[path = "support/sample.rs"]
mod sample;

use sample::{ratio, Sample};

fn raw_crypto_step(algo: KeyAlgorithm, i: usize, ca_cert: &[u8], ca_key: &PrivateKey) -> usize {
    let now = SystemClock.now();
    let key = PrivateKey::generate(algo).expect("keygen");
    let spec = CertSpec {
        common_name: format!("h{i}.example.test"),
        organization: None,
        dns_names: vec![format!("h{i}.example.test")],
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(730),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth, Eku::ClientAuth],
    };
    let cert = certherd_x509::issue(
        &spec,
        &key.public_key_spki(),
        &certherd_x509::Issuer {
            cert: ca_cert,
            key: ca_key,
        },
    )
    .expect("issue");
    std::hint::black_box(cert);
    1
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "certherd lifecycle benchmark ({} mode)",
        if quick { "quick" } else { "full" }
    );
    println!(
        "{:<12} {:>6} {:>13} {:>22} {:>10} {:>24} {:>10}",
        "algorithm",
        "count",
        "raw crypto/s",
        "issue+store+commit/s",
        "ratio",
        "same, 100 per commit/s",
        "ratio"
    );
    let only = std::env::var("CERTHERD_BENCH_ONLY").ok();
    // Each phase runs for a time budget (and a minimum count), not a fixed count: RSA key
    // generation is slow and erratic (several-fold from key to key), so each ratio is
    // printed with its standard error, or as "noisy" when that is over 25 %.
    let budget = Duration::from_secs(if quick { 2 } else { 10 });
    for (algo, min_ops) in [
        (KeyAlgorithm::EcdsaP256, if quick { 200 } else { 2000 }),
        (KeyAlgorithm::Rsa2048, if quick { 40 } else { 200 }),
    ] {
        if only.as_deref().is_some_and(|o| o != algo.name()) {
            continue;
        }
        let home = Home::new(dir.path().join(algo.name()));
        let mut node = Node::new(
            home.create().expect("home"),
            Box::new(SystemClock),
            None,
            "certherd.toml",
        )
        .expect("node");
        node.init(&InitOptions {
            hostname: "bench.example.test".into(),
            ips: vec![],
            key_algo: algo,
            mode: Mode::Ca,
        })
        .expect("init");
        let ca = node
            .store()
            .entry(&"ca/root".parse().expect("ref"))
            .expect("read")
            .expect("ca");
        let ca_key =
            certherd_x509::parse_private_key(ca.key.as_ref().expect("key").expose()).expect("key");
        let raw = Sample::measure(budget, min_ops, |i| {
            raw_crypto_step(algo, i, &ca.cert, &ca_key)
        });
        let stored = Sample::measure(budget, min_ops, |i| {
            node.issue(&IssueRequest {
                profile: "host".into(),
                entry: format!("hosts/h{i}").parse().expect("ref"),
                common_name: None,
                names: vec![format!("h{i}.example.test")],
                key_algo: None,
            })
            .expect("issue");
            1
        });
        // Batches of 100 per commit, or fewer when the minimum count is smaller, so that
        // several batches are timed.
        let chunk = 100.min(min_ops / 4).max(1);
        let batched = Sample::measure(budget, min_ops, |i| {
            let reqs: Vec<IssueRequest> = (i..i + chunk)
                .map(|i| IssueRequest {
                    profile: "host".into(),
                    entry: format!("batch/h{i}").parse().expect("ref"),
                    common_name: None,
                    names: vec![format!("h{i}.example.test")],
                    key_algo: None,
                })
                .collect();
            node.issue_batch(&reqs).expect("batch");
            chunk
        });
        println!(
            "{:<12} {:>6} {:>13.1} {:>22.1} {:>10} {:>24.1} {:>10}",
            algo.name(),
            stored.count(),
            raw.per_second(),
            stored.per_second(),
            ratio(&stored, &raw),
            batched.per_second(),
            ratio(&batched, &raw)
        );
    }

    if only.as_deref().is_some_and(|o| o != "check") {
        return;
    }
    // check over 100,000 stored certificates: rows are written in batches (one template
    // certificate, spread expiries), then check reads and evaluates all of them.
    let total = if quick { 20_000 } else { 100_000 };
    let home = Home::new(dir.path().join("check"));
    let mut node = Node::new(
        home.create().expect("home"),
        Box::new(SystemClock),
        None,
        "certherd.toml",
    )
    .expect("node");
    node.init(&InitOptions {
        hostname: "bench.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .expect("init");
    let template = node
        .store()
        .entry(&"machine-ssl/machine".parse().expect("ref"))
        .expect("read")
        .expect("entry");
    let now = SystemClock.now();
    let mut store = home.open().expect("open");
    store
        .apply(&[Change::CreateStore("fleet".parse().expect("name"), now)])
        .expect("store");
    let fill = Instant::now();
    for batch in 0..total / 1000 {
        let changes: Vec<Change> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let meta = EntryMeta {
                    entry: EntryRef::new(
                        "fleet".parse().expect("name"),
                        format!("c{n}").parse().expect("alias"),
                    ),
                    kind: EntryKind::Certificate,
                    profile: Some("host".into()),
                    source: Source::Imported,
                    not_after: now + time::Duration::hours((n % 20_000) as i64),
                    sha256: format!("{n:064x}"),
                    ..template.meta.clone()
                };
                Change::PutEntry {
                    entry: Box::new(Entry {
                        meta,
                        cert: template.cert.clone(),
                        chain: template.chain.clone(),
                        key: None,
                    }),
                    replace: false,
                }
            })
            .collect();
        store.apply(&changes).expect("fill");
    }
    let fill_time = fill.elapsed();
    drop(store);
    let node = Node::new(
        home.open().expect("open"),
        Box::new(SystemClock),
        None,
        "certherd.toml",
    )
    .expect("node");
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let c = node.check(now, node.thresholds()).expect("check");
        best = best.min(start.elapsed());
        assert!(c.examined > total);
    }
    println!("check over {total} certificates: {:.1} ms (best of 3; target < 1000 ms); filled in {:.1} s", best.as_secs_f64() * 1e3, fill_time.as_secs_f64());
}
