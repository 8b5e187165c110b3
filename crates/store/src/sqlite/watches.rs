//! Watched endpoints and files in SQLite.

use rusqlite::{params, Transaction};

use super::Cached;
use crate::groups::WatchChange;
use crate::model::ts;
use crate::Error;

/// Applies one change of this group inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, change: WatchChange<'_>) -> Result<(), Error> {
    match change {
        WatchChange::PutWatch(w) => {
            tx.execute_cached(
                "DELETE FROM watches WHERE kind = ?1 AND name = ?2",
                params![w.kind.as_str(), w.name],
            )
            .map_err(Error::sql("replacing a watch"))?;
            tx.execute_cached(
                "INSERT INTO watches (kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    w.kind.as_str(),
                    w.name,
                    w.target,
                    w.server_name,
                    i64::from(w.verify),
                    ts(w.created_at),
                    w.scanned_at.map(ts),
                    w.starttls,
                    w.pin,
                    serde_json::to_string(&w.findings)
                        .map_err(|e| Error::Corrupt(format!("encoding findings: {e}")))?,
                    serde_json::to_string(&w.facts)
                        .map_err(|e| Error::Corrupt(format!("encoding facts: {e}")))?,
                ],
            )
            .map_err(Error::sql("writing a watch"))?;
        }
        WatchChange::DeleteWatch(kind, name) => {
            let n = tx
                .execute_cached(
                    "DELETE FROM watches WHERE kind = ?1 AND name = ?2",
                    params![kind.as_str(), name],
                )
                .map_err(Error::sql("deleting a watch"))?;
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
