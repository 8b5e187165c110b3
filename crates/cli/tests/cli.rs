//! The certherd binary, driven as a user would: every command of the single-node issue.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use certherd_x509::{Eku, Role};
use common::{mode, EnterpriseCa, Env};

#[test]
fn init_then_status_and_list() {
    let env = Env::new();
    env.init();
    let status = env.ok(&["status"]);
    assert!(
        status.contains("node1.example.test") && status.contains("4 ok"),
        "{status}"
    );
    let list = env.json(&["cert", "list", "--output", "json"]);
    let entries = list.as_array().unwrap();
    let names: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["store"].as_str().unwrap(),
                e["alias"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        names.contains(&"machine-ssl/machine".to_owned())
            && names.contains(&"sts/sts-signing".to_owned())
            && names.contains(&"ca/root".to_owned())
    );
    assert!(names.iter().any(|n| n.starts_with("trusted-roots/")));
    for e in entries {
        for field in [
            "store",
            "alias",
            "profile",
            "subject",
            "issuer",
            "serial",
            "not_after",
            "days_left",
            "status",
            "sha256",
        ] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        assert!(e["not_after"].as_str().unwrap().ends_with('Z'));
        assert_eq!(e["sha256"].as_str().unwrap().len(), 64);
        assert!(
            e["serial"].as_str().unwrap().len() >= 16,
            "serial of at least 64 bits"
        );
    }
    let stores = env.json(&["store", "list", "--output", "json"]);
    assert!(stores
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "backup" && s["entries"] == 0));
    assert_eq!(mode(&env.home().join("master.key")), 0o600);
}

#[test]
fn init_refuses_an_existing_home_and_changes_nothing() {
    let env = Env::new();
    env.init();
    let before = env.snapshot();
    let r = env.run(&["init", "--hostname", "other.example.test"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error:") && r.stderr.contains("already holds a certherd home"),
        "{}",
        r.stderr
    );
    assert_eq!(before, env.snapshot());
}

#[test]
fn bad_input_gets_one_clear_line_and_changes_nothing() {
    let env = Env::new();
    env.init();
    let garbage = env.write("garbage.pem", b"\x00\x01this is not a certificate\xff");
    let machine_pem = env.ok(&["cert", "export", "machine-ssl/machine"]);
    let truncated = env.write("truncated.pem", &machine_pem[..machine_pem.len() / 2]);
    let pw = env.write("pw.txt", "right-password\n");
    let wrong_pw = env.write("wrong.txt", "wrong-password\n");
    let p12 = env.path("m.p12");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--key",
        "--format",
        "p12",
        "--password-file",
        pw.to_str().unwrap(),
        "--out",
        p12.to_str().unwrap(),
    ]);
    let before = env.snapshot();
    let g = garbage.to_str().unwrap();
    let t = truncated.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["cert", "import", "hosts/x", "--cert", g],
            "garbage.pem",
        ),
        (vec!["cert", "import", "hosts/x", "--cert", t], "malformed"),
        (
            vec!["cert", "import", "hosts/x", "--cert", "missing.pem"],
            "missing.pem",
        ),
        (
            vec![
                "cert",
                "import",
                "hosts/x",
                "--cert",
                p12.to_str().unwrap(),
                "--password-file",
                wrong_pw.to_str().unwrap(),
            ],
            "wrong password",
        ),
        (vec!["cert", "show", "machine-ssl/nope"], "does not exist"),
        (
            vec!["cert", "list", "--store", "nope"],
            "store 'nope' does not exist",
        ),
        (vec!["cert", "show", "machine"], "expected STORE/ALIAS"),
        (vec!["cert", "renew", "nope/x"], "does not exist"),
        (vec!["cert", "delete", "ca/root"], "signing CA"),
        (
            vec![
                "cert",
                "export",
                "machine-ssl/machine",
                "--key",
                "--format",
                "p12",
            ],
            "password",
        ),
        (
            vec![
                "cert",
                "export",
                "machine-ssl/machine",
                "--format",
                "der",
                "--key",
            ],
            "DER holds one object",
        ),
        (
            vec![
                "cert",
                "issue",
                "--profile",
                "nope",
                "--store",
                "s",
                "--cn",
                "a.example.test",
            ],
            "unknown profile",
        ),
        (
            vec![
                "cert",
                "issue",
                "--profile",
                "host",
                "--store",
                "s",
                "--alias",
                "a",
                "--san",
                "not a name",
            ],
            "invalid subject alternative name",
        ),
        (
            vec![
                "cert",
                "issue",
                "--profile",
                "host",
                "--store",
                "s",
                "--san",
                "not a name",
            ],
            "invalid alias",
        ),
        (
            vec![
                "cert",
                "issue",
                "--profile",
                "machine-ssl",
                "--store",
                "machine-ssl",
                "--alias",
                "machine",
                "--cn",
                "x.example.test",
            ],
            "already exists",
        ),
        (vec!["trust", "add", g], "garbage.pem"),
        (vec!["trust", "add-crl", g], "garbage.pem"),
        (vec!["trust", "remove", "00"], "too short"),
        (vec!["trust", "remove", "zzzzzzzzzz"], "is not hex"),
        (vec!["verify", g], "garbage.pem"),
        (vec!["check", "--warn", "soon"], "invalid duration"),
        (vec!["cert", "list", "--at", "yesterday"], "invalid time"),
        (vec!["ca", "import-signed", g], "garbage.pem"),
    ];
    for (args, needle) in cases {
        let r = env.run(&args);
        assert_ne!(r.code, 0, "{args:?} should fail");
        assert!(
            r.stderr.starts_with("error:") || r.stderr.starts_with("error: "),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(needle),
            "{args:?}: expected '{needle}' in: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked"),
            "{args:?} panicked: {}",
            r.stderr
        );
        assert!(
            r.stderr.lines().count() <= 2,
            "{args:?}: one line and a hint at most: {}",
            r.stderr
        );
        // `check`, a monitoring plugin, also prints its UNKNOWN status line on stdout.
        let status_line = args[0] == "check"
            && r.stdout.starts_with("CERTHERD UNKNOWN - ")
            && r.stdout.lines().count() == 1;
        assert!(
            r.stdout.is_empty() || status_line,
            "{args:?} printed: {}",
            r.stdout
        );
    }
    assert_eq!(before, env.snapshot(), "a refused command changed the home");
    for args in [
        vec!["init", "--hostname", "nodots"],
        vec!["init", "--hostname", "a.example.test", "--key-algo", "dsa"],
    ] {
        let fresh = Env::new();
        let r = fresh.run(&args);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("hostname") || r.stderr.contains("key algorithm"),
            "{}",
            r.stderr
        );
        assert!(
            !fresh.home().join("certherd.db").exists(),
            "{args:?} left a home behind"
        );
    }
}

#[test]
fn keys_are_exported_only_when_asked() {
    let env = Env::new();
    env.init();
    let plain = env.ok(&["cert", "export", "machine-ssl/machine"]);
    assert!(plain.contains("BEGIN CERTIFICATE") && !plain.contains("PRIVATE KEY"));
    assert_eq!(
        plain.matches("BEGIN CERTIFICATE").count(),
        1,
        "the certificate; its chain stops below the root"
    );
    let with_root = env.ok(&["cert", "export", "machine-ssl/machine", "--with-root"]);
    assert_eq!(
        with_root.matches("BEGIN CERTIFICATE").count(),
        2,
        "certificate then its chain, root included when asked"
    );
    let out = env.path("machine-with-key.pem");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--key",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(mode(&out), 0o600);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("BEGIN PRIVATE KEY"));
    let show = env.ok(&["cert", "show", "machine-ssl/machine"]);
    assert!(!show.contains("PRIVATE KEY") && show.contains("held (sealed)"));
    let audit = env.ok(&["audit"]);
    assert!(
        audit.contains("export-key"),
        "key exports are audited: {audit}"
    );
}

#[test]
fn check_exit_codes_follow_the_instant() {
    let env = Env::new();
    env.init();
    let code = |args: &[&str]| env.run(args).code;
    assert_eq!(code(&["check"]), 0);
    assert_eq!(
        code(&["check", "--at", "+710d"]),
        1,
        "within 30 days of machine-ssl's expiry"
    );
    assert_eq!(code(&["check", "--at", "+726d"]), 2, "within 7 days");
    assert_eq!(code(&["check", "--at", "+2y"]), 2);
    assert_eq!(code(&["check", "--at", "+700d", "--warn", "40d"]), 1);
    assert_eq!(code(&["check", "--at", "garbage"]), 3, "UNKNOWN on errors");
    assert_eq!(code(&["check", "--bogus-flag"]), 3);
    let r = env.run(&["check", "--at", "+731d"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("CRITICAL: machine-ssl/machine expired")),
        "{}",
        r.stdout
    );
    let j: serde_json::Value = serde_json::from_str(
        &env.run(&["check", "--at", "+3651d", "--output", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(j["status"], "CRITICAL");
    assert_eq!(j["findings"].as_array().unwrap().len(), 4);
}

#[test]
fn renewal_moves_the_old_entry_to_backup() {
    let env = Env::new();
    env.init();
    env.ok(&["service", "add", "vpxd"]);
    let before = env.json(&["cert", "show", "vpxd/vpxd", "--output", "json"]);
    let out = env.ok(&["cert", "renew", "vpxd/vpxd"]);
    assert!(out.contains("previous kept as backup/vpxd.vpxd."), "{out}");
    let after = env.json(&["cert", "show", "vpxd/vpxd", "--output", "json"]);
    assert_ne!(before["sha256"], after["sha256"]);
    let backup = env.json(&["cert", "list", "--store", "backup", "--output", "json"]);
    assert_eq!(backup[0]["sha256"], before["sha256"]);
    assert_eq!(backup[0]["status"], "superseded");
    let dry = env.ok(&["cert", "renew", "--all", "--dry-run"]);
    assert!(dry.contains("would renew 3 entries"), "{dry}");
    let out = env.ok(&[
        "cert",
        "renew",
        "--expiring-within",
        "800d",
        "--output",
        "json",
    ]);
    let renewed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        renewed.as_array().unwrap().len(),
        2,
        "machine-ssl and vpxd expire within 800 days: {out}"
    );
    assert!(env
        .ok(&["cert", "renew", "--due"])
        .contains("nothing to renew"));
}

#[test]
fn verify_agrees_with_the_inventory() {
    let env = Env::new();
    env.init();
    let cert = env.path("m.pem");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        cert.to_str().unwrap(),
    ]);
    let c = cert.to_str().unwrap();
    assert_eq!(
        env.run(&[
            "verify",
            c,
            "--name",
            "node1.example.test",
            "--purpose",
            "server"
        ])
        .code,
        0
    );
    assert_eq!(env.run(&["verify", c, "--name", "192.0.2.10"]).code, 0);
    let r = env.run(&["verify", c, "--name", "other.example.test"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("name-mismatch")
            && r.stdout.contains("other.example.test")
            && r.stdout.contains("DNS:node1.example.test"),
        "{}",
        r.stdout
    );
    let r = env.run(&["verify", c, "--at", "+3y"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("expired"), "{}", r.stdout);
    let sts = env.path("sts.pem");
    env.ok(&[
        "cert",
        "export",
        "sts/sts-signing",
        "--out",
        sts.to_str().unwrap(),
    ]);
    // sts-signing has no EKU extension, so any purpose is allowed, as in webpki and openssl.
    assert_eq!(
        env.run(&["verify", sts.to_str().unwrap(), "--purpose", "client"])
            .code,
        0
    );
    let vpxd = env.path("vpxd.pem");
    env.ok(&["service", "add", "vpxd"]);
    env.ok(&[
        "cert",
        "export",
        "vpxd/vpxd",
        "--out",
        vpxd.to_str().unwrap(),
    ]);
    let r = env.run(&["verify", vpxd.to_str().unwrap(), "--purpose", "server"]);
    assert!(
        r.code == 1 && r.stdout.contains("serverAuth"),
        "{}",
        r.stdout
    );
    let other = EnterpriseCa::new();
    let other_root = env.write("other-root.pem", other.pem());
    let r = env.run(&["verify", c, "--trusted", other_root.to_str().unwrap()]);
    assert!(
        r.code == 1 && r.stdout.contains("not trusted"),
        "{}",
        r.stdout
    );
}

#[test]
fn hybrid_mode_imports_a_custom_machine_certificate() {
    let env = Env::new();
    env.init();
    let csr_dir = env.path("csr");
    let out = env.ok(&[
        "csr",
        "create",
        "--cn",
        "node1.example.test",
        "--san",
        "192.0.2.10",
        "--out",
        csr_dir.to_str().unwrap(),
    ]);
    assert!(
        out.contains("DNS:node1.example.test, IP:192.0.2.10"),
        "{out}"
    );
    assert_eq!(mode(&csr_dir.join("key.pem")), 0o600);
    let r = env.run(&[
        "csr",
        "create",
        "--cn",
        "192.0.2.10",
        "--out",
        env.path("csr2").to_str().unwrap(),
    ]);
    assert!(
        r.code != 0 && r.stderr.contains("CN must be the FQDN"),
        "{}",
        r.stderr
    );

    let ent = EnterpriseCa::new();
    let root = env.write("ent-root.pem", ent.pem());
    let csr = std::fs::read(csr_dir.join("csr.pem")).unwrap();
    let good = env.write(
        "good.pem",
        ent.sign(
            &csr,
            &["node1.example.test", "192.0.2.10"],
            vec![Eku::ServerAuth, Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    let wrong_name = env.write(
        "wrong-name.pem",
        ent.sign(
            &csr,
            &["other.example.test"],
            vec![Eku::ServerAuth, Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    let client_only = env.write(
        "client-only.pem",
        ent.sign(
            &csr,
            &["node1.example.test"],
            vec![Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    let key = csr_dir.join("key.pem");
    let k = key.to_str().unwrap();
    let other_key = env.path("other-key");
    env.ok(&[
        "csr",
        "create",
        "--cn",
        "x.example.test",
        "--out",
        other_key.to_str().unwrap(),
    ]);

    let before = env.snapshot();
    for (cert, key, needle) in [
        (&good, k, "issuer not trusted"),
        (
            &good,
            other_key.join("key.pem").to_str().unwrap(),
            "does not match",
        ),
    ] {
        let r = env.run(&[
            "cert",
            "import",
            "machine-ssl/machine",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key,
        ]);
        assert!(
            r.code == 1 && r.stderr.contains(needle),
            "{needle}: {}",
            r.stderr
        );
    }
    assert_eq!(before, env.snapshot());
    env.ok(&["trust", "add", root.to_str().unwrap()]);
    let before = env.snapshot();
    for (cert, needle) in [
        (&wrong_name, "does not cover the node's hostname"),
        (&client_only, "does not fit profile machine-ssl"),
    ] {
        let r = env.run(&[
            "cert",
            "import",
            "machine-ssl/machine",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            k,
        ]);
        assert!(
            r.code == 1 && r.stderr.contains(needle),
            "{needle}: {}",
            r.stderr
        );
    }
    assert_eq!(before, env.snapshot());
    // A bundle in any order: root first, then the leaf.
    let bundle = env.write(
        "bundle.pem",
        format!("{}{}", ent.pem(), std::fs::read_to_string(&good).unwrap()),
    );
    env.ok(&[
        "cert",
        "import",
        "machine-ssl/machine",
        "--cert",
        bundle.to_str().unwrap(),
        "--key",
        k,
    ]);
    let m = env.json(&["cert", "show", "machine-ssl/machine", "--output", "json"]);
    assert_eq!(m["source"], "imported");
    assert_eq!(m["auto_renew"], false);
    assert!(m["issuer"].as_str().unwrap().contains("Example Corp Root"));
    assert!(env.ok(&["cert", "list"]).contains("(manual renewal)"));
    let r = env.run(&["cert", "renew", "machine-ssl/machine"]);
    assert!(r.code == 1 && r.stderr.contains("imported"), "{}", r.stderr);
    let backup = env.json(&["cert", "list", "--store", "backup", "--output", "json"]);
    assert_eq!(
        backup.as_array().unwrap().len(),
        1,
        "the certherd-issued machine-ssl is kept"
    );
}

#[test]
fn subordinate_mode_completes_with_the_enterprise_signature() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "node2.example.test",
        "--mode",
        "subordinate",
    ]);
    let r = env.run(&["service", "add", "vpxd"]);
    assert!(
        r.code == 1 && r.stderr.contains("not ready"),
        "{}",
        r.stderr
    );
    let csr = std::fs::read(env.home().join("ca.csr")).unwrap();
    let ent = EnterpriseCa::new();
    let sub = env.write(
        "sub.pem",
        ent.sign(&csr, &[], vec![], Role::Ca { path_len: Some(0) }, 1825),
    );
    let root = env.write("root.pem", ent.pem());
    let r = env.run(&["ca", "import-signed", sub.to_str().unwrap()]);
    assert!(
        r.code == 1 && r.stderr.contains("enterprise root"),
        "{}",
        r.stderr
    );
    env.ok(&[
        "ca",
        "import-signed",
        sub.to_str().unwrap(),
        "--chain",
        root.to_str().unwrap(),
    ]);
    let machine = env.path("m.pem");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        machine.to_str().unwrap(),
    ]);
    let out = env.ok(&[
        "verify",
        machine.to_str().unwrap(),
        "--trusted",
        root.to_str().unwrap(),
        "--name",
        "node2.example.test",
    ]);
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        3,
        "leaf, certherd CA, enterprise root: {out}"
    );
    let exported_root = env.ok(&["ca", "export"]);
    assert_eq!(exported_root, ent.pem());
    let sts = env.json(&["cert", "show", "sts/sts-signing", "--output", "json"]);
    let ca = env.json(&["cert", "show", "ca/intermediate", "--output", "json"]);
    assert_eq!(
        sts["not_after"], ca["not_after"],
        "sts-signing (10y) is capped at the 5-year subordinate CA"
    );
}

#[test]
fn rotation_keeps_every_certificate_trusted() {
    let env = Env::new();
    env.init();
    env.ok(&["service", "add", "vpxd"]);
    // A revoked entry is not reissued: the rotation says so, and it stays revoked.
    env.ok(&["service", "add", "gone"]);
    env.ok(&["cert", "revoke", "gone/gone", "--reason", "keyCompromise"]);
    let revoked = env.json(&["cert", "show", "gone/gone", "--output", "json"]);
    let old_root = env.ok(&["ca", "export"]);
    let out = env.ok(&["ca", "rotate"]);
    assert!(out.contains("retired"), "{out}");
    assert!(!out.contains("reissued gone/gone"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("  skipped  gone/gone: revoked;")
                && l.contains("`certherd cert renew gone/gone`")),
        "{out}"
    );
    assert!(out.contains("but 1 revoked entry left as it is"), "{out}");
    let after = env.json(&["cert", "show", "gone/gone", "--output", "json"]);
    assert_eq!(after["serial"], revoked["serial"]);
    assert_eq!(after["status"], "revoked", "{after}");
    let new_root = env.write("new-root.pem", env.ok(&["ca", "export"]));
    assert_ne!(old_root, std::fs::read_to_string(&new_root).unwrap());
    for e in ["machine-ssl/machine", "sts/sts-signing", "vpxd/vpxd"] {
        let p = env.path("e.pem");
        env.ok(&["cert", "export", e, "--out", p.to_str().unwrap()]);
        env.ok(&[
            "verify",
            p.to_str().unwrap(),
            "--trusted",
            new_root.to_str().unwrap(),
        ]);
        env.ok(&["verify", p.to_str().unwrap()]);
    }
    let trust = env.json(&["trust", "list", "--output", "json"]);
    assert_eq!(trust.as_array().unwrap().len(), 1);
}

#[test]
fn trust_and_crl_management() {
    let env = Env::new();
    env.init();
    let ent = EnterpriseCa::new();
    let root = env.write("root.pem", ent.pem());
    assert!(env
        .ok(&["trust", "add", root.to_str().unwrap()])
        .contains("trusted trusted-roots/example-corp-root-"));
    assert!(env
        .ok(&["trust", "add", root.to_str().unwrap()])
        .contains("already trusted"));
    let machine = env.write("m.pem", env.ok(&["cert", "export", "machine-ssl/machine"]));
    let r = env.run(&["trust", "add", machine.to_str().unwrap()]);
    assert!(
        r.code == 1 && r.stderr.contains("is not a CA certificate"),
        "{}",
        r.stderr
    );
    // One format for people: trust add, trust list and ca show print SHA-256 as openssl
    // and vSphere do (upper case, colons); JSON keeps plain lower-case hex.
    let fp = certherd_x509::hex_colon(&certherd_x509::sha256(&ent.cert));
    assert_eq!(fp, fp.to_ascii_uppercase());
    let listed = env.ok(&["trust", "list"]);
    assert!(listed.contains(&fp), "{listed}");
    let ca_sha = env.json(&["ca", "show", "--output", "json"])["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(ca_sha, ca_sha.to_ascii_lowercase());
    let ca_fp = ca_sha
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert!(env.ok(&["ca", "show"]).contains(&ca_fp));
    assert!(listed.contains(&ca_fp), "{listed}");
    env.ok(&["trust", "remove", &fp[..23]]);
    assert!(!env.ok(&["trust", "list"]).contains(&fp));
    let ours = env.json(&["trust", "list", "--output", "json"]);
    let r = env.run(&["trust", "remove", ours[0]["sha256"].as_str().unwrap()]);
    assert!(
        r.code == 1 && r.stderr.contains("anchors the signing CA"),
        "{}",
        r.stderr
    );
}

#[test]
fn alarms_are_recorded_with_raised_and_cleared_times() {
    let env = Env::new();
    env.init();
    std::fs::write(
        env.home().join("certherd.toml"),
        "[profiles.host]\nlifetime = \"20d\"\n",
    )
    .unwrap();
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
    let open = env.json(&["alarms", "--output", "json"]);
    let a = open.as_array().unwrap();
    assert_eq!(a.len(), 1, "{open}");
    assert_eq!(
        (a[0]["kind"].as_str(), a[0]["subject"].as_str()),
        (Some("expiring-30d"), Some("hosts/esx1"))
    );
    assert!(a[0]["raised_at"].is_string() && a[0]["cleared_at"].is_null());
    // Renewed with a longer lifetime: the old entry goes to backup and its alarm clears.
    std::fs::write(env.home().join("certherd.toml"), "").unwrap();
    env.ok(&["cert", "renew", "hosts/esx1"]);
    assert_eq!(
        env.json(&["alarms", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let all = env.json(&["alarms", "--all", "--output", "json"]);
    assert!(all[0]["cleared_at"].is_string(), "{all}");
    assert!(env.ok(&["alarms", "--all"]).contains("expiring-30d"));
}

/// A real HTTP listener: answers 500 to the first request, then 200; hands over every body.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/certherd", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, sock) in listener.incoming().enumerate() {
            let Ok(mut sock) = sock else { continue };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tx.send(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
    });
    (url, rx)
}

#[test]
fn alarm_changes_reach_a_webhook_with_retries() {
    let env = Env::new();
    env.init();
    let (url, bodies) = webhook_receiver();
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[profiles.host]\nlifetime = \"20d\"\n\n[[webhooks]]\nurl = \"{url}\"\nretries = 2\nbackoff = \"1s\"\n"),
    )
    .unwrap();
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
    env.ok(&["alarms"]);
    let first = bodies
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let retried = bodies
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    assert!(first.starts_with("500"), "{first}");
    assert!(retried.starts_with("200"), "{retried}");
    let body: serde_json::Value = serde_json::from_str(
        retried
            .split_once(' ')
            .unwrap()
            .1
            .split_once(' ')
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        (
            body["event"].as_str(),
            body["kind"].as_str(),
            body["subject"].as_str()
        ),
        (Some("raised"), Some("expiring-30d"), Some("hosts/esx1"))
    );
    assert_eq!(body["node"], "node1.example.test");
    // An unreachable receiver is reported, and the alarm is still recorded.
    std::fs::write(
        env.home().join("certherd.toml"),
        "[[webhooks]]\nurl = \"http://127.0.0.1:9/\"\nretries = 0\n",
    )
    .unwrap();
    env.ok(&["cert", "renew", "hosts/esx1"]);
    let r = env.run(&["alarms"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.contains("cleared expiring-30d hosts/esx1")
            && r.stderr.contains("warning: webhook"),
        "{}",
        r.stderr
    );
    assert!(env.ok(&["alarms", "--all"]).contains("hosts/esx1"));
}

#[test]
fn an_open_metrics_endpoint_is_said_in_help_and_warned_at_host_add() {
    let env = Env::new();
    env.init();
    let help = env.ok(&["server", "--help"]);
    assert!(
        help.contains("require_token") && help.contains("every host, store and alias"),
        "{help}"
    );
    let r = env.run(&["host", "add", "esx1.example.test", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("/metrics is readable without a credential"),
        "{}",
        r.stderr
    );
    // JSON on stdout stays clean for scripts.
    assert!(serde_json::from_str::<serde_json::Value>(&r.stdout).is_ok());
    std::fs::write(
        env.home().join("certherd.toml"),
        "[metrics]\nrequire_token = true\n",
    )
    .unwrap();
    let r = env.run(&["host", "add", "esx2.example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("/metrics"), "{}", r.stderr);
}

#[test]
fn outputs_never_replace_devices_fifos_links_or_directories() {
    let env = Env::new();
    env.init();
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let real = env.write("real.pem", "keep me");
    let link = env.path("link.pem");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for (args, kind) in [
        (
            vec![
                "cert",
                "export",
                "machine-ssl/machine",
                "--key",
                "--out",
                "/dev/null",
            ],
            "a character device",
        ),
        (
            vec![
                "cert",
                "export",
                "machine-ssl/machine",
                "--out",
                fifo.to_str().unwrap(),
            ],
            "a FIFO",
        ),
        (
            vec!["report", "--html", link.to_str().unwrap()],
            "a symbolic link",
        ),
        (vec!["ca", "export", "--out", "/"], "a directory"),
    ] {
        let r = env.run(&args);
        assert!(
            r.code != 0 && r.stderr.contains(&format!("is {kind}, not a regular file")),
            "{args:?}: {} {}",
            r.code,
            r.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// `db copy` copies a home's SQLite file: on a home whose store is already PostgreSQL
/// (flag, environment or `[database] url`) it refuses, naming the database (password
/// masked) and what it copies, instead of copying a stale certherd.db.
#[test]
fn db_copy_refuses_a_home_already_on_postgresql() {
    let env = Env::new();
    env.init();
    let live = "postgres://certherd:s3cret@127.0.0.1:1/live";
    let to = "postgres://certherd:other@127.0.0.1:1/copy";
    let check = |r: common::Run, how: &str| {
        assert_eq!(r.code, 2, "{how}: {} {}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains("already PostgreSQL (postgres://certherd:***@127.0.0.1:1/live)")
                && r.stderr.contains("certherd.db")
                && !r.stderr.contains("s3cret"),
            "{how}: {}",
            r.stderr
        );
    };
    check(
        env.run(&["--database", live, "db", "copy", "--to", to]),
        "flag",
    );
    check(
        finish_with_env(
            &env,
            &["db", "copy", "--to", to],
            "CERTHERD_DATABASE_URL",
            live,
        ),
        "environment",
    );
    let toml = env.home().join("certherd.toml");
    let before = std::fs::read_to_string(&toml).unwrap_or_default();
    std::fs::write(&toml, format!("{before}\n[database]\nurl = \"{live}\"\n")).unwrap();
    check(env.run(&["db", "copy", "--to", to]), "certherd.toml");
}

fn finish_with_env(env: &Env, args: &[&str], key: &str, value: &str) -> common::Run {
    common::finish(env.cmd(args).env(key, value).output().unwrap())
}

/// A home given explicitly (--home, CERTHERD_HOME) and a server (--server,
/// CERTHERD_SERVER) together: refused in one line naming both and how to pick, never acted
/// on for either. Empty CERTHERD_SERVER / CERTHERD_CREDENTIAL count as unset.
#[test]
fn an_explicit_home_and_a_server_together_are_refused_and_empty_variables_are_unset() {
    let env = Env::new();
    env.init();
    std::fs::write(env.path("ops.token"), "not-a-real-token").unwrap();
    let r = common::finish(
        env.cmd(&["host", "add", "envtest.example.com", "--ip", "192.0.2.44"])
            .env("CERTHERD_SERVER", "https://127.0.0.1:1")
            .env("CERTHERD_CREDENTIAL", env.path("ops.token"))
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("--home {}", env.home().display()))
            && r.stderr.contains("CERTHERD_SERVER=https://127.0.0.1:1")
            && r.stderr.contains("unset CERTHERD_SERVER")
            && r.stderr.contains("drop --home"),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.json(&["host", "list", "--output", "json"]),
        serde_json::json!([])
    );

    // CERTHERD_HOME with --server on the command line: the same refusal.
    let r = common::finish(
        std::process::Command::new(env!("CARGO_BIN_EXE_certherd"))
            .args([
                "--server",
                "https://127.0.0.1:1",
                "--credential",
                "ops.token",
            ])
            .args(["host", "list"])
            .env("CERTHERD_HOME", env.home())
            .current_dir(env.dir.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("CERTHERD_HOME=")
            && r.stderr.contains("--server https://127.0.0.1:1")
            && r.stderr.contains("drop --server")
            && r.stderr.contains("unset CERTHERD_HOME"),
        "{}",
        r.stderr
    );

    // Empty variables are unset: the home is used.
    for var in ["CERTHERD_SERVER", "CERTHERD_CREDENTIAL"] {
        let r = common::finish(
            env.cmd(&["host", "list", "--output", "json"])
                .env(var, "")
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 0, "{var}=: {}", r.stderr);
        assert_eq!(r.stdout.trim(), "[]", "{var}=");
    }
}

/// `--at -1y` is a time a year ago, as `--at=-1y` is: clap takes the leading hyphen as
/// the value, not as an option, for `cert list`, `check` and `verify`.
#[test]
fn at_takes_a_negative_duration_as_a_separate_argument() {
    let env = Env::new();
    env.init();
    let ca = env.write("ca.pem", env.ok(&["ca", "export"]));
    let ca = ca.to_str().unwrap();
    for args in [
        &["cert", "list", "--output", "json"][..],
        &["check", "--output", "json"],
        &["verify", ca, "--output", "json"],
    ] {
        let joined: Vec<&str> = args.iter().copied().chain(["--at=-1y"]).collect();
        let apart: Vec<&str> = args.iter().copied().chain(["--at", "-1y"]).collect();
        let a = env.run(&joined);
        let b = env.run(&apart);
        // `check` answers with plugin codes (2 is CRITICAL): the parse is judged by stderr.
        assert!(!b.stderr.contains("error:"), "{apart:?}: {}", b.stderr);
        assert_eq!(a.code, b.code, "{apart:?}: {}", b.stderr);
        // A year ago the home's certificates were not yet valid.
        assert!(b.stdout.contains("not"), "{apart:?}: {}", b.stdout);
    }
    let list = env.ok(&["cert", "list", "--at", "-1y"]);
    assert!(list.contains("not-yet-valid"), "{list}");
    let r = env.run(&["cert", "list", "--at", "-200y"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("at most 100y"), "{}", r.stderr);
}

/// `host add` takes at most 64 addresses and `cert issue` at most 100 names: one line
/// says so, and nothing is enrolled or issued.
#[test]
fn host_addresses_and_certificate_names_are_capped() {
    let env = Env::new();
    env.init();
    let before = env.snapshot();
    let ips: Vec<String> = (0..65u32)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
        .collect();
    let mut args = vec!["host", "add", "esx1.example.test"];
    for ip in &ips {
        args.extend(["--ip", ip]);
    }
    let r = env.run(&args);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.stderr.trim(),
        "error: 65 IP addresses given for one host: at most 64 are accepted"
    );
    let sans: Vec<String> = (0..101).map(|i| format!("n{i}.example.test")).collect();
    let mut args = vec!["cert", "issue", "--profile", "service", "--store", "svc"];
    for san in &sans {
        args.extend(["--san", san]);
    }
    let r = env.run(&args);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.lines().count() == 1 && r.stderr.contains("at most 100 subject alternative names"),
        "{}",
        r.stderr
    );
    assert_eq!(env.snapshot(), before);
    // At the caps, both work.
    let mut args = vec!["host", "add", "esx1.example.test"];
    for ip in &ips[..64] {
        args.extend(["--ip", ip]);
    }
    env.ok(&args);
    let mut args = vec!["cert", "issue", "--profile", "service", "--store", "svc"];
    for san in &sans[..100] {
        args.extend(["--san", san]);
    }
    env.ok(&args);
}

/// A local `host add --ttl` has the admin API's bound, 1h to 720h, said in the error and
/// in --help.
#[test]
fn host_add_ttl_is_bounded_as_through_the_api() {
    let env = Env::new();
    env.init();
    for ttl in ["9999d", "721h", "30m"] {
        let r = env.run(&["host", "add", "esx1.example.test", "--ttl", ttl]);
        assert_eq!(r.code, 2, "{ttl}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("--ttl {ttl}")) && r.stderr.contains("from 1h to 720h"),
            "{ttl}: {}",
            r.stderr
        );
    }
    assert_eq!(
        env.json(&["host", "list", "--output", "json"]),
        serde_json::json!([])
    );
    env.ok(&["host", "add", "esx1.example.test", "--ttl", "720h"]);
    let help = env.ok(&["host", "add", "--help"]);
    assert!(help.contains("from 1h to 720h"), "{help}");
}

/// A common name over RFC 5280's 64 characters is refused at issuance, naming --cn and
/// the limit; `verify` flags an existing one as a warning that does not fail it.
#[test]
fn a_common_name_over_64_characters_is_refused_and_flagged() {
    let env = Env::new();
    env.init();
    let long = "c".repeat(200);
    // A CSR for the enterprise CA too: refused before a key is made, nothing written.
    let out = env.path("csr-long");
    for cn in [long.as_str(), "   "] {
        let r = env.run(&["csr", "create", "--cn", cn, "--out", out.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("1 to 64 characters"), "{}", r.stderr);
        assert!(!out.join("key.pem").exists());
    }
    // `cert issue --profile service --store svc --alias r1` with these names.
    let issue = |names: &[&str]| {
        let mut args = vec![
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--alias",
            "r1",
        ];
        args.extend(names);
        env.run(&args)
    };
    let r = issue(&["--cn", &long, "--san", "r1.example.com"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--cn is 200 characters")
            && r.stderr.contains("at most 64")
            && r.stderr.contains("ub-common-name"),
        "{}",
        r.stderr
    );
    // An empty --cn: RFC 5280's common name is 1 to 64 characters.
    let r = issue(&["--cn", "", "--san", "r1.example.com"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--cn is empty") && r.stderr.contains("1 to 64"),
        "{}",
        r.stderr
    );
    // Without --cn, the first --san becomes the common name: the same limit, said so.
    let san = format!("{}.example.com", "d".repeat(60));
    let r = issue(&["--san", &san]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the first --san") && r.stderr.contains("--cn"),
        "{}",
        r.stderr
    );
    let listed = env.json(&["cert", "list", "--output", "json"]);
    assert!(!listed.to_string().contains("svc"), "{listed}");

    // A certificate made elsewhere with a 72-character CN: verify passes and flags it.
    let ca = EnterpriseCa::new();
    let key = certherd_x509::PrivateKey::generate(certherd_x509::KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut spec = certherd_x509::CertSpec {
        common_name: san.clone(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(90),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth],
    }
    .with_names([san.as_str()])
    .unwrap();
    spec.organization = None;
    let der = certherd_x509::issue(
        &spec,
        &key.public_key_spki(),
        &certherd_x509::Issuer {
            cert: &ca.cert,
            key: &ca.key,
        },
    )
    .unwrap();
    let cert = env.write(
        "long.pem",
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &der),
    );
    let root = env.write("root.pem", ca.pem());
    env.ok(&["trust", "add", root.to_str().unwrap()]);
    let r = env.run(&["verify", cert.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(": OK")
            && r.stdout.contains("long-common-name")
            && r.stdout.contains("72 characters"),
        "{}",
        r.stdout
    );
}

/// Messages that called a thing by another name or could not be acted on: a credential's
/// name is called so; an empty credential file says what it should hold.
#[test]
fn credential_messages_name_what_they_mean() {
    let env = Env::new();
    env.init();
    let r = env.run(&["admin", "credential", "bad name!"]);
    assert!(
        r.code != 0 && r.stderr.contains("invalid credential name 'bad name!'"),
        "{}",
        r.stderr
    );
    let empty = env.write("empty.tok", "");
    let r = common::finish(
        std::process::Command::new(env!("CARGO_BIN_EXE_certherd"))
            .args(["--server", "https://127.0.0.1:1", "--credential"])
            .arg(&empty)
            .args(["host", "list"])
            .env_remove("CERTHERD_HOME")
            .env("CERTHERD_CONFIG_DIR", env.path("config"))
            .current_dir(env.dir.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "empty.tok: holds neither an admin bearer token nor a client certificate with its key (it is empty)"
        ) && r.stderr.contains("hint: save the output of `certherd admin credential NAME`"),
        "{}",
        r.stderr
    );
}

/// A home without certherd.db (its inventory in PostgreSQL) whose certherd.toml gets a
/// `[database]` setting wrong: the TOML error is said (file, field, expected), not "holds
/// a master key but no certherd.db".
#[test]
fn a_bad_database_setting_is_said_before_the_missing_inventory() {
    let env = Env::new();
    env.init();
    std::fs::remove_file(env.home().join("certherd.db")).unwrap();
    for (setting, said) in [
        ("max_connections = -1", "max_connections"),
        ("max_connections = \"5\"", "max_connections"),
        ("max_conections = 5", "unknown field `max_conections`"),
    ] {
        std::fs::write(
            env.home().join("certherd.toml"),
            format!("[database]\n{setting}\n"),
        )
        .unwrap();
        let r = env.run(&["cert", "list"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("certherd.toml: ")
                && r.stderr.contains(said)
                && !r.stderr.contains("master key"),
            "{setting}: {}",
            r.stderr
        );
    }
}

/// `completions` and the hidden `man` read the command tree only: no home is made or
/// opened, and a --server (with or without a home beside it, without a credential) changes
/// nothing about them, since neither runs anywhere but here.
#[test]
fn completions_and_man_need_no_home_and_no_server() {
    let env = Env::new();
    let bin = env!("CARGO_BIN_EXE_certherd");
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = std::process::Command::new(bin);
        c.args(args)
            .env_remove("CERTHERD_HOME")
            .env_remove("CERTHERD_SERVER")
            .env_remove("CERTHERD_CREDENTIAL")
            .current_dir(env.dir.path());
        for (k, v) in envs {
            c.env(k, v);
        }
        common::finish(c.output().unwrap())
    };
    let home = env.home();
    let home = home.to_str().unwrap();
    for (args, envs) in [
        (vec!["completions", "bash"], vec![]),
        (vec!["--home", home, "completions", "bash"], vec![]),
        (
            vec!["--server", "https://127.0.0.1:1", "completions", "bash"],
            vec![],
        ),
        (
            vec!["completions", "bash"],
            vec![
                ("CERTHERD_HOME", home),
                ("CERTHERD_SERVER", "https://127.0.0.1:1"),
            ],
        ),
    ] {
        let r = run(&args, &envs);
        assert_eq!(r.code, 0, "{args:?} {envs:?}: {}", r.stderr);
        assert!(
            r.stdout.contains("complete -F _certherd") && r.stderr.is_empty(),
            "{args:?} {envs:?}: {}",
            r.stderr
        );
    }
    for shell in ["zsh", "fish"] {
        let r = run(&["completions", shell], &[]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("renew"), "{shell}");
    }
    let r = run(&["completions", "tcsh"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bash"), "{}", r.stderr);

    let r = run(
        &["--server", "https://127.0.0.1:1", "man", "--out", "pages"],
        &[("CERTHERD_HOME", home)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed: Vec<&str> = r.stdout.lines().collect();
    assert!(
        listed
            .iter()
            .any(|l| l.ends_with("pages/certherd-cert-issue.1")),
        "{}",
        r.stdout
    );
    let written = std::fs::read_dir(env.path("pages")).unwrap().count();
    assert_eq!(written, listed.len());
    assert!(!env.home().exists(), "a home was made");

    // Hidden from the help an admin reads; `completions` is in it.
    let help = run(&["--help"], &[]).stdout;
    assert!(
        help.contains("completions") && !help.contains("  man "),
        "{help}"
    );
}

/// `--out` into directories that do not exist yet: they are made, 0700 above a file that
/// holds a key (a key export, an admin client certificate, a CSR's key) and 0755 above
/// the rest; a layout's directories above it too.
#[test]
fn out_makes_the_missing_directories() {
    let env = Env::new();
    env.init();
    let out = |p: &str| env.path(p).to_str().unwrap().to_owned();
    env.ok(&["ca", "export", "--out", &out("pub/ca/root.pem")]);
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        &out("pub/certs/machine.pem"),
    ]);
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--key",
        "--out",
        &out("keys/tls/machine.pem"),
    ]);
    env.ok(&[
        "admin",
        "credential",
        "alice",
        "--client-cert",
        "--out",
        &out("creds/admin/alice.pem"),
    ]);
    env.ok(&[
        "csr",
        "create",
        "--cn",
        "x.example.test",
        "--out",
        &out("csrs/x/new"),
    ]);
    for (dir, want) in [
        ("pub", 0o755),
        ("pub/ca", 0o755),
        ("pub/certs", 0o755),
        ("keys", 0o700),
        ("keys/tls", 0o700),
        ("creds/admin", 0o700),
        ("csrs", 0o700),
        ("csrs/x/new", 0o700),
    ] {
        // Never more than wanted, whatever the umask.
        assert_eq!(
            mode(&env.path(dir)) & !want,
            0,
            "{dir}: {:o}",
            mode(&env.path(dir))
        );
    }
    assert_eq!(mode(&env.path("keys/tls/machine.pem")), 0o600);
    assert!(env.path("pub/ca/root.pem").is_file());
    assert!(env.path("csrs/x/new/key.pem").is_file());
}

/// `cert issue --from FILE`: one certificate a line, printed as `cert issue` prints one;
/// a bad line, an unknown key or a repeated entry refused naming the line, nothing issued.
#[test]
fn issue_from_a_file_of_json_lines() {
    let env = Env::new();
    env.init();
    let good = env.write(
        "good.jsonl",
        concat!(
            r#"{"profile": "host", "store": "bulk", "alias": "b1", "san": ["b1.example.test"]}"#,
            "\n\n",
            r#"{"profile": "service", "store": "bulk", "cn": "b2", "key-algo": "ecdsa-p384"}"#,
            "\n",
        ),
    );
    let out = env.ok(&["cert", "issue", "--from", good.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("issued bulk/b1  serial "), "{out}");
    assert!(lines[1].starts_with("issued bulk/b2  serial "), "{out}");
    let shown = env.json(&["cert", "show", "bulk/b2", "--output", "json"]);
    assert_eq!(shown["profile"], "service", "{shown}");

    // Refused, naming the line: nothing of the file is issued.
    let before = env.snapshot();
    for (name, text, expect) in [
        (
            "unknown.jsonl",
            "{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u1\"}\n{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u2\", \"sans\": []}\n",
            "line 2: unknown field `sans`",
        ),
        (
            "broken.jsonl",
            "{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u1\"}\n\n{\"profile\": \"service\",\n",
            "line 3: ",
        ),
        (
            "dup.jsonl",
            "{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u1\"}\n{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u2\"}\n{\"profile\": \"host\", \"store\": \"bulk\", \"alias\": \"u1\"}\n",
            "line 3: bulk/u1 is named on line 1 too",
        ),
        (
            "algo.jsonl",
            "{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u1\", \"key-algo\": \"dsa-1024\"}\n",
            "line 1: key-algo: ",
        ),
    ] {
        let path = env.write(name, text);
        let r = env.run(&["cert", "issue", "--from", path.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}: {}", r.stdout);
        assert!(r.stderr.contains(expect), "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(path.to_str().unwrap()),
            "{name}: {}",
            r.stderr
        );
    }
    // An entry that exists already: the node refuses the batch whole.
    let again = env.write(
        "again.jsonl",
        "{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"u1\"}\n{\"profile\": \"service\", \"store\": \"bulk\", \"alias\": \"b1\"}\n",
    );
    let r = env.run(&["cert", "issue", "--from", again.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("lines 1-2") && r.stderr.contains("bulk/b1"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(env.snapshot(), before, "a refused file issued something");

    // --from and a request's flags together: a usage error.
    let r = env.run(&[
        "cert",
        "issue",
        "--from",
        good.to_str().unwrap(),
        "--store",
        "x",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Standard input, JSON output: one array of the entries, as `cert list` shows them.
    let mut child = env
        .cmd(&["cert", "issue", "--from", "-", "--output", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..3 {
            writeln!(
                stdin,
                r#"{{"profile": "service", "store": "piped", "alias": "p{i}", "san": ["p{i}.example.test"]}}"#
            )
            .unwrap();
        }
    }
    let r = common::finish(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["store"], "piped");
        assert_eq!(item["alias"], format!("p{i}"));
        assert_eq!(item["subject"], format!("CN=p{i}.example.test"));
        assert_eq!(item["has_key"], true);
    }
    let listed = env.json(&["cert", "list", "--store", "piped", "--output", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}
