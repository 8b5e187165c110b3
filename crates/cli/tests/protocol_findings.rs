//! Protocol failures sorted right, through the real binary against `openssl s_server`: a
//! server speaking only TLS 1.0/1.1 is a server configuration problem (`obsolete-protocol`),
//! and a server requiring a client certificate says so (`client-certificate-required`) while
//! its own certificate is still judged. `gnutls-cli`, where installed, is asked the same
//! question, to show another client sees the same class of failure.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use common::{free_port, Env, Killed};

/// A self-signed server certificate for 127.0.0.1 that expired yesterday: two certificate
/// findings (`expired`, `self-signed`) that must appear beside any protocol finding.
fn expired_self_signed(env: &Env) -> (String, String) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut s = CertSpec {
        common_name: "127.0.0.1".into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::days(30),
        not_after: now - time::Duration::days(1),
        role: Role::Leaf,
        eku: vec![],
    }
    .with_names(["127.0.0.1"])
    .unwrap();
    s.eku = vec![Eku::ServerAuth];
    let der = certherd_x509::self_sign(&s, &key).unwrap();
    let cert = env.write(
        "server.pem",
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &der),
    );
    let key = env.write("server.key", key.to_pem());
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// `openssl s_server` on a free port with `extra` options, guarded, once it listens.
fn s_server(env: &Env, extra: &[&str]) -> (Killed, String, u16) {
    let (cert, key) = expired_self_signed(env);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Killed::new(
        Command::new("openssl")
            .args([
                "s_server", "-quiet", "-accept", &addr, "-cert", &cert, "-key", &key,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr, port)
}

fn kinds(findings: &serde_json::Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(findings: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {findings}"))
}

/// gnutls-cli's version line, or `None` (and a note) when it is not installed.
fn gnutls_version() -> Option<String> {
    let out = Command::new("gnutls-cli").arg("--version").output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    println!("peer client: {v}");
    Some(v)
}

/// `gnutls-cli --insecure -p PORT 127.0.0.1 </dev/null` (with `priority`, if given): its
/// exit code and everything it printed. `timeout` bounds it, so a hung client ends too.
fn gnutls(port: u16, priority: Option<&str>) -> (i32, String) {
    let mut c = Command::new("timeout");
    c.args(["20", "gnutls-cli", "--insecure"]);
    if let Some(p) = priority {
        c.args(["--priority", p]);
    }
    let out = c
        .args(["-p", &port.to_string(), "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "gnutls-cli {priority:?} exit {:?}:\n{text}",
        out.status.code()
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_server_with_only_tls_1_0_or_1_1_is_a_server_configuration_problem() {
    let env = Env::new();
    env.init();
    // Debian's OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
    for (n, options) in [&["-tls1_1"][..], &["-no_tls1_2", "-no_tls1_3"][..]]
        .into_iter()
        .enumerate()
    {
        let mut args = options.to_vec();
        args.extend(["-cipher", "DEFAULT:@SECLEVEL=0"]);
        let (_server, addr, port) = s_server(&env, &args);
        let name = format!("old{n}");
        env.ok(&["endpoint", "add", &name, "--address", &addr]);

        let r = env.run(&["scan", "tls", &addr, "--output", "json"]);
        // Not --verify: a transport problem is a warning for the watch.
        assert_eq!(r.code, 1, "{options:?}: {}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            kinds(&v[0]["findings"]),
            ["obsolete-protocol"],
            "{options:?}: {v}"
        );
        let message = v[0]["findings"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("older than 1.2") && message.contains("RFC 8996"),
            "{message}"
        );
        let hint = v[0]["findings"][0]["hint"].as_str().unwrap();
        assert!(hint.contains("TLS 1.2"), "{hint}");

        let d = env.run(&["endpoint", "diagnose", &name, "--output", "json"]);
        assert_eq!(d.code, 1, "{}{}", d.stdout, d.stderr);
        let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
        assert_eq!(d["verdict"], "server", "{d}");
        assert_eq!(kinds(&d["findings"]), ["obsolete-protocol"], "{d}");
        assert_eq!(d["findings"][0]["severity"], "critical", "{d}");
        let t = env.run(&["endpoint", "diagnose", &name]);
        assert!(
            t.stdout.contains("server configuration problem")
                && !t.stdout.contains("network or credentials problem"),
            "{}",
            t.stdout
        );

        if let Some(version) = gnutls_version() {
            // gnutls (3.7 on Debian) still offers TLS 1.0/1.1 by default: it connects and
            // names the old version; told to offer only TLS 1.2/1.3, as certherd does, it
            // fails on the protocol version, the class certherd reports.
            let (code, out) = gnutls(port, None);
            assert!(
                (code == 0 && (out.contains("(TLS1.1") || out.contains("(TLS1.0")))
                    || (code != 0 && out.contains("protocol version")),
                "{version}: {out}"
            );
            let (code, out) = gnutls(port, Some("NORMAL:-VERS-TLS1.1:-VERS-TLS1.0"));
            assert_ne!(code, 0, "{version}: {out}");
            assert!(out.contains("protocol version"), "{version}: {out}");
        }
    }
}

#[test]
fn a_required_client_certificate_is_named_and_the_server_certificate_still_judged() {
    let env = Env::new();
    env.init();
    for (flag, version, alert) in [
        // OpenSSL refuses a missing certificate with handshake_failure in TLS 1.2 and
        // with certificate_required in TLS 1.3.
        ("-tls1_2", "TLSv1_2", "[40]"),
        ("-tls1_3", "TLSv1_3", "[116]"),
    ] {
        let (_server, addr, port) = s_server(&env, &["-Verify", "1", flag]);
        let name = format!("mtls{}", &flag[6..]);
        env.ok(&["endpoint", "add", &name, "--address", &addr]);

        let v = env.scan_json(&["scan", "tls", &addr, "--output", "json"]);
        let w = &v[0];
        let k = kinds(&w["findings"]);
        for want in ["client-certificate-required", "expired", "self-signed"] {
            assert!(k.iter().any(|k| k == want), "{flag}: no {want}: {w}");
        }
        let f = finding(&w["findings"], "client-certificate-required");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("requires a client certificate and none was sent"),
            "{f}"
        );
        // Not --verify: the refusal is a warning for the watch; the certificate's own
        // findings keep their severity.
        assert_eq!(f["severity"], "warning", "{f}");
        assert_eq!(w["facts"]["tls_version"], version, "{w}");
        assert_eq!(w["facts"]["chain_length"], 1, "{w}");

        let d = env.run(&["endpoint", "diagnose", &name, "--output", "json"]);
        assert_eq!(d.code, 1, "{}{}", d.stdout, d.stderr);
        let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
        assert_eq!(d["verdict"], "credentials", "{d}");
        let k = kinds(&d["findings"]);
        for want in ["client-certificate-required", "expired", "self-signed"] {
            assert!(k.iter().any(|k| k == want), "{flag}: no {want}: {d}");
        }
        assert_eq!(
            finding(&d["findings"], "client-certificate-required")["severity"],
            "critical",
            "{d}"
        );
        assert_eq!(finding(&d["findings"], "expired")["severity"], "critical");
        let t = env.run(&["endpoint", "diagnose", &name]);
        assert!(
            t.stdout.contains("credentials problem")
                && t.stdout.contains("client-certificate-required ")
                && t.stdout.contains("expired"),
            "{}",
            t.stdout
        );
        assert!(!t.stdout.contains("refused our client certificate"));

        if let Some(gv) = gnutls_version() {
            // gnutls, asked for a certificate and sending none either, is refused with the
            // same alert.
            let (code, out) = gnutls(port, None);
            assert_ne!(code, 0, "{gv}: {out}");
            assert!(out.contains("sent 0 certificate(s)"), "{gv}: {out}");
            assert!(
                out.contains(&format!("Received alert {alert}")),
                "{gv}: {out}"
            );
        }
    }
}
