//! What a black-box review of the CLI found: `check` always prints a status line, `verify`
//! reports on stdout, `scan files` says what it did not read, and messages name the real
//! problem (the 100y cap, a host name, the target file, a directory, a date before
//! notBefore) and show fingerprints the way people compare them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::Env;

/// `check` is a monitoring plugin: whatever stops it, one status line on stdout, exit 3.
#[test]
fn check_prints_unknown_on_stdout_whenever_it_cannot_run() {
    let env = Env::new();
    // Not initialized.
    let r = env.run(&["check"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("CERTHERD UNKNOWN - "),
        "{r:?}",
        r = r.stdout
    );
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);

    env.init();
    assert_eq!(env.run(&["check"]).code, 0);
    let toml = env.home().join("certherd.toml");
    std::fs::write(&toml, "[thresholds\nwarn = ").unwrap();
    let r = env.run(&["check"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let line = r.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("CERTHERD UNKNOWN - ") && line.contains("certherd.toml"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stderr.contains("certherd.toml"), "still on stderr too");
    let v: serde_json::Value =
        serde_json::from_str(&env.run(&["check", "--output", "json"]).stdout).unwrap();
    assert_eq!(v["status"], "UNKNOWN", "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("certherd.toml"),
        "{v}"
    );
    std::fs::remove_file(&toml).unwrap();

    // A master key that cannot be used.
    let key = env.home().join("master.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::write(&key, b"not a key").unwrap();
    let r = env.run(&["check"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("CERTHERD UNKNOWN - ") && r.stdout.contains("master key"),
        "{}",
        r.stdout
    );
    std::fs::write(&key, saved).unwrap();

    // Arguments clap refuses, and arguments check refuses itself.
    for (args, says) in [
        (&["check", "--bogus-flag"][..], "--bogus-flag"),
        (&["check", "--warn", "soon"], "soon"),
        (&["check", "--at", "whenever"], "whenever"),
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 3, "{args:?}");
        assert!(
            r.stdout.starts_with("CERTHERD UNKNOWN - ") && r.stdout.contains(says),
            "{args:?}: {}",
            r.stdout
        );
    }
    let r = env.run(&["check", "--bogus-flag", "--output", "json"]);
    assert_eq!(r.code, 3);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "UNKNOWN", "{v}");
    assert!(v["error"].as_str().unwrap().contains("--bogus-flag"), "{v}");
    // Help is not a failure.
    let r = env.run(&["check", "--help"]);
    assert_eq!(r.code, 0);
    assert!(!r.stdout.starts_with("CERTHERD UNKNOWN"), "{}", r.stdout);
}

/// A failing chain's report is on stdout (`verify x.pem | less` shows it); stderr holds
/// only the one-line verdict.
#[test]
fn verify_reports_on_stdout_pass_or_fail() {
    let env = Env::new();
    env.init();
    let cert = env.path("machine.pem");
    env.ok(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        cert.to_str().unwrap(),
    ]);
    let c = cert.to_str().unwrap();
    let ok = env.run(&["verify", c]);
    assert_eq!(ok.code, 0);
    assert!(ok.stdout.contains(": OK"), "{}", ok.stdout);
    assert!(ok.stderr.is_empty(), "{}", ok.stderr);
    let bad = env.run(&["verify", c, "--name", "other.example.test"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stdout.contains("FAILED") && bad.stdout.contains("name-mismatch"),
        "{}",
        bad.stdout
    );
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.starts_with("error: "), "{}", bad.stderr);
}

/// Paths named on the command line that cannot be scanned are errors; files not read
/// inside a directory are listed with why, in the table's summary and in JSON.
#[test]
fn scan_files_says_what_it_did_not_read() {
    let env = Env::new();
    env.init();
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (path, says) in [
        (fifo.to_str().unwrap(), "a FIFO"),
        ("/dev/zero", "a character device"),
        (env.path("missing").to_str().unwrap(), "No such file"),
    ] {
        let r = env.run(&["scan", "files", path]);
        assert_ne!(r.code, 0, "{path}: {}", r.stderr);
        assert!(
            r.stderr.contains(path) && r.stderr.contains(says),
            "{path}: {}",
            r.stderr
        );
    }

    let dir = env.path("certs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), env.ok(&["ca", "export"])).unwrap();
    std::fs::write(dir.join("huge.pem"), vec![b'A'; 2 * 1024 * 1024]).unwrap();
    std::fs::rename(&fifo, dir.join("pipe")).unwrap();
    let d = dir.to_str().unwrap();
    let r = env.run(&["scan", "files", d]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 files examined, 1 hold certificates or keys; 0 links followed, 0 dangling; 2 skipped"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "skipped: {}: too large: 2 MiB (files over 1 MiB are not read)",
            dir.join("huge.pem").display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "skipped: {}: a FIFO, not a regular file",
            dir.join("pipe").display()
        )),
        "{}",
        r.stderr
    );
    let v = env.scan_json(&["scan", "files", d, "--output", "json"]);
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{v}");
    assert_eq!(skipped[0]["path"], dir.join("huge.pem").to_str().unwrap());
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("too large"),
        "{v}"
    );
    assert_eq!(skipped[1]["path"], dir.join("pipe").to_str().unwrap());
    assert_eq!(v["files_examined"], 1, "{v}");
}

/// Too long a duration for --at names the cap.
#[test]
fn at_names_the_100y_cap() {
    let env = Env::new();
    env.init();
    let r = env.run(&["check", "--at", "+20000y"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("at most 100y"), "{}", r.stderr);
}

/// A bad name given to `host add` is a host name, not an alias.
#[test]
fn host_add_refuses_a_host_name_as_a_host_name() {
    let env = Env::new();
    env.init();
    let r = env.run(&["host", "add", "esx\u{1b}]0;x\u{7}.example.test"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("invalid hostname"), "{}", r.stderr);
    assert!(!r.stderr.contains("alias"), "{}", r.stderr);
}

/// `--out` naming a directory says so.
#[test]
fn export_to_a_directory_says_it_is_one() {
    let env = Env::new();
    env.init();
    let r = env.run(&["cert", "export", "machine-ssl/machine", "--out", "/"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
}

/// A file that cannot be written is named, with its directory, never the temporary file.
#[test]
fn a_failed_write_names_the_target_and_its_directory() {
    let env = Env::new();
    env.init();
    let r = env.run(&[
        "cert",
        "export",
        "machine-ssl/machine",
        "--out",
        "/proc/cert.pem",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("write /proc/cert.pem: cannot create a file in directory /proc"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(".tmp"), "{}", r.stderr);
}

/// The join command `host add` suggests shows the fingerprint as everything else does.
#[test]
fn host_add_hint_shows_the_fingerprint_with_colons() {
    let env = Env::new();
    env.init();
    let r = env.run(&["host", "add", "esx1.example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CA fingerprint  "))
        .unwrap()
        .to_owned();
    assert_eq!(shown.len(), 32 * 3 - 1, "{shown}");
    assert!(
        r.stderr.contains(&format!("--ca-fingerprint {shown} ")),
        "{}",
        r.stderr
    );
}

/// Before notBefore a certificate is "not yet valid", not "expires in".
#[test]
fn check_before_not_before_says_not_yet_valid() {
    let env = Env::new();
    env.init();
    let r = env.run(&["check", "--at", "2020-01-01"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("machine-ssl/machine"))
        .unwrap();
    assert!(line.contains("not yet valid (valid from "), "{line}");
    assert!(!line.contains("expires in"), "{line}");
    let v: serde_json::Value = serde_json::from_str(
        &env.run(&["check", "--at", "2020-01-01", "--output", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(v["findings"][0]["status"], "not-yet-valid", "{v}");
    assert!(v["findings"][0]["not_before"].is_string(), "{v}");
}
