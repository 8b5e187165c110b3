//! `trust ...`: trusted CA certificates and CRLs, all operations.
use crate::commands::cert::cert_json;
use crate::commands::Ran;
use crate::failure::about;
use crate::render::short_of;
use std::process::ExitCode;

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_core::StoreName;
use certherd_ops::CertFilter;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use clap::Subcommand;
use std::path::PathBuf;

pub(crate) fn trust(ops: &mut dyn Operations, c: TrustCmd) -> Result<(), Failure> {
    match c {
        TrustCmd::Add { file } => {
            let bytes = crate::failure::read_input(&file)?;
            // The operation takes PEM text: certificates in DER are sent as PEM.
            let pem: String = certherd_x509::parse_certificates(&bytes)
                .map_err(|e| Failure::file(&file, e))?
                .iter()
                .map(|c| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, c))
                .collect();
            let added = ops.trust_add(pem).map_err(about(&file))?;
            trust_added(&added);
        }
        TrustCmd::List(o) => {
            let rows = ops.cert_list(CertFilter {
                store: Some(StoreName::TRUSTED_ROOTS.to_owned()),
                ..CertFilter::default()
            })?;
            trust_list(&rows, o.output);
        }
        TrustCmd::Remove { fingerprint } => {
            let removed = ops.trust_remove(fingerprint)?;
            trust_removed(&removed);
        }
        TrustCmd::AddCrl { file } => {
            let bytes = crate::failure::read_input(&file)?;
            // The operation takes PEM text: a DER CRL is sent as PEM.
            let pem = match std::str::from_utf8(&bytes) {
                Ok(text) if text.contains("-----BEGIN") => text.to_owned(),
                _ => certherd_x509::to_pem(certherd_x509::PemLabel::Crl, &bytes),
            };
            let added = ops.crl_add(pem).map_err(about(&file))?;
            crl_added(&added);
        }
    }
    Ok(())
}

/// `trust add`.
pub fn trust_added(t: &api::TrustAddAnswer) {
    for w in &t.warnings {
        errln!("warning: {w}");
    }
    for m in &t.added {
        outln!(
            "trusted {}/{}  {}  SHA-256 {}",
            StoreName::TRUSTED_ROOTS,
            m.alias,
            m.subject,
            colon_hex(&m.sha256)
        );
    }
    for m in &t.already {
        outln!(
            "already trusted as {}/{}  {}",
            StoreName::TRUSTED_ROOTS,
            m.alias,
            m.subject
        );
    }
}

/// `trust list`: the entries of trusted-roots.
pub fn trust_list(rows: &[api::CertRow], output: Output) {
    match output {
        Output::Json => json(&rows.iter().map(cert_json).collect::<Vec<_>>()),
        Output::Table => table(
            &["ALIAS", "SUBJECT", "NOT AFTER", "STATUS", "SHA-256"],
            &rows
                .iter()
                .map(|c| {
                    vec![
                        c.alias.clone(),
                        c.subject.clone(),
                        short_of(&c.not_after),
                        c.status.clone(),
                        colon_hex(&c.sha256),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// `trust remove`.
pub fn trust_removed(t: &api::TrustRow) {
    outln!(
        "no longer trusted: {}/{}  {}",
        StoreName::TRUSTED_ROOTS,
        t.alias,
        t.subject
    );
}

/// `trust add-crl`.
pub fn crl_added(c: &api::CrlRow) {
    outln!(
        "added CRL from {}  ({} revoked, next update {})",
        c.issuer,
        c.revoked,
        c.next_update
            .as_deref()
            .map_or_else(|| "none".into(), short_of)
    );
}

/// `trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// Trust the CA certificates in FILE (roots and intermediates; CA certificates only).
    Add {
        /// PEM or DER file. A regular file of at most 4 MiB.
        file: PathBuf,
    },
    /// List trusted certificates.
    List(OutputArg),
    /// Stop trusting a certificate, by SHA-256 fingerprint (a unique 8+ digit prefix will do).
    Remove {
        /// SHA-256 fingerprint, hex, colons allowed.
        fingerprint: String,
    },
    /// Add a CRL signed by a trusted CA; verify and import consult it.
    AddCrl {
        /// PEM or DER CRL. A regular file of at most 4 MiB.
        file: PathBuf,
    },
}

/// `trust ...`: every form is an operation.
pub fn operation(ops: &mut dyn Operations, c: TrustCmd) -> Ran<TrustCmd> {
    Ran::Done(trust(ops, c).map(|()| ExitCode::SUCCESS))
}
