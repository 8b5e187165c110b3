//! The authority of one certherd node: `init`, issue, renew, import, reset, trust,
//! revocation, CA rotation, admin credentials and the inventory views, over any
//! [`certherd_store::Store`].
//!
//! This crate joins the pure core (rules), the x509 crate (bytes) and a store (state). It
//! does no network I/O and never reads the wall clock: the [`certherd_core::Clock`] is
//! passed in, so every operation can be run at a chosen date.
//!
//! # Shape: one context, feature facets over it
//!
//! [`Node`] is the shared context: the store, the clock, the settings and profiles, the
//! signing CA (loaded once), the audit record, the batch commit and the one replace-entry
//! step ([`Node::replace_entry`]). Its public context API ([`Node::store`],
//! [`Node::now`], [`Node::settings`], [`Node::profiles`], [`Node::audit`],
//! [`Node::commit`], [`Node::load`], [`Node::meta_for`], [`Node::replace_entry`],
//! [`Node::issue_for_key`]) is what features in other crates build on. The node's own
//! lifecycle (init, issue, renew, import, trust, CA rotation, the inventory views) are
//! its methods. Other features are facets: a small type holding a borrow of the node,
//! reached through an accessor (`&self` to read, `_mut` to change):
//!
//! | accessor | facet | feature |
//! |---|---|---|
//! | [`Node::admin`] / [`Node::admin_mut`] | [`Admin`] | admin API credentials |
//! | [`Node::revocations`] / [`Node::revocations_mut`] | [`Revocations`] | revocation and CRLs |
//!
//! The fleet (server-side fleet rules, a joined host's own state, the libvirt/QEMU
//! layouts) lives in `certherd-fleet`, and the watches, the alarms with their notification
//! outbox and the KMIP key providers in `certherd-monitor`, over this context, reached by their extension traits
//! (`node.fleet()`, `node.agent()`, `node.watches()`, `node.alarms()`). The judge
//! ([`Node::judge`]: trusted roots and CRLs at the clock) stays here, as the authority
//! judges what it imports and trusts with it too. What the authority itself needs of fleet hosts (the
//! stores their certificates live in, renewal orders given by a rotation or a
//! revocation) is here, in one place, so nothing here calls up into the fleet.
//!
//! Why: each feature sees the context through its public API, never another feature's
//! internals, so a feature can live in its own crate over the context, and [`Node`] no
//! longer grows with every feature.
#![forbid(unsafe_code)]

mod admin;
mod authority;
mod error;
mod export;
mod forecast;
mod hosts;
mod import;
mod init;
mod inventory;
mod issue;
mod judge;
pub mod lease;
mod node;
pub mod report;
mod reset;
mod revoke;
#[cfg(test)]
mod test_node;
mod trust;

pub use admin::{Admin, AdminAuth, AdminClientCert, ADMIN_CERT_LIFETIME, ADMIN_CERT_ORGANIZATION};
pub use authority::{CaSummary, RotationReport};
pub use error::{Error, ExportConflict, Instead, ObjectKind, ValueKind};
pub use export::{chain_without_root, ExportContent, ExportFormat, ExportOptions};
pub use hosts::{IssuedForKey, HOSTS_STORE, POOL_STORE};
pub use import::Imported;
pub use init::{host_name, InitOptions, InitReport, Mode};
pub use inventory::{EntryView, StatusSummary};
pub use issue::{
    Bulk, BulkStep, IssueRequest, Issued, Plan, RenewSelection, Renewed, ReplaceRevokedError,
    SkipReason, Skipped, MAX_SANS,
};
pub use judge::{Judge, JudgeAs};
pub use node::{FaultHook, Node, SystemClock};
pub use reset::RESET_DEFAULT_PROFILE;
pub use revoke::{
    crl_file_name, NotRevocable, PublishedCrl, Revocation, Revocations, RevokeOutcome,
    SIGNING_CRL_FILE,
};
pub use trust::TrustAdded;
