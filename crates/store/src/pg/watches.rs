//! Watched endpoints and files in PostgreSQL.

use super::Batch;
use crate::groups::WatchChange;
use crate::model::ts;
use crate::Error;

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, change: WatchChange<'_>) -> Result<(), Error> {
    match change {
        WatchChange::PutWatch(w) => {
            b.exec(
                "DELETE FROM watches WHERE kind = $1 AND name = $2",
                &[&w.kind.as_str(), &w.name],
            )
            .map_err(Error::pg("replacing a watch"))?;
            let findings = serde_json::to_string(&w.findings)
                .map_err(|e| Error::Corrupt(format!("encoding findings: {e}")))?;
            let facts = serde_json::to_string(&w.facts)
                .map_err(|e| Error::Corrupt(format!("encoding facts: {e}")))?;
            b.exec(
                "INSERT INTO watches (kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &w.kind.as_str(),
                    &w.name,
                    &w.target,
                    &w.server_name,
                    &i64::from(w.verify),
                    &ts(w.created_at),
                    &w.scanned_at.map(ts),
                    &w.starttls,
                    &w.pin,
                    &findings,
                    &facts,
                ],
            )
            .map_err(Error::pg("writing a watch"))?;
        }
        WatchChange::DeleteWatch(kind, name) => {
            let n = b
                .exec(
                    "DELETE FROM watches WHERE kind = $1 AND name = $2",
                    &[&kind.as_str(), name],
                )
                .map_err(Error::pg("deleting a watch"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: kind.as_str(),
                    name: name.clone(),
                });
            }
        }
    }
    Ok(())
}
