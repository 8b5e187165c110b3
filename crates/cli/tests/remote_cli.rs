//! `certherd --server URL --credential FILE ...` against a real server: the first contact
//! pins the CA only with the right --ca-fingerprint (never under CI without one), and the
//! commands print what they print on the server's home and exit as they do.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::Env;

struct Remote<'a> {
    env: &'a Env,
    url: String,
    config: std::path::PathBuf,
    _server: common::Killed,
}

impl Remote<'_> {
    /// certherd against the server with `credential` (CI=true, no terminal).
    fn run(&self, credential: &str, fp: Option<&str>, args: &[&str]) -> common::Run {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_certherd"));
        c.args(["--server", &self.url, "--credential", credential]);
        if let Some(fp) = fp {
            c.args(["--ca-fingerprint", fp]);
        }
        c.args(args)
            .env("CI", "true")
            .env("CERTHERD_CONFIG_DIR", &self.config)
            .env_remove("CERTHERD_HOME")
            .current_dir(self.env.dir.path())
            .stdin(std::process::Stdio::null());
        common::finish(c.output().unwrap())
    }
}

/// A home with an admin bearer token in `ops.token`.
fn init_with_admin_token(env: &Env) {
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let token = env.ok(&["admin", "credential", "ops", "--role", "admin"]);
    std::fs::write(env.path("ops.token"), token.trim()).unwrap();
}

/// The home's server on a free port, and its root's SHA-256 to pin.
fn serve(env: &Env) -> (Remote<'_>, String) {
    let fp = env.json(&["ca", "show", "--output", "json"])["root_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let remote = Remote {
        env,
        url: format!("https://{addr}"),
        config: env.path("config"),
        _server: common::start_server(env, &addr),
    };
    (remote, fp)
}

#[test]
fn remote_commands_pin_the_ca_then_print_and_exit_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    env.ok(&[
        "admin",
        "credential",
        "alice",
        "--role",
        "admin",
        "--client-cert",
        "--out",
        env.path("alice.pem").to_str().unwrap(),
    ]);
    let reader = env.ok(&["admin", "credential", "dash"]);
    std::fs::write(env.path("dash.token"), reader.trim()).unwrap();
    let (remote, fp) = serve(&env);

    // First contact: refused under CI without a fingerprint, and with a wrong one; nothing
    // is pinned or sent.
    let r = remote.run("ops.token", None, &["host", "list"]);
    assert!(
        r.code == 1 && r.stderr.contains("not trusted without --ca-fingerprint"),
        "{}",
        r.stderr
    );
    let r = remote.run("ops.token", Some(&"ab".repeat(32)), &["host", "list"]);
    assert!(
        r.code == 1 && r.stderr.contains("not the --ca-fingerprint given"),
        "{}",
        r.stderr
    );
    assert!(!env.path("config").join("servers").exists());
    // The right one pins it (colons and case as `host add` prints them will do).
    let colons = certherd_x509::thumbprint(&fp);
    let r = remote.run("ops.token", Some(&colons), &["host", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("pinned"), "{}", r.stderr);
    // Later calls need no fingerprint; a different one is refused.
    assert_eq!(remote.run("alice.pem", None, &["host", "list"]).code, 0);
    let r = remote.run("ops.token", Some(&"cd".repeat(32)), &["host", "list"]);
    assert!(
        r.code == 1 && r.stderr.contains("pinned to another CA"),
        "{}",
        r.stderr
    );

    // Changes: the same output as on the home, and the home sees them.
    let added = remote.run(
        "alice.pem",
        None,
        &[
            "host",
            "add",
            "esx1.example.test",
            "--ip",
            "127.0.0.2",
            "--output",
            "json",
        ],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    let added: serde_json::Value = serde_json::from_str(&added.stdout).unwrap();
    assert_eq!(added["ca_fingerprint"], fp.as_str());
    assert!(added["token"].as_str().unwrap().starts_with("chj1_"));
    let issued = remote.run(
        "ops.token",
        None,
        &[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "web",
            "--alias",
            "site",
            "--san",
            "site.example.test",
        ],
    );
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    assert!(
        issued.stdout.starts_with("issued web/site  serial "),
        "{}",
        issued.stdout
    );
    for args in [
        &["host", "list"][..],
        &["host", "list", "--output", "json"],
        &["cert", "list"],
        &["cert", "list", "--output", "json"],
        &["cert", "list", "--store", "web"],
        &["cert", "export", "web/site"],
        &["cert", "export", "web/site", "--with-root"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str()),
            (local.code, local.stdout.as_str()),
            "{args:?}: {}",
            far.stderr
        );
    }
    // A renewal prints what it prints on the home (but its serial, time and backup).
    let shape = |text: &str| {
        text.split_whitespace()
            .enumerate()
            .filter(|(i, _)| ![3, 6, 10].contains(i))
            .map(|(_, w)| w.to_owned())
            .collect::<Vec<_>>()
    };
    let local = env.run(&["cert", "renew", "web/site"]);
    let far = remote.run("ops.token", None, &["cert", "renew", "web/site"]);
    assert_eq!((far.code, local.code), (0, 0), "{}", far.stderr);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );
    let local = env.run(&["cert", "renew", "web/site", "--output", "json"]);
    let far = remote.run(
        "ops.token",
        None,
        &["cert", "renew", "web/site", "--output", "json"],
    );
    let keys = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v[0].as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&far.stdout), keys(&local.stdout));
    // Refusals exit as on the home, with the server's reason.
    for args in [
        &[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "web",
            "--alias",
            "site",
        ][..],
        &["host", "remove", "nope.example.test"],
        &["cert", "list", "--store", "nothing"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!((far.code, local.code), (1, 1), "{args:?}: {}", far.stderr);
        assert!(far.stderr.starts_with("error: "), "{}", far.stderr);
    }
    // A reader is refused a change; a key never comes through the API.
    let r = remote.run("dash.token", None, &["host", "remove", "esx1.example.test"]);
    assert!(
        r.code == 1 && r.stderr.contains("reader_only"),
        "{}",
        r.stderr
    );
    let r = remote.run("ops.token", None, &["cert", "export", "web/site", "--key"]);
    assert!(
        r.code == 2 && r.stderr.contains("never gives out a private key"),
        "{}",
        r.stderr
    );
    // A command that needs the home says so, and why; one that needs neither says so.
    let r = remote.run("ops.token", None, &["db", "copy", "--to", "postgres://x"]);
    assert!(
        r.code == 2
            && r.stderr.contains("runs on a home")
            && r.stderr
                .contains("it sets up, moves or serves the home itself"),
        "{}",
        r.stderr
    );
    let r = remote.run(
        "ops.token",
        None,
        &["csr", "create", "--cn", "x", "--out", "d"],
    );
    assert!(
        r.code == 2
            && r.stderr
                .starts_with("error: `certherd csr create` needs no server"),
        "{}",
        r.stderr
    );
    let removed = remote.run("ops.token", None, &["host", "remove", "esx1.example.test"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(
        env.json(&["host", "list", "--output", "json"]),
        serde_json::json!([])
    );
}

/// `fleet renew` through the API orders the renewal, waits for the host like the home's
/// command, and prints the same table (the host renewed, its new expiry); exit 0.
#[test]
fn a_remote_fleet_renew_waits_for_the_host_and_prints_its_result() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let added = env.json(&[
        "host",
        "add",
        "esx1.example.test",
        "--ip",
        "127.0.0.1",
        "--output",
        "json",
    ]);
    let agent = env.path("esx1");
    let r = common::run_at(
        &agent,
        &[
            "agent",
            "join",
            "--server",
            &remote.url,
            "--token",
            added["token"].as_str().unwrap(),
            "--ca-fingerprint",
            added["ca_fingerprint"].as_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let _agent = common::Killed::new(
        common::cmd_at(&agent, &["agent", "run", "--poll", "1s"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let r = remote.run(
        "ops.token",
        Some(&fp),
        &["fleet", "renew", "--wait", "30s", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows[0]["host"], "esx1.example.test", "{rows}");
    assert_eq!(rows[0]["result"], "renewed", "{rows}");
    assert!(rows[0]["not_after"].is_string(), "{rows}");

    // The joined host's pinned certificates, as the home lists them.
    for output in ["table", "json"] {
        let args = ["pool", "certificate-list", "--output", output];
        let (local, far) = (env.run(&args), remote.run("ops.token", None, &args));
        assert_eq!(
            (far.code, far.stdout.as_str()),
            (local.code, local.stdout.as_str()),
            "{args:?}: {}",
            far.stderr
        );
        assert!(
            local.stdout.contains("esx1.example.test"),
            "{}",
            local.stdout
        );
    }

    // Removing a joined host revokes its certificates, and says so as on the home.
    let r = remote.run("ops.token", None, &["host", "remove", "esx1.example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "removed host esx1.example.test: its certificate and pinned identity are forgotten"
    );
    assert!(lines.len() >= 2, "{}", r.stdout);
    for line in &lines[1..] {
        assert!(
            (line.starts_with("revoked fleet-hosts/esx1.example.test  serial ")
                || line.starts_with("revoked backup/fleet-hosts.esx1.example.test."))
                && line.ends_with("reason cessationOfOperation; the CA's CRL lists it"),
            "{}",
            r.stdout
        );
    }

    // A pin the server no longer matches (as after a CA rotation): one line, and a hint
    // naming the pin file and what to do.
    let pins: Vec<_> = std::fs::read_dir(env.path("config").join("servers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pins.len(), 1, "{pins:?}");
    std::fs::write(&pins[0], common::EnterpriseCa::new().pem()).unwrap();
    let r = remote.run("ops.token", None, &["host", "list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("server certificate not trusted")
            && r.stderr
                .contains("no longer presents a certificate of the CA pinned in")
            && r.stderr.contains(&pins[0].display().to_string()),
        "{}",
        r.stderr
    );
}

/// Each word of `text`, with the words that differ between two runs of one change (serials,
/// times, entry names, fingerprints, who did it) replaced by their kind.
fn shape(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            let w = w.trim_end_matches([';', ',', ')']);
            if w.contains('/') && !w.starts_with('`') {
                "ENTRY".to_owned()
            } else if w.chars().any(|c| c.is_ascii_digit()) {
                "N".to_owned()
            } else if w.starts_with("local:") || w.starts_with("admin:") {
                "WHO".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect()
}

/// Issues `web/ALIAS` for `ALIAS.example.test` on the home, under the `service` profile.
fn issue_service(env: &Env, alias: &str) {
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "web",
        "--alias",
        alias,
        "--san",
        &format!("{alias}.example.test"),
    ]);
}

/// The rest of the commands against the server: `cert show/revoke`, `trust`, `alarms`,
/// `audit`, `pool verification status`, `ca show/rotate` and `forecast` print what they
/// print on the home, byte for byte where the state is the same, refuse a missing entry
/// and a reader's change with the home's line and exit code, and a command that needs the
/// home is refused naming it (exit 2).
#[test]
fn show_revoke_trust_alarms_audit_ca_and_forecast_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let reader = env.ok(&["admin", "credential", "dash"]);
    std::fs::write(env.path("dash.token"), reader.trim()).unwrap();
    let (remote, fp) = serve(&env);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    env.ok(&["host", "add", "esx1.example.test", "--ip", "127.0.0.2"]);
    for alias in ["site", "other"] {
        issue_service(&env, alias);
    }
    let (ca1, crl1) = common::ca_and_crl("Example Partner CA");
    let (ca2, _) = common::ca_and_crl("Example Partner CA");
    env.write("ca1.pem", &ca1);
    env.write("ca2.pem", &ca2);
    env.write("crl1.pem", &crl1);
    // The home evaluates alarms as `alarms` runs: first locally, so both see one state.
    env.ok(&["alarms", "--all"]);

    let same = |args: &[&str]| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str()),
            (local.code, local.stdout.as_str()),
            "{args:?}: {}",
            far.stderr
        );
        (local, far)
    };
    // A refusal reads the same both ways, its hint included; only the server's code (a
    // `note:` line, when the server refused it rather than the CLI) is the remote run's own.
    let same_refusal = |args: &[&str]| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        let said = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with("note: "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            (far.code, said(&far.stderr)),
            (local.code, said(&local.stderr)),
            "{args:?}"
        );
        assert!(far.code != 0 && far.stdout.is_empty(), "{args:?}");
    };

    // Reads: byte for byte, table and JSON.
    for output in ["table", "json"] {
        for args in [
            &["cert", "show", "web/site"][..],
            &["cert", "show", "ca/root"],
            &["trust", "list"],
            &["alarms"],
            &["alarms", "--all"],
            &["pool", "verification", "status"],
            &["ca", "show"],
            &["status"],
            &["store", "list"],
            &["profile", "list"],
            &["cert", "list", "--at", "2031-06-01"],
            &["cert", "list", "--store", "web", "--at", "2020-01-01"],
        ] {
            let mut args = args.to_vec();
            args.extend(["--output", output]);
            same(&args);
        }
    }
    // Deleting: the same line for an entry deleted each way, the same refusal of one
    // that does not exist and of the signing CA's.
    for alias in ["gone1", "gone2"] {
        issue_service(&env, alias);
    }
    let local = env.run(&["cert", "delete", "web/gone1"]);
    let far = remote.run("ops.token", None, &["cert", "delete", "web/gone2"]);
    assert_eq!((local.code, far.code), (0, 0), "{}", far.stderr);
    assert_eq!(far.stdout.replace("gone2", "gone1"), local.stdout);
    assert!(!env.ok(&["cert", "list"]).contains("gone"));
    same_refusal(&["cert", "delete", "web/gone1"]);
    // The signing CA's entry: refused both ways, the next step worded alike.
    let ca = env.json(&["ca", "show", "--output", "json"]);
    same_refusal(&["cert", "delete", ca["entry"].as_str().unwrap()]);
    let local = env.run(&["cert", "delete", ca["entry"].as_str().unwrap()]);
    assert!(
        local
            .stderr
            .contains("this is the signing CA; use `certherd ca rotate` to replace it"),
        "{}",
        local.stderr
    );
    let far = remote.run("ops.token", None, &["cert", "show", "web/nope"]);
    assert!(
        far.stderr
            .contains("\nhint: `certherd cert list` shows the entries\n")
            && far
                .stderr
                .ends_with("note: the server refused it: not_found (404)\n"),
        "{}",
        far.stderr
    );

    // Resetting an imported entry: one row each way, of the same shape; an entry that
    // does not exist refused alike.
    let enterprise = common::EnterpriseCa::new();
    let root = env.write("enterprise.pem", enterprise.pem());
    env.ok(&["trust", "add", root.to_str().unwrap()]);
    for alias in ["imp1", "imp2"] {
        let name = format!("{alias}.example.test");
        let dir = env.path(alias);
        env.ok(&[
            "csr",
            "create",
            "--cn",
            &name,
            "--out",
            dir.to_str().unwrap(),
        ]);
        let signed = enterprise.sign(
            &std::fs::read(dir.join("csr.pem")).unwrap(),
            &[&name],
            vec![certherd_x509::Eku::ServerAuth],
            certherd_x509::Role::Leaf,
            90,
        );
        let cert = env.write(&format!("{alias}-cert.pem"), &signed);
        env.ok(&[
            "cert",
            "import",
            &format!("web/{alias}"),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            dir.join("key.pem").to_str().unwrap(),
        ]);
    }
    let local = env.run(&["cert", "reset", "web/imp1", "--output", "json"]);
    let far = remote.run(
        "ops.token",
        None,
        &["cert", "reset", "web/imp2", "--output", "json"],
    );
    assert_eq!(
        (local.code, far.code),
        (0, 0),
        "{}\n{}",
        local.stderr,
        far.stderr
    );
    let reset_shape = |text: &str| {
        let rows: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        let row = &rows[0];
        (
            row.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
            row["ok"].clone(),
            row["entry"].as_str().unwrap().replace("imp2", "imp1"),
            row["backup"].as_str().unwrap().starts_with("web."),
        )
    };
    assert_eq!(
        reset_shape(&far.stdout),
        reset_shape(&local.stdout),
        "{}",
        far.stdout
    );
    assert!(env
        .ok(&["cert", "show", "web/imp2"])
        .contains("certherd CA"));
    same_refusal(&["cert", "reset", "web/nothing"]);

    // Watched endpoints: listed alike before their first scan, a name nobody watches
    // refused alike, and one stopped from afar is gone from the home.
    env.ok(&[
        "endpoint",
        "add",
        "wlb",
        "--address",
        "127.0.0.1:1",
        "--verify",
    ]);
    env.ok(&["endpoint", "add", "kms", "--address", "127.0.0.1:2"]);
    for output in ["table", "json"] {
        same(&["endpoint", "list", "--output", output]);
    }
    same_refusal(&["endpoint", "remove", "nobody"]);
    let far = remote.run("ops.token", None, &["endpoint", "remove", "kms"]);
    assert_eq!(
        (far.code, far.stdout.as_str()),
        (0, "stopped watching kms\n"),
        "{}",
        far.stderr
    );
    let listed = env.ok(&["endpoint", "list"]);
    assert!(
        listed.contains("wlb") && !listed.contains("kms"),
        "{listed}"
    );

    // The root and the CRL: on standard output, and written to --out, as on the home.
    same(&["ca", "export"]);
    let (local, far) = same(&["ca", "crl"]);
    assert!(
        local.stdout.starts_with("-----BEGIN X509 CRL-----"),
        "{}",
        local.stdout
    );
    assert_eq!(far.stderr, local.stderr);
    let far_out = env.path("far-root.pem");
    let r = remote.run(
        "ops.token",
        None,
        &["ca", "export", "--out", far_out.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&far_out).unwrap(),
        env.ok(&["ca", "export"])
    );
    // `check`: the plugin's line, each problem and the exit code, at a chosen instant and
    // thresholds; thresholds it refuses are its UNKNOWN line and exit 3 both ways.
    for output in ["table", "json"] {
        // Each at a given instant: a check at "now" names the second it ran, which two
        // processes need not share.
        for args in [
            &["check", "--at", "2027-01-01"][..],
            &["check", "--at", "2031-06-01"],
            &[
                "check",
                "--at",
                "2027-01-01",
                "--warn",
                "800d",
                "--crit",
                "400d",
            ],
            &["check", "--crit", "60d", "--warn", "30d"],
            &["check", "--at", "2099-01-01", "--crit", "1d"],
        ] {
            let mut args = args.to_vec();
            args.extend(["--output", output]);
            let (local, _) = same(&args);
            assert!(!local.stdout.is_empty(), "{args:?}");
        }
    }
    let refused = env.run(&["check", "--crit", "60d", "--warn", "30d"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stdout
            .starts_with("CERTHERD UNKNOWN - the critical threshold 60d is longer"),
        "{}",
        refused.stdout
    );
    let warned = env.run(&[
        "check",
        "--at",
        "2027-01-01",
        "--warn",
        "800d",
        "--crit",
        "400d",
    ]);
    assert!(
        warned.code >= 1 && warned.stdout.contains("web/site"),
        "{}",
        warned.stdout
    );
    // A missing entry, an unknown reason, a bad name: the home's line and exit code.
    for args in [
        &["cert", "show", "web/nope"][..],
        &["cert", "revoke", "web/nope"],
        &["cert", "revoke", "web/site", "--reason", "whim"],
        &["cert", "show", "no-slash"],
        &["trust", "remove", "0123456789abcdef"],
        &["trust", "add", "missing.pem"],
        &["forecast", "--until", "2001-01-01"],
    ] {
        same_refusal(args);
    }

    // Revocation: the same line (but serial, time, entry, who); revoking again prints the
    // same record byte for byte.
    let far = remote.run(
        "ops.token",
        None,
        &["cert", "revoke", "web/site", "--reason", "superseded"],
    );
    let local = env.run(&["cert", "revoke", "web/other", "--reason", "superseded"]);
    assert_eq!((far.code, local.code), (0, 0), "{}", far.stderr);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );
    for output in ["table", "json"] {
        same(&["cert", "revoke", "web/site", "--output", output]);
        same(&["cert", "revoke", "web/other", "--output", output]);
    }

    // Trust: add (then adding again says so alike), list, the CRL, remove.
    let far = remote.run("ops.token", None, &["trust", "add", "ca1.pem"]);
    assert_eq!(far.code, 0, "{}", far.stderr);
    let local = env.run(&["trust", "add", "ca2.pem"]);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );
    same(&["trust", "add", "ca1.pem"]);
    same(&["trust", "list"]);
    same(&["trust", "list", "--output", "json"]);
    let far = remote.run("ops.token", None, &["trust", "add-crl", "crl1.pem"]);
    assert_eq!(far.code, 0, "{}", far.stderr);
    let local = env.run(&["trust", "add-crl", "crl1.pem"]);
    assert_eq!(
        (far.code, far.stdout.as_str()),
        (local.code, local.stdout.as_str())
    );
    let sha = |pem: &str| {
        let der = certherd_x509::parse_certificates(pem.as_bytes()).unwrap();
        certherd_x509::hex(&certherd_x509::sha256(&der[0]))
    };
    let far = remote.run(
        "ops.token",
        None,
        &["trust", "remove", &certherd_x509::thumbprint(&sha(&ca1))],
    );
    let local = env.run(&["trust", "remove", &sha(&ca2)]);
    assert_eq!((far.code, local.code), (0, 0), "{}", far.stderr);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );

    // The audit log: what the home prints, but the records of the remote call itself.
    let far = remote.run("ops.token", None, &["audit", "--output", "json"]);
    let local = env.json(&["audit", "--output", "json"]);
    let far: serde_json::Value = serde_json::from_str(&far.stdout).unwrap();
    let n = far.as_array().unwrap().len();
    assert!(n > 10, "{far}");
    assert_eq!(far.as_array().unwrap()[..], local.as_array().unwrap()[..n]);
    let far = remote.run("ops.token", None, &["audit"]);
    let local = env.run(&["audit"]);
    let head: Vec<&str> = local
        .stdout
        .lines()
        .take(far.stdout.lines().count())
        .collect();
    assert_eq!(far.stdout.lines().collect::<Vec<_>>(), head);

    // The forecast: the same timeline (its start and end are the instants each ran at).
    let local = env.json(&["forecast", "--output", "json"]);
    let far = remote.run("ops.token", None, &["forecast", "--output", "json"]);
    let mut far: serde_json::Value = serde_json::from_str(&far.stdout).unwrap();
    let mut local = local;
    for v in [&mut far, &mut local] {
        v.as_object_mut().unwrap().remove("from");
        v.as_object_mut().unwrap().remove("until");
    }
    assert_eq!(far, local);
    for args in [
        &["forecast", "--until", "+400d"][..],
        &["forecast", "--until", "2030-01-01"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.lines().skip(1).collect::<Vec<_>>()),
            (local.code, local.stdout.lines().skip(1).collect::<Vec<_>>()),
            "{}",
            far.stderr
        );
        assert_eq!(
            shape(far.stdout.lines().next().unwrap()),
            shape(local.stdout.lines().next().unwrap())
        );
    }

    // A reader reads, and is refused a change (exit 1, the server's reader_only).
    let r = remote.run("dash.token", None, &["cert", "show", "web/site"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for args in [
        &["cert", "revoke", "web/other"][..],
        &["trust", "add", "ca1.pem"],
        &["ca", "rotate"],
    ] {
        let r = remote.run("dash.token", None, args);
        assert!(
            r.code == 1 && r.stderr.contains("reader_only") && r.stdout.is_empty(),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A rotation step: the same report as the home's next one (but the names and hashes;
    // the JSON is rendered by the same function). After it the server presents a
    // certificate of another root, so it comes last.
    // (Two rotations begun within one second name their new root alike: the second one
    // is refused until the next second.)
    let rotate = |run: &dyn Fn() -> common::Run| {
        for _ in 0..20 {
            let r = run();
            if !r.stderr.contains("already exists") {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("a rotation refused for 5s");
    };
    // A rotation leaves revoked entries revoked (the first step would skip them, the next
    // one not see them): renewed by hand, as an admin decides, both steps take them.
    for e in ["web/site", "web/other"] {
        env.ok(&["cert", "renew", e]);
    }
    let far = rotate(&|| remote.run("ops.token", None, &["ca", "rotate"]));
    let local = rotate(&|| env.run(&["ca", "rotate"]));
    assert_eq!((far.code, local.code), (0, 0), "{}", far.stderr);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );

    // What needs the home is refused, naming the command, with what works remotely.
    for (args, name) in [
        (
            &["ca", "import-signed", "x.pem"][..],
            "`certherd ca import-signed`",
        ),
        (
            &["db", "copy", "--to", "postgres://x"],
            "`certherd db copy`",
        ),
        (&["agent", "status"], "`certherd agent status`"),
    ] {
        let r = remote.run("ops.token", None, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("error: {name} runs on a home, not against --server\nhint: run it on the server's home"))
                && r.stderr.contains("cert list/issue/show/renew/revoke/export"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// `--help` says which commands run against `--server`.
#[test]
fn help_names_the_commands_that_run_against_a_server() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    let server = help
        .split("--server <URL>")
        .nth(1)
        .and_then(|s| s.split("--credential").next())
        .unwrap();
    let flat = server.split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "host add/list/remove/reset-server-cert/refresh-pool-cert",
        "fleet renew",
        "pool verification enable/disable/status",
        "cert list/show/issue/renew/reset/revoke/export/delete",
        "trust add/list/remove/add-crl",
        "alarms, audit, ca show/rotate/export/crl, forecast",
        "check, status, store list, profile list, endpoint list/remove",
        "pool certificate-list",
        "key-provider status/create/list/add-server/remove",
        "key-provider server-cert get/trust",
        "admin credential list/revoke",
        "refused (exit 2)",
    ] {
        assert!(flat.contains(words), "{words}: {flat}");
    }
}

/// First contact by a name the server's certificate does not hold: one readable line
/// naming what it holds (no Rust Debug text), a hint to use one of those names, and
/// nothing pinned; the same server by its address then pins it.
#[test]
fn a_first_contact_that_fails_pins_nothing_and_a_name_mismatch_reads_plainly() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let port = remote.url.rsplit(':').next().unwrap().to_owned();
    let by_name = |url: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_certherd"));
        c.args([
            "--server",
            url,
            "--credential",
            "ops.token",
            "--ca-fingerprint",
            &fp,
        ])
        .args(["host", "list"])
        .env("CI", "true")
        .env("CERTHERD_CONFIG_DIR", &remote.config)
        .env_remove("CERTHERD_HOME")
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null());
        common::finish(c.output().unwrap())
    };
    let r = by_name(&format!("https://localhost:{port}"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "localhost:{port} presents a certificate for vc01.example.test, 127.0.0.1, not localhost"
        )) && r.stderr.contains("hint: reach the server by a name its certificate holds")
            && !r.stderr.contains("DnsName")
            && !r.stderr.contains("pinned localhost")
            && !r.stderr.contains("ca rotate"),
        "{}",
        r.stderr
    );
    assert!(!remote.config.join("servers").exists(), "a pin was written");

    // A refused call (an unknown credential) pins nothing either.
    std::fs::write(
        env.path("forged.token"),
        format!("cha1_{}", "ab".repeat(32)),
    )
    .unwrap();
    let r = remote.run("forged.token", Some(&fp), &["host", "list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!remote.config.join("servers").exists(), "{}", r.stderr);

    let r = by_name(&remote.url);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("pinned 127.0.0.1"), "{}", r.stderr);
    assert!(remote.config.join("servers").exists());
}

/// certherd run under `umask 000` by a shell, as a careless service unit would.
fn under_umask_000(env: &Env, envs: &[(&str, &std::path::Path)], args: &[&str]) -> common::Run {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_certherd"))
        .args(args)
        .env("CI", "true")
        .env_remove("CERTHERD_HOME")
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    common::finish(c.output().unwrap())
}

/// A bearer token is printed once, on stdout; what holds a secret or a pin gets its mode
/// set whatever the umask: 0600 for a credential file, 0700 for the pin directories, 0644
/// for the pinned CA.
#[test]
fn secrets_go_to_stdout_once_and_files_get_their_modes_under_umask_000() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let home = env.home();
    let home = home.to_str().unwrap();
    let r = under_umask_000(&env, &[], &["--home", home, "admin", "credential", "ops"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let token = r.stdout.trim();
    assert!(token.starts_with("cha1_"), "{}", r.stdout);
    assert_eq!(r.stdout.matches(token).count(), 1);
    assert!(!r.stderr.contains(token), "{}", r.stderr);
    assert!(r.stderr.contains("printed once on stdout"), "{}", r.stderr);
    std::fs::write(env.path("ops.token"), token).unwrap();

    let cert = env.path("alice.pem");
    let r = under_umask_000(
        &env,
        &[],
        &[
            "--home",
            home,
            "admin",
            "credential",
            "alice",
            "--client-cert",
            "--out",
            cert.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(common::mode(&cert), 0o600);

    let (remote, fp) = serve(&env);
    let config = env.path("fresh/certherd");
    let r = under_umask_000(
        &env,
        &[("CERTHERD_CONFIG_DIR", &config)],
        &[
            "--server",
            &remote.url,
            "--credential",
            "ops.token",
            "--ca-fingerprint",
            &fp,
            "host",
            "list",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let servers = config.join("servers");
    let pins: Vec<_> = std::fs::read_dir(&servers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pins.len(), 1, "{pins:?}");
    assert_eq!(common::mode(&pins[0]), 0o644);
    for dir in [env.path("fresh"), config, servers] {
        assert_eq!(common::mode(&dir), 0o700, "{}", dir.display());
    }
}

/// `key-provider status` and `pool verification enable/disable` print the same on the
/// home and against the server, with the same exit code (1 while a provider is not
/// healthy, with the hint to make its client certificate).
#[test]
fn key_provider_status_and_pool_verification_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let kms = format!("127.0.0.1:{}", common::free_port());
    env.ok(&[
        "key-provider",
        "create",
        "kms",
        "--primary-key-id",
        "4f1c",
        "--server",
        &kms,
    ]);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let same = |args: &[&str], code: i32| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str()),
            (local.code, local.stdout.as_str()),
            "{args:?}: {}",
            far.stderr
        );
        assert_eq!(local.code, code, "{args:?}: {}", local.stderr);
        local
    };
    for output in ["table", "json"] {
        let shown = same(
            &[
                "key-provider",
                "status",
                "kms",
                "--timeout",
                "2s",
                "--output",
                output,
            ],
            1,
        );
        assert!(
            shown
                .stdout
                .contains("no client certificate yet: run `key-provider client-cert new kms`"),
            "{}",
            shown.stdout
        );
    }
    // An unknown provider: the home's line and exit code, its next step worded alike
    // (the server sends the step along with the fact).
    let local = env.run(&["key-provider", "status", "nope"]);
    let far = remote.run("ops.token", None, &["key-provider", "status", "nope"]);
    let line = "error: key provider 'nope' does not exist (see `certherd key-provider list`)";
    assert_eq!(far.code, local.code);
    assert_eq!(far.stderr.lines().next(), Some(line), "{}", far.stderr);
    assert_eq!(local.stderr.lines().next(), Some(line), "{}", local.stderr);
    assert_ne!(local.code, 0);
    // Verification off then on, each way: the same line, and the home sees the change.
    for (side, action) in [
        ("far", "disable"),
        ("home", "enable"),
        ("home", "disable"),
        ("far", "enable"),
    ] {
        let args = ["pool", "verification", action];
        let r = if side == "far" {
            remote.run("ops.token", None, &args)
        } else {
            env.run(&args)
        };
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            r.stdout,
            format!("pool certificate verification {action}d\n")
        );
    }
    same(&["pool", "verification", "status"], 0);
}

/// Every admin endpoint's command has a case above that runs it on the home and against
/// the server and compares what they print: a new endpoint without one fails here.
#[test]
fn every_operation_is_compared_on_both_transports() {
    let compared = [
        // remote_commands_pin_the_ca_then_print_and_exit_as_on_the_home
        "host list",
        "host add",
        "host remove",
        "cert list",
        "cert issue",
        "cert renew",
        "cert export",
        // show_revoke_trust_alarms_audit_ca_and_forecast_print_as_on_the_home
        "cert show",
        "cert revoke",
        "trust list",
        "trust add",
        "trust remove",
        "trust add-crl",
        "alarms",
        "audit",
        "pool verification status",
        "ca show",
        "ca rotate",
        "forecast",
        "check",
        "status",
        "store list",
        "profile list",
        "ca export",
        "ca crl",
        "cert delete",
        "endpoint list",
        "endpoint remove",
        "cert reset",
        // a_remote_fleet_renew_waits_for_the_host_and_prints_its_result
        "fleet renew",
        "pool certificate-list",
        // key_provider_status_and_pool_verification_print_as_on_the_home
        "key-provider status",
        "pool verification enable|disable",
        // import_prints_as_on_the_home
        "cert import",
        // endpoints_services_and_scans_print_as_on_the_home
        "report",
        "verify",
        "service add",
        "endpoint add",
        "endpoint trust",
        "endpoint diagnose",
        "scan tls",
        // host_orders_print_as_on_the_home
        "host reset-server-cert",
        "host refresh-pool-cert",
        // key_provider_set_up_prints_as_on_the_home
        "key-provider create",
        "key-provider list",
        "key-provider add-server",
        "key-provider remove",
        "key-provider client-cert new",
        "key-provider client-cert export",
        "key-provider client-cert csr",
        "key-provider client-cert upload",
        "key-provider server-cert get",
        "key-provider server-cert trust",
        // admin_credentials_print_as_on_the_home
        "admin credential",
        "admin credential list",
        "admin credential revoke",
    ];
    for route in certherd_protocol::admin::ROUTES {
        for name in route.commands() {
            assert!(
                compared.contains(&name),
                "{} {} (`{name}`) has no same-output case",
                route.method,
                route.path
            );
        }
    }
}

/// `cert renew STORE/ALIAS --key-algo` through the API gives the entry a key of that
/// algorithm and prints what it prints on the home (a libvirt layout then takes the
/// certificate); a name that is no algorithm, and --key-algo with a selection, are refused
/// alike.
#[test]
fn a_renewal_with_another_key_algorithm_prints_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    for alias in ["kvm1", "kvm2"] {
        env.ok(&[
            "cert",
            "issue",
            "--profile",
            "host",
            "--store",
            "kvm",
            "--alias",
            alias,
            "--san",
            &format!("{alias}.example.test"),
        ]);
    }
    let (remote, fp) = serve(&env);
    let local = env.run(&["cert", "renew", "kvm/kvm1", "--key-algo", "rsa-2048"]);
    let far = remote.run(
        "ops.token",
        Some(&fp),
        &["cert", "renew", "kvm/kvm2", "--key-algo", "rsa-2048"],
    );
    assert_eq!((far.code, local.code), (0, 0), "{}", far.stderr);
    assert!(
        local.stdout.starts_with("renewed kvm/kvm1  serial "),
        "{}",
        local.stdout
    );
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );
    for alias in ["kvm1", "kvm2"] {
        let out = env.path(&format!("pki-{alias}"));
        let r = env.run(&[
            "cert",
            "export",
            &format!("kvm/{alias}"),
            "--layout",
            "libvirt",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{alias}: {}", r.stderr);
    }
    let audit = env.ok(&["audit"]);
    assert_eq!(
        audit.matches("key ecdsa-p256 -> rsa-2048").count(),
        2,
        "{audit}"
    );
    for args in [
        &["cert", "renew", "kvm/kvm1", "--key-algo", "rsa-1024"][..],
        &["cert", "renew", "--all", "--key-algo", "rsa-2048"],
        &["cert", "renew", "--due", "--key-algo", "rsa-2048"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stderr.as_str()),
            (local.code, local.stderr.as_str()),
            "{args:?}"
        );
        assert_eq!(local.code, 2, "{args:?}: {}", local.stderr);
    }
}

/// Renewal and reset runs over a selection, and their plans, print the same both ways:
/// byte for byte where the state is the same, of the same shape where serials differ;
/// a selection refused on the home is refused alike.
#[test]
fn renewal_and_reset_runs_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    for alias in ["a", "b", "c"] {
        issue_service(&env, alias);
    }
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let same = |args: &[&str]| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str(), far.stderr.lines().next()),
            (
                local.code,
                local.stdout.as_str(),
                local.stderr.lines().next()
            ),
            "{args:?}"
        );
        local
    };
    // Plans change nothing: the same state gives the same bytes.
    let plan = same(&["cert", "renew", "--all", "--dry-run"]);
    assert!(
        plan.stdout.starts_with("would renew 5 entries"),
        "{}",
        plan.stdout
    );
    same(&["cert", "renew", "--all", "--dry-run", "--output", "json"]);
    same(&["cert", "renew", "web/a", "--dry-run"]);
    same(&["cert", "renew", "--profile", "service", "--dry-run"]);
    same(&["cert", "renew", "--expiring-within", "400d", "--dry-run"]);
    same(&["cert", "reset", "--all", "--dry-run"]);
    same(&["cert", "reset", "web/a", "--dry-run"]);
    // Refusals read alike.
    let refused = same(&["cert", "renew", "--profile", "nope"]);
    assert_ne!(refused.code, 0);
    same(&["cert", "renew", "web/nope", "--dry-run"]);
    // Nothing due, nothing imported: the same line.
    assert_eq!(
        same(&["cert", "renew", "--due"]).stdout,
        "nothing to renew\n"
    );
    assert_eq!(
        same(&["cert", "reset", "--all"]).stdout,
        "nothing to reset\n"
    );
    // A run from afar renews the profile's entries, as one on the home then does again.
    let far = remote.run(
        "ops.token",
        None,
        &["cert", "renew", "--profile", "service"],
    );
    let local = env.run(&["cert", "renew", "--profile", "service"]);
    assert_eq!(
        (far.code, local.code),
        (0, 0),
        "{}\n{}",
        far.stderr,
        local.stderr
    );
    assert_eq!(far.stdout.lines().count(), 3, "{}", far.stdout);
    assert_eq!(
        shape(&far.stdout),
        shape(&local.stdout),
        "{}\n{}",
        far.stdout,
        local.stdout
    );
    let far = remote.run(
        "ops.token",
        None,
        &["cert", "renew", "--profile", "service", "--output", "json"],
    );
    let local = env.run(&["cert", "renew", "--profile", "service", "--output", "json"]);
    let keys = |text: &str| {
        let rows: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["entry"].clone(),
                    r["ok"].clone(),
                    r.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&far.stdout), keys(&local.stdout), "{}", far.stdout);
    // A reader may plan but not run.
    // A reader may not run one, nor plan one (a plan is asked for as the run is).
    let reader = env.ok(&["admin", "credential", "watcher"]);
    std::fs::write(env.path("watcher.token"), reader.trim()).unwrap();
    for args in [
        &["cert", "renew", "--all"][..],
        &["cert", "renew", "--all", "--dry-run"],
    ] {
        let r = remote.run("watcher.token", None, args);
        assert_ne!(r.code, 0, "{args:?}: {}", r.stdout);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}

/// `cert import` from afar writes the entry the home would write and prints the same:
/// PEM files with their key, a PKCS#12 file with its password, an import that changes
/// nothing; a wrong password and a protected store are refused alike, naming the file.
#[test]
fn import_prints_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    issue_service(&env, "src");
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let cert = env.path("src.pem");
    let key = env.path("src.key");
    env.ok(&["cert", "export", "web/src", "--out", cert.to_str().unwrap()]);
    env.ok(&[
        "cert",
        "export",
        "web/src",
        "--key-only",
        "--out",
        key.to_str().unwrap(),
    ]);
    let pw = env.write("pw.txt", "right-password\n");
    let wrong = env.write("wrong.txt", "wrong-password\n");
    let p12 = env.path("src.p12");
    env.ok(&[
        "cert",
        "export",
        "web/src",
        "--key",
        "--format",
        "p12",
        "--password-file",
        pw.to_str().unwrap(),
        "--out",
        p12.to_str().unwrap(),
    ]);
    let (c, k, p, w) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        p12.to_str().unwrap(),
        pw.to_str().unwrap(),
    );
    let both = |near: &[&str], far: &[&str]| {
        let local = env.run(near);
        let remote = remote.run("ops.token", None, far);
        // The server's code is a note of its own.
        let told = |text: &str| {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("note: the server refused it"))
                .collect();
            shape(&kept.join("\n"))
        };
        assert_eq!(
            (remote.code, shape(&remote.stdout), told(&remote.stderr)),
            (local.code, shape(&local.stdout), told(&local.stderr)),
            "{near:?}\n{}{}\n{}{}",
            local.stdout,
            local.stderr,
            remote.stdout,
            remote.stderr
        );
        (local, remote)
    };
    let pem = |alias: &str| -> Vec<String> {
        [
            "cert",
            "import",
            alias,
            "--cert",
            c,
            "--key",
            k,
            "--profile",
            "service",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let (near, far) = (pem("imp/near"), pem("imp/far"));
    let (local, _) = both(&args(&near), &args(&far));
    assert!(
        local.stdout.starts_with("imported imp/near"),
        "{}",
        local.stdout
    );
    // Again: nothing changes, and both say so.
    let (local, _) = both(&args(&near), &args(&far));
    assert!(
        local.stdout.starts_with("unchanged imp/near"),
        "{}",
        local.stdout
    );
    // JSON: the same keys, the same facts.
    let json = |v: &[String]| {
        let mut v = args(v);
        v.extend(["--output", "json"]);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let local = env.run(&args(&json(&near)));
    let far_run = remote.run("ops.token", None, &args(&json(&far)));
    let facts = |text: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        v.as_object_mut().unwrap().remove("alias");
        v
    };
    assert_eq!(
        facts(&far_run.stdout),
        facts(&local.stdout),
        "{}",
        far_run.stdout
    );
    // PKCS#12 with its password; a wrong one refused alike, naming the file.
    both(
        &[
            "cert",
            "import",
            "p12/near",
            "--cert",
            p,
            "--password-file",
            w,
        ],
        &[
            "cert",
            "import",
            "p12/far",
            "--cert",
            p,
            "--password-file",
            w,
        ],
    );
    assert!(env
        .ok(&["cert", "show", "p12/far"])
        .contains("src.example.test"));
    let wr = wrong.to_str().unwrap();
    let (local, _) = both(
        &[
            "cert",
            "import",
            "p12/x",
            "--cert",
            p,
            "--password-file",
            wr,
        ],
        &[
            "cert",
            "import",
            "p12/x",
            "--cert",
            p,
            "--password-file",
            wr,
        ],
    );
    assert!(local.stderr.contains("src.p12"), "{}", local.stderr);
    // A store certherd manages is refused alike.
    let (local, _) = both(
        &["cert", "import", "ca/other", "--cert", c, "--key", k],
        &["cert", "import", "ca/other", "--cert", c, "--key", k],
    );
    assert_ne!(local.code, 0);
    // The key never reaches the audit log.
    let key_text = std::fs::read_to_string(&key).unwrap();
    let body = key_text.lines().nth(1).unwrap();
    let audit = env.ok(&["audit", "--output", "json"]);
    assert!(!audit.contains(body), "the key's text is in the audit log");
}

/// `service add`, `endpoint add/trust/diagnose` and `scan tls` print the same both ways:
/// the server connects from where it runs, here to its own admin listener.
#[test]
fn endpoints_services_and_scans_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let addr = remote.url.trim_start_matches("https://").to_owned();
    let told = |text: &str| {
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("note: the server refused it"))
            .collect();
        shape(&kept.join("\n"))
    };
    // The same words once the names given each side are the same.
    let both = |near: &[&str], far: &[&str]| {
        let local = env.run(near);
        let far_run = remote.run("ops.token", None, far);
        let named = |text: &str| text.replace("far", "near").replace("wcp", "vpxd");
        assert_eq!(
            (
                far_run.code,
                shape(&named(&far_run.stdout)),
                told(&named(&far_run.stderr))
            ),
            (local.code, shape(&local.stdout), told(&local.stderr)),
            "{near:?}\n{}{}\n{}{}",
            local.stdout,
            local.stderr,
            far_run.stdout,
            far_run.stderr
        );
        local
    };
    let same = |args: &[&str]| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str(), told(&far.stderr)),
            (local.code, local.stdout.as_str(), told(&local.stderr)),
            "{args:?}"
        );
        local
    };
    let local = both(&["service", "add", "vpxd"], &["service", "add", "wcp"]);
    assert!(
        local.stdout.starts_with("created vpxd/"),
        "{}",
        local.stdout
    );
    same(&["service", "add", "vpxd"]);
    // The report: the same page but for the instant it was made, the same line.
    let near = env.path("near.html");
    let far = env.path("far.html");
    let local = env.run(&["report", "--html", near.to_str().unwrap(), "--until", "+2y"]);
    let far_run = remote.run(
        "ops.token",
        None,
        &["report", "--html", far.to_str().unwrap(), "--until", "+2y"],
    );
    assert_eq!(
        (
            far_run.code,
            shape(&far_run.stdout.replace("far.html", "near.html"))
        ),
        (local.code, shape(&local.stdout)),
        "{}\n{}",
        local.stderr,
        far_run.stderr
    );
    let page = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let (near_page, far_page) = (page(&near), page(&far));
    assert!(near_page.contains("certherd report: vc01.example.test"));
    assert_eq!(
        near_page.lines().count(),
        far_page.lines().count(),
        "{near_page}\n{far_page}"
    );
    same(&["report", "--html", near.to_str().unwrap(), "--until", "-1d"]);
    // verify: judged against the server home's roots and CRLs, passing and failing alike.
    let cert = env.path("vpxd.pem");
    env.ok(&[
        "cert",
        "export",
        "vpxd/vpxd",
        "--out",
        cert.to_str().unwrap(),
    ]);
    let c = cert.to_str().unwrap();
    let local = same(&["verify", c]);
    assert_eq!(local.code, 0, "{}{}", local.stdout, local.stderr);
    let local = same(&[
        "verify",
        c,
        "--name",
        "other.example.test",
        "--purpose",
        "server",
    ]);
    assert_eq!(local.code, 1, "{}", local.stdout);
    same(&["verify", c, "--output", "json", "--at", "2027-01-01"]);
    same(&["verify", c, "--policy", "not-an-oid"]);
    let local = both(
        &["endpoint", "add", "near", "--address", &addr, "--verify"],
        &["endpoint", "add", "far", "--address", &addr, "--verify"],
    );
    assert!(
        local.stdout.starts_with("watching near at 127.0.0.1:"),
        "{}",
        local.stdout
    );
    same(&["endpoint", "add", "bad", "--address", "nope"]);
    same(&[
        "endpoint",
        "add",
        "x",
        "--address",
        &addr,
        "--starttls",
        "gopher",
    ]);
    // The server's own listener: the same chain, judged the same, both ways.
    let local = same(&["scan", "tls", &addr]);
    assert_eq!(local.code, 0, "{}{}", local.stdout, local.stderr);
    // JSON: the same rows, but for the second each scan ran.
    let json_rows = |r: &common::Run| {
        let mut v: serde_json::Value =
            serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
        for row in v.as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("scanned_at");
        }
        (r.code, v)
    };
    let args = ["scan", "tls", &addr, "--output", "json"];
    assert_eq!(
        json_rows(&remote.run("ops.token", None, &args)),
        json_rows(&env.run(&args))
    );
    let local = same(&["endpoint", "diagnose", "near"]);
    assert!(local.stdout.contains("Verdict      OK"), "{}", local.stdout);
    same(&["endpoint", "diagnose", "far", "--output", "json"]);
    same(&["endpoint", "diagnose", "nobody"]);
    let wrong = "00".repeat(32);
    same(&["endpoint", "trust", "near", "--thumbprint", &wrong]);
    let local = same(&["endpoint", "trust", "near"]);
    assert!(
        local.stdout.starts_with("pinned near (127.0.0.1:"),
        "{}",
        local.stdout
    );
    // Nothing listens there: the same line, the same hint.
    env.ok(&["endpoint", "add", "gone", "--address", "127.0.0.1:1"]);
    let local = same(&["endpoint", "trust", "gone", "--timeout", "2s"]);
    assert_ne!(local.code, 0);
    let local = same(&["endpoint", "diagnose", "gone", "--timeout", "2s"]);
    assert_eq!(local.code, 1, "{}", local.stdout);
}

/// `host reset-server-cert` and `host refresh-pool-cert` print the same line both ways,
/// and an unknown host is refused alike.
#[test]
fn host_orders_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    env.ok(&["host", "add", "esx1.example.test", "--ip", "127.0.0.2"]);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    for args in [
        &["host", "reset-server-cert", "esx1.example.test"][..],
        &["host", "refresh-pool-cert", "esx1.example.test"],
        &["host", "reset-server-cert", "nope.example.test"],
        &["host", "refresh-pool-cert", "nope.example.test"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str(), far.stderr.lines().next()),
            (
                local.code,
                local.stdout.as_str(),
                local.stderr.lines().next()
            ),
            "{args:?}"
        );
    }
}

/// `audit` with filters prints the same records on the home and against the server: by
/// action, by subject text, by period; a bad time is a usage error (exit 2).
#[test]
fn audit_filters_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    env.ok(&["host", "add", "esx1.example.test", "--ip", "127.0.0.2"]);
    env.ok(&["host", "add", "esx2.example.test", "--ip", "127.0.0.3"]);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let same = |args: &[&str]| {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!(
            (far.code, far.stdout.as_str()),
            (local.code, local.stdout.as_str()),
            "{args:?}: {}",
            far.stderr
        );
        local
    };
    let adds = same(&["audit", "--action", "host-add", "--output", "json"]);
    let adds: serde_json::Value = serde_json::from_str(&adds.stdout).unwrap();
    assert_eq!(adds.as_array().unwrap().len(), 2, "{adds}");
    let one = same(&[
        "audit",
        "--action",
        "host-add",
        "--subject",
        "ESX2",
        "--output",
        "json",
    ]);
    let one: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["subject"], "esx2.example.test");
    let none = same(&["audit", "--since", "2999-01-01", "--output", "json"]);
    assert_eq!(none.stdout.trim(), "[]");
    same(&["audit", "--until", "2000-01-01"]);
    for args in [
        &["audit", "--since", "yesterday"][..],
        &["audit", "--since", "2027-01-02", "--until", "2027-01-01"],
    ] {
        let local = env.run(args);
        let far = remote.run("ops.token", None, args);
        assert_eq!((local.code, far.code), (2, 2), "{args:?}: {}", local.stderr);
        assert_eq!(local.stderr, far.stderr, "{args:?}");
    }
}

/// A key provider set up from afar prints what the home prints for its twin: `create`,
/// `add-server`, `list`, `client-cert new/export/csr/upload`, `server-cert get/trust`
/// (the server connects to the KMIP servers; nothing listens at 127.0.0.1:1) and
/// `remove`, with the same exit codes and refusals; `client-cert upload --key` is refused
/// remotely (exit 2), a private key never crossing the API.
#[test]
fn key_provider_set_up_prints_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let far = |args: &[&str]| remote.run("ops.token", None, args);
    // `args` run for kms1 on the home and kms2 from afar: the same lines, but the name.
    let twins = |args: &[&str], code: i32| {
        let local = env.run(args);
        let args2: Vec<String> = args.iter().map(|a| a.replace("kms1", "kms2")).collect();
        let r = far(&args2.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!((local.code, r.code), (code, code), "{args:?}: {}", r.stderr);
        assert_eq!(
            shape(&r.stdout.replace("kms2", "kms1")),
            shape(&local.stdout),
            "{args:?}"
        );
        assert_eq!(r.stderr.replace("kms2", "kms1"), local.stderr, "{args:?}");
        (local, r)
    };
    let same = |args: &[&str], code: i32| {
        let (local, r) = (env.run(args), far(args));
        assert_eq!((local.code, r.code), (code, code), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, local.stdout, "{args:?}");
        let first = |t: &str| t.lines().next().unwrap_or_default().to_owned();
        assert_eq!(first(&r.stderr), first(&local.stderr), "{args:?}");
        local
    };
    let (local, _) = twins(
        &[
            "key-provider",
            "create",
            "kms1",
            "--primary-key-id",
            "4f1c",
            "--server",
            "127.0.0.1:1",
        ],
        0,
    );
    assert!(local
        .stdout
        .starts_with("created key provider kms1  (store kmip-kms1)"));
    twins(
        &[
            "key-provider",
            "add-server",
            "kms1",
            "127.0.0.1:2",
            "--proxy",
            "127.0.0.1:3",
        ],
        0,
    );
    for args in [
        &["key-provider", "list"][..],
        &["key-provider", "list", "--output", "json"],
    ] {
        same(args, 0);
    }
    // Refusals: the same line and exit code.
    same(&["key-provider", "add-server", "kms1", "127.0.0.1:2"], 1);
    same(&["key-provider", "remove", "nope"], 1);
    same(&["key-provider", "client-cert", "export", "kms1"], 1);
    same(
        &[
            "key-provider",
            "create",
            "bad name",
            "--primary-key-id",
            "x",
            "--server",
            "h:1",
        ],
        2,
    );
    // The client certificate: made, exported to stdout and to a file, alike.
    let (_, r) = twins(&["key-provider", "client-cert", "new", "kms1"], 0);
    assert!(
        r.stdout.starts_with("client certificate kmip-kms2/"),
        "{}",
        r.stdout
    );
    same(&["key-provider", "client-cert", "export", "kms1"], 0);
    let out = |f: &str| env.path(f).to_str().unwrap().to_owned();
    let (a, b) = (out("home.pem"), out("far.pem"));
    let local = env.run(&["key-provider", "client-cert", "export", "kms1", "--out", &a]);
    let r = far(&["key-provider", "client-cert", "export", "kms1", "--out", &b]);
    assert_eq!((local.code, r.code), (0, 0), "{}", r.stderr);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // A CSR: written where each side says, its key kept sealed on the server's home.
    let (a, b) = (out("home.csr"), out("far.csr"));
    let local = env.run(&["key-provider", "client-cert", "csr", "kms1", "--out", &a]);
    let r = far(&["key-provider", "client-cert", "csr", "kms2", "--out", &b]);
    assert_eq!((local.code, r.code), (0, 0), "{}", r.stderr);
    assert_eq!(
        r.stdout.replace(&b, &a).replace("kms2", "kms1"),
        local.stdout
    );
    for f in [&a, &b] {
        let pem = std::fs::read_to_string(f).unwrap();
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
            "{pem}"
        );
    }
    // Uploading a certificate that is not the CSR's: refused alike.
    std::fs::write(env.path("root.pem"), env.ok(&["ca", "export"])).unwrap();
    same(
        &[
            "key-provider",
            "client-cert",
            "upload",
            "kms1",
            "--cert",
            "root.pem",
        ],
        1,
    );
    // With its own key, only on the home.
    let r = far(&[
        "key-provider",
        "client-cert",
        "upload",
        "kms2",
        "--cert",
        "root.pem",
        "--key",
        "root.pem",
    ]);
    assert!(
        r.code == 2 && r.stderr.contains("never takes a private key"),
        "{}",
        r.stderr
    );
    // The key servers' certificates: nothing listens, each server's failure shown alike.
    for output in ["table", "json"] {
        let shown = same(
            &[
                "key-provider",
                "server-cert",
                "get",
                "kms1",
                "--output",
                output,
            ],
            1,
        );
        assert!(shown.stdout.contains("127.0.0.1:1"), "{}", shown.stdout);
    }
    same(&["key-provider", "server-cert", "trust", "kms1"], 1);
    same(
        &[
            "key-provider",
            "server-cert",
            "trust",
            "kms1",
            "--server",
            "127.0.0.9:9",
        ],
        1,
    );
    twins(&["key-provider", "remove", "kms1"], 0);
    assert_eq!(
        env.json(&["key-provider", "list", "--output", "json"]),
        serde_json::json!([])
    );
}

/// `admin credential NAME`, `list` and `revoke` from afar print what the home prints: a
/// token issued remotely works and is printed once on stdout, a revoked one is refused;
/// `--client-cert` is refused remotely (exit 2): its key is made on the home only.
#[test]
fn admin_credentials_print_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let far = |args: &[&str]| remote.run("ops.token", None, args);
    let local = env.run(&["admin", "credential", "carol", "--role", "admin"]);
    let r = far(&["admin", "credential", "bob", "--role", "admin"]);
    assert_eq!((local.code, r.code), (0, 0), "{}", r.stderr);
    assert_eq!(r.stderr.replace("bob", "carol"), local.stderr);
    let token = r.stdout.trim();
    assert!(
        token.starts_with("cha1_") && !r.stderr.contains(token),
        "{}",
        r.stdout
    );
    assert_eq!(shape(&r.stdout), shape(&local.stdout));
    std::fs::write(env.path("bob.token"), token).unwrap();
    assert_eq!(remote.run("bob.token", None, &["host", "list"]).code, 0);
    let keys = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v.as_object().unwrap().keys().cloned().collect::<Vec<_>>()
    };
    let args = [
        "admin",
        "credential",
        "dave",
        "--valid-for",
        "30d",
        "--output",
        "json",
    ];
    let (local, r) = (env.run(&args), far(&args));
    assert_eq!((local.code, r.code), (0, 0), "{}", r.stderr);
    assert_eq!(keys(&r.stdout), keys(&local.stdout));
    // Refused alike: a bad span (exit 2), a bad name.
    for (args, code) in [
        (&["admin", "credential", "eve", "--valid-for", "0s"][..], 2),
        (&["admin", "credential", "no/slash"], 1),
        (&["admin", "credential", "revoke", "nobody"], 1),
        (
            &["admin", "credential", "revoke", "bob", "--reason", "whim"],
            2,
        ),
    ] {
        let (local, r) = (env.run(args), far(args));
        assert_eq!((local.code, r.code), (code, code), "{args:?}: {}", r.stderr);
        let first = |t: &str| t.lines().next().unwrap_or_default().to_owned();
        assert_eq!(first(&r.stderr), first(&local.stderr), "{args:?}");
    }
    for args in [
        &["admin", "credential", "list"][..],
        &["admin", "credential", "list", "--output", "json"],
    ] {
        let (local, r) = (env.run(args), far(args));
        assert_eq!((local.code, r.code), (0, 0), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, local.stdout, "{args:?}");
    }
    let local = env.run(&["admin", "credential", "revoke", "carol"]);
    let r = far(&["admin", "credential", "revoke", "bob"]);
    assert_eq!((local.code, r.code), (0, 0), "{}", r.stderr);
    assert_eq!(r.stderr.replace("bob", "carol"), local.stderr);
    let refused = remote.run("bob.token", None, &["host", "list"]);
    assert!(
        refused.code == 1 && refused.stderr.contains("revoked"),
        "{}",
        refused.stderr
    );
    let out = env.path("x.pem");
    let r = far(&[
        "admin",
        "credential",
        "x",
        "--client-cert",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        r.code == 2 && r.stderr.contains("never gives out a private key"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

/// `cert issue --from` against a server prints what it prints on the home: each line as
/// `cert issue` prints it, the JSON array, and the refusal of a batch that names an
/// entry already there (nothing of it issued).
#[test]
fn issue_from_a_file_prints_as_on_the_home() {
    let env = Env::new();
    init_with_admin_token(&env);
    let (remote, fp) = serve(&env);
    let pin = remote.run("ops.token", Some(&fp), &["host", "list"]);
    assert_eq!(pin.code, 0, "{}", pin.stderr);
    let file = |name: &str, store: &str, n: usize| {
        let text: String = (0..n)
            .map(|i| {
                format!(
                    "{{\"profile\": \"service\", \"store\": \"{store}\", \"alias\": \"a{i}\", \"san\": [\"a{i}.example.test\"]}}\n"
                )
            })
            .collect();
        env.write(name, text).to_str().unwrap().to_owned()
    };
    let (near, far) = (file("near.jsonl", "near", 3), file("far.jsonl", "far", 3));
    let (near_json, far_json) = (
        file("near-json.jsonl", "nearj", 2),
        file("far-json.jsonl", "farj", 2),
    );
    for (n, f, extra) in [
        (&near, &far, None),
        (&near_json, &far_json, Some("json")),
        // Again: a0 is there already, the batch is refused whole.
        (&near, &far, None),
    ] {
        let mut a = vec!["cert", "issue", "--from", n.as_str()];
        let mut b = vec!["cert", "issue", "--from", f.as_str()];
        if let Some(o) = extra {
            a.extend(["--output", o]);
            b.extend(["--output", o]);
        }
        let local = env.run(&a);
        let far_run = remote.run("ops.token", None, &b);
        let told = |text: &str| {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("note: the server refused it"))
                .collect();
            shape(&kept.join("\n"))
        };
        assert_eq!(
            (far_run.code, shape(&far_run.stdout), told(&far_run.stderr)),
            (local.code, shape(&local.stdout), told(&local.stderr)),
            "{a:?}\n{}{}\n{}{}",
            local.stdout,
            local.stderr,
            far_run.stdout,
            far_run.stderr
        );
    }
    let listed = env.json(&["cert", "list", "--store", "far", "--output", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}
