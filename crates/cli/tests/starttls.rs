//! STARTTLS through the real binary against real servers nobody here wrote: Debian's
//! PostgreSQL (ssl=on and ssl=off) and OpenLDAP's slapd with StartTLS. `.ci/run` installs
//! them; these tests are `#[ignore]` for a quick local run and fail under CI when a server
//! is missing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "../../tls/tests/peers/mod.rs"]
mod peers;

use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use common::Env;

/// A self-signed server certificate for `name`, as a database's default certificate is.
fn self_signed(name: &str) -> (String, String, String) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut s = CertSpec {
        common_name: name.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::days(1),
        not_after: now + time::Duration::days(300),
        role: Role::Leaf,
        eku: vec![],
    }
    .with_names([name])
    .unwrap();
    s.eku = vec![Eku::ServerAuth];
    let der = certherd_x509::self_sign(&s, &key).unwrap();
    let sha = certherd_x509::CertInfo::from_der(&der).unwrap().sha256;
    (
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &der),
        key.to_pem(),
        sha,
    )
}

fn kinds(w: &serde_json::Value) -> Vec<String> {
    w["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "real peer: PostgreSQL (installed by .ci/run)"]
fn postgres_with_ssl_is_a_certificate_problem_not_a_network_one() {
    if peers::postgres_bin_dir().is_none() {
        return peers::missing("PostgreSQL");
    }
    let env = Env::new();
    env.init();
    let (cert, key, sha) = self_signed("db.example.test");
    let pg = peers::start_postgres(&cert, &key, true).unwrap();
    let addr = pg.address.clone();

    let v = env.scan_json(&[
        "scan",
        "tls",
        &addr,
        "--starttls",
        "postgres",
        "--output",
        "json",
    ]);
    let w = &v[0];
    assert_eq!(w["facts"]["starttls"], "postgres", "{v}");
    assert_eq!(
        w["sha256"],
        sha.as_str(),
        "the certificate PostgreSQL serves: {v}"
    );
    let k = kinds(w);
    assert!(
        k.contains(&"self-signed".to_owned()) && k.contains(&"name-mismatch".to_owned()),
        "{v}"
    );

    // Without STARTTLS, the same port is not TLS: said so, not "ok".
    let plain = env.scan_json(&["scan", "tls", &addr, "--output", "json"]);
    assert_ne!(plain[0]["finding"], "ok", "{plain}");

    env.ok(&[
        "endpoint",
        "add",
        "vcdb",
        "--address",
        &addr,
        "--starttls",
        "postgres",
        "--verify",
    ]);
    let d = env.run(&["endpoint", "diagnose", "vcdb", "--output", "json"]);
    assert_eq!(d.code, 1, "{}", d.stdout);
    let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(d["verdict"], "certificate", "{d}");
    assert_eq!(d["starttls"], "postgres", "{d}");
    let k = kinds(&d);
    assert!(
        k.contains(&"self-signed".to_owned()) && k.contains(&"name-mismatch".to_owned()),
        "{d}"
    );

    // Pinned, and reached by the name it carries: a verifying client accepts it.
    env.ok(&["endpoint", "trust", "vcdb", "--thumbprint", &sha]);
    let d = env.run(&["endpoint", "diagnose", "vcdb", "--output", "json"]);
    let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(kinds(&d), ["name-mismatch"], "only the name is left: {d}");
    drop(pg);
}

#[test]
#[ignore = "real peer: PostgreSQL (installed by .ci/run)"]
fn postgres_without_ssl_refuses_starttls_and_says_so() {
    if peers::postgres_bin_dir().is_none() {
        return peers::missing("PostgreSQL");
    }
    let env = Env::new();
    env.init();
    let (cert, key, _) = self_signed("db.example.test");
    let pg = peers::start_postgres(&cert, &key, false).unwrap();
    let v = env.scan_json(&[
        "scan",
        "tls",
        &pg.address,
        "--starttls",
        "postgres",
        "--output",
        "json",
    ]);
    assert_eq!(v[0]["finding"], "starttls-refused", "{v}");
    assert!(
        v[0]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refuses TLS"),
        "{v}"
    );
    env.ok(&[
        "endpoint",
        "add",
        "nossl",
        "--address",
        &pg.address,
        "--starttls",
        "postgres",
    ]);
    let d = env.run(&["endpoint", "diagnose", "nossl", "--output", "json"]);
    let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(d["verdict"], "service", "{d}");
    drop(pg);
}

#[test]
#[ignore = "real peer: OpenLDAP slapd (installed by .ci/run)"]
fn ldap_starttls_shows_the_directory_certificate() {
    if peers::slapd_bin().is_none() {
        return peers::missing("slapd");
    }
    let env = Env::new();
    env.init();
    let (cert, key, sha) = self_signed("ldap.example.test");
    let ldap = peers::start_slapd(&cert, &key).unwrap();
    let v = env.scan_json(&[
        "scan",
        "tls",
        &ldap.address,
        "--starttls",
        "ldap",
        "--output",
        "json",
    ]);
    assert_eq!(v[0]["facts"]["starttls"], "ldap", "{v}");
    assert_eq!(v[0]["sha256"], sha.as_str(), "{v}");
    drop(ldap);
}

#[test]
fn bad_starttls_input_is_one_clear_line_and_changes_nothing() {
    let env = Env::new();
    env.init();
    let before = env.snapshot();
    let r = env.run(&["scan", "tls", "127.0.0.1:5432", "--starttls", "imap"]);
    assert_eq!(
        r.code, 3,
        "a scan that cannot run is 3, never a verdict: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("imap") && r.stderr.contains("postgres"),
        "{}",
        r.stderr
    );
    let r = env.run(&[
        "endpoint",
        "add",
        "x",
        "--address",
        "127.0.0.1:5432",
        "--starttls",
        "pop3",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(env.snapshot(), before, "refused input changes nothing");
    // A port that speaks something else: a finding, not a crash.
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = http.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::Write;
        for s in http.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let v = env.scan_json(&[
        "scan",
        "tls",
        &addr,
        "--starttls",
        "postgres",
        "--output",
        "json",
    ]);
    assert_eq!(v[0]["finding"], "not-tls", "{v}");
    assert!(
        v[0]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL"),
        "{v}"
    );
}
