//! The connections being served: at most `cap` at once, each in a phase with its own time
//! limit. A connection that sends nothing, stalls its headers or its body, or sits idle
//! between requests is closed when its phase's time runs out; when the cap is reached, a
//! new connection takes the place of the one that has waited longest without a request in
//! progress, so a flood of idle connections cannot lock out a client that has something
//! to say. Only when every connection is busy with a request is a new one refused.
//!
//! The decisions ([`Table`]) are given `now`; the server feeds them its monotonic clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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
    phase: Phase,
    since: Instant,
    /// Told to close (evicted or timed out); no longer counted against the cap.
    closing: bool,
}

/// What [`Table::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Serve it, under this id; `evicted` was told to close to make room.
    Yes {
        /// The new connection's id.
        id: u64,
        /// The connection closed to make room, if any.
        evicted: Option<u64>,
    },
    /// Every connection is busy: close this one.
    No,
}

/// The pure bookkeeping: which connections exist, in which phase since when.
#[derive(Debug)]
pub struct Table {
    cap: usize,
    timeouts: Timeouts,
    next: u64,
    slots: HashMap<u64, Slot>,
}

impl Table {
    /// At most `cap` connections (at least one).
    pub fn new(cap: usize, timeouts: Timeouts) -> Self {
        Self {
            cap: cap.max(1),
            timeouts,
            next: 0,
            slots: HashMap::new(),
        }
    }

    /// Connections counted against the cap.
    pub fn open(&self) -> usize {
        self.slots.values().filter(|s| !s.closing).count()
    }

    /// A connection was accepted at `now`.
    pub fn admit(&mut self, now: Instant) -> Admit {
        let mut evicted = None;
        if self.open() >= self.cap {
            let victim = self
                .slots
                .iter()
                .filter(|(_, s)| !s.closing && s.phase.evictable())
                .min_by_key(|(id, s)| (s.since, **id))
                .map(|(id, _)| *id);
            match victim {
                Some(v) => {
                    if let Some(s) = self.slots.get_mut(&v) {
                        s.closing = true;
                    }
                    evicted = Some(v);
                }
                None => return Admit::No,
            }
        }
        let id = self.next;
        self.next += 1;
        self.slots.insert(
            id,
            Slot {
                phase: Phase::Handshake,
                since: now,
                closing: false,
            },
        );
        Admit::Yes { id, evicted }
    }

    /// Connection `id` moved to `phase` at `now`.
    pub fn set(&mut self, id: u64, phase: Phase, now: Instant) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.phase = phase;
            s.since = now;
        }
    }

    /// Connection `id` is gone.
    pub fn remove(&mut self, id: u64) {
        self.slots.remove(&id);
    }

    /// The connections whose phase ran out of time by `now`; they are marked closing.
    pub fn expired(&mut self, now: Instant) -> Vec<u64> {
        let mut out = Vec::new();
        for (id, s) in &mut self.slots {
            if s.closing {
                continue;
            }
            if let Some(limit) = self.timeouts.of(s.phase) {
                if now.saturating_duration_since(s.since) >= limit {
                    s.closing = true;
                    out.push(*id);
                }
            }
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

    /// Admits a connection: its handle (`None` when every connection is busy), and whether
    /// the cap was reached (another connection closed to make room, or this one refused).
    pub fn admit(self: &Arc<Self>) -> (Option<Conn>, bool) {
        let Ok(mut g) = self.inner.lock() else {
            return (None, true);
        };
        let (table, notes) = &mut *g;
        match table.admit(Instant::now()) {
            Admit::No => (None, true),
            Admit::Yes { id, evicted } => {
                if let Some(v) = evicted.and_then(|v| notes.get(&v)) {
                    v.notify_one();
                }
                let close = Arc::new(Notify::new());
                notes.insert(id, close.clone());
                let conn = Conn {
                    id,
                    close,
                    registry: self.clone(),
                };
                (Some(conn), evicted.is_some())
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
            Admit::No => u64::MAX,
        }
    }

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let t0 = Instant::now();
        let mut t = Table::new(3, timeouts());
        let a = id(t.admit(t0));
        let b = id(t.admit(t0 + S(1)));
        let c = id(t.admit(t0 + S(2)));
        t.set(a, Phase::Working, t0 + S(3));
        t.set(b, Phase::Headers, t0 + S(3));
        t.set(c, Phase::Body, t0 + S(2));
        // The oldest not working: c (in Body since 2s), not a (working).
        assert_eq!(
            t.admit(t0 + S(4)),
            Admit::Yes {
                id: 3,
                evicted: Some(c)
            }
        );
        assert_eq!(t.open(), 3);
        // The closing one is not chosen twice.
        assert_eq!(
            t.admit(t0 + S(4)),
            Admit::Yes {
                id: 4,
                evicted: Some(b)
            }
        );
        t.remove(b);
        t.remove(c);
        // Everything busy: refused.
        t.set(3, Phase::Working, t0 + S(5));
        t.set(4, Phase::Working, t0 + S(5));
        assert_eq!(t.admit(t0 + S(6)), Admit::No);
        t.remove(a);
        assert!(matches!(
            t.admit(t0 + S(6)),
            Admit::Yes { evicted: None, .. }
        ));
    }

    #[test]
    fn each_phase_times_out_on_its_own_clock_and_working_never() {
        let t0 = Instant::now();
        let mut t = Table::new(10, timeouts());
        let hs = id(t.admit(t0));
        let hd = id(t.admit(t0));
        let bd = id(t.admit(t0));
        let wk = id(t.admit(t0));
        let idle = id(t.admit(t0));
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
