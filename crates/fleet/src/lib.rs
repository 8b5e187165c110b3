//! certherd's fleet, over the authority's context ([`certherd_authority::Node`]): the server's
//! rules for hosts (enrolment with join tokens, joins, polls, renewal and pool-refresh
//! orders, pool trust and verification), a joined host's own state (its server, identity,
//! targets, polls) and the libvirt/QEMU layouts it deploys.
//!
//! Why a crate of its own: the fleet is a feature over the authority, not part of it.
//! It sees the node only through its public context API (store, clock, settings,
//! profiles, audit, commit, the one replace-entry step, issuing over a host's key), so
//! the authority does not grow with it and nothing in the authority calls up into it.
//! A removed host's revocations it asks of the node, and its alarms of
//! `certherd-monitor`: both below.
//!
//! Reach the facets through [`FleetExt`], implemented for every [`Node`]:
//! `node.fleet()`, `node.fleet_mut()`, `node.agent()`, `node.agent_mut()`.
#![forbid(unsafe_code)]

mod agent;
mod error;
mod fleet;
pub mod layout;

pub use agent::{
    join_key_algo, Agent, AgentSummary, JoinRequest, LayoutTarget, TargetFile, AGENT_HOST_ENTRY,
    AGENT_POOL_ENTRY,
};
pub use certherd_authority::{HOSTS_STORE, POOL_STORE};
pub use error::{Error, PoolCertificateProblem};
pub use fleet::{Fleet, Grant, PoolCertificate, MAX_HOST_IPS};
pub use layout::{
    export_layout, layout_misfits, Layout, LayoutError, LayoutMisfit, QemuReader, QemuVersion,
};

use certherd_authority::Node;
use certherd_store::Store;

/// The fleet's facets on a node: import it to call `node.fleet()`, `node.agent()` and
/// their `_mut` forms.
pub trait FleetExt {
    /// The node type the facets borrow.
    type Node;

    /// The fleet's server rules (hosts, enrolment, orders, pool trust), to read.
    fn fleet(&self) -> Fleet<&Self::Node>;

    /// The fleet's server rules, to change.
    fn fleet_mut(&mut self) -> Fleet<&mut Self::Node>;

    /// The agent's own state (server, identity, targets, polls), to read.
    fn agent(&self) -> Agent<&Self::Node>;

    /// The agent's own state (server, identity, targets, polls), to change.
    fn agent_mut(&mut self) -> Agent<&mut Self::Node>;
}

impl<S: Store> FleetExt for Node<S> {
    type Node = Self;

    fn fleet(&self) -> Fleet<&Self> {
        Fleet::new(self)
    }

    fn fleet_mut(&mut self) -> Fleet<&mut Self> {
        Fleet::new(self)
    }

    fn agent(&self) -> Agent<&Self> {
        Agent::new(self)
    }

    fn agent_mut(&mut self) -> Agent<&mut Self> {
        Agent::new(self)
    }
}
