//! The fleet against the real binary: a server and three agents on 127.0.0.1-3, joins,
//! trust sync, and every refusal of the security section that the server makes today.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw, Env};

struct Server {
    _child: common::Killed,
    url: String,
    addr: String,
}

fn start_server(env: &Env) -> Server {
    let addr = format!("127.0.0.1:{}", common::free_port());
    let child = common::start_server(env, &addr);
    Server {
        _child: child,
        url: format!("https://{addr}"),
        addr,
    }
}

/// A host's own home, beside the server's.
fn agent_home(env: &Env, name: &str) -> std::path::PathBuf {
    env.path(&format!("agent-{name}"))
}

fn agent(env: &Env, name: &str, args: &[&str]) -> common::Run {
    common::run_at(&agent_home(env, name), args)
}

fn host_add(env: &Env, name: &str, ip: &str) -> (String, String) {
    let v = env.json(&["host", "add", name, "--ip", ip, "--output", "json"]);
    (
        v["token"].as_str().unwrap().to_owned(),
        v["ca_fingerprint"].as_str().unwrap().to_owned(),
    )
}

fn join(
    env: &Env,
    home: &str,
    s: &Server,
    token: &str,
    fp: &str,
    hostname: &str,
    ip: &str,
) -> common::Run {
    agent(
        env,
        home,
        &[
            "agent",
            "join",
            "--server",
            &s.url,
            "--token",
            token,
            "--ca-fingerprint",
            fp,
            "--hostname",
            hostname,
            "--ip",
            ip,
        ],
    )
}

#[test]
fn hosts_join_sync_trust_and_every_refusal_is_clear() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let server = start_server(&env);
    let hosts = [
        ("esx1.example.test", "127.0.0.1"),
        ("esx2.example.test", "127.0.0.2"),
        ("esx3.example.test", "127.0.0.3"),
    ];
    let tokens: Vec<(String, String)> = hosts.iter().map(|(n, ip)| host_add(&env, n, ip)).collect();
    let fp = tokens[0].1.clone();

    // Fingerprint mismatch: refused before anything is sent; the token stays good.
    let wrong_fp = "ab".repeat(32);
    let r = join(
        &env,
        "esx1",
        &server,
        &tokens[0].0,
        &wrong_fp,
        hosts[0].0,
        hosts[0].1,
    );
    assert!(
        r.code != 0 && r.stderr.contains("does not match --ca-fingerprint"),
        "{}",
        r.stderr
    );
    // No fingerprint, no terminal (CI): refuses, showing the fingerprint to compare.
    let r = agent(
        &env,
        "esx1",
        &[
            "agent",
            "join",
            "--server",
            &server.url,
            "--token",
            &tokens[0].0,
            "--hostname",
            hosts[0].0,
        ],
    );
    assert!(
        r.code != 0
            && r.stderr.to_lowercase().contains(&fp[..2])
            && r.stderr.contains("--ca-fingerprint"),
        "{}",
        r.stderr
    );
    // A wrong token.
    let r = join(
        &env,
        "esx1",
        &server,
        &format!("chj1_{}", "0".repeat(64)),
        &fp,
        hosts[0].0,
        hosts[0].1,
    );
    assert!(
        r.code != 0 && r.stderr.contains("unknown join token"),
        "{}",
        r.stderr
    );
    // A host asking for another host's name: refused, logged, token not spent.
    let r = join(
        &env,
        "esx2",
        &server,
        &tokens[1].0,
        &fp,
        "esx9.example.test",
        hosts[1].1,
    );
    assert!(
        r.code != 0
            && r.stderr.contains("esx9.example.test")
            && r.stderr.contains("enrolled only for"),
        "{}",
        r.stderr
    );

    let esx2_listen = format!(
        "127.0.0.2:{}",
        TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    // The three hosts join (each agent home was left untouched by the refusals).
    for (i, (name, ip)) in hosts.iter().enumerate() {
        let home = name.split('.').next().unwrap();
        let _ = std::fs::remove_dir_all(agent_home(&env, home));
        let r = if i == 1 {
            // esx2 serves its host certificate on its own address.
            agent(
                &env,
                home,
                &[
                    "agent",
                    "join",
                    "--server",
                    &server.url,
                    "--token",
                    &tokens[i].0,
                    "--ca-fingerprint",
                    &fp,
                    "--hostname",
                    name,
                    "--ip",
                    ip,
                    "--listen",
                    &esx2_listen,
                ],
            )
        } else {
            join(&env, home, &server, &tokens[i].0, &fp, name, ip)
        };
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let list = agent(&env, home, &["cert", "list", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        let host_cert = v
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["store"] == "machine-ssl")
            .unwrap();
        assert_eq!(host_cert["subject"], format!("CN={name}"));
        assert!(host_cert["issuer"]
            .as_str()
            .unwrap()
            .contains("vc01.example.test"));
    }
    // A reused token.
    let _ = std::fs::remove_dir_all(agent_home(&env, "again"));
    let r = join(
        &env,
        "again",
        &server,
        &tokens[0].0,
        &fp,
        hosts[0].0,
        hosts[0].1,
    );
    assert!(
        r.code != 0 && r.stderr.contains("already used"),
        "{}",
        r.stderr
    );
    // The server sees the hosts and their certificates.
    let listed = env.json(&["host", "list", "--output", "json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["joined_at"].is_string() && h["pool_internal_sha256"].is_string()),
        "{listed}"
    );
    assert_eq!(
        env.json(&["cert", "list", "--store", "fleet-hosts", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The pool's certificates: each host's pool-internal and server identity.
    let pool = env.json(&["pool", "certificate-list", "--output", "json"]);
    let rows = pool.as_array().unwrap();
    assert_eq!(rows.len(), 6, "{pool}");
    assert!(rows.iter().any(|r| r["host"] == "esx2.example.test"
        && r["kind"] == "pool-internal"
        && r["sha256"].as_str().unwrap().len() == 64));
    assert!(rows
        .iter()
        .any(|r| r["host"] == "esx2.example.test" && r["kind"] == "server-identity"));

    // Trust sync: a CA added on the server reaches every agent at its next poll, and its
    // removal too.
    let extra = common::EnterpriseCa::new();
    let extra_pem = env.write("extra-ca.pem", extra.pem());
    env.ok(&["trust", "add", extra_pem.to_str().unwrap()]);
    for (name, _) in &hosts {
        let home = name.split('.').next().unwrap();
        let r = agent(&env, home, &["agent", "run", "--once"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(agent(&env, home, &["trust", "list"])
            .stdout
            .contains("Example Corp Root"));
    }
    // A CRL added on the server reaches the agents too: a certificate it revokes no
    // longer verifies on a host.
    let leaf_key =
        certherd_x509::PrivateKey::generate(certherd_x509::KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let leaf_spec = certherd_x509::CertSpec {
        common_name: "wlb.example.test".into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(30),
        role: certherd_x509::Role::Leaf,
        eku: vec![certherd_x509::Eku::ServerAuth],
    }
    .with_names(["wlb.example.test"])
    .unwrap();
    let issuer = certherd_x509::Issuer {
        cert: &extra.cert,
        key: &extra.key,
    };
    let leaf = certherd_x509::issue(&leaf_spec, &leaf_key.public_key_spki(), &issuer).unwrap();
    let leaf_file = env.write(
        "wlb.pem",
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &leaf),
    );
    let leaf_path = leaf_file.to_str().unwrap();
    assert_eq!(agent(&env, "esx1", &["verify", leaf_path]).code, 0);
    let serial = certherd_x509::CertInfo::from_der(&leaf).unwrap().serial;
    let crl = certherd_x509::crl(
        &issuer,
        &[&serial],
        1,
        now - time::Duration::minutes(5),
        now + time::Duration::days(7),
    )
    .unwrap();
    let crl_file = env.write(
        "extra.crl",
        certherd_x509::to_pem(certherd_x509::PemLabel::Crl, &crl),
    );
    env.ok(&["trust", "add-crl", crl_file.to_str().unwrap()]);
    assert_eq!(agent(&env, "esx1", &["agent", "run", "--once"]).code, 0);
    let revoked = agent(&env, "esx1", &["verify", leaf_path]);
    assert!(
        revoked.code != 0 && revoked.stderr.to_lowercase().contains("revoked"),
        "{} {}",
        revoked.stdout,
        revoked.stderr
    );

    let sha = certherd_x509::hex(&certherd_x509::sha256(&extra.cert));
    env.ok(&["trust", "remove", &sha]);
    agent(&env, "esx1", &["agent", "run", "--once"]);
    assert!(!agent(&env, "esx1", &["trust", "list"])
        .stdout
        .contains("Example Corp Root"));
    // Host certificates are renewed through the server, never locally.
    let r = agent(&env, "esx1", &["cert", "renew", "machine-ssl/host"]);
    assert!(
        r.code != 0 && r.stderr.contains("agent run"),
        "{}",
        r.stderr
    );

    // esx2's agent writes its target files (key 0600), runs the reload command after the
    // change, and serves its host certificate on its listen address.
    let out = env.path("esx2-out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        agent_home(&env, "esx2").join("certherd.toml"),
        format!(
            "[agent]\nreload = \"echo reloaded >> {d}/reloads\"\n\n[[agent.targets]]\nentry = \"machine-ssl/host\"\ncert = \"{d}/host.pem\"\nkey = \"{d}/host.key\"\n",
            d = out.display()
        ),
    )
    .unwrap();
    let mut running = common::Killed::new(
        Command::new(env!("CARGO_BIN_EXE_certherd"))
            .arg("--home")
            .arg(agent_home(&env, "esx2"))
            .args(["agent", "run", "--poll", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(out.join("reloads").exists() && std::net::TcpStream::connect(&esx2_listen).is_ok()) {
        assert!(Instant::now() < deadline, "the agent did not deploy");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(common::mode(&out.join("host.key")), 0o600);
    assert_eq!(
        std::fs::read_to_string(out.join("reloads")).unwrap(),
        "reloaded\n",
        "one reload for one change"
    );
    let pem = std::fs::read_to_string(out.join("host.pem")).unwrap();
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        2,
        "certificate and chain"
    );
    let verifier = Arc::new(certherd_tls::RecordingVerifier::default());
    let shown = {
        let _s = certherd_tls::connect(
            &certherd_tls::Endpoint {
                address: esx2_listen.clone(),
                proxy: None,
                timeout: Duration::from_secs(5),
                server_name: Some("esx2.example.test".into()),
                starttls: None,
            },
            verifier.clone(),
            None,
        )
        .unwrap();
        verifier.chain()
    };
    let served = certherd_x509::CertInfo::from_der(&shown[0]).unwrap();
    assert_eq!(served.subject_cn.as_deref(), Some("esx2.example.test"));
    let on_disk = certherd_x509::parse_certificates(pem.as_bytes()).unwrap();
    assert_eq!(
        shown[0].as_ref(),
        on_disk[0].as_ref(),
        "the listener serves the deployed certificate"
    );
    // The server scans the host's listener: one certificate, one inventory item.
    env.scan_ok(&["scan", "tls", &esx2_listen, "--sni", "esx2.example.test"]);
    let listed = env.json(&["cert", "list", "--output", "json"]);
    let host_entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sha256"] == served.sha256.as_str() && e["store"] != "endpoints")
        .unwrap_or_else(|| panic!("the host certificate is in the inventory: {listed}"));
    assert!(
        host_entry["also_seen_at"][0]
            .as_str()
            .unwrap()
            .starts_with("endpoints/"),
        "{host_entry}"
    );
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["store"] == "endpoints"),
        "the scanned copy is not listed twice: {listed}"
    );
    running.stop();

    // fleet renew: ordered, followed until the host polls, with a per-host result.
    let before = agent(
        &env,
        "esx1",
        &["cert", "list", "--store", "machine-ssl", "--output", "json"],
    )
    .stdout;
    let renew = common::Killed::new(
        env.cmd(&[
            "fleet",
            "renew",
            "--host",
            "esx1.example.test",
            "--wait",
            "30s",
            "--output",
            "json",
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
    let r = agent(&env, "esx1", &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = common::finish(renew.wait_with_output());
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let result: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result[0]["result"], "renewed", "{result}");
    let after = agent(
        &env,
        "esx1",
        &["cert", "list", "--store", "machine-ssl", "--output", "json"],
    )
    .stdout;
    assert_ne!(before, after, "a new host certificate");
    assert_eq!(
        agent(
            &env,
            "esx1",
            &["cert", "list", "--store", "backup", "--output", "json"]
        )
        .stdout
        .matches("\"alias\"")
        .count(),
        1
    );
    let none = env.run(&["fleet", "renew", "--host", "nope.example.test"]);
    assert!(
        none.code != 0 && none.stderr.contains("no host named"),
        "{}",
        none.stderr
    );
    // host reset-server-cert: one host, at its next poll.
    env.ok(&["host", "reset-server-cert", "esx2.example.test"]);
    let r = agent(&env, "esx2", &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("renewed true"), "{}", r.stderr);
    // The scanned copy of the superseded certificate is never blamed by the forecast.
    let f = env.json(&["forecast", "--until", "+6y", "--output", "json"]);
    assert!(
        !f["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["store"] == "endpoints"),
        "{f}"
    );

    // host refresh-pool-cert: a new pool-internal identity, pinned by the server.
    let pin = |env: &Env| {
        env.json(&["pool", "certificate-list", "--output", "json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == "esx2.example.test" && r["kind"] == "pool-internal")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let old_pin = pin(&env);
    env.ok(&["host", "refresh-pool-cert", "esx2.example.test"]);
    let r = agent(&env, "esx2", &["agent", "run", "--once"]);
    assert!(
        r.code == 0 && r.stderr.contains("pool-internal identity replaced"),
        "{}",
        r.stderr
    );
    assert_ne!(pin(&env), old_pin);
    assert_eq!(
        agent(&env, "esx2", &["agent", "run", "--once"]).code,
        0,
        "the new identity authenticates"
    );

    // Emergency disable on a host: the server holds an alarm until it is back on.
    agent(&env, "esx1", &["agent", "emergency-disable-verification"]);
    assert_eq!(agent(&env, "esx1", &["agent", "run", "--once"]).code, 0);
    let alarms = env.json(&["alarms", "--output", "json"]);
    assert!(
        alarms
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "verification-disabled" && a["subject"] == "esx1.example.test"),
        "{alarms}"
    );
    // `check` and `alarms` never disagree: the open alarm makes the check fail.
    let check = env.run(&["check", "--output", "json"]);
    assert_ne!(check.code, 0, "{}", check.stdout);
    let c: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert!(
        c["open_alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "verification-disabled" && a["subject"] == "esx1.example.test"),
        "{c}"
    );
    let status = env.json(&["pool", "verification", "status", "--output", "json"]);
    assert!(
        status["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["host"] == "esx1.example.test" && h["verification"] == "disabled"),
        "{status}"
    );
    agent(&env, "esx1", &["agent", "emergency-reenable-verification"]);
    assert_eq!(agent(&env, "esx1", &["agent", "run", "--once"]).code, 0);
    let alarms = env.json(&["alarms", "--output", "json"]);
    assert!(
        !alarms
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "verification-disabled"),
        "{alarms}"
    );
    // A host whose verification differs from the pool's cannot join, and both sides say why.
    env.ok(&["pool", "verification", "disable"]);
    let (t4, _) = host_add(&env, "esx4.example.test", "127.0.0.4");
    let r = join(
        &env,
        "esx4",
        &server,
        &t4,
        &fp,
        "esx4.example.test",
        "127.0.0.4",
    );
    assert!(
        r.code != 0
            && r.stderr
                .contains("verification is disabled but this host's is enabled"),
        "{}",
        r.stderr
    );
    assert!(env.ok(&["audit"]).contains("both sides must agree"));
    let r = agent(
        &env,
        "esx4",
        &[
            "agent",
            "join",
            "--server",
            &server.url,
            "--token",
            &t4,
            "--ca-fingerprint",
            &fp,
            "--hostname",
            "esx4.example.test",
            "--ip",
            "127.0.0.4",
            "--no-verification",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.ok(&["pool", "verification", "enable"]);

    // A request without a client certificate.
    let answer = raw(
        &server.addr,
        "POST /v1/poll HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // /metrics, readable without a credential.
    let metrics = raw(
        &server.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(metrics.contains("certherd_certificate_seconds_left{node=\"esx1.example.test\",store=\"fleet-hosts\",alias=\"esx1.example.test\""), "{metrics}");
    assert!(
        metrics.contains("certherd_renewals_total")
            && !metrics.contains("certherd_renewals_total 0\n"),
        "renewals are counted: {metrics}"
    );

    // A removed host can no longer authenticate.
    env.ok(&["host", "remove", "esx3.example.test"]);
    let r = agent(&env, "esx3", &["agent", "run", "--once"]);
    assert!(
        r.code != 0 && r.stderr.contains("not the pinned identity"),
        "{}",
        r.stderr
    );
    // ...and the host forgot the server and the trust it distributed.
    assert!(r.stderr.contains("forgot the server"), "{}", r.stderr);
    assert_eq!(
        agent(&env, "esx3", &["trust", "list", "--output", "json"])
            .stdout
            .trim(),
        "[]"
    );
    let again = agent(&env, "esx3", &["agent", "run", "--once"]);
    assert!(
        again.code != 0 && again.stderr.contains("has not joined a server"),
        "{}",
        again.stderr
    );
    // Every refusal is in the audit log.
    let audit = env.ok(&["audit"]);
    assert!(audit.matches("host-join-refused").count() >= 3, "{audit}");

    // Admin calls need an admin credential.
    let get = |path: &str, token: Option<&str>| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        raw(
            &server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    assert!(get("/v1/hosts", None).starts_with("HTTP/1.1 401"));
    assert!(get("/v1/hosts", Some(&format!("cha1_{}", "1".repeat(64)))).starts_with("HTTP/1.1 403"));
    let token = env.json(&["admin", "credential", "--name", "ops", "--output", "json"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let hosts = get("/v1/hosts", Some(&token));
    assert!(
        hosts.starts_with("HTTP/1.1 200") && hosts.contains("esx1.example.test"),
        "{hosts}"
    );
    assert!(get("/v1/alarms", Some(&token)).starts_with("HTTP/1.1 200"));
    // With [metrics] require_token, /metrics needs it too (read when the server starts).
    drop(server);
    std::fs::write(
        env.home().join("certherd.toml"),
        "[metrics]\nrequire_token = true\n",
    )
    .unwrap();
    let server = start_server(&env);
    let metrics = |token: Option<&str>| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        raw(
            &server.addr,
            &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    assert!(metrics(None).starts_with("HTTP/1.1 401"));
    assert!(metrics(Some(&token)).contains("certherd_certificate_seconds_left"));
}

#[test]
fn a_ca_rotation_is_staged_so_no_poll_ever_fails() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = common::Killed::new(
        env.cmd(&["server", "--listen", &addr, "--evaluate-every", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://{addr}");
    let hosts = [
        ("esx1.example.test", "127.0.0.1"),
        ("esx2.example.test", "127.0.0.2"),
        ("esx3.example.test", "127.0.0.3"),
    ];
    for (name, ip) in hosts {
        let (token, fp) = host_add(&env, name, ip);
        let home = name.split('.').next().unwrap();
        // Only the token and the fingerprint: the host's name and IPs come from its enrollment.
        let r = agent(
            &env,
            home,
            &[
                "agent",
                "join",
                "--server",
                &url,
                "--token",
                &token,
                "--ca-fingerprint",
                &fp,
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains(name), "{}", r.stdout);
        let mine = agent(
            &env,
            home,
            &["cert", "show", "machine-ssl/host", "--output", "json"],
        )
        .stdout;
        assert!(
            mine.contains(ip),
            "the enrolled IP is in the host certificate: {mine}"
        );
    }
    let old_root = env.json(&["ca", "show", "--output", "json"]);
    let old_sha = old_root["sha256"].as_str().unwrap().to_owned();
    // Mutually authenticated traffic, all through the rotation: each agent polls every second.
    let agents: Vec<common::Killed> = hosts
        .iter()
        .map(|(name, _)| {
            let home = name.split('.').next().unwrap();
            let log = std::fs::File::create(env.path(&format!("{home}.log"))).unwrap();
            Command::new(env!("CARGO_BIN_EXE_certherd"))
                .arg("--home")
                .arg(agent_home(&env, home))
                .args(["agent", "run", "--poll", "1s"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map(common::Killed::new)
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let first = env.ok(&["ca", "rotate"]);
    assert!(
        first.contains("staged") || first.contains("ordered"),
        "{first}"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while !env.ok(&["audit"]).contains("ca-retire") {
        assert!(
            Instant::now() < deadline,
            "the rotation did not finish: {}",
            env.ok(&["audit"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A few more polls after the old root is gone.
    std::thread::sleep(Duration::from_secs(3));
    drop(agents);
    server.stop();
    let mut polls_seen = 0;
    for (name, _) in hosts {
        let home = name.split('.').next().unwrap();
        let log = std::fs::read_to_string(env.path(&format!("{home}.log"))).unwrap();
        assert!(!log.contains("poll failed"), "{home}: {log}");
        assert!(
            log.contains("renewed true"),
            "{home} renewed under the new root: {log}"
        );
        polls_seen += 1;
        // The host now trusts only the new root, and its certificate chains to it.
        let trust = agent(&env, home, &["trust", "list", "--output", "json"]).stdout;
        assert!(
            !trust.contains(&old_sha),
            "{home} still trusts the old root: {trust}"
        );
        assert!(trust.contains("sha256"), "{trust}");
    }
    assert_eq!(polls_seen, 3);
    let audit = env.ok(&["audit"]);
    assert!(
        audit.contains("fleet-renew-ordered") && audit.contains("ca-retire"),
        "{audit}"
    );
}

/// DNS names are case-insensitive: a host added upper-case is kept lower-case, joins with
/// its name in either case, and the same name in another case is a duplicate.
#[test]
fn host_names_are_case_insensitive() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let server = start_server(&env);
    let (token, fp) = host_add(&env, "H1.EXAMPLE.COM", "127.0.0.1");
    let r = join(
        &env,
        "h1",
        &server,
        &token,
        &fp,
        "H1.EXAMPLE.COM",
        "127.0.0.1",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let hosts = env.json(&["host", "list", "--output", "json"]);
    assert_eq!(hosts[0]["name"], "h1.example.com", "{hosts}");
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
    let again = env.run(&["host", "add", "h1.example.com", "--ip", "127.0.0.1"]);
    assert!(
        again.code != 0 && again.stderr.contains("already enrolled"),
        "{} {}",
        again.code,
        again.stderr
    );
}
