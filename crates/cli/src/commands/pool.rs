//! `pool ...`: the pool's certificates and its verification setting.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use clap::Subcommand;
use clap::ValueEnum;
use std::process::ExitCode;

/// `pool verification enable|disable|status`.
pub(crate) fn pool_verification(
    ops: &mut dyn Operations,
    action: VerificationAction,
    output: crate::commands::Output,
) -> Result<(), Failure> {
    if action == VerificationAction::Status {
        let enabled = ops.pool_verification(None)?;
        let hosts: Vec<(String, Option<bool>)> = ops
            .host_list()?
            .into_iter()
            .map(|h| (h.name, h.verification))
            .collect();
        print_verification(enabled, &hosts, output);
        return Ok(());
    }
    let enabled = ops.pool_verification(Some(action == VerificationAction::Enable))?;
    outln!(
        "pool certificate verification {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

/// `pool verification status --output json`.
#[derive(serde::Serialize)]
struct PoolVerificationJson<'a> {
    pool: &'a str,
    hosts: Vec<HostVerificationJson<'a>>,
}

/// One host of [`PoolVerificationJson`].
#[derive(serde::Serialize)]
struct HostVerificationJson<'a> {
    host: &'a str,
    verification: &'a str,
}

/// `pool verification status`: the pool's setting, and what each host reported.
pub fn print_verification(pool: bool, hosts: &[(String, Option<bool>)], output: Output) {
    let word = |v: Option<bool>| match v {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "not reported",
    };
    let pool = if pool { "enabled" } else { "disabled" };
    match output {
        Output::Json => json(&PoolVerificationJson {
            pool,
            hosts: hosts
                .iter()
                .map(|(h, v)| HostVerificationJson {
                    host: h,
                    verification: word(*v),
                })
                .collect(),
        }),
        Output::Table => {
            outln!("Pool verification  {pool}");
            table(
                &["HOST", "VERIFICATION"],
                &hosts
                    .iter()
                    .map(|(h, v)| vec![h.clone(), word(*v).to_owned()])
                    .collect::<Vec<_>>(),
            );
        }
    }
}

/// `pool` subcommands.
#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Every host's pool-internal and server identity certificates: host, kind,
    /// thumbprint, expiry.
    #[command(name = "certificate-list")]
    CertificateList(OutputArg),
    /// The pool's certificate verification: `enable`, `disable` or `status`.
    ///
    /// A host whose setting differs from the pool's cannot join. `status` lists each
    /// host's setting as it last reported it.
    Verification {
        /// enable, disable or status.
        #[arg(value_enum)]
        action: VerificationAction,
        /// Output format (status).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// What `pool verification` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerificationAction {
    /// Turn verification on for the pool.
    Enable,
    /// Turn it off.
    Disable,
    /// Show the pool's and each host's setting.
    Status,
}

/// `pool ...`: every form is an operation.
pub fn operation(ops: &mut dyn Operations, c: PoolCmd) -> Result<ExitCode, Failure> {
    match c {
        PoolCmd::Verification { action, output } => {
            pool_verification(ops, action, output).map(|()| ExitCode::SUCCESS)
        }
        PoolCmd::CertificateList(o) => certificate_list(ops, o.output),
    }
}

/// `pool certificate-list`: each host's pinned certificates.
fn certificate_list(ops: &mut dyn Operations, output: Output) -> Result<ExitCode, Failure> {
    let rows = ops.pool_certificates()?;
    match output {
        Output::Json => json(&rows),
        Output::Table => table(
            &["HOST", "KIND", "SHA-256", "NOT AFTER"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        r.kind.clone(),
                        colon_hex(&r.sha256),
                        r.not_after.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}
