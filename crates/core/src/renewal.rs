//! When a certificate should be renewed: at 2/3 of its lifetime (step-ca's default),
//! brought forward by a jitter so a fleet never renews in one burst, and never later than
//! the warning threshold.

use time::{Duration, OffsetDateTime};

use crate::{EntryMeta, Error, Span};

/// The renewal rule, configurable in `[renewal]` of certherd.toml.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenewalPolicy {
    /// Fraction of the lifetime after which renewal is due (0 < at < 1).
    pub at: f64,
    /// Largest jitter, as a fraction of the lifetime, by which renewal is brought forward.
    pub jitter: f64,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            at: 2.0 / 3.0,
            jitter: 0.05,
        }
    }
}

impl RenewalPolicy {
    /// Checks the fractions are in range.
    pub fn validated(self) -> Result<Self, Error> {
        if !(self.at > 0.0 && self.at < 1.0) {
            return Err(Error::Setting {
                field: "renewal.at",
                expected: "a fraction of the lifetime between 0 and 1, e.g. 0.6667",
            });
        }
        if !(0.0..self.at).contains(&self.jitter) {
            return Err(Error::Setting {
                field: "renewal.jitter",
                expected: "a fraction between 0 and renewal.at, e.g. 0.05",
            });
        }
        Ok(self)
    }

    /// The instant from which the entry is due for renewal. The jitter is derived from the
    /// certificate's fingerprint, so it is stable across runs and differs across certificates.
    pub fn renew_after(&self, meta: &EntryMeta, warn: Span) -> OffsetDateTime {
        let lifetime = (meta.not_after - meta.not_before).max(Duration::ZERO);
        let seed = u32::from_str_radix(meta.sha256.get(..8).unwrap_or("0"), 16).unwrap_or(0);
        let spread = f64::from(seed) / f64::from(u32::MAX);
        let fraction = self.at - self.jitter * spread;
        // Certificate dates reach year 9999 and spans 100 years: saturate, never overflow.
        let planned = meta
            .not_before
            .saturating_add(Duration::saturating_seconds_f64(
                lifetime.as_seconds_f64() * fraction,
            ));
        planned.min(warn.before(meta.not_after))
    }

    /// Whether renewal is due at `now`.
    pub fn is_due(&self, meta: &EntryMeta, now: OffsetDateTime, warn: Span) -> bool {
        now >= self.renew_after(meta, warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, Source};
    use time::macros::datetime;

    fn meta(sha: &str, na: OffsetDateTime) -> EntryMeta {
        EntryMeta {
            entry: "machine-ssl/machine".parse().unwrap(),
            kind: EntryKind::KeyPair,
            profile: None,
            source: Source::Issued,
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: na,
            sha256: sha.into(),
            issuer_sha256: None,
            stored_at: datetime!(2026-01-01 0:00 UTC),
        }
    }

    #[test]
    fn due_at_two_thirds_minus_jitter() {
        let p = RenewalPolicy::default();
        let m0 = meta("00000000", datetime!(2029-01-01 0:00 UTC)); // 1096 days (2028 is a leap year)
        assert_eq!(
            p.renew_after(&m0, Span::days(30)),
            datetime!(2028-01-01 16:00 UTC)
        );
        let m1 = meta("ffffffff", datetime!(2029-01-01 0:00 UTC));
        let early = p.renew_after(&m1, Span::days(30));
        assert!(early < datetime!(2028-01-01 0:00 UTC) && early > datetime!(2027-10-01 0:00 UTC));
        assert!(!p.is_due(&m0, datetime!(2027-12-31 0:00 UTC), Span::days(30)));
        assert!(p.is_due(&m0, datetime!(2028-01-01 16:00 UTC), Span::days(30)));
    }

    #[test]
    fn never_later_than_the_warning_threshold() {
        let p = RenewalPolicy {
            at: 0.99,
            jitter: 0.0,
        };
        let m = meta("00000000", datetime!(2026-03-02 0:00 UTC)); // 60 days
        assert_eq!(
            p.renew_after(&m, Span::days(30)),
            datetime!(2026-01-31 0:00 UTC)
        );
    }

    #[test]
    fn bad_fractions_are_refused() {
        assert!(RenewalPolicy {
            at: 1.5,
            jitter: 0.0
        }
        .validated()
        .is_err());
        assert!(RenewalPolicy {
            at: 0.5,
            jitter: 0.6
        }
        .validated()
        .is_err());
        assert!(RenewalPolicy::default().validated().is_ok());
    }
}
