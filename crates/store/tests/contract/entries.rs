//! The entries group: settings, stores, entries (keys sealed, names in bytewise order,
//! one issued serial per issuer) and secrets.

use certherd_core::{EntryKind, EntryMeta, Source};
use certherd_store::{Change, Entry, Error, Secret, Store};

use super::{at, r};

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

/// Settings, stores, entries and secrets; a failed batch changes nothing.
pub fn entries(s: &mut dyn Store) {
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
}
