//! Scan throughput, printed rather than asserted, each side measured next to a baseline in
//! the same run:
//!
//! - `certherd scan files` (the release binary: walk, read, judge, record in the store) over
//!   20,000 PEM files, next to `load_certs.py` beside this file, which only loads the same
//!   files with Python's `cryptography` (`x509.load_pem_x509_certificates` per file). Both
//!   run three times, alternating, after one warm-up each; the medians are compared. The
//!   scan runs into a fresh home (every certificate new) and again into the same home
//!   (every entry updated). Target: certherd at least 3 times faster than the script, with
//!   a peak RSS under 64 MB.
//! - `certherd scan tls` over 1,000 loopback TLS listeners, next to a shell loop of
//!   `openssl s_client` over the same listeners.
//!
//! `cargo bench -p certherd-cli --bench scan`; CERTHERD_BENCH_QUICK=1 for a small run (5,000
//! files, 100 listeners, one round). The Python is CERTHERD_BENCH_PYTHON, else the CI venv
//! (`.ci/.venv/bin/python`), else `python3`; it needs `cryptography`. Peak RSS comes from
//! `getrusage(RUSAGE_CHILDREN)` in a Python wrapper whose only child is certherd.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certherd_x509::{CertSpec, KeyAlgorithm, PrivateKey, Role};
use pki_types::{CertificateDer, PrivateKeyDer};

/// Runs `cmd` to completion, output discarded; its wall time.
fn timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = start.elapsed();
    // A scan exits as `check` does (0 ok, 1 warning, 2 critical): any of these ran.
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn certherd(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certherd"));
    c.arg("--home").arg(home).args(args);
    c
}

fn init(home: &Path) {
    let _ = std::fs::remove_dir_all(home);
    timed(&mut certherd(
        home,
        &["init", "--hostname", "bench.example.test"],
    ));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The Python to compare with, if it has `cryptography`.
fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/.venv/bin/python");
    let candidates: Vec<PathBuf> = match std::env::var_os("CERTHERD_BENCH_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![venv, "python3".into()],
    };
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import cryptography.x509"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Peak RSS (KiB) and wall time of one run of `args`, from a Python wrapper whose only
/// child it is: `ru_maxrss` of RUSAGE_CHILDREN is then exactly that child's. A scan's
/// exit 1 or 2 is its verdict (as `check`), not a failure.
fn peak_rss(py: &Path, program: &Path, args: &[&str]) -> (u64, Duration) {
    const WRAPPER: &str = "import resource, subprocess, sys, time\n\
        t = time.perf_counter()\n\
        r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n\
        t = time.perf_counter() - t\n\
        sys.exit(r.returncode) if r.returncode > 2 else print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, t)";
    let out = Command::new(py)
        .arg("-c")
        .arg(WRAPPER)
        .arg(program)
        .args(args)
        .output()
        .expect("python wrapper");
    assert!(
        out.status.success(),
        "{program:?} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let kib = it.next().and_then(|s| s.parse().ok()).expect("ru_maxrss");
    let secs: f64 = it.next().and_then(|s| s.parse().ok()).expect("time");
    (kib, Duration::from_secs_f64(secs))
}

fn leaf_spec(cn: String, days: i64, now: time::OffsetDateTime) -> CertSpec {
    CertSpec {
        dns_names: vec![cn.clone()],
        common_name: cn,
        organization: None,
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(days),
        role: Role::Leaf,
        eku: vec![],
    }
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let (files, rounds, listeners) = if quick {
        (5_000, 1, 100)
    } else {
        (20_000, 3, 1_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");

    // The files: one CA-issued certificate each, PEM, in 100 directories; lifetimes from 30
    // days to two years, so the inspection has expiries of every urgency to report.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca = certherd_x509::self_sign(
        &CertSpec {
            common_name: "Bench CA".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now,
            not_after: now + time::Duration::days(3650),
            role: Role::Ca { path_len: None },
            eku: vec![],
        },
        &key,
    )
    .unwrap()
    .to_vec();
    let issuer = certherd_x509::Issuer {
        cert: &ca,
        key: &key,
    };
    let root = dir.path().join("files");
    let made = Instant::now();
    for i in 0..files {
        let sub = root.join(format!("d{:03}", i % 100));
        if i < 100 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let spec = leaf_spec(format!("h{i}.example.test"), 30 + (i % 700) as i64, now);
        let cert = certherd_x509::issue(&spec, &key.public_key_spki(), &issuer).unwrap();
        std::fs::write(
            sub.join(format!("h{i}.pem")),
            certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert),
        )
        .unwrap();
    }
    println!(
        "certherd scan benchmark ({} mode); {files} PEM files made in {:.1} s",
        if quick { "quick" } else { "full" },
        made.elapsed().as_secs_f64()
    );

    let root_s = root.to_str().unwrap();
    let scan_args = ["scan", "files", root_s, "--output", "json"];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load_certs.py");
    let py = python();
    if py.is_none() {
        println!("no Python with `cryptography` (set CERTHERD_BENCH_PYTHON): certherd only");
    }
    // Warm-up: both read every file once, so both find them in the page cache.
    if let Some(py) = &py {
        timed(Command::new(py).arg(&script).arg(&root));
    }
    init(&home);
    timed(&mut certherd(&home, &scan_args));
    let (mut fresh, mut again, mut script_runs) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        if let Some(py) = &py {
            script_runs.push(timed(Command::new(py).arg(&script).arg(&root)));
        }
        init(&home);
        fresh.push(timed(&mut certherd(&home, &scan_args)));
        again.push(timed(&mut certherd(&home, &scan_args)));
    }
    let rate = |d: Duration| files as f64 / d.as_secs_f64();
    let (fresh, again) = (median(fresh), median(again));
    println!("{:<52} {:>9} {:>10}", "", "wall", "files/s");
    let row = |what: String, d: Duration| {
        println!("{what:<52} {:>7.3} s {:>10.0}", d.as_secs_f64(), rate(d))
    };
    row(
        format!("certherd scan files, new home ({files} files)"),
        fresh,
    );
    row(
        format!("certherd scan files, same home again ({files} files)"),
        again,
    );
    if let Some(py) = &py {
        let script_t = median(script_runs);
        row(
            format!("load_certs.py, cryptography ({files} files)"),
            script_t,
        );
        let slower = fresh.max(again);
        println!(
            "ratio {:.2}x (script / slower certherd run; target >= 3x)",
            script_t.as_secs_f64() / slower.as_secs_f64()
        );
        init(&home);
        let program = Path::new(env!("CARGO_BIN_EXE_certherd"));
        let home_s = home.to_str().unwrap();
        let mut args = vec!["--home", home_s];
        args.extend(scan_args);
        let (new_kib, _) = peak_rss(py, program, &args);
        let (again_kib, _) = peak_rss(py, program, &args);
        let (py_kib, _) = peak_rss(py, py, &[script.to_str().unwrap(), root_s]);
        println!(
            "peak RSS: certherd {:.1} MB new home, {:.1} MB same home (target < 64 MB); script {:.1} MB",
            new_kib as f64 / 1024.0,
            again_kib as f64 / 1024.0,
            py_kib as f64 / 1024.0
        );
    }

    // Loopback TLS listeners, each presenting its own certificate.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut targets = Vec::new();
    for i in 0..listeners {
        let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spec = leaf_spec("127.0.0.1".into(), 90 + i as i64, now);
        spec.dns_names = vec![];
        spec.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
        let cert = certherd_x509::issue(&spec, &leaf_key.public_key_spki(), &issuer).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(cert.to_vec())],
                    PrivateKeyDer::try_from(leaf_key.secret_der().to_vec()).unwrap(),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        targets.push(listener.local_addr().unwrap().to_string());
        // The threads end with the bench's process.
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { continue };
                let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                while conn.is_handshaking() {
                    if conn.complete_io(&mut sock).is_err() {
                        break;
                    }
                }
                let _ = conn.complete_io(&mut sock);
            }
        });
    }
    let tfile = dir.path().join("targets.txt");
    std::fs::write(&tfile, targets.join("\n") + "\n").unwrap();
    let tls = timed(&mut certherd(
        &home,
        &[
            "scan",
            "tls",
            "--targets",
            tfile.to_str().unwrap(),
            "--concurrency",
            "64",
            "--output",
            "json",
        ],
    ));
    // The shell loop an admin would write: one s_client per target, one after the other.
    let shell = timed(Command::new("sh").arg("-c").arg(format!(
        "while read t; do openssl s_client -connect \"$t\" </dev/null >/dev/null 2>&1 || true; done < {}",
        tfile.display()
    )));
    let per_s = |d: Duration| listeners as f64 / d.as_secs_f64();
    println!("{:<52} {:>9} {:>10}", "", "wall", "targets/s");
    println!(
        "{:<52} {:>7.3} s {:>10.0}",
        format!("certherd scan tls ({listeners} listeners)"),
        tls.as_secs_f64(),
        per_s(tls)
    );
    println!(
        "{:<52} {:>7.3} s {:>10.0}",
        format!("shell loop of openssl s_client ({listeners} listeners)"),
        shell.as_secs_f64(),
        per_s(shell)
    );
    println!(
        "ratio {:.1}x (openssl loop / certherd)",
        shell.as_secs_f64() / tls.as_secs_f64()
    );
}
