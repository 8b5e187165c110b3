//! The fleet's state of a host lives in tables whose rows have the host's row as parent:
//! removing the host removes every row of it.

#![allow(clippy::unwrap_used)]

use certherd_core::{Host, JoinToken, OffsetDateTime};
use certherd_store::{Change, Error, HostOrder, HostState, MasterKey, SqliteStore, Store};

fn open(dir: &std::path::Path) -> SqliteStore {
    let key = MasterKey::create(&dir.join("master.key")).unwrap();
    SqliteStore::open(&dir.join("certherd.db"), key).unwrap()
}

fn host(name: &str, now: OffsetDateTime) -> Host {
    Host {
        name: name.into(),
        ips: vec!["10.0.0.7".parse().unwrap()],
        created_at: now,
        joined_at: Some(now),
        pool_sha256: Some(format!("pool-of-{name}")),
        last_seen: Some(now),
    }
}

/// Every row of every table (but the audit log and the alarm history, which record what
/// happened) in which some text column equals `value`.
fn rows_naming(db: &std::path::Path, value: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('audit', 'alarms')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut found = Vec::new();
    for t in tables {
        let columns: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for col in columns {
            let n: i64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM \"{t}\" WHERE CAST(\"{col}\" AS TEXT) = ?1 OR CAST(\"{col}\" AS TEXT) LIKE ?2"),
                    [value, &format!("%.{value}")],
                    |r| r.get(0),
                )
                .unwrap();
            if n > 0 {
                found.push(format!("{t}.{col}: {n}"));
            }
        }
    }
    found
}

#[test]
fn removing_a_host_removes_every_row_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let now = OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap();
    let (token, _) = JoinToken::issue(
        "esx01",
        [7; 32],
        now,
        certherd_core::Span::seconds(3600).duration(),
    );
    let (other_token, _) = JoinToken::issue(
        "esx02",
        [8; 32],
        now,
        certherd_core::Span::seconds(3600).duration(),
    );
    store
        .apply(&[
            Change::PutHost(Box::new(host("esx01", now))),
            Change::PutHost(Box::new(host("esx02", now))),
            Change::PutToken(token),
            Change::PutToken(other_token.clone()),
            Change::SetHostVerification {
                host: "esx01".into(),
                enabled: false,
            },
            Change::SetHostRoots {
                host: "esx01".into(),
                roots: vec!["r1".into(), "r2".into()],
            },
            Change::PutHostOrder {
                host: "esx01".into(),
                order: HostOrder::Renew,
                at: now,
            },
            Change::PutHostOrder {
                host: "esx01".into(),
                order: HostOrder::RefreshPool,
                at: now,
            },
            Change::SetHostDeployError {
                host: "esx01".into(),
                error: Some("reload `virt-admin server-update-tls libvirtd` failed".into()),
            },
            Change::SetHostVerification {
                host: "esx02".into(),
                enabled: true,
            },
        ])
        .unwrap();
    assert_eq!(
        store.host_state("esx01").unwrap(),
        HostState {
            verification: Some(false),
            roots: vec!["r1".into(), "r2".into()],
            renew_ordered_at: Some(now),
            refresh_pool_ordered_at: Some(now),
            deploy_error: Some("reload `virt-admin server-update-tls libvirtd` failed".into()),
        }
    );
    assert!(!rows_naming(&dir.path().join("certherd.db"), "esx01").is_empty());
    store.apply(&[Change::DeleteHost("esx01".into())]).unwrap();
    assert_eq!(
        rows_naming(&dir.path().join("certherd.db"), "esx01"),
        Vec::<String>::new()
    );
    assert_eq!(store.host_state("esx01").unwrap(), HostState::default());
    // The other host keeps its state.
    assert_eq!(store.host_state("esx02").unwrap().verification, Some(true));
    assert!(store.join_token(&other_token.sha256).unwrap().is_some());
    // Added again, the host starts from nothing.
    store
        .apply(&[Change::PutHost(Box::new(Host {
            joined_at: None,
            pool_sha256: None,
            last_seen: None,
            ..host("esx01", now)
        }))])
        .unwrap();
    assert_eq!(store.host_state("esx01").unwrap(), HostState::default());
}

#[test]
fn state_of_an_unknown_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let e = store
        .apply(&[Change::SetHostVerification {
            host: "nobody".into(),
            enabled: false,
        }])
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { what: "host", name } if name == "nobody"),
        "{e}"
    );
    let e = store
        .apply(&[Change::PutHostOrder {
            host: "nobody".into(),
            order: HostOrder::Renew,
            at: OffsetDateTime::UNIX_EPOCH,
        }])
        .unwrap_err();
    assert!(matches!(&e, Error::NotFound { what: "host", .. }), "{e}");
}
