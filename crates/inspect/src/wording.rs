//! Durations in words, counted rather than truncated: "1 day 23 hours", "26 seconds".

use time::Duration;

fn unit(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A duration as its two largest units: "2 years 3 days", "1 day 23 hours", "5 minutes
/// 2 seconds", "26 seconds". Negative durations are shown by their magnitude.
pub fn duration(d: Duration) -> String {
    let total = d.whole_seconds().unsigned_abs();
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    const MIN: i64 = 60;
    const HOUR: i64 = 3_600;
    const DAY: i64 = 86_400;
    const YEAR: i64 = 365 * DAY;
    let parts: [(i64, &str); 5] = [
        (YEAR, "year"),
        (DAY, "day"),
        (HOUR, "hour"),
        (MIN, "minute"),
        (1, "second"),
    ];
    let mut rest = total;
    let mut out: Vec<String> = Vec::new();
    for (size, name) in parts {
        if out.len() == 2 {
            break;
        }
        let n = rest / size;
        rest %= size;
        if n > 0 {
            out.push(unit(n, name));
        } else if !out.is_empty() {
            // "1 day 0 hours 5 minutes" reads worse than "1 day": stop at the first gap.
            break;
        }
    }
    if out.is_empty() {
        "0 seconds".into()
    } else {
        out.join(" ")
    }
}

/// "expires in 1 day 23 hours" or "expired 26 seconds ago", from `not_after` at `now`.
pub fn expiry(not_after: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    if now > not_after {
        format!("expired {} ago", duration(now - not_after))
    } else {
        format!("expires in {}", duration(not_after - now))
    }
}

/// Where a certificate stands at `now` in words: "not yet valid (valid from
/// 2026-11-25T14:00:00Z, in 3 days)" before `not_before`, otherwise as [`expiry`].
pub fn validity(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> String {
    if now < not_before {
        format!(
            "not yet valid (valid from {}, in {})",
            certherd_x509::rfc3339(not_before),
            duration(not_before - now)
        )
    } else {
        expiry(not_after, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_not_truncates() {
        assert_eq!(duration(Duration::seconds(26)), "26 seconds");
        assert_eq!(duration(Duration::hours(47)), "1 day 23 hours");
        assert_eq!(duration(Duration::days(1)), "1 day");
        assert_eq!(duration(Duration::days(2) + Duration::minutes(5)), "2 days");
        assert_eq!(duration(Duration::days(800)), "2 years 70 days");
        assert_eq!(duration(Duration::seconds(-61)), "1 minute 1 second");
        assert_eq!(duration(Duration::ZERO), "0 seconds");
    }

    #[test]
    fn expiry_in_words() {
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            expiry(now - Duration::seconds(26), now),
            "expired 26 seconds ago"
        );
        assert_eq!(
            expiry(now + Duration::hours(47), now),
            "expires in 1 day 23 hours"
        );
    }

    #[test]
    fn validity_says_not_yet_valid_before_not_before() {
        let now = time::macros::datetime!(2020-01-01 0:00 UTC);
        let nb = time::macros::datetime!(2026-11-25 14:00 UTC);
        let na = time::macros::datetime!(2028-11-24 14:00 UTC);
        assert_eq!(
            validity(nb, na, now),
            "not yet valid (valid from 2026-11-25T14:00:00Z, in 6 years 330 days)"
        );
        assert_eq!(validity(nb, na, na), "expires in 0 seconds");
        assert_eq!(
            validity(nb, na, na + Duration::days(1)),
            "expired 1 day ago"
        );
    }
}
