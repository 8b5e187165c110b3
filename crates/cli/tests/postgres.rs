//! certherd on PostgreSQL: `--database`, `CERTHERD_DATABASE_URL` and `[database] url`;
//! `init` on an empty database; an unreachable database; `db copy` of a SQLite home (every
//! read equal afterwards, a non-empty target refused, a kill -9 mid-copy leaving nothing).
//! PostgreSQL is a temporary cluster (crates/tls/tests/peers); under CI=true a missing
//! PostgreSQL fails these tests, locally they are skipped with a message.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../tls/tests/peers/mod.rs"]
mod peers;
#[path = "../../store/tests/support/reads.rs"]
mod reads;

use std::time::{Duration, Instant};

use certherd_core::{
    Alarm, AlarmKind, Facts, KeyProvider, KmipServer, OffsetDateTime, Watch, WatchKind,
};
use certherd_store::{Change, CrlRecord, MasterKey, PgStore, SqliteStore, Store};
use common::{Env, Killed};

/// A running cluster, or `None` (skipped) when PostgreSQL is not installed.
fn start_pg() -> Option<peers::PgGuard> {
    if peers::postgres_bin_dir().is_none() {
        peers::missing("PostgreSQL");
        return None;
    }
    Some(peers::start_postgres("", "", false).unwrap())
}

/// A new empty database `name` on `pg`, as a URL with a password (trust authentication
/// ignores it; it must never be shown).
fn database(pg: &peers::PgGuard, name: &str) -> String {
    let mut c = admin(pg, "postgres");
    c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    format!("postgres://postgres:s3cret-pw@{}/{name}", pg.address)
}

fn admin(pg: &peers::PgGuard, db: &str) -> postgres::Client {
    postgres::Client::connect(
        &format!("postgres://postgres@{}/{db}", pg.address),
        postgres::NoTls,
    )
    .unwrap()
}

fn tables(pg: &peers::PgGuard, db: &str) -> Vec<String> {
    admin(pg, db)
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn with_db(env: &Env, url: &str, args: &[&str]) -> common::Run {
    let mut all = vec!["--database", url];
    all.extend_from_slice(args);
    env.run(&all)
}

fn ok_db(env: &Env, url: &str, args: &[&str]) -> String {
    let r = with_db(env, url, args);
    assert_eq!(r.code, 0, "{args:?}:\n{}\n{}", r.stdout, r.stderr);
    r.stdout
}

#[test]
fn a_home_on_postgres_is_used_by_flag_env_and_config_in_that_order() {
    let Some(pg) = start_pg() else { return };
    let env = Env::new();
    let url = database(&pg, "home1");
    let out = ok_db(
        &env,
        &url,
        &[
            "init",
            "--hostname",
            "node1.example.test",
            "--ip",
            "192.0.2.10",
        ],
    );
    assert!(out.contains("initialized certherd home"), "{out}");
    // The master key is in the home, the inventory is not.
    assert!(env.home().join("master.key").exists());
    assert!(!env.home().join("certherd.db").exists());
    assert!(tables(&pg, "home1").contains(&"entries".to_owned()));
    // A second init on the same database is refused.
    let again = with_db(&env, &url, &["init", "--hostname", "node1.example.test"]);
    assert_ne!(again.code, 0);

    ok_db(
        &env,
        &url,
        &[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--cn",
            "web.example.test",
        ],
    );
    ok_db(
        &env,
        &url,
        &["host", "add", "esx01.example.test", "--ip", "10.0.0.1"],
    );
    // A crash just before a batch's commit loses the whole batch, nothing half-written.
    let crashed = env
        .cmd(&[
            "--database",
            &url,
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--cn",
            "crash.example.test",
        ])
        .env("CERTHERD_FAULT_POINT", "store.before-commit")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    let by_flag = ok_db(&env, &url, &["cert", "list", "--output", "json"]);
    assert!(by_flag.contains("web.example.test"), "{by_flag}");
    assert!(!by_flag.contains("crash.example.test"), "{by_flag}");

    // The environment variable.
    let by_env = env
        .cmd(&["cert", "list", "--output", "json"])
        .env("CERTHERD_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&by_env.stdout), by_flag);
    // certherd.toml.
    env.write(
        "home/certherd.toml",
        format!("[database]\nurl = \"{url}\"\n"),
    );
    assert_eq!(env.ok(&["cert", "list", "--output", "json"]), by_flag);
    let status = env.ok(&["status"]);
    assert!(
        status.contains(&format!(
            "Database        postgres://postgres:***@{}/home1",
            pg.address
        )),
        "{status}"
    );
    assert!(!status.contains("s3cret-pw"));
    let hosts = env.ok(&["host", "list", "--output", "json"]);
    assert!(hosts.contains("esx01.example.test"), "{hosts}");
    // The flag wins over the environment, which wins over the file.
    let nowhere = format!(
        "postgres://postgres:other-pw@127.0.0.1:{}/none",
        common::free_port()
    );
    let flag_wins = env
        .cmd(&["--database", &url, "cert", "list", "--output", "json"])
        .env("CERTHERD_DATABASE_URL", &nowhere)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&flag_wins.stdout), by_flag);
    let env_wins = env
        .cmd(&["cert", "list"])
        .env("CERTHERD_DATABASE_URL", &nowhere)
        .output()
        .unwrap();
    assert_ne!(
        env_wins.status.code(),
        Some(0),
        "the env's unreachable URL is used"
    );
    // The server runs on it.
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = server_on(
        &env.home(),
        &addr,
        &["--database", &url],
        &env.path("server.log"),
    );
}

/// An unreachable database: one line naming the URL without its password, exit 1, no
/// panic; for `init`, `server` and an ordinary command alike. And a database of a newer
/// schema is refused by name.
#[test]
fn an_unreachable_or_newer_database_is_one_clear_line() {
    let env = Env::new();
    let url = format!(
        "postgres://certherd:hunter2@127.0.0.1:{}/certherd",
        common::free_port()
    );
    for args in [
        vec!["init", "--hostname", "node1.example.test"],
        vec!["cert", "list"],
        vec!["server", "--listen", "127.0.0.1:0"],
    ] {
        let r = with_db(&env, &url, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", r.stderr);
        assert!(
            lines[0].starts_with(
                "error: cannot connect to the database postgres://certherd:***@127.0.0.1:"
            ),
            "{}",
            lines[0]
        );
        assert!(!r.stderr.contains("hunter2") && !r.stderr.contains("panicked"));
        assert!(
            r.stderr.contains("Connection refused"),
            "the cause is said: {}",
            r.stderr
        );
    }
    // Nothing was written to the home: no directory, no master key.
    assert!(!env.home().exists());
    let r = with_db(&env, "mysql://x@y/z", &["cert", "list"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid database URL"), "{}", r.stderr);

    let Some(pg) = start_pg() else { return };
    let url = database(&pg, "future");
    // An empty database and no home: not initialized (not a missing key).
    let r = with_db(&env, &url, &["status"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no certherd home at"), "{}", r.stderr);
    ok_db(&env, &url, &["init", "--hostname", "node1.example.test"]);
    admin(&pg, "future")
        .batch_execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', 0)")
        .unwrap();
    let r = with_db(&env, &url, &["cert", "list"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("has schema version 99, newer than this certherd knows"),
        "{}",
        r.stderr
    );
}

/// A SQLite home with a row in every table: made by the CLI (init, a certificate, a host
/// with its join token, an admin credential), the rest written through the store.
fn rich_home(env: &Env) {
    env.init();
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "svc",
        "--cn",
        "web.example.test",
    ]);
    env.ok(&["host", "add", "esx01.example.test", "--ip", "10.0.0.1"]);
    env.ok(&["admin", "credential"]);
    let key = MasterKey::load(&env.home().join("master.key")).unwrap();
    let mut s = SqliteStore::open(&env.home().join("certherd.db"), key).unwrap();
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(1_764_000_000 + t).unwrap();
    let host = "esx01.example.test".to_owned();
    s.apply(&[
        Change::PutSecret {
            name: "ca.pending-key".into(),
            secret: certherd_store::Secret::new(b"pending".to_vec()),
        },
        Change::PutCrl(CrlRecord {
            sha256: "c1".into(),
            issuer: "CN=ca".into(),
            der: vec![0x30, 0x00],
            this_update: at(1),
            added_at: at(2),
        }),
        Change::PutKeyProvider {
            provider: KeyProvider {
                name: "kp1".parse().unwrap(),
                primary_key_id: "k1".into(),
                servers: vec![KmipServer {
                    address: "kms.example.test:5696".parse().unwrap(),
                    proxy: Some("proxy.example.test:3128".parse().unwrap()),
                }],
            },
            at: at(3),
        },
        Change::PutWatch(Box::new(Watch {
            kind: WatchKind::Endpoint,
            name: "wlb".into(),
            target: "wlb.example.test:8012".into(),
            server_name: None,
            verify: true,
            created_at: at(4),
            scanned_at: None,
            starttls: Some("postgres".into()),
            pin: None,
            findings: vec![],
            facts: Facts::None,
        })),
        Change::SetHostVerification {
            host: host.clone(),
            enabled: false,
        },
        Change::SetHostRoots {
            host: host.clone(),
            roots: vec!["r1".into()],
        },
        Change::PutHostOrder {
            host: host.clone(),
            order: certherd_store::HostOrder::Renew,
            at: at(5),
        },
        Change::SetHostDeployError {
            host,
            error: Some("reload failed".into()),
        },
        Change::RaiseAlarm(Alarm {
            kind: AlarmKind::Expiring { days: 30 },
            subject: "svc/web.example.test".into(),
            raised_at: at(6),
            cleared_at: None,
        }),
        Change::QueueNotification {
            webhook: "https://hooks.example.test/a".into(),
            body: "{}".into(),
            at: at(7),
        },
    ])
    .unwrap();
    s.apply(&[Change::PutRevocation(certherd_store::RevocationRecord {
        issuer_sha256: "ca1".into(),
        serial: "0a".into(),
        issuer: "CN=CA".into(),
        subject: "CN=old".into(),
        entry: "svc/old".into(),
        reason: "superseded".into(),
        revoked_at: at(9),
        revoked_by: "local:root".into(),
    })])
    .unwrap();
    s.take_lease("lifecycle", "srv1:4242", at(8), at(23))
        .unwrap();
}

/// Rows per table in the SQLite home.
fn sqlite_counts(env: &Env) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
    certherd_store::TABLES
        .iter()
        .map(|t| {
            let n: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap();
            ((*t).to_owned(), n)
        })
        .collect()
}

#[test]
fn db_copy_moves_every_table_and_the_server_runs_on_the_copy() {
    let Some(pg) = start_pg() else { return };
    let env = Env::new();
    rich_home(&env);
    // The copy covers every table of the home's schema.
    let c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
    let mut in_home: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(c);
    let mut copied: Vec<String> = certherd_store::TABLES
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    in_home.sort();
    copied.sort();
    assert_eq!(copied, in_home);
    let counts = sqlite_counts(&env);
    for (t, n) in &counts {
        assert!(*n > 0, "the home has no row in {t}");
    }

    let url = database(&pg, "copy");
    let out: serde_json::Value =
        serde_json::from_str(&env.ok(&["db", "copy", "--to", &url, "--output", "json"])).unwrap();
    assert_eq!(
        out["target"],
        format!("postgres://postgres:***@{}/copy", pg.address)
    );
    let reported: Vec<(String, i64)> = out["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_owned(),
                t["rows"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported, counts);

    // Every read of the Store trait is the same on both.
    let key = || MasterKey::load(&env.home().join("master.key")).unwrap();
    let sqlite = SqliteStore::open(&env.home().join("certherd.db"), key()).unwrap();
    let pgs = PgStore::connect(&url, key()).unwrap();
    let tokens: Vec<String> = {
        let c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
        let mut stmt = c.prepare("SELECT sha256 FROM join_tokens").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let admins: Vec<String> = {
        let c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
        let mut stmt = c.prepare("SELECT sha256 FROM admin_credentials").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let metas: Vec<String> = {
        let c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
        let mut stmt = c.prepare("SELECT key FROM meta").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let t: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let a: Vec<&str> = admins.iter().map(String::as_str).collect();
    let m: Vec<&str> = metas.iter().map(String::as_str).collect();
    let want = reads::all_reads(&sqlite, &t, &a, &m);
    assert_eq!(reads::all_reads(&pgs, &t, &a, &m), want);
    assert!(want.contains("key=Some("), "a sealed key was compared");
    drop(pgs);
    drop(sqlite);

    // The CLI reads the same from the copy, and new rows continue the ids.
    let from_sqlite = env.ok(&["audit", "--output", "json"]);
    assert_eq!(
        ok_db(&env, &url, &["audit", "--output", "json"]),
        from_sqlite
    );
    ok_db(
        &env,
        &url,
        &[
            "cert",
            "issue",
            "--profile",
            "service",
            "--store",
            "svc",
            "--cn",
            "api.example.test",
        ],
    );
    let audit: serde_json::Value =
        serde_json::from_str(&ok_db(&env, &url, &["audit", "--output", "json"])).unwrap();
    assert!(audit.to_string().contains("api.example.test"));

    // A second copy into the now non-empty database is refused, and changes nothing.
    let r = env.run(&["db", "copy", "--to", &url]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.lines().count() == 1
            && r.stderr.contains("is not empty")
            && r.stderr.contains("postgres://postgres:***@"),
        "{}",
        r.stderr
    );

    // The server runs on the copy.
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = server_on(
        &env.home(),
        &addr,
        &["--database", &url],
        &env.path("server.log"),
    );
}

/// A kill -9 of `db copy`, once at the last moment (a fault injected just before the
/// commit, after every row was written and counted) and once while rows are being copied
/// from a big home: the target is left with no table at all.
#[test]
fn a_copy_killed_midway_leaves_the_target_empty() {
    let Some(pg) = start_pg() else { return };
    let env = Env::new();
    env.init();
    {
        // A big home: 300,000 audit records.
        let mut c = rusqlite::Connection::open(env.home().join("certherd.db")).unwrap();
        let tx = c.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare("INSERT INTO audit (at, action, subject, detail) VALUES (?1, 'test', ?2, 'a line of detail that takes some room')")
                .unwrap();
            for i in 0..300_000_i64 {
                stmt.execute(rusqlite::params![1_764_000_000 + i, format!("svc/e{i}")])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }

    let url = database(&pg, "faulted");
    let r = finish_with_fault(&env, &url);
    assert_ne!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stderr).contains("fault injected at copy.before-commit"));
    wait_gone(&pg);
    assert_eq!(tables(&pg, "faulted"), Vec::<String>::new());

    let url = database(&pg, "killed");
    let mut copy = Killed::new(
        env.cmd(&["db", "copy", "--to", &url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Under way: its connection is in a transaction that has written (the schema, rows).
    let mut watcher = admin(&pg, "postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let busy: i64 = watcher
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'certherd db copy' AND backend_xid IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        if busy > 0 {
            break;
        }
        assert!(
            copy.child().try_wait().unwrap().is_none(),
            "the copy ended before it was seen under way"
        );
        assert!(Instant::now() < deadline, "the copy never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    copy.child().kill().unwrap(); // SIGKILL
    let status = copy.child().wait().unwrap();
    assert!(!status.success());
    wait_gone(&pg);
    assert_eq!(tables(&pg, "killed"), Vec::<String>::new());
    // And the same copy run to its end is complete.
    let started = Instant::now();
    let out = env.ok(&["db", "copy", "--to", &url, "--output", "json"]);
    eprintln!(
        "db copy of a 300,000-record audit log: {:?}",
        started.elapsed()
    );
    assert!(out.contains("\"rows\": 300"), "{out}");
}

fn finish_with_fault(env: &Env, url: &str) -> std::process::Output {
    env.cmd(&["db", "copy", "--to", url])
        .env("CERTHERD_FAULT_POINT", "copy.before-commit")
        .output()
        .unwrap()
}

/// Waits until PostgreSQL has ended the killed copy's session (and rolled it back).
fn wait_gone(pg: &peers::PgGuard) {
    let mut c = admin(pg, "postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'certherd db copy'",
                &[],
            )
            .unwrap()
            .get(0);
        if n == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the copy's session stayed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- several servers on one database ------------------------------------------------

/// A webhook receiver on 127.0.0.1: every body it was sent (answered 200).
fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = got.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let (mut len, mut line) = (0, String::new());
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                into.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let _ = sock.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    (url, got)
}

/// `certherd server` on `addr` for `home` (lifecycle every second, `extra` arguments, its
/// stderr in `log`), once it listens; killed when dropped.
fn server_on(home: &std::path::Path, addr: &str, extra: &[&str], log: &std::path::Path) -> Killed {
    server_every(home, addr, "1s", extra, log)
}

/// [`server_on`] with the lifecycle loop every `every`.
fn server_every(
    home: &std::path::Path,
    addr: &str,
    every: &str,
    extra: &[&str],
    log: &std::path::Path,
) -> Killed {
    let mut args = vec!["server", "--listen", addr, "--evaluate-every", every];
    args.extend(extra);
    let child = common::cmd_at(home, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut k = Killed::new(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Some(status) = k.child().try_wait().unwrap() {
            panic!(
                "server on {addr} exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "server on {addr} did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    k
}

/// Whether the server on `addr` runs the lifecycle loop now (its `/v1/health`).
fn runs_loop(addr: &str) -> Option<bool> {
    let answer = std::panic::catch_unwind(|| {
        common::raw(
            addr,
            "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .ok()?;
    let body = answer.split("\r\n\r\n").nth(1)?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["lifecycle"]["runs_loop"].as_bool()
}

/// Waits until exactly `leader` of `addrs` runs the loop; how long that took. The caller
/// prints that figure: the 60 s bound only stops a wait for a failover that never comes,
/// since how soon it comes on a loaded machine is no pass/fail.
fn wait_leader(addrs: &[&str], leader: &str) -> Duration {
    let bound = Duration::from_secs(60);
    let started = Instant::now();
    loop {
        let states: Vec<Option<bool>> = addrs.iter().map(|a| runs_loop(a)).collect();
        let leaders: Vec<&&str> = addrs
            .iter()
            .zip(&states)
            .filter(|(_, s)| **s == Some(true))
            .map(|(a, _)| a)
            .collect();
        assert!(leaders.len() <= 1, "two servers run the loop: {leaders:?}");
        if leaders == [&leader] {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "{leader} did not take the loop within {bound:?}: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every issued (issuer, serial) pair in the database, entries and backups alike.
fn serials(pg: &peers::PgGuard, db: &str) -> Vec<(String, String)> {
    admin(pg, db)
        .query(
            "SELECT coalesce(issuer_sha256, ''), serial FROM entries WHERE source = 'issued'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Two servers on one PostgreSQL database, three agents polling both every second. The
/// lease holder is killed with SIGKILL in the middle of a `fleet renew`, then (the killed
/// server back as a follower) the new holder in the middle of a staged `ca rotate`:
/// every agent renews, the rotation completes on the survivor, no serial is issued
/// twice, the agents' polls go on through the other server, and each alarm's webhook
/// reaches a real HTTP listener once.
#[test]
fn two_servers_on_postgres_survive_the_death_of_either() {
    let Some(pg) = start_pg() else { return };
    let url = database(&pg, "ha");
    let lease = Duration::from_secs(6);
    let (hook, got) = webhook_receiver();
    let (a1, a2) = (
        format!("127.0.0.2:{}", common::free_port()),
        format!("127.0.0.3:{}", common::free_port()),
    );
    let config = format!(
        "[database]\nurl = \"{url}\"\n\n[server]\nlifecycle_lease = \"{}s\"\n\n[fleet]\nservers = [\"https://{a1}\", \"https://{a2}\"]\n\n[profiles.service]\nlifetime = \"10d\"\n\n[[webhooks]]\nurl = \"{hook}\"\n",
        lease.as_secs()
    );
    // Server 1 makes the fleet; server 2 has only the database URL and the master key.
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("certherd.toml"), &config).unwrap();
    env.ok(&[
        "init",
        "--hostname",
        "srv1.example.test",
        "--ip",
        "127.0.0.2",
    ]);
    let home2 = env.path("srv2");
    std::fs::create_dir_all(&home2).unwrap();
    std::fs::write(home2.join("certherd.toml"), &config).unwrap();
    std::fs::copy(env.home().join("master.key"), home2.join("master.key")).unwrap();
    let log1 = env.path("srv1.log");
    let log2 = env.path("srv2.log");
    let srv2_args = ["--hostname", "srv2.example.test", "--ip", "127.0.0.3"];
    let mut s1 = server_on(&env.home(), &a1, &[], &log1);
    wait_leader(&[&a1], &a1);
    let mut s2 = Some(server_on(&home2, &a2, &srv2_args, &log2));
    assert!(
        std::fs::read_to_string(&log2)
            .unwrap()
            .contains("issued machine-ssl/srv2.example.test for this server from the shared CA"),
        "{}",
        std::fs::read_to_string(&log2).unwrap()
    );
    wait_leader(&[&a1, &a2], &a1);

    // Three hosts, each joined through server 1 and knowing both.
    let mut agents = Vec::new();
    for i in 1..=3 {
        let name = format!("esx{i}.example.test");
        let added = env.json(&[
            "host",
            "add",
            &name,
            "--ip",
            "127.0.0.1",
            "--output",
            "json",
        ]);
        let home = env.path(&format!("esx{i}"));
        let r = common::run_at(
            &home,
            &[
                "agent",
                "join",
                "--server",
                &format!("https://{a1}"),
                "--server",
                &format!("https://{a2}"),
                "--token",
                added["token"].as_str().unwrap(),
                "--ca-fingerprint",
                added["ca_fingerprint"].as_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let log = env.path(&format!("esx{i}.log"));
        agents.push((
            home.clone(),
            log.clone(),
            Killed::new(
                common::cmd_at(&home, &["agent", "run", "--poll", "1s"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .unwrap(),
            ),
        ));
    }
    let host_serial = |home: &std::path::Path| {
        let r = common::run_at(
            home,
            &["cert", "show", "machine-ssl/host", "--output", "json"],
        );
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["serial"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first: Vec<String> = agents.iter().map(|(h, _, _)| host_serial(h)).collect();

    // An alarm raised by the leader, delivered once.
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "svc",
        "--alias",
        "one",
        "--cn",
        "one.example.test",
    ]);
    let delivered = |subject: &str| {
        got.lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains(subject))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered("svc/one") == 0 {
        assert!(Instant::now() < deadline, "no webhook for svc/one");
        std::thread::sleep(Duration::from_millis(100));
    }

    // (a) SIGKILL the lease holder while `fleet renew` waits for the hosts.
    let renew = common::cmd_at(
        &env.home(),
        &["fleet", "renew", "--wait", "90s", "--output", "json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed_at = Instant::now();
    s1.child().kill().unwrap();
    let _ = s1.child().wait();
    let took_a = wait_leader(&[&a2], &a2);
    eprintln!("(a) server 1 killed during fleet renew: server 2 runs the loop after {took_a:?}");
    let out = renew.wait_with_output().unwrap();
    let renewed_in = killed_at.elapsed();
    assert!(
        out.status.success(),
        "fleet renew: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for ((home, _, _), before) in agents.iter().zip(&first) {
        assert_ne!(&host_serial(home), before, "{} renewed", home.display());
    }
    eprintln!("(a) every host renewed {renewed_in:?} after the kill");
    // A second alarm, raised by the new leader, delivered once.
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "svc",
        "--alias",
        "two",
        "--cn",
        "two.example.test",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered("svc/two") == 0 {
        assert!(
            Instant::now() < deadline,
            "no webhook for svc/two from server 2"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Server 1 comes back as a follower.
    let s1 = server_on(&env.home(), &a1, &[], &log1);
    std::thread::sleep(lease / 2);
    wait_leader(&[&a1, &a2], &a2);

    // (b) SIGKILL the lease holder (server 2) in the middle of a staged CA rotation.
    let r = env.run(&["ca", "rotate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::thread::sleep(Duration::from_millis(500));
    let mut dead = s2.take().unwrap();
    dead.child().kill().unwrap();
    let _ = dead.child().wait();
    let took_b = wait_leader(&[&a1], &a1);
    eprintln!("(b) server 2 killed during ca rotate: server 1 runs the loop after {took_b:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !env.ok(&["audit"]).contains("ca-retire") {
        assert!(
            Instant::now() < deadline,
            "the rotation did not finish on server 1:\n{}",
            std::fs::read_to_string(&log1).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Server 2 back: a follower. Its name given in capitals is the same name: the same
    // machine-ssl entry, not a second one.
    let _s2 = server_on(
        &home2,
        &a2,
        &["--hostname", "SRV2.Example.TEST", "--ip", "127.0.0.3"],
        &log2,
    );
    let listed = common::run_at(
        &home2,
        &["cert", "list", "--store", "machine-ssl", "--output", "json"],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("srv2.example.test") && !listed.stdout.contains("SRV2"),
        "{}",
        listed.stdout
    );
    std::thread::sleep(lease / 2);
    wait_leader(&[&a1, &a2], &a1);
    std::thread::sleep(Duration::from_secs(2));
    let logs: Vec<std::path::PathBuf> = agents
        .drain(..)
        .map(|(_, log, agent)| {
            drop(agent);
            log
        })
        .collect();
    // The agents never missed a poll: each passed over the dead server to the other.
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(!text.contains("poll failed"), "{}: {text}", log.display());
        assert!(
            text.contains(&format!("polled through https://{a2}"))
                && text.contains(&format!("polled through https://{a1}")),
            "{}: {text}",
            log.display()
        );
    }

    // No serial twice, each alarm delivered once.
    let all = serials(&pg, "ha");
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "a serial issued twice: {all:?}");
    let bodies = got.lock().unwrap().clone();
    // Each names the server that sent it: server 1, then server 2 after the failover.
    for (subject, sender) in [
        ("svc/one", "srv1.example.test"),
        ("svc/two", "srv2.example.test"),
    ] {
        let raised: Vec<&String> = bodies
            .iter()
            .filter(|b| b.contains(subject) && b.contains("raised"))
            .collect();
        assert_eq!(raised.len(), 1, "{subject}: {bodies:#?}");
        let v: serde_json::Value = serde_json::from_str(raised[0]).unwrap();
        assert_eq!(v["node"], sender, "{subject}: {bodies:#?}");
    }
    eprintln!(
        "issued serials: {} (all distinct); webhooks received: {}; failover (a) {took_a:?}, (b) {took_b:?} with a {}s lease",
        all.len(),
        bodies.len(),
        lease.as_secs()
    );
    drop(s1);
}

/// A server whose database connections are cut (the backends terminated, as a database
/// restart does) answers again once the database is back, without a restart: a node whose
/// connection is gone is opened anew.
#[test]
fn a_server_reconnects_after_its_database_connections_are_cut() {
    let Some(pg) = start_pg() else { return };
    let url = database(&pg, "cut");
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[database]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    env.ok(&[
        "init",
        "--hostname",
        "srv1.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let token = env.ok(&["admin", "credential", "ops", "--role", "admin"]);
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = server_on(&env.home(), &addr, &[], &env.path("server.log"));
    let hosts = || {
        common::raw(
            &addr,
            &format!(
                "GET /v1/hosts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                token.trim()
            ),
        )
    };
    // Several answers, so that several request threads hold a connection.
    for _ in 0..8 {
        let a = hosts();
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    }
    let cut = admin(&pg, "postgres")
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'cut'",
            &[],
        )
        .unwrap();
    assert!(cut > 0, "no connection of the server was cut");
    // Each request thread notices its connection is gone at its next request at most.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ok_in_a_row = 0;
    let mut failed = 0;
    while ok_in_a_row < 10 {
        assert!(
            Instant::now() < deadline,
            "the server did not answer again ({failed} failures):\n{}",
            std::fs::read_to_string(env.path("server.log")).unwrap_or_default()
        );
        if hosts().starts_with("HTTP/1.1 200") {
            ok_in_a_row += 1;
        } else {
            ok_in_a_row = 0;
            failed += 1;
        }
    }
    eprintln!("after the cut: {failed} request(s) failed, then 10 answered in a row");
}

/// `init` into a database another home initialized is refused, naming the database and
/// what to do, before anything is written to the new home.
#[test]
fn init_into_a_database_that_holds_a_home_writes_nothing() {
    let Some(pg) = start_pg() else { return };
    let url = database(&pg, "taken");
    let first = Env::new();
    first.ok(&[
        "--database",
        &url,
        "init",
        "--hostname",
        "srv1.example.test",
    ]);
    let second = Env::new();
    let r = second.run(&[
        "--database",
        &url,
        "init",
        "--hostname",
        "srv2.example.test",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("the database postgres://postgres:***@")
            && r.stderr.contains("already holds a certherd home")
            && !r.stderr.contains("s3cret"),
        "{}",
        r.stderr
    );
    assert!(!second.home().exists(), "nothing written to the new home");
}

/// A home opened on an empty database, or a PostgreSQL home opened without its URL, is
/// told what it is, and the empty database is left empty (still fit for `db copy`).
#[test]
fn a_home_and_a_database_that_do_not_match_are_named_and_left_alone() {
    let Some(pg) = start_pg() else { return };
    let empty = database(&pg, "empty");
    let sqlite_home = Env::new();
    sqlite_home.init();
    let r = sqlite_home.run(&["--database", &empty, "cert", "list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("holds no certherd home")
            && r.stderr.contains("db copy --to URL")
            && !r.stderr.contains("s3cret"),
        "{}",
        r.stderr
    );
    assert!(tables(&pg, "empty").is_empty(), "no schema made in it");

    let url = database(&pg, "used");
    let pg_home = Env::new();
    pg_home.ok(&[
        "--database",
        &url,
        "init",
        "--hostname",
        "srv1.example.test",
    ]);
    let r = pg_home.run(&["cert", "list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("holds a master key but no certherd.db: if its inventory is in PostgreSQL"),
        "{}",
        r.stderr
    );
}

// ---- the server's database: health and connections ----------------------------------

/// A home on a new database `name` of `pg`, initialized, with `extra` lines in its
/// `[database]` section; its admin token.
fn home_on(pg: &peers::PgGuard, env: &Env, name: &str, extra: &str) -> (String, String) {
    let url = database(pg, name);
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[database]\nurl = \"{url}\"\n{extra}"),
    )
    .unwrap();
    env.ok(&[
        "init",
        "--hostname",
        "srv1.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let token = env.ok(&["admin", "credential", "ops", "--role", "admin"]);
    (url, token.trim().to_owned())
}

/// `GET path` on `addr` (with `token` as bearer, if any): the status and the JSON body.
fn get_json(addr: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let answer = common::raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    );
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// `/v1/health` reports the database: 200 `ok` while a `SELECT 1` answers, 503
/// `degraded` with why (no password) while the database takes no connections, 200 again
/// once it does, without a restart. A request that needs the database meanwhile is 503
/// `unavailable`, which agents take as "try the next server".
#[test]
fn health_reports_an_unreachable_database_with_503() {
    let Some(pg) = start_pg() else { return };
    let env = Env::new();
    let (_url, token) = home_on(&pg, &env, "health", "");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let log = env.path("server.log");
    let _server = server_on(&env.home(), &addr, &[], &log);
    let (status, h) = get_json(&addr, "/v1/health", None);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["database"]["reachable"], true, "{h}");
    assert_eq!(h["database"]["backend"], "postgresql", "{h}");
    assert_eq!(h["database"]["max_connections"], 8, "{h}");
    assert!(h["database"].get("error").is_none(), "{h}");
    assert!(h["lifecycle"]["this_server"].is_string(), "{h}");

    // No new connections, and the open ones cut: as a database that went away.
    let mut pgadmin = admin(&pg, "postgres");
    pgadmin
        .batch_execute(
            "ALTER DATABASE health ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'health'",
        )
        .unwrap();
    let started = Instant::now();
    let (status, h) = get_json(&addr, "/v1/health", None);
    let took = started.elapsed();
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["database"]["reachable"], false, "{h}");
    // Health answers anyone: it says the database does not answer, not where it is.
    let why = h["database"]["error"].as_str().unwrap();
    assert!(
        why.contains("does not answer") && !why.contains("health") && !why.contains("127.0.0"),
        "{why}"
    );
    assert!(!h.to_string().contains("s3cret-pw"), "{h}");
    assert!(h["lifecycle"]["this_server"].is_string(), "{h}");
    // Answered without waiting on the database for long; how soon is printed, not asserted.
    eprintln!("health with the database refusing connections answered in {took:?}");
    let (status, e) = get_json(&addr, "/v1/hosts", Some(&token));
    assert_eq!(status, 503, "{e}");
    assert_eq!(e["code"], "unavailable", "{e}");

    pgadmin
        .batch_execute("ALTER DATABASE health ALLOW_CONNECTIONS true")
        .unwrap();
    let (status, h) = get_json(&addr, "/v1/health", None);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["database"]["reachable"], true, "{h}");
    let (status, hosts) = get_json(&addr, "/v1/hosts", Some(&token));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status, 200, "{hosts}\n{text}");
    assert!(!text.contains("s3cret-pw"), "{text}");
}

/// A server with `[database] max_connections = 2` answers 20 requests at once, each
/// correctly, while PostgreSQL never shows more than 2 connections of it.
#[test]
fn a_server_holds_no_more_database_connections_than_configured() {
    let Some(pg) = start_pg() else { return };
    let env = Env::new();
    let (_url, token) = home_on(&pg, &env, "bounded", "max_connections = 2\n");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let log = env.path("server.log");
    let _server = server_every(&env.home(), &addr, "1h", &[], &log);
    let (status, h) = get_json(&addr, "/v1/health", None);
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["database"]["max_connections"], 2, "{h}");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("at most 2 connections"));

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        let mut c = admin(&pg, "postgres");
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let n: i64 = c
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bounded' AND application_name = 'certherd-server'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                most = most.max(n);
                std::thread::sleep(Duration::from_millis(2));
            }
            most
        })
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (addr, token, barrier) = (addr.clone(), token.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..3)
                    .map(|_| get_json(&addr, "/v1/hosts", Some(&token)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for c in clients {
        for (status, body) in c.join().unwrap() {
            assert_eq!(status, 200, "{body}");
            assert!(body.is_array(), "{body}");
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = watcher.join().unwrap();
    eprintln!("at most {most} connections of the server during 60 requests, 20 at a time");
    assert!((1..=2).contains(&most), "{most} connections");
}

// ---- TLS to PostgreSQL ------------------------------------------------------------------

/// A CA (PEM) and a server certificate it signed for `name` only, with its key (PEM).
fn pg_server_pki(name: &str) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "db test CA");
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(30);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let root = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec![name.to_owned()]).unwrap();
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(30);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (root.pem(), cert.pem(), key.serialize_pem())
}

/// `sslmode=require`, `verify-ca` and `verify-full` with `sslrootcert`: the connection is
/// encrypted (pg_stat_ssl says so), a certificate of another CA is refused, and one for
/// another name only by `verify-full`.
#[test]
fn a_store_connects_to_postgres_over_verified_tls() {
    if peers::postgres_bin_dir().is_none() {
        return peers::missing("PostgreSQL");
    }
    // The server's certificate names 127.0.0.1; a second CA trusts nothing of it.
    let (ca, cert, key) = pg_server_pki("127.0.0.1");
    let (other_ca, _, _) = pg_server_pki("127.0.0.1");
    let pg = peers::start_postgres(&cert, &key, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, other_file) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&other_file, other_ca).unwrap();
    admin(&pg, "postgres")
        .batch_execute("CREATE DATABASE tls")
        .unwrap();
    let url = |q: &str| format!("postgres://postgres:s3cret-pw@{}/tls?{q}", pg.address);
    let connect = |q: &str| {
        let key = dir.path().join(format!("{}.key", q.len()));
        let _ = std::fs::remove_file(&key);
        PgStore::connect(&url(q), MasterKey::create(&key).unwrap())
    };
    let encrypted = || -> i64 {
        admin(&pg, "postgres")
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = 'tls' AND s.ssl",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let root = |f: &std::path::Path| f.display().to_string().replace('/', "%2F");
    for q in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-ca&sslrootcert={}", root(&ca_file)),
        format!("sslmode=verify-full&sslrootcert={}", root(&ca_file)),
    ] {
        let store = connect(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(encrypted(), 1, "{q}");
        drop(store);
        let deadline = Instant::now() + Duration::from_secs(10);
        while encrypted() > 0 {
            assert!(Instant::now() < deadline, "the connection of {q} stayed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Another CA: refused, whether the name is checked or not, without the password.
    for mode in ["verify-ca", "verify-full"] {
        let e = connect(&format!("sslmode={mode}&sslrootcert={}", root(&other_file)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificate"), "{e}");
        assert!(!e.contains("s3cret-pw"), "{e}");
    }
    // A name the certificate does not have: only verify-full refuses it.
    let by_name = |mode: &str| {
        let u = format!(
            "postgres://postgres@localhost:{}/tls?sslmode={mode}&sslrootcert={}",
            pg.address.rsplit(':').next().unwrap(),
            root(&ca_file)
        );
        let key = dir.path().join(format!("{mode}.key"));
        PgStore::connect(&u, MasterKey::create(&key).unwrap())
    };
    assert!(by_name("verify-ca").is_ok());
    let e = by_name("verify-full").unwrap_err().to_string();
    // Said in words, as crates/tls says it, not as rustls's Debug text.
    assert!(
        e.contains("presents a certificate for 127.0.0.1, not localhost") && !e.contains("DnsName"),
        "{e}"
    );
    // verify-full without a root file is refused before connecting.
    let e = connect("sslmode=verify-full").unwrap_err().to_string();
    assert!(e.contains("sslrootcert"), "{e}");
}

/// `fleet renew --wait` through a database outage: the orders are saved before it; while
/// the database refuses every connection (`ALLOW_CONNECTIONS false`, its sessions ended)
/// the command says so once and keeps waiting, and the host renewed after the database is
/// back makes it exit 0 (it used to exit 1 at the first failed read).
#[test]
fn fleet_renew_waits_through_a_database_outage() {
    let Some(pg) = start_pg() else { return };
    let url = database(&pg, "outage");
    let addr = format!("127.0.0.2:{}", common::free_port());
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("certherd.toml"),
        format!("[database]\nurl = \"{url}\"\n\n[fleet]\nservers = [\"https://{addr}\"]\n"),
    )
    .unwrap();
    env.ok(&[
        "init",
        "--hostname",
        "srv1.example.test",
        "--ip",
        "127.0.0.2",
    ]);
    let log = env.path("srv.log");
    let _server = server_on(&env.home(), &addr, &[], &log);
    let added = env.json(&[
        "host",
        "add",
        "esx1.example.test",
        "--ip",
        "127.0.0.1",
        "--output",
        "json",
    ]);
    let host = env.path("esx1");
    let r = common::run_at(
        &host,
        &[
            "agent",
            "join",
            "--server",
            &format!("https://{addr}"),
            "--token",
            added["token"].as_str().unwrap(),
            "--ca-fingerprint",
            added["ca_fingerprint"].as_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No agent runs yet: the renewal cannot finish before the outage.
    let renew = common::cmd_at(
        &env.home(),
        &["fleet", "renew", "--wait", "120s", "--output", "json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut renew = Killed::new(renew);
    // The order is saved once the host's renewal is in host_orders.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ordered: i64 = admin(&pg, "outage")
            .query_one("SELECT count(*) FROM host_orders WHERE kind = 'renew'", &[])
            .map(|r| r.get(0))
            .unwrap_or(0);
        if ordered > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no renewal ordered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut pgadmin = admin(&pg, "postgres");
    pgadmin
        .batch_execute(
            "ALTER DATABASE outage ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'outage';",
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        renew.child().try_wait().unwrap().is_none(),
        "fleet renew gave up during the outage"
    );
    pgadmin
        .batch_execute("ALTER DATABASE outage ALLOW_CONNECTIONS true")
        .unwrap();
    let _agent = Killed::new(
        common::cmd_at(&host, &["agent", "run", "--poll", "1s"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = renew.wait_with_output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "fleet renew: {}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.matches("out of reach").count(),
        1,
        "said once: {stderr}"
    );
}
