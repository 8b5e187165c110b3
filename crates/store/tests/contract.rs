//! The `Store` contract: one test body, run against SQLite and against PostgreSQL (a
//! temporary cluster; under CI=true a missing PostgreSQL is a failure, locally a skip).
//! Both backends must end in the same state, read back identically.

#![allow(clippy::unwrap_used)]

#[path = "support/pg.rs"]
mod pg;
#[path = "support/reads.rs"]
mod reads;

use certherd_core::{
    Alarm, AlarmKind, EntryKind, EntryMeta, EntryRef, Facts, Host, JoinToken, KeyProvider,
    KmipServer, OffsetDateTime, Source, Watch, WatchKind,
};
use certherd_store::{
    AuditRecord, Change, CrlRecord, Entry, Error, HostOrder, HostState, MasterKey, PgStore, Secret,
    SqliteStore, Store,
};

fn at(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_764_000_000 + t).unwrap()
}

fn r(s: &str) -> EntryRef {
    s.parse().unwrap()
}

fn entry(name: &str, serial: &str, source: Source, key: Option<&[u8]>) -> Entry {
    Entry {
        meta: EntryMeta {
            entry: r(name),
            kind: if key.is_some() {
                EntryKind::KeyPair
            } else {
                EntryKind::Certificate
            },
            profile: key.map(|_| "server".to_owned()),
            source,
            subject: format!("CN={name}"),
            issuer: "CN=ca".into(),
            serial: serial.into(),
            not_before: at(0),
            not_after: at(86_400),
            sha256: format!("{:0>64}", serial),
            issuer_sha256: Some("ca".repeat(32)),
            stored_at: at(1),
        },
        cert: vec![0x30, 0x03, 0x02, 0x01, serial.len() as u8],
        chain: vec![],
        key: key.map(|k| Secret::new(k.to_vec())),
    }
}

fn put(e: Entry, replace: bool) -> Change {
    Change::PutEntry {
        entry: Box::new(e),
        replace,
    }
}

fn host(name: &str) -> Host {
    Host {
        name: name.into(),
        ips: vec!["10.0.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
        created_at: at(0),
        joined_at: Some(at(5)),
        pool_sha256: Some(format!("pool-{name}")),
        last_seen: None,
    }
}

fn watch(kind: WatchKind, name: &str) -> Watch {
    Watch {
        kind,
        name: name.into(),
        target: format!("{name}.example.test:443"),
        server_name: Some(format!("{name}.example.test")),
        verify: true,
        created_at: at(0),
        scanned_at: Some(at(9)),
        starttls: None,
        pin: Some("ab".repeat(32)),
        findings: vec![],
        facts: Facts::None,
    }
}

fn provider(name: &str, servers: &[&str]) -> KeyProvider {
    KeyProvider {
        name: name.parse().unwrap(),
        primary_key_id: format!("{name}-key"),
        servers: servers
            .iter()
            .map(|s| KmipServer {
                address: s.parse().unwrap(),
                proxy: None,
            })
            .collect(),
    }
}

/// The contract. Returns the tokens, admin credentials and meta keys the state holds,
/// for reading everything back.
fn contract(s: &mut dyn Store) -> (Vec<String>, Vec<&'static str>, Vec<&'static str>) {
    // Settings.
    s.apply(&[
        Change::SetMeta {
            key: "node.hostname".into(),
            value: "a.example.test".into(),
        },
        Change::SetMeta {
            key: "gone".into(),
            value: "x".into(),
        },
    ])
    .unwrap();
    s.apply(&[
        Change::SetMeta {
            key: "node.hostname".into(),
            value: "b.example.test".into(),
        },
        Change::DeleteMeta("gone".into()),
    ])
    .unwrap();
    assert_eq!(
        s.meta("node.hostname").unwrap().as_deref(),
        Some("b.example.test")
    );
    assert_eq!(s.meta("gone").unwrap(), None);

    // Stores and entries; keys sealed and unsealed; names in bytewise order.
    s.apply(&[
        Change::CreateStore("svc".parse().unwrap(), at(0)),
        Change::CreateStore("backup".parse().unwrap(), at(0)),
        Change::CreateStore("svc".parse().unwrap(), at(50)),
        put(
            entry("svc/web", "01", Source::Issued, Some(b"web key")),
            false,
        ),
        put(entry("svc/Zeta", "02", Source::Issued, None), false),
        put(entry("svc/alpha", "03", Source::Imported, None), false),
        put(entry("svc/9nine", "04", Source::Trusted, None), false),
    ])
    .unwrap();
    let names: Vec<String> = s
        .entries(None)
        .unwrap()
        .iter()
        .map(|m| m.entry.to_string())
        .collect();
    assert_eq!(names, ["svc/9nine", "svc/Zeta", "svc/alpha", "svc/web"]);
    let web = s.entry(&r("svc/web")).unwrap().unwrap();
    assert_eq!(web.key.as_ref().unwrap().expose(), b"web key");
    assert_eq!(
        web,
        entry("svc/web", "01", Source::Issued, Some(b"web key"))
    );
    assert_eq!(s.entry(&r("svc/none")).unwrap(), None);
    let stores = s.stores().unwrap();
    assert_eq!(
        stores
            .iter()
            .map(|i| (i.name.to_string(), i.entries, i.created_at))
            .collect::<Vec<_>>(),
        [("backup".into(), 0, at(0)), ("svc".into(), 4, at(0))]
    );

    // A batch that fails changes nothing: the meta write before the failing entry is gone.
    let err = s
        .apply(&[
            Change::SetMeta {
                key: "half".into(),
                value: "written".into(),
            },
            put(entry("svc/web", "05", Source::Imported, None), false),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Exists { what: "entry", name } if name == "svc/web"),
        "{err}"
    );
    assert_eq!(s.meta("half").unwrap(), None);
    let err = s
        .apply(&[put(entry("nostore/x", "06", Source::Imported, None), false)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what: "store", name } if name == "nostore"),
        "{err}"
    );
    // An issued certificate is stored once: the same issuer and serial under another
    // name is refused by the database.
    let err = s
        .apply(&[put(entry("backup/copy", "01", Source::Issued, None), false)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateSerial { serial, .. } if serial == "01"),
        "{err}"
    );
    // Replacing keeps one row; the key is sealed anew.
    s.apply(&[put(
        entry("svc/web", "07", Source::Issued, Some(b"new key")),
        true,
    )])
    .unwrap();
    assert_eq!(
        s.entry(&r("svc/web"))
            .unwrap()
            .unwrap()
            .key
            .unwrap()
            .expose(),
        b"new key"
    );
    // Moves and deletes.
    s.apply(&[Change::MoveEntry {
        from: r("svc/alpha"),
        to: r("backup/alpha.1"),
        at: at(60),
    }])
    .unwrap();
    let moved = s.entry(&r("backup/alpha.1")).unwrap().unwrap();
    assert_eq!(moved.meta.stored_at, at(60));
    let err = s
        .apply(&[Change::MoveEntry {
            from: r("svc/web"),
            to: r("backup/alpha.1"),
            at: at(61),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    let err = s.apply(&[Change::DeleteEntry(r("svc/alpha"))]).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "entry", .. }),
        "{err}"
    );
    s.apply(&[Change::DeleteEntry(r("svc/9nine"))]).unwrap();
    let err = s
        .apply(&[Change::DeleteStore("backup".parse().unwrap())])
        .unwrap_err();
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    s.apply(&[
        Change::CreateStore("empty".parse().unwrap(), at(0)),
        Change::DeleteStore("empty".parse().unwrap()),
    ])
    .unwrap();

    // Secrets.
    s.apply(&[
        Change::PutSecret {
            name: "ca.pending-key".into(),
            secret: Secret::new(b"pending".to_vec()),
        },
        Change::PutSecret {
            name: "other".into(),
            secret: Secret::new(b"x".to_vec()),
        },
        Change::DeleteSecret("other".into()),
    ])
    .unwrap();
    assert_eq!(
        s.secret("ca.pending-key").unwrap().unwrap().expose(),
        b"pending"
    );
    assert_eq!(s.secret("other").unwrap(), None);

    // CRLs: an identical one is kept as is.
    let crl = |sha: &str, added: i64| CrlRecord {
        sha256: sha.into(),
        issuer: "CN=ca".into(),
        der: vec![0x30, 0x00, sha.len() as u8],
        this_update: at(3),
        added_at: at(added),
    };
    s.apply(&[
        Change::PutCrl(crl("c2", 20)),
        Change::PutCrl(crl("c1", 10)),
        Change::PutCrl(crl("c1", 99)),
        Change::PutCrl(crl("c3", 30)),
        Change::DeleteCrl("c3".into()),
    ])
    .unwrap();
    assert_eq!(s.crls().unwrap(), vec![crl("c1", 10), crl("c2", 20)]);

    // Revocations: oldest first; a certificate is revoked once (the first stands, and a
    // batch with a second one changes nothing).
    let revoked = |serial: &str, t: i64, reason: &str| certherd_store::RevocationRecord {
        issuer_sha256: "ca1".into(),
        serial: serial.into(),
        issuer: "CN=CA".into(),
        subject: format!("CN={serial}"),
        entry: format!("svc/{serial}"),
        reason: reason.into(),
        revoked_at: at(t),
        revoked_by: "local:root".into(),
    };
    s.apply(&[
        Change::PutRevocation(revoked("0b", 12, "superseded")),
        Change::PutRevocation(revoked("0a", 11, "keyCompromise")),
    ])
    .unwrap();
    let before = s.revocations().unwrap();
    assert_eq!(
        before,
        vec![
            revoked("0a", 11, "keyCompromise"),
            revoked("0b", 12, "superseded")
        ]
    );
    s.apply(&[
        Change::PutRevocation(revoked("0c", 13, "unspecified")),
        Change::PutRevocation(revoked("0a", 14, "unspecified")),
    ])
    .unwrap_err();
    assert_eq!(s.revocations().unwrap(), before, "all or nothing");

    // The audit log, oldest first.
    let audit = |i: i64| AuditRecord {
        at: at(100 - i),
        action: format!("action{i}"),
        subject: "svc/web".into(),
        detail: String::new(),
    };
    s.apply(&(0..5).map(|i| Change::Audit(audit(i))).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(
        s.audit_log().unwrap(),
        (0..5).map(audit).collect::<Vec<_>>()
    );

    // Key providers with their servers in order; replacing replaces the list.
    s.apply(&[
        Change::PutKeyProvider {
            provider: provider("kp1", &["kms2.example.test:5696", "kms1.example.test:5696"]),
            at: at(0),
        },
        Change::PutKeyProvider {
            provider: provider("gone", &["kms.example.test:5696"]),
            at: at(0),
        },
    ])
    .unwrap();
    s.apply(&[
        Change::PutKeyProvider {
            provider: provider("kp1", &["kms3.example.test:5696", "kms2.example.test:5696"]),
            at: at(40),
        },
        Change::DeleteKeyProvider("gone".parse().unwrap()),
    ])
    .unwrap();
    assert_eq!(
        s.key_providers().unwrap(),
        vec![provider(
            "kp1",
            &["kms3.example.test:5696", "kms2.example.test:5696"]
        )]
    );
    let err = s
        .apply(&[Change::DeleteKeyProvider("gone".parse().unwrap())])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Watches, by kind then name.
    s.apply(&[
        Change::PutWatch(Box::new(watch(WatchKind::File, "f1"))),
        Change::PutWatch(Box::new(watch(WatchKind::Endpoint, "wlb"))),
        Change::PutWatch(Box::new(watch(WatchKind::Endpoint, "Backup"))),
        Change::PutWatch(Box::new(watch(WatchKind::Endpoint, "wlb"))),
    ])
    .unwrap();
    let names: Vec<String> = s
        .watches(Some(WatchKind::Endpoint))
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["Backup", "wlb"]);
    assert_eq!(s.watches(None).unwrap().len(), 3);
    assert_eq!(
        s.watches(Some(WatchKind::File)).unwrap(),
        vec![watch(WatchKind::File, "f1")]
    );
    let err = s
        .apply(&[Change::DeleteWatch(WatchKind::File, "nope".into())])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Hosts and their state; removing a host removes every row of it.
    let ttl = certherd_core::Span::seconds(3600).duration();
    let (t1, _) = JoinToken::issue("esx01", [1; 32], at(0), ttl);
    let (t2, _) = JoinToken::issue("esx02", [2; 32], at(0), ttl);
    let mut used = t1.clone();
    used.used_at = Some(at(7));
    s.apply(&[
        Change::PutHost(Box::new(host("esx01"))),
        Change::PutHost(Box::new(host("esx02"))),
        Change::PutToken(t1.clone()),
        Change::PutToken(t2.clone()),
        Change::PutToken(used.clone()),
        Change::SetHostVerification {
            host: "esx01".into(),
            enabled: false,
        },
        Change::SetHostRoots {
            host: "esx01".into(),
            roots: vec!["r2".into(), "r1".into(), "r2".into()],
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::Renew,
            at: at(10),
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::RefreshPool,
            at: at(11),
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::Renew,
            at: at(12),
        },
        Change::SetHostDeployError {
            host: "esx01".into(),
            error: Some("reload failed".into()),
        },
        Change::SetHostVerification {
            host: "esx02".into(),
            enabled: true,
        },
        Change::SetHostDeployError {
            host: "esx02".into(),
            error: Some("x".into()),
        },
        Change::SetHostDeployError {
            host: "esx02".into(),
            error: None,
        },
    ])
    .unwrap();
    assert_eq!(
        s.host_state("esx01").unwrap(),
        HostState {
            verification: Some(false),
            roots: vec!["r1".into(), "r2".into()],
            renew_ordered_at: Some(at(12)),
            refresh_pool_ordered_at: Some(at(11)),
            deploy_error: Some("reload failed".into()),
        }
    );
    assert_eq!(s.join_token(&t1.sha256).unwrap(), Some(used));
    assert_eq!(
        s.host_by_pool("pool-esx02").unwrap().map(|h| h.name),
        Some("esx02".into())
    );
    assert_eq!(s.host("esx01").unwrap(), Some(host("esx01")));
    let err = s
        .apply(&[Change::SetHostVerification {
            host: "nohost".into(),
            enabled: true,
        }])
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what: "host", name } if name == "nohost"),
        "{err}"
    );
    let err = s
        .apply(&[Change::PutHostOrder {
            host: "nohost".into(),
            order: HostOrder::Renew,
            at: at(1),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "host", .. }), "{err}");
    s.apply(&[
        Change::DeleteHostOrder {
            host: "esx01".into(),
            order: HostOrder::RefreshPool,
        },
        Change::DeleteHost("esx02".into()),
    ])
    .unwrap();
    assert_eq!(s.host_state("esx02").unwrap(), HostState::default());
    assert_eq!(s.join_token(&t2.sha256).unwrap(), None);
    assert_eq!(s.host("esx02").unwrap(), None);
    let err = s.apply(&[Change::DeleteHost("esx02".into())]).unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "host", .. }), "{err}");

    // Admin credentials: written (a second write of one hash replaces it), listed by
    // name, revoked by name once.
    let cred =
        |sha: &str, name: &str, role, kind, created: Option<i64>| certherd_store::AdminCredential {
            sha256: sha.into(),
            name: name.into(),
            kind,
            role,
            created_at: created.map(at),
            expires_at: created.map(|t| at(t + 1000)),
            revoked_at: None,
        };
    use certherd_store::{AdminRole, CredentialKind};
    s.apply(&[
        Change::PutAdminCredential(cred(
            "adm1",
            "alice",
            AdminRole::Reader,
            CredentialKind::Bearer,
            None,
        )),
        Change::PutAdminCredential(cred(
            "adm1",
            "alice2",
            AdminRole::Admin,
            CredentialKind::Bearer,
            Some(5),
        )),
        Change::PutAdminCredential(cred(
            "adm2",
            "bob",
            AdminRole::Reader,
            CredentialKind::ClientCert,
            Some(6),
        )),
        Change::PutAdminCredential(cred(
            "adm3",
            "bob",
            AdminRole::Admin,
            CredentialKind::Bearer,
            None,
        )),
    ])
    .unwrap();
    assert_eq!(
        s.admin_credential("adm1").unwrap(),
        Some(cred(
            "adm1",
            "alice2",
            AdminRole::Admin,
            CredentialKind::Bearer,
            Some(5)
        ))
    );
    assert_eq!(s.admin_credential("nope").unwrap(), None);
    let names: Vec<(String, String)> = s
        .admin_credentials()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.sha256))
        .collect();
    assert_eq!(
        names,
        [("alice2", "adm1"), ("bob", "adm3"), ("bob", "adm2")]
            .map(|(n, h)| (n.to_owned(), h.to_owned()))
    );
    s.apply(&[Change::RevokeAdminCredentials {
        name: "bob".into(),
        at: at(7),
    }])
    .unwrap();
    assert_eq!(
        s.admin_credential("adm2").unwrap().unwrap().revoked_at,
        Some(at(7))
    );
    let err = s
        .apply(&[Change::RevokeAdminCredentials {
            name: "bob".into(),
            at: at(8),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // The outbox: queued, failed, delivered.
    s.apply(&[
        Change::QueueNotification {
            webhook: "https://hooks.example.test/a".into(),
            body: "{\"n\":1}".into(),
            at: at(20),
        },
        Change::QueueNotification {
            webhook: "https://hooks.example.test/a".into(),
            body: "{\"n\":2}".into(),
            at: at(21),
        },
        Change::QueueNotification {
            webhook: "https://hooks.example.test/b".into(),
            body: "{\"n\":3}".into(),
            at: at(22),
        },
    ])
    .unwrap();
    let queued = s.undelivered().unwrap();
    assert_eq!(queued.len(), 3);
    assert!(queued.windows(2).all(|w| w[0].id < w[1].id));
    s.apply(&[
        Change::NotificationFailed {
            id: queued[1].id,
            error: "connection refused".into(),
            next_attempt: at(80),
        },
        Change::DeleteNotification(queued[0].id),
    ])
    .unwrap();
    let left = s.undelivered().unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].attempts, 1);
    assert_eq!(left[0].last_error.as_deref(), Some("connection refused"));
    assert!(!left[0].is_due(at(79)) && left[0].is_due(at(80)));
    let err = s
        .apply(&[Change::NotificationFailed {
            id: queued[0].id,
            error: "x".into(),
            next_attempt: at(1),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // A new notification's id is after every earlier one, deleted or not.
    s.apply(&[Change::QueueNotification {
        webhook: "https://hooks.example.test/c".into(),
        body: "{}".into(),
        at: at(23),
    }])
    .unwrap();
    assert!(s.undelivered().unwrap()[2].id > queued[2].id);

    // Alarms, raised and cleared.
    s.apply(&[
        Change::RaiseAlarm(Alarm {
            kind: AlarmKind::Expiring { days: 30 },
            subject: "svc/web".into(),
            raised_at: at(30),
            cleared_at: None,
        }),
        Change::RaiseAlarm(Alarm {
            kind: AlarmKind::Expired,
            subject: "svc/Zeta".into(),
            raised_at: at(29),
            cleared_at: None,
        }),
        Change::ClearAlarm {
            kind: AlarmKind::Expired,
            subject: "svc/Zeta".into(),
            at: at(31),
        },
    ])
    .unwrap();
    let alarms = s.alarms().unwrap();
    assert_eq!(alarms.len(), 2);
    assert_eq!(alarms[0].cleared_at, Some(at(31)));
    let err = s
        .apply(&[Change::ClearAlarm {
            kind: AlarmKind::Expired,
            subject: "svc/Zeta".into(),
            at: at(32),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Leases: one holder at a time; renewed by its holder (keeping when it was taken);
    // taken over only once expired; given up only by its holder.
    assert_eq!(s.lease("lifecycle").unwrap(), None);
    let l = s
        .take_lease("lifecycle", "srv-a", at(100), at(115))
        .unwrap();
    assert!(l.held_by("srv-a", at(100)) && !l.held_by("srv-a", at(115)));
    assert_eq!((l.taken_at, l.expires_at), (at(100), at(115)));
    let l = s
        .take_lease("lifecycle", "srv-b", at(110), at(125))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.expires_at),
        ("srv-a", at(115)),
        "still a's"
    );
    let l = s
        .take_lease("lifecycle", "srv-a", at(112), at(127))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.taken_at, l.expires_at),
        ("srv-a", at(100), at(127))
    );
    let l = s
        .take_lease("lifecycle", "srv-b", at(127), at(142))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.taken_at),
        ("srv-b", at(127)),
        "a's expired at 127"
    );
    s.release_lease("lifecycle", "srv-a").unwrap();
    assert_eq!(s.lease("lifecycle").unwrap().unwrap().holder, "srv-b");
    let other = s.take_lease("other", "srv-a", at(1), at(2)).unwrap();
    assert_eq!(other.holder, "srv-a", "leases are by name");
    s.release_lease("lifecycle", "srv-b").unwrap();
    assert_eq!(s.lease("lifecycle").unwrap(), None);
    let l = s
        .take_lease("lifecycle", "srv-a", at(130), at(145))
        .unwrap();
    assert!(
        l.held_by("srv-a", at(130)),
        "a released lease is free at once"
    );

    (
        vec![t1.sha256, t2.sha256],
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
