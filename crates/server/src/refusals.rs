//! Refused joins, counted per source and interval: the first few from a source are
//! written at once, the rest become one aggregated row when the interval closes (or at
//! shutdown), and a source over its rate is answered 429 before any work is done. The
//! audit log stays complete (every refusal is counted in exactly one row) without letting
//! a stranger grow it by one row per request.
//!
//! Pure: every call is given `now`; the server feeds it its clock.

use std::collections::HashMap;
use std::net::IpAddr;

use certherd_core::OffsetDateTime;

/// Refusals from one source written one row each, per interval, before they are
/// aggregated.
pub const WRITTEN_AT_ONCE: u64 = 5;

/// Sources tracked at once; refusals from further sources share one aggregated window.
pub const MAX_SOURCES: usize = 4096;

pub use certherd_protocol::{clip, echo, MAX_ECHO};

/// The most bytes of one refusal's audit detail or log line, whatever it quotes.
pub const MAX_DETAIL: usize = 1024;

/// Where refusals come from: an IPv4 address, or an IPv6 /64 (one site's allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// One address (IPv4, or an IPv6 /64 prefix with the host bits cleared).
    Addr(IpAddr),
    /// Every source beyond [`MAX_SOURCES`] tracked ones.
    Others,
}

impl Source {
    /// The source a peer address counts under.
    pub fn of(peer: IpAddr) -> Self {
        match peer {
            IpAddr::V4(a) => Self::Addr(IpAddr::V4(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::Addr(IpAddr::V4(v4)),
                None => {
                    let s = a.segments();
                    Self::Addr(IpAddr::V6(std::net::Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Addr(IpAddr::V4(a)) => write!(f, "{a}"),
            Self::Addr(IpAddr::V6(a)) => write!(f, "{a}/64"),
            Self::Others => write!(f, "sources beyond the {MAX_SOURCES} tracked"),
        }
    }
}

/// One audit row's worth of refusals from one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Where they came from.
    pub source: Source,
    /// The first refusal this row counts.
    pub first: OffsetDateTime,
    /// The last refusal this row counts.
    pub last: OffsetDateTime,
    /// How many refusals this row counts.
    pub count: u64,
    /// How many of them were answered 429 over the rate, without looking at the request.
    pub limited: u64,
    /// The last reason given (empty when every one was over the rate).
    pub reason: String,
}

impl Row {
    /// The audit row's detail (and the log line): the count leads, so rows add up.
    pub fn detail(&self) -> String {
        let at = certherd_x509::rfc3339;
        let mut s = if self.count == 1 {
            format!("1 refusal from {} at {}", self.source, at(self.first))
        } else {
            format!(
                "{} refusals from {} between {} and {}",
                self.count,
                self.source,
                at(self.first),
                at(self.last)
            )
        };
        if self.limited > 0 {
            s.push_str(&format!(" ({} answered 429 over the rate)", self.limited));
        }
        if !self.reason.is_empty() {
            s.push_str(&format!(": {}", self.reason));
        }
        clip(&s, MAX_DETAIL)
    }
}

/// Whether a request may be looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Do the work.
    Admit,
    /// Over the rate: answer 429 now. The refusal is already counted.
    TooMany,
}

/// One source's current interval.
#[derive(Debug)]
struct Window {
    start: OffsetDateTime,
    /// Refusals in this interval, written or not.
    refused: u64,
    /// Counted but not yet written.
    pending: Option<Row>,
}

/// The per-source counts. See the module documentation.
#[derive(Debug)]
pub struct Refusals {
    interval: std::time::Duration,
    rate: u64,
    windows: HashMap<Source, Window>,
    /// Rows of closed windows not yet handed out.
    out: Vec<Row>,
}

impl Refusals {
    /// Counting over `interval`; a source with `rate` refusals in its interval is answered
    /// 429 until the interval closes.
    pub fn new(interval: std::time::Duration, rate: u32) -> Self {
        Self {
            interval,
            rate: u64::from(rate.max(1)),
            windows: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// Sources with an open interval.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }

    fn closed(&self, w: &Window, now: OffsetDateTime) -> bool {
        now - w.start >= self.interval || now < w.start
    }

    /// The window `peer` counts in at `now`, closing an expired one (its pending row goes
    /// out) and falling back to [`Source::Others`] when too many sources are tracked.
    fn window(&mut self, peer: IpAddr, now: OffsetDateTime) -> (Source, &mut Window) {
        let mut source = Source::of(peer);
        self.close_if_expired(source, now);
        if !self.windows.contains_key(&source) && self.windows.len() >= MAX_SOURCES {
            self.close_expired(now);
            if self.windows.len() >= MAX_SOURCES {
                source = Source::Others;
                self.close_if_expired(source, now);
            }
        }
        let w = self.windows.entry(source).or_insert(Window {
            start: now,
            refused: 0,
            pending: None,
        });
        (source, w)
    }

    fn close_if_expired(&mut self, source: Source, now: OffsetDateTime) {
        let expired = self
            .windows
            .get(&source)
            .is_some_and(|w| self.closed(w, now));
        if expired {
            if let Some(w) = self.windows.remove(&source) {
                self.out.extend(w.pending);
            }
        }
    }

    fn close_expired(&mut self, now: OffsetDateTime) {
        let expired: Vec<Source> = self
            .windows
            .iter()
            .filter(|(_, w)| self.closed(w, now))
            .map(|(s, _)| *s)
            .collect();
        for s in expired {
            if let Some(w) = self.windows.remove(&s) {
                self.out.extend(w.pending);
            }
        }
    }

    fn count(w: &mut Window, source: Source, now: OffsetDateTime, limited: bool, reason: &str) {
        w.refused += 1;
        let row = w.pending.get_or_insert_with(|| Row {
            source,
            first: now,
            last: now,
            count: 0,
            limited: 0,
            reason: String::new(),
        });
        row.last = now;
        row.count += 1;
        if limited {
            row.limited += 1;
        } else {
            row.reason = echo(reason);
        }
    }

    /// Before any work on a request from `peer`: a source that reached its rate in this
    /// interval is refused (and that refusal counted).
    pub fn gate(&mut self, peer: IpAddr, now: OffsetDateTime) -> Gate {
        let rate = self.rate;
        let (source, w) = self.window(peer, now);
        if w.refused < rate {
            return Gate::Admit;
        }
        Self::count(w, source, now, true, "");
        Gate::TooMany
    }

    /// A request from `peer` was refused for `reason`: returns the row to write now for
    /// the first [`WRITTEN_AT_ONCE`] of an interval; later ones are counted.
    pub fn refused(&mut self, peer: IpAddr, now: OffsetDateTime, reason: &str) -> Option<Row> {
        let (source, w) = self.window(peer, now);
        if w.refused < WRITTEN_AT_ONCE && source != Source::Others {
            w.refused += 1;
            return Some(Row {
                source,
                first: now,
                last: now,
                count: 1,
                limited: 0,
                reason: echo(reason),
            });
        }
        Self::count(w, source, now, false, reason);
        None
    }

    /// A refusal already written to the audit log elsewhere: it counts towards the rate
    /// (and the rows written at once) only.
    pub fn noted(&mut self, peer: IpAddr, now: OffsetDateTime) {
        let (_, w) = self.window(peer, now);
        w.refused += 1;
    }

    /// The aggregated rows of every interval closed by `now`.
    pub fn due(&mut self, now: OffsetDateTime) -> Vec<Row> {
        self.close_expired(now);
        std::mem::take(&mut self.out)
    }

    /// Every count not yet written, closed or not (at shutdown).
    pub fn drain(&mut self) -> Vec<Row> {
        let mut rows = std::mem::take(&mut self.out);
        rows.extend(self.windows.drain().filter_map(|(_, w)| w.pending));
        rows
    }

    /// Rows that could not be written go back, to be handed out again by the next
    /// [`Refusals::due`].
    pub fn requeue(&mut self, rows: Vec<Row>) {
        self.out.extend(rows);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn total(rows: &[Row]) -> u64 {
        rows.iter().map(|r| r.count).sum()
    }

    #[test]
    fn first_refusals_are_written_at_once_and_the_rest_aggregated_when_the_interval_closes() {
        let mut r = Refusals::new(Duration::from_secs(60), 1000);
        let a = ip("192.0.2.7");
        let mut written = Vec::new();
        for s in 0..100 {
            assert_eq!(r.gate(a, at(s / 4)), Gate::Admit);
            written.extend(r.refused(a, at(s / 4), "unknown token"));
        }
        assert_eq!(written.len() as u64, WRITTEN_AT_ONCE);
        assert_eq!(
            written[0].detail(),
            format!(
                "1 refusal from 192.0.2.7 at {}: unknown token",
                certherd_x509::rfc3339(at(0))
            )
        );
        // Nothing more before the interval closes...
        assert!(r.due(at(59)).is_empty());
        // ...then one row with the rest.
        let rows = r.due(at(60));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 100 - WRITTEN_AT_ONCE);
        assert_eq!(rows[0].first, at(1));
        assert_eq!(rows[0].last, at(24));
        assert!(rows[0].detail().starts_with(&format!(
            "{} refusals from 192.0.2.7 between ",
            100 - WRITTEN_AT_ONCE
        )));
        assert_eq!(r.tracked(), 0);
        // A new interval starts with rows written at once again.
        assert!(r.refused(a, at(61), "expired").is_some());
    }

    #[test]
    fn over_the_rate_a_source_is_answered_429_and_still_counted() {
        let mut r = Refusals::new(Duration::from_secs(60), 10);
        let a = ip("198.51.100.1");
        let b = ip("198.51.100.2");
        let mut rows = Vec::new();
        let mut limited = 0;
        for s in 0..2000 {
            match r.gate(a, at(s % 50)) {
                Gate::Admit => rows.extend(r.refused(a, at(s % 50), "unknown token")),
                Gate::TooMany => limited += 1,
            }
        }
        assert_eq!(limited, 2000 - 10);
        // Another source is not held up by the first.
        assert_eq!(r.gate(b, at(5)), Gate::Admit);
        rows.extend(r.due(at(59)));
        rows.extend(r.drain());
        assert_eq!(total(&rows), 2000);
        assert_eq!(rows.len() as u64, WRITTEN_AT_ONCE + 1);
        let agg = rows.iter().find(|r| r.count > 1).unwrap();
        assert_eq!(agg.limited, 1990);
        assert!(agg
            .detail()
            .contains("(1990 answered 429 over the rate): unknown token"));
        // The interval closes: the source may try again.
        assert_eq!(r.gate(a, at(60)), Gate::Admit);
    }

    #[test]
    fn a_pending_count_is_handed_out_when_its_source_comes_back_after_the_interval() {
        let mut r = Refusals::new(Duration::from_secs(10), 100);
        let a = ip("203.0.113.9");
        for _ in 0..8 {
            let _ = r.refused(a, at(0), "unknown token");
        }
        // The source returns after its interval, before any sweep: its old count is not
        // lost, and it starts a new interval.
        assert!(r.refused(a, at(30), "unknown token").is_some());
        let rows = r.due(at(31));
        assert_eq!(total(&rows), 8 - WRITTEN_AT_ONCE);
        // A clock stepping back also closes the interval rather than stretching it.
        for _ in 0..10 {
            let _ = r.refused(a, at(30), "x");
        }
        let _ = r.refused(a, at(5), "x");
        assert_eq!(total(&r.due(at(5))), 10 - (WRITTEN_AT_ONCE - 1));
    }

    #[test]
    fn ipv6_counts_per_64_and_too_many_sources_share_one_window() {
        let mut r = Refusals::new(Duration::from_secs(60), 1000);
        let rows: Vec<Row> = (0..(WRITTEN_AT_ONCE + 3))
            .filter_map(|i| r.refused(ip(&format!("2001:db8:1:2::{i}")), at(0), "t"))
            .collect();
        assert_eq!(rows.len() as u64, WRITTEN_AT_ONCE);
        assert_eq!(rows[0].source.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.1")),
            Source::Addr(ip("192.0.2.1"))
        );
        let mut r = Refusals::new(Duration::from_secs(60), 1000);
        let mut written = 0;
        for i in 0..(MAX_SOURCES as u32 + 500) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            written += u64::from(r.refused(a, at(1), "t").is_some());
        }
        assert_eq!(r.tracked(), MAX_SOURCES + 1);
        assert_eq!(written, MAX_SOURCES as u64);
        let rest = r.drain();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].source, Source::Others);
        assert_eq!(rest[0].count, 500);
        // Once the tracked windows expire, new sources get their own again.
        let mut r2 = Refusals::new(Duration::from_secs(60), 1000);
        for i in 0..(MAX_SOURCES as u32) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = r2.refused(a, at(0), "t");
        }
        assert!(r2.refused(ip("192.0.2.200"), at(61), "t").is_some());
        assert_eq!(r2.tracked(), 1);
    }

    #[test]
    fn a_long_reason_is_cut_to_a_fixed_size() {
        assert_eq!(clip("short", 10), "short");
        let cut = clip(&"é".repeat(100), 10);
        assert!(cut.len() <= 10 && cut.ends_with('\u{2026}'), "{cut}");
        let mut r = Refusals::new(Duration::from_secs(60), 1000);
        let long = "x".repeat(250_000);
        let row = r.refused(ip("192.0.2.1"), at(0), &long).unwrap();
        assert!(row.reason.len() <= MAX_ECHO);
        for _ in 0..10 {
            let _ = r.refused(ip("192.0.2.1"), at(1), &long);
        }
        let rows = r.drain();
        assert!(rows[0].detail().len() <= MAX_DETAIL, "{}", rows[0].detail());
        assert!(rows[0].reason.len() <= MAX_ECHO);
    }

    #[test]
    fn rows_that_failed_to_write_come_back() {
        let mut r = Refusals::new(Duration::from_secs(1), 1000);
        let a = ip("192.0.2.1");
        for _ in 0..20 {
            let _ = r.refused(a, at(0), "t");
        }
        let rows = r.due(at(2));
        assert_eq!(total(&rows), 15);
        r.requeue(rows);
        assert_eq!(total(&r.due(at(3))), 15);
        assert!(r.due(at(4)).is_empty());
    }
}
