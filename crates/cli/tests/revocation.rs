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

/// `esx1.example.test` (127.0.0.1) added on the home and joined, from its own home (which
/// is returned), to the servers at `servers` (HOST:PORT, tried in that order).
fn join_esx1(env: &Env, servers: &[&str]) -> std::path::PathBuf {
    let v = env.json(&[
        "host",
        "add",
        "esx1.example.test",
        "--ip",
        "127.0.0.1",
        "--output",
        "json",
    ]);
    let urls: Vec<String> = servers.iter().map(|s| format!("https://{s}")).collect();
    let mut args = vec!["agent", "join"];
    for u in &urls {
        args.extend(["--server", u.as_str()]);
    }
    args.extend([
        "--token",
        v["token"].as_str().unwrap(),
        "--ca-fingerprint",
        v["ca_fingerprint"].as_str().unwrap(),
    ]);
    let home = agent_home(env, "esx1");
    let r = common::run_at(&home, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    home
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

/// The CRL Distribution Point URI of the certificate in PEM file `cert`.
fn cdp(cert: &Path) -> String {
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-ext",
        "crlDistributionPoints",
    ]);
    assert!(ok, "{text}");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("URI:"))
        .unwrap_or_else(|| panic!("no CRL distribution point: {text}"))
        .to_owned()
}

/// Fetches the CRL at `url` (`http://ADDR/PATH`) over plain HTTP and writes it as PEM to
/// `out`; its DER.
fn fetch_crl(env: &Env, url: &str, out: &str) -> Vec<u8> {
    let (addr, path) = url
        .strip_prefix("http://")
        .and_then(|r| r.split_once('/'))
        .unwrap();
    let (status, ctype, der) = http_get(addr, &format!("/{path}"));
    assert!(status.contains("200"), "{url}: {status}");
    assert_eq!(ctype, "application/pkix-crl");
    let raw = env.write(&format!("{out}.der"), &der);
    let (ok, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        raw.to_str().unwrap(),
        "-out",
        env.path(out).to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    der
}

/// `openssl verify -crl_check -CAfile ROOT -CRLfile CRL CERT`: (ok, what it printed).
fn verify_with_crl(root: &Path, crl: &Path, cert: &Path) -> (bool, String) {
    openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        root.to_str().unwrap(),
        "-CRLfile",
        crl.to_str().unwrap(),
        cert.to_str().unwrap(),
    ])
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

/// A home `vc01.example.test` (127.0.0.1) and its server on a free port, its CRLs also over
/// plain HTTP on another (`--crl-listen`), evaluating every `evaluate_every`; with `cdp`,
/// `[crl] url` names that listener's `/crl/ca.crl`. Returns the server (killed when
/// dropped), its address and the CRL listener's.
fn crl_server(env: &Env, cdp: bool, evaluate_every: &str) -> (Killed, String, String) {
    let crl_addr = format!("127.0.0.1:{}", common::free_port());
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    if cdp {
        std::fs::write(
            env.home().join("certherd.toml"),
            format!("[crl]\nurl = \"http://{crl_addr}/crl/ca.crl\"\n"),
        )
        .unwrap();
    }
    let addr = format!("127.0.0.1:{}", common::free_port());
    let server = Killed::new(
        env.cmd(&[
            "server",
            "--listen",
            &addr,
            "--crl-listen",
            &crl_addr,
            "--evaluate-every",
            evaluate_every,
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
    (server, addr, crl_addr)
}

#[test]
fn a_removed_hosts_certificate_is_revoked_everywhere_and_cert_revoke_is_exact() {
    let env = Env::new();
    let (_server, addr, crl_addr) = crl_server(&env, true, "1h");
    let crl_url = format!("http://{crl_addr}/crl/ca.crl");
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
    // It names its issuing CA's plain-HTTP CRL, beside the configured URL, as its
    // distribution point.
    assert_eq!(
        cdp(&esx1_cert),
        format!("http://{crl_addr}/crl/root.crl"),
        "[crl] url = {crl_url}"
    );

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
    let (_server, _, crl_addr) = crl_server(&env, false, "1h");
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

/// During a staged CA rotation the retiring root is still trusted, so its CRL is still
/// published: a certificate it issued and revoked before the rotation finds its issuer's
/// CRL at its distribution point, and openssl says revoked; the new root's CRL is served
/// too, at the distribution point of what it issues and at /crl/ca.crl.
#[test]
fn a_retiring_cas_crl_stays_published_during_a_staged_rotation() {
    let env = Env::new();
    let (_server, addr, crl_addr) = crl_server(&env, true, "1s");
    // A joined host that does not poll keeps the rotation staged: the old root retiring.
    join_esx1(&env, &[&addr]);
    let old_root = env.path("old-root.pem");
    env.ok(&["ca", "export", "--out", old_root.to_str().unwrap()]);
    let issue = |alias: &str| {
        env.ok(&[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--alias",
            alias,
            "--san",
            &format!("{alias}.example.test"),
        ]);
        let pem = env.path(&format!("{alias}.pem"));
        env.ok(&[
            "cert",
            "export",
            &format!("svc/{alias}"),
            "--out",
            pem.to_str().unwrap(),
        ]);
        pem
    };
    let r1 = issue("r1");
    env.ok(&["cert", "revoke", "svc/r1", "--reason", "keyCompromise"]);
    let out = env.ok(&["ca", "rotate"]);
    println!("$ certherd ca rotate\n{out}");
    assert!(out.contains("staged"), "{out}");
    let summary = env.json(&["ca", "show", "--output", "json"]);
    assert!(!summary["rotation_in_progress"].is_null(), "{summary}");

    // r1's distribution point serves its issuer's (the retiring root's) CRL: revoked.
    let url = cdp(&r1);
    assert_eq!(url, format!("http://{crl_addr}/crl/root.crl"));
    fetch_crl(&env, &url, "old.crl.pem");
    let (ok, text) = verify_with_crl(&old_root, &env.path("old.crl.pem"), &r1);
    println!("$ openssl verify -crl_check -CAfile old-root.pem -CRLfile <{url}> r1.pem\n{text}");
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // The new root's CRL: at the distribution point of what it issues, and at ca.crl.
    let new_root = env.path("new-root.pem");
    env.ok(&["ca", "export", "--out", new_root.to_str().unwrap()]);
    let r2 = issue("r2");
    let url = cdp(&r2);
    let new_alias = summary["entry"].as_str().unwrap().trim_start_matches("ca/");
    assert_eq!(url, format!("http://{crl_addr}/crl/{new_alias}.crl"));
    assert_ne!(new_alias, "root");
    let der = fetch_crl(&env, &url, "new.crl.pem");
    let (ok, text) = verify_with_crl(&new_root, &env.path("new.crl.pem"), &r2);
    assert!(ok, "{text}");
    let signing = fetch_crl(&env, &format!("http://{crl_addr}/crl/ca.crl"), "ca.crl.pem");
    assert_eq!(
        certherd_x509::CrlInfo::from_der(&signing)
            .unwrap()
            .issuer_raw,
        certherd_x509::CrlInfo::from_der(&der).unwrap().issuer_raw
    );
    // The same files on the server's own listener; an unknown one is 404.
    for path in ["/crl/root.crl", &format!("/crl/{new_alias}.crl")] {
        let o = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("https://{addr}{path}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "200", "{path}");
    }
    let (status, _, _) = http_get(&crl_addr, "/crl/nothing.crl");
    assert!(status.contains("404"), "{status}");
}

/// The leaf certificate `addr` presents, PEM.
fn presented(addr: &str) -> String {
    let (_, text) = openssl(&["s_client", "-connect", addr, "-showcerts"]);
    let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start + 25;
    format!("{}\n", &text[start..end])
}

/// A revoked machine-ssl certificate of the server is replaced at once (a new key) and
/// served without a restart; an agent holding the CRL refuses a server presenting the
/// revoked one (someone holding its key), says so, and polls the next server.
#[test]
fn a_revoked_server_certificate_is_replaced_and_refused_by_the_agents() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let addr = format!("127.0.0.1:{}", common::free_port());
    let other = format!("127.0.0.1:{}", common::free_port());
    let server_at = |listen: &str| {
        Killed::new(
            env.cmd(&["server", "--listen", listen, "--evaluate-every", "1h"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut server = server_at(&addr);
    wait_for("the server listens", || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let esx1 = join_esx1(&env, &[&addr, &other]);
    // The server's certificate and key, as someone who stole them would use them.
    let (old_cert, old_key) = (env.path("old.pem"), env.path("old.key"));
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        old_cert.to_str().unwrap(),
    ]);
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--key-only",
        "--out",
        old_key.to_str().unwrap(),
    ]);
    let old_pem = std::fs::read_to_string(&old_cert).unwrap();
    assert_eq!(presented(&addr), old_pem);
    env.ok(&[
        "cert",
        "revoke",
        "machine-ssl/machine",
        "--reason",
        "keyCompromise",
    ]);
    // The server replaces it at once, with a new key, and serves it.
    let mut now = String::new();
    wait_for("the server presents a new certificate", || {
        now = presented(&addr);
        now != old_pem
    });
    let new_cert = env.write("new.pem", &now);
    let pubkey = |p: &Path| openssl(&["x509", "-in", p.to_str().unwrap(), "-noout", "-pubkey"]).1;
    assert_ne!(pubkey(&new_cert), pubkey(&old_cert), "a new key");
    let r = env.run(&["verify", new_cert.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = env.run(&["verify", old_cert.to_str().unwrap()]);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);
    // The agent polls: it now holds the CRL listing the old certificate.
    let r = common::run_at(&esx1, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = common::run_at(&esx1, &["verify", old_cert.to_str().unwrap()]);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);

    // The thief answers at the server's address with the revoked certificate; the real
    // server moved to the other address.
    server.stop();
    let port = addr.rsplit_once(':').unwrap().1;
    let _thief = Killed::new(
        Command::new("openssl")
            .args(["s_server", "-www", "-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&old_cert)
            .arg("-key")
            .arg(&old_key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the thief listens", || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let _server = server_at(&other);
    wait_for("the server listens", || {
        std::net::TcpStream::connect(&other).is_ok()
    });
    let r = common::run_at(&esx1, &["agent", "run", "--once"]);
    println!("$ certherd agent run --once\n{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains(&format!("passed over https://{addr}")))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        line.contains("is revoked") && line.contains("keyCompromise"),
        "{line}"
    );
    assert!(
        r.stderr
            .contains(&format!("polled through https://{other}")),
        "{}",
        r.stderr
    );
}

/// machine-ssl/host of the agent home `home` as `cert list --output json` shows it:
/// (serial, status).
fn host_cert(home: &Path) -> (String, String) {
    let r = common::run_at(home, &["cert", "list", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["store"] == "machine-ssl" && c["alias"] == "host")
        .unwrap_or_else(|| panic!("no machine-ssl/host: {}", r.stdout))
        .clone();
    (
        row["serial"].as_str().unwrap().to_owned(),
        row["status"].as_str().unwrap().to_owned(),
    )
}

/// Issue 14 §4: a live host whose certificate the admin revokes (not `host remove`) is
/// ordered a new one with the revocation; until it polls, its home holding the CRL shows
/// its certificate `revoked` (`cert list`, `check` critical, alarm `revoked`); at its next
/// poll it gets a new key and certificate, which is not revoked. The server raises the one
/// `revoked` alarm for the event, not `chain-invalid` as well.
#[test]
fn a_live_hosts_revoked_certificate_shows_revoked_and_is_replaced_at_the_next_poll() {
    let env = Env::new();
    let (_server, addr, crl_addr) = crl_server(&env, true, "1h");
    let name = "esx1.example.test";
    let esx1 = join_esx1(&env, &[&addr]);
    let (old_serial, status) = host_cert(&esx1);
    assert_eq!(status, "ok");

    let out = env.ok(&[
        "cert",
        "revoke",
        &format!("fleet-hosts/{name}"),
        "--reason",
        "superseded",
    ]);
    println!("$ certherd cert revoke fleet-hosts/{name} --reason superseded\n{out}");
    assert!(
        out.contains(&format!(
            "ordered: {name} gets a new certificate at its next poll"
        )),
        "{out}"
    );
    let alarms = env.ok(&["alarms"]);
    println!("$ certherd alarms\n{alarms}");
    assert!(
        alarms.contains("revoked") && alarms.contains(&format!("fleet-hosts/{name}")),
        "{alarms}"
    );
    assert!(!alarms.contains("chain-invalid"), "one alarm: {alarms}");

    // Before its next poll, the host's home given the CRL says its certificate is revoked.
    fetch_crl(&env, &format!("http://{crl_addr}/crl/ca.crl"), "ca.crl.pem");
    let crl = env.path("ca.crl.pem");
    let r = common::run_at(&esx1, &["trust", "add-crl", crl.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(host_cert(&esx1), (old_serial.clone(), "revoked".to_owned()));
    let r = common::run_at(&esx1, &["check"]);
    println!("$ certherd --home esx1 check\n{}", r.stdout);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("CRITICAL: machine-ssl/host revoked, listed on a CRL this home holds"),
        "{}",
        r.stdout
    );
    let r = common::run_at(&esx1, &["alarms"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("revoked") && r.stdout.contains("machine-ssl/host"),
        "{}",
        r.stdout
    );

    // The agent polls every second: a new certificate, not revoked.
    let _agent = Killed::new(
        common::cmd_at(&esx1, &["agent", "run", "--poll", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut now = host_cert(&esx1);
    wait_for("the host gets a new certificate", || {
        now = host_cert(&esx1);
        now.0 != old_serial
    });
    assert_eq!(now.1, "ok", "{now:?}");
    let r = common::run_at(&esx1, &["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = common::run_at(&esx1, &["alarms"]);
    assert!(!r.stdout.contains("machine-ssl/host"), "{}", r.stdout);
    let alarms = env.ok(&["alarms"]);
    assert!(!alarms.contains(&format!("fleet-hosts/{name}")), "{alarms}");

    // keyCompromise orders nothing: whoever copied the host's keys holds its pool
    // identity too. The admin is told how to re-enroll it.
    let out = env.ok(&[
        "cert",
        "revoke",
        &format!("fleet-hosts/{name}"),
        "--reason",
        "keyCompromise",
    ]);
    println!("$ certherd cert revoke fleet-hosts/{name} --reason keyCompromise\n{out}");
    assert!(!out.lines().any(|l| l.starts_with("ordered: ")), "{out}");
    assert!(
        out.contains(&format!("not ordered: {name}'s keys may be compromised"))
            && out.contains(&format!("certherd host remove {name}")),
        "{out}"
    );
}
