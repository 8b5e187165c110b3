//! Revocation end to end, with real processes: a server publishing its CRL over plain
//! HTTP (`--crl-listen`), two joined hosts, one of them serving its host certificate with
//! mutual TLS. After `host remove`, openssl refuses the removed host's certificate with
//! the published CRL, the other host's listener refuses it as a client, and the server
//! refuses it 403 `certificate_revoked`. `cert revoke` then `verify` says revoked, with the
//! reason and the date; bad input changes nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Killed};

fn agent_home(env: &Env, name: &str) -> std::path::PathBuf {
    env.path(&format!("agent-{name}"))
}

fn openssl(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// `GET /crl/ca.crl` over plain HTTP: (status line, content type, body).
fn http_get(addr: &str, path: &str) -> (String, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, ctype, raw[split + 4..].to_vec())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// openssl s_client with `cert`/`key` against `addr`: (handshake and a read went
/// through, everything openssl printed).
fn s_client(addr: &str, cert: &Path, key: &Path, root: &Path) -> (bool, String) {
    let o = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-servername",
            "esx2.example.test",
        ])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .arg("-CAfile")
        .arg(root)
        .args(["-verify_return_error", "-brief"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed::new(o);
    // Send nothing; the server's verdict on the client certificate (TLS 1.3: after the
    // handshake) arrives as an alert or as the server's close.
    drop(child.child().stdin.take());
    let out = child.wait_with_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = text.contains("alert") || !out.status.success();
    (!refused, text)
}

#[test]
fn a_removed_hosts_certificate_is_revoked_everywhere_and_cert_revoke_is_exact() {
    let env = Env::new();
    let crl_addr = format!("127.0.0.1:{}", common::free_port());
    let crl_url = format!("http://{crl_addr}/crl/ca.crl");
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[crl]\nurl = \"{crl_url}\"\n"),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = Killed::new(
        env.cmd(&[
            "server",
            "--listen",
            &addr,
            "--crl-listen",
            &crl_addr,
            "--evaluate-every",
            "1h",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_for("the server listens", || {
        std::net::TcpStream::connect(&addr).is_ok()
            && std::net::TcpStream::connect(&crl_addr).is_ok()
    });
    let url = format!("https://{addr}");
    let root = env.path("root.pem");
    env.ok(&["ca", "export", "--out", root.to_str().unwrap()]);

    // Two hosts join; esx2 serves its host certificate on its own address.
    let esx2_listen = format!("127.0.0.2:{}", {
        std::net::TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    for (name, ip, listen) in [
        ("esx1.example.test", "127.0.0.1", None),
        ("esx2.example.test", "127.0.0.2", Some(esx2_listen.as_str())),
    ] {
        let v = env.json(&["host", "add", name, "--ip", ip, "--output", "json"]);
        let home = agent_home(&env, name.split('.').next().unwrap());
        let mut args = vec![
            "agent",
            "join",
            "--server",
            &url,
            "--token",
            v["token"].as_str().unwrap(),
            "--ca-fingerprint",
            v["ca_fingerprint"].as_str().unwrap(),
            "--hostname",
            name,
            "--ip",
            ip,
        ];
        if let Some(l) = listen {
            args.extend(["--listen", l]);
        }
        let r = common::run_at(&home, &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
    // esx1's host certificate and key, as an attacker holding them would use them.
    let esx1 = agent_home(&env, "esx1");
    let esx1_cert = env.path("esx1.pem");
    let esx1_key = env.path("esx1.key");
    for (args, out) in [
        (vec!["cert", "export", "machine-ssl/host"], &esx1_cert),
        (
            vec!["cert", "export", "machine-ssl/host", "--key-only"],
            &esx1_key,
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--out", out.to_str().unwrap()]);
        let r = common::run_at(&esx1, &a);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // It names the plain-HTTP CRL as its distribution point.
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        esx1_cert.to_str().unwrap(),
        "-noout",
        "-ext",
        "crlDistributionPoints",
    ]);
    assert!(ok && text.contains(&format!("URI:{crl_url}")), "{text}");

    // esx2's agent runs (polling every second) and serves its listener.
    let _esx2 = Killed::new(
        Command::new(env!("CARGO_BIN_EXE_certherd"))
            .arg("--home")
            .arg(agent_home(&env, "esx2"))
            .args(["agent", "run", "--poll", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("esx2 serves", || {
        std::net::TcpStream::connect(&esx2_listen).is_ok()
    });
    // Before the removal, esx1's certificate is a welcome client of esx2.
    let (accepted, text) = s_client(&esx2_listen, &esx1_cert, &esx1_key, &root);
    assert!(accepted, "before removal esx1 is accepted:\n{text}");
    let (status, ctype, body) = http_get(&crl_addr, "/crl/ca.crl");
    let number_before = certherd_x509::crl_number(&body).unwrap().unwrap();
    assert!(status.contains("200"), "{status}");
    assert_eq!(ctype, "application/pkix-crl");

    // The host is removed: its host certificate is revoked.
    let out = env.ok(&["host", "remove", "esx1.example.test"]);
    println!("$ certherd host remove esx1.example.test\n{out}");
    assert!(
        out.contains("revoked fleet-hosts/esx1.example.test")
            && out.contains("cessationOfOperation"),
        "{out}"
    );

    // The CRL fetched over plain HTTP: newer, parsed by x509-parser, verified by openssl.
    let (status, ctype, der) = http_get(&crl_addr, "/crl/ca.crl");
    assert!(status.contains("200"), "{status}");
    assert_eq!(ctype, "application/pkix-crl");
    let number_after = certherd_x509::crl_number(&der).unwrap().unwrap();
    assert!(
        number_after > number_before,
        "{number_after} > {number_before}"
    );
    let info = certherd_x509::CrlInfo::from_der(&der).unwrap();
    assert_eq!(info.revoked, 1);
    let crl_der = env.write("ca.crl", &der);
    let crl_pem = env.path("crl.pem");
    let (ok, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl_der.to_str().unwrap(),
        "-out",
        crl_pem.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "crl",
        "-in",
        crl_pem.to_str().unwrap(),
        "-CAfile",
        root.to_str().unwrap(),
        "-verify",
        "-noout",
    ]);
    println!("$ openssl crl -CAfile root.pem -verify\n{text}");
    assert!(ok && text.contains("verify OK"), "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        root.to_str().unwrap(),
        "-CRLfile",
        crl_pem.to_str().unwrap(),
        esx1_cert.to_str().unwrap(),
    ]);
    println!("$ openssl verify -crl_check -CAfile root.pem -CRLfile crl.pem esx1.pem\n{text}");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    // The same CRL, without the revoked host, passes another certificate: the check can pass.
    let vc = env.path("vc.pem");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        vc.to_str().unwrap(),
    ]);
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        root.to_str().unwrap(),
        "-CRLfile",
        crl_pem.to_str().unwrap(),
        vc.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");

    // esx2 receives the new CRL with its trust sync; its listener then refuses esx1.
    let esx2 = agent_home(&env, "esx2");
    wait_for("esx2 holds the CRL listing esx1", || {
        let r = common::run_at(&esx2, &["verify", esx1_cert.to_str().unwrap()]);
        r.stdout.contains("revoked")
    });
    // The listener's configuration is rebuilt after the poll that brought it.
    let mut last = String::new();
    wait_for("esx2's listener refuses esx1", || {
        let (accepted, text) = s_client(&esx2_listen, &esx1_cert, &esx1_key, &root);
        last = text;
        !accepted
    });
    println!("$ openssl s_client -connect esx2 -cert esx1.pem -key esx1.key\n{last}");
    assert!(last.contains("certificate revoked"), "{last}");

    // The server refuses the revoked certificate as a client, with a clear code.
    let o = Command::new("curl")
        .args(["-sk", "--cert"])
        .arg(&esx1_cert)
        .arg("--key")
        .arg(&esx1_key)
        .arg(format!("{url}/v1/health"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&o.stdout);
    assert!(
        body.contains("\"code\":\"certificate_revoked\"") && body.contains("cessationOfOperation"),
        "{body}"
    );

    // `cert revoke` on the server's home, then `verify` says revoked, why and when.
    env.ok(&["service", "add", "vpxd"]);
    let before = env.snapshot();
    for (args, code, needle) in [
        (
            vec!["cert", "revoke", "vpxd/vpxd", "--reason", "stolen"],
            2,
            "unknown revocation reason 'stolen'",
        ),
        (
            vec!["cert", "revoke", "vpxd/nothing"],
            1,
            "entry vpxd/nothing does not exist",
        ),
        (
            vec!["cert", "revoke", "ca/root"],
            1,
            "certherd's own CA certificate",
        ),
        (
            vec!["cert", "revoke", "fleet-pool/esx2.example.test"],
            1,
            "self-signed, so no CA can revoke it",
        ),
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "one line: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    assert_eq!(before, env.snapshot(), "refusals change nothing");
    let v = env.json(&[
        "cert",
        "revoke",
        "vpxd/vpxd",
        "--reason",
        "keyCompromise",
        "--output",
        "json",
    ]);
    assert_eq!(v["reason"], "keyCompromise");
    assert_eq!(v["already_revoked"], false);
    assert!(v["crl_number"].as_u64().unwrap() > number_after);
    let revoked_at = v["revoked_at"].as_str().unwrap().to_owned();
    // Twice: nothing changes, and it says when and why it was revoked.
    let before = env.snapshot();
    let again = env.ok(&["cert", "revoke", "vpxd/vpxd", "--reason", "superseded"]);
    assert!(
        again.contains("already revoked")
            && again.contains(&revoked_at)
            && again.contains("keyCompromise")
            && again.contains("nothing changed"),
        "{again}"
    );
    assert_eq!(before, env.snapshot());
    let vpxd = env.path("vpxd.pem");
    env.ok(&[
        "cert",
        "export",
        "vpxd/vpxd",
        "--out",
        vpxd.to_str().unwrap(),
    ]);
    let r = env.run(&["verify", vpxd.to_str().unwrap()]);
    println!("$ certherd verify vpxd.pem\n{}", r.stdout);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("revoked")
            && r.stdout.contains("keyCompromise")
            && r.stdout.contains(&revoked_at),
        "{}",
        r.stdout
    );
    // The live entry says so everywhere until it is renewed: status `revoked`, a
    // `revoked` alarm, and `check` critical.
    let status_of = |env: &Env| {
        env.json(&["cert", "show", "vpxd/vpxd", "--output", "json"])["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status_of(&env), "revoked");
    let revoked_alarm = |env: &Env| {
        env.json(&["alarms", "--output", "json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "revoked" && a["subject"] == "vpxd/vpxd")
    };
    assert!(revoked_alarm(&env));
    let check = env.run(&["check"]);
    assert!(
        check.code != 0 && check.stdout.contains("revoked"),
        "{}{}",
        check.stdout,
        check.stderr
    );
    assert!(env
        .json(&["cert", "list", "--output", "json"])
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["alias"] == "vpxd" && e["status"] == "revoked"));
    // `ca crl --out` writes the current CRL, listing both.
    let written = env.path("written.crl");
    env.ok(&["ca", "crl", "--der", "--out", written.to_str().unwrap()]);
    let der = std::fs::read(&written).unwrap();
    assert_eq!(certherd_x509::CrlInfo::from_der(&der).unwrap().revoked, 2);
    let audit = env.ok(&["audit"]);
    assert!(
        audit.contains("revoke") && audit.contains("crl-publish"),
        "{audit}"
    );
    // Renewed: a new certificate, the status and the alarm clear.
    env.ok(&["cert", "renew", "vpxd/vpxd"]);
    assert_ne!(status_of(&env), "revoked");
    assert!(!revoked_alarm(&env));
}

/// `admin credential revoke` of a client-certificate credential puts the certificate on
/// the CA's CRL with the reason given: openssl refuses it with the CRL the server
/// publishes at `/crl/ca.crl`.
#[test]
fn a_revoked_admin_client_certificate_is_on_the_published_crl() {
    let env = Env::new();
    let crl_addr = format!("127.0.0.1:{}", common::free_port());
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = Killed::new(
        env.cmd(&[
            "server",
            "--listen",
            &addr,
            "--crl-listen",
            &crl_addr,
            "--evaluate-every",
            "1h",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_for("the server listens", || {
        std::net::TcpStream::connect(&addr).is_ok()
            && std::net::TcpStream::connect(&crl_addr).is_ok()
    });
    let root = env.path("root.pem");
    env.ok(&["ca", "export", "--out", root.to_str().unwrap()]);
    let bundle = env.path("alice.pem");
    env.ok(&[
        "admin",
        "credential",
        "alice",
        "--role",
        "admin",
        "--client-cert",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let leaf =
        certherd_x509::parse_certificates(&std::fs::read(&bundle).unwrap()).unwrap()[0].clone();
    let serial = certherd_x509::CertInfo::from_der(&leaf).unwrap().serial;
    let alice = env.write(
        "alice-cert.pem",
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &leaf),
    );
    let crl_pem = |name: &str| {
        let (status, _, der) = http_get(&crl_addr, "/crl/ca.crl");
        assert!(status.contains("200"), "{status}");
        let der_path = env.write(&format!("{name}.crl"), &der);
        let pem = env.path(&format!("{name}.pem"));
        let (ok, text) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            der_path.to_str().unwrap(),
            "-out",
            pem.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        pem
    };
    let verify = |crl: &Path| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            root.to_str().unwrap(),
            "-CRLfile",
            crl.to_str().unwrap(),
            alice.to_str().unwrap(),
        ])
    };
    let before = crl_pem("before");
    let (ok, text) = verify(&before);
    assert!(ok, "before the revocation the CRL passes it: {text}");

    let r = env.run(&[
        "admin",
        "credential",
        "revoke",
        "alice",
        "--reason",
        "nonsense",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    env.ok(&[
        "admin",
        "credential",
        "revoke",
        "alice",
        "--reason",
        "keyCompromise",
    ]);
    let after = crl_pem("after");
    let (ok, text) = openssl(&["crl", "-in", after.to_str().unwrap(), "-noout", "-text"]);
    println!("$ openssl crl -noout -text\n{text}");
    assert!(ok, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&serial.to_ascii_lowercase().replace(':', "")),
        "serial {serial} listed:\n{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    let (ok, text) = verify(&after);
    println!("$ openssl verify -crl_check -CAfile root.pem -CRLfile crl.pem alice.pem\n{text}");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let audit = env.ok(&["audit"]);
    assert!(
        audit.contains("1 client certificate(s) put on the CRL, reason keyCompromise"),
        "{audit}"
    );
}
