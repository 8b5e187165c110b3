//! Alarms and the webhook outbox.

use certherd_core::{Alarm, AlarmKind};
use certherd_store::{Change, Error, Store};

use super::at;

/// The outbox (queued, failed, delivered) and alarms (raised, cleared).
pub fn alarms(s: &mut dyn Store) {
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
}
