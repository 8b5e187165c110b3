//! Alarms: conditions raised and cleared over time, with XenServer's expiry tiers.
//!
//! The evaluation is pure: the caller passes the inventory and the instant, gets the
//! conditions that hold, and reconciles them with the open alarms. A newer expiry tier
//! replaces the older alarm for the same certificate; a certificate superseded by a
//! renewal (moved to `backup`) raises nothing, so its alarm clears (vCenter's
//! BACKUP_STORE complaint).

use std::fmt;

use time::OffsetDateTime;

use crate::EntryMeta;

/// XenServer's expiry alarm tiers, in days before notAfter.
pub const DEFAULT_TIERS: [u32; 3] = [30, 14, 7];

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmKind {
    /// The certificate expires within this many days (a tier).
    Expiring {
        /// The tier crossed, e.g. 30, 14 or 7.
        days: u32,
    },
    /// The certificate has expired.
    Expired,
    /// The certificate's chain no longer validates.
    ChainInvalid,
    /// Certificate verification is turned off on a host.
    VerificationDisabled,
    /// A host has not been heard from within its heartbeat window.
    HostSilent,
    /// A host's agent could not deploy its certificates (a layout not written, or its
    /// reload failed or hung); the host reports what the command printed.
    DeployFailed,
    /// A live entry's certificate was revoked by its CA: it must be renewed (or deleted).
    Revoked,
}

impl AlarmKind {
    /// Whether this is one of the certificate-expiry kinds, of which a subject has at most one.
    pub fn is_expiry(self) -> bool {
        matches!(self, Self::Expiring { .. } | Self::Expired)
    }

    /// How bad an open alarm of this kind is for `check`: a lapsed or broken certificate
    /// and a silent host are critical; verification turned off, or a first expiry tier, warn.
    pub fn severity(self) -> crate::Severity {
        match self {
            Self::Expiring { days } if days > 7 => crate::Severity::Warning,
            Self::VerificationDisabled => crate::Severity::Warning,
            _ => crate::Severity::Critical,
        }
    }

    /// A short machine-readable name: `expiring-30d`, `expired`, `chain-invalid`...
    pub fn name(self) -> String {
        match self {
            Self::Expiring { days } => format!("expiring-{days}d"),
            Self::Expired => "expired".into(),
            Self::ChainInvalid => "chain-invalid".into(),
            Self::VerificationDisabled => "verification-disabled".into(),
            Self::HostSilent => "host-silent".into(),
            Self::DeployFailed => "deploy-failed".into(),
            Self::Revoked => "revoked".into(),
        }
    }
}

impl std::str::FromStr for AlarmKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        let bad = || {
            crate::Error::Setting {
            field: "alarm kind",
            expected: "expiring-Nd, expired, chain-invalid, verification-disabled, host-silent, deploy-failed or revoked",
        }
        };
        Ok(match s {
            "expired" => Self::Expired,
            "chain-invalid" => Self::ChainInvalid,
            "verification-disabled" => Self::VerificationDisabled,
            "host-silent" => Self::HostSilent,
            "deploy-failed" => Self::DeployFailed,
            "revoked" => Self::Revoked,
            other => {
                let days = other
                    .strip_prefix("expiring-")
                    .and_then(|d| d.strip_suffix('d'))
                    .ok_or_else(bad)?;
                Self::Expiring {
                    days: days.parse().map_err(|_| bad())?,
                }
            }
        })
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A condition that holds now: a kind about a subject (a node, or an entry `STORE/ALIAS`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Condition {
    /// The kind.
    pub kind: AlarmKind,
    /// The node or entry it is about.
    pub subject: String,
}

/// An alarm: a condition from when it was raised to when it cleared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    /// The kind.
    pub kind: AlarmKind,
    /// The node or entry.
    pub subject: String,
    /// When it was raised.
    pub raised_at: OffsetDateTime,
    /// When it cleared; `None` while open.
    pub cleared_at: Option<OffsetDateTime>,
}

impl Alarm {
    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// What a reconciliation changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmChange {
    /// A new alarm.
    Raised(Alarm),
    /// An open alarm that cleared (its `cleared_at` set).
    Cleared(Alarm),
}

/// The expiry condition of one entry at `now`, with `tiers` in days (any order).
pub fn expiry_condition(meta: &EntryMeta, now: OffsetDateTime, tiers: &[u32]) -> Option<Condition> {
    if meta.entry.store.is_backup() {
        return None;
    }
    let kind = if now > meta.not_after {
        AlarmKind::Expired
    } else {
        let left = meta.not_after - now;
        let days = tiers
            .iter()
            .copied()
            .filter(|t| left <= time::Duration::days(i64::from(*t)))
            .min()?;
        AlarmKind::Expiring { days }
    };
    Some(Condition {
        kind,
        subject: meta.entry.to_string(),
    })
}

/// The expiry conditions over an inventory at `now`.
pub fn expiry_conditions<'a>(
    entries: impl IntoIterator<Item = &'a EntryMeta>,
    now: OffsetDateTime,
    tiers: &[u32],
) -> Vec<Condition> {
    entries
        .into_iter()
        .filter_map(|m| expiry_condition(m, now, tiers))
        .collect()
}

/// Reconciles the alarms with the conditions that hold at `now`: a condition without an open
/// alarm raises one; an open alarm whose condition no longer holds clears. Because an
/// expiry tier is its own kind, crossing from 30 to 14 days clears the 30-day alarm and
/// raises the 14-day one. Returns what changed, clears first.
pub fn reconcile(
    alarms: &mut Vec<Alarm>,
    conditions: &[Condition],
    now: OffsetDateTime,
) -> Vec<AlarmChange> {
    let mut changes = Vec::new();
    for a in alarms.iter_mut().filter(|a| a.is_open()) {
        if !conditions
            .iter()
            .any(|c| c.kind == a.kind && c.subject == a.subject)
        {
            a.cleared_at = Some(now);
            changes.push(AlarmChange::Cleared(a.clone()));
        }
    }
    let mut sorted: Vec<&Condition> = conditions.iter().collect();
    sorted.sort();
    sorted.dedup();
    for c in sorted {
        if !alarms
            .iter()
            .any(|a| a.is_open() && a.kind == c.kind && a.subject == c.subject)
        {
            let a = Alarm {
                kind: c.kind,
                subject: c.subject.clone(),
                raised_at: now,
                cleared_at: None,
            };
            alarms.push(a.clone());
            changes.push(AlarmChange::Raised(a));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, Source};
    use time::macros::datetime;
    use time::Duration;

    const NOT_AFTER: OffsetDateTime = datetime!(2028-06-01 0:00 UTC);

    fn meta(r: &str) -> EntryMeta {
        EntryMeta {
            entry: r.parse().unwrap(),
            kind: EntryKind::KeyPair,
            profile: Some("machine-ssl".into()),
            source: Source::Issued,
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: NOT_AFTER - Duration::days(730),
            not_after: NOT_AFTER,
            sha256: "00".into(),
            issuer_sha256: None,
            stored_at: NOT_AFTER - Duration::days(730),
        }
    }

    fn at(days_before: i64) -> OffsetDateTime {
        NOT_AFTER - Duration::days(days_before)
    }

    #[test]
    fn tiers_are_crossed_in_order_and_each_replaces_the_last() {
        let m = meta("machine-ssl/machine");
        let mut alarms = Vec::new();
        let step = |days_before: i64, alarms: &mut Vec<Alarm>| {
            let now = at(days_before);
            reconcile(alarms, &expiry_conditions([&m], now, &DEFAULT_TIERS), now)
        };
        assert!(step(40, &mut alarms).is_empty());
        let c = step(30, &mut alarms);
        assert_eq!(
            c,
            vec![AlarmChange::Raised(Alarm {
                kind: AlarmKind::Expiring { days: 30 },
                subject: "machine-ssl/machine".into(),
                raised_at: at(30),
                cleared_at: None
            })]
        );
        assert!(
            step(20, &mut alarms).is_empty(),
            "the same tier raises nothing new"
        );
        let c = step(14, &mut alarms);
        assert!(
            matches!(&c[0], AlarmChange::Cleared(a) if a.kind == AlarmKind::Expiring { days: 30 } && a.cleared_at == Some(at(14)))
        );
        assert!(
            matches!(&c[1], AlarmChange::Raised(a) if a.kind == AlarmKind::Expiring { days: 14 })
        );
        step(7, &mut alarms);
        let c = step(-1, &mut alarms);
        assert!(matches!(&c[1], AlarmChange::Raised(a) if a.kind == AlarmKind::Expired));
        let open: Vec<_> = alarms.iter().filter(|a| a.is_open()).collect();
        assert_eq!(
            open.len(),
            1,
            "one expiry alarm per certificate: {alarms:?}"
        );
        assert_eq!(alarms.len(), 4, "30, 14, 7 and expired, with their history");
    }

    #[test]
    fn a_superseded_certificate_clears_its_alarm() {
        let old = meta("machine-ssl/machine");
        let mut alarms = Vec::new();
        reconcile(
            &mut alarms,
            &expiry_conditions([&old], at(10), &DEFAULT_TIERS),
            at(10),
        );
        assert_eq!(alarms.iter().filter(|a| a.is_open()).count(), 1);
        // Renewed: the old entry is in backup, the new one has two years.
        let mut moved = old.clone();
        moved.entry = "backup/machine-ssl.machine.20280522T000000Z"
            .parse()
            .unwrap();
        let mut renewed = old;
        renewed.not_after = NOT_AFTER + Duration::days(730);
        let c = reconcile(
            &mut alarms,
            &expiry_conditions([&moved, &renewed], at(9), &DEFAULT_TIERS),
            at(9),
        );
        assert!(matches!(&c[..], [AlarmChange::Cleared(a)] if a.cleared_at == Some(at(9))));
        assert_eq!(alarms.iter().filter(|a| a.is_open()).count(), 0);
    }

    #[test]
    fn other_conditions_raise_and_clear_alongside() {
        let mut alarms = Vec::new();
        let silent = Condition {
            kind: AlarmKind::HostSilent,
            subject: "esx1".into(),
        };
        let off = Condition {
            kind: AlarmKind::VerificationDisabled,
            subject: "esx1".into(),
        };
        let t0 = at(100);
        assert_eq!(
            reconcile(&mut alarms, &[silent.clone(), off.clone(), off.clone()], t0).len(),
            2
        );
        let c = reconcile(&mut alarms, &[off], t0 + Duration::minutes(5));
        assert!(matches!(&c[..], [AlarmChange::Cleared(a)] if a.kind == AlarmKind::HostSilent));
        for k in [
            AlarmKind::Expiring { days: 14 },
            AlarmKind::Expired,
            AlarmKind::ChainInvalid,
            AlarmKind::VerificationDisabled,
            AlarmKind::HostSilent,
            AlarmKind::DeployFailed,
            AlarmKind::Revoked,
        ] {
            assert_eq!(k.name().parse::<AlarmKind>().unwrap(), k);
        }
        assert_eq!(AlarmKind::Expiring { days: 14 }.name(), "expiring-14d");
        assert!(
            "expiring-xd".parse::<AlarmKind>().is_err() && "loud".parse::<AlarmKind>().is_err()
        );
    }
}
