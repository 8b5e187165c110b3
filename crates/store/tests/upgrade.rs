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
    assert_eq!(v, 5);
}

/// A version 4 home's admin credentials (a name and a token hash) gain a kind, a role and
/// their times; each stays a bearer token with the reads it was limited to.
#[test]
fn version_4_admin_credentials_gain_their_role_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certherd.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE admin_credentials (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO admin_credentials VALUES ('beef', 'prometheus');
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
    // Opened again: the columns are there once.
    let key = MasterKey::load(&dir.path().join("master.key")).unwrap();
    SqliteStore::open(&db, key).unwrap();
}
