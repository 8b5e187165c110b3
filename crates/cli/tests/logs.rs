//! The log formats of `certherd server` against the real binary (issue 25, "logs for the
//! journal"): `json` is one JSON object a line with its level and fields, `plain` has no
//! timestamp, and `auto` is `plain` with each line's syslog priority (`<6>INFO ...`) when
//! stderr is the stream JOURNAL_STREAM names.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{free_port, Env, Killed};

/// Starts the server with `extra` arguments and `env`, its stderr in `log`, and returns its
/// log once it says it listens; the server is stopped before this returns.
fn server_log(e: &Env, log: &Path, extra: &[&str], vars: &[(&str, String)]) -> String {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["server", "--listen", &addr, "--evaluate-every", "1h"];
    args.extend_from_slice(extra);
    let file = std::fs::File::create(log).unwrap();
    let mut cmd = e.cmd(&args);
    cmd.stdout(Stdio::null())
        .stderr(file)
        .env_remove("JOURNAL_STREAM")
        .env_remove("CERTHERD_LOG_FORMAT")
        .env_remove("CERTHERD_LOG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut server = Killed::new(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("listening on https://") {
            server.stop();
            return std::fs::read_to_string(log).unwrap();
        }
        assert!(
            server.child().try_wait().unwrap().is_none(),
            "the server exited: {text}"
        );
        assert!(
            Instant::now() < deadline,
            "the server did not listen: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn json_lines_carry_a_level_and_fields() {
    let e = Env::new();
    e.init();
    let log = e.path("server.log");
    let text = server_log(&e, &log, &["--log-format", "json"], &[]);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}")))
        .collect();
    let listening = lines
        .iter()
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("certherd server listening on https://"))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(listening["level"], "INFO", "{listening}");
    assert!(listening["fields"]["listen"].is_string(), "{listening}");
    let stamp = listening["timestamp"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).is_ok(),
        "{listening}"
    );
}

#[test]
fn plain_lines_have_no_timestamp_and_full_lines_do() {
    let e = Env::new();
    e.init();
    let log = e.path("server.log");
    let text = server_log(&e, &log, &["--log-format", "plain"], &[]);
    assert!(
        text.lines().any(
            |l| l.starts_with("INFO certherd server listening on https://")
                && l.contains(" listen=127.0.0.1:")
        ),
        "{text}"
    );
    for line in text.lines() {
        let first = line.split(' ').next().unwrap();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&first),
            "not LEVEL first: {line}"
        );
    }

    // The environment chooses it too, and `full` starts with an RFC 3339 UTC timestamp.
    let text = server_log(&e, &log, &[], &[("CERTHERD_LOG_FORMAT", "full".to_owned())]);
    for line in text.lines() {
        let stamp = line.split(' ').next().unwrap();
        let t = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(t.offset().is_utc(), "{line}");
    }
}

#[test]
fn auto_is_plain_when_stderr_is_the_journal_stream() {
    let e = Env::new();
    e.init();
    let log = e.path("server.log");
    // The log file stands in for the journal's socket: JOURNAL_STREAM names its device and
    // inode, as systemd names the socket it gives a service as stderr. The file is made
    // first so that its inode is known; server_log truncates it, keeping the inode.
    std::fs::write(&log, "").unwrap();
    let m = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", m.dev(), m.ino());
    let text = server_log(&e, &log, &[], &[("JOURNAL_STREAM", stream)]);
    // Each line starts with the syslog priority journald takes the level from (and strips).
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>INFO certherd server listening on")),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with('<')), "{text}");
    // Another stream named: stderr is not the journal, so the lines are stamped.
    let text = server_log(&e, &log, &[], &[("JOURNAL_STREAM", "1:2".to_owned())]);
    assert!(
        text.lines()
            .all(|l| l.starts_with(|c: char| c.is_ascii_digit())),
        "{text}"
    );
}

#[test]
fn a_bad_filter_is_refused() {
    let e = Env::new();
    e.init();
    let r = e
        .cmd(&["server", "--listen", "127.0.0.1:1", "--log-format", "plain"])
        .env("CERTHERD_LOG", "info,certherd_server=loud")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        !r.status.success() && stderr.contains("CERTHERD_LOG"),
        "{stderr}"
    );
}
