//! Issue 20's verdicts through the binary: `verify` decides validity as openssl and GnuTLS
//! do (the profile and nearness to expiry fail only --strict), consults the home's CRLs
//! whatever the anchors, PKCS#12 files are read as openssl reads them, scans exit as
//! `check` does, and a one-off scan does not rewrite a watched endpoint. The same cases
//! are judged by openssl and GnuTLS themselves in `.ci/verdict-files`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, Killed};

/// A CA made with rcgen (a library certherd did not write for this purpose), and its key.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn ca(cn: &str, parent: Option<&Ca>) -> Ca {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now() - time::Duration::days(1);
    p.not_after = now() + time::Duration::days(3650);
    let cert = match parent {
        Some(parent) => p.signed_by(&key, &parent.issuer).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(p, key),
    }
}

/// A TLS server leaf for `name` valid `days` more days; `eku` adds serverAuth.
fn leaf(issuer: &Ca, name: &str, days: i64, eku: bool, serial: u64) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    if eku {
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    }
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    p.not_before = now() - time::Duration::days(1);
    p.not_after = now() + time::Duration::days(days);
    (
        p.signed_by(&key, &issuer.issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

fn crl_revoking(issuer: &Ca, serial: u64) -> String {
    rcgen::CertificateRevocationListParams {
        this_update: now() - time::Duration::hours(1),
        next_update: now() + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from(serial),
            revocation_time: now() - time::Duration::hours(2),
            reason_code: Some(rcgen::RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&issuer.issuer)
    .unwrap()
    .pem()
    .unwrap()
}

/// An initialized home that trusts a new root named `cn`, and that root.
fn home_trusting(cn: &str) -> (Env, Ca) {
    let env = Env::new();
    env.init();
    let root = ca(cn, None);
    env.ok(&["trust", "add", s(&env.write("root.pem", &root.pem))]);
    (env, root)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_with_trusted_roots_still_consults_the_homes_crls() {
    let env = Env::new();
    env.init();
    let root = ca("Verdicts Root", None);
    let (cert, _) = leaf(&root, "revoked.example.test", 90, true, 4242);
    let root_f = env.write("root.pem", &root.pem);
    let cert_f = env.write("leaf.pem", &cert);
    let crl_f = env.write("root.crl", crl_revoking(&root, 4242));
    // Before the CRL: valid under the root given.
    let r = env.run(&["verify", s(&cert_f), "--trusted", s(&root_f)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    env.ok(&["trust", "add", s(&root_f)]);
    env.ok(&["trust", "add-crl", s(&crl_f)]);
    for args in [
        vec!["verify", s(&cert_f)],
        vec!["verify", s(&cert_f), "--trusted", s(&root_f)],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
        assert!(
            r.stdout.contains("FAILED: revoked") && r.stdout.contains("keyCompromise"),
            "{args:?}: {}",
            r.stdout
        );
    }
    // Without a home, the CRL given with --crl (as openssl verify -CRLfile).
    let bare = Env::new();
    let r = bare.run(&["verify", s(&cert_f), "--trusted", s(&root_f)]);
    assert_eq!(r.code, 0, "no home, no CRL: {}{}", r.stdout, r.stderr);
    let r = bare.run(&[
        "verify",
        s(&cert_f),
        "--trusted",
        s(&root_f),
        "--crl",
        s(&crl_f),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);
}

#[test]
fn nearness_to_expiry_and_the_profile_fail_only_strict() {
    let env = Env::new();
    let root = ca("Verdicts Root", None);
    let root_f = env.write("root.pem", &root.pem);
    // Valid 3 more days (critical expiring), and without extendedKeyUsage (a CA/B rule).
    for (name, days, eku, kind) in [
        ("soon", 3, true, "expiring"),
        ("no-eku", 200, false, "profile"),
    ] {
        let (cert, _) = leaf(&root, &format!("{name}.example.test"), days, eku, 7);
        let f = env.write(&format!("{name}.pem"), &cert);
        let r = env.run(&[
            "verify",
            s(&f),
            "--trusted",
            s(&root_f),
            "--purpose",
            "server",
        ]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(": OK") && r.stdout.contains(kind),
            "{name}: {}",
            r.stdout
        );
        let strict = env.run(&[
            "verify",
            s(&f),
            "--trusted",
            s(&root_f),
            "--purpose",
            "server",
            "--strict",
        ]);
        assert_eq!(strict.code, 1, "{name} --strict: {}", strict.stdout);
        assert!(
            strict.stdout.contains(&format!("FAILED: {kind}")),
            "{name}: {}",
            strict.stdout
        );
        let v: serde_json::Value = serde_json::from_str(&env.ok(&[
            "verify",
            s(&f),
            "--trusted",
            s(&root_f),
            "--output",
            "json",
        ]))
        .unwrap();
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["failure"], serde_json::Value::Null, "{v}");
    }
}

#[test]
fn seven_intermediates_are_valid_and_rustls_refusal_is_information() {
    let env = Env::new();
    let root = ca("Deep Root", None);
    let mut chain = Vec::new();
    let mut top = ca("Deep CA 1", Some(&root));
    for i in 2..=7 {
        let next = ca(&format!("Deep CA {i}"), Some(&top));
        chain.insert(0, std::mem::replace(&mut top, next));
    }
    let (cert, _) = leaf(&top, "deep.example.test", 90, true, 9);
    let mut bundle = cert;
    bundle.push_str(&top.pem);
    for c in &chain {
        bundle.push_str(&c.pem);
    }
    let f = env.write("deep.pem", &bundle);
    let root_f = env.write("root.pem", &root.pem);
    let r = env.run(&["verify", s(&f), "--trusted", s(&root_f)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("info     invalid-chain")
            && r.stdout
                .contains("rustls-webpki stops at its limit of 6 intermediate"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("MaximumPathDepthExceeded"),
        "{}",
        r.stdout
    );
}

/// `openssl pkcs12 -export` (a tool certherd did not write) of `cert` (and `key`) with the
/// export password `pass` to `out`, with `extra` options.
fn pkcs12_export(cert: &Path, key: Option<&Path>, pass: &str, out: &Path, extra: &[&str]) {
    let mut c = Command::new("openssl");
    c.args(["pkcs12", "-export"])
        .args(extra)
        .arg("-passout")
        .arg(format!("pass:{pass}"))
        .arg("-in")
        .arg(cert)
        .arg("-out")
        .arg(out);
    if let Some(k) = key {
        c.arg("-inkey").arg(k);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "openssl pkcs12 -export: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn scan_files(env: &Env, dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["scan", "files", s(dir), "--output", "json"];
    args.extend_from_slice(extra);
    let r = env.run(&args);
    (
        r.code,
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr)),
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
fn pkcs12_files_are_read_as_openssl_reads_them() {
    let env = Env::new();
    env.init();
    let root = ca("P12 Root", None);
    let (cert, key) = leaf(&root, "p12.example.test", 90, true, 12);
    let cert_f = env.write("c.pem", &cert);
    let key_f = env.write("k.pem", &key);
    let dir = env.path("p12");
    std::fs::create_dir(&dir).unwrap();
    let out = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    // No encryption and no MAC at all.
    pkcs12_export(
        &cert_f,
        Some(&key_f),
        "",
        &dir.join("nopbe.p12"),
        &["-keypbe", "NONE", "-certpbe", "NONE", "-nomac"],
    );
    // An empty password.
    pkcs12_export(&cert_f, Some(&key_f), "", &dir.join("empty.p12"), &[]);
    // Certificates only, encrypted with a password (openssl's default PBES2).
    pkcs12_export(
        &cert_f,
        None,
        "secret",
        &dir.join("certs.p12"),
        &["-nokeys"],
    );
    for f in ["nopbe.p12", "empty.p12", "certs.p12"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // openssl reads the certificate of each, as certherd must.
    for (f, pass) in [
        ("nopbe.p12", "pass:"),
        ("empty.p12", "pass:"),
        ("certs.p12", "pass:secret"),
    ] {
        let o = Command::new("openssl")
            .args(["pkcs12", "-in", &out(f), "-nokeys", "-passin", pass])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("BEGIN CERTIFICATE"),
            "openssl reads no certificate from {f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let pw = env.write("pw", "secret\n");
    let (code, v) = scan_files(&env, &dir, &["--password-file", s(&pw)]);
    let watched = v["watched"].as_array().unwrap();
    let by = |file: &str| {
        watched
            .iter()
            .find(|w| w["target"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file}: {v}"))
    };
    for f in ["nopbe.p12", "empty.p12", "certs.p12"] {
        let w = by(f);
        assert_eq!(w["facts"]["certificates"], 1, "{f}: {w}");
        assert!(!kinds(w).contains(&"wrong-password".to_owned()), "{f}: {w}");
    }
    // The keys inside, readable by others: as critical as the same key in a PEM file.
    for f in ["nopbe.p12", "empty.p12"] {
        let w = by(f);
        assert_eq!(w["facts"]["keys"], 1, "{f}: {w}");
        assert!(kinds(w).contains(&"key-permissions".to_owned()), "{f}: {w}");
    }
    assert_eq!(code, 2, "a critical finding exits 2, as check: {v}");
    // Without the password file, the encrypted one is locked and the others still open.
    let (_, v) = scan_files(&env, &dir, &[]);
    let w = v["watched"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["target"].as_str().unwrap().ends_with("certs.p12"))
        .unwrap();
    assert!(kinds(w).contains(&"wrong-password".to_owned()), "{w}");
}

#[test]
fn scans_exit_as_check_does() {
    let env = Env::new();
    env.init();
    let dir = env.path("d");
    std::fs::create_dir(&dir).unwrap();
    // Nothing found: 0.
    let r = env.run(&["scan", "files", s(&dir)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The home's own CA certificate: trusted, nothing to say.
    std::fs::write(dir.join("ca.pem"), env.ok(&["ca", "export"])).unwrap();
    let r = env.run(&["scan", "files", s(&dir)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A key no certificate matches, mode 0600: a warning (orphaned), 1.
    let root = ca("Exit Root", None);
    let (_, key) = leaf(&root, "orphan.example.test", 90, true, 3);
    let k = dir.join("orphan.key");
    std::fs::write(&k, key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = env.run(&["scan", "files", s(&dir)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Readable by others: critical, 2.
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = env.run(&["scan", "files", s(&dir)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // A scan that cannot run: 3, never a verdict.
    let r = env.run(&["scan", "files", s(&env.path("missing"))]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}

#[test]
fn a_one_off_scan_with_other_settings_leaves_the_watched_endpoint_as_it_was() {
    let env = Env::new();
    env.init();
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "machine-ssl",
        "--store",
        "web",
        "--alias",
        "lb",
        "--cn",
        "localhost",
        "--san",
        "localhost",
        "--san",
        "127.0.0.1",
    ]);
    let cert = env.write("lb.pem", env.ok(&["cert", "export", "web/lb"]));
    let key = env.write(
        "lb.key",
        env.ok(&["cert", "export", "web/lb", "--key-only"]),
    );
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Killed::new(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &addr,
                "-cert",
                s(&cert),
                "-key",
                s(&key),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    env.ok(&["endpoint", "add", "lb", "--address", &addr, "--verify"]);
    let d = env.run(&["endpoint", "diagnose", "lb"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    let before = env.ok(&["endpoint", "list", "--output", "json"]);
    assert!(!before.contains("not-tls"), "{before}");
    // The same address scanned as PostgreSQL: shown as not TLS, not recorded.
    let r = env.run(&["scan", "tls", &addr, "--starttls", "postgres"]);
    assert!(
        r.stdout.contains("not-tls") || r.stdout.contains("starttls"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("not recorded: endpoint lb") && r.stderr.contains("endpoint diagnose lb"),
        "{}",
        r.stderr
    );
    assert_eq!(env.ok(&["endpoint", "list", "--output", "json"]), before);
    let c = env.run(&["check"]);
    assert_eq!(c.code, 0, "check stays OK: {}", c.stdout);
    // A target seen for the first time is watched, and the scan says so and how to stop.
    let other = common::free_port();
    let r = env.run(&["scan", "tls", &format!("127.0.0.1:{other}")]);
    assert_eq!(
        r.code, 1,
        "an unreachable target is a warning: {}",
        r.stdout
    );
    assert!(
        r.stderr.contains("now watched") && r.stderr.contains("certherd endpoint remove"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("unreachable: unreachable"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_at_judges_a_watched_certificate_at_the_instant_asked() {
    let (env, root) = home_trusting("Check Root");
    let (cert, _) = leaf(&root, "soon.example.test", 20, true, 20);
    let dir = env.path("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("soon.pem"), cert).unwrap();
    let v = env.scan_json(&["scan", "files", s(&dir), "--output", "json"]);
    assert!(v.to_string().contains("expiring"), "{v}");
    // 90 days on, it is expired: no finding of that certificate may still say it expires.
    let r = env.run(&["check", "--at", "+90d", "--output", "json"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    let c: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let problems = c["watch_problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{c}");
    for w in problems {
        let text = w.to_string();
        assert!(
            !text.contains("expiring") && !text.contains("expires in"),
            "a finding as of the scan, not as of --at: {w}"
        );
        assert!(text.contains("expired"), "{w}");
    }
    let t = env.run(&["check", "--at", "+90d"]);
    assert!(!t.stdout.contains("expires in"), "{}", t.stdout);
}

#[test]
fn the_report_counts_the_open_alarms_that_alarms_lists() {
    let (env, root) = home_trusting("Report Root");
    // A certificate that expires in 3 days (an alarm), and a scanned file (a finding that
    // needs attention but raises no alarm of its own).
    let (cert, key) = leaf(&root, "lapsing.example.test", 3, true, 33);
    let c = env.write("lapsing.pem", &cert);
    let k = env.write("lapsing.key", &key);
    env.ok(&[
        "cert",
        "import",
        "svc/lapsing",
        "--cert",
        s(&c),
        "--key",
        s(&k),
    ]);
    let dir = env.path("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("copy.pem"), &cert).unwrap();
    env.scan_ok(&["scan", "files", s(&dir)]);
    let html = env.path("r.html");
    let said = env.ok(&["report", "--html", s(&html)]);
    let alarms = env.json(&["alarms", "--output", "json"]);
    let open = alarms.as_array().unwrap().len();
    assert!(open >= 1, "{alarms}");
    assert!(
        said.contains(&format!(", {open} open alarms)")),
        "report: {said}; alarms: {alarms}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    let section = page
        .split("<section id=\"alarms\">")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert_eq!(section.matches("<tr><td").count(), open, "{section}");
}

#[test]
fn cert_import_of_a_pkcs12_without_a_password_file_opens_it_or_asks_for_one() {
    let (env, root) = home_trusting("Import Root");
    let (cert, key) = leaf(&root, "svc.example.test", 90, true, 55);
    let cert_f = env.write("c.pem", &cert);
    let key_f = env.write("k.pem", &key);
    let locked = env.path("locked.p12");
    let open = env.path("open.p12");
    pkcs12_export(&cert_f, Some(&key_f), "secret", &locked, &[]);
    pkcs12_export(&cert_f, Some(&key_f), "", &open, &[]);
    let before = env.snapshot();
    let r = env.run(&["cert", "import", "svc/a", "--cert", s(&locked)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("a PKCS#12 file protected by a password")
            && r.stderr.contains("--password-file"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Parsing Error"), "{}", r.stderr);
    assert_eq!(env.snapshot(), before, "a refused import changes nothing");
    // An empty password opens as openssl opens it.
    env.ok(&["cert", "import", "svc/b", "--cert", s(&open)]);
    let shown = env.ok(&["cert", "show", "svc/b"]);
    assert!(shown.contains("svc.example.test"), "{shown}");
}

/// A subject holding a line break (any TLS server or file can present one) is one field of
/// one line in every human output: it cannot add a forged "CERTHERD OK" line to `check`.
#[test]
fn a_line_break_in_a_subject_cannot_forge_a_line_of_output() {
    let env = Env::new();
    env.init();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["inj.example.test".to_owned()]).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "inj.example.test");
    p.distinguished_name.push(
        rcgen::DnType::OrganizationalUnitName,
        rcgen::DnValue::Utf8String("x\nCERTHERD OK - forged line".into()),
    );
    p.not_before = now() - time::Duration::days(1);
    p.not_after = now() + time::Duration::days(5);
    let cert = p.self_signed(&key).unwrap().pem();
    let dir = env.path("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inj.pem"), cert).unwrap();
    let scan = env.run(&["scan", "files", s(&dir)]);
    let check = env.run(&["check"]);
    let list = env.run(&["cert", "list"]);
    let f = dir.join("inj.pem");
    let verify = env.run(&["verify", s(&f)]);
    for (what, out) in [
        ("scan files", &scan.stdout),
        ("check", &check.stdout),
        ("cert list", &list.stdout),
        ("verify", &verify.stdout),
    ] {
        assert!(out.contains("inj.example.test"), "{what}: {out}");
        assert!(
            !out.lines().any(|l| l.starts_with("CERTHERD OK")),
            "{what} printed a forged line:\n{out}"
        );
    }
    assert!(
        check.stdout.contains("\\x0aCERTHERD OK - forged line"),
        "{}",
        check.stdout
    );
    // JSON keeps the subject exact.
    let v = env.json(&["cert", "list", "--store", "files", "--output", "json"]);
    assert!(
        v.to_string().contains("x\\nCERTHERD OK - forged line"),
        "{v}"
    );
}
