//! The audit log in PostgreSQL.

use super::Batch;
use crate::model::ts;
use crate::{AuditRecord, Error};

/// Appends `a` to the audit log in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, a: &AuditRecord) -> Result<(), Error> {
    b.exec(
        "INSERT INTO audit (at, action, subject, detail) VALUES ($1, $2, $3, $4)",
        &[&ts(a.at), &a.action, &a.subject, &a.detail],
    )
    .map_err(Error::pg("writing the audit log"))
    .map(drop)
}
