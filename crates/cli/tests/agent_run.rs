//! `agent run` against the real binary: it survives a server that is down for a while,
//! renews once the server is back, logs each line with the time and the host name, and
//! stops with one clear line when the server removed the host. `status` on an agent's
//! home describes the agent.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Killed};

use common::{cmd_at as agent_cmd, run_at as agent, start_server};

fn status_json(home: &Path) -> serde_json::Value {
    let r = agent(home, &["status", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// Waits until `what` holds, up to `secs` seconds, polling every 100 ms.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_of(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn the_agent_survives_a_server_outage_renews_after_it_and_stops_when_removed() {
    let env = Env::new();
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
    let mut server = start_server(&env, &addr);
    let added = env.json(&[
        "host",
        "add",
        "esx1.example.test",
        "--ip",
        "127.0.0.1",
        "--output",
        "json",
    ]);
    let home = env.path("agent-esx1");
    let joined = agent(
        &home,
        &[
            "agent",
            "join",
            "--server",
            &url,
            "--token",
            added["token"].as_str().unwrap(),
            "--ca-fingerprint",
            added["ca_fingerprint"].as_str().unwrap(),
            "--hostname",
            "esx1.example.test",
            "--ip",
            "127.0.0.1",
        ],
    );
    assert_eq!(joined.code, 0, "{}", joined.stderr);

    // Item 20: an agent's status describes the agent, not a CA waiting for a signature.
    let status = agent(&home, &["status"]);
    assert!(!status.stdout.contains("CA not ready"), "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains(&format!("Agent of        {url} (verification on)")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("Last poll       never"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("Host cert       machine-ssl/host until "),
        "{}",
        status.stdout
    );
    let before = status_json(&home)["agent"]["host_certificate_not_after"].clone();
    assert!(before.is_string(), "{before}");

    // A deploy that fails (its directory does not exist yet) is logged and retried.
    let out = env.path("out");
    std::fs::write(
        home.join("certherd.toml"),
        format!(
            "[[agent.targets]]\nentry = \"machine-ssl/host\"\ncert = \"{}/host.pem\"\n",
            out.display()
        ),
    )
    .unwrap();
    let log = env.path("agent.log");
    let mut running = Killed::new(
        agent_cmd(
            &home,
            &[
                "agent",
                "run",
                "--poll",
                "1s",
                "--retry-max",
                "2s",
                "--timeout",
                "2s",
            ],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    wait_for(20, "a failed deploy", || {
        log_of(&log).contains("poll failed (1 in a row)")
    });
    assert!(log_of(&log).contains("deploy"), "{}", log_of(&log));
    assert!(
        running.child().try_wait().unwrap().is_none(),
        "the agent exited: {}",
        log_of(&log)
    );
    std::fs::create_dir(&out).unwrap();
    wait_for(20, "a first poll", || {
        status_json(&home)["agent"]["last_poll"].is_string()
    });
    assert!(out.join("host.pem").exists());

    // The server goes away: the agent logs each failure, with the time and the host name,
    // and keeps trying.
    drop(server);
    wait_for(30, "two failed polls in the log", || {
        log_of(&log).matches("poll failed").count() >= 2
    });
    assert!(
        running.child().try_wait().unwrap().is_none(),
        "the agent exited: {}",
        log_of(&log)
    );
    let text = log_of(&log);
    let failed: Vec<&str> = text.lines().filter(|l| l.contains("poll failed")).collect();
    for line in &failed {
        // `--log-format auto` off the journal: RFC 3339 UTC timestamp, level, message,
        // the host as a field.
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert!(
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "no timestamp: {line}"
        );
        assert!(
            rest.trim_start()
                .starts_with("WARN certherd agent: poll failed (")
                && rest.contains(" host=esx1.example.test"),
            "{line}"
        );
        assert!(line.contains("retrying in "), "{line}");
    }
    let status = status_json(&home);
    assert!(
        status["agent"]["last_error"]["message"].is_string(),
        "{status}"
    );
    let table = agent(&home, &["status"]).stdout;
    assert!(table.contains("Last error      "), "{table}");

    // While it is down the admin orders a new host certificate; the server comes back.
    env.ok(&["host", "reset-server-cert", "esx1.example.test"]);
    server = start_server(&env, &addr);
    wait_for(30, "the renewal after the outage", || {
        log_of(&log).contains("renewed true")
    });
    assert!(
        log_of(&log).contains("polled again after"),
        "{}",
        log_of(&log)
    );
    assert!(
        running.child().try_wait().unwrap().is_none(),
        "the agent exited: {}",
        log_of(&log)
    );
    wait_for(10, "the error to clear", || {
        status_json(&home)["agent"]["last_error"].is_null()
    });
    let after = status_json(&home)["agent"]["host_certificate_not_after"].clone();
    assert!(after.is_string());
    let sha = |h: &Path| agent(h, &["cert", "list", "--output", "json"]).stdout;
    assert!(sha(&home).contains("machine-ssl"));

    // Removed on the server: the agent stops with one clear line and status 3, instead of
    // polling on.
    env.ok(&["host", "remove", "esx1.example.test"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = running.child().try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "the agent kept running: {}",
            log_of(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = log_of(&log);
    assert_eq!(code, Some(3), "{text}");
    let stopped: Vec<&str> = text.lines().filter(|l| l.contains("stopped")).collect();
    assert_eq!(stopped.len(), 1, "{text}");
    assert!(
        stopped[0].contains(&format!(
            "ERROR certherd agent: stopped: the server {url} no longer knows this host"
        )) && stopped[0].contains(" host=esx1.example.test"),
        "{text}"
    );
    assert!(!text.contains("has not joined"), "{text}");
    // Started again (a service manager restarting it), it exits at once with status 3.
    let again = agent(&home, &["agent", "run", "--poll", "1s"]);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(
        again.stderr.contains("has not joined a server"),
        "{}",
        again.stderr
    );
    let status = agent(&home, &["status"]);
    assert!(
        status.stdout.contains("Agent of        no server"),
        "{}",
        status.stdout
    );
    drop(server);
}
