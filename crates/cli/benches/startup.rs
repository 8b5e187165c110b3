//! One-shot commands next to openssl's, printed rather than asserted (issue 24, item 3):
//! whole processes, so every start-up cost is in the figure.
//!
//! - N × `certherd cert issue --profile host --key-algo ecdsa-p256` (a fresh P-256 key,
//!   signed by the home's CA, sealed and committed to certherd.db), next to N × the
//!   pipeline `openssl req -new -newkey ec … | openssl x509 -req -CA …` (a fresh P-256
//!   key and its certificate, signed by a CA made with openssl; the two processes piped
//!   together directly, no shell in between).
//! - N × `certherd check` on a small home (init and one issued certificate), next to N ×
//!   `openssl x509 -checkend` over that same certificate, exported as PEM.
//!
//! Each pair runs A then B, one warm-up each first; the medians are printed with the
//! ratio of the medians and the median of the ratios pair by pair (pairing keeps the ratio
//! meaningful when the machine's speed drifts). A ratio under 1 means certherd is faster.
//!
//! `cargo bench -p certherd-cli --bench startup`: N = 50. CERTHERD_BENCH_QUICK=1: N = 10.
//! Needs `openssl` on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to completion, output discarded; its wall time. `ok` are the exit codes
/// that count as having run.
fn timed(cmd: &mut Command, ok: &[i32]) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = start.elapsed();
    assert!(
        out.status.code().is_some_and(|c| ok.contains(&c)),
        "{cmd:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn certherd(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certherd"));
    c.arg("--home").arg(home);
    c
}

fn openssl(args: &[&str]) -> Command {
    let mut c = Command::new("openssl");
    c.args(args);
    c
}

/// `certherd cert issue` of one P-256 host certificate named `name`.
fn certherd_issue(home: &Path, name: &str) -> Command {
    let mut c = certherd(home);
    c.args([
        "cert",
        "issue",
        "--profile",
        "host",
        "--store",
        "bench",
        "--key-algo",
        "ecdsa-p256",
        "--san",
        name,
    ]);
    c
}

/// `openssl req -new -newkey ec … | openssl x509 -req -CA …` for `name`, the two processes
/// started together and piped as a shell pipeline does; the wall time of both.
fn openssl_issue(dir: &Path, name: &str) -> Duration {
    let (key, cert) = (dir.join("leaf.key"), dir.join("leaf.pem"));
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let start = Instant::now();
    let mut req = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-addext",
        &format!("subjectAltName=DNS:{name}"),
        "-keyout",
    ])
    .arg(&key)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("openssl req");
    let mut sign = openssl(&["x509", "-req", "-days", "365", "-copy_extensions", "copy"])
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-out")
        .arg(&cert)
        .stdin(req.stdout.take().expect("pipe"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl x509");
    let (a, b) = (req.wait().expect("wait"), sign.wait().expect("wait"));
    let took = start.elapsed();
    assert!(a.success() && b.success(), "openssl pipeline: {a} {b}");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints the medians of `a` (certherd) and `b` (the peer), paired run by run.
fn report(what: &str, peer: &str, a: &[Duration], b: &[Duration]) {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    let (ma, mb) = (median(a.to_vec()), median(b.to_vec()));
    println!(
        "{what}: certherd median {:.1} ms (min {:.1}, max {:.1}); {peer} median {:.1} ms (min {:.1}, max {:.1}); \
         ratio of medians {:.2}, median of paired ratios {:.2} (under 1: certherd faster; {} pairs)",
        ms(ma),
        ms(*a.iter().min().unwrap()),
        ms(*a.iter().max().unwrap()),
        ms(mb),
        ms(*b.iter().min().unwrap()),
        ms(*b.iter().max().unwrap()),
        ma.as_secs_f64() / mb.as_secs_f64(),
        median_f(ratios),
        a.len()
    );
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let n = if quick { 10 } else { 50 };
    let dir = tempfile::tempdir().unwrap();
    let (home, small, peer) = (
        dir.path().join("home"),
        dir.path().join("small"),
        dir.path().join("peer"),
    );
    std::fs::create_dir(&peer).unwrap();
    for h in [&home, &small] {
        timed(
            certherd(h).args(["init", "--hostname", "bench.example.test"]),
            &[0],
        );
    }
    // The peer's CA, made with openssl.
    timed(
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=Peer CA",
            "-days",
            "3650",
            "-keyout",
        ])
        .arg(peer.join("ca.key"))
        .arg("-out")
        .arg(peer.join("ca.pem")),
        &[0],
    );

    // cert issue: one warm-up each, then N pairs.
    timed(&mut certherd_issue(&home, "warm.example.test"), &[0]);
    openssl_issue(&peer, "warm.example.test");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("b{i}.example.test");
        a.push(timed(&mut certherd_issue(&home, &name), &[0]));
        b.push(openssl_issue(&peer, &name));
    }
    report(
        &format!("{n} x cert issue (P-256)"),
        "openssl req | openssl x509 -req -CA",
        &a,
        &b,
    );

    // check on a small home: its init certificates and one issued, the peer judging that
    // one certificate.
    timed(&mut certherd_issue(&small, "check.example.test"), &[0]);
    let pem = dir.path().join("check.pem");
    timed(
        certherd(&small)
            .args(["cert", "export", "bench/check.example.test", "--out"])
            .arg(&pem),
        &[0],
    );
    let checkend = || {
        let mut c = openssl(&["x509", "-noout", "-checkend", "2592000", "-in"]);
        c.arg(&pem);
        c
    };
    let check = || {
        let mut c = certherd(&small);
        c.arg("check");
        c
    };
    // `check` is a monitoring plugin: 0 OK, 1 WARNING, 2 CRITICAL all ran.
    timed(&mut check(), &[0, 1, 2]);
    timed(&mut checkend(), &[0, 1]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        a.push(timed(&mut check(), &[0, 1, 2]));
        b.push(timed(&mut checkend(), &[0, 1]));
    }
    report(
        &format!("{n} x check, small home"),
        "openssl x509 -checkend",
        &a,
        &b,
    );
}
