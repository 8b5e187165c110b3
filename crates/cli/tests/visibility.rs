//! Visibility against real TLS servers on 127.0.0.x, each with a certificate made to fail
//! one way, plus a TCP port that never speaks TLS and a closed port; file scans of a
//! directory made here; the forecast and the HTML report over what was found.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use common::Env;
use pki_types::{CertificateDer, PrivateKeyDer};

struct TestCa {
    cert: Vec<u8>,
    key: PrivateKey,
}

fn spec(cn: &str, role: Role, names: &[&str], from_days: i64, to_days: i64) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now + time::Duration::days(from_days),
        not_after: now + time::Duration::days(to_days),
        role,
        eku: if role == Role::Leaf {
            vec![Eku::ServerAuth]
        } else {
            vec![]
        },
    }
    .with_names(names.iter().copied())
    .unwrap()
}

impl TestCa {
    fn root(cn: &str) -> Self {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert =
            certherd_x509::self_sign(&spec(cn, Role::Ca { path_len: None }, &[], -10, 3650), &key)
                .unwrap()
                .to_vec();
        Self { cert, key }
    }

    fn issue(&self, s: &CertSpec) -> (Vec<u8>, PrivateKey) {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = certherd_x509::issue(
            s,
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &self.cert,
                key: &self.key,
            },
        )
        .unwrap()
        .to_vec();
        (cert, key)
    }

    fn intermediate(&self, cn: &str) -> TestCa {
        let (cert, key) = self.issue(&spec(cn, Role::Ca { path_len: Some(0) }, &[], -10, 1000));
        TestCa { cert, key }
    }

    fn pem(&self) -> String {
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &self.cert)
    }
}

/// A TLS server on `ip` presenting `chain`; it completes handshakes and hangs up.
fn serve(ip: &str, chain: Vec<Vec<u8>>, key: &PrivateKey) -> String {
    serve_switch(
        ip,
        vec![(chain, key)],
        Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    )
}

/// A TLS server presenting `certs[which]` to each new connection: an appliance whose
/// certificate is replaced while certherd watches it.
fn serve_switch(
    ip: &str,
    certs: Vec<(Vec<Vec<u8>>, &PrivateKey)>,
    which: Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    let configs: Vec<Arc<rustls::ServerConfig>> = certs
        .into_iter()
        .map(|(chain, key)| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            Arc::new(
                rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(
                        chain.into_iter().map(CertificateDer::from).collect(),
                        PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
                    )
                    .unwrap(),
            )
        })
        .collect();
    let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let i = which.load(std::sync::atomic::Ordering::SeqCst);
            let config = configs[i.min(configs.len() - 1)].clone();
            std::thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                while conn.is_handshaking() {
                    if conn.complete_io(&mut sock).is_err() {
                        return;
                    }
                }
                let _ = conn.complete_io(&mut sock);
            });
        }
    });
    addr
}

/// A TCP port that accepts and never says anything.
fn silent(ip: &str) -> String {
    let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    addr
}

fn closed(ip: &str) -> String {
    let l = TcpListener::bind(format!("{ip}:0")).unwrap();
    l.local_addr().unwrap().to_string()
}

fn by_target<'a>(v: &'a serde_json::Value, target: &str) -> &'a serde_json::Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|w| w["target"] == target)
        .unwrap_or_else(|| panic!("{target} not in {v}"))
}

#[test]
fn tls_scans_endpoints_diagnose_forecast_and_report() {
    let env = Env::new();
    env.init();
    let ca = TestCa::root("Scan Test Root");
    env.write("ca.pem", ca.pem());
    env.ok(&["trust", "add", env.path("ca.pem").to_str().unwrap()]);
    let inter = ca.intermediate("Scan Test Intermediate");
    let stranger = TestCa::root("Unknown Root");

    let (good, good_k) = ca.issue(&spec("127.0.0.2", Role::Leaf, &["127.0.0.2"], -1, 200));
    let good_addr = serve("127.0.0.2", vec![good], &good_k);
    let (exp, exp_k) = ca.issue(&spec("127.0.0.3", Role::Leaf, &["127.0.0.3"], -100, -2));
    let expired_addr = serve("127.0.0.3", vec![exp], &exp_k);
    let (wrong, wrong_k) = ca.issue(&spec(
        "wlb.example.test",
        Role::Leaf,
        &["wlb.example.test"],
        -1,
        200,
    ));
    let wrong_addr = serve("127.0.0.4", vec![wrong], &wrong_k);
    let (unk, unk_k) = stranger.issue(&spec("127.0.0.5", Role::Leaf, &["127.0.0.5"], -1, 200));
    let unknown_addr = serve("127.0.0.5", vec![unk], &unk_k);
    let (leaf, leaf_k) = inter.issue(&spec("127.0.0.6", Role::Leaf, &["127.0.0.6"], -1, 200));
    let incomplete_addr = serve("127.0.0.6", vec![leaf.clone()], &leaf_k);
    let complete_addr = serve("127.0.0.6", vec![leaf, inter.cert.clone()], &leaf_k);
    let self_k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let selfs = certherd_x509::self_sign(
        &spec("127.0.0.7", Role::Leaf, &["127.0.0.7"], -1, 200),
        &self_k,
    )
    .unwrap()
    .to_vec();
    let self_addr = serve("127.0.0.7", vec![selfs], &self_k);
    let silent_addr = silent("127.0.0.8");
    let closed_addr = closed("127.0.0.9");

    let targets = [
        &good_addr,
        &expired_addr,
        &wrong_addr,
        &unknown_addr,
        &incomplete_addr,
        &complete_addr,
        &self_addr,
        &silent_addr,
        &closed_addr,
    ];
    let list = env.write(
        "targets.txt",
        format!(
            "# lab\n{}\n",
            targets
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    let v = env.scan_json(&[
        "scan",
        "tls",
        "--targets",
        list.to_str().unwrap(),
        "--timeout",
        "2s",
        "--concurrency",
        "4",
        "--output",
        "json",
    ]);
    assert_eq!(v.as_array().unwrap().len(), 9);
    let fact = |t: &str, k: &str| by_target(&v, t)["facts"][k].clone();
    let finding = |t: &str| {
        by_target(&v, t)["finding"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let t = serde_json::Value::Bool(true);
    let f = serde_json::Value::Bool(false);
    assert_eq!(
        (
            fact(&good_addr, "trusted"),
            fact(&good_addr, "covers_name"),
            fact(&good_addr, "name")
        ),
        (t.clone(), t.clone(), serde_json::json!("127.0.0.2")),
        "{v}"
    );
    assert_eq!(fact(&good_addr, "tls_version"), "TLSv1_3");
    let key = fact(&good_addr, "key");
    assert!(key.as_str().unwrap().contains("P-256"), "{key}");
    assert_eq!(finding(&good_addr), "ok");
    // Expired under a trusted root: expired, and still trusted (independent findings).
    assert_eq!(fact(&expired_addr, "trusted"), t);
    assert_eq!(finding(&expired_addr), "expired");
    assert_eq!(
        (
            fact(&wrong_addr, "trusted"),
            fact(&wrong_addr, "covers_name")
        ),
        (t.clone(), f.clone())
    );
    assert_eq!(finding(&wrong_addr), "name-mismatch");
    assert_eq!(fact(&unknown_addr, "trusted"), f);
    assert_eq!(
        (
            fact(&incomplete_addr, "trusted"),
            fact(&incomplete_addr, "chain_length")
        ),
        (f.clone(), serde_json::json!(1))
    );
    assert_eq!(finding(&incomplete_addr), "incomplete-chain");
    assert_eq!(
        (
            fact(&complete_addr, "trusted"),
            fact(&complete_addr, "chain_length")
        ),
        (t.clone(), serde_json::json!(2))
    );
    assert_eq!(fact(&self_addr, "trusted"), f);
    assert_eq!(finding(&self_addr), "self-signed");
    assert_eq!(finding(&silent_addr), "not-tls", "{v}");
    assert_eq!(finding(&closed_addr), "unreachable", "{v}");
    for w in v.as_array().unwrap() {
        for f in w["findings"].as_array().unwrap() {
            assert!(
                f["kind"].is_string() && f["severity"].is_string() && f["message"].is_string(),
                "{f}"
            );
        }
    }
    // Bad input changes nothing: one bad target refuses the whole run.
    let before = env.ok(&["cert", "list", "--store", "endpoints"]);
    let bad = env.run(&["scan", "tls", &good_addr, "no-port-here"]);
    assert_eq!(
        bad.code, 3,
        "a scan that cannot run is 3, never a verdict: {}",
        bad.stderr
    );
    assert!(bad.stderr.contains("no-port-here"));
    assert_eq!(env.ok(&["cert", "list", "--store", "endpoints"]), before);

    // Scanned endpoints are inventory: the expired one is CRITICAL already, and at +1y
    // the good one (200 days) has lapsed too.
    let check = env.run(&["check", "--output", "json"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    let c: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert!(c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["store"] == "endpoints" && f["status"] == "expired"));
    assert!(c["watch_problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["finding"] == "unreachable" && w["severity"] == "WARNING"));
    let later: serde_json::Value = serde_json::from_str(
        &env.run(&["check", "--at", "+1y", "--output", "json"])
            .stdout,
    )
    .unwrap();
    let good_name = good_addr.replace(':', "-");
    assert!(
        later["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["alias"] == good_name.as_str() && f["status"] == "expired"),
        "{later}"
    );

    // The WLB model: a verified endpoint whose certificate does not cover its name is CRITICAL.
    env.ok(&[
        "endpoint",
        "add",
        "wlb",
        "--address",
        &wrong_addr,
        "--verify",
    ]);
    let dup = env.run(&["endpoint", "add", "wlb", "--address", &good_addr]);
    assert!(
        dup.code != 0 && dup.stderr.contains("already exists"),
        "{}",
        dup.stderr
    );
    let d = env.run(&["endpoint", "diagnose", "wlb", "--output", "json"]);
    assert_eq!(d.code, 1);
    let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(
        (d["verdict"].as_str(), d["finding"].as_str()),
        (Some("certificate"), Some("name-mismatch")),
        "{d}"
    );
    let why = d["findings"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("wlb.example.test") && why.contains("127.0.0.4"),
        "shows the certificate's names and the name used: {why}"
    );
    let check = env.run(&["check"]);
    assert_eq!(check.code, 2);
    assert!(
        check.stdout.contains("CRITICAL: endpoint wlb"),
        "{}",
        check.stdout
    );

    for (name, addr, kind, words) in [
        (
            "unknown",
            &unknown_addr,
            "incomplete-chain",
            "not in trusted-roots",
        ),
        ("partial", &incomplete_addr, "incomplete-chain", "not sent"),
        ("selfie", &self_addr, "self-signed", "self-signed"),
        ("old", &expired_addr, "expired", "expired"),
        ("gone", &closed_addr, "unreachable", "cannot connect to"),
        ("mute", &silent_addr, "not-tls", "TLS"),
    ] {
        env.ok(&["endpoint", "add", name, "--address", addr, "--verify"]);
        let d = env.run(&[
            "endpoint",
            "diagnose",
            name,
            "--timeout",
            "2s",
            "--output",
            "json",
        ]);
        assert_eq!(d.code, 1, "{name}: {}", d.stdout);
        let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
        assert_eq!(d["finding"], kind, "{name}: {d}");
        assert!(
            d["findings"][0]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{name}: {d}"
        );
        assert!(
            d["findings"][0]["hint"].is_string(),
            "{name}: every finding has a hint: {d}"
        );
        let expected_verdict = if kind == "unreachable" || kind == "not-tls" {
            "network"
        } else {
            "certificate"
        };
        assert_eq!(d["verdict"], expected_verdict, "{name}: {d}");
    }
    env.ok(&[
        "endpoint",
        "add",
        "fine",
        "--address",
        &complete_addr,
        "--verify",
    ]);
    let ok = env.run(&["endpoint", "diagnose", "fine"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let listed = env.json(&["endpoint", "list", "--output", "json"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        9 + 8,
        "nine scanned targets and eight named endpoints"
    );
    env.ok(&["endpoint", "remove", "fine"]);
    assert!(env.run(&["endpoint", "remove", "fine"]).code != 0);

    // Forecast: endpoints are on the timeline, with the first unattended breakage.
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[services.wlb-integration]\nimpact = \"workload balancing stops\"\ndepends_on = [\"endpoints/{good_name}\"]\n"),
    )
    .unwrap();
    let f = env.json(&["forecast", "--until", "+1y", "--output", "json"]);
    let first = &f["first_unattended"];
    assert_eq!(first["entry"], format!("endpoints/{good_name}"), "{f}");
    assert_eq!(first["impact"], "workload balancing stops");
    let item = f["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["alias"] == good_name.as_str())
        .unwrap();
    assert_eq!(item["affected"][0], "wlb-integration");
    assert_eq!(item["covered_by_renewal"], false);
    let machine = env.json(&["forecast", "--until", "+3y", "--output", "json"]);
    let m = machine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["store"] == "machine-ssl")
        .unwrap();
    assert_eq!(m["covered_by_renewal"], true);

    // The report: one self-contained file with the chart and the tables.
    let html_path = env.path("report.html");
    env.ok(&["report", "--html", html_path.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("id=\"inventory\"")
            && html.contains("id=\"forecast\"")
    );
    assert!(html.contains(&good_name) && html.contains("workload balancing stops"));
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn file_scans_find_bundles_orphans_loose_keys_and_wrong_passwords() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.init();
    let ca = TestCa::root("Files Root");
    let dir = env.path("etc");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let (c1, k1) = ca.issue(&spec(
        "app.example.test",
        Role::Leaf,
        &["app.example.test"],
        -1,
        20,
    ));
    let pem = |d: &[u8]| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, d);
    std::fs::write(dir.join("bundle.pem"), format!("{}{}", pem(&c1), ca.pem())).unwrap();
    std::fs::write(dir.join("sub/app.der"), &c1).unwrap();
    std::fs::write(dir.join("app.key"), k1.to_pem()).unwrap();
    std::fs::set_permissions(dir.join("app.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let orphan = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    std::fs::write(dir.join("old.key"), orphan.to_pem()).unwrap();
    std::fs::set_permissions(dir.join("old.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let p12 =
        certherd_x509::pkcs12_encode("x", k1.secret_der(), std::slice::from_ref(&c1), "right")
            .unwrap();
    std::fs::write(dir.join("app.p12"), &p12).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a certificate").unwrap();
    std::fs::write(dir.join("truncated.pem"), &pem(&c1)[..200]).unwrap();
    let pw = env.write("pw", "wrong\n");

    let v = env.scan_json(&[
        "scan",
        "files",
        dir.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(v["files_examined"], 7, "{v}");
    let watched = v["watched"].as_array().unwrap();
    let of = |file: &str| {
        watched
            .iter()
            .filter(|w| w["target"].as_str().unwrap().ends_with(file))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("bundle.pem").len(),
        2,
        "a bundle gives one entry per certificate"
    );
    assert_eq!(of("bundle.pem")[0]["facts"]["bundle"], true);
    assert_eq!(of("bundle.pem")[0]["facts"]["certificates"], 2);
    // Files are judged like endpoints: the 20-day leaf is expiring.
    assert_eq!(of("bundle.pem")[0]["finding"], "expiring", "{v}");
    assert_eq!(of("app.der").len(), 1);
    assert_eq!(of("app.key")[0]["finding"], "key-permissions");
    assert_eq!(of("old.key")[0]["finding"], "orphaned-key");
    assert_eq!(of("app.p12")[0]["finding"], "wrong-password");
    assert_eq!(of("truncated.pem")[0]["finding"], "damaged");
    assert!(of("notes.txt").is_empty());
    // The leaf (20 days) warns now, like any certificate; a private key readable by
    // others is critical.
    let check = env.run(&["check"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stdout.contains("WARNING: files/"), "{}", check.stdout);
    assert!(check.stdout.contains("key-permissions"), "{}", check.stdout);
    // With the right password the PKCS#12 opens.
    let pw = env.write("pw", "right\n");
    let v = env.scan_json(&[
        "scan",
        "files",
        dir.join("app.p12").to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(v["watched"][0]["facts"]["locked"], false, "{v}");
    // Its key counts for key permissions, as the same key in a PEM file does (0644 here).
    assert_eq!(v["watched"][0]["facts"]["keys"], 1, "{v}");
    assert_eq!(v["watched"][0]["finding"], "key-permissions (+1)", "{v}");
    assert!(
        v["watched"][0]["findings"]
            .to_string()
            .contains("\"expiring\""),
        "{v}"
    );
    assert!(v["watched"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("app.example.test"));
    // A bundle trimmed to one certificate leaves no stale entry behind.
    std::fs::write(dir.join("bundle.pem"), pem(&c1)).unwrap();
    env.scan_ok(&["scan", "files", dir.join("bundle.pem").to_str().unwrap()]);
    let files = env.json(&["cert", "list", "--store", "files", "--output", "json"]);
    let bundle: Vec<_> = files
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["alias"].as_str().unwrap().starts_with("bundle.pem"))
        .collect();
    assert_eq!(bundle.len(), 1, "{files}");
    assert!(!bundle[0]["alias"].as_str().unwrap().ends_with("-1"));
    // A missing path is a clear error.
    let missing = env.run(&["scan", "files", env.path("nope").to_str().unwrap()]);
    assert!(
        missing.code != 0 && missing.stderr.contains("nope"),
        "{}",
        missing.stderr
    );
}

#[test]
fn file_scans_follow_links_once_skip_the_home_and_never_read_a_database() {
    use std::os::unix::fs::symlink;
    let env = Env::new();
    env.init();
    let ca = TestCa::root("Links Root");
    let (c1, _) = ca.issue(&spec(
        "web.example.test",
        Role::Leaf,
        &["web.example.test"],
        -1,
        200,
    ));
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &c1);
    // /etc/ssl/certs and Let's Encrypt: a hash link and a `live/` link to one archive file.
    let root = std::fs::canonicalize(env.dir.path()).unwrap();
    let archive = root.join("archive/web");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(root.join("live/web")).unwrap();
    std::fs::create_dir_all(root.join("certs")).unwrap();
    std::fs::write(archive.join("cert1.pem"), &pem).unwrap();
    symlink(
        "../../archive/web/cert1.pem",
        root.join("live/web/cert.pem"),
    )
    .unwrap();
    symlink("../live/web/cert.pem", root.join("certs/abcd1234.0")).unwrap();
    symlink(
        "../../archive/web/gone.pem",
        root.join("live/web/chain.pem"),
    )
    .unwrap();
    symlink("..", root.join("live/web/up")).unwrap(); // a directory loop
                                                      // A database that happens to hold PEM text, and its sidecars.
    let mut db = b"SQLite format 3\0".to_vec();
    db.extend_from_slice(pem.as_bytes());
    std::fs::write(root.join("certs/app.db"), &db).unwrap();
    std::fs::write(root.join("certs/app.db-wal"), pem.as_bytes()).unwrap();

    // The whole directory, certherd's home (its database, its CA key) included.
    let v = env.scan_json(&["scan", "files", root.to_str().unwrap(), "--output", "json"]);
    let watched = v["watched"].as_array().unwrap();
    assert_eq!(
        watched.len(),
        1,
        "the target is read once, nothing from the home: {v}"
    );
    let w = &watched[0];
    assert_eq!(w["target"], archive.join("cert1.pem").to_str().unwrap());
    let links: Vec<&str> = w["facts"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        links,
        vec![
            root.join("certs/abcd1234.0").to_str().unwrap(),
            root.join("live/web/cert.pem").to_str().unwrap()
        ]
    );
    assert_eq!(v["links_followed"], 2, "{v}");
    assert_eq!(
        v["dangling_links"][0]["link"],
        root.join("live/web/chain.pem").to_str().unwrap()
    );
    assert_eq!(v["dangling_links"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["excluded"]["home"], 1, "{v}");
    assert_eq!(v["excluded"]["database_sidecars"], 1, "{v}");
    assert!(
        v["excluded"]["repeated_directories"].as_u64().unwrap() >= 1,
        "{v}"
    );
    // Scanning again changes nothing: no duplicates.
    let again = env.scan_json(&["scan", "files", root.to_str().unwrap(), "--output", "json"]);
    assert_eq!(again["watched"].as_array().unwrap().len(), 1);
    let files = env.json(&["cert", "list", "--store", "files", "--output", "json"]);
    assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
    // The table says what was followed and what dangles.
    let t = env.run(&["scan", "files", root.to_str().unwrap()]);
    assert!(
        t.stderr.contains("2 links followed, 1 dangling"),
        "{}",
        t.stderr
    );
    assert!(t.stderr.contains("dangling link: "), "{}", t.stderr);
}

/// A self-signed certificate as `openssl req -x509 -subj /CN=NAME` makes it: CA:TRUE, no SAN.
fn appliance_ca_cert(cn: &str, life: time::Duration) -> (Vec<u8>, PrivateKey) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let s = CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::days(1),
        not_after: now + life,
        role: Role::Ca { path_len: None },
        eku: vec![],
    };
    (certherd_x509::self_sign(&s, &key).unwrap().to_vec(), key)
}

/// A self-signed leaf (CA:FALSE) naming `names`: a backup appliance's own certificate.
fn self_signed_leaf(cn: &str, names: &[&str]) -> (Vec<u8>, PrivateKey) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = certherd_x509::self_sign(&spec(cn, Role::Leaf, names, -1, 700), &key)
        .unwrap()
        .to_vec();
    (cert, key)
}

/// `endpoint diagnose NAME --output json`, whatever its exit code.
fn diagnose_json(env: &Env, name: &str) -> serde_json::Value {
    let r = env.run(&["endpoint", "diagnose", name, "--output", "json"]);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr))
}

fn kinds(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

#[test]
fn appliances_every_finding_pins_and_names() {
    let env = Env::new();
    env.init();

    // The WLB appliance's default certificate: self-signed, CA:TRUE, no SAN, 2 days left.
    let (cert, key) = appliance_ca_cert(
        "wlb.example.test",
        time::Duration::hours(47) + time::Duration::minutes(30),
    );
    let wlb = serve("127.0.0.10", vec![cert.clone()], &key);
    env.ok(&["endpoint", "add", "wlb", "--address", &wlb, "--verify"]);
    let d = env.run(&["endpoint", "diagnose", "wlb", "--output", "json"]);
    assert_eq!(d.code, 1);
    let d: serde_json::Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(d["verdict"], "certificate", "{d}");
    assert_eq!(
        kinds(&d),
        [
            "ca-as-leaf",
            "expiring",
            "name-mismatch",
            "no-san",
            "self-signed"
        ],
        "{d}"
    );
    let text = d.to_string();
    assert!(text.contains("expires in 1 day 23 hours"), "{d}");
    assert!(text.contains("certherd endpoint trust wlb"), "{d}");
    // Trusting unrelated certificates that share a name changes nothing.
    let (other1, _) = appliance_ca_cert("wlb.example.test", time::Duration::days(300));
    let (other2, _) = appliance_ca_cert("wlb.example.test", time::Duration::days(300));
    let pem = |d: &[u8]| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, d);
    let others = env.write("others.pem", format!("{}{}", pem(&other1), pem(&other2)));
    env.ok(&["trust", "add", others.to_str().unwrap()]);
    let again = diagnose_json(&env, "wlb");
    assert_eq!(kinds(&again), kinds(&d), "{again}");

    // A backup appliance with a self-signed CA:FALSE certificate for its address: pinned.
    let (b1, k1) = self_signed_leaf(
        "backup.example.test",
        &["backup.example.test", "127.0.0.11"],
    );
    let (b2, k2) = self_signed_leaf(
        "backup.example.test",
        &["backup.example.test", "127.0.0.11"],
    );
    let sha1 = certherd_x509::CertInfo::from_der(&b1).unwrap().sha256;
    let sha2 = certherd_x509::CertInfo::from_der(&b2).unwrap().sha256;
    let which = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let backup = serve_switch(
        "127.0.0.11",
        vec![(vec![b1], &k1), (vec![b2], &k2)],
        which.clone(),
    );
    env.ok(&[
        "endpoint",
        "add",
        "backup",
        "--address",
        &backup,
        "--verify",
    ]);
    let d = diagnose_json(&env, "backup");
    assert_eq!(kinds(&d), ["self-signed"], "{d}");
    // Bad pins are refused with one clear line, and change nothing.
    let before = env.ok(&["endpoint", "list", "--output", "json"]);
    let bad = env.run(&["endpoint", "trust", "backup", "--thumbprint", "12:34"]);
    assert!(
        bad.code != 0 && bad.stderr.contains("not a SHA-256"),
        "{}",
        bad.stderr
    );
    let wrong = env.run(&["endpoint", "trust", "backup", "--thumbprint", &sha2]);
    assert!(
        wrong.code != 0 && wrong.stderr.contains("nothing was pinned"),
        "{}",
        wrong.stderr
    );
    assert_eq!(env.ok(&["endpoint", "list", "--output", "json"]), before);
    let colons: String = sha1
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let pinned = env.ok(&["endpoint", "trust", "backup", "--thumbprint", &colons]);
    // People see thumbprints as openssl and vSphere print them.
    assert!(pinned.contains(&colons), "{pinned}");
    let ok = env.run(&["endpoint", "diagnose", "backup"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    // The appliance's certificate is replaced: pin-mismatch, both thumbprints.
    which.store(1, std::sync::atomic::Ordering::SeqCst);
    let d = diagnose_json(&env, "backup");
    assert_eq!(kinds(&d), ["pin-mismatch"], "{d}");
    let text = d.to_string();
    assert!(
        text.contains(&certherd_x509::thumbprint(&sha1))
            && text.contains(&certherd_x509::thumbprint(&sha2)),
        "{d}"
    );
    let check = env.run(&["check"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stdout.contains("pin-mismatch"), "{}", check.stdout);

    // A scan under a name does not make that name stick: a rescan without --sni checks
    // the host again (and the named watch keeps its own name).
    let named = env.scan_json(&[
        "scan",
        "tls",
        &wlb,
        "--sni",
        "wlb.example.test",
        "--output",
        "json",
    ]);
    assert_eq!(named[0]["server_name"], "wlb.example.test", "{named}");
    let plain = env.scan_json(&["scan", "tls", &wlb, "--output", "json"]);
    let names: Vec<&str> = plain
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["facts"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"127.0.0.10"), "{plain}");

    // Days and hours are counted; an expired entry shows a negative DAYS LEFT.
    let later = env.json(&["cert", "list", "--at", "+3y", "--output", "json"]);
    let m = later
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["store"] == "machine-ssl")
        .unwrap();
    assert!(m["days_left"].as_i64().unwrap() < 0, "{m}");
}

fn chromium() -> std::path::PathBuf {
    std::env::var_os("CERTHERD_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), Into::into)
}

fn chromium_run(env: &Env, args: &[&str]) -> std::process::Output {
    let profile = env.path("chromium-profile");
    std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (.ci/run installs Debian's chromium)",
                chromium().display()
            )
        })
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn report_renders_in_headless_chromium() {
    let env = Env::new();
    env.init();
    env.ok(&["service", "add", "vpxd"]);
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "host",
        "--store",
        "hosts",
        "--alias",
        "esx1",
        "--cn",
        "esx1.example.test",
    ]);
    let html = env.path("report.html");
    env.ok(&["report", "--html", html.to_str().unwrap()]);
    let url = format!("file://{}", html.display());
    let dom = chromium_run(&env, &["--dump-dom", &url]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // What the browser parsed: the chart with one marker per live certificate, and the table.
    assert!(dom.contains("<svg id=\"timeline\""), "{dom}");
    let live = env
        .json(&["cert", "list", "--output", "json"])
        .as_array()
        .unwrap()
        .len();
    assert_eq!(dom.matches("<circle").count(), live, "{dom}");
    assert!(
        dom.contains("<table id=\"inventory\"")
            && dom.contains("hosts/esx1")
            && dom.contains("vpxd/vpxd")
    );
    // A screenshot, as the README shows; a blank page would compress to almost nothing.
    let shot = env.path("report.png");
    let out = chromium_run(
        &env,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,900",
            &url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 20_000,
        "screenshot of {} bytes looks blank",
        png.len()
    );
    if let Some(keep) = std::env::var_os("CERTHERD_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
