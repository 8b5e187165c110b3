//! The lifecycle: what the server's loop does at each tick, at the node's clock. A CA
//! rotation in progress is advanced one stage, the alarms are evaluated (each change and
//! its webhook notifications recorded together, by [`crate::Alarms::evaluate_alarms`]), and the
//! notifications due are delivered from the outbox. `certherd alarms` runs the same
//! evaluation and delivery once, waiting for retries.
//!
//! Delivery goes through a [`Deliver`] (the bounded HTTP client of certherd-tls in
//! [`HttpDelivery`]); what happened is told to a `report` callback as [`Event`]s, so the
//! server logs them and the CLI prints them its own way.

use std::time::Duration;

use certherd_authority::{Node, RotationReport};
use certherd_core::{AlarmChange, OffsetDateTime};
use certherd_store::Store;
use certherd_x509::CertificateDer;

use crate::{DueNotification, Error, MonitorExt};

/// Something the lifecycle did or failed to do, one line each.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An alarm was raised or cleared.
    Alarm(AlarmChange),
    /// A stage of the CA rotation in progress.
    Rotation(RotationReport),
    /// A stage of the CA rotation failed; the next tick tries again.
    RotationFailed(certherd_authority::Error),
    /// The alarms could not be evaluated; the next tick tries again.
    EvaluationFailed(Error),
    /// A CA published a new CRL (its previous one reached half its validity, or there was
    /// none).
    CrlPublished(certherd_authority::PublishedCrl),
    /// A CRL could not be published; the next tick tries again.
    CrlFailed(certherd_authority::Error),
    /// A notification was not delivered; it stays in the outbox.
    DeliveryFailed {
        /// The webhook URL.
        url: String,
        /// Why.
        error: String,
        /// Attempts so far, this one included.
        attempt: u32,
        /// When the next attempt is due.
        next_at: OffsetDateTime,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Alarm(AlarmChange::Raised(x)) => write!(f, "raised {} {}", x.kind, x.subject),
            Self::Alarm(AlarmChange::Cleared(x)) => {
                write!(f, "cleared {} {}", x.kind, x.subject)
            }
            Self::Rotation(r) if r.retired => {
                write!(f, "CA rotation done; old root {} retired", r.old_ca)
            }
            Self::Rotation(r) if !r.waiting_for.is_empty() => write!(
                f,
                "CA rotation waits for {} host(s) to trust the new root",
                r.waiting_for.len()
            ),
            Self::Rotation(r) => write!(
                f,
                "CA rotation: {} reissued{}, {} host(s) ordered to renew",
                r.reissued.len(),
                match r.skipped.len() {
                    0 => String::new(),
                    n => format!(" ({n} revoked left as they are)"),
                },
                r.ordered.len()
            ),
            Self::RotationFailed(e) => write!(f, "CA rotation step failed: {e}"),
            Self::EvaluationFailed(e) => write!(f, "alarm evaluation failed: {e}"),
            Self::CrlPublished(p) => write!(
                f,
                "published CRL number {} of {} ({} revoked, next update {})",
                p.number,
                p.ca,
                p.revoked,
                certherd_x509::rfc3339(p.next_update)
            ),
            Self::CrlFailed(e) => write!(f, "CRL publication failed: {e}"),
            Self::DeliveryFailed {
                url,
                error,
                attempt,
                next_at,
            } => {
                write!(
                    f,
                    "warning: webhook {url}: {error} (attempt {attempt}; next attempt at {})",
                    certherd_x509::rfc3339(*next_at)
                )
            }
        }
    }
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The webhook's URL, the connection or the answer failed.
    #[error(transparent)]
    Http(#[from] certherd_tls::http::Error),
    /// The receiver answered with a status other than 2xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// Another delivery's own failure (a test receiver, a queue).
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Sends one notification to its webhook.
pub trait Deliver {
    /// POSTs `body` to `url`, trusting `anchors` for an `https` URL; `Err` says why it was
    /// not delivered (no connection, a non-2xx answer...).
    fn deliver(
        &self,
        url: &str,
        body: &[u8],
        anchors: &[CertificateDer<'static>],
    ) -> Result<(), DeliveryError>;
}

/// [`Deliver`] through certherd-tls's bounded HTTP client: timeouts on every read and
/// write, and a size limit on the answer (a receiver only has to answer with a status).
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpDelivery;

impl Deliver for HttpDelivery {
    fn deliver(
        &self,
        url: &str,
        body: &[u8],
        anchors: &[CertificateDer<'static>],
    ) -> Result<(), DeliveryError> {
        use certherd_tls::http::{post_json, Limits, Url};
        let url = Url::parse(url)?;
        let limits = Limits {
            max_body: 64 << 10,
            ..Limits::default()
        };
        let answer = post_json(&url, body, anchors, None, &limits)?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(answer.status))
        }
    }
}

/// The longest a one-off run waits for a failed notification's next attempt before
/// leaving it to the next run or the server.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Attempts every due notification once, oldest first. Once a webhook fails, its other
/// notifications wait for the next round (and keep their order): a receiver that is down
/// costs one timeout per round, not one per notification.
fn round<S: Store>(
    node: &mut Node<S>,
    via: &dyn Deliver,
    report: &mut dyn FnMut(Event),
) -> Result<(), Error> {
    let due: Vec<DueNotification> = node.alarms_mut().due_notifications()?;
    if due.is_empty() {
        return Ok(());
    }
    let anchors = node.trust_anchors()?;
    let mut failed: Vec<&str> = Vec::new();
    for d in &due {
        if failed.contains(&d.webhook.url.as_str()) {
            continue;
        }
        let outcome = via
            .deliver(&d.webhook.url, d.notification.body.as_bytes(), &anchors)
            .map_err(|e| e.to_string());
        if outcome.is_err() {
            failed.push(&d.webhook.url);
        }
        let error = outcome.as_ref().err().cloned();
        let next = node.alarms_mut().record_delivery(d, outcome)?;
        if let (Some(error), Some(next_at)) = (error, next) {
            report(Event::DeliveryFailed {
                url: d.webhook.url.clone(),
                error,
                attempt: d.notification.attempts.saturating_add(1),
                next_at,
            });
        }
    }
    Ok(())
}

/// Delivers the notifications due now. With `wait` (a one-off run: the function that
/// sleeps), it then waits for the next queued notification to fall due and tries again,
/// up to the webhooks' largest `retries` times, as long as each wait is within
/// [`MAX_WAIT`]; what is still undelivered stays in the outbox for the next run or the
/// server's next tick. Without `wait` (the server's loop), each due notification is
/// attempted once.
pub fn deliver<S: Store>(
    node: &mut Node<S>,
    via: &dyn Deliver,
    wait: Option<&dyn Fn(Duration)>,
    report: &mut dyn FnMut(Event),
) -> Result<(), Error> {
    let rounds = match wait {
        Some(_) => node
            .settings()
            .webhooks
            .iter()
            .map(|w| w.retries.unwrap_or(3))
            .max()
            .unwrap_or(0),
        None => 0,
    };
    round(node, via, report)?;
    let longest = time::Duration::try_from(MAX_WAIT).unwrap_or(time::Duration::MAX);
    for _ in 0..rounds {
        let Some(at) = node.alarms().next_notification_at()? else {
            break;
        };
        let pause = at - node.now();
        if pause > longest {
            break;
        }
        if let Some(sleep) = wait {
            sleep(pause.try_into().unwrap_or(Duration::ZERO));
        }
        round(node, via, report)?;
    }
    Ok(())
}

/// Evaluates the alarms now (each change and its notifications recorded together), then
/// delivers the notifications due (see [`deliver`]).
pub fn evaluate_and_notify<S: Store>(
    node: &mut Node<S>,
    via: &dyn Deliver,
    wait: Option<&dyn Fn(Duration)>,
    report: &mut dyn FnMut(Event),
) -> Result<(), Error> {
    for c in node.alarms_mut().evaluate_alarms()? {
        report(Event::Alarm(c));
    }
    // A receiver that stays down loses nothing: its notifications wait in the outbox.
    deliver(node, via, wait, report)
}

/// One tick of the server's lifecycle loop at the node's clock: a CA rotation in progress
/// advanced one stage, a new CRL published by each CA whose CRL reached half its validity
/// (`[crl] next_update`), the alarms evaluated and the notifications due attempted once.
/// Every failure is reported and left to the next tick; none stops the loop.
pub fn tick<S: Store>(node: &mut Node<S>, via: &dyn Deliver, report: &mut dyn FnMut(Event)) {
    match node.rotation_in_progress() {
        Ok(true) => match node.ca_rotate_step() {
            Ok(r) => report(Event::Rotation(r)),
            Err(e) => report(Event::RotationFailed(e)),
        },
        Ok(false) => {}
        Err(e) => report(Event::RotationFailed(e)),
    }
    match node.revocations_mut().crl_refresh(false) {
        Ok(published) => published
            .into_iter()
            .for_each(|p| report(Event::CrlPublished(p))),
        Err(e) => report(Event::CrlFailed(e)),
    }
    if let Err(e) = evaluate_and_notify(node, via, None, report) {
        report(Event::EvaluationFailed(e));
    }
}
