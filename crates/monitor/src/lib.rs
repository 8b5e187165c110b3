//! Scans without storage: walking the disk for certificate files, reading what each file
//! holds, and probing TLS endpoints (with STARTTLS), each failure classified as an
//! inspection finding; and the key-provider health check (KMIP over mutual TLS). Judging certificates is `certherd-inspect`'s; recording the results
//! is the node's (`certherd-ca`); rendering is the CLI's.
#![forbid(unsafe_code)]

pub mod files;
pub mod kmip;
pub mod probe;
pub mod walk;
