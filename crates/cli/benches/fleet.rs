//! Fleet scale, printed rather than asserted: one real `certherd server` process and
//! simulated agents in this process (threads speaking the agent protocol, no sleeping
//! between requests). For N hosts: enrolment, join, then one renewal each; prints
//! renewals per second and the server's peak RSS.
//!
//! `cargo bench -p certherd-cli --bench fleet`: 1,000 and 10,000 hosts.
//! CERTHERD_BENCH_QUICK=1: 200 hosts. Target (2 cores): 10,000 hosts enrolled and each
//! renewed once in under 5 minutes, server RSS under 200 MB.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certherd_ca::{Node, SystemClock};
use certherd_store::Home;
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use serde_json::{json, Value};

/// A child process killed and reaped when dropped, whatever ends the bench.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Sim {
    name: String,
    pool_key: PrivateKey,
    pool_cert: Vec<u8>,
}

fn spec(name: &str, days: i64) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: name.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(days),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth, Eku::ClientAuth],
    }
    .with_names([name])
    .unwrap()
}

fn csr(name: &str) -> String {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    certherd_x509::to_pem(
        certherd_x509::PemLabel::CertificateRequest,
        &certherd_x509::signing_request(&spec(name, 1), &key).unwrap(),
    )
}

fn call(addr: &str, sim: &Sim, path: &str, body: &Value) -> Value {
    let id = certherd_tls::Identity {
        chain: vec![certherd_x509::CertificateDer::from(sim.pool_cert.clone())],
        key: pki_types::PrivateKeyDer::try_from(sim.pool_key.secret_der().to_vec()).unwrap(),
    };
    let verifier = Arc::new(certherd_tls::RecordingVerifier::default());
    let mut s = certherd_tls::connect_for_request(
        &certherd_tls::Endpoint {
            address: addr.into(),
            proxy: None,
            timeout: Duration::from_secs(60),
            server_name: Some("bench.example.test".into()),
            starttls: None,
        },
        verifier,
        Some(&id),
    )
    .unwrap();
    let (status, reply) =
        certherd_agent::post_json(&mut s, "bench.example.test", path, &body.to_string()).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    serde_json::from_slice(&reply).unwrap()
}

fn run(hosts: usize, workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    let bin = env!("CARGO_BIN_EXE_certherd");
    let st = Command::new(bin)
        .arg("--home")
        .arg(&home)
        .args([
            "init",
            "--hostname",
            "bench.example.test",
            "--ip",
            "127.0.0.1",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // Enrolment: the server's rule, on its home, as `host add` does it.
    let start = Instant::now();
    let mut node = Node::new(
        Home::new(&home).open().unwrap(),
        Box::new(SystemClock),
        None,
        "certherd.toml",
    )
    .unwrap();
    let mut tokens = Vec::with_capacity(hosts);
    for i in 0..hosts {
        let mut random = [0u8; 32];
        random[..8].copy_from_slice(&(i as u64).to_be_bytes());
        random[8] = 0xA5;
        let (_, token, _) = node
            .host_add(
                &format!("h{i}.fleet.example.test"),
                &[],
                time::Duration::hours(24),
                random,
            )
            .unwrap();
        tokens.push(token);
    }
    drop(node);
    let enrolled = start.elapsed();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = Command::new(bin)
        .arg("--home")
        .arg(&home)
        .args(["server", "--listen", &addr, "--evaluate-every", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Stopped however the bench ends (a failed call panics).
    let server = KillOnDrop(server);
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sims: Vec<Sim> = (0..hosts)
        .map(|i| {
            let name = format!("h{i}.fleet.example.test");
            let pool_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let pool_cert = certherd_x509::self_sign(&spec(&name, 3650), &pool_key)
                .unwrap()
                .to_vec();
            Sim {
                name,
                pool_key,
                pool_cert,
            }
        })
        .collect();
    let phase = |label: &str, f: &(dyn Fn(usize) + Sync)| {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= hosts {
                        break;
                    }
                    f(i);
                });
            }
        });
        let took = start.elapsed();
        println!(
            "{hosts:>6} hosts  {label:<8} {:>8.1} s  {:>8.1}/s",
            took.as_secs_f64(),
            hosts as f64 / took.as_secs_f64()
        );
        took
    };
    let joined = phase("join", &|i| {
        let s = &sims[i];
        let v = call(
            &addr,
            s,
            "/v1/join",
            &json!({"token": tokens[i], "csr": csr(&s.name), "pool_certificate": certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &s.pool_cert), "verification": true}),
        );
        assert!(v["host_chain"].is_array());
    });
    let renewed = phase("renew", &|i| {
        let s = &sims[i];
        let v = call(
            &addr,
            s,
            "/v1/poll",
            &json!({"renew_csr": csr(&s.name), "verification": true}),
        );
        assert!(v["host_chain"].is_array());
    });
    let peak = rss_kib(server.0.id(), "VmHWM:");
    drop(server);
    let total = enrolled + joined + renewed;
    println!(
        "{hosts:>6} hosts  enrolled in {:.1} s; enrol+join+renew {:.1} s (target < 300 s at 10,000); server peak RSS {:.1} MB (target < 200 MB)",
        enrolled.as_secs_f64(),
        total.as_secs_f64(),
        peak as f64 / 1024.0
    );
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    println!(
        "certherd fleet benchmark ({} mode): one server process, simulated agents in 16 threads",
        if quick { "quick" } else { "full" }
    );
    if quick {
        run(200, 16);
    } else {
        run(1_000, 16);
        run(10_000, 16);
    }
}
