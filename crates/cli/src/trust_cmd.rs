//! `trust ...`.

use std::process::ExitCode;

use certherd_store::Home;
use serde_json::Value;

use crate::args::{Output, TrustCmd};
use crate::failure::read_input;
use crate::instant::short;
use crate::render::{colon_hex, entry_json, json, table};
use crate::{open_node, Failure};

pub fn run(home: &Home, c: TrustCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        TrustCmd::Add { file } => {
            let bytes = read_input(&file)?;
            let certherd_ca::TrustAdded {
                added,
                already,
                warnings,
            } = node
                .trust_add_checked(&bytes)
                .map_err(|e| Failure::file(&file, e))?;
            for w in &warnings {
                errln!("warning: {}: {}", w.kind, w.message);
            }
            for m in &added {
                outln!(
                    "trusted {}  {}  SHA-256 {}",
                    m.entry,
                    m.subject,
                    colon_hex(&m.sha256)
                );
            }
            for m in &already {
                outln!("already trusted as {}  {}", m.entry, m.subject);
            }
        }
        TrustCmd::List(a) => {
            let now = node.now();
            let views: Vec<_> = node
                .trust_list()?
                .into_iter()
                .map(|m| node.view(m, now))
                .collect();
            match a.output {
                Output::Json => json(&Value::Array(views.iter().map(entry_json).collect())),
                Output::Table => table(
                    &["ALIAS", "SUBJECT", "NOT AFTER", "STATUS", "SHA-256"],
                    &views
                        .iter()
                        .map(|v| {
                            vec![
                                v.meta.entry.alias.to_string(),
                                v.meta.subject.clone(),
                                short(v.meta.not_after),
                                v.status.as_str().into(),
                                colon_hex(&v.meta.sha256),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        TrustCmd::Remove { fingerprint } => {
            let m = node.trust_remove(&fingerprint)?;
            outln!("no longer trusted: {}  {}", m.entry, m.subject);
        }
        TrustCmd::AddCrl { file } => {
            let bytes = read_input(&file)?;
            let info = node
                .trust_add_crl(&bytes)
                .map_err(|e| Failure::file(&file, e))?;
            outln!(
                "added CRL from {}  ({} revoked, next update {})",
                info.issuer,
                info.revoked,
                info.next_update.map(short).unwrap_or_else(|| "none".into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
