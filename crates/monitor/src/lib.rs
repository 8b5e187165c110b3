//! certherd's scans: walking the disk for certificate files, reading what each file
//! holds, and probing TLS endpoints (with STARTTLS), each failure classified as an
//! inspection finding; the pipelines that run those scans over a node and record them
//! ([`scan`]); the key-provider health check, KMIP over mutual TLS ([`kmip`]); and the
//! lifecycle's work at each tick: rotation, alarms, webhook delivery ([`lifecycle`]).
//! Judging certificates is `certherd-inspect`'s; storing the results is the node's
//! (`certherd-ca`); rendering is the CLI's.
#![forbid(unsafe_code)]

pub mod files;
pub mod kmip;
pub mod lifecycle;
pub mod probe;
pub mod scan;
pub mod walk;
