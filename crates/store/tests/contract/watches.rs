//! Watched endpoints and files.

use certherd_core::{Facts, Watch, WatchKind};
use certherd_store::{Change, Error, Store};

use super::at;

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

/// Watches, by kind then name.
pub fn watches(s: &mut dyn Store) {
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
}
