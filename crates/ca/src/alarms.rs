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
        let entries = certherd_core::fold_copies(&self.store.entries(None)?).items;
        let mut conditions = expiry_conditions(&entries, now, &DEFAULT_TIERS);
        for w in self.store.watches(None)? {
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
        // else: a chain that no longer validates (revoked, its CA no longer trusted, a
        // weak key...) is chain-invalid. Dates are the expiry tiers' business.
        let hosts_store: certherd_core::StoreName = crate::fleet::HOSTS_STORE.parse()?;
        let host_entries: Vec<_> = entries
            .iter()
            .filter(|m| m.entry.store == hosts_store)
            .cloned()
            .collect();
        if !host_entries.is_empty() {
            let judge = self.judge()?;
            for m in host_entries {
                let e = self.load(&m.entry)?;
                let mut chain = vec![e.cert];
                chain.extend(e.chain);
                let entry_text = m.entry.to_string();
                let i = judge.inspect(
                    &chain,
                    &crate::JudgeAs {
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
                let broken = i.findings.iter().any(|f| {
                    f.severity == certherd_inspect::Severity::Critical && !is_date_kind(f.kind)
                });
                if broken {
                    conditions.push(Condition {
                        kind: AlarmKind::ChainInvalid,
                        subject: entry_text,
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

/// Findings about dates, which the expiry tiers alarm on.
fn is_date_kind(kind: certherd_inspect::FindingKind) -> bool {
    use certherd_inspect::FindingKind as K;
    matches!(kind, K::Expired | K::Expiring | K::NotYetValid)
}
