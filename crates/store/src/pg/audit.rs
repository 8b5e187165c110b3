//! The audit log in PostgreSQL.

use super::{int, text, Batch, PgStore};
use crate::model::{from_ts, ts};
use crate::{AuditRecord, Error};

pub(super) fn audit_log(db: &PgStore) -> Result<Vec<AuditRecord>, Error> {
    const C: &str = "reading the audit log";
    let rows = db.query(
        "SELECT at, action, subject, detail FROM audit ORDER BY id",
        &[],
        C,
    )?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                at: from_ts(int(row, 0, C)?)?,
                action: text(row, 1, C)?,
                subject: text(row, 2, C)?,
                detail: text(row, 3, C)?,
            })
        })
        .collect()
}

/// Appends `a` to the audit log in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, a: &AuditRecord) -> Result<(), Error> {
    b.exec(
        "INSERT INTO audit (at, action, subject, detail) VALUES ($1, $2, $3, $4)",
        &[&ts(a.at), &a.action, &a.subject, &a.detail],
    )
    .map_err(Error::pg("writing the audit log"))
    .map(drop)
}
