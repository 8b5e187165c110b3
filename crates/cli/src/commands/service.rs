//! `service add`: a service identity (a vSphere solution user), its store and certificate.
use crate::commands::cert::print_issued;

use crate::commands::Output;
use crate::open_node;
use crate::Failure;
use certherd_store::Home;
use clap::Subcommand;
use std::process::ExitCode;

pub fn run(home: &Home, c: ServiceCmd) -> Result<ExitCode, Failure> {
    let ServiceCmd::Add { name, output } = c;
    let mut node = open_node(home)?;
    let issued = node.add_service(&name)?;
    print_issued(output, &node, &issued, "created");
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
