//! Parsing the instants users give to --at (RFC 3339, a date, or +DURATION from now) and the
//! expiry thresholds of --warn and --crit.

use crate::Failure;
use certherd_core::OffsetDateTime;
use certherd_core::Span;
pub use certherd_x509::rfc3339;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;

/// The expiry thresholds of `--warn` and `--crit` (as `check` and `verify` take them), each
/// `defaults`' when not given; refused when the critical span is the longer.
pub fn thresholds(
    warn: Option<&str>,
    crit: Option<&str>,
    defaults: certherd_core::Thresholds,
) -> Result<certherd_core::Thresholds, Failure> {
    let t = certherd_core::Thresholds {
        warn: warn
            .map(str::parse::<Span>)
            .transpose()?
            .unwrap_or(defaults.warn),
        crit: crit
            .map(str::parse::<Span>)
            .transpose()?
            .unwrap_or(defaults.crit),
    };
    if t.crit > t.warn {
        return Err(Failure::usage(format!(
            "--crit {} is longer than --warn {}",
            t.crit, t.warn
        )));
    }
    Ok(t)
}

/// Parses `--at`: `2028-06-01T00:00:00Z`, `2028-06-01` (midnight UTC), or `+2y`/`+90d`.
pub fn parse_at(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Failure> {
    let bad = || {
        Failure::usage(format!("invalid time '{s}': expected RFC 3339 (2028-06-01T00:00:00Z), a date (2028-06-01) or +DURATION (+2y, +90d; at most +{})", Span::MAX))
    };
    // A duration that parses but is longer than the cap says so, naming the cap.
    let span_of = |rest: &str| -> Result<Span, Failure> {
        rest.parse().map_err(|e| match e {
            certherd_core::Error::SpanTooLong { max, .. } => Failure::usage(format!(
                "invalid time '{s}': at most {max} from now is accepted (+{max} or -{max})"
            )),
            _ => bad(),
        })
    };
    if let Some(rest) = s.strip_prefix('+') {
        let span = span_of(rest)?;
        return now.checked_add(span.duration()).ok_or_else(bad);
    }
    if let Some(rest) = s.strip_prefix('-') {
        let span = span_of(rest)?;
        return now.checked_sub(span.duration()).ok_or_else(bad);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| bad())
}

/// Formats an instant as a short date-time for tables.
pub use certherd_x509::short_time as short;

pub(crate) fn duration(s: &str, what: &str) -> Result<Duration, Failure> {
    let d = s.parse::<Span>()?.duration().unsigned_abs();
    if d.is_zero() {
        return Err(Failure::usage(format!("{what} must be longer than 0s")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn forms_of_at() {
        let now = datetime!(2026-11-24 0:00 UTC);
        assert_eq!(
            parse_at("+2y", now).unwrap(),
            datetime!(2028-11-23 0:00 UTC)
        );
        assert_eq!(
            parse_at("2028-06-01", now).unwrap(),
            datetime!(2028-06-01 0:00 UTC)
        );
        assert_eq!(
            parse_at("2028-06-01T12:00:00Z", now).unwrap(),
            datetime!(2028-06-01 12:00 UTC)
        );
        assert!(parse_at("tomorrow", now).is_err());
        // Too long a duration names the cap, not just the accepted forms.
        for long in ["+20000y", "-101y", "+2147483647y"] {
            let msg = parse_at(long, now).unwrap_err().message;
            assert!(msg.contains("at most 100y"), "{long}: {msg}");
        }
        assert!(parse_at("+2x", now)
            .unwrap_err()
            .message
            .contains("at most +100y"));
        assert_eq!(
            rfc3339(datetime!(2028-06-01 12:00:00.5 UTC)),
            "2028-06-01T12:00:00Z"
        );
    }
}
