//! The lifecycle loop: what the server does at each tick, at the node's clock. A CA
//! rotation in progress is advanced one stage, the alarms are evaluated (each change and
//! its webhook notifications recorded together, by `Node::evaluate_alarms`), and the
//! notifications due are delivered from the outbox. `certherd alarms` runs the same
//! evaluation and delivery once, waiting for retries.
//!
//! Delivery goes through a [`Deliver`] (the bounded HTTP client of certherd-tls in
//! [`HttpDelivery`]); what happened is told to a `report` callback as [`Event`]s, so the
//! server logs them and the CLI prints them its own way.

use std::time::Duration;

use certherd_ca::{DueNotification, Node, RotationReport};
use certherd_core::{AlarmChange, OffsetDateTime};
use certherd_store::Store;
use certherd_x509::CertificateDer;

/// Something the lifecycle did or failed to do, one line each.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An alarm was raised or cleared.
    Alarm(AlarmChange),
    /// A stage of the CA rotation in progress.
    Rotation(RotationReport),
    /// A stage of the CA rotation failed; the next tick tries again.
    RotationFailed(certherd_ca::Error),
    /// The alarms could not be evaluated; the next tick tries again.
    EvaluationFailed(certherd_ca::Error),
    /// A CA published a new CRL (its previous one reached half its validity, or there was
    /// none).
    CrlPublished(certherd_ca::PublishedCrl),
    /// A CRL could not be published; the next tick tries again.
    CrlFailed(certherd_ca::Error),
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

/// Sends one notification to its webhook.
pub trait Deliver {
    /// POSTs `body` to `url`, trusting `anchors` for an `https` URL; `Err` says why it was
    /// not delivered (no connection, a non-2xx answer...).
    fn deliver(
        &self,
        url: &str,
        body: &[u8],
        anchors: &[CertificateDer<'static>],
    ) -> Result<(), crate::Seam>;
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
    ) -> Result<(), crate::Seam> {
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
            Err(crate::Seam::Status(answer.status))
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
) -> Result<(), certherd_ca::Error> {
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
) -> Result<(), certherd_ca::Error> {
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
) -> Result<(), certherd_ca::Error> {
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

/// Which server of several on one database runs the lifecycle loop: the holder of the
/// lifecycle lease, renewed every quarter of its length. A holder that dies stops renewing;
/// once its lease has run out another server takes it at its next renewal, so the loop
/// moves within one lease length. A holder that cannot renew (its database unreachable)
/// stops acting a third of a lease before its lease could run out, so two servers never
/// run the loop at once while their clocks agree.
#[derive(Debug)]
pub struct Leadership {
    holder: String,
    ttl: Duration,
    /// Until when this server acts as leader.
    leads_until: Option<OffsetDateTime>,
    /// Who held the lease at the last renewal.
    seen: Option<String>,
}

/// A change of who runs the lifecycle loop, as this server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseEvent {
    /// This server took the lease (from the previous holder, whose lease had run out or
    /// who gave it up).
    Took {
        /// The holder before, if there was one.
        from: Option<String>,
    },
    /// Another server holds the lease now.
    Lost {
        /// The new holder.
        to: String,
    },
    /// Another server holds the lease (seen first, or changed hands between others).
    Follows {
        /// The holder.
        holder: String,
    },
}

impl std::fmt::Display for LeaseEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Took { from: Some(h) } => {
                write!(f, "runs the lifecycle loop now (took the lease from {h})")
            }
            Self::Took { from: None } => write!(f, "runs the lifecycle loop (took the lease)"),
            Self::Lost { to } => {
                write!(f, "no longer runs the lifecycle loop: {to} holds the lease")
            }
            Self::Follows { holder } => {
                write!(f, "follows: {holder} runs the lifecycle loop")
            }
        }
    }
}

impl Leadership {
    /// `holder` names this server process; `ttl` is the failover bound
    /// (`[server] lifecycle_lease`).
    pub fn new(holder: impl Into<String>, ttl: Duration) -> Self {
        Self {
            holder: holder.into(),
            ttl,
            leads_until: None,
            seen: None,
        }
    }

    /// This server's name in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The failover bound.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the lease is taken or renewed: a quarter of the failover bound.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 4
    }

    /// How long a lease taken or renewed now runs: three quarters of the failover bound.
    /// A holder that dies renewed at most a quarter before, so its lease runs out at most
    /// three quarters later and a follower, trying every quarter, takes it within the
    /// bound.
    pub fn lease_length(&self) -> Duration {
        self.ttl * 3 / 4
    }

    /// How long before its lease runs out a holder stops acting when it could not renew:
    /// one renewal period, so a single failed renewal costs nothing and two servers never
    /// act at once while their clocks agree within it.
    fn margin(&self) -> Duration {
        self.ttl / 4
    }

    /// Records the lease as taking or renewing it at `now` left it; says what changed.
    pub fn observe(
        &mut self,
        lease: &certherd_store::Lease,
        now: OffsetDateTime,
    ) -> Option<LeaseEvent> {
        let mine = lease.held_by(&self.holder, now);
        let was_mine = self.leads_until.is_some();
        let before = self.seen.replace(lease.holder.clone());
        self.leads_until = mine.then(|| {
            lease.expires_at.saturating_sub(
                time::Duration::try_from(self.margin()).unwrap_or(time::Duration::ZERO),
            )
        });
        match (was_mine, mine) {
            (false, true) => Some(LeaseEvent::Took {
                from: before.filter(|h| *h != self.holder),
            }),
            (true, false) => Some(LeaseEvent::Lost {
                to: lease.holder.clone(),
            }),
            (false, false) if before.as_deref() != Some(&lease.holder) => {
                Some(LeaseEvent::Follows {
                    holder: lease.holder.clone(),
                })
            }
            _ => None,
        }
    }

    /// Whether this server runs the loop at `now`.
    pub fn leads(&self, now: OffsetDateTime) -> bool {
        self.leads_until.is_some_and(|until| now < until)
    }

    /// Who holds the lease, as last seen.
    pub fn holder_seen(&self) -> Option<&str> {
        self.seen.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod leadership_tests {
    use super::*;
    use certherd_store::Lease;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn lease(holder: &str, taken: i64, expires: i64) -> Lease {
        Lease {
            name: "lifecycle".into(),
            holder: holder.into(),
            taken_at: at(taken),
            expires_at: at(expires),
        }
    }

    #[test]
    fn a_server_leads_while_it_holds_the_lease_and_stops_a_renewal_before_it_runs_out() {
        let mut a = Leadership::new("a", Duration::from_secs(15));
        assert_eq!(a.renew_every(), Duration::from_millis(3750));
        assert_eq!(a.lease_length(), Duration::from_millis(11250));
        assert!(!a.leads(at(0)));
        assert_eq!(
            a.observe(&lease("a", 0, 15), at(0)),
            Some(LeaseEvent::Took { from: None })
        );
        assert!(a.leads(at(0)) && a.leads(at(11)));
        assert!(
            !a.leads(at(12)),
            "no renewal seen: stops a renewal period before the lease runs out"
        );
        assert_eq!(a.observe(&lease("a", 0, 20), at(5)), None, "renewed");
        assert!(a.leads(at(16)));
        // Another server took it (a's renewals failed long enough).
        assert_eq!(
            a.observe(&lease("b", 21, 36), at(21)),
            Some(LeaseEvent::Lost { to: "b".into() })
        );
        assert!(!a.leads(at(21)));
        assert_eq!(a.observe(&lease("b", 21, 41), at(26)), None);
        // b died; its lease ran out; a takes it back.
        assert_eq!(
            a.observe(&lease("a", 42, 57), at(42)),
            Some(LeaseEvent::Took {
                from: Some("b".into())
            })
        );
    }

    #[test]
    fn a_follower_says_who_leads_once_and_when_it_changes() {
        let mut c = Leadership::new("c", Duration::from_secs(15));
        assert_eq!(
            c.observe(&lease("a", 0, 15), at(1)),
            Some(LeaseEvent::Follows { holder: "a".into() })
        );
        assert_eq!(c.observe(&lease("a", 0, 20), at(6)), None);
        assert_eq!(
            c.observe(&lease("b", 21, 36), at(21)),
            Some(LeaseEvent::Follows { holder: "b".into() })
        );
        assert!(!c.leads(at(21)));
        assert_eq!(c.holder_seen(), Some("b"));
    }

    /// Two servers over one store at chosen instants: never both leading; the survivor
    /// of a holder that stops renewing leads within one lease length.
    #[test]
    fn over_a_real_store_one_leads_and_a_survivor_takes_over_within_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let key = certherd_store::MasterKey::create(&dir.path().join("master.key")).unwrap();
        let mut store =
            certherd_store::SqliteStore::open(&dir.path().join("certherd.db"), key).unwrap();
        let ttl = Duration::from_secs(15);
        let mut a = Leadership::new("a", ttl);
        let mut b = Leadership::new("b", ttl);
        let take = |store: &mut certherd_store::SqliteStore, who: &mut Leadership, now| {
            let until = now + time::Duration::try_from(ttl).unwrap();
            let l = store
                .take_lease("lifecycle", &who.holder.clone(), now, until)
                .unwrap();
            who.observe(&l, now);
        };
        // Both renew every 5 s here (slower than they would), b one second after a; a
        // dies at 30.
        let mut took_over = None;
        for t in 0..80 {
            let now = at(t);
            if t % 5 == 0 && t < 30 {
                take(&mut store, &mut a, now);
            }
            if t % 5 == 1 {
                take(&mut store, &mut b, now);
            }
            assert!(!(a.leads(now) && b.leads(now)), "both lead at {t}");
            if b.leads(now) && took_over.is_none() {
                took_over = Some(t);
            }
        }
        let t = took_over.unwrap();
        // a's last renewal at 25 runs to 40; b tries at 41.
        assert!(t > 25 && t <= 30 + 15, "b took over at {t}");
    }
}
