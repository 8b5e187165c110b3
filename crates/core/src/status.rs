//! Status of an entry at an instant, and the monitoring verdict over an inventory.

use time::OffsetDateTime;

use crate::{EntryMeta, Span};

/// Warning and critical thresholds before expiry. vCenter warns at 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Within this of notAfter: WARNING.
    pub warn: Span,
    /// Within this of notAfter: CRITICAL.
    pub crit: Span,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warn: Span::days(30),
            crit: Span::days(7),
        }
    }
}

/// The status of one entry at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Valid and not near expiry.
    Ok,
    /// Within the warning threshold.
    Expiring,
    /// Within the critical threshold.
    Critical,
    /// Past notAfter.
    Expired,
    /// Before notBefore.
    NotYetValid,
    /// Kept in the backup store after being superseded: never a problem.
    Superseded,
    /// Revoked by the CA that issued it (a live entry: renew or delete it).
    Revoked,
}

impl Status {
    /// The status of an entry at `now`.
    pub fn of(meta: &EntryMeta, now: OffsetDateTime, t: Thresholds) -> Self {
        if meta.entry.store.is_backup() {
            Self::Superseded
        } else if now > meta.not_after {
            Self::Expired
        } else if now < meta.not_before {
            Self::NotYetValid
        } else if meta.not_after - now <= t.crit.duration() {
            Self::Critical
        } else if meta.not_after - now <= t.warn.duration() {
            Self::Expiring
        } else {
            Self::Ok
        }
    }

    /// The name shown in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Expiring => "expiring",
            Self::Critical => "critical",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::Superseded => "superseded",
            Self::Revoked => "revoked",
        }
    }

    /// How bad it is, for monitoring.
    pub fn severity(self) -> Severity {
        match self {
            Self::Ok | Self::Superseded => Severity::Ok,
            Self::Expiring => Severity::Warning,
            Self::Critical | Self::Expired | Self::NotYetValid | Self::Revoked => {
                Severity::Critical
            }
        }
    }
}

/// Monitoring-plugin severities; the exit code of `certherd check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Exit 0.
    Ok,
    /// Exit 1.
    Warning,
    /// Exit 2.
    Critical,
}

impl Severity {
    /// The monitoring-plugin exit code (UNKNOWN, 3, is for errors and is not a severity).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
        }
    }

    /// Upper-case name as monitoring plugins print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
        }
    }
}

/// Whole days from `now` to `not_after`, rounded down (negative once expired).
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let secs = (not_after - now).whole_seconds();
    secs.div_euclid(86_400)
}

/// One problem found by a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFinding {
    /// The entry.
    pub meta: EntryMeta,
    /// Its status.
    pub status: Status,
    /// Days left at the instant checked.
    pub days_left: i64,
}

/// The verdict over an inventory at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The instant evaluated.
    pub at: OffsetDateTime,
    /// Entries examined (backup entries included).
    pub examined: usize,
    /// Problems, worst first, then soonest expiry.
    pub findings: Vec<EntryFinding>,
    /// The soonest notAfter among entries that are not superseded.
    pub next_expiry: Option<EntryMeta>,
    /// Watched endpoints and files whose last scan found a warning or worse.
    pub watch_problems: Vec<crate::Watch>,
    /// Open alarms that no entry's status explains (chain-invalid, verification-disabled,
    /// host-silent), so `check` and `alarms` never disagree.
    pub open_alarms: Vec<crate::Alarm>,
}

impl Check {
    /// Evaluates every entry at `at`.
    pub fn evaluate<'a>(
        entries: impl IntoIterator<Item = &'a EntryMeta>,
        at: OffsetDateTime,
        t: Thresholds,
    ) -> Self {
        Self::evaluate_with(entries, at, t, |_| false)
    }

    /// Evaluates every entry at `at`, a live entry for which `revoked` holds (a CRL the
    /// home holds lists its certificate) being [`Status::Revoked`] whatever its dates.
    pub fn evaluate_with<'a>(
        entries: impl IntoIterator<Item = &'a EntryMeta>,
        at: OffsetDateTime,
        t: Thresholds,
        revoked: impl Fn(&EntryMeta) -> bool,
    ) -> Self {
        let mut examined = 0;
        let mut findings = Vec::new();
        let mut next_expiry: Option<&EntryMeta> = None;
        for meta in entries {
            examined += 1;
            let mut status = Status::of(meta, at, t);
            if status != Status::Superseded && revoked(meta) {
                status = Status::Revoked;
            }
            if status == Status::Superseded {
                continue;
            }
            if status.severity() != Severity::Ok {
                findings.push(EntryFinding {
                    meta: meta.clone(),
                    status,
                    days_left: days_left(meta.not_after, at),
                });
            }
            if status != Status::Expired && next_expiry.is_none_or(|n| meta.not_after < n.not_after)
            {
                next_expiry = Some(meta);
            }
        }
        findings.sort_by(|a, b| {
            b.status
                .severity()
                .cmp(&a.status.severity())
                .then(a.meta.not_after.cmp(&b.meta.not_after))
        });
        Self {
            at,
            examined,
            findings,
            next_expiry: next_expiry.cloned(),
            watch_problems: Vec::new(),
            open_alarms: Vec::new(),
        }
    }

    /// Adds the watched endpoints and files whose last scan found a problem.
    pub fn with_watches(mut self, watches: impl IntoIterator<Item = crate::Watch>) -> Self {
        self.watch_problems = watches
            .into_iter()
            .filter(crate::Watch::has_problem)
            .collect();
        self.watch_problems
            .sort_by(|a, b| b.severity().cmp(&a.severity()).then(a.name.cmp(&b.name)));
        self
    }

    /// Adds the open alarms that are not about an entry's status (its dates or its
    /// revocation: those are in `findings`).
    pub fn with_alarms(mut self, alarms: impl IntoIterator<Item = crate::Alarm>) -> Self {
        self.open_alarms = alarms
            .into_iter()
            .filter(|a| a.is_open() && !a.kind.is_expiry() && a.kind != crate::AlarmKind::Revoked)
            .collect();
        self
    }

    /// The worst severity found.
    pub fn severity(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.status.severity())
            .chain(self.watch_problems.iter().map(crate::Watch::severity))
            .chain(self.open_alarms.iter().map(|a| a.kind.severity()))
            .max()
            .unwrap_or(Severity::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, Source};
    use time::macros::datetime;

    pub(crate) fn meta(store: &str, nb: OffsetDateTime, na: OffsetDateTime) -> EntryMeta {
        EntryMeta {
            entry: format!("{store}/a").parse().unwrap(),
            kind: EntryKind::KeyPair,
            profile: Some("machine-ssl".into()),
            source: Source::Issued,
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: nb,
            not_after: na,
            sha256: "00ff".into(),
            issuer_sha256: None,
            stored_at: nb,
        }
    }

    #[test]
    fn status_at_chosen_dates() {
        let m = meta(
            "machine-ssl",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2028-01-01 0:00 UTC),
        );
        let t = Thresholds::default();
        assert_eq!(
            Status::of(&m, datetime!(2025-12-31 0:00 UTC), t),
            Status::NotYetValid
        );
        assert_eq!(
            Status::of(&m, datetime!(2027-01-01 0:00 UTC), t),
            Status::Ok
        );
        assert_eq!(
            Status::of(&m, datetime!(2027-12-02 0:00 UTC), t),
            Status::Expiring
        );
        assert_eq!(
            Status::of(&m, datetime!(2027-12-25 0:00 UTC), t),
            Status::Critical
        );
        assert_eq!(
            Status::of(&m, datetime!(2028-01-01 0:00:01 UTC), t),
            Status::Expired
        );
        let b = meta(
            "backup",
            datetime!(2020-01-01 0:00 UTC),
            datetime!(2021-01-01 0:00 UTC),
        );
        assert_eq!(
            Status::of(&b, datetime!(2027-01-01 0:00 UTC), t),
            Status::Superseded
        );
    }

    #[test]
    fn a_revoked_live_entry_is_a_critical_finding_and_its_alarm_is_not_counted_twice() {
        let at = datetime!(2027-01-01 0:00 UTC);
        let live = meta(
            "machine-ssl",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2030-01-01 0:00 UTC),
        );
        let old = meta(
            "backup",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2030-01-01 0:00 UTC),
        );
        let t = Thresholds::default();
        assert_eq!(Check::evaluate([&live], at, t).severity(), Severity::Ok);
        let c = Check::evaluate_with([&live, &old], at, t, |m| m.serial == "01");
        assert_eq!(c.findings.len(), 1, "the superseded copy stays superseded");
        assert_eq!(c.findings[0].status, Status::Revoked);
        assert_eq!(c.severity(), Severity::Critical);
        let alarm = |kind| crate::Alarm {
            kind,
            subject: "machine-ssl/a".into(),
            raised_at: at,
            cleared_at: None,
        };
        let c = c.with_alarms([
            alarm(crate::AlarmKind::Revoked),
            alarm(crate::AlarmKind::ChainInvalid),
        ]);
        assert_eq!(c.open_alarms.len(), 1);
        assert_eq!(c.open_alarms[0].kind, crate::AlarmKind::ChainInvalid);
    }

    #[test]
    fn check_orders_findings_and_ignores_backups() {
        let at = datetime!(2027-12-20 0:00 UTC);
        let ok = meta(
            "a",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2030-01-01 0:00 UTC),
        );
        let warn = meta(
            "b",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2028-01-15 0:00 UTC),
        );
        let expired = meta(
            "c",
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2027-01-01 0:00 UTC),
        );
        let old = meta(
            "backup",
            datetime!(2020-01-01 0:00 UTC),
            datetime!(2021-01-01 0:00 UTC),
        );
        let c = Check::evaluate([&ok, &warn, &expired, &old], at, Thresholds::default());
        assert_eq!(c.examined, 4);
        assert_eq!(c.findings.len(), 2);
        assert_eq!(c.findings[0].status, Status::Expired);
        assert_eq!(c.severity(), Severity::Critical);
        assert_eq!(c.next_expiry.unwrap().entry.store.as_str(), "b");
        assert_eq!(
            days_left(
                datetime!(2028-01-01 0:00 UTC),
                datetime!(2027-12-31 12:00 UTC)
            ),
            0
        );
        assert_eq!(
            days_left(
                datetime!(2028-01-01 0:00 UTC),
                datetime!(2028-01-01 12:00 UTC)
            ),
            -1
        );
    }
}
