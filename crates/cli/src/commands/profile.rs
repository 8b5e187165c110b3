//! `profile list`: the profiles in force.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_store::Home;
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;

pub fn run(home: &Home, c: ProfileCmd) -> Result<ExitCode, Failure> {
    let ProfileCmd::List(a) = c;
    let node = open_node(home)?;
    let rows: Vec<_> = node.profiles().iter().collect();
    match a.output {
        Output::Json => json(&json!(rows.iter().map(|p| json!({
            "name": p.name, "lifetime": p.lifetime.to_string(), "ca": !p.is_renewable(), "self_signed": p.self_signed,
            "eku": p.eku.iter().map(|e| e.name()).collect::<Vec<_>>(), "key_algo": p.key_algo.map(|k| k.name()), "impact": p.impact,
        })).collect::<Vec<_>>())),
        Output::Table => table(
            &["PROFILE", "LIFETIME", "USAGE", "IMPACT WHEN IT LAPSES"],
            &rows
                .iter()
                .map(|p| {
                    let usage = if !p.is_renewable() {
                        "CA".to_owned()
                    } else if p.eku.is_empty() {
                        "signing".to_owned()
                    } else {
                        p.eku.iter().map(|e| e.name()).collect::<Vec<_>>().join("+")
                    };
                    let usage = if p.self_signed { format!("{usage}, self-signed") } else { usage };
                    vec![p.name.clone(), p.lifetime.to_string(), usage, p.impact.clone()]
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
