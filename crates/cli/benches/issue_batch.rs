//! Batch issuance next to the raw signing rate, printed rather than asserted (issue 24,
//! item 2): `certherd cert issue --from FILE` issues N P-256 host certificates on a fresh
//! home (a fresh key each, signed by the home's CA, sealed and committed in batches of
//! 1,000, one transaction each), timed as a whole process, start-up and file reading
//! included; its rate is set beside `openssl speed -seconds 3 ecdsap256`'s sign rate,
//! measured in the same run just before and just after (their mean is the yardstick).
//! The target is at least half the raw rate (a ratio of 0.5 or more).
//!
//! `cargo bench -p certherd-cli --bench issue_batch`: N = 2,000, three runs (the median
//! printed). CERTHERD_BENCH_QUICK=1: N = 200, one run, `openssl speed -seconds 1`.
//! Needs `openssl` on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use certherd_authority::{InitOptions, Mode, Node, SystemClock};
use certherd_store::Home;
use certherd_x509::KeyAlgorithm;

/// A fresh home with a P-256 CA, under `dir`.
fn fresh_home(dir: &Path) -> Home {
    let home = Home::new(dir.to_path_buf());
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
    home
}

/// The request file: `n` P-256 host certificates, one a line.
fn request_file(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("requests.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            r#"{{"profile": "host", "store": "bulk", "alias": "b{i:07}", "san": ["b{i:07}.example.test"], "key-algo": "ecdsa-p256"}}"#
        )
        .unwrap();
    }
    f.flush().unwrap();
    path
}

/// `openssl speed ecdsap256`'s signatures a second, over `seconds`.
fn openssl_signs(seconds: u32) -> f64 {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            &seconds.to_string(),
            "-mr",
            "ecdsap256",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("openssl speed (is openssl on PATH?)");
    assert!(out.status.success(), "openssl speed failed");
    let text = String::from_utf8_lossy(&out.stdout);
    // `+F4:index:bits:sign:verify`: OpenSSL 3 gives operations a second; 1.x gave the
    // seconds an operation takes.
    let line = text
        .lines()
        .find(|l| l.starts_with("+F4:"))
        .expect("a +F4 line from openssl speed -mr");
    let sign: f64 = line.split(':').nth(3).unwrap().parse().unwrap();
    if sign < 1.0 {
        1.0 / sign
    } else {
        sign
    }
}

/// One `cert issue --from` of `n` requests on a fresh home; certificates a second.
fn certherd_rate(dir: &Path, file: &Path, n: usize, run: usize) -> f64 {
    let home = fresh_home(&dir.join(format!("home{run}")));
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_certherd"))
        .arg("--home")
        .arg(home.dir())
        .args(["cert", "issue", "--from"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "cert issue --from failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, n, "one line per certificate");
    n as f64 / took
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let (n, runs, seconds) = if quick { (200, 1, 1) } else { (2_000, 3, 3) };
    let dir = tempfile::tempdir().unwrap();
    let file = request_file(dir.path(), n);
    let before = openssl_signs(seconds);
    let mut rates: Vec<f64> = (0..runs)
        .map(|run| certherd_rate(dir.path(), &file, n, run))
        .collect();
    let after = openssl_signs(seconds);
    rates.sort_by(f64::total_cmp);
    let rate = rates[rates.len() / 2];
    let raw = (before + after) / 2.0;
    println!(
        "cert issue --from, {n} P-256 host certificates on a fresh home, whole process: {rate:.0}/s (median of {runs}; runs {})",
        rates
            .iter()
            .map(|r| format!("{r:.0}/s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "openssl speed -seconds {seconds} ecdsap256: {raw:.0} signs/s (before {before:.0}, after {after:.0})"
    );
    println!(
        "ratio: {:.3} of the raw sign rate (target: 0.5 or more)",
        rate / raw
    );
}
