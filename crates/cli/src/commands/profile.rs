//! `profile list`: the profiles in force.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use clap::Subcommand;
use std::process::ExitCode;

/// `profile list`: an operation, on the home or against `--server`.
pub fn operation(ops: &mut dyn Operations, c: ProfileCmd) -> Result<ExitCode, Failure> {
    let ProfileCmd::List(a) = c;
    let rows = ops.profile_list()?;
    match a.output {
        Output::Json => json(&rows),
        Output::Table => table(
            &["PROFILE", "LIFETIME", "USAGE", "IMPACT WHEN IT LAPSES"],
            &rows
                .iter()
                .map(|p| {
                    let usage = if p.ca {
                        "CA".to_owned()
                    } else if p.eku.is_empty() {
                        "signing".to_owned()
                    } else {
                        p.eku.join("+")
                    };
                    let usage = if p.self_signed {
                        format!("{usage}, self-signed")
                    } else {
                        usage
                    };
                    vec![p.name.clone(), p.lifetime.clone(), usage, p.impact.clone()]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// List profiles with lifetime, usage and impact.
    List(OutputArg),
}
