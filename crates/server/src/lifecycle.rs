//! The lifecycle lease: which server of several on one database runs the lifecycle loop
//! (the loop's work itself, evaluation and delivery, is certherd-monitor's
//! [`certherd_monitor::lifecycle`], re-exported here).

use std::time::Duration;

use certherd_core::OffsetDateTime;

pub use certherd_monitor::lifecycle::*;

/// Which server of several on one database runs the lifecycle loop: the holder of the
/// lifecycle lease, renewed every quarter of its length. A holder that dies stops renewing;
/// once its lease has run out another server takes it at its next renewal, so the loop
/// moves within one lease length. A holder that cannot renew (its database unreachable)
/// stops acting a third of a lease before its lease could run out, so two servers never
/// run the loop at once while their clocks agree.
#[derive(Debug)]
pub struct Leadership {
    holder: String,
    ttl: Duration,
    /// Until when this server acts as leader.
    leads_until: Option<OffsetDateTime>,
    /// Who held the lease at the last renewal.
    seen: Option<String>,
}

/// A change of who runs the lifecycle loop, as this server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseEvent {
    /// This server took the lease (from the previous holder, whose lease had run out or
    /// who gave it up).
    Took {
        /// The holder before, if there was one.
        from: Option<String>,
    },
    /// Another server holds the lease now.
    Lost {
        /// The new holder.
        to: String,
    },
    /// Another server holds the lease (seen first, or changed hands between others).
    Follows {
        /// The holder.
        holder: String,
    },
}

impl std::fmt::Display for LeaseEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Took { from: Some(h) } => {
                write!(f, "runs the lifecycle loop now (took the lease from {h})")
            }
            Self::Took { from: None } => write!(f, "runs the lifecycle loop (took the lease)"),
            Self::Lost { to } => {
                write!(f, "no longer runs the lifecycle loop: {to} holds the lease")
            }
            Self::Follows { holder } => {
                write!(f, "follows: {holder} runs the lifecycle loop")
            }
        }
    }
}

impl Leadership {
    /// `holder` names this server process; `ttl` is the failover bound
    /// (`[server] lifecycle_lease`).
    pub fn new(holder: impl Into<String>, ttl: Duration) -> Self {
        Self {
            holder: holder.into(),
            ttl,
            leads_until: None,
            seen: None,
        }
    }

    /// This server's name in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The failover bound.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the lease is taken or renewed: a quarter of the failover bound.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 4
    }

    /// How long a lease taken or renewed now runs: three quarters of the failover bound.
    /// A holder that dies renewed at most a quarter before, so its lease runs out at most
    /// three quarters later and a follower, trying every quarter, takes it within the
    /// bound.
    pub fn lease_length(&self) -> Duration {
        self.ttl * 3 / 4
    }

    /// How long before its lease runs out a holder stops acting when it could not renew:
    /// one renewal period, so a single failed renewal costs nothing and two servers never
    /// act at once while their clocks agree within it.
    fn margin(&self) -> Duration {
        self.ttl / 4
    }

    /// Records the lease as taking or renewing it at `now` left it; says what changed.
    pub fn observe(
        &mut self,
        lease: &certherd_store::Lease,
        now: OffsetDateTime,
    ) -> Option<LeaseEvent> {
        let mine = lease.held_by(&self.holder, now);
        let was_mine = self.leads_until.is_some();
        let before = self.seen.replace(lease.holder.clone());
        self.leads_until = mine.then(|| {
            lease.expires_at.saturating_sub(
                time::Duration::try_from(self.margin()).unwrap_or(time::Duration::ZERO),
            )
        });
        match (was_mine, mine) {
            (false, true) => Some(LeaseEvent::Took {
                from: before.filter(|h| *h != self.holder),
            }),
            (true, false) => Some(LeaseEvent::Lost {
                to: lease.holder.clone(),
            }),
            (false, false) if before.as_deref() != Some(&lease.holder) => {
                Some(LeaseEvent::Follows {
                    holder: lease.holder.clone(),
                })
            }
            _ => None,
        }
    }

    /// Whether this server runs the loop at `now`.
    pub fn leads(&self, now: OffsetDateTime) -> bool {
        self.leads_until.is_some_and(|until| now < until)
    }

    /// Who holds the lease, as last seen.
    pub fn holder_seen(&self) -> Option<&str> {
        self.seen.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod leadership_tests {
    use super::*;
    use certherd_store::{Lease, Store};

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn lease(holder: &str, taken: i64, expires: i64) -> Lease {
        Lease {
            name: "lifecycle".into(),
            holder: holder.into(),
            taken_at: at(taken),
            expires_at: at(expires),
        }
    }

    #[test]
    fn a_server_leads_while_it_holds_the_lease_and_stops_a_renewal_before_it_runs_out() {
        let mut a = Leadership::new("a", Duration::from_secs(15));
        assert_eq!(a.renew_every(), Duration::from_millis(3750));
        assert_eq!(a.lease_length(), Duration::from_millis(11250));
        assert!(!a.leads(at(0)));
        assert_eq!(
            a.observe(&lease("a", 0, 15), at(0)),
            Some(LeaseEvent::Took { from: None })
        );
        assert!(a.leads(at(0)) && a.leads(at(11)));
        assert!(
            !a.leads(at(12)),
            "no renewal seen: stops a renewal period before the lease runs out"
        );
        assert_eq!(a.observe(&lease("a", 0, 20), at(5)), None, "renewed");
        assert!(a.leads(at(16)));
        // Another server took it (a's renewals failed long enough).
        assert_eq!(
            a.observe(&lease("b", 21, 36), at(21)),
            Some(LeaseEvent::Lost { to: "b".into() })
        );
        assert!(!a.leads(at(21)));
        assert_eq!(a.observe(&lease("b", 21, 41), at(26)), None);
        // b died; its lease ran out; a takes it back.
        assert_eq!(
            a.observe(&lease("a", 42, 57), at(42)),
            Some(LeaseEvent::Took {
                from: Some("b".into())
            })
        );
    }

    #[test]
    fn a_follower_says_who_leads_once_and_when_it_changes() {
        let mut c = Leadership::new("c", Duration::from_secs(15));
        assert_eq!(
            c.observe(&lease("a", 0, 15), at(1)),
            Some(LeaseEvent::Follows { holder: "a".into() })
        );
        assert_eq!(c.observe(&lease("a", 0, 20), at(6)), None);
        assert_eq!(
            c.observe(&lease("b", 21, 36), at(21)),
            Some(LeaseEvent::Follows { holder: "b".into() })
        );
        assert!(!c.leads(at(21)));
        assert_eq!(c.holder_seen(), Some("b"));
    }

    /// Two servers over one store at chosen instants: never both leading; the survivor
    /// of a holder that stops renewing leads within one lease length.
    #[test]
    fn over_a_real_store_one_leads_and_a_survivor_takes_over_within_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let key = certherd_store::MasterKey::create(&dir.path().join("master.key")).unwrap();
        let mut store =
            certherd_store::SqliteStore::open(&dir.path().join("certherd.db"), key).unwrap();
        let ttl = Duration::from_secs(15);
        let mut a = Leadership::new("a", ttl);
        let mut b = Leadership::new("b", ttl);
        let take = |store: &mut certherd_store::SqliteStore, who: &mut Leadership, now| {
            let until = now + time::Duration::try_from(ttl).unwrap();
            let l = store
                .take_lease("lifecycle", &who.holder.clone(), now, until)
                .unwrap();
            who.observe(&l, now);
        };
        // Both renew every 5 s here (slower than they would), b one second after a; a
        // dies at 30.
        let mut took_over = None;
        for t in 0..80 {
            let now = at(t);
            if t % 5 == 0 && t < 30 {
                take(&mut store, &mut a, now);
            }
            if t % 5 == 1 {
                take(&mut store, &mut b, now);
            }
            assert!(!(a.leads(now) && b.leads(now)), "both lead at {t}");
            if b.leads(now) && took_over.is_none() {
                took_over = Some(t);
            }
        }
        let t = took_over.unwrap();
        // a's last renewal at 25 runs to 40; b tries at 41.
        assert!(t > 25 && t <= 30 + 15, "b took over at {t}");
    }
}
