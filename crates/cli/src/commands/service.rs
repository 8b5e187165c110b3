//! `service add`: a service identity (a vSphere solution user), its store and certificate.
//! An operation: the same on the home and against `--server`.
use crate::commands::cert::print_issued_answer;

use crate::commands::Output;
use crate::Failure;
use certherd_ops::Operations;
use clap::Subcommand;
use std::process::ExitCode;

/// Runs `service add` through `ops`.
pub fn operation(ops: &mut dyn Operations, c: ServiceCmd) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let ServiceCmd::Add { name, output } = c;
    let issued = ops.service_add(&name)?;
    print_issued_answer(
        &issued.certificate,
        &issued.warnings,
        "created",
        certherd_authority::SystemClock.now(),
        output,
    );
    Ok(ExitCode::SUCCESS)
}

/// `service` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Create store NAME with a `service` certificate (CN = NAME, clientAuth, 2 years).
    Add {
        /// Service name (e.g. vpxd, wcp, machine).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}
