//! The `Store` contract: one test body, run against SQLite and against PostgreSQL (a
//! temporary cluster; under CI=true a missing PostgreSQL is a failure, locally a skip).
//! Both backends must end in the same state, read back identically.
//!
//! One module per table group of the store, run in this order on each backend: entries,
//! trust, audit, key providers, watches, fleet (leases last), alarms and outbox.

#![allow(clippy::unwrap_used)]

#[path = "../support/pg.rs"]
mod pg;
#[path = "../support/reads.rs"]
mod reads;

mod alarms;
mod audit;
mod entries;
mod fleet;
mod providers;
mod trust;
mod watches;

use certherd_core::{EntryRef, OffsetDateTime};
use certherd_store::{Error, MasterKey, PgStore, SqliteStore, Store};

fn at(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_764_000_000 + t).unwrap()
}

fn r(s: &str) -> EntryRef {
    s.parse().unwrap()
}

/// The contract, group by group. Returns the tokens, admin credentials and meta keys the
/// state holds, for reading everything back.
fn contract(s: &mut dyn Store) -> (Vec<String>, Vec<&'static str>, Vec<&'static str>) {
    entries::entries(s);
    trust::trust(s);
    audit::audit(s);
    providers::providers(s);
    watches::watches(s);
    let tokens = fleet::hosts_and_admins(s);
    alarms::alarms(s);
    fleet::leases(s);
    (
        tokens,
        vec!["adm1", "nope"],
        vec!["node.hostname", "gone", "half"],
    )
}

fn read_back(s: &dyn Store, keys: &(Vec<String>, Vec<&str>, Vec<&str>)) -> String {
    let tokens: Vec<&str> = keys.0.iter().map(String::as_str).collect();
    reads::all_reads(s, &tokens, &keys.1, &keys.2)
}

fn sqlite_run() -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let mut s = SqliteStore::open(&dir.path().join("certherd.db"), key).unwrap();
    let keys = contract(&mut s);
    read_back(&s, &keys)
}

#[test]
fn sqlite_keeps_the_store_contract() {
    sqlite_run();
}

/// The same body on PostgreSQL, then: both backends read back the same; a sealed key is
/// opened only by its master key; the audit log is append-only; a newer schema is refused
/// with nothing changed; reconnecting applies no migration twice.
#[test]
fn postgres_keeps_the_store_contract_and_reads_back_as_sqlite_does() {
    let Some(pg) = pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    let url = pg::database(&pg, "contract");
    let mut s = PgStore::connect(&url, MasterKey::create(&key_path).unwrap()).unwrap();
    let keys = contract(&mut s);
    let pg_reads = read_back(&s, &keys);
    assert_eq!(
        pg_reads,
        sqlite_run(),
        "PostgreSQL reads back as SQLite does"
    );
    drop(s);

    // Reconnecting, through the Unix socket this time: every migration once, nothing
    // applied again.
    let port = pg.address.rsplit(':').next().unwrap();
    let socket_url = format!(
        "postgres://postgres@/contract?host={}&port={port}",
        pg.dir().display()
    );
    let s = PgStore::connect(&socket_url, MasterKey::load(&key_path).unwrap()).unwrap();
    assert_eq!(read_back(&s, &keys), pg_reads);
    drop(s);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i64> = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        versions,
        (1..=certherd_store::migrations::latest()).collect::<Vec<_>>()
    );
    // The audit log is append-only in the database itself.
    assert!(c.execute("DELETE FROM audit", &[]).is_err());
    assert!(c.execute("UPDATE audit SET detail = 'x'", &[]).is_err());

    // Another master key opens nothing.
    let other = MasterKey::create(&dir.path().join("other.key")).unwrap();
    let s = PgStore::connect(&url, other).unwrap();
    assert!(matches!(
        s.entry(&r("svc/web")).unwrap_err(),
        Error::Unseal { .. }
    ));
    drop(s);

    // A newer schema is refused, naming both versions, and nothing changes.
    c.batch_execute(
        "INSERT INTO schema_migrations VALUES (99, 'from_the_future', 0); CREATE TABLE from_the_future (x TEXT);",
    )
    .unwrap();
    let snapshot = |c: &mut postgres::Client| -> String {
        let tables: Vec<String> = c
            .query("SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = format!("{tables:?}\n");
        for t in tables {
            let rows = c
                .query(
                    &format!("SELECT to_jsonb(x)::TEXT FROM \"{t}\" x ORDER BY 1"),
                    &[],
                )
                .unwrap();
            for row in rows {
                out.push_str(&row.get::<_, String>(0));
                out.push('\n');
            }
        }
        out
    };
    let before = snapshot(&mut c);
    let err = PgStore::connect(&url, MasterKey::load(&key_path).unwrap()).unwrap_err();
    match &err {
        Error::SchemaTooNew {
            found,
            supported,
            database,
        } => {
            assert_eq!(
                (*found, *supported),
                (99, certherd_store::migrations::latest())
            );
            assert_eq!(database, &url);
        }
        other => panic!("{other}"),
    }
    assert_eq!(snapshot(&mut c), before, "nothing changed");

    // A database that cannot be reached is one error naming the URL, password hidden.
    drop(c);
    let unreachable = format!("postgres://certherd:hunter2@127.0.0.1:{}/x", free_port());
    let err = PgStore::connect(&unreachable, MasterKey::load(&key_path).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("postgres://certherd:***@127.0.0.1:") && !text.contains("hunter2"),
        "{text}"
    );
}

/// A 127.0.0.1 port nothing listens on (free a moment ago).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
