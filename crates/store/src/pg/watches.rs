//! Watched endpoints and files in PostgreSQL.

use certherd_core::{Watch, WatchKind};

use super::{int, opt, text, Batch, PgStore};
use crate::groups::WatchChange;
use crate::model::{from_ts, ts};
use crate::Error;

pub(super) fn watches(db: &PgStore, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
    const C: &str = "listing watches";
    let rows = db.query(
        "SELECT kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts FROM watches WHERE $1::TEXT IS NULL OR kind = $1 ORDER BY kind COLLATE \"C\", name COLLATE \"C\"",
        &[&kind.map(WatchKind::as_str)],
        C,
    )?;
    rows.iter()
        .map(|row| {
            let k = text(row, 0, C)?;
            let name = text(row, 1, C)?;
            let findings = serde_json::from_str(&text(row, 9, C)?).map_err(|e| {
                Error::Corrupt(format!("watch {name}: findings are not readable: {e}"))
            })?;
            let facts = serde_json::from_str(&text(row, 10, C)?).map_err(|e| {
                Error::Corrupt(format!("watch {name}: facts are not readable: {e}"))
            })?;
            Ok(Watch {
                kind: WatchKind::parse(&k)
                    .ok_or_else(|| Error::Corrupt(format!("unknown watch kind {k}")))?,
                target: text(row, 2, C)?,
                server_name: opt(row, 3, C)?,
                verify: int(row, 4, C)? != 0,
                created_at: from_ts(int(row, 5, C)?)?,
                scanned_at: opt::<i64>(row, 6, C)?.map(from_ts).transpose()?,
                starttls: opt(row, 7, C)?,
                pin: opt(row, 8, C)?,
                findings,
                facts,
                name,
            })
        })
        .collect()
}

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
