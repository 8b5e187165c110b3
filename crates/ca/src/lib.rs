//! The lifecycle operations of one certherd node: `init`, issue, renew, import, trust,
//! CA rotation and the inventory views, over any [`certherd_store::Store`].
//!
//! This crate joins the pure core (rules), the x509 crate (bytes) and a store (state). It
//! does no network I/O and never reads the wall clock: the [`certherd_core::Clock`] is
//! passed in, so every operation can be run at a chosen date.
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
mod trust;
mod watch;

pub use admin::{AdminAuth, AdminClientCert, ADMIN_CERT_LIFETIME, ADMIN_CERT_ORGANIZATION};
pub use agent::{
    join_key_algo, AgentSummary, JoinRequest, LayoutTarget, TargetFile, AGENT_HOST_ENTRY,
    AGENT_POOL_ENTRY,
};
pub use alarms::{retry_delay, DueNotification, OutboxSummary, MAX_RETRY_DELAY};
pub use authority::{CaSummary, RotationReport};
pub use error::Error;
pub use export::{ExportContent, ExportFormat, ExportOptions};
pub use fleet::{Grant, PoolCertificate, HOSTS_STORE, POOL_STORE};
pub use import::Imported;
pub use init::{InitOptions, InitReport, Mode};
pub use inventory::{EntryView, StatusSummary};
pub use issue::{
    Bulk, BulkStep, IssueRequest, Issued, Plan, RenewSelection, Renewed, SkipReason, Skipped,
};
pub use key_provider::KmipPlan;
pub use layout::{Layout, LayoutError};
pub use node::{FaultHook, Node, SystemClock};
pub use reset::RESET_DEFAULT_PROFILE;
pub use revoke::{
    crl_file_name, NotRevocable, PublishedCrl, Revocation, RevokeOutcome, SIGNING_CRL_FILE,
};
pub use trust::TrustAdded;
pub use watch::{
    endpoint_check_name, endpoint_name_for, endpoint_policy, parse_sha256, EndpointScan,
    FileFinding, Judge, JudgeAs,
};
