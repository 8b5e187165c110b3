//! Scan throughput, printed rather than asserted: `certherd scan files` over 100,000
//! certificate files next to a shell loop of `openssl x509 -noout -enddate` over the same
//! files, and `certherd scan tls` over 1,000 loopback TLS listeners.
//!
//! `cargo bench -p certherd-cli --bench scan`; CERTHERD_BENCH_QUICK=1 for a small run.
//! The shell loop runs over a sample (2,000 files; 200 quick) and its rate is per file, so
//! the two rates compare directly. Target: certherd at least 100 times the shell loop.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certherd_x509::{CertSpec, KeyAlgorithm, PrivateKey, Role};
use pki_types::{CertificateDer, PrivateKeyDer};

fn certherd(home: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_certherd"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run certherd");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "certherd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let (files, sample, listeners) = if quick {
        (10_000, 200, 100)
    } else {
        (100_000, 2_000, 1_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    certherd(&home, &["init", "--hostname", "bench.example.test"]);

    // The files: one CA-issued certificate each, PEM, in 100 directories.
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
    let root = dir.path().join("files");
    let made = Instant::now();
    for i in 0..files {
        let sub = root.join(format!("d{:03}", i % 100));
        if i < 100 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let spec = CertSpec {
            common_name: format!("h{i}.example.test"),
            organization: None,
            dns_names: vec![format!("h{i}.example.test")],
            ip_addresses: vec![],
            not_before: now,
            not_after: now + time::Duration::days(30 + (i % 700) as i64),
            role: Role::Leaf,
            eku: vec![],
        };
        let cert = certherd_x509::issue(
            &spec,
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &ca,
                key: &key,
            },
        )
        .unwrap();
        std::fs::write(
            sub.join(format!("h{i}.pem")),
            certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert),
        )
        .unwrap();
    }
    println!(
        "certherd scan benchmark ({} mode); {files} files made in {:.1} s",
        if quick { "quick" } else { "full" },
        made.elapsed().as_secs_f64()
    );

    let took = certherd(
        &home,
        &["scan", "files", root.to_str().unwrap(), "--output", "json"],
    );
    let ours = files as f64 / took.as_secs_f64();
    // The shell loop, as an admin would write it, over the first `sample` files.
    let list: Vec<String> = (0..sample)
        .map(|i| {
            root.join(format!("d{:03}/h{i}.pem", i % 100))
                .display()
                .to_string()
        })
        .collect();
    let listing = dir.path().join("sample.txt");
    std::fs::write(&listing, list.join("\n") + "\n").unwrap();
    let start = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while read f; do openssl x509 -noout -enddate -in \"$f\" >/dev/null; done < {}",
            listing.display()
        ))
        .status()
        .expect("sh");
    assert!(st.success());
    let shell = sample as f64 / start.elapsed().as_secs_f64();
    println!("{:<44} {:>12}", "", "files/s");
    println!(
        "{:<44} {:>12.0}",
        format!("certherd scan files ({files} files)"),
        ours
    );
    println!(
        "{:<44} {:>12.0}",
        format!("shell loop of openssl x509 ({sample} files)"),
        shell
    );
    println!("ratio {:.0}x (target >= 100x)", ours / shell);

    // 1,000 loopback TLS listeners, each presenting its own certificate.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut targets = Vec::new();
    for i in 0..listeners {
        let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "127.0.0.1".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            not_before: now,
            not_after: now + time::Duration::days(90 + i as i64),
            role: Role::Leaf,
            eku: vec![],
        };
        let cert = certherd_x509::issue(
            &spec,
            &leaf_key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &ca,
                key: &key,
            },
        )
        .unwrap();
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
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { continue };
                let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
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
    std::fs::write(&tfile, targets.join("\n")).unwrap();
    let took = certherd(
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
    );
    println!(
        "{:<44} {:>12.0}",
        format!("certherd scan tls ({listeners} listeners)"),
        listeners as f64 / took.as_secs_f64()
    );
}
