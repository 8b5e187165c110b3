//! The lifecycle lease: which of several servers on one database runs the lifecycle loop
//! (alarm evaluation, notifications, CA rotation steps, CRL refresh) at a time.

use std::time::Duration;

use certherd_store::{Lease, Store};

use crate::{Error, Node};

/// The lease's name in the store.
pub const LIFECYCLE_LEASE: &str = "lifecycle";

impl<S: Store> Node<S> {
    /// Takes or renews the lifecycle lease for `holder`, to run `ttl` from the node's
    /// now, unless another server holds it and it has not expired. Returns the lease as
    /// it stands (see [`Lease::held_by`]).
    pub fn lifecycle_lease_take(&mut self, holder: &str, ttl: Duration) -> Result<Lease, Error> {
        let now = self.now();
        let until =
            now.saturating_add(time::Duration::try_from(ttl).unwrap_or(time::Duration::ZERO));
        Ok(self.store.take_lease(LIFECYCLE_LEASE, holder, now, until)?)
    }

    /// Gives the lifecycle lease up (at a clean stop), so another server takes it at once.
    pub fn lifecycle_lease_release(&mut self, holder: &str) -> Result<(), Error> {
        Ok(self.store.release_lease(LIFECYCLE_LEASE, holder)?)
    }

    /// The lifecycle lease, if a server ever took it.
    pub fn lifecycle_lease(&self) -> Result<Option<Lease>, Error> {
        Ok(self.store.lease(LIFECYCLE_LEASE)?)
    }
}
