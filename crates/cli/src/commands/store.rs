//! `store list`: the named stores and how many entries each holds.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use clap::Subcommand;
use std::process::ExitCode;

/// `store list`: an operation, on the home or against `--server`.
pub fn operation(ops: &mut dyn Operations, c: StoreCmd) -> Result<ExitCode, Failure> {
    let StoreCmd::List(a) = c;
    let stores = ops.store_list()?;
    match a.output {
        Output::Json => json(&stores),
        Output::Table => table(
            &["STORE", "ENTRIES"],
            &stores
                .iter()
                .map(|s| vec![s.name.clone(), s.entries.to_string()])
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// List stores and how many entries each holds.
    List(OutputArg),
}
