//! The operations on a home: [`HomeOps`] opens the home's node at the first call and runs
//! each request through [`certherd_ops::Local`], under the home's renewal lock (waiting
//! for a run that holds it, said on standard error).

use crate::failure::TransportFailure;
use crate::instant::rfc3339;
use certherd_core::OffsetDateTime;
use certherd_store::{Home, HomeLock, LockHolder, Locked};

use crate::Failure;
use certherd_ops::Operations;
use certherd_ops::Request;

/// The operations on a home, opened at the first call (a command that is not an
/// operation never opens it here).
pub struct HomeOps<'h> {
    home: &'h certherd_store::Home,
    node: Option<crate::LocalNode>,
    actor: String,
}

impl<'h> HomeOps<'h> {
    /// The operations on `home`, on behalf of the local user (what a revocation records).
    pub fn new(home: &'h certherd_store::Home) -> Self {
        Self {
            home,
            node: None,
            actor: format!(
                "local:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
        }
    }
}

impl HomeOps<'_> {
    /// The home's node, opened at the first use and kept for the calls that follow.
    fn node(&mut self) -> Result<&mut crate::LocalNode, certherd_ops::Error> {
        match &mut self.node {
            Some(n) => Ok(n),
            empty => {
                let store = match self.home.open() {
                    Ok(s) => s,
                    // A database out of reach now may answer later.
                    Err(e @ certherd_store::Error::Unreachable { .. }) => {
                        return Err(certherd_ops::Error::Unavailable(Box::new(e)))
                    }
                    Err(e) => return Err(certherd_authority::Error::from(e).into()),
                };
                Ok(empty.insert(
                    crate::node_over(self.home, store).map_err(|f| {
                        certherd_ops::Error::Transport(Box::new(TransportFailure(f)))
                    })?,
                ))
            }
        }
    }

    /// Evaluates the home's alarms now and reconciles them (each change and its webhook
    /// notifications recorded together), then delivers the notifications due, waiting for
    /// retries: the server's lifecycle loop, run once, before `alarms` lists them (on the
    /// same node the listing then uses).
    pub fn evaluate_alarms(&mut self) -> Result<(), Failure> {
        let node = self.node()?;
        crate::commands::alarms::evaluate_and_notify(node)
    }
}

impl HomeOps<'_> {
    /// Runs `f` over the operations on the home's node, under the home's waiting lock.
    fn local<R>(
        &mut self,
        f: impl FnOnce(
            &mut certherd_ops::Local<'_, certherd_store::HomeStore>,
        ) -> Result<R, certherd_ops::Error>,
    ) -> Result<R, certherd_ops::Error> {
        let home = self.home;
        let actor = self.actor.clone();
        let node = self.node()?;
        let lock = WaitingLock(home);
        let answer = f(&mut certherd_ops::Local::new(node, actor)
            .with_lock(&lock)
            .with_home(home));
        // A connection the database closed (a restart, a failover) is opened afresh at the
        // next call.
        match answer {
            Err(e) if node.store().is_closed() => {
                self.node = None;
                Err(certherd_ops::Error::Unavailable(Box::new(e)))
            }
            other => other,
        }
    }
}

impl Operations for HomeOps<'_> {
    fn call(&mut self, request: Request) -> Result<certherd_ops::Answer, certherd_ops::Error> {
        self.local(|ops| ops.call(request))
    }

    fn run(
        &mut self,
        request: Request,
        each: &mut dyn FnMut(&certherd_protocol::admin::RunStep),
    ) -> Result<certherd_protocol::admin::RunAnswer, certherd_ops::Error> {
        self.local(|ops| ops.run(request, each))
    }

    fn scan_tls(
        &mut self,
        r: certherd_protocol::admin::ScanTlsRequest,
        started: &mut dyn FnMut(usize),
        tick: &(dyn Fn() + Sync),
    ) -> Result<certherd_protocol::admin::ScanTlsAnswer, certherd_ops::Error> {
        self.local(|ops| ops.scan_tls(r, started, tick))
    }
}

/// The home's renewal lock as the CLI takes it: waiting for a run that holds it, said on
/// standard error.
struct WaitingLock<'h>(&'h certherd_store::Home);

impl certherd_ops::RenewalLock for WaitingLock<'_> {
    fn hold(&self, what: &str) -> Result<Box<dyn std::any::Any>, certherd_ops::Error> {
        use certherd_core::Clock;
        lock_home(self.0, certherd_authority::SystemClock.now(), what)
            .map(|l| Box::new(l) as Box<dyn std::any::Any>)
            .map_err(|f| certherd_ops::Error::Transport(Box::new(TransportFailure(f))))
    }

    fn hold_run(
        &self,
        what: &str,
        started: OffsetDateTime,
    ) -> Result<(Box<dyn std::any::Any>, Option<OffsetDateTime>), certherd_ops::Error> {
        let locked = lock_home(self.0, started, what)
            .map_err(|f| certherd_ops::Error::Transport(Box::new(TransportFailure(f))))?;
        let since = handled_since(&locked, started);
        Ok((Box::new(locked), since))
    }
}

/// Entries written at or after this instant were handled by the run we waited for.
fn handled_since(locked: &Locked, started: OffsetDateTime) -> Option<OffsetDateTime> {
    locked.waited.then(|| {
        locked
            .waited_for
            .as_ref()
            .map_or(started, |h| h.started.min(started))
    })
}

/// Takes the home's lock for a command that replaces entries; says so on standard error
/// when another command holds it and this one waits.
pub(crate) fn lock_home(
    home: &Home,
    started: OffsetDateTime,
    what: &str,
) -> Result<Locked, Failure> {
    let me = LockHolder {
        pid: std::process::id(),
        started,
        what: what.to_owned(),
    };
    let path = home.lock_path();
    let waiting = |holder: Option<&LockHolder>| {
        match holder {
        Some(h) => errln!(
            "waiting: `certherd {}` (pid {}, started {}) holds this home; this run goes on when it ends",
            h.what,
            h.pid,
            rfc3339(h.started)
        ),
        None => errln!(
            "waiting: another certherd command holds {}; this run goes on when it ends",
            path.display()
        ),
    }
    };
    Ok(HomeLock::acquire(&path, &me, waiting)?)
}
