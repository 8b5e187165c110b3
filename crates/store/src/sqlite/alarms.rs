//! Alarms and the webhook outbox in SQLite.

use rusqlite::{params, Transaction};

use super::Cached;
use crate::groups::AlarmChange;
use crate::model::ts;
use crate::Error;

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
