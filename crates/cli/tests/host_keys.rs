//! Host keys that fit (issue 12, item 2), against the real binary: `agent join
//! --key-algo` chooses the host key, the server's `[profiles.host] key_algo` makes every
//! host key of the fleet one algorithm, and renewals keep it. RSA host certificates carry
//! digitalSignature and keyEncipherment (libvirt's GnuTLS wants both), others
//! digitalSignature only.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use certherd_x509::CertInfo;
use common::{Env, Killed};

fn start_server(env: &Env) -> (Killed, String) {
    start_server_at(env, &format!("https://127.0.0.1:{}", common::free_port()))
}

/// A server node whose certificate covers the loopback address the agents reach it at.
fn init(env: &Env) {
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
}

/// `fleet renew --host HOST` while the host's agent polls once: the host renews with a
/// new key, and `fleet renew` reports it renewed.
fn fleet_renew(env: &Env, host: &str) {
    let renew = Killed::new(
        env.cmd(&[
            "fleet", "renew", "--host", host, "--wait", "30s", "--output", "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["audit"]).contains("fleet-renew-ordered") {
        assert!(Instant::now() < deadline, "no order recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = agent(env, host, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = common::finish(renew.wait_with_output());
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let result: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result[0]["result"], "renewed", "{result}");
}

fn agent(env: &Env, name: &str, args: &[&str]) -> common::Run {
    common::run_at(&env.path(&format!("agent-{name}")), args)
}

/// Enrolls `name` and joins it, with `extra` arguments to `agent join`.
fn join(env: &Env, url: &str, name: &str, extra: &[&str]) -> common::Run {
    let added = env.json(&["host", "add", name, "--ip", "127.0.0.1", "--output", "json"]);
    let mut args = vec![
        "agent",
        "join",
        "--server",
        url,
        "--token",
        added["token"].as_str().unwrap(),
        "--ca-fingerprint",
        added["ca_fingerprint"].as_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    agent(env, name, &args)
}

/// The host certificate the agent holds.
fn host_cert(env: &Env, name: &str) -> CertInfo {
    let out = env.path(&format!("{name}-host.pem"));
    let _ = std::fs::remove_file(&out);
    let r = agent(
        env,
        name,
        &[
            "cert",
            "export",
            "machine-ssl/host",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pem = std::fs::read(&out).unwrap();
    let certs = certherd_x509::parse_certificates(&pem).unwrap();
    CertInfo::from_der(&certs[0]).unwrap()
}

fn rsa_usages() -> Vec<&'static str> {
    vec!["digitalSignature", "keyEncipherment"]
}

#[test]
fn agent_join_key_algo_chooses_the_host_key_and_renewals_keep_it() {
    let env = Env::new();
    init(&env);
    let (_server, url) = start_server(&env);

    let r = join(&env, &url, "kvm1.example.test", &["--key-algo", "rsa-3072"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("host key rsa-3072"), "{}", r.stdout);
    let first = host_cert(&env, "kvm1.example.test");
    assert_eq!(first.public_key, "RSA 3072");
    assert_eq!(first.key_usage, rsa_usages());

    // Without --key-algo (and no host profile setting): ECDSA P-256, no keyEncipherment.
    let r = join(&env, &url, "kvm2.example.test", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ec = host_cert(&env, "kvm2.example.test");
    assert_eq!(ec.public_key, "ECDSA P-256");
    assert_eq!(ec.key_usage, vec!["digitalSignature"]);

    // A bad algorithm name is a usage error naming the choices.
    let r = join(&env, &url, "kvm3.example.test", &["--key-algo", "rsa-1024"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ecdsa-p256, ecdsa-p384, rsa-2048"),
        "{}",
        r.stderr
    );

    // `fleet renew`: a new key of the same algorithm.
    fleet_renew(&env, "kvm1.example.test");
    let renewed = host_cert(&env, "kvm1.example.test");
    assert_ne!(renewed.serial, first.serial, "a new host certificate");
    assert_ne!(renewed.spki_der, first.spki_der, "a new key");
    assert_eq!(renewed.public_key, "RSA 3072");
    assert_eq!(renewed.key_usage, rsa_usages());
}

#[test]
fn the_servers_host_profile_makes_the_fleet_rsa() {
    let env = Env::new();
    init(&env);
    std::fs::write(
        env.home().join("certherd.toml"),
        "[profiles.host]\nkey_algo = \"rsa-2048\"\n",
    )
    .unwrap();
    let (_server, url) = start_server(&env);

    // Joined without --key-algo: the profile's RSA 2048.
    let r = join(&env, &url, "kvm1.example.test", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("host key rsa-2048"), "{}", r.stdout);
    let first = host_cert(&env, "kvm1.example.test");
    assert_eq!(first.public_key, "RSA 2048");
    assert_eq!(first.key_usage, rsa_usages());

    // Another algorithm is refused, clearly, and nothing is joined.
    let r = join(
        &env,
        &url,
        "kvm2.example.test",
        &["--key-algo", "ecdsa-p256"],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("host profile sets key_algo = rsa-2048")
            && r.stderr.contains("--key-algo rsa-2048"),
        "{}",
        r.stderr
    );
    let hosts = env.json(&["host", "list", "--output", "json"]);
    let kvm2 = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "kvm2.example.test")
        .unwrap();
    assert!(kvm2["joined_at"].is_null(), "{kvm2}");
    // The same algorithm, asked explicitly, is fine.
    let r = join(&env, &url, "kvm3.example.test", &["--key-algo", "rsa-2048"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // `fleet renew` keeps RSA.
    fleet_renew(&env, "kvm1.example.test");
    let renewed = host_cert(&env, "kvm1.example.test");
    assert_ne!(renewed.serial, first.serial);
    assert_eq!(renewed.public_key, "RSA 2048");
    assert_eq!(renewed.key_usage, rsa_usages());
}

#[test]
fn a_host_profile_set_after_the_join_applies_at_the_next_renewal() {
    let env = Env::new();
    init(&env);
    let (mut server, url) = start_server(&env);
    let r = join(&env, &url, "kvm1.example.test", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        host_cert(&env, "kvm1.example.test").public_key,
        "ECDSA P-256"
    );

    // The admin makes the fleet RSA; the running server applies it from the next
    // request on, without a restart.
    std::fs::write(
        env.home().join("certherd.toml"),
        "[profiles.host]\nkey_algo = \"rsa-3072\"\n",
    )
    .unwrap();
    fleet_renew(&env, "kvm1.example.test");
    let renewed = host_cert(&env, "kvm1.example.test");
    assert_eq!(renewed.public_key, "RSA 3072");
    assert_eq!(renewed.key_usage, rsa_usages());

    // And again after a restart.
    server.stop();
    std::fs::write(
        env.home().join("certherd.toml"),
        "[profiles.host]\nkey_algo = \"rsa-2048\"\n",
    )
    .unwrap();
    let (_server, _) = start_server_at(&env, &url);
    fleet_renew(&env, "kvm1.example.test");
    assert_eq!(host_cert(&env, "kvm1.example.test").public_key, "RSA 2048");
}

/// Starts the server again on the address of `url`.
fn start_server_at(env: &Env, url: &str) -> (Killed, String) {
    let addr = url.trim_start_matches("https://");
    (common::start_server(env, addr), url.to_owned())
}
