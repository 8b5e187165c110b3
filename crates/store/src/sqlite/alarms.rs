//! Alarms and the webhook outbox in SQLite.

use certherd_core::Alarm;
use rusqlite::{params, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::AlarmChange;
use crate::model::{from_ts, ts};
use crate::{Error, Notification};

pub(super) fn alarms(db: &SqliteStore) -> Result<Vec<Alarm>, Error> {
    let mut stmt = db
        .conn
        .prepare_cached(
            "SELECT kind, subject, raised_at, cleared_at FROM alarms ORDER BY raised_at, id",
        )
        .map_err(Error::sql("listing alarms"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(Error::sql("listing alarms"))?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, subject, raised, cleared) = row.map_err(Error::sql("listing alarms"))?;
        out.push(Alarm {
            kind: kind
                .parse()
                .map_err(|_| Error::Corrupt(format!("unknown alarm kind {kind}")))?,
            subject,
            raised_at: from_ts(raised)?,
            cleared_at: cleared.map(from_ts).transpose()?,
        });
    }
    Ok(out)
}

pub(super) fn undelivered(db: &SqliteStore) -> Result<Vec<Notification>, Error> {
    let sql = Error::sql("reading the outbox");
    let mut stmt = db
        .conn
        .prepare_cached("SELECT id, webhook, body, created_at, attempts, next_attempt, last_error FROM outbox ORDER BY id")
        .map_err(&sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .map_err(&sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, webhook, body, created, attempts, next, last_error) = row.map_err(&sql)?;
        out.push(Notification {
            id,
            webhook,
            body,
            created_at: from_ts(created)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            next_attempt: from_ts(next)?,
            last_error,
        });
    }
    Ok(out)
}

/// Applies one change of this group inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, change: AlarmChange<'_>) -> Result<(), Error> {
    match change {
        AlarmChange::RaiseAlarm(a) => {
            tx.execute_cached(
                "INSERT INTO alarms (kind, subject, raised_at, cleared_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    a.kind.name(),
                    a.subject,
                    ts(a.raised_at),
                    a.cleared_at.map(ts)
                ],
            )
            .map_err(Error::sql("raising an alarm"))?;
        }
        AlarmChange::ClearAlarm { kind, subject, at } => {
            let n = tx
                .execute_cached(
                    "UPDATE alarms SET cleared_at = ?3 WHERE kind = ?1 AND subject = ?2 AND cleared_at IS NULL",
                    params![kind.name(), subject, ts(*at)],
                )
                .map_err(Error::sql("clearing an alarm"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "open alarm",
                    name: format!("{kind} {subject}"),
                });
            }
        }
        AlarmChange::QueueNotification { webhook, body, at } => {
            tx.execute_cached(
                "INSERT INTO outbox (webhook, body, created_at, attempts, next_attempt, last_error) VALUES (?1, ?2, ?3, 0, ?3, NULL)",
                params![webhook, body, ts(*at)],
            )
            .map_err(Error::sql("queueing a notification"))?;
        }
        AlarmChange::NotificationFailed {
            id,
            error,
            next_attempt,
        } => {
            let n = tx
                .execute_cached(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, ts(*next_attempt), error],
                )
                .map_err(Error::sql("recording a delivery attempt"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "notification",
                    name: id.to_string(),
                });
            }
        }
        AlarmChange::DeleteNotification(id) => {
            tx.execute_cached("DELETE FROM outbox WHERE id = ?1", [id])
                .map_err(Error::sql("removing a notification"))?;
        }
    }
    Ok(())
}
