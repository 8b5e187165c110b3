//! Key providers against a real KMIP server nobody here wrote: PyKMIP's server, with
//! mutual TLS. The three trust paths of seed 002 end to end, and the failures.
//!
//! Needs `pykmip-server` (PyKMIP 0.11): `$CERTHERD_PYKMIP_SERVER`, else `.ci/.venv/bin/`,
//! else PATH. `.ci/run` installs it and runs this test; locally: `cargo test -- --ignored`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "../../tls/tests/peers/lifeline.rs"]
mod lifeline;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certherd_x509::{Eku, KeyAlgorithm, PrivateKey, Role};
use common::{EnterpriseCa, Env};

fn pykmip_server() -> PathBuf {
    if let Some(p) = std::env::var_os("CERTHERD_PYKMIP_SERVER") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/.venv/bin/pykmip-server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("pykmip-server")
}

/// A running PyKMIP server, stopped on drop.
struct Kms {
    child: Child,
    /// Kills PyKMIP's process group (it forks a policy monitor and a manager) on drop,
    /// and if this test process dies without unwinding.
    lifeline: lifeline::Lifeline,
    port: u16,
    dir: PathBuf,
}

impl Kms {
    fn start(dir: &Path, port: u16, server_pem: &str, server_key: &str, ca_pem: &str) -> Self {
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(dir.join("server.pem"), server_pem).unwrap();
        std::fs::write(dir.join("server.key"), server_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
        let conf = format!(
            "[server]\nhostname=127.0.0.1\nport={port}\ncertificate_path={d}/server.pem\nkey_path={d}/server.key\nca_path={d}/ca.pem\nauth_suite=TLS1.2\npolicy_path={d}/policies\nenable_tls_client_auth=True\ndatabase_path={d}/pykmip.db\n",
            d = dir.display()
        );
        std::fs::write(dir.join("server.conf"), conf).unwrap();
        let child = Command::new(pykmip_server())
            .arg("-f")
            .arg(dir.join("server.conf"))
            .arg("-l")
            .arg(dir.join("server.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: PyKMIP serves from child processes, which must go too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (run .ci/run, or set CERTHERD_PYKMIP_SERVER)",
                    pykmip_server().display()
                )
            });
        // Guarded before waiting, so that a server that never listens is stopped too.
        let lifeline = lifeline::Lifeline::new(child.id()).unwrap();
        let kms = Self {
            child,
            lifeline,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PyKMIP did not listen on {port}; log: {}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        kms
    }

    /// Stops the server and every process it started (its whole process group).
    fn stop(&mut self) {
        self.lifeline.signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Kms {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The key server's own CA and a server certificate for 127.0.0.1 (ECDSA: PyKMIP's only
/// AEAD suites are ECDHE-ECDSA).
fn server_identity(ks: &EnterpriseCa, env: &Env, tag: &str) -> (String, String) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = certherd_x509::signing_request(
        &certherd_x509::CertSpec {
            common_name: "127.0.0.1".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: time::OffsetDateTime::now_utc(),
            not_after: time::OffsetDateTime::now_utc() + time::Duration::days(1),
            role: Role::Leaf,
            eku: vec![],
        },
        &key,
    )
    .unwrap();
    let csr_pem = env.write(
        &format!("server-{tag}.csr"),
        certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, &csr),
    );
    let cert = ks.sign(
        &std::fs::read(csr_pem).unwrap(),
        &["127.0.0.1"],
        vec![Eku::ServerAuth],
        Role::Leaf,
        400,
    );
    (cert, key.to_pem())
}

fn status(env: &Env) -> (i32, serde_json::Value) {
    let r = env.run(&[
        "key-provider",
        "status",
        "kms",
        "--output",
        "json",
        "--timeout",
        "10s",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr));
    (r.code, v)
}

fn server_status(v: &serde_json::Value) -> String {
    v["servers"][0]["status"].as_str().unwrap().to_owned()
}

#[test]
#[ignore = "needs PyKMIP's server; .ci/run installs it and runs this"]
fn three_trust_paths_and_four_failures_against_pykmip() {
    let env = Env::new();
    env.init();
    let ks = EnterpriseCa::new();
    let (server_pem, server_key) = server_identity(&ks, &env, "a");
    let certherd_root = env.ok(&["ca", "export"]);
    // The key server trusts its own CA and, for path 1, certherd's CA.
    let ca_bundle = format!("{}{}", ks.pem(), certherd_root);
    let port = common::free_port();
    let mut kms = Kms::start(&env.path("kms"), port, &server_pem, &server_key, &ca_bundle);
    let addr = format!("127.0.0.1:{}", kms.port);

    env.ok(&[
        "key-provider",
        "create",
        "kms",
        "--primary-key-id",
        "8d0f5b4e-1f0a-4d3e-9b51-4a7f2c1e0d11",
        "--server",
        &addr,
    ]);
    let dup = env.run(&[
        "key-provider",
        "create",
        "kms",
        "--primary-key-id",
        "x",
        "--server",
        &addr,
    ]);
    assert!(
        dup.code != 0 && dup.stderr.contains("unique"),
        "{}",
        dup.stderr
    );
    let (code, v) = status(&env);
    assert_eq!((code, v["health"].as_str().unwrap()), (1, "ERROR"));
    assert!(
        v["servers"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no client certificate"),
        "{v}"
    );

    // Path 1: a client certificate certherd's CA issues; the key server trusts that CA.
    env.ok(&["key-provider", "client-cert", "new", "kms"]);
    let exported = env.ok(&["key-provider", "client-cert", "export", "kms"]);
    assert!(exported.contains("BEGIN CERTIFICATE") && !exported.contains("PRIVATE KEY"));
    let (code, v) = status(&env);
    assert_eq!(code, 1);
    assert_eq!(server_status(&v), "server-certificate-not-trusted", "{v}");

    // The provider trusts the key server: fetch, show, then trust what was shown.
    let shown: serde_json::Value = serde_json::from_str(&env.ok(&[
        "key-provider",
        "server-cert",
        "get",
        "kms",
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(shown[0]["trusted"], false);
    assert!(shown[0]["subject"].as_str().unwrap().contains("127.0.0.1"));
    let sha1 = shown[0]["sha1"].as_str().unwrap().to_owned();
    assert_eq!(sha1.len(), 59, "SHA-1 as vSphere prints it: {sha1}");
    let wrong = env.run(&[
        "key-provider",
        "server-cert",
        "trust",
        "kms",
        "--thumbprint",
        &"AB:".repeat(20)[..59],
    ]);
    assert!(
        wrong.code != 0 && wrong.stderr.contains("not the thumbprint"),
        "{}",
        wrong.stderr
    );
    env.ok(&[
        "key-provider",
        "server-cert",
        "trust",
        "kms",
        "--thumbprint",
        &sha1,
    ]);
    let shown: serde_json::Value = serde_json::from_str(&env.ok(&[
        "key-provider",
        "server-cert",
        "get",
        "kms",
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(shown[0]["trusted"], true);
    let (code, v) = status(&env);
    assert_eq!((code, v["health"].as_str().unwrap()), (0, "OK"), "{v}");
    assert!(
        v["servers"][0]["detail"].as_str().unwrap().contains("1."),
        "KMIP versions listed: {v}"
    );

    // Failure: an untrusted (self-signed) client certificate.
    env.ok(&["key-provider", "client-cert", "new", "kms", "--self-signed"]);
    let (code, v) = status(&env);
    assert_eq!(code, 1);
    assert_eq!(server_status(&v), "client-certificate-refused", "{v}");

    // Path 2: a CSR the key server vendor signs; the key never leaves certherd.
    let csr = env.path("client.csr");
    env.ok(&[
        "key-provider",
        "client-cert",
        "csr",
        "kms",
        "--out",
        csr.to_str().unwrap(),
    ]);
    let signed = env.write(
        "client-signed.pem",
        ks.sign(
            &std::fs::read(&csr).unwrap(),
            &[],
            vec![Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    env.ok(&[
        "key-provider",
        "client-cert",
        "upload",
        "kms",
        "--cert",
        signed.to_str().unwrap(),
    ]);
    let (code, v) = status(&env);
    assert_eq!((code, server_status(&v).as_str()), (0, "ok"), "{v}");

    // Path 3: a certificate and key the key server issued.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let key_file = env.write("ks-issued.key", key.to_pem());
    let csr_der = certherd_x509::signing_request(
        &certherd_x509::CertSpec {
            common_name: "vcenter-client".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: time::OffsetDateTime::now_utc(),
            not_after: time::OffsetDateTime::now_utc() + time::Duration::days(1),
            role: Role::Leaf,
            eku: vec![],
        },
        &key,
    )
    .unwrap();
    let issued = env.write(
        "ks-issued.pem",
        ks.sign(
            certherd_x509::to_pem(certherd_x509::PemLabel::CertificateRequest, &csr_der).as_bytes(),
            &[],
            vec![Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    env.ok(&[
        "key-provider",
        "client-cert",
        "upload",
        "kms",
        "--cert",
        issued.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    let (code, v) = status(&env);
    assert_eq!((code, server_status(&v).as_str()), (0, "ok"), "{v}");

    // The client and trusted server certificates are ordinary inventory entries.
    let list = env.ok(&["cert", "list", "--store", "kmip-kms"]);
    assert!(
        list.contains("kmip-kms/client")
            && list.contains(&format!("kmip-kms/server.127.0.0.1.{port}")),
        "{list}"
    );
    let check = env.run(&["check"]);
    assert_eq!(check.code, 0, "{} {}", check.stdout, check.stderr);

    // Failure: the server is stopped.
    kms.stop();
    let (code, v) = status(&env);
    assert_eq!(
        (code, server_status(&v).as_str()),
        (1, "unreachable"),
        "{v}"
    );

    // Failure: the server comes back with a different certificate than the one trusted.
    let (new_pem, new_key) = server_identity(&ks, &env, "b");
    let _kms2 = Kms::start(
        &kms.dir.join("restarted"),
        port,
        &new_pem,
        &new_key,
        &ca_bundle,
    );
    let (code, v) = status(&env);
    assert_eq!(
        (code, server_status(&v).as_str()),
        (1, "server-certificate-changed"),
        "{v}"
    );
}
