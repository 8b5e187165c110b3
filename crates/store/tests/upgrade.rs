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
