//! Failed authentications counted per source: a console login or a bearer token the
//! admin API refuses. A source with [`MAX_FAILURES`] failures within [`WINDOW`] has its
//! next failures answered 429 (`too_many_refusals`, with `Retry-After`) instead of their
//! own refusal, until the oldest of them leaves the window. A valid credential is never
//! refused for its source's failures and counts for nothing: only failures are counted.
//!
//! Bounded: at most [`MAX_FAILURES`] instants per source and [`MAX_SOURCES`] sources (an
//! IPv4 address, or an IPv6 /64); past that the source whose last failure is oldest is
//! forgotten. Pure: every call is given `now`; the server feeds it its clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use certherd_core::OffsetDateTime;

use crate::refusals::Source;

/// Failures from one source within [`WINDOW`] before the next ones are answered 429.
pub const MAX_FAILURES: usize = 10;

/// The window failures are counted in.
pub const WINDOW: time::Duration = time::Duration::minutes(1);

/// Sources tracked at once.
pub const MAX_SOURCES: usize = 4096;

/// The recent failures of every source. See the module documentation.
#[derive(Debug, Default)]
pub struct AuthFailures {
    /// Per source, its last failures (at most [`MAX_FAILURES`]), oldest first.
    sources: HashMap<Source, VecDeque<OffsetDateTime>>,
}

impl AuthFailures {
    /// No failures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sources tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Forgets the failures of `times` that left the window by `now`.
    fn expire(times: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime) {
        while times.front().is_some_and(|t| *t + WINDOW <= now) {
            times.pop_front();
        }
    }

    /// How long `peer` must wait at `now` before a failure of its is answered with its
    /// own refusal again (whole seconds, at least 1); `None`: it is not over the rate.
    pub fn retry_after(&self, peer: IpAddr, now: OffsetDateTime) -> Option<u64> {
        let times = self.sources.get(&Source::of(peer))?;
        let in_window: Vec<&OffsetDateTime> = times.iter().filter(|t| **t + WINDOW > now).collect();
        if in_window.len() < MAX_FAILURES {
            return None;
        }
        let oldest = **in_window.first()?;
        let wait = (oldest + WINDOW - now).whole_seconds()
            + i64::from((oldest + WINDOW - now).subsec_nanoseconds() > 0);
        Some(u64::try_from(wait.max(1)).unwrap_or(1))
    }

    /// Counts a failed authentication from `peer` at `now`: whether it is over the rate
    /// (the source had [`MAX_FAILURES`] failures in the window already), to be answered
    /// 429.
    pub fn failed(&mut self, peer: IpAddr, now: OffsetDateTime) -> bool {
        let source = Source::of(peer);
        if !self.sources.contains_key(&source) && self.sources.len() >= MAX_SOURCES {
            self.sources.retain(|_, times| {
                Self::expire(times, now);
                !times.is_empty()
            });
            if self.sources.len() >= MAX_SOURCES {
                let stalest = self
                    .sources
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(s, _)| *s);
                if let Some(s) = stalest {
                    self.sources.remove(&s);
                }
            }
        }
        let times = self.sources.entry(source).or_default();
        Self::expire(times, now);
        let over = times.len() >= MAX_FAILURES;
        // Failures over the rate count too: a source that keeps failing stays refused.
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-06-01 9:00 UTC);
    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    fn secs(n: i64) -> time::Duration {
        time::Duration::seconds(n)
    }

    #[test]
    fn the_eleventh_failure_within_a_minute_is_over_the_rate_until_the_first_leaves() {
        let mut f = AuthFailures::new();
        for i in 0..10 {
            assert!(!f.failed(A, T0 + secs(i)), "failure {i}");
        }
        // Ten in the window (9:00:00 .. 9:00:09): the next is over, B is not.
        assert_eq!(f.retry_after(A, T0 + secs(10)), Some(50));
        assert!(f.failed(A, T0 + secs(10)));
        assert!(!f.failed(B, T0 + secs(10)));
        assert_eq!(f.retry_after(B, T0 + secs(10)), None);
        // Counted failures over the rate slide the window: 9:00:01 .. 9:00:10 now.
        assert_eq!(f.retry_after(A, T0 + secs(59)), Some(2));
        assert_eq!(
            f.retry_after(A, T0 + secs(60) + time::Duration::milliseconds(500)),
            Some(1)
        );
        assert_eq!(f.retry_after(A, T0 + secs(61)), None);
        assert!(!f.failed(A, T0 + secs(61)));
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_are_never_over_the_rate() {
        let mut f = AuthFailures::new();
        for i in 0..100 {
            assert!(!f.failed(A, T0 + secs(7 * i)), "failure {i}");
            assert_eq!(f.retry_after(A, T0 + secs(7 * i)), None);
        }
    }

    #[test]
    fn an_ipv6_site_counts_as_one_source_and_memory_is_bounded() {
        let mut f = AuthFailures::new();
        for i in 0..10u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i));
            assert!(!f.failed(a, T0));
        }
        let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
        assert!(f.failed(other, T0));
        // Many sources: never more than MAX_SOURCES tracked, and at most MAX_FAILURES each.
        for i in 0..(MAX_SOURCES as u32 + 50) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = f.failed(a, T0 + secs(1));
        }
        assert_eq!(f.tracked(), MAX_SOURCES);
        for _ in 0..1000 {
            let _ = f.failed(A, T0 + secs(2));
        }
        assert!(f.sources.values().all(|t| t.len() <= MAX_FAILURES));
        // Once their failures left the window, old sources make room without eviction.
        let later = T0 + secs(120);
        assert!(!f.failed(B, later));
        assert!(f.tracked() <= MAX_SOURCES);
    }
}
