//! The connections being served: at most `cap` at once and at most `per_source` from one
//! source (an IPv4 address or an IPv6 /64, as [`Source`] counts them), each in a phase
//! with its own time limit. A connection that sends nothing, stalls its headers or its
//! body, or sits idle between requests is closed when its phase's time runs out.
//!
//! Making room never lets one source push out another:
//! - a source at its own limit makes room among its own connections only: its new
//!   connection takes the place of its one that has waited longest without a request in
//!   progress (or is refused when all of its connections are busy);
//! - at the overall cap, the connection closed is one of the source holding the most
//!   connections (the longest waiting of them), so a flood from one address closes its
//!   own connections, never a lone client's.
//!
//! Only when every candidate connection is busy with a request is a new one refused.
//!
//! The decisions ([`Table`]) are given `now`; the server feeds them its monotonic clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub use crate::refusals::Source;

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In the TLS handshake.
    Handshake,
    /// Handshake done, the first request's headers not yet read.
    Headers,
    /// Headers read, the body still arriving.
    Body,
    /// A request being worked on (the database, signing).
    Working,
    /// Between requests on a kept-alive connection.
    Idle,
}

impl Phase {
    /// Whether a connection in this phase may be closed to make room (no work under way).
    fn evictable(self) -> bool {
        self != Self::Working
    }
}

/// The time limits per phase.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For [`Phase::Handshake`].
    pub handshake: Duration,
    /// For [`Phase::Headers`].
    pub headers: Duration,
    /// For [`Phase::Body`].
    pub body: Duration,
    /// For [`Phase::Idle`].
    pub idle: Duration,
}

impl Timeouts {
    fn of(&self, phase: Phase) -> Option<Duration> {
        match phase {
            Phase::Handshake => Some(self.handshake),
            Phase::Headers => Some(self.headers),
            Phase::Body => Some(self.body),
            Phase::Idle => Some(self.idle),
            Phase::Working => None,
        }
    }
}

#[derive(Debug)]
struct Slot {
    source: Source,
    phase: Phase,
    since: Instant,
    /// Told to close (evicted or timed out); no longer counted against the cap.
    closing: bool,
}

/// Which limit a new connection met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Its source already held `per_source` connections.
    Source,
    /// `cap` connections were open.
    Total,
}

/// What [`Table::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Serve it, under this id; `evicted` was told to close to make room.
    Yes {
        /// The new connection's id.
        id: u64,
        /// The connection closed to make room, if any, and the limit that made it go.
        evicted: Option<(u64, Limit)>,
    },
    /// Every connection that could make room is busy with a request: close this one.
    No(Limit),
}

/// The pure bookkeeping: which connections exist, from where, in which phase since when.
#[derive(Debug)]
pub struct Table {
    cap: usize,
    per_source: usize,
    timeouts: Timeouts,
    next: u64,
    slots: HashMap<u64, Slot>,
    /// Connections counted against the limits (not closing), per source.
    held: HashMap<Source, usize>,
}

impl Table {
    /// At most `cap` connections (at least one), at most `per_source` (at least one, at
    /// most `cap`) from one source.
    pub fn new(cap: usize, per_source: usize, timeouts: Timeouts) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            per_source: per_source.clamp(1, cap),
            timeouts,
            next: 0,
            slots: HashMap::new(),
            held: HashMap::new(),
        }
    }

    /// Connections counted against the cap.
    pub fn open(&self) -> usize {
        self.held.values().sum()
    }

    /// Connections from `source` counted against its limit.
    pub fn open_from(&self, source: Source) -> usize {
        self.held.get(&source).copied().unwrap_or(0)
    }

    /// The connection to close to make room: among those `from` the given source (any
    /// source when `None`) that have no request under way, the one whose source holds the
    /// most connections, the longest waiting of them.
    fn victim(&self, from: Option<Source>) -> Option<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| !s.closing && s.phase.evictable())
            .filter(|(_, s)| from.is_none_or(|f| s.source == f))
            .max_by_key(|(id, s)| {
                (
                    self.open_from(s.source),
                    std::cmp::Reverse(s.since),
                    std::cmp::Reverse(**id),
                )
            })
            .map(|(id, _)| *id)
    }

    /// Marks `id` closing: it no longer counts against the limits.
    fn close(&mut self, id: u64) {
        if let Some(s) = self.slots.get_mut(&id) {
            if !s.closing {
                s.closing = true;
                Self::release(&mut self.held, s.source);
            }
        }
    }

    fn release(held: &mut HashMap<Source, usize>, source: Source) {
        if let Some(n) = held.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&source);
            }
        }
    }

    /// A connection from `peer` was accepted at `now`.
    pub fn admit(&mut self, peer: IpAddr, now: Instant) -> Admit {
        let source = Source::of(peer);
        let limit = if self.open_from(source) >= self.per_source {
            Some((Limit::Source, Some(source)))
        } else if self.open() >= self.cap {
            Some((Limit::Total, None))
        } else {
            None
        };
        let evicted = match limit {
            None => None,
            Some((limit, from)) => match self.victim(from) {
                Some(v) => {
                    self.close(v);
                    Some((v, limit))
                }
                None => return Admit::No(limit),
            },
        };
        let id = self.next;
        self.next += 1;
        self.slots.insert(
            id,
            Slot {
                source,
                phase: Phase::Handshake,
                since: now,
                closing: false,
            },
        );
        *self.held.entry(source).or_insert(0) += 1;
        Admit::Yes { id, evicted }
    }

    /// Connection `id` moved to `phase` at `now`.
    pub fn set(&mut self, id: u64, phase: Phase, now: Instant) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.phase = phase;
            s.since = now;
        }
    }

    /// Connection `id` received bytes at `now`: idle, it starts a request, whose headers
    /// then get their own time (not what was left of the wait for them).
    /// Returns whether the connection was idle, so these bytes begin a new request.
    pub fn stirred(&mut self, id: u64, now: Instant) -> bool {
        if let Some(s) = self.slots.get_mut(&id) {
            if s.phase == Phase::Idle {
                s.phase = Phase::Headers;
                s.since = now;
                return true;
            }
        }
        false
    }

    /// Connection `id` is gone.
    pub fn remove(&mut self, id: u64) {
        if let Some(s) = self.slots.remove(&id) {
            if !s.closing {
                Self::release(&mut self.held, s.source);
            }
        }
    }

    /// The connections whose phase ran out of time by `now`; they are marked closing.
    pub fn expired(&mut self, now: Instant) -> Vec<u64> {
        let out: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| !s.closing)
            .filter(|(_, s)| {
                self.timeouts
                    .of(s.phase)
                    .is_some_and(|limit| now.saturating_duration_since(s.since) >= limit)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &out {
            self.close(*id);
        }
        out
    }
}

/// The table shared by the accept loop, the connections and the reaper, with the
/// notifier that closes each connection.
#[derive(Debug)]
pub struct Registry {
    inner: Mutex<(Table, HashMap<u64, Arc<Notify>>)>,
}

impl Registry {
    /// An empty registry.
    pub fn new(table: Table) -> Self {
        Self {
            inner: Mutex::new((table, HashMap::new())),
        }
    }

    /// Admits a connection from `peer`: its handle (`None` when every connection that
    /// could make room is busy), and the limit reached, if one was (another connection
    /// closed to make room, or this one refused).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> (Option<Conn>, Option<Limit>) {
        let Ok(mut g) = self.inner.lock() else {
            return (None, Some(Limit::Total));
        };
        let (table, notes) = &mut *g;
        match table.admit(peer, Instant::now()) {
            Admit::No(limit) => (None, Some(limit)),
            Admit::Yes { id, evicted } => {
                if let Some(v) = evicted.and_then(|(v, _)| notes.get(&v)) {
                    v.notify_one();
                }
                let close = Arc::new(Notify::new());
                notes.insert(id, close.clone());
                let conn = Conn {
                    id,
                    close,
                    registry: self.clone(),
                };
                (Some(conn), evicted.map(|(_, limit)| limit))
            }
        }
    }

    /// Closes every connection whose phase ran out of time.
    pub fn reap(&self) {
        if let Ok(mut g) = self.inner.lock() {
            let (table, notes) = &mut *g;
            for id in table.expired(Instant::now()) {
                if let Some(n) = notes.get(&id) {
                    n.notify_one();
                }
            }
        }
    }

    /// Connections counted against the cap.
    pub fn open(&self) -> usize {
        self.inner.lock().map(|g| g.0.open()).unwrap_or(0)
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    close: Arc<Notify>,
    registry: Arc<Registry>,
}

impl Conn {
    /// Records the connection's new phase.
    pub fn set(&self, phase: Phase) {
        if let Ok(mut g) = self.registry.inner.lock() {
            g.0.set(self.id, phase, Instant::now());
        }
    }

    /// Records that bytes arrived (see [`Table::stirred`]); whether they begin a new
    /// request on a kept-alive connection.
    pub fn stirred(&self) -> bool {
        match self.registry.inner.lock() {
            Ok(mut g) => g.0.stirred(self.id, Instant::now()),
            Err(_) => false,
        }
    }

    /// Resolves when the connection must close (evicted or timed out).
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Ok(mut g) = self.registry.inner.lock() {
            g.0.remove(self.id);
            g.1.remove(&self.id);
        }
    }
}

/// The pause after a failed `accept` (out of file descriptors, say): 10 ms doubling to 1 s,
/// back to 10 ms after a success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The shortest pause.
    pub const MIN: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// Starting at [`Backoff::MIN`].
    pub fn new() -> Self {
        Self { next: Self::MIN }
    }

    /// The pause to take now.
    pub fn failed(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// An accept succeeded.
    pub fn succeeded(&mut self) {
        self.next = Self::MIN;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn timeouts() -> Timeouts {
        Timeouts {
            handshake: S(10),
            headers: S(5),
            body: S(7),
            idle: S(30),
        }
    }

    fn id(a: Admit) -> u64 {
        match a {
            Admit::Yes { id, .. } => id,
            Admit::No(_) => u64::MAX,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// One address.
    const A: &str = "192.0.2.1";

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let t0 = Instant::now();
        let mut t = Table::new(3, 3, timeouts());
        let a = id(t.admit(ip(A), t0));
        let b = id(t.admit(ip(A), t0 + S(1)));
        let c = id(t.admit(ip(A), t0 + S(2)));
        t.set(a, Phase::Working, t0 + S(3));
        t.set(b, Phase::Headers, t0 + S(3));
        t.set(c, Phase::Body, t0 + S(2));
        // The oldest not working: c (in Body since 2s), not a (working).
        assert_eq!(
            t.admit(ip(A), t0 + S(4)),
            Admit::Yes {
                id: 3,
                evicted: Some((c, Limit::Source))
            }
        );
        assert_eq!(t.open(), 3);
        // The closing one is not chosen twice.
        assert_eq!(
            t.admit(ip(A), t0 + S(4)),
            Admit::Yes {
                id: 4,
                evicted: Some((b, Limit::Source))
            }
        );
        t.remove(b);
        t.remove(c);
        assert_eq!(t.open(), 3);
        // Everything busy: refused.
        t.set(3, Phase::Working, t0 + S(5));
        t.set(4, Phase::Working, t0 + S(5));
        assert_eq!(t.admit(ip(A), t0 + S(6)), Admit::No(Limit::Source));
        // From elsewhere: the overall cap, every connection busy, refused as well.
        assert_eq!(t.admit(ip("192.0.2.2"), t0 + S(6)), Admit::No(Limit::Total));
        t.remove(a);
        assert!(matches!(
            t.admit(ip(A), t0 + S(6)),
            Admit::Yes { evicted: None, .. }
        ));
    }

    #[test]
    fn a_source_at_its_limit_makes_room_among_its_own_connections_only() {
        let t0 = Instant::now();
        let mut t = Table::new(10, 2, timeouts());
        // A lone client's connection, the longest waiting of all.
        let lone = id(t.admit(ip("192.0.2.9"), t0));
        let f1 = id(t.admit(ip(A), t0 + S(1)));
        let f2 = id(t.admit(ip(A), t0 + S(2)));
        assert_eq!(t.open_from(Source::of(ip(A))), 2);
        // A's third connection closes A's oldest, not the lone client's older one.
        let f3 = match t.admit(ip(A), t0 + S(3)) {
            Admit::Yes {
                id,
                evicted: Some((v, Limit::Source)),
            } => {
                assert_eq!(v, f1);
                id
            }
            other => panic!("{other:?}"),
        };
        // A flood: every new connection of A replaces one of A's, far below the cap.
        for k in 4..1000 {
            match t.admit(ip(A), t0 + S(k)) {
                Admit::Yes {
                    evicted: Some((v, Limit::Source)),
                    ..
                } => t.remove(v),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(t.open(), 3);
        assert_eq!(t.open_from(Source::of(ip(A))), 2);
        assert!(t.slots.contains_key(&lone));
        assert!(!t.slots.contains_key(&f2) && !t.slots.contains_key(&f3));
        // All of A's connections busy: A's next one is refused, though there is room.
        let busy: Vec<u64> = t
            .slots
            .iter()
            .filter(|(_, s)| s.source == Source::of(ip(A)))
            .map(|(id, _)| *id)
            .collect();
        for b in &busy {
            t.set(*b, Phase::Working, t0 + S(1000));
        }
        assert_eq!(t.admit(ip(A), t0 + S(1001)), Admit::No(Limit::Source));
        // Others are still admitted.
        assert!(matches!(
            t.admit(ip("192.0.2.10"), t0 + S(1001)),
            Admit::Yes { evicted: None, .. }
        ));
    }

    #[test]
    fn an_ipv6_64_is_one_source() {
        let t0 = Instant::now();
        let mut t = Table::new(10, 2, timeouts());
        let a = id(t.admit(ip("2001:db8:1:2::1"), t0));
        id(t.admit(ip("2001:db8:1:2:ffff::7"), t0 + S(1)));
        assert_eq!(
            t.admit(ip("2001:db8:1:2:abcd::9"), t0 + S(2)),
            Admit::Yes {
                id: 2,
                evicted: Some((a, Limit::Source))
            }
        );
        // Another /64 is another source; an IPv4-mapped address is its IPv4 address.
        assert!(matches!(
            t.admit(ip("2001:db8:1:3::1"), t0 + S(3)),
            Admit::Yes { evicted: None, .. }
        ));
        id(t.admit(ip(A), t0 + S(4)));
        id(t.admit(ip("::ffff:192.0.2.1"), t0 + S(5)));
        assert!(matches!(
            t.admit(ip(A), t0 + S(6)),
            Admit::Yes {
                evicted: Some((_, Limit::Source)),
                ..
            }
        ));
    }

    #[test]
    fn at_the_cap_the_source_holding_the_most_connections_makes_room() {
        let t0 = Instant::now();
        let mut t = Table::new(7, 4, timeouts());
        // The lone client waits longest; B holds two, A three, C one.
        let lone = id(t.admit(ip("192.0.2.9"), t0));
        let b1 = id(t.admit(ip("192.0.2.2"), t0 + S(1)));
        id(t.admit(ip("192.0.2.2"), t0 + S(2)));
        let a1 = id(t.admit(ip(A), t0 + S(3)));
        let a2 = id(t.admit(ip(A), t0 + S(4)));
        let a3 = id(t.admit(ip(A), t0 + S(5)));
        id(t.admit(ip("192.0.2.3"), t0 + S(6)));
        assert_eq!(t.open(), 7);
        // A newcomer: A (three) gives up its longest waiting, not the lone client.
        assert_eq!(
            t.admit(ip("192.0.2.20"), t0 + S(7)),
            Admit::Yes {
                id: 7,
                evicted: Some((a1, Limit::Total))
            }
        );
        // A and B hold two each, but A's are busy: B's longest waiting goes.
        t.set(a2, Phase::Working, t0 + S(8));
        t.set(a3, Phase::Working, t0 + S(8));
        assert_eq!(
            t.admit(ip("192.0.2.21"), t0 + S(9)),
            Admit::Yes {
                id: 8,
                evicted: Some((b1, Limit::Total))
            }
        );
        assert!(t.slots.get(&lone).is_some_and(|s| !s.closing));
        assert_eq!(t.open(), 7);
        // Every source down to one connection: the longest waiting of all goes.
        assert_eq!(
            t.admit(ip("192.0.2.22"), t0 + S(10)),
            Admit::Yes {
                id: 9,
                evicted: Some((lone, Limit::Total))
            }
        );
    }

    #[test]
    fn each_phase_times_out_on_its_own_clock_and_working_never() {
        let t0 = Instant::now();
        let mut t = Table::new(10, 10, timeouts());
        let hs = id(t.admit(ip(A), t0));
        let hd = id(t.admit(ip(A), t0));
        let bd = id(t.admit(ip(A), t0));
        let wk = id(t.admit(ip(A), t0));
        let idle = id(t.admit(ip(A), t0));
        t.set(hd, Phase::Headers, t0);
        t.set(bd, Phase::Body, t0);
        t.set(wk, Phase::Working, t0);
        t.set(idle, Phase::Idle, t0);
        assert!(t.expired(t0 + S(4)).is_empty());
        assert_eq!(t.expired(t0 + S(5)), vec![hd]);
        assert_eq!(t.expired(t0 + S(7)), vec![bd]);
        assert_eq!(t.expired(t0 + S(10)), vec![hs]);
        assert!(t.expired(t0 + S(29)).is_empty());
        assert_eq!(t.expired(t0 + S(30)), vec![idle]);
        assert!(t.expired(t0 + S(3600)).is_empty());
        // A new phase restarts the clock.
        t.set(wk, Phase::Idle, t0 + S(3600));
        assert!(t.expired(t0 + S(3601)).is_empty());
        assert_eq!(t.open(), 1);
        assert_eq!(t.open_from(Source::of(ip(A))), 1);
        // Removing a closed connection does not count it twice.
        t.remove(hd);
        assert_eq!(t.open_from(Source::of(ip(A))), 1);
        t.remove(wk);
        assert_eq!(t.open(), 0);
        assert!(t.held.is_empty());
    }

    #[test]
    fn the_per_source_limit_lies_between_one_and_the_cap() {
        assert_eq!(Table::new(5, 50, timeouts()).per_source, 5);
        assert_eq!(Table::new(5, 0, timeouts()).per_source, 1);
        assert_eq!(Table::new(0, 0, timeouts()).cap, 1);
    }

    #[test]
    fn accept_errors_back_off_from_10ms_to_1s() {
        let mut b = Backoff::new();
        let pauses: Vec<u128> = (0..9).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Backoff::MIN);
    }
}
