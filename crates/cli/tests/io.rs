//! Input and output of the real binary: a closed pipe ends a command quietly, user-named
//! input files are regular files under a size limit, names read from certificates cannot
//! drive the terminal, oversized durations are refused, and non-UTF-8 file names stay
//! distinct.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Stdio;

use common::Env;

/// Runs certherd with stdout a pipe whose reader is closed before the command writes.
fn closed_pipe(env: &Env, args: &[&str]) -> common::Run {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    common::finish(child.wait_with_output().unwrap())
}

/// Runs certherd, killing it if it has not ended within 20 seconds (a FIFO opened for
/// reading with no writer would block forever).
fn run_bounded(env: &Env, args: &[&str]) -> common::Run {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("certherd {args:?} still running after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    common::finish(child.wait_with_output().unwrap())
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let env = Env::new();
    env.init();
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "svc",
        "--cn",
        "a.example.test",
    ]);
    let dir = env.path("pems");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), env.ok(&["ca", "export"])).unwrap();
    let dir = dir.to_str().unwrap();
    for args in [
        &["cert", "list"][..],
        &["cert", "list", "--output", "json"],
        &["ca", "export"],
        &["scan", "files", dir],
        &["scan", "files", dir, "--output", "json"],
    ] {
        let r = closed_pipe(&env, args);
        assert_eq!(r.code, 141, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("Broken pipe"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn input_files_are_regular_and_bounded() {
    let env = Env::new();
    env.init();
    let before = env.snapshot();
    let big = env.write("big.pem", vec![b'A'; 5 * 1024 * 1024]);
    let big = big.to_str().unwrap();
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap();
    let dir = env.dir.path().to_str().unwrap();
    let pw_big = env.write("pw", vec![b'p'; 65 * 1024]);
    let pw_big = pw_big.to_str().unwrap();
    let ca = env.write("ca.pem", env.ok(&["ca", "export"]));
    let ca = ca.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["cert", "import", "svc/x", "--cert", "/dev/zero"],
            "a character device",
        ),
        (vec!["cert", "import", "svc/x", "--cert", fifo], "a FIFO"),
        (vec!["cert", "import", "svc/x", "--cert", big], "4 MiB"),
        (
            vec!["cert", "import", "svc/x", "--cert", dir],
            "a directory",
        ),
        (
            vec![
                "cert",
                "import",
                "svc/x",
                "--cert",
                ca,
                "--password-file",
                "/dev/zero",
            ],
            "a character device",
        ),
        (
            vec![
                "cert",
                "import",
                "svc/x",
                "--cert",
                ca,
                "--password-file",
                fifo,
            ],
            "a FIFO",
        ),
        (
            vec![
                "cert",
                "import",
                "svc/x",
                "--cert",
                ca,
                "--password-file",
                pw_big,
            ],
            "64 KiB",
        ),
        (
            vec![
                "cert",
                "import",
                "svc/x",
                "--cert",
                ca,
                "--key",
                "/dev/zero",
            ],
            "a character device",
        ),
        (vec!["verify", "/dev/zero"], "a character device"),
        (vec!["verify", fifo], "a FIFO"),
        (vec!["verify", big], "4 MiB"),
        (vec!["verify", ca, "--chain", dir], "a directory"),
        (vec!["trust", "add", "/dev/zero"], "a character device"),
        (vec!["trust", "add", fifo], "a FIFO"),
        (vec!["trust", "add", big], "4 MiB"),
        (vec!["trust", "add", dir], "a directory"),
    ];
    for (args, why) in cases {
        let r = run_bounded(&env, &args);
        // `verify` that cannot judge is 2 (1 is an invalid path); other commands fail 1.
        let code = if args[0] == "verify" { 2 } else { 1 };
        assert_eq!(r.code, code, "{args:?}: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
    assert_eq!(env.snapshot(), before);
    let help = env.ok(&["cert", "import", "--help"]);
    assert!(
        help.contains("at most 4 MiB") && help.contains("at most 64 KiB"),
        "{help}"
    );
}

#[test]
fn durations_past_the_cap_are_refused_before_anything_is_committed() {
    let env = Env::new();
    env.init();
    let before = env.snapshot();
    let issue = [
        "cert",
        "issue",
        "--profile",
        "host",
        "--store",
        "h",
        "--cn",
        "x.example.test",
    ];
    for (toml, shown) in [
        (
            "[profiles.host]\nlifetime = \"20000y\"\n",
            "lifetime = \"20000y\"",
        ),
        (
            "[backup]\nretention = \"20000y\"\n",
            "retention = \"20000y\"",
        ),
        (
            "[check]\nwarn = \"2147483647y\"\n",
            "warn = \"2147483647y\"",
        ),
    ] {
        std::fs::write(env.home().join("certherd.toml"), toml).unwrap();
        for args in [&issue[..], &["cert", "renew", "--all"], &["check"]] {
            let r = env.run(args);
            assert!(
                r.code != 0 && r.code != 101,
                "{args:?} {toml}: {}",
                r.stderr
            );
            assert!(r.stderr.contains("certherd.toml"), "{}", r.stderr);
            assert!(r.stderr.contains(shown), "{}", r.stderr);
            assert!(r.stderr.contains("at most 100y"), "{}", r.stderr);
        }
    }
    std::fs::remove_file(env.home().join("certherd.toml")).unwrap();
    let r = env.run(&["host", "add", "esx1.example.test", "--ttl", "20000y"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("at most 100y"), "{}", r.stderr);
    for args in [
        &["check", "--at", "+20000y"][..],
        &["forecast", "--until", "+20000y"],
    ] {
        let r = env.run(args);
        assert!(r.code != 0 && r.code != 101, "{args:?}: {}", r.stderr);
    }
    assert_eq!(env.snapshot(), before);
    // The far ends of what dates can hold do not panic either.
    for at in ["9999-12-31T23:59:59Z", "0000-01-01", "+100y", "-100y"] {
        let r = env.run(&["check", "--at", at]);
        assert!((0..=3).contains(&r.code), "{at}: {}", r.stderr);
    }
}

const EVIL_CN: &str = "\u{1b}]0;title\u{7}\u{1b}[2J\u{9b}31m\u{202e}gpj.exe";

/// A root and a leaf it signed, both named `cn`; the leaf's key. Made with rcgen directly:
/// certherd itself refuses to sign a name with control characters, as a stranger's CA
/// would not.
fn evil_pair(cn: &str) -> (Vec<u8>, Vec<u8>, certherd_x509::PrivateKey) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let named = |days: i64| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(days);
        p
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = named(3650);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    // The leaf expires first, so `check --at` has a line to show.
    let mut leaf = named(400);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    let key = certherd_x509::parse_private_key(&key.serialize_der()).unwrap();
    (root.der().to_vec(), leaf.der().to_vec(), key)
}

fn assert_inert(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!text.contains(bad), "{what} holds {bad:?}: {text:?}");
    }
}

#[test]
fn names_from_certificates_cannot_drive_the_terminal() {
    let env = Env::new();
    env.init();
    let (root, cert, key) = evil_pair(EVIL_CN);
    let root_file = env.write(
        "root.pem",
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &root),
    );
    env.ok(&["trust", "add", root_file.to_str().unwrap()]);
    let dir = env.path("scan");
    std::fs::create_dir(&dir).unwrap();
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert);
    std::fs::write(dir.join("evil.pem"), &pem).unwrap();
    let key_pem = env.write("evil.key", key.to_pem());
    let dir = dir.to_str().unwrap();

    // Human output: tables, check lines, verify, errors.
    let cert_file = env.write("evil.crt", &pem);
    let cert_file = cert_file.to_str().unwrap();
    env.ok(&[
        "cert",
        "import",
        "svc/evil",
        "--cert",
        cert_file,
        "--key",
        key_pem.to_str().unwrap(),
    ]);
    for args in [
        &["scan", "files", dir][..],
        &["cert", "list"],
        &["cert", "show", "svc/evil"],
        &["check", "--at", "+399d"],
        &["status"],
        &["verify", cert_file],
        &["trust", "list"],
    ] {
        let r = env.run(args);
        assert!(r.code != 101, "{args:?}: {}", r.stderr);
        assert_inert(&format!("{args:?} stdout"), &r.stdout);
        assert_inert(&format!("{args:?} stderr"), &r.stderr);
    }
    let shown = env.ok(&["cert", "list"]);
    assert!(
        shown.contains("\\x1b]0;title\\x07\\x1b[2J\\u{009b}31m\\u{202e}gpj.exe"),
        "{shown}"
    );

    // JSON: the exact string.
    let v = env.scan_json(&["scan", "files", dir, "--output", "json"]);
    assert!(
        v.to_string()
            .contains(&serde_json::Value::String(format!("CN={EVIL_CN}")).to_string()),
        "{v}"
    );
    let v = env.json(&["cert", "show", "svc/evil", "--output", "json"]);
    assert_eq!(v["subject"], format!("CN={EVIL_CN}"));

    // Certherd never issues such a name.
    let before = env.snapshot();
    for (flag, value) in [
        ("--cn", EVIL_CN),
        ("--cn", "a\u{7f}b"),
        ("--san", "a\u{1b}.example.test"),
    ] {
        let r = env.run(&[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--alias",
            "x",
            flag,
            value,
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("control character"), "{}", r.stderr);
        assert_inert("issue stderr", &r.stderr);
    }
    // Nor by resetting an imported entry to a CA-issued one with the imported names.
    let r = env.run(&["cert", "reset", "svc/evil"]);
    assert!(
        r.code != 0 && r.stderr.contains("does not sign such names"),
        "{}: {}",
        r.code,
        r.stderr
    );
    assert_inert("reset stderr", &r.stderr);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn non_utf8_file_names_stay_two_watches() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    env.init();
    let dir = env.path("odd");
    std::fs::create_dir(&dir).unwrap();
    // Two different certificates, so the inventory holds two entries (one certificate
    // seen in two files is one entry, seen at both).
    for name in [&b"bad\xff.pem"[..], b"bad\xfe.pem"] {
        let (root, _, _) = evil_pair("Odd Names Root");
        let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &root);
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(name)), &pem).unwrap();
    }
    let v = env.scan_json(&["scan", "files", dir.to_str().unwrap(), "--output", "json"]);
    let watched = v["watched"].as_array().unwrap();
    let mut targets: Vec<&str> = watched
        .iter()
        .map(|w| w["target"].as_str().unwrap())
        .collect();
    let mut names: Vec<&str> = watched
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    names.sort_unstable();
    names.dedup();
    assert_eq!(targets.len(), 2, "{v}");
    assert!(
        targets[0].ends_with("bad\\xfe.pem") && targets[1].ends_with("bad\\xff.pem"),
        "{v}"
    );
    assert_eq!(names.len(), 2, "{v}");
    // A second scan finds the same two, and the inventory holds both.
    env.scan_ok(&["scan", "files", dir.to_str().unwrap()]);
    let list = env.json(&["cert", "list", "--output", "json"]);
    let found = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == "CN=Odd Names Root")
        .count();
    assert_eq!(found, 2, "{list}");
}

/// A self-signed certificate whose subject is a CN and 300 further attributes of 240
/// characters each: over 65,535 characters once printed, as a hostile server or file may
/// present. Made with rcgen, under private OIDs (rcgen keeps one value per type).
fn huge_subject_cert() -> Vec<u8> {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "huge.example.test");
    for i in 0..300u64 {
        let value = format!("unit-{i:03}-{}", "x".repeat(231));
        p.distinguished_name.push(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 55555, i]),
            value,
        );
    }
    let key = KeyPair::generate().unwrap();
    p.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn a_huge_subject_is_cut_in_tables_and_whole_in_json() {
    let env = Env::new();
    env.init();
    let dir = env.path("huge");
    std::fs::create_dir(&dir).unwrap();
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &huge_subject_cert());
    std::fs::write(dir.join("huge.pem"), &pem).unwrap();
    let dir = dir.to_str().unwrap();
    let scanned = env.scan_ok(&["scan", "files", dir]);
    let listed = env.ok(&["cert", "list"]);
    for (what, text) in [("scan files", &scanned), ("cert list", &listed)] {
        let line = text
            .lines()
            .find(|l| l.contains("CN=huge.example.test"))
            .unwrap_or_else(|| panic!("{what}: {text}"));
        assert!(line.contains('…'), "{what}: {line}");
        assert!(line.chars().count() < 2_000, "{what}: {line}");
    }
    // The files watch is listed again, from the store, and cut the same way.
    let again = env.scan_ok(&["scan", "files", dir]);
    assert!(again.contains('…'), "{again}");
    // JSON keeps every character.
    let list = env.json(&["cert", "list", "--output", "json"]);
    let subject = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .find(|s| s.contains("huge.example.test"))
        .unwrap();
    assert!(subject.chars().count() > 65_535, "{}", subject.len());
    assert!(subject.contains("unit-299-"), "ends whole");
}

/// `scan files /proc` walks /proc only: /proc/PID/root and cwd (the whole filesystem) are
/// links out of it, not followed. A directory holding links into /proc or /sys does not
/// lead the scan there.
#[test]
fn scan_files_stays_in_a_named_pseudo_filesystem_and_out_of_others() {
    let env = Env::new();
    env.init();
    let v = env.scan_json(&["scan", "files", "/proc", "--output", "json"]);
    let watched = v["watched"].as_array().unwrap();
    assert!(
        watched
            .iter()
            .all(|w| w["target"].as_str().unwrap().starts_with("/proc/")),
        "{v}"
    );
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .all(|s| s["path"].as_str().unwrap().starts_with("/proc/")),
        "{v}"
    );
    assert!(v["files_examined"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["excluded"]["links_out_of_pseudo_filesystems"]
            .as_u64()
            .unwrap()
            > 0,
        "{v}"
    );
    assert_eq!(v["stopped_at_max_files"], serde_json::Value::Null);
    // A file of /proc that cannot be read (a process's private file, one that ended) is
    // skipped, never watched: no warning about it stays behind.
    assert!(
        watched
            .iter()
            .all(|w| !w["findings"].to_string().contains("\"unreadable\"")),
        "{v}"
    );
    // Nothing outside /proc entered the inventory either (nothing at all: the store of
    // scanned files was not even made), and `check` has nothing to say of it.
    let files = env.json(&["cert", "list", "--output", "json"]);
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["store"] != "files"),
        "{files}"
    );
    let check = env.run(&["check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);

    let dir = env.path("links");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/proc", dir.join("proc")).unwrap();
    std::os::unix::fs::symlink("/sys", dir.join("sys")).unwrap();
    std::os::unix::fs::symlink("/proc/self/root", dir.join("root")).unwrap();
    let r = env.run(&["scan", "files", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("0 files examined"), "{}", r.stderr);
    assert_eq!(
        r.stderr
            .matches("a pseudo-filesystem: not walked unless named as a path to scan")
            .count(),
        3,
        "{}",
        r.stderr
    );
}

/// A scan lists at most --max-files files (100,000 by default) and says where it stopped.
#[test]
fn scan_files_stops_at_its_bound_and_says_so() {
    let env = Env::new();
    env.init();
    let dir = env.path("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..5 {
        std::fs::write(dir.join(format!("{i}.txt")), "not a certificate").unwrap();
    }
    let dir = dir.to_str().unwrap();
    let r = env.run(&["scan", "files", dir, "--max-files", "2"]);
    assert_eq!(r.code, 1, "a scan stopped short is a warning: {}", r.stderr);
    assert!(
        r.stderr.contains("scan stopped at 2 files (--max-files)"),
        "{}",
        r.stderr
    );
    let v = env.scan_json(&["scan", "files", dir, "--max-files", "2", "--output", "json"]);
    assert_eq!(
        (
            v["files_examined"].as_u64(),
            v["stopped_at_max_files"].as_u64()
        ),
        (Some(2), Some(2)),
        "{v}"
    );
    let v = env.scan_json(&["scan", "files", dir, "--output", "json"]);
    assert_eq!(
        (
            v["files_examined"].as_u64(),
            v["stopped_at_max_files"].as_u64()
        ),
        (Some(5), None),
        "{v}"
    );
    let r = env.run(&["scan", "files", dir, "--max-files", "0"]);
    assert_eq!(r.code, 3, "a scan that cannot run is 3: {}", r.stderr);
    assert!(
        r.stderr.contains("--max-files must be at least 1"),
        "{}",
        r.stderr
    );
}
