//! A home written by the previous release opens, and its watches survive the upgrade of
//! the watches table (one problem and a `k=v` detail, to every finding and typed facts).

#![allow(clippy::unwrap_used)]

use certherd_core::{Facts, WatchKind};
use certherd_store::{MasterKey, SqliteStore, Store};

#[test]
fn a_version_2_watches_table_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE watches (kind TEXT NOT NULL, name TEXT NOT NULL, target TEXT NOT NULL,
                server_name TEXT, verify INTEGER NOT NULL, created_at BIGINT NOT NULL,
                scanned_at BIGINT, problem_kind TEXT, problem TEXT, detail TEXT NOT NULL,
                PRIMARY KEY (kind, name));
             INSERT INTO watches VALUES ('endpoint', 'wlb', 'wlb.example.test:8012',
                'wlb.example.test', 1, 1764000000, 1764000100, 'untrusted', 'issuer not trusted',
                'tls_version=TLSv1_3; trusted=no');
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let store = SqliteStore::open(&db, key).unwrap();
    let w = store.watches(Some(WatchKind::Endpoint)).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].name, "wlb");
    assert_eq!(w[0].server_name.as_deref(), Some("wlb.example.test"));
    assert!(w[0].verify);
    // The old verdict is not carried over: it is judged again at the next scan.
    assert!(w[0].findings.is_empty());
    assert_eq!(w[0].facts, Facts::None);
    assert_eq!(w[0].scanned_at, None);
}

/// Version 3 kept the fleet's state in `meta` keys; version 4 moves it into tables whose
/// rows belong to their host. Keys of a host that was removed (the leftovers of issue 11's
/// item 10) are dropped, not carried over.
#[test]
fn version_3_fleet_meta_keys_move_into_their_tables() {
    use certherd_store::{Change, HostState};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE hosts (name TEXT PRIMARY KEY, ips TEXT NOT NULL, created_at BIGINT NOT NULL,
                joined_at BIGINT, pool_sha256 TEXT, last_seen BIGINT);
             CREATE TABLE join_tokens (sha256 TEXT PRIMARY KEY, host TEXT NOT NULL,
                issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT);
             INSERT INTO hosts VALUES ('esx01', '10.0.0.1', 1764000000, 1764000100, 'aa', 1764000200);
             INSERT INTO join_tokens VALUES ('t1', 'esx01', 1764000000, 1764086400, 1764000100);
             INSERT INTO join_tokens VALUES ('t2', 'gone', 1764000000, 1764086400, NULL);
             INSERT INTO meta VALUES ('hostname', 'node1.example.test');
             INSERT INTO meta VALUES ('pool.verification', 'disabled');
             INSERT INTO meta VALUES ('fleet.host.verification.esx01', 'disabled');
             INSERT INTO meta VALUES ('fleet.host.roots.esx01', 'r2,r1');
             INSERT INTO meta VALUES ('fleet.order.renew.esx01', '1764000300');
             INSERT INTO meta VALUES ('fleet.order.refresh-pool.esx01', '1764000400');
             INSERT INTO meta VALUES ('fleet.host.verification.gone', 'disabled');
             INSERT INTO meta VALUES ('fleet.order.renew.gone', '1764000300');
             INSERT INTO meta VALUES ('admin.credential.abcd', 'alice');
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let mut store = SqliteStore::open(&db, key).unwrap();
    let at = |t| certherd_core::OffsetDateTime::from_unix_timestamp(t).unwrap();
    assert_eq!(
        store.host_state("esx01").unwrap(),
        HostState {
            verification: Some(false),
            roots: vec!["r1".into(), "r2".into()],
            renew_ordered_at: Some(at(1764000300)),
            refresh_pool_ordered_at: Some(at(1764000400)),
            deploy_error: None,
        }
    );
    assert_eq!(store.host_state("gone").unwrap(), HostState::default());
    // A credential of before keeps the reads it was limited to.
    let alice = store.admin_credential("abcd").unwrap().unwrap();
    assert_eq!(
        (
            alice.name.as_str(),
            alice.role,
            alice.kind,
            alice.revoked_at
        ),
        (
            "alice",
            certherd_store::AdminRole::Reader,
            certherd_store::CredentialKind::Bearer,
            None
        )
    );
    // Settings that are not fleet state stay; the moved keys are gone.
    assert_eq!(
        store.meta("hostname").unwrap().as_deref(),
        Some("node1.example.test")
    );
    assert_eq!(
        store.meta("pool.verification").unwrap().as_deref(),
        Some("disabled")
    );
    for k in [
        "fleet.host.verification.esx01",
        "fleet.host.verification.gone",
        "fleet.order.renew.gone",
        "admin.credential.abcd",
    ] {
        assert_eq!(store.meta(k).unwrap(), None, "{k}");
    }
    // The token of a host that no longer exists is dropped; the other one has its host as
    // parent now.
    assert!(store.join_token("t2").unwrap().is_none());
    assert!(store.join_token("t1").unwrap().is_some());
    store.apply(&[Change::DeleteHost("esx01".into())]).unwrap();
    assert!(store.join_token("t1").unwrap().is_none());
    assert_eq!(store.host_state("esx01").unwrap(), HostState::default());
    drop(store);
    let c = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3 + certherd_store::migrations::latest());
    let versions: Vec<i64> = recorded(&db).into_iter().map(|(v, _)| v).collect();
    assert_eq!(
        versions,
        (1..=certherd_store::migrations::latest()).collect::<Vec<_>>()
    );
}

/// The migrations recorded in the file at `db`, as (version, name).
fn recorded(db: &std::path::Path) -> Vec<(i64, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Every object of the schema and every row, as text: what "nothing changed" compares.
fn dump(db: &std::path::Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut out = String::new();
    let objects: Vec<(String, String, Option<String>)> = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, sql) in objects {
        out.push_str(&format!("{kind} {name} {sql:?}\n"));
        if kind == "table" {
            let mut stmt = c.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    out.push_str(&format!("{:?} ", row.get_ref(i).unwrap()));
                }
                out.push('\n');
            }
        }
    }
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    out.push_str(&format!("user_version {v}\n"));
    out
}

/// A home as the release before migration files left it: the version 4 schema (that
/// release's SQL, which migration 1 keeps verbatim), `PRAGMA user_version = 4`, no
/// `schema_migrations`. It opens, keeps its rows, and is recorded at migration 1, then
/// brought to the newest.
#[test]
fn a_version_4_home_from_before_migration_files_is_recorded_and_migrated() {
    use certherd_core::{EntryRef, OffsetDateTime};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let sealed = key.seal(b"private key", "entry-key:abab").unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(include_str!("../migrations/sqlite/0001_initial.sql"))
            .unwrap();
        c.execute_batch(
            "INSERT INTO meta VALUES ('node.hostname', 'node1.example.test');
             INSERT INTO stores VALUES ('svc', 1764000000);
             INSERT INTO hosts VALUES ('esx01', '10.0.0.1', 1764000000, NULL, NULL, NULL);
             INSERT INTO host_orders VALUES ('esx01', 'renew', 1764000300);
             INSERT INTO audit (at, action, subject, detail) VALUES (1764000000, 'init', 'node', '');
             PRAGMA user_version = 4;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO entries VALUES ('svc', 'web', 'keypair', NULL, 'issued', 'CN=web', 'CN=ca', '01', 1764000000, 1764086400, 'abab', 'caca', 1764000000, x'3000', '', ?1)",
            [&sealed],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&db, key).unwrap();
    assert_eq!(
        store.meta("node.hostname").unwrap().as_deref(),
        Some("node1.example.test")
    );
    let e = store
        .entry(&"svc/web".parse::<EntryRef>().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(e.key.unwrap().expose(), b"private key");
    assert_eq!(
        store.host_state("esx01").unwrap().renew_ordered_at,
        Some(OffsetDateTime::from_unix_timestamp(1764000300).unwrap())
    );
    assert_eq!(store.audit_log().unwrap().len(), 1);
    drop(store);
    let names: Vec<(i64, String)> = certherd_store::migrations::SQLITE
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    assert_eq!(recorded(&db), names);
    // Opening again applies nothing twice.
    let key = MasterKey::load(&dir.path().join("master.key")).unwrap();
    let before = dump(&db);
    drop(SqliteStore::open(&db, key).unwrap());
    assert_eq!(dump(&db), before);
}

/// A new file gets every migration, each recorded once, in order.
#[test]
fn a_new_database_gets_every_migration_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    drop(SqliteStore::open(&db, key).unwrap());
    let versions: Vec<i64> = recorded(&db).into_iter().map(|(v, _)| v).collect();
    let expected: Vec<i64> = (1..=certherd_store::migrations::latest()).collect();
    assert_eq!(versions, expected);
}

/// A file whose recorded schema is newer than this binary knows is refused with both
/// versions named, and left exactly as it was; so is a pre-migration file whose
/// `user_version` is beyond 4.
#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    let key_path = dir.path().join("master.key");
    drop(SqliteStore::open(&db, MasterKey::create(&key_path).unwrap()).unwrap());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE from_the_future (x TEXT);
             INSERT INTO schema_migrations VALUES (99, 'from_the_future', 1764000000);",
        )
        .unwrap();
    }
    let before = dump(&db);
    let err = SqliteStore::open(&db, MasterKey::load(&key_path).unwrap()).unwrap_err();
    match &err {
        certherd_store::Error::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(
                (*found, *supported),
                (99, certherd_store::migrations::latest())
            );
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("schema version 99") && text.contains(&db.display().to_string()),
        "{text}"
    );
    assert_eq!(dump(&db), before, "nothing changed");

    let old = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); PRAGMA user_version = 9;")
            .unwrap();
    }
    let before = dump(&old);
    let err = SqliteStore::open(&old, MasterKey::load(&key_path).unwrap()).unwrap_err();
    assert!(
        matches!(err, certherd_store::Error::SchemaTooNew { .. }),
        "{err}"
    );
    assert_eq!(dump(&old), before, "nothing changed");
}

/// A migration that cannot apply (two issued certificates with one issuer and serial, which
/// migration 2 forbids) names itself, and leaves the file as it was: still version 4,
/// without `schema_migrations`.
#[test]
fn a_migration_that_fails_names_itself_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(include_str!("../migrations/sqlite/0001_initial.sql"))
            .unwrap();
        c.execute_batch(
            "INSERT INTO stores VALUES ('svc', 1764000000);
             INSERT INTO entries VALUES ('svc', 'a', 'certificate', NULL, 'issued', 'CN=a', 'CN=ca', '01', 0, 0, 'aa', 'caca', 0, x'3000', '', NULL);
             INSERT INTO entries VALUES ('svc', 'b', 'certificate', NULL, 'issued', 'CN=b', 'CN=ca', '01', 0, 0, 'bb', 'caca', 0, x'3000', '', NULL);
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let before = dump(&db);
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let err = SqliteStore::open(&db, key).unwrap_err();
    assert!(
        matches!(
            err,
            certherd_store::Error::Migration {
                version: 2,
                name: "issued_serials_unique",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("schema migration 0002 (issued_serials_unique) failed"),
        "{err}"
    );
    assert_eq!(dump(&db), before);
}

/// A home of before migration 5 (a name and a token hash per admin credential): each
/// credential gains a kind, a role and its times, and stays a bearer token with the reads
/// it was limited to.
#[test]
fn admin_credentials_of_before_gain_their_role_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(include_str!("../migrations/sqlite/0001_initial.sql"))
            .unwrap();
        c.execute_batch(
            "INSERT INTO admin_credentials VALUES ('beef', 'prometheus');
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let mut store = SqliteStore::open(&db, key).unwrap();
    let c = store.admin_credential("beef").unwrap().unwrap();
    assert_eq!(c.role, certherd_store::AdminRole::Reader);
    assert_eq!(c.kind, certherd_store::CredentialKind::Bearer);
    assert_eq!(
        (c.created_at, c.expires_at, c.revoked_at),
        (None, None, None)
    );
    let at = certherd_core::OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap();
    store
        .apply(&[certherd_store::Change::RevokeAdminCredentials {
            name: "prometheus".into(),
            at,
        }])
        .unwrap();
    assert_eq!(store.admin_credentials().unwrap()[0].revoked_at, Some(at));
    // Revoking what is revoked already is refused: nothing was live.
    assert!(store
        .apply(&[certherd_store::Change::RevokeAdminCredentials {
            name: "prometheus".into(),
            at,
        }])
        .is_err());
    drop(store);
    // Opened again: nothing applied twice.
    let before = dump(&db);
    let key = MasterKey::load(&dir.path().join("master.key")).unwrap();
    drop(SqliteStore::open(&db, key).unwrap());
    assert_eq!(dump(&db), before);
}
