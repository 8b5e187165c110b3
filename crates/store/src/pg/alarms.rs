//! Alarms and the webhook outbox in PostgreSQL.

use certherd_core::Alarm;

use super::{int, opt, text, Batch, PgStore};
use crate::groups::AlarmChange;
use crate::model::{from_ts, ts};
use crate::{Error, Notification};

pub(super) fn alarms(db: &PgStore) -> Result<Vec<Alarm>, Error> {
    const C: &str = "listing alarms";
    let rows = db.query(
        "SELECT kind, subject, raised_at, cleared_at FROM alarms ORDER BY raised_at, id",
        &[],
        C,
    )?;
    rows.iter()
        .map(|row| {
            let kind = text(row, 0, C)?;
            Ok(Alarm {
                kind: kind
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("unknown alarm kind {kind}")))?,
                subject: text(row, 1, C)?,
                raised_at: from_ts(int(row, 2, C)?)?,
                cleared_at: opt::<i64>(row, 3, C)?.map(from_ts).transpose()?,
            })
        })
        .collect()
}

pub(super) fn undelivered(db: &PgStore) -> Result<Vec<Notification>, Error> {
    const C: &str = "reading the outbox";
    let rows = db.query(
        "SELECT id, webhook, body, created_at, attempts, next_attempt, last_error FROM outbox ORDER BY id",
        &[],
        C,
    )?;
    rows.iter()
        .map(|row| {
            Ok(Notification {
                id: int(row, 0, C)?,
                webhook: text(row, 1, C)?,
                body: text(row, 2, C)?,
                created_at: from_ts(int(row, 3, C)?)?,
                attempts: u32::try_from(int(row, 4, C)?).unwrap_or(u32::MAX),
                next_attempt: from_ts(int(row, 5, C)?)?,
                last_error: opt(row, 6, C)?,
            })
        })
        .collect()
}

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, change: AlarmChange<'_>) -> Result<(), Error> {
    match change {
        AlarmChange::RaiseAlarm(a) => {
            b.exec(
                "INSERT INTO alarms (kind, subject, raised_at, cleared_at) VALUES ($1, $2, $3, $4)",
                &[
                    &a.kind.name(),
                    &a.subject,
                    &ts(a.raised_at),
                    &a.cleared_at.map(ts),
                ],
            )
            .map_err(Error::pg("raising an alarm"))?;
        }
        AlarmChange::ClearAlarm { kind, subject, at } => {
            let n = b.exec(
                "UPDATE alarms SET cleared_at = $3 WHERE kind = $1 AND subject = $2 AND cleared_at IS NULL",
                &[&kind.name(), subject, &ts(*at)],
            )
            .map_err(Error::pg("clearing an alarm"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "open alarm",
                    name: format!("{kind} {subject}"),
                });
            }
        }
        AlarmChange::QueueNotification { webhook, body, at } => {
            b.exec(
                "INSERT INTO outbox (webhook, body, created_at, attempts, next_attempt, last_error) VALUES ($1, $2, $3, 0, $3, NULL)",
                &[webhook, body, &ts(*at)],
            )
            .map_err(Error::pg("queueing a notification"))?;
        }
        AlarmChange::NotificationFailed {
            id,
            error,
            next_attempt,
        } => {
            let n = b.exec(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = $2, last_error = $3 WHERE id = $1",
                &[id, &ts(*next_attempt), error],
            )
            .map_err(Error::pg("recording a delivery attempt"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "notification",
                    name: id.to_string(),
                });
            }
        }
        AlarmChange::DeleteNotification(id) => {
            b.exec("DELETE FROM outbox WHERE id = $1", &[id])
                .map_err(Error::pg("removing a notification"))?;
        }
    }
    Ok(())
}
