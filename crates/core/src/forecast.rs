//! The forecast: every expiry ahead, what it breaks, and whether renewal covers it.
//!
//! The seed authors learned what breaks by moving a lab's clock two years forward; this
//! answers the same question from the inventory alone.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::{EntryMeta, EntryRef, Source};

/// One inventory entry as the forecast needs it.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The entry.
    pub meta: EntryMeta,
    /// What stops working when it lapses (its profile's, its service's, or its watch's).
    pub impact: String,
    /// When automatic renewal will replace it, if it does.
    pub renew_after: Option<OffsetDateTime>,
}

/// A service: what it uses, and what stops when it breaks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Its name (its store's name for `certherd service add` services).
    pub name: String,
    /// Entries it uses directly.
    pub uses: BTreeSet<EntryRef>,
}

/// One expiry on the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForecastItem {
    /// The entry.
    pub entry: EntryRef,
    /// Its subject.
    pub subject: String,
    /// When it lapses.
    pub not_after: OffsetDateTime,
    /// What stops working.
    pub impact: String,
    /// Services affected, directly or through the certificates it issued.
    pub affected: Vec<String>,
    /// Whether automatic renewal replaces it before it lapses.
    pub covered: bool,
    /// Whether it already lapsed at the start of the forecast.
    pub already_expired: bool,
}

/// The forecast over a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forecast {
    /// The start (the instant evaluated).
    pub from: OffsetDateTime,
    /// The end.
    pub until: OffsetDateTime,
    /// Every expiry in the period (and those already lapsed), soonest first.
    pub items: Vec<ForecastItem>,
}

impl Forecast {
    /// Builds the timeline of `entries` between `from` and `until`. Superseded (backup)
    /// entries are left out: nothing depends on them any more.
    pub fn build(
        entries: &[Planned],
        services: &[Service],
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Self {
        // Which entries each certificate issued, so a CA's expiry reaches its leaves' users.
        let mut issued_by: BTreeMap<&str, Vec<&EntryRef>> = BTreeMap::new();
        for p in entries {
            if let Some(issuer) = &p.meta.issuer_sha256 {
                if issuer != &p.meta.sha256 {
                    issued_by
                        .entry(issuer.as_str())
                        .or_default()
                        .push(&p.meta.entry);
                }
            }
        }
        let by_ref: BTreeMap<&EntryRef, &Planned> =
            entries.iter().map(|p| (&p.meta.entry, p)).collect();
        let mut items: Vec<ForecastItem> = entries
            .iter()
            .filter(|p| !p.meta.entry.store.is_backup() && p.meta.not_after <= until)
            .map(|p| {
                // Everything that stops trusting when this one lapses: itself and, for a CA,
                // every certificate below it.
                let mut reached: BTreeSet<&EntryRef> = BTreeSet::new();
                let mut queue = vec![&p.meta.entry];
                while let Some(r) = queue.pop() {
                    if !reached.insert(r) {
                        continue;
                    }
                    if let Some(child) = by_ref.get(r) {
                        queue.extend(
                            issued_by
                                .get(child.meta.sha256.as_str())
                                .into_iter()
                                .flatten(),
                        );
                    }
                }
                let affected = services
                    .iter()
                    .filter(|s| s.uses.iter().any(|u| reached.contains(u)))
                    .map(|s| s.name.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                ForecastItem {
                    entry: p.meta.entry.clone(),
                    subject: p.meta.subject.clone(),
                    not_after: p.meta.not_after,
                    impact: p.impact.clone(),
                    affected,
                    covered: p.meta.source == Source::Issued
                        && p.renew_after.is_some_and(|r| r < p.meta.not_after),
                    already_expired: p.meta.not_after < from,
                }
            })
            .collect();
        items.sort_by(|a, b| a.not_after.cmp(&b.not_after).then(a.entry.cmp(&b.entry)));
        Self { from, until, items }
    }

    /// The first expiry that nothing renews: the day something breaks unattended.
    pub fn first_unattended(&self) -> Option<&ForecastItem> {
        self.items.iter().find(|i| !i.covered && !i.already_expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, EntryMeta};
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-06-01 0:00 UTC);

    fn planned(
        r: &str,
        sha: &str,
        issuer: &str,
        years: i64,
        source: Source,
        renews: bool,
    ) -> Planned {
        let not_after = NOW + Duration::days(365 * years);
        Planned {
            meta: EntryMeta {
                entry: r.parse().unwrap(),
                kind: EntryKind::KeyPair,
                profile: None,
                source,
                subject: format!("CN={r}"),
                issuer: "CN=ca".into(),
                serial: "01".into(),
                not_before: NOW - Duration::days(1),
                not_after,
                sha256: sha.into(),
                issuer_sha256: Some(issuer.into()),
                stored_at: NOW,
            },
            impact: format!("{r} impact"),
            renew_after: renews.then(|| not_after - Duration::days(100)),
        }
    }

    #[test]
    fn timeline_is_sorted_and_names_the_first_unattended_breakage() {
        let entries = vec![
            planned("ca/root", "r", "r", 10, Source::Issued, false),
            planned("machine-ssl/machine", "m", "r", 2, Source::Issued, true),
            planned("vpxd/vpxd", "v", "r", 2, Source::Issued, true),
            planned("endpoints/wlb", "w", "x", 1, Source::Watched, false),
            planned("backup/old", "o", "r", 0, Source::Issued, false),
        ];
        let services = vec![
            Service {
                name: "vpxd".into(),
                uses: ["vpxd/vpxd".parse().unwrap()].into(),
            },
            Service {
                name: "wlb-integration".into(),
                uses: [
                    "endpoints/wlb".parse().unwrap(),
                    "machine-ssl/machine".parse().unwrap(),
                ]
                .into(),
            },
        ];
        let f = Forecast::build(&entries, &services, NOW, NOW + Duration::days(365 * 12));
        let order: Vec<_> = f.items.iter().map(|i| i.entry.to_string()).collect();
        assert_eq!(
            order,
            [
                "endpoints/wlb",
                "machine-ssl/machine",
                "vpxd/vpxd",
                "ca/root"
            ]
        );
        let first = f.first_unattended().unwrap();
        assert_eq!(first.entry.to_string(), "endpoints/wlb");
        assert_eq!(first.affected, ["wlb-integration"]);
        // The root's expiry reaches every service through the leaves it issued.
        let root = f
            .items
            .iter()
            .find(|i| i.entry.to_string() == "ca/root")
            .unwrap();
        assert!(!root.covered);
        assert_eq!(root.affected, ["vpxd", "wlb-integration"]);
        assert!(
            f.items
                .iter()
                .find(|i| i.entry.to_string() == "vpxd/vpxd")
                .unwrap()
                .covered
        );
    }

    #[test]
    fn until_limits_the_period_and_expired_entries_are_flagged() {
        let mut old = planned("hosts/esx1", "e", "r", 0, Source::Imported, false);
        old.meta.not_after = NOW - Duration::days(3);
        let entries = vec![old, planned("ca/root", "r", "r", 10, Source::Issued, false)];
        let f = Forecast::build(&entries, &[], NOW, NOW + Duration::days(365));
        assert_eq!(f.items.len(), 1);
        assert!(f.items[0].already_expired);
        assert!(
            f.first_unattended().is_none(),
            "an already expired entry is a check problem, not a forecast"
        );
    }
}
