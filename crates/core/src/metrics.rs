//! Prometheus text exposition of the inventory: per certificate its notAfter and seconds
//! left, labelled node, store, alias and profile; open alarms by kind; counters.
//! A pure function, so the server's `/metrics` is the same text a test checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::{Alarm, EntryMeta};

/// Counters the server keeps since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Renewals that succeeded.
    pub renewals: u64,
    /// Renewals that failed.
    pub renewal_failures: u64,
}

/// A label value escaped as the exposition format requires (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics text for `entries` (with the node each lives on) at `now`.
pub fn render<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a EntryMeta)>,
    alarms: &[Alarm],
    counters: Counters,
    now: OffsetDateTime,
) -> String {
    let mut not_after = String::new();
    let mut left = String::new();
    for (node, m) in entries {
        if m.entry.store.is_backup() {
            continue;
        }
        let labels = format!(
            "node=\"{}\",store=\"{}\",alias=\"{}\",profile=\"{}\"",
            label(node),
            label(m.entry.store.as_str()),
            label(m.entry.alias.as_str()),
            label(m.profile.as_deref().unwrap_or(""))
        );
        let _ = writeln!(
            not_after,
            "certherd_certificate_not_after_timestamp_seconds{{{labels}}} {}",
            m.not_after.unix_timestamp()
        );
        let _ = writeln!(
            left,
            "certherd_certificate_seconds_left{{{labels}}} {}",
            (m.not_after - now).whole_seconds()
        );
    }
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for a in alarms.iter().filter(|a| a.is_open()) {
        *by_kind.entry(a.kind.name()).or_default() += 1;
    }
    let mut out = String::new();
    out.push_str("# HELP certherd_certificate_not_after_timestamp_seconds When the certificate expires, as a Unix timestamp.\n# TYPE certherd_certificate_not_after_timestamp_seconds gauge\n");
    out.push_str(&not_after);
    out.push_str("# HELP certherd_certificate_seconds_left Seconds until the certificate expires (negative once expired).\n# TYPE certherd_certificate_seconds_left gauge\n");
    out.push_str(&left);
    out.push_str(
        "# HELP certherd_alarms_open Open alarms by kind.\n# TYPE certherd_alarms_open gauge\n",
    );
    for (kind, n) in by_kind {
        let _ = writeln!(out, "certherd_alarms_open{{kind=\"{}\"}} {n}", label(&kind));
    }
    let _ = write!(
        out,
        "# HELP certherd_renewals_total Renewals that succeeded.\n# TYPE certherd_renewals_total counter\ncertherd_renewals_total {}\n\
# HELP certherd_renewal_failures_total Renewals that failed.\n# TYPE certherd_renewal_failures_total counter\ncertherd_renewal_failures_total {}\n",
        counters.renewals, counters.renewal_failures
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlarmKind, EntryKind, Source};
    use time::macros::datetime;

    #[test]
    fn exposition_has_one_series_per_live_certificate_and_escapes_labels() {
        let now = datetime!(2026-11-24 0:00 UTC);
        let mk = |r: &str| EntryMeta {
            entry: r.parse().unwrap(),
            kind: EntryKind::KeyPair,
            profile: Some("host".into()),
            source: Source::Issued,
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: now,
            not_after: now + time::Duration::days(10),
            sha256: "00".into(),
            issuer_sha256: None,
            stored_at: now,
        };
        let (a, b) = (mk("hosts/esx1"), mk("backup/old"));
        let alarms = vec![Alarm {
            kind: AlarmKind::Expiring { days: 14 },
            subject: "hosts/esx1".into(),
            raised_at: now,
            cleared_at: None,
        }];
        let text = render(
            [("esx\"1\n", &a), ("esx1", &b)],
            &alarms,
            Counters {
                renewals: 3,
                renewal_failures: 1,
            },
            now,
        );
        assert!(text.contains(r#"certherd_certificate_seconds_left{node="esx\"1\n",store="hosts",alias="esx1",profile="host"} 864000"#), "{text}");
        assert_eq!(
            text.matches("certherd_certificate_not_after_timestamp_seconds{")
                .count(),
            1,
            "backup entries are not exported"
        );
        assert!(text.contains("certherd_alarms_open{kind=\"expiring-14d\"} 1"));
        assert!(
            text.contains("certherd_renewals_total 3")
                && text.contains("certherd_renewal_failures_total 1")
        );
        // Every line is a comment or `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.rsplit_once(' ')
                    .is_some_and(|(_, v)| v.parse::<f64>().is_ok()),
                "{line}"
            );
        }
    }
}
