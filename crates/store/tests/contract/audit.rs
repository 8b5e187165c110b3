//! The audit log.

use certherd_store::{AuditRecord, Change, Store};

use super::at;

/// The audit log, oldest first.
pub fn audit(s: &mut dyn Store) {
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
}
