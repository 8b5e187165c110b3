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
    let mut server = Killed::new(
        env.cmd(&[
            "--database",
            &url,
            "server",
            "--listen",
            &addr,
            "--evaluate-every",
            "1h",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_listening(&mut server, &addr);
}

fn wait_listening(server: &mut Killed, addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            server.child().try_wait().unwrap().is_none(),
            "the server exited"
        );
        assert!(Instant::now() < deadline, "server did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let mut server = Killed::new(
        env.cmd(&[
            "--database",
            &url,
            "server",
            "--listen",
            &addr,
            "--evaluate-every",
            "1h",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_listening(&mut server, &addr);
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
