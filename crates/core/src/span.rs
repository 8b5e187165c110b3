//! Human durations: `30d`, `2y`, `12h`, `90m`, `1y30d`.

use std::fmt;
use std::str::FromStr;

use time::Duration;

use crate::Error;

/// A non-negative duration written the way admins write them. A year is 365 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(Duration);

impl Span {
    /// The longest span accepted from users and settings: 100 years. Lifetimes, retention,
    /// thresholds, token lifetimes and time offsets all fit well inside it, and a date
    /// plus or minus it stays inside what certificates and `time` can represent.
    pub const MAX: Self = Self::years(100);

    /// A span of whole days.
    pub const fn days(d: i64) -> Self {
        Self(Duration::days(d))
    }

    /// A span of whole seconds.
    pub const fn seconds(s: i64) -> Self {
        Self(Duration::seconds(s))
    }

    /// A span of whole years of 365 days.
    pub const fn years(y: i64) -> Self {
        Self(Duration::days(365 * y))
    }

    /// The span as a `time::Duration`.
    pub const fn duration(self) -> Duration {
        self.0
    }

    /// `t` plus this span, stopping at the last instant `time` can represent.
    pub fn after(self, t: time::OffsetDateTime) -> time::OffsetDateTime {
        t.saturating_add(self.0)
    }

    /// `t` minus this span, stopping at the first instant `time` can represent.
    pub fn before(self, t: time::OffsetDateTime) -> time::OffsetDateTime {
        t.saturating_sub(self.0)
    }

    /// Builds a span from a duration; negative durations become zero.
    pub fn from_duration(d: Duration) -> Self {
        Self(d.max(Duration::ZERO))
    }
}

impl FromStr for Span {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let err = || Error::Span {
            input: s.to_owned(),
        };
        let text = s.trim();
        if text.is_empty() {
            return Err(err());
        }
        let mut total = Duration::ZERO;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| err())?;
            digits.clear();
            let unit = match c {
                's' => Duration::seconds(1),
                'm' => Duration::minutes(1),
                'h' => Duration::hours(1),
                'd' => Duration::days(1),
                'w' => Duration::weeks(1),
                'y' => Duration::days(365),
                _ => return Err(err()),
            };
            total = unit
                .checked_mul(i32::try_from(n).map_err(|_| err())?)
                .and_then(|d| total.checked_add(d))
                .ok_or_else(err)?;
        }
        if !digits.is_empty() {
            return Err(err());
        }
        if total > Self::MAX.0 {
            return Err(Error::SpanTooLong {
                input: s.to_owned(),
                max: Self::MAX.to_string(),
            });
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.whole_seconds();
        let day = 86_400;
        if secs != 0 && secs % (365 * day) == 0 {
            write!(f, "{}y", secs / (365 * day))
        } else if secs != 0 && secs % day == 0 {
            write!(f, "{}d", secs / day)
        } else if secs != 0 && secs % 3600 == 0 {
            write!(f, "{}h", secs / 3600)
        } else if secs != 0 && secs % 60 == 0 {
            write!(f, "{}m", secs / 60)
        } else {
            write!(f, "{secs}s")
        }
    }
}

impl<'de> serde::Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// In certherd.toml's schema (the generated reference), a span is a string such as `30d`.
impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "x-kind": "duration",
            "pattern": "^([0-9]+[smhdwy])+$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!("30d".parse::<Span>().unwrap(), Span::days(30));
        assert_eq!("2y".parse::<Span>().unwrap(), Span::days(730));
        assert_eq!("1y30d".parse::<Span>().unwrap(), Span::days(395));
        assert_eq!(
            "90m".parse::<Span>().unwrap().duration(),
            Duration::minutes(90)
        );
        for bad in ["", "30", "d", "3x", "-5d", "99999999999d"] {
            assert!(bad.parse::<Span>().is_err(), "{bad}");
        }
        assert_eq!("100y".parse::<Span>().unwrap(), Span::MAX);
        for long in ["101y", "20000y", "2147483647y", "36501d", "100y1s"] {
            assert!(
                matches!(long.parse::<Span>(), Err(Error::SpanTooLong { .. })),
                "{long}"
            );
        }
    }

    #[test]
    fn displays_in_largest_whole_unit() {
        assert_eq!(Span::days(730).to_string(), "2y");
        assert_eq!(Span::days(30).to_string(), "30d");
        assert_eq!("90m".parse::<Span>().unwrap().to_string(), "90m");
    }

    mod props {
        use super::*;
        use crate::{EntryKind, EntryMeta, RenewalPolicy, Source};
        use proptest::prelude::*;
        use time::OffsetDateTime;

        /// Any instant `time` can hold, as a certificate or a clock might give.
        fn instant() -> impl Strategy<Value = OffsetDateTime> {
            let lo = time::PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
            let hi = time::PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
            (lo..=hi).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap())
        }

        /// Span strings as users write them: numbers of any size with any units.
        fn span_text() -> impl Strategy<Value = String> {
            prop::collection::vec(
                (
                    prop_oneof![Just(0u64), 0u64..1000, any::<u64>()],
                    prop::sample::select(vec!['s', 'm', 'h', 'd', 'w', 'y']),
                ),
                1..4,
            )
            .prop_map(|parts| parts.iter().map(|(n, u)| format!("{n}{u}")).collect())
        }

        proptest! {
            #[test]
            fn span_strings_meet_dates_without_panicking(
                text in span_text(),
                t in instant(),
                not_before in instant(),
                not_after in instant(),
                sha in "[0-9a-f]{8}",
            ) {
                let Ok(span) = text.parse::<Span>() else { return Ok(()) };
                prop_assert!(span <= Span::MAX);
                let _ = (span.after(t), span.before(t));
                let meta = EntryMeta {
                    entry: "svc/a".parse().unwrap(),
                    kind: EntryKind::KeyPair,
                    profile: None,
                    source: Source::Issued,
                    subject: String::new(),
                    issuer: String::new(),
                    serial: String::new(),
                    not_before,
                    not_after,
                    sha256: sha,
                    issuer_sha256: None,
                    stored_at: t,
                };
                let _ = RenewalPolicy::default().is_due(&meta, t, span);
                let _ = crate::Status::of(&meta, t, crate::Thresholds { warn: span, crit: span });
                let _ = crate::days_left(not_after, t);
            }
        }
    }
}
