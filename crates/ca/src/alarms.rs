//! Alarms on one node: evaluated at the node's clock, reconciled with the stored ones, so
//! each alarm keeps the time it was raised and the time it cleared.

use certherd_core::{
    expiry_conditions, reconcile, Alarm, AlarmChange, AlarmKind, Condition, DEFAULT_TIERS,
};
use certherd_store::{Change, Store};

use crate::{Error, Node};

impl<S: Store> Node<S> {
    /// Every alarm, open and cleared, oldest first.
    pub fn alarm_history(&self) -> Result<Vec<Alarm>, Error> {
        Ok(self.store.alarms()?)
    }

    /// Evaluates the inventory now: certificates crossing the 30, 14 and 7-day tiers or
    /// expired, verified endpoints whose chain fails, and hosts silent past their
    /// heartbeat window (`[fleet] heartbeat_window`, default 5m); raises what is new, clears what
    /// no longer holds (a renewed certificate's old entry is in `backup` and raises
    /// nothing), and returns the changes.
    pub fn evaluate_alarms(&mut self) -> Result<Vec<AlarmChange>, Error> {
        let now = self.now();
        let entries = self.store.entries(None)?;
        let mut conditions = expiry_conditions(&entries, now, &DEFAULT_TIERS);
        for w in self.store.watches(None)? {
            if w.verify && w.problem.is_some() {
                if let Some(r) = w.entry() {
                    conditions.push(Condition {
                        kind: AlarmKind::ChainInvalid,
                        subject: r.to_string(),
                    });
                }
            }
        }
        // A joined host silent past its heartbeat window.
        let window = self
            .settings
            .fleet
            .heartbeat_window
            .unwrap_or(certherd_core::Span::seconds(300))
            .duration();
        for h in self.store.hosts()? {
            if h.last_seen.is_some_and(|seen| now - seen > window) {
                conditions.push(Condition {
                    kind: AlarmKind::HostSilent,
                    subject: h.name.clone(),
                });
            }
            // A host whose verification is off (emergency-disable) is held in alarm.
            if self.host_verification(&h.name)? == Some(false) {
                conditions.push(Condition {
                    kind: AlarmKind::VerificationDisabled,
                    subject: h.name,
                });
            }
        }
        let mut alarms = self.store.alarms()?;
        let changes = reconcile(&mut alarms, &conditions, now);
        if !changes.is_empty() {
            let batch: Vec<Change> = changes
                .iter()
                .map(|c| match c {
                    AlarmChange::Raised(a) => Change::RaiseAlarm(a.clone()),
                    AlarmChange::Cleared(a) => Change::ClearAlarm {
                        kind: a.kind,
                        subject: a.subject.clone(),
                        at: now,
                    },
                })
                .collect();
            self.commit(&batch)?;
        }
        Ok(changes)
    }
}
