//! `pool ...`: the pool's certificates and its verification setting.
use certherd_fleet::FleetExt;

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::commands::Ran;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use certherd_store::Home;
use clap::Subcommand;
use clap::ValueEnum;
use serde_json::json;
use std::process::ExitCode;

/// `pool`.
pub fn run(home: &Home, c: PoolCmd) -> Result<ExitCode, Failure> {
    let o = match c {
        PoolCmd::CertificateList(o) => o,
        other => return Err(crate::not_carried_out(&other)),
    };
    let node = open_node(home)?;
    let rows = node.fleet().pool_certificates()?;
    match o.output {
        Output::Json => json(&json!(rows
            .iter()
            .map(|r| json!({
                "host": r.host,
                "kind": r.kind,
                "subject": r.meta.subject,
                "sha256": r.meta.sha256,
                "not_after": rfc3339(r.meta.not_after),
            }))
            .collect::<Vec<_>>())),
        Output::Table => table(
            &["HOST", "KIND", "SHA-256", "NOT AFTER"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        r.kind.to_owned(),
                        colon_hex(&r.meta.sha256),
                        rfc3339(r.meta.not_after),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

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

/// `pool verification ...` is an operation; `pool certificate-list` reads the home.
pub fn operation(ops: &mut dyn Operations, c: PoolCmd) -> Ran<PoolCmd> {
    match c {
        PoolCmd::Verification { action, output } => {
            Ran::Done(pool_verification(ops, action, output).map(|()| ExitCode::SUCCESS))
        }
        other => Ran::NotAnOperation(other),
    }
}
