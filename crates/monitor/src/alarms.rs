//! Alarms on one node: evaluated at the node's clock, reconciled with the stored ones, so
//! each alarm keeps the time it was raised and the time it cleared.

use certherd_core::{
    expiry_conditions, reconcile, Alarm, AlarmChange, AlarmKind, Condition, OffsetDateTime, Span,
    WebhookSettings, DEFAULT_TIERS,
};
use certherd_protocol::webhook::{WebhookEvent, WebhookNotification};
use certherd_store::{Change, Notification, Store};

use std::ops::{Deref, DerefMut};

use certherd_authority::{JudgeAs, Node, HOSTS_STORE};

use crate::Error;

/// The longest wait between two delivery attempts of one notification.
pub const MAX_RETRY_DELAY: Span = Span::seconds(3600);

/// The wait after a notification's `attempts`-th failed attempt: the webhook's backoff
/// (default 1s), doubled after each further failure, at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(hook: &WebhookSettings, attempts: u32) -> time::Duration {
    let base = hook.backoff.unwrap_or(Span::seconds(1)).duration();
    let cap = MAX_RETRY_DELAY.duration();
    let doublings = attempts.saturating_sub(1).min(30);
    base.checked_mul(1_i32 << doublings)
        .map_or(cap, |d| d.min(cap))
        .max(time::Duration::ZERO)
}

/// What the outbox holds: notifications not delivered yet, and why the latest attempt
/// failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Notifications waiting.
    pub undelivered: usize,
    /// The error of the most recent failed attempt, if any failed.
    pub last_error: Option<String>,
}

/// A notification due for delivery, with the webhook it goes to.
#[derive(Clone, Debug)]
pub struct DueNotification {
    /// The queued notification.
    pub notification: Notification,
    /// Its webhook's settings.
    pub webhook: WebhookSettings,
}

/// The JSON a webhook receives for one alarm change ([`WebhookNotification`]).
fn notification_body(node: &str, change: &AlarmChange, detail: Option<String>) -> String {
    let (event, x) = match change {
        AlarmChange::Raised(x) => (WebhookEvent::Raised, x),
        AlarmChange::Cleared(x) => (WebhookEvent::Cleared, x),
    };
    certherd_protocol::encode(&WebhookNotification {
        cleared_at: x.cleared_at.map(certherd_x509::rfc3339),
        detail,
        event,
        kind: x.kind.name(),
        node: node.to_owned(),
        raised_at: certherd_x509::rfc3339(x.raised_at),
        subject: x.subject.clone(),
    })
}

/// The alarms and their notifications over a node's context: evaluation, history, deploy
/// reports and the outbox. Reached by [`crate::MonitorExt::alarms`] (reads) and
/// [`crate::MonitorExt::alarms_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Alarms<N> {
    node: N,
}

impl<N> Alarms<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Alarms<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        Ok(self.node.commit(changes)?)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Alarms<N> {
    /// The deploy error `host`'s agent last reported (with the reload's output), if its
    /// last report was one. The row belongs to the host and goes with it, so a host
    /// added again under the same name starts without one.
    pub fn host_deploy_error(&self, host: &str) -> Result<Option<String>, Error> {
        Ok(self.node.store().host_state(host)?.deploy_error)
    }

    /// Records what `host`'s agent reported of its last deploy (`None`: it succeeded),
    /// then evaluates the alarms, so a failed deploy raises `deploy-failed` at once and a
    /// good one clears it. Returns the alarm changes.
    pub fn host_report_deploy(
        &mut self,
        host: &str,
        error: Option<&str>,
    ) -> Result<Vec<AlarmChange>, Error>
    where
        N: DerefMut,
    {
        if self.host_deploy_error(host)?.as_deref() == error {
            return Ok(Vec::new());
        }
        self.commit(&[Change::SetHostDeployError {
            host: host.to_owned(),
            error: error.map(str::to_owned),
        }])?;
        self.evaluate_alarms()
    }

    /// What more there is to say of an open alarm: for `deploy-failed`, the host's own
    /// words (the command and what it printed).
    pub fn alarm_detail(&self, alarm: &Alarm) -> Result<Option<String>, Error> {
        if alarm.kind == AlarmKind::DeployFailed && alarm.is_open() {
            return self.host_deploy_error(&alarm.subject);
        }
        Ok(None)
    }

    /// Every alarm, open and cleared, oldest first.
    pub fn alarm_history(&self) -> Result<Vec<Alarm>, Error> {
        Ok(self.node.store().alarms()?)
    }

    /// Evaluates the inventory now: certificates crossing the 30, 14 and 7-day tiers or
    /// expired, live entries a CRL the home holds lists (`revoked`: the CA's own
    /// revocations and the stored CRLs), verified endpoints and host certificates whose
    /// chain fails for another reason (`chain-invalid`), and hosts silent past their
    /// heartbeat window (`[fleet] heartbeat_window`, default 5m); raises what is new, clears what
    /// no longer holds (a renewed certificate's old entry is in `backup` and raises
    /// nothing), and returns the changes.
    pub fn evaluate_alarms(&mut self) -> Result<Vec<AlarmChange>, Error>
    where
        N: DerefMut,
    {
        let now = self.node.now();
        let entries = certherd_core::fold_copies(&self.node.store().entries(None)?).items;
        let mut conditions = expiry_conditions(&entries, now, &DEFAULT_TIERS);
        let revoked = self.node.revocations().revoked_among(&entries)?;
        for w in self.node.store().watches(None)? {
            // A verified endpoint that a verifying client refuses; its dates raise the
            // expiry tiers instead.
            let refused = w.verify
                && w.findings.iter().any(|f| {
                    f.severity == certherd_inspect::Severity::Critical && !is_date_kind(f.kind)
                });
            if refused {
                if let Some(r) = w.entry() {
                    conditions.push(Condition {
                        kind: AlarmKind::ChainInvalid,
                        subject: r.to_string(),
                    });
                }
            }
        }
        // The fleet's host certificates are judged by the same inspection as everything
        // else: a chain that no longer validates (an intermediate revoked, its CA no longer
        // trusted, a weak key...) is chain-invalid. Dates are the expiry tiers' business,
        // and a host certificate itself revoked is `revoked`'s.
        let hosts_store: certherd_core::StoreName = HOSTS_STORE.parse()?;
        let host_entries: Vec<_> = entries
            .iter()
            .filter(|m| m.entry.store == hosts_store)
            .cloned()
            .collect();
        if !host_entries.is_empty() {
            let judge = self.node.judge()?;
            for m in host_entries {
                let e = self.node.load(&m.entry)?;
                let mut chain = vec![e.cert];
                chain.extend(e.chain);
                let entry_text = m.entry.to_string();
                let i = judge.inspect(
                    &chain,
                    &JudgeAs {
                        name: None,
                        purpose: certherd_x509::Purpose::Any,
                        policy: certherd_inspect::TrustPolicy::Required,
                        pins: &[],
                        ca_expected: false,
                        target: certherd_inspect::Target::Entry {
                            entry: &entry_text,
                            renewable: true,
                        },
                    },
                );
                // A host certificate listed as revoked raises the one, more precise,
                // `revoked` alarm below; chain-invalid is for any other failure.
                let listed = revoked.contains(&m.entry);
                let broken = i.findings.iter().any(|f| {
                    f.severity == certherd_inspect::Severity::Critical
                        && !is_date_kind(f.kind)
                        && !(listed && f.kind == certherd_inspect::FindingKind::Revoked)
                });
                if broken {
                    conditions.push(Condition {
                        kind: AlarmKind::ChainInvalid,
                        subject: entry_text,
                    });
                }
            }
        }
        // A live entry whose certificate a CRL the home holds lists (the CA's own, or one
        // received with the trust sync or added), until it is renewed or deleted.
        for m in &entries {
            if revoked.contains(&m.entry) {
                conditions.push(Condition {
                    kind: AlarmKind::Revoked,
                    subject: m.entry.to_string(),
                });
            }
        }
        // A joined host silent past its heartbeat window.
        let window = self
            .node
            .settings()
            .fleet
            .heartbeat_window
            .unwrap_or(certherd_core::Span::seconds(300))
            .duration();
        for h in self.node.store().hosts()? {
            if h.last_seen.is_some_and(|seen| now - seen > window) {
                conditions.push(Condition {
                    kind: AlarmKind::HostSilent,
                    subject: h.name.clone(),
                });
            }
            // A host whose agent reported that it could not deploy (its layout or reload).
            if self.host_deploy_error(&h.name)?.is_some() {
                conditions.push(Condition {
                    kind: AlarmKind::DeployFailed,
                    subject: h.name.clone(),
                });
            }
            // A host whose verification is off (emergency-disable) is held in alarm.
            if self.node.store().host_state(&h.name)?.verification == Some(false) {
                conditions.push(Condition {
                    kind: AlarmKind::VerificationDisabled,
                    subject: h.name,
                });
            }
        }
        let mut alarms = self.node.store().alarms()?;
        let changes = reconcile(&mut alarms, &conditions, now);
        if !changes.is_empty() {
            let batch = self.alarm_batch(&changes)?;
            self.commit(&batch)?;
        }
        Ok(changes)
    }

    /// The writes recording alarm changes, each with its webhook notifications: committed
    /// in one transaction, a change is never recorded without them, nor sent without
    /// being recorded.
    fn alarm_batch(&self, changes: &[AlarmChange]) -> Result<Vec<Change>, Error> {
        let now = self.node.now();
        let mut batch: Vec<Change> = changes
            .iter()
            .map(|c| match c {
                AlarmChange::Raised(a) => Change::RaiseAlarm(a.clone()),
                AlarmChange::Cleared(a) => Change::ClearAlarm {
                    kind: a.kind,
                    subject: a.subject.clone(),
                    at: a.cleared_at.unwrap_or(now),
                },
            })
            .collect();
        if !self.node.settings().webhooks.is_empty() {
            // The server that records the change (it holds the lifecycle lease) sends it.
            let sender = self.node.node_name()?;
            for c in changes {
                let detail = match c {
                    // The host's own words: what the reload printed.
                    AlarmChange::Raised(a) if a.kind == AlarmKind::DeployFailed => {
                        self.host_deploy_error(&a.subject)?
                    }
                    _ => None,
                };
                let body = notification_body(&sender, c, detail);
                for hook in &self.node.settings().webhooks {
                    batch.push(Change::QueueNotification {
                        webhook: hook.url.clone(),
                        body: body.clone(),
                        at: now,
                    });
                }
            }
        }
        Ok(batch)
    }

    /// Clears now the open alarms about `subjects` (a host being removed), as changes to
    /// commit with the removal.
    pub fn clear_alarms_about(&self, subjects: &[String]) -> Result<Vec<Change>, Error> {
        let now = self.node.now();
        let cleared: Vec<AlarmChange> = self
            .node
            .store()
            .alarms()?
            .into_iter()
            .filter(|a| a.is_open() && subjects.contains(&a.subject))
            .map(|mut a| {
                a.cleared_at = Some(now);
                AlarmChange::Cleared(a)
            })
            .collect();
        self.alarm_batch(&cleared)
    }

    /// The notifications due now, oldest first, each with its webhook's settings. Each
    /// webhook gets its notifications in order: one waiting for its retry holds back the
    /// later ones of the same webhook. A notification for a webhook no longer in the
    /// settings is dropped from the outbox (and the drop audited) instead.
    pub fn due_notifications(&mut self) -> Result<Vec<DueNotification>, Error>
    where
        N: DerefMut,
    {
        let now = self.node.now();
        let mut due = Vec::new();
        let mut dropped = Vec::new();
        let mut waiting: Vec<String> = Vec::new();
        for n in self.node.store().undelivered()? {
            if waiting.contains(&n.webhook) {
                continue;
            }
            match self
                .node
                .settings()
                .webhooks
                .iter()
                .find(|w| w.url == n.webhook)
            {
                None => {
                    dropped.push(Change::DeleteNotification(n.id));
                    dropped.push(self.node.audit(
                        "notification-dropped",
                        &n.webhook,
                        format!(
                            "webhook no longer configured; {} attempt(s) made",
                            n.attempts
                        ),
                    ));
                }
                Some(hook) if n.is_due(now) => due.push(DueNotification {
                    notification: n,
                    webhook: hook.clone(),
                }),
                Some(_) => waiting.push(n.webhook),
            }
        }
        if !dropped.is_empty() {
            self.commit(&dropped)?;
        }
        Ok(due)
    }

    /// Records the outcome of one delivery attempt: a delivered notification leaves the
    /// outbox; a failed one is retried after [`retry_delay`]. Returns when the next
    /// attempt is due (`None` when delivered).
    pub fn record_delivery(
        &mut self,
        due: &DueNotification,
        outcome: Result<(), String>,
    ) -> Result<Option<OffsetDateTime>, Error>
    where
        N: DerefMut,
    {
        let n = &due.notification;
        match outcome {
            Ok(()) => {
                self.commit(&[Change::DeleteNotification(n.id)])?;
                Ok(None)
            }
            Err(error) => {
                let now = self.node.now();
                let next = now
                    .checked_add(retry_delay(&due.webhook, n.attempts.saturating_add(1)))
                    .unwrap_or(now);
                self.commit(&[Change::NotificationFailed {
                    id: n.id,
                    error,
                    next_attempt: next,
                }])?;
                Ok(Some(next))
            }
        }
    }

    /// When the next queued notification is due (now or later), if any is queued: the
    /// earliest next attempt of each webhook's oldest notification, which holds back the
    /// others of its webhook.
    pub fn next_notification_at(&self) -> Result<Option<OffsetDateTime>, Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for n in self.node.store().undelivered()? {
            if seen.contains(&n.webhook) {
                continue;
            }
            next = Some(next.map_or(n.next_attempt, |t| t.min(n.next_attempt)));
            seen.push(n.webhook);
        }
        Ok(next)
    }

    /// The outbox: how many notifications wait, and the latest attempt's error.
    pub fn outbox_summary(&self) -> Result<OutboxSummary, Error> {
        let waiting = self.node.store().undelivered()?;
        let last_error = waiting
            .iter()
            .filter(|n| n.attempts > 0)
            .max_by_key(|n| (n.next_attempt, n.id))
            .and_then(|n| n.last_error.clone());
        Ok(OutboxSummary {
            undelivered: waiting.len(),
            last_error,
        })
    }
}

/// Findings about dates, which the expiry tiers alarm on.
fn is_date_kind(kind: certherd_inspect::FindingKind) -> bool {
    use certherd_inspect::FindingKind as K;
    matches!(kind, K::Expired | K::Expiring | K::NotYetValid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let hook = WebhookSettings {
            url: "http://127.0.0.1:9/".into(),
            retries: None,
            backoff: Some(Span::seconds(2)),
        };
        let secs = |n| retry_delay(&hook, n).whole_seconds();
        assert_eq!((secs(1), secs(2), secs(3), secs(4)), (2, 4, 8, 16));
        assert_eq!(secs(40), 3600);
        assert_eq!(secs(u32::MAX), 3600);
        let default = WebhookSettings {
            backoff: None,
            ..hook
        };
        assert_eq!(retry_delay(&default, 1).whole_seconds(), 1);
    }
}
