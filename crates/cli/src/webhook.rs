//! Webhook notifications, delivered from the outbox: each alarm change was queued there in
//! the same transaction that recorded it (see `Node::evaluate_alarms`); a failed attempt
//! stays queued with its attempt count, last error and next attempt time, so a receiver
//! that is down gets every notification once it is back. Delivery is at least once.
//!
//! The POST goes through certherd-tls's one HTTP client, bounded by timeouts and a size
//! limit on the answer.

use std::time::Duration;

use certherd_ca::DueNotification;
use certherd_tls::http::{post_json, Limits, Url};
use certherd_x509::CertificateDer;

use crate::{Failure, LocalNode};

/// The longest a one-off run (`certherd alarms`) waits for a failed notification's next
/// attempt before leaving it to the next run or the server.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The bounds of one POST: a receiver only has to answer with a status.
fn limits() -> Limits {
    Limits {
        max_body: 64 << 10,
        ..Limits::default()
    }
}

fn post(due: &DueNotification, anchors: &[CertificateDer<'static>]) -> Result<(), String> {
    let url = Url::parse(&due.webhook.url).map_err(|e| e.to_string())?;
    let answer = post_json(
        &url,
        due.notification.body.as_bytes(),
        anchors,
        None,
        &limits(),
    )
    .map_err(|e| e.to_string())?;
    if answer.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", answer.status))
    }
}

/// Attempts every due notification once, oldest first, saying why each failure failed.
/// Once a webhook fails, its other notifications wait for the next round (and keep their
/// order): a receiver that is down costs one timeout per round, not one per notification.
fn round(node: &mut LocalNode) -> Result<(), Failure> {
    let due = node.due_notifications()?;
    if due.is_empty() {
        return Ok(());
    }
    let anchors = node.trust_anchors()?;
    let mut failed: Vec<&str> = Vec::new();
    for d in &due {
        if failed.contains(&d.webhook.url.as_str()) {
            continue;
        }
        let outcome = post(d, &anchors);
        if outcome.is_err() {
            failed.push(&d.webhook.url);
        }
        let error = outcome.as_ref().err().cloned();
        let next = node.record_delivery(d, outcome)?;
        if let (Some(e), Some(next)) = (error, next) {
            errln!(
                "warning: webhook {}: {e} (attempt {}; next attempt at {})",
                d.webhook.url,
                d.notification.attempts.saturating_add(1),
                crate::instant::rfc3339(next)
            );
        }
    }
    Ok(())
}

/// Delivers the notifications due now. With `wait` (a one-off run), it then waits for the
/// next queued notification to fall due and tries again, up to the webhooks' largest
/// `retries` times, as long as each wait is within [`MAX_WAIT`]; what is still
/// undelivered stays in the outbox for the next run or the server's next evaluation.
/// Without `wait` (the server's lifecycle loop), each due notification is attempted once.
pub fn deliver(node: &mut LocalNode, wait: bool) -> Result<(), Failure> {
    let rounds = if wait {
        node.settings()
            .webhooks
            .iter()
            .map(|w| w.retries.unwrap_or(3))
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    round(node)?;
    let longest = time::Duration::try_from(MAX_WAIT).unwrap_or(time::Duration::MAX);
    for _ in 0..rounds {
        let Some(at) = node.next_notification_at()? else {
            break;
        };
        let pause = at - node.now();
        if pause > longest {
            break;
        }
        std::thread::sleep(pause.try_into().unwrap_or(Duration::ZERO));
        round(node)?;
    }
    Ok(())
}
