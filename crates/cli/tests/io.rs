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
        assert_eq!(r.code, 1, "{args:?}: {} {}", r.stdout, r.stderr);
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
