//! `fleet renew`: order every host (or some) a new server certificate, and follow it.

use crate::commands::Output;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::CertFilter;
use certherd_ops::Operations;
use certherd_ops::Request;
use clap::Subcommand;
use std::process::ExitCode;

/// `fleet renew`: new host certificates ordered, then watched until each host has renewed
/// or `--wait` runs out. The orders are saved: a database out of reach while waiting (a
/// PostgreSQL restart or failover) is waited through, said once.
pub(crate) fn fleet_renew(ops: &mut dyn Operations, c: FleetCmd) -> Result<ExitCode, Failure> {
    let FleetCmd::Renew {
        profile,
        hosts,
        wait,
        output,
    } = c;
    if profile != "host" {
        return Err(Failure::usage(format!("the fleet renews `host` certificates; '{profile}' is renewed on its node with `certherd cert renew`")));
    }
    let wait = crate::instant::duration(&wait, "--wait")?;
    let ordered = ops
        .order(Request::FleetRenew(
            certherd_protocol::admin::FleetRenewRequest { hosts },
        ))?
        .hosts;
    if ordered.is_empty() {
        return Err(Failure::msg(
            "no joined host to renew (see `certherd host list`)",
        ));
    }
    let bar = indicatif::ProgressBar::new(ordered.len() as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} hosts renewed {elapsed}")
    {
        bar.set_style(style);
    }
    let deadline = std::time::Instant::now() + wait;
    let mut done = vec![false; ordered.len()];
    let mut said_unreachable = false;
    while std::time::Instant::now() < deadline && done.iter().any(|d| !d) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = match ops.host_list() {
            Ok(now) => now,
            Err(e) if e.code() == certherd_protocol::ErrorCode::Unavailable => {
                if !said_unreachable {
                    errln!("the database is out of reach ({e}); the orders are saved, waiting for it until --wait runs out");
                    said_unreachable = true;
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (i, h) in ordered.iter().enumerate() {
            if !done[i] && now.iter().any(|n| &n.name == h && !n.renew_pending) {
                done[i] = true;
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    let certs = ops.cert_list(CertFilter {
        store: Some(certherd_authority::HOSTS_STORE.to_owned()),
        ..CertFilter::default()
    })?;
    let rows: Vec<(String, bool, Option<String>)> = ordered
        .iter()
        .zip(&done)
        .map(|(h, d)| {
            let na = certs
                .iter()
                .find(|c| &c.alias == h)
                .map(|c| c.not_after.clone());
            (h.clone(), *d, na)
        })
        .collect();
    Ok(fleet_renew_results(&rows, output))
}

/// One host of `fleet renew --output json`.
#[derive(serde::Serialize)]
struct FleetRenewJson<'a> {
    host: &'a str,
    result: &'a str,
    not_after: Option<&'a str>,
}

/// The `fleet renew` table or JSON, one row per host (name, renewed, new not-after), on
/// the home and through the API alike; exit 0 when every host renewed.
pub fn fleet_renew_results(rows: &[(String, bool, Option<String>)], output: Output) -> ExitCode {
    match output {
        Output::Json => json(
            &rows
                .iter()
                .map(|(h, d, na)| FleetRenewJson {
                    host: h,
                    result: if *d { "renewed" } else { "pending" },
                    not_after: na.as_deref(),
                })
                .collect::<Vec<_>>(),
        ),
        Output::Table => table(
            &["HOST", "RESULT", "NOT AFTER"],
            &rows
                .iter()
                .map(|(h, d, na)| {
                    vec![
                        h.clone(),
                        if *d {
                            "renewed".into()
                        } else {
                            "pending: not heard from yet".into()
                        },
                        na.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    if rows.iter().all(|(_, d, _)| *d) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCmd {
    /// Order new host certificates (new keys, made on the hosts) and wait for the hosts.
    ///
    /// Each selected host renews at its next poll; a progress bar follows them and a table
    /// gives each host's result. Exit 0 when every host renewed within --wait.
    Renew {
        /// The profile to renew; the fleet renews `host` certificates.
        #[arg(long, value_name = "PROFILE", default_value = "host")]
        profile: String,
        /// Only these hosts (repeatable) [default: every joined host].
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// How long to wait for the hosts to poll.
        #[arg(long, value_name = "DURATION", default_value = "5m")]
        wait: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}
