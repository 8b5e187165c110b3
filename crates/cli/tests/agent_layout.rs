//! `[[agent.targets]] layout = "qemu"` through the real binaries: a server and an agent
//! with an RSA host key; `agent run --once` writes QEMU's five files with their modes and
//! runs the target's reload once per change; a reload that fails or hangs (cut off at its
//! timeout) is reported and leaves the files in place; a layout dir that is a file is
//! refused with one clear line and left alone.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Killed};

use common::{run_at as agent, start_server};

const FILES: [(&str, u32); 5] = [
    ("ca-cert.pem", 0o644),
    ("server-cert.pem", 0o644),
    ("server-key.pem", 0o600),
    ("client-cert.pem", 0o644),
    ("client-key.pem", 0o600),
];

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    FILES
        .iter()
        .map(|(f, _)| {
            let p = dir.join(f);
            (
                f.to_string(),
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            )
        })
        .collect()
}

fn configure(home: &Path, dir: &Path, reload: &str, timeout: &str) {
    std::fs::write(
        home.join("certherd.toml"),
        format!(
            "[[agent.targets]]\nlayout = \"qemu\"\ndir = \"{}\"\nreload = \"{reload}\"\nreload_timeout = \"{timeout}\"\n",
            dir.display()
        ),
    )
    .unwrap();
}

#[test]
fn the_agent_deploys_a_qemu_layout_and_reports_failed_and_hanging_reloads() {
    let env = Env::new();
    let (_server, home) = joined(&env, "kvm1.example.test", Some("rsa-2048"));

    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let dir = out.join("qemu");
    let reloads = out.join("reloads");
    configure(
        &home,
        &dir,
        &format!("sh -c 'echo reloaded >> {}'", reloads.display()),
        "5s",
    );

    // First run: the five files, with their modes, and one reload.
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("wrote the qemu layout in"),
        "{}",
        r.stderr
    );
    for (f, mode) in FILES {
        let m = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{f}");
    }
    let cert = std::fs::read_to_string(dir.join("server-cert.pem")).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"), "{cert}");
    assert_eq!(
        cert,
        std::fs::read_to_string(dir.join("client-cert.pem")).unwrap()
    );
    assert!(std::fs::read_to_string(dir.join("server-key.pem"))
        .unwrap()
        .contains("PRIVATE KEY"));
    assert_eq!(std::fs::read_to_string(&reloads).unwrap(), "reloaded\n");

    // Nothing changed: nothing written, no reload.
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("wrote the qemu layout"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&reloads).unwrap(), "reloaded\n");

    // A renewal ordered by the server (`fleet renew`): the next run rewrites the layout
    // with the new certificate and reloads.
    let renew = Killed::new(
        env.cmd(&[
            "fleet",
            "renew",
            "--host",
            "kvm1.example.test",
            "--wait",
            "30s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["audit"]).contains("fleet-renew-ordered") {
        assert!(Instant::now() < deadline, "no order recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("wrote the qemu layout in"),
        "{}",
        r.stderr
    );
    let renewed = std::fs::read_to_string(dir.join("server-cert.pem")).unwrap();
    assert_ne!(renewed, cert, "the renewed certificate is deployed");
    drop(renew);
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap(),
        "reloaded\nreloaded\n"
    );

    // A trust change on the server (a CA added): the next run rewrites the CA file with
    // both roots and reloads; removing it again does the same.
    let extra = common::EnterpriseCa::new();
    let extra_pem = env.write("extra-ca.pem", extra.pem());
    env.ok(&["trust", "add", extra_pem.to_str().unwrap()]);
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ca = std::fs::read_to_string(dir.join("ca-cert.pem")).unwrap();
    assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 2, "{ca}");
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap(),
        "reloaded\nreloaded\nreloaded\n"
    );
    let sha = certherd_x509::hex(&certherd_x509::sha256(&extra.cert));
    env.ok(&["trust", "remove", &sha]);
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ca = std::fs::read_to_string(dir.join("ca-cert.pem")).unwrap();
    assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1, "{ca}");
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap().lines().count(),
        4
    );

    // A renewal the daemon will not load: the reload fails, its output is reported, the
    // previous files are put back (what the daemon runs with), and the server holds
    // `deploy-failed` at once, with the agent's words.
    let deploy_alarms = |env: &Env| -> Vec<(String, String)> {
        env.json(&["alarms", "--output", "json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "deploy-failed")
            .map(|a| {
                (
                    a["subject"].as_str().unwrap().to_owned(),
                    a["detail"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let kept = snapshot(&dir);
    let renew = env.run(&["fleet", "renew", "--wait", "1s"]);
    assert_ne!(renew.code, 2, "{}", renew.stderr);
    configure(&home, &dir, "echo cannot reload >&2; false", "5s");
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("reload `echo cannot reload >&2; false` failed (exit status: 1)")
            && r.stderr.contains("it printed: cannot reload")
            && r.stderr.contains("the previous files were put back"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&dir), kept, "the previous files, as they were");
    let alarms = deploy_alarms(&env);
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0].0, "kvm1.example.test");
    assert!(
        alarms[0].1.contains("it printed: cannot reload"),
        "the alarm carries what the reload printed: {alarms:?}"
    );
    let table = env.ok(&["alarms"]);
    assert!(
        table.contains("deploy-failed kvm1.example.test: qemu layout in"),
        "{table}"
    );

    // A hanging reload is cut off at its timeout; the previous files are put back.
    configure(&home, &dir, "sleep 60", "1s");
    let started = Instant::now();
    let r = agent(&home, &["agent", "run", "--once"]);
    let took = started.elapsed();
    // That it was cut off is in what the agent says; how soon is printed, not asserted.
    eprintln!("the agent run with a hanging reload ended after {took:?}");
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("reload `sleep 60` still running after 1s: killed"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&dir), kept);
    let check = env.run(&["check"]);
    assert!(
        check.code != 0 && format!("{}{}", check.stdout, check.stderr).contains("deploy-failed"),
        "{}{}",
        check.stdout,
        check.stderr
    );

    // Once the reload works, the renewed layout goes in and is loaded, and the alarm
    // clears at once.
    configure(
        &home,
        &dir,
        &format!("sh -c 'echo reloaded >> {}'", reloads.display()),
        "5s",
    );
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("wrote the qemu layout"), "{}", r.stderr);
    assert_ne!(snapshot(&dir), kept);
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap(),
        "reloaded\n".repeat(5)
    );
    assert!(deploy_alarms(&env).is_empty());
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&reloads).unwrap(),
        "reloaded\n".repeat(5),
        "nothing changed: no reload"
    );

    // A layout dir that is a file: one clear line, the file untouched, nothing else
    // written.
    let file = out.join("not-a-dir");
    std::fs::write(&file, "keep me").unwrap();
    configure(&home, &file, "true", "5s");
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("is a regular file, not a directory"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(!r.stderr.contains("--out"), "{}", r.stderr);

    // An unwritable dir (sysfs refuses new entries even to root): one line naming the
    // file, nothing written, no reload.
    let marker = out.join("reloaded-sys");
    configure(
        &home,
        Path::new("/sys/kernel"),
        &format!("touch {}", marker.display()),
        "5s",
    );
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot write /sys/kernel/ca-cert.pem")
            && r.stderr.contains("nothing was replaced"),
        "{}",
        r.stderr
    );
    assert!(!Path::new("/sys/kernel/ca-cert.pem").exists() && !marker.exists());

    // An unknown layout names the setting.
    std::fs::write(
        home.join("certherd.toml"),
        "[[agent.targets]]\nlayout = \"xen\"\n",
    )
    .unwrap();
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("agent.targets.layout 'xen'"),
        "{}",
        r.stderr
    );
}

/// A server and a joined agent (`key_algo` None: the default ECDSA key).
fn joined(env: &Env, name: &str, key_algo: Option<&str>) -> (Killed, std::path::PathBuf) {
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
    let url = format!("https://{addr}");
    let server = start_server(env, &addr);
    let added = env.json(&["host", "add", name, "--ip", "127.0.0.1", "--output", "json"]);
    let home = env.path("agent");
    let mut args = vec![
        "agent",
        "join",
        "--server",
        &url,
        "--token",
        added["token"].as_str().unwrap(),
        "--ca-fingerprint",
        added["ca_fingerprint"].as_str().unwrap(),
        "--hostname",
        name,
        "--ip",
        "127.0.0.1",
    ];
    if let Some(k) = key_algo {
        args.extend(["--key-algo", k]);
    }
    let r = agent(&home, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (server, home)
}

#[test]
fn a_libvirt_target_gets_the_pki_tree_and_an_ecdsa_host_key_is_refused_with_the_reason() {
    // RSA: the tree as under /etc/pki, keys 0600 in a 0700 private/.
    let env = Env::new();
    let (_server, home) = joined(&env, "kvm2.example.test", Some("rsa-2048"));
    let pki = env.path("pki");
    std::fs::write(
        home.join("certherd.toml"),
        format!(
            "[[agent.targets]]\nlayout = \"libvirt\"\ndir = \"{}\"\nreload = \"echo updated\"\n",
            pki.display()
        ),
    )
    .unwrap();
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("ran `echo updated`: updated"),
        "{}",
        r.stderr
    );
    for (f, mode) in [
        ("CA/cacert.pem", 0o644),
        ("libvirt/servercert.pem", 0o644),
        ("libvirt/clientcert.pem", 0o644),
        ("libvirt/private", 0o700),
        ("libvirt/private/serverkey.pem", 0o600),
        ("libvirt/private/clientkey.pem", 0o600),
    ] {
        let m = std::fs::metadata(pki.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{f}");
    }

    // ECDSA: refused with the reason, nothing written, no reload.
    let env = Env::new();
    let (_server, home) = joined(&env, "kvm3.example.test", None);
    let pki = env.path("pki");
    let marker = env.path("reloaded");
    std::fs::write(
        home.join("certherd.toml"),
        format!(
            "[[agent.targets]]\nlayout = \"libvirt\"\ndir = \"{}\"\nreload = \"touch {}\"\n",
            pki.display(),
            marker.display()
        ),
    )
    .unwrap();
    let r = agent(&home, &["agent", "run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("libvirt requires keyEncipherment, which an ECDSA key cannot carry"),
        "{}",
        r.stderr
    );
    assert!(!pki.exists() && !marker.exists());
}

#[test]
fn a_wrong_target_is_said_when_the_home_opens_not_after_a_poll() {
    let env = Env::new();
    let (_server, home) = joined(&env, "kvm4.example.test", Some("rsa-2048"));
    let pki = env.path("pki");
    for (config, says) in [
        (
            format!(
                "[[agent.targets]]\nlayout = \"libvirt\"\ndir = \"{}\"\ncert = \"/tmp/x.pem\"\n",
                pki.display()
            ),
            "invalid setting agent.targets.layout: no `cert` or `key` beside it",
        ),
        (
            "[[agent.targets]]\nentry = \"machine-ssl/host\"\ncert = \"/tmp/x.pem\"\nreload = \"true\"\n".to_owned(),
            "invalid setting agent.targets.reload: only with `layout`",
        ),
        (
            "[[agent.targets]]\nlayout = \"qemu\"\nreload_timeout = \"2h\"\n".to_owned(),
            "invalid setting agent.targets.reload_timeout: a duration from 1s to 1h",
        ),
    ] {
        std::fs::write(home.join("certherd.toml"), &config).unwrap();
        for args in [&["agent", "run", "--once"][..], &["cert", "list"]] {
            let r = agent(&home, args);
            assert_ne!(r.code, 0, "{config}\n{}", r.stdout);
            assert!(
                r.stderr.contains("certherd.toml") && r.stderr.contains(says),
                "{config}\n{}",
                r.stderr
            );
            // Said before any poll: nothing was written and no poll was recorded.
            assert!(!r.stderr.contains("polled"), "{}", r.stderr);
        }
        assert!(!pki.exists());
    }
}
