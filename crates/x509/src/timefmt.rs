//! The one way certherd writes an instant in messages and output: RFC 3339, UTC, seconds.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Formats an instant as RFC 3339 in UTC, whole seconds (`2028-11-23T09:31:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Formats an instant as a short UTC date and time for tables and headlines
/// (`2028-11-23 09:31`).
pub fn short_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn utc_whole_seconds() {
        assert_eq!(
            rfc3339(datetime!(2028-06-01 12:00:00.5 +02:00)),
            "2028-06-01T10:00:00Z"
        );
        assert_eq!(
            short_time(datetime!(2028-06-01 12:05:59 +02:00)),
            "2028-06-01 10:05"
        );
    }
}
