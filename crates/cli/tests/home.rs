//! The home directory against the real binary: modes of the home and its files, and the
//! master key kept outside the home.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Env;

fn run_with(env: &Env, vars: &[(&str, &std::path::Path)], args: &[&str]) -> common::Run {
    let mut c = env.cmd(args);
    c.env_remove("CERTHERD_MASTER_KEY_FILE")
        .env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in vars {
        c.env(k, v);
    }
    common::finish(c.output().unwrap())
}

#[test]
fn an_open_home_is_named_with_its_chmod_and_the_database_is_0600() {
    let env = Env::new();
    std::fs::create_dir(env.home()).unwrap();
    std::fs::set_permissions(env.home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let init = run_with(
        &env,
        &[],
        &[
            "init",
            "--hostname",
            "node1.example.test",
            "--ip",
            "192.0.2.10",
        ],
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    let home = env.home().display().to_string();
    assert!(
        init.stderr.contains(&format!("{home} is mode 0755"))
            && init.stderr.contains(&format!("chmod 700 {home}")),
        "{}",
        init.stderr
    );
    assert_eq!(common::mode(&env.home().join("certherd.db")), 0o600);
    assert_eq!(common::mode(&env.home().join("master.key")), 0o600);

    let status = run_with(&env, &[], &["status"]);
    assert!(
        status.stdout.contains(&format!("Warning         {home} is mode 0755: group and others may read it; fix: chmod 700 {home}")),
        "{}",
        status.stdout
    );
    let check = run_with(&env, &[], &["check"]);
    assert_eq!(
        check.code, 1,
        "a readable home is a warning: {}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains(&format!("WARNING: home: {home} is mode 0755")),
        "{}",
        check.stdout
    );
    let v: serde_json::Value =
        serde_json::from_str(&run_with(&env, &[], &["check", "--output", "json"]).stdout).unwrap();
    assert_eq!(v["home_problems"][0]["mode"], "0755");
    assert_eq!(v["home_problems"][0]["fix"], format!("chmod 700 {home}"));

    // A database an older certherd left 0644 is made 0600 when it is opened; a config
    // file others can write is named.
    std::fs::set_permissions(env.home(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        env.home().join("certherd.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(env.home().join("certherd.toml"), "").unwrap();
    std::fs::set_permissions(
        env.home().join("certherd.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let status = run_with(&env, &[], &["status"]);
    assert_eq!(common::mode(&env.home().join("certherd.db")), 0o600);
    let warnings: Vec<&str> = status
        .stdout
        .lines()
        .filter(|l| l.starts_with("Warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", status.stdout);
    assert!(
        warnings[0].contains(
            "certherd.toml is mode 0666: group and others may read and write it; fix: chmod 600 "
        ),
        "{}",
        warnings[0]
    );
    std::fs::set_permissions(
        env.home().join("certherd.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let check = run_with(&env, &[], &["check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
}

#[test]
fn the_master_key_moves_out_of_the_home_and_status_says_where_it_is() {
    let env = Env::new();
    env.init();
    let status = run_with(&env, &[], &["status"]);
    let home_key = env.home().join("master.key");
    assert!(
        status
            .stdout
            .contains(&format!("Master key      {} (home)", home_key.display())),
        "{}",
        status.stdout
    );
    let keys = env.path("keys");
    std::fs::create_dir(&keys).unwrap();
    let to = keys.join("node1.key");
    let moved = run_with(
        &env,
        &[],
        &["home", "seal-key", "move", "--to", to.to_str().unwrap()],
    );
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert!(
        moved.stdout.contains("checked: it opens the sealed key of"),
        "{}",
        moved.stdout
    );
    assert!(
        moved
            .stdout
            .contains(&format!("set CERTHERD_MASTER_KEY_FILE={}", to.display())),
        "{}",
        moved.stdout
    );
    assert!(!home_key.exists());
    assert_eq!(common::mode(&to), 0o600);

    // Without the variable the home cannot be opened, and the error says where it looked.
    let lost = run_with(&env, &[], &["cert", "list"]);
    assert_ne!(lost.code, 0);
    assert!(
        lost.stderr.contains(&format!(
            "master key of {} is missing: looked at {} (home: no such file)",
            env.home().display(),
            home_key.display()
        )),
        "{}",
        lost.stderr
    );
    let looked = run_with(
        &env,
        &[("CERTHERD_MASTER_KEY_FILE", &env.path("nowhere.key"))],
        &["cert", "list"],
    );
    assert!(
        looked
            .stderr
            .contains("nowhere.key (env CERTHERD_MASTER_KEY_FILE: no such file)"),
        "{}",
        looked.stderr
    );

    let status = run_with(
        &env,
        &[("CERTHERD_MASTER_KEY_FILE", &to)],
        &["status", "--output", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["master_key"]["path"], to.display().to_string());
    assert_eq!(v["master_key"]["source"], "env CERTHERD_MASTER_KEY_FILE");
    // Private keys still open: a certificate is issued and exported with its key.
    let issued = run_with(
        &env,
        &[("CERTHERD_MASTER_KEY_FILE", &to)],
        &[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--alias",
            "web",
            "--cn",
            "web.example.test",
        ],
    );
    assert_eq!(issued.code, 0, "{}", issued.stderr);

    // As a systemd credential.
    let creds = env.path("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::copy(&to, creds.join("certherd-master-key")).unwrap();
    std::fs::set_permissions(
        creds.join("certherd-master-key"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    let status = run_with(&env, &[("CREDENTIALS_DIRECTORY", &creds)], &["status"]);
    assert!(
        status.stdout.contains(&format!(
            "Master key      {} (systemd credential)",
            creds.join("certherd-master-key").display()
        )),
        "{}{}",
        status.stdout,
        status.stderr
    );
    // A credential is read-only: it is not moved.
    let r = run_with(
        &env,
        &[("CREDENTIALS_DIRECTORY", &creds)],
        &[
            "home",
            "seal-key",
            "move",
            "--to",
            env.path("x.key").to_str().unwrap(),
        ],
    );
    assert!(
        r.code != 0 && r.stderr.contains("systemd credential"),
        "{}",
        r.stderr
    );
    // Moving it back into the home works the same way, and never overwrites a file.
    let r = run_with(
        &env,
        &[("CERTHERD_MASTER_KEY_FILE", &to)],
        &[
            "home",
            "seal-key",
            "move",
            "--to",
            creds.join("certherd-master-key").to_str().unwrap(),
        ],
    );
    assert!(r.code != 0 && to.exists(), "{}", r.stderr);
    let r = run_with(
        &env,
        &[("CERTHERD_MASTER_KEY_FILE", &to)],
        &[
            "home",
            "seal-key",
            "move",
            "--to",
            home_key.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("inside the home"), "{}", r.stderr);
    assert!(!to.exists());
    assert_eq!(run_with(&env, &[], &["cert", "list"]).code, 0);
}
