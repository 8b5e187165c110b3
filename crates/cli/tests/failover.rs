//! Agent failover against the real binary: two `certherd server` processes over one home
//! (127.0.0.2 and 127.0.0.3), a third of another CA (127.0.0.4), a port that never
//! answers (127.0.0.5), an agent that knows them all. When the server it polls is killed
//! (-9), the agent polls through the other one, passing over the silent port and refusing
//! the server of another CA on the way; a restarted server answers again.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;

use common::{free_port, run_at, start_server, Env};

fn status_json(home: &Path) -> serde_json::Value {
    let r = run_at(home, &["agent", "status", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn poll_once(home: &Path) -> common::Run {
    run_at(home, &["agent", "run", "--once", "--timeout", "3s"])
}

#[test]
fn the_agent_fails_over_to_the_next_server_with_the_same_ca_and_refuses_another_ca() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "srv.example.test",
        "--ip",
        "127.0.0.2",
        "--ip",
        "127.0.0.3",
    ]);
    let (a, b) = (
        format!("127.0.0.2:{}", free_port()),
        format!("127.0.0.3:{}", free_port()),
    );
    let (url_a, url_b) = (format!("https://{a}"), format!("https://{b}"));
    // The fleet advertises both servers; the agent is told only of the first.
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[fleet]\nservers = [\"{url_a}\", \"{url_b}\"]\n"),
    )
    .unwrap();
    let mut server_a = start_server(&env, &a);
    let mut server_b = start_server(&env, &b);
    // A server of another CA, which the agent is (wrongly) told of at join.
    let other = Env::new();
    other.ok(&[
        "init",
        "--hostname",
        "other.example.test",
        "--ip",
        "127.0.0.4",
    ]);
    let c = format!("127.0.0.4:{}", free_port());
    let url_c = format!("https://{c}");
    let _server_c = start_server(&other, &c);
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.5:0").unwrap();
    let url_s = format!("https://{}", silent.local_addr().unwrap());

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
    let joined = run_at(
        &home,
        &[
            "agent",
            "join",
            "--server",
            &url_a,
            "--server",
            &url_c,
            "--server",
            &url_a,
            "--server",
            &url_s,
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
    // Joined, given (without the repeat), then advertised.
    let s = status_json(&home);
    assert_eq!(
        s["servers"],
        serde_json::json!([url_a, url_c, url_s, url_b]),
        "{s}"
    );
    assert_eq!(s["last_server"], url_a.as_str(), "{s}");

    let r = poll_once(&home);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(status_json(&home)["last_server"], url_a.as_str());

    // The server it polls dies: the next poll goes through the other server of the same
    // CA, and the server of another CA is refused on the way, said so in the log.
    server_a.stop();
    let r = poll_once(&home);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("passed over {url_a}"))
            && r.stderr.contains(&format!(
                "passed over {url_c}: refused: the server's certificate does not validate to the pool's CA"
            ))
            && r.stderr.contains(&format!(
                "passed over {url_s}: {} does not speak TLS: no TLS answer within 3s",
                &url_s["https://".len()..]
            ))
            && r.stderr.contains(&format!("polled through {url_b}")),
        "{}",
        r.stderr
    );
    let s = status_json(&home);
    assert_eq!(s["last_server"], url_b.as_str(), "{s}");
    assert!(s["last_error"].is_null(), "{s}");
    let table = run_at(&home, &["agent", "status"]);
    assert!(
        table.stdout.contains(&format!("Answered last   {url_b}")),
        "{}",
        table.stdout
    );
    // It stays with the server that answered.
    let r = poll_once(&home);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("passed over"), "{}", r.stderr);

    // Both servers of its CA down: the poll fails, naming each server and why; the server
    // of another CA is still not used.
    server_b.stop();
    let r = poll_once(&home);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("no server answered")
            && r.stderr.contains(&url_a)
            && r.stderr.contains(&url_b)
            && r.stderr.contains(&url_s)
            && r.stderr.contains(&format!("{url_c}: refused: ")),
        "{}",
        r.stderr
    );
    assert_eq!(status_json(&home)["last_server"], url_b.as_str());

    // The first server restarted: the agent keeps working through it.
    let _server_a = start_server(&env, &a);
    let r = poll_once(&home);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = status_json(&home);
    assert_eq!(s["last_server"], url_a.as_str(), "{s}");
    assert!(s["last_error"].is_null(), "{s}");
}

/// A `[fleet] servers` entry no agent could use stops the server at start, with one line.
#[test]
fn a_server_url_that_is_not_https_host_port_is_refused_at_start() {
    let env = Env::new();
    env.init();
    std::fs::write(
        env.home().join("certherd.toml"),
        "[fleet]\nservers = [\"http://srv2.example.test\"]\n",
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let r = env.run(&["server", "--listen", &addr]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("[fleet] servers: invalid server URL 'http://srv2.example.test': expected https://HOST:PORT"),
        "{}",
        r.stderr
    );
}
