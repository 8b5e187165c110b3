//! The audit log in SQLite.

use rusqlite::{params, Transaction};

use super::Cached;
use crate::model::ts;
use crate::{AuditRecord, Error};

/// Appends `a` to the audit log inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, a: &AuditRecord) -> Result<(), Error> {
    tx.execute_cached(
        "INSERT INTO audit (at, action, subject, detail) VALUES (?1, ?2, ?3, ?4)",
        params![ts(a.at), a.action, a.subject, a.detail],
    )
    .map_err(Error::sql("writing the audit log"))
    .map(drop)
}
