//! Issue 11, item 19: webhook notifications survive a receiver that is down. They wait in
//! the outbox (counted by `alarms`) and are delivered once the receiver is back; an
//! oversize answer is refused by the HTTP client's limit instead of being read.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::Env;

/// A receiver on `listener`: hands over each request's body, answers with `answer`.
fn receiver(listener: TcpListener, answer: &'static [u8]) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = sock.write_all(answer);
            if answer.ends_with(b"\r\n\r\n") && answer.starts_with(b"HTTP/1.1 200 OK\r\nConnection")
            {
                // The 100 MB answer: a body that never fits the limit.
                let block = vec![b'a'; 1 << 20];
                for _ in 0..100 {
                    if sock.write_all(&block).is_err() {
                        break;
                    }
                }
            }
            if tx
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

fn config(url: &str, retries: u32) -> String {
    format!(
        "[profiles.host]\nlifetime = \"20d\"\n\n[[webhooks]]\nurl = \"{url}\"\nretries = {retries}\nbackoff = \"1s\"\n"
    )
}

fn issue_expiring(env: &Env, alias: &str) {
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "host",
        "--store",
        "hosts",
        "--alias",
        alias,
        "--cn",
        &format!("{alias}.example.test"),
    ]);
}

#[test]
fn a_notification_waits_for_a_receiver_that_is_down() {
    let env = Env::new();
    env.init();
    // A free port, with nothing listening yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks/certherd");
    std::fs::write(env.home().join("certherd.toml"), config(&url, 0)).unwrap();
    issue_expiring(&env, "esx1");
    issue_expiring(&env, "esx2");
    let r = env.run(&["alarms"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("raised expiring-30d hosts/esx1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("2 webhook notifications undelivered, last error: unreachable"),
        "{}",
        r.stdout
    );
    // A receiver that is down costs one attempt per run, not one per notification.
    assert_eq!(
        r.stderr.matches("warning: webhook").count(),
        1,
        "{}",
        r.stderr
    );
    // Still down: still counted, and JSON output stays the list of alarms.
    let r = env.run(&["alarms", "--output", "json"]);
    assert!(serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap()
        .is_array());
    assert!(
        r.stderr.contains("2 webhook notifications undelivered"),
        "{}",
        r.stderr
    );

    // `status` says so too, for people and for scripts.
    let status = env.ok(&["status"]);
    assert!(
        status.contains("Notifications   2 webhook notifications undelivered"),
        "{status}"
    );
    let status = env.json(&["status", "--output", "json"]);
    assert_eq!(status["notifications"]["undelivered"], 2, "{status}");

    // The receiver comes up; the next run waits for the notification's next attempt (at
    // most the 1s backoff, doubled) and delivers it.
    let bodies = receiver(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    std::fs::write(env.home().join("certherd.toml"), config(&url, 3)).unwrap();
    let out = env.ok(&["alarms"]);
    assert!(!out.contains("undelivered"), "{out}");
    let mut subjects = Vec::new();
    for _ in 0..2 {
        let body: serde_json::Value =
            serde_json::from_str(&bodies.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
        assert_eq!(
            (body["event"].as_str(), body["kind"].as_str()),
            (Some("raised"), Some("expiring-30d"))
        );
        subjects.push(body["subject"].as_str().unwrap().to_owned());
    }
    subjects.sort();
    assert_eq!(subjects, ["hosts/esx1", "hosts/esx2"]);
    // Delivered once: the outbox is empty, nothing is sent again.
    let out = env.ok(&["alarms"]);
    assert!(!out.contains("undelivered"), "{out}");
    assert_eq!(
        env.json(&["status", "--output", "json"])["notifications"]["undelivered"],
        0
    );
    assert!(bodies.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn a_100_mb_answer_is_refused_and_the_notification_kept() {
    let env = Env::new();
    env.init();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = receiver(listener, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    std::fs::write(env.home().join("certherd.toml"), config(&url, 0)).unwrap();
    issue_expiring(&env, "esx1");
    let started = std::time::Instant::now();
    let r = env.run(&["alarms"]);
    // How soon it gave up is printed, not asserted; that it did is in what it says.
    eprintln!(
        "alarms with a 100 MB answer ended after {:?}",
        started.elapsed()
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(bodies.recv_timeout(Duration::from_secs(20)).is_ok());
    assert!(
        r.stdout
            .contains("1 webhook notification undelivered, last error: ")
            && r.stdout.contains("larger than 65536 bytes"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_webhook_url_that_can_never_work_is_a_configuration_error() {
    let env = Env::new();
    env.init();
    for url in ["ftp://127.0.0.1/x", "http://", "https://host:notaport/x"] {
        std::fs::write(env.home().join("certherd.toml"), config(url, 0)).unwrap();
        let r = env.run(&["alarms"]);
        assert!(
            r.code != 0 && r.stderr.contains("[[webhooks]] #1") && r.stderr.contains(url),
            "{url}: {} {}",
            r.code,
            r.stderr
        );
    }
}
