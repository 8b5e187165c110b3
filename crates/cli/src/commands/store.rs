//! `store list`: the named stores and how many entries each holds.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_store::Home;
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;

pub fn run(home: &Home, c: StoreCmd) -> Result<ExitCode, Failure> {
    let StoreCmd::List(a) = c;
    let node = open_node(home)?;
    let stores = node.stores()?;
    match a.output {
        Output::Json => json(&json!(stores.iter().map(|s| json!({"name": s.name.as_str(), "entries": s.entries, "created_at": rfc3339(s.created_at)})).collect::<Vec<_>>())),
        Output::Table => table(&["STORE", "ENTRIES"], &stores.iter().map(|s| vec![s.name.to_string(), s.entries.to_string()]).collect::<Vec<_>>()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// List stores and how many entries each holds.
    List(OutputArg),
}
