//! Watched endpoints and files in SQLite.

use certherd_core::{Watch, WatchKind};
use rusqlite::{params, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::WatchChange;
use crate::model::{from_ts, ts};
use crate::Error;

pub(super) fn watches(db: &SqliteStore, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
    let mut stmt = db
        .conn
        .prepare_cached("SELECT kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts FROM watches WHERE ?1 IS NULL OR kind = ?1 ORDER BY kind, name")
        .map_err(Error::sql("listing watches"))?;
    let rows = stmt
        .query_map([kind.map(WatchKind::as_str)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
            ))
        })
        .map_err(Error::sql("listing watches"))?;
    let mut out = Vec::new();
    for row in rows {
        let (
            k,
            name,
            target,
            server_name,
            verify,
            created,
            scanned,
            starttls,
            pin,
            findings,
            facts,
        ) = row.map_err(Error::sql("listing watches"))?;
        let findings = serde_json::from_str(&findings)
            .map_err(|e| Error::Corrupt(format!("watch {name}: findings are not readable: {e}")))?;
        let facts = serde_json::from_str(&facts)
            .map_err(|e| Error::Corrupt(format!("watch {name}: facts are not readable: {e}")))?;
        out.push(Watch {
            kind: WatchKind::parse(&k)
                .ok_or_else(|| Error::Corrupt(format!("unknown watch kind {k}")))?,
            name,
            target,
            server_name,
            verify: verify != 0,
            created_at: from_ts(created)?,
            scanned_at: scanned.map(from_ts).transpose()?,
            starttls,
            pin,
            findings,
            facts,
        });
    }
    Ok(out)
}

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
