//! certherd's monitoring, over the authority's context ([`certherd_authority::Node`]): what it
//! watches but does not own, and what it tells about it.
//!
//! - The facets reached through [`MonitorExt`]: the watched endpoints and files
//!   ([`Watches`]), the alarms with their notification outbox ([`Alarms`]) and the KMIP
//!   key providers ([`KeyProviders`]).
//! - The scans: walking the disk for certificate files, reading what each file holds,
//!   and probing TLS endpoints (with STARTTLS), each failure classified as an inspection
//!   finding; the pipelines that run those scans over a node and record them ([`scan`]).
//! - The key-provider health check, KMIP over mutual TLS ([`kmip`]), and the lifecycle's
//!   work at each tick: rotation, alarms, webhook delivery ([`lifecycle`]).
//!
//! Judging certificates is `certherd-inspect`'s (with the node's trust: `Node::judge`);
//! rendering is the CLI's. Why a crate of its own: these watch what the authority and the
//! fleet do, and are not part of either. Alarm evaluation reads the inventory, the
//! watches and the fleet's hosts from the store, so nothing here calls up into
//! `certherd-fleet` (which clears a removed host's alarms through
//! [`Alarms::clear_alarms_about`], a call downward).
#![forbid(unsafe_code)]

mod alarms;
mod error;
pub mod files;
mod key_provider;
pub mod kmip;
pub mod lifecycle;
pub mod probe;
pub mod scan;
pub mod walk;
mod watch;

pub use alarms::{retry_delay, Alarms, DueNotification, OutboxSummary, MAX_RETRY_DELAY};
pub use error::Error;
pub use key_provider::{KeyProviders, KmipPlan};
pub use watch::{
    endpoint_check_name, endpoint_name_for, endpoint_policy, parse_sha256, EndpointScan,
    FileFinding, JudgeWatches, Watches,
};

use certherd_authority::Node;
use certherd_store::Store;

/// The monitoring facets on a node: import it to call `node.watches()`,
/// `node.alarms()`, `node.key_providers()` and their `_mut` forms.
pub trait MonitorExt {
    /// The node type the facets borrow.
    type Node;

    /// The watched endpoints and files, to read.
    fn watches(&self) -> Watches<&Self::Node>;

    /// The watched endpoints and files, to change.
    fn watches_mut(&mut self) -> Watches<&mut Self::Node>;

    /// The KMIP key providers, to read.
    fn key_providers(&self) -> KeyProviders<&Self::Node>;

    /// The KMIP key providers, to change.
    fn key_providers_mut(&mut self) -> KeyProviders<&mut Self::Node>;

    /// The alarms and the notification outbox, to read.
    fn alarms(&self) -> Alarms<&Self::Node>;

    /// The alarms and the notification outbox, to change.
    fn alarms_mut(&mut self) -> Alarms<&mut Self::Node>;
}

impl<S: Store> MonitorExt for Node<S> {
    type Node = Self;

    fn watches(&self) -> Watches<&Self> {
        Watches::new(self)
    }

    fn watches_mut(&mut self) -> Watches<&mut Self> {
        Watches::new(self)
    }

    fn key_providers(&self) -> KeyProviders<&Self> {
        KeyProviders::new(self)
    }

    fn key_providers_mut(&mut self) -> KeyProviders<&mut Self> {
        KeyProviders::new(self)
    }

    fn alarms(&self) -> Alarms<&Self> {
        Alarms::new(self)
    }

    fn alarms_mut(&mut self) -> Alarms<&mut Self> {
        Alarms::new(self)
    }
}
