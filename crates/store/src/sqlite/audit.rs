//! The audit log in SQLite.

use rusqlite::{params, Transaction};

use super::{Cached, SqliteStore};
use crate::model::{from_ts, ts};
use crate::{AuditRecord, Error};

pub(super) fn audit_log(db: &SqliteStore) -> Result<Vec<AuditRecord>, Error> {
    let mut stmt = db
        .conn
        .prepare("SELECT at, action, subject, detail FROM audit ORDER BY id")
        .map_err(Error::sql("reading the audit log"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(Error::sql("reading the audit log"))?;
    rows.map(|row| {
        let (at, action, subject, detail) = row.map_err(Error::sql("reading the audit log"))?;
        Ok(AuditRecord {
            at: from_ts(at)?,
            action,
            subject,
            detail,
        })
    })
    .collect()
}

/// Appends `a` to the audit log inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, a: &AuditRecord) -> Result<(), Error> {
    tx.execute_cached(
        "INSERT INTO audit (at, action, subject, detail) VALUES (?1, ?2, ?3, ?4)",
        params![ts(a.at), a.action, a.subject, a.detail],
    )
    .map_err(Error::sql("writing the audit log"))
    .map(drop)
}
