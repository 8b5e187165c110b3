//! The lifecycle operations of one certherd node: `init`, issue, renew, import, trust,
//! CA rotation and the inventory views, over any [`certherd_store::Store`].
//!
//! This crate joins the pure core (rules), the x509 crate (bytes) and a store (state). It
//! does no network I/O and never reads the wall clock: the [`certherd_core::Clock`] is
//! passed in, so every operation can be run at a chosen date.
//!
//! # Shape: one context, feature facets over it
//!
//! [`Node`] is the shared context: the store, the clock, the settings and profiles, the
//! signing CA (loaded once), the audit record and the batch commit. The node's own
//! lifecycle (init, issue, renew, import, trust, CA rotation, the inventory views) are its
//! methods. Every other feature is a facet: a small type holding a borrow of the node,
//! reached through an accessor (`&self` to read, `_mut` to change), in its own module:
//!
//! | accessor | facet | feature |
//! |---|---|---|
//! | [`Node::fleet`] / [`Node::fleet_mut`] | [`Fleet`] | fleet server rules: hosts, enrolment, orders, pool trust, verification |
//! | [`Node::agent`] / [`Node::agent_mut`] | [`Agent`] | a joined host's own state: server, identity, targets, polls |
//! | [`Node::key_providers`] / [`Node::key_providers_mut`] | [`KeyProviders`] | KMIP key providers |
//! | [`Node::watches`] / [`Node::watches_mut`] | [`Watches`] | watched endpoints and files |
//! | [`Node::admin`] / [`Node::admin_mut`] | [`Admin`] | admin API credentials |
//! | [`Node::alarms`] / [`Node::alarms_mut`] | [`Alarms`] | alarms and the notification outbox |
//! | [`Node::revocations`] / [`Node::revocations_mut`] | [`Revocations`] | revocation and CRLs |
//!
//! Why: each feature sees the context through its public and crate API, never another
//! feature's internals; when one feature needs another (removing a host revokes its
//! certificates and clears its alarms) it goes through that feature's facet, as any
//! caller does. So a feature can move to its own crate over the context without touching
//! the others, and [`Node`] no longer grows with every feature.
#![forbid(unsafe_code)]

mod admin;
mod agent;
mod alarms;
mod authority;
mod error;
mod export;
mod fleet;
mod forecast;
mod import;
mod init;
mod inventory;
mod issue;
mod key_provider;
pub mod layout;
pub mod lease;
mod node;
pub mod report;
mod reset;
mod revoke;
#[cfg(test)]
mod test_node;
mod trust;
mod watch;

pub use admin::{Admin, AdminAuth, AdminClientCert, ADMIN_CERT_LIFETIME, ADMIN_CERT_ORGANIZATION};
pub use agent::{
    join_key_algo, Agent, AgentSummary, JoinRequest, LayoutTarget, TargetFile, AGENT_HOST_ENTRY,
    AGENT_POOL_ENTRY,
};
pub use alarms::{retry_delay, Alarms, DueNotification, OutboxSummary, MAX_RETRY_DELAY};
pub use authority::{CaSummary, RotationReport};
pub use error::{Error, ExportConflict, Instead, ObjectKind, PoolCertificateProblem, ValueKind};
pub use export::{ExportContent, ExportFormat, ExportOptions};
pub use fleet::{Fleet, Grant, PoolCertificate, HOSTS_STORE, MAX_HOST_IPS, POOL_STORE};
pub use import::Imported;
pub use init::{InitOptions, InitReport, Mode};
pub use inventory::{EntryView, StatusSummary};
pub use issue::{
    Bulk, BulkStep, IssueRequest, Issued, Plan, RenewSelection, Renewed, ReplaceRevokedError,
    SkipReason, Skipped, MAX_SANS,
};
pub use key_provider::{KeyProviders, KmipPlan};
pub use layout::{Layout, LayoutError, QemuReader, QemuVersion};
pub use node::{FaultHook, Node, SystemClock};
pub use reset::RESET_DEFAULT_PROFILE;
pub use revoke::{
    crl_file_name, NotRevocable, PublishedCrl, Revocation, Revocations, RevokeOutcome,
    SIGNING_CRL_FILE,
};
pub use trust::TrustAdded;
pub use watch::{
    endpoint_check_name, endpoint_name_for, endpoint_policy, parse_sha256, EndpointScan,
    FileFinding, Judge, JudgeAs, Watches,
};
