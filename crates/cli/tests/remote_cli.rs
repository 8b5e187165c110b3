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
    // A command that needs the home says so.
    let r = remote.run("ops.token", None, &["status"]);
    assert!(
        r.code == 2 && r.stderr.contains("runs on a home"),
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
