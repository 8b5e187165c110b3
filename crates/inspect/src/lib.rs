//! One judgment of a certificate chain, used everywhere certherd gives a verdict: `verify`,
//! `cert import`, `trust add`, the scans, `endpoint diagnose`, `check`, alarms, the forecast
//! and the report. Given the presented chain, the name used, the purpose, an instant, the
//! trusted roots, pins and CRLs, it returns *every* finding, each with a kind (stable
//! kebab-case names), a severity, a message naming the facts, and a hint.
//!
//! Sans I/O: bytes and an instant in, findings out.
#![forbid(unsafe_code)]

mod chain;
mod finding;
pub mod wording;

pub use certherd_protocol::facts::{Facts, FileFacts, TlsFacts};
pub use chain::{
    anchor_subjects, inspect, san_covers, subject_key, ChainInput, Inspection, Target, Thresholds,
    TrustPolicy,
};
pub use finding::{summary, worst, Finding, FindingKind, Severity};

/// Sorts findings worst first, keeping the order of equals.
pub fn sort_findings(findings: &mut [Finding]) {
    finding::sort(findings);
}
