//! The server's `/metrics` judged by Prometheus's own rules: the text a real `certherd
//! server` serves is piped to `promtool check metrics` (Debian's prometheus package, which
//! `.ci/run` installs). `#[ignore]` for a quick local run; under CI a missing promtool
//! fails the test.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{free_port, raw, start_server, Env};
use std::io::Write;
use std::process::{Command, Stdio};

/// `promtool` on PATH, if installed; under CI its absence fails the test.
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = "promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)";
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(!ci, "{msg}; CI must install it");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// `promtool check metrics` on `text`: whether it passed, and what it said.
fn check_metrics(promtool: &std::path::Path, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
#[ignore = "real peer: promtool (installed by .ci/run)"]
fn metrics_pass_promtool_check_metrics() {
    let Some(promtool) = promtool() else { return };
    // promtool lints what it is given here: a counter without `_total` fails.
    let (ok, said) = check_metrics(
        &promtool,
        "# HELP x_renewals Renewals.\n# TYPE x_renewals counter\nx_renewals 1\n",
    );
    assert!(!ok && said.contains("_total"), "{said}");

    // A home with every family holding samples: certificates (one within 14 days of its
    // end, so an alarm is open), and the counters.
    let env = Env::new();
    env.init();
    std::fs::write(
        env.home().join("certherd.toml"),
        "[profiles.service]\nlifetime = \"10d\"\n",
    )
    .unwrap();
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "web",
        "--san",
        "www.example.test",
    ]);
    env.scan_ok(&["alarms"]);
    let addr = format!("127.0.0.1:{}", free_port());
    let _server = start_server(&env, &addr);
    let answer = raw(
        &addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
    for family in [
        "certherd_certificate_not_after_timestamp_seconds{",
        "certherd_certificate_seconds_left{",
        "certherd_alarms_open{kind=\"expiring-14d\"}",
        "certherd_renewals_total ",
        "certherd_renewal_failures_total ",
    ] {
        assert!(body.contains(family), "no {family} in:\n{body}");
    }
    let (ok, said) = check_metrics(&promtool, body);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\non:\n{body}"
    );
}
