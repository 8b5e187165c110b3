//! When the agent polls next: every `--poll` while polls succeed; after failures,
//! exponential backoff with jitter, capped, and back to the normal interval on success.
//! Pure: the randomness is passed in.

use std::time::Duration;

/// The first retry waits about this long.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A small seeded random source (SplitMix64) for the jitter; seed it from the system's
/// generator in the binary and with a constant in tests.
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A source that yields the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next random number.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The wait after `failures` failures in a row, before jitter: `first`, doubled per further
/// failure, never above `cap` (and never below `first` unless `cap` is).
pub fn ceiling(first: Duration, cap: Duration, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(32);
    first
        .checked_mul(1u32 << shift.min(31))
        .unwrap_or(cap)
        .min(cap)
}

/// The wait after `failures` failures in a row: half the [`ceiling`] plus a random part of
/// the other half ("equal jitter"), so that agents that failed together do not retry
/// together, and no retry comes sooner than half the ceiling.
pub fn jittered(first: Duration, cap: Duration, failures: u32, random: u64) -> Duration {
    let top = ceiling(first, cap, failures);
    let half = top / 2;
    let spread = u64::try_from((top - half).as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(random % spread.saturating_add(1))
}

/// The agent's schedule: the normal poll interval, and the failures since the last success.
#[derive(Clone, Debug)]
pub struct Backoff {
    every: Duration,
    cap: Duration,
    failures: u32,
    jitter: Jitter,
}

impl Backoff {
    /// Polls every `every`; retries after failures wait up to `cap`.
    pub fn new(every: Duration, cap: Duration, jitter: Jitter) -> Self {
        Self {
            every,
            cap,
            failures: 0,
            jitter,
        }
    }

    /// A poll succeeded: the next one comes after the normal interval.
    pub fn succeeded(&mut self) -> Duration {
        self.failures = 0;
        self.every
    }

    /// A poll failed: the wait before the next try.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        jittered(
            FIRST_RETRY.min(self.cap),
            self.cap,
            self.failures,
            self.jitter.next_u64(),
        )
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_ceiling_doubles_and_stops_at_the_cap() {
        let got: Vec<u64> = (1..=10)
            .map(|n| ceiling(S(1), S(60), n).as_secs())
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(ceiling(S(1), S(60), u32::MAX), S(60), "no overflow");
        assert_eq!(ceiling(S(1), S(60), 0), S(1));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_ceiling() {
        for n in 1..40 {
            let top = ceiling(S(1), S(300), n);
            for r in [0, 1, 499, u64::MAX / 3, u64::MAX] {
                let d = jittered(S(1), S(300), n, r);
                assert!(d >= top / 2 && d <= top, "{n} {r}: {d:?} vs {top:?}");
            }
        }
        assert_eq!(jittered(S(8), S(300), 1, 0), S(4));
        assert_eq!(jittered(S(8), S(300), 1, 4000), S(8));
        assert_eq!(jittered(S(8), S(300), 1, 4001), S(4));
    }

    #[test]
    fn a_seeded_schedule_is_reproducible_and_resets_on_success() {
        let run = |seed| {
            let mut b = Backoff::new(S(10), S(30), Jitter::new(seed));
            let mut out: Vec<u128> = (0..7).map(|_| b.failed().as_millis()).collect();
            out.push(b.succeeded().as_millis());
            assert_eq!(b.failures(), 0);
            out.push(b.failed().as_millis());
            out
        };
        let a = run(42);
        assert_eq!(a, run(42), "same seed, same waits");
        assert_ne!(a, run(43), "another seed, other waits");
        // 1 s, 2 s, 4 s, 8 s, 16 s, then the 30 s cap, each jittered into its upper half.
        let tops = [1000, 2000, 4000, 8000, 16000, 30000, 30000];
        for (w, top) in a.iter().zip(tops) {
            assert!(*w >= top / 2 && *w <= top, "{a:?}");
        }
        assert_eq!(a[7], 10_000, "success: back to the poll interval");
        assert!(a[8] <= 1000, "and the backoff starts over: {a:?}");
        // Different agents failing together spread out.
        let first: std::collections::BTreeSet<u128> = (0..20).map(|s| run(s)[5]).collect();
        assert!(first.len() > 10, "{first:?}");
    }
}
