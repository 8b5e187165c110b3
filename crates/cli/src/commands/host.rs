//! `host ...`: the fleet's hosts (add, list, remove, and orders to renew), all operations.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::commands::Ran;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use certherd_ops::Request;
use certherd_protocol::admin as api;
use clap::Subcommand;
use std::process::ExitCode;

/// `host add --output json`: the token is shown this once.
#[derive(serde::Serialize)]
struct HostAddedJson<'a> {
    host: &'a str,
    token: &'a str,
    ca_fingerprint: &'a str,
    expires_at: &'a str,
}

/// `host add`: the host enrolled, its one-time join token shown once.
pub(crate) fn host_add(
    ops: &mut dyn Operations,
    name: String,
    ips: &[std::net::IpAddr],
    ttl: &str,
    output: crate::commands::Output,
) -> Result<ExitCode, Failure> {
    let span: certherd_core::Span = ttl.parse()?;
    if !(certherd_core::MIN_TOKEN_TTL..=certherd_core::MAX_TOKEN_TTL).contains(&span.duration()) {
        return Err(Failure::usage(format!(
            "--ttl {ttl}: a join token is valid from 1h to 720h (30 days)"
        )));
    }
    let added = ops.host_add(certherd_protocol::admin::HostAddRequest {
        name,
        ips: ips.iter().map(ToString::to_string).collect(),
        token_ttl_hours: None,
        token_ttl_seconds: u32::try_from(span.duration().whole_seconds()).ok(),
    })?;
    if added.metrics_open {
        errln!("warning: the server's /metrics is readable without a credential and lists every host, store and alias; set `[metrics] require_token = true` in certherd.toml (see `certherd server --help`)");
    }
    let fingerprint = crate::render::colon_hex(&added.ca_fingerprint);
    match output {
        crate::commands::Output::Json => crate::render::json(&HostAddedJson {
            host: &added.host.name,
            token: &added.token,
            ca_fingerprint: &added.ca_fingerprint,
            expires_at: &added.token_expires_at,
        }),
        crate::commands::Output::Table => {
            outln!("Host            {}", added.host.name);
            outln!("Token           {}", added.token);
            outln!("CA fingerprint  {fingerprint}");
            outln!("Expires         {}", added.token_expires_at);
            errln!("on the host: certherd agent join --server https://SERVER:PORT --token {} --ca-fingerprint {fingerprint} --hostname {}", added.token, added.host.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn host_list(ops: &mut dyn Operations, o: OutputArg) -> Result<(), Failure> {
    let hosts = ops.host_list()?;
    print_list(&hosts, o.output);
    Ok(())
}

/// `host list --output json`: one host.
#[derive(serde::Serialize)]
struct HostJson<'a> {
    name: &'a str,
    ips: &'a [String],
    joined_at: Option<&'a str>,
    last_seen: Option<&'a str>,
    pool_internal_sha256: Option<&'a str>,
}

/// `host list`.
pub fn print_list(hosts: &[certherd_protocol::HostRow], output: Output) {
    match output {
        Output::Json => json(
            &hosts
                .iter()
                .map(|h| HostJson {
                    name: &h.name,
                    ips: &h.ips,
                    joined_at: h.joined_at.as_deref(),
                    last_seen: h.last_seen.as_deref(),
                    pool_internal_sha256: h.pool_internal_sha256.as_deref(),
                })
                .collect::<Vec<_>>(),
        ),
        Output::Table => table(
            &["HOST", "IPS", "JOINED", "LAST SEEN"],
            &hosts
                .iter()
                .map(|h| {
                    vec![
                        h.name.clone(),
                        h.ips.join(","),
                        h.joined_at.clone().unwrap_or_else(|| "not yet".into()),
                        h.last_seen.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// `host remove`.
pub fn host_removed(r: &api::HostRemoved) {
    outln!(
        "removed host {}: its certificate and pinned identity are forgotten",
        r.host
    );
    for x in &r.revoked {
        outln!(
            "revoked {}  serial {}  reason {}; the CA's CRL lists it",
            x.entry,
            x.serial,
            x.reason
        );
    }
}

/// `host` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Enroll a host: prints its single-use join token and the root CA fingerprint to pin.
    Add {
        /// The host's FQDN (its host certificate's CN and first SAN).
        name: String,
        /// An IP address the host certificate may carry; repeatable.
        #[arg(long = "ip", value_name = "ADDR")]
        ips: Vec<std::net::IpAddr>,
        /// How long the token stays valid: from 1h to 720h (30 days), as through the
        /// admin API.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        ttl: String,
        /// Output format (JSON: `token`, `ca_fingerprint`, `expires_at`).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// List hosts: joined or not, last heard from.
    List(OutputArg),
    /// Give a host a fresh server identity certificate (a new key made on the host) at its
    /// next poll (XenServer's `host-reset-server-certificate`).
    #[command(name = "reset-server-cert")]
    ResetServerCert {
        /// The host's name.
        name: String,
    },
    /// Have a host replace its pool-internal identity at its next poll; the server pins the
    /// new certificate (XenServer's `host-refresh-server-certificate` for the pool side).
    #[command(name = "refresh-pool-cert")]
    RefreshPoolCert {
        /// The host's name.
        name: String,
    },
    /// Forget a host: its certificate and its pinned pool-internal certificate; it can no
    /// longer authenticate.
    Remove {
        /// The host's name.
        name: String,
    },
}

/// `host ...`: every form is an operation.
pub fn operation(ops: &mut dyn Operations, c: HostCmd) -> Ran<HostCmd> {
    Ran::Done(match c {
        HostCmd::Add {
            name,
            ips,
            ttl,
            output,
        } => host_add(ops, name, &ips, &ttl, output),
        HostCmd::List(o) => host_list(ops, o).map(|()| ExitCode::SUCCESS),
        HostCmd::Remove { name } => ops
            .host_remove(&name)
            .map(|r| host_removed(&r))
            .map(|()| ExitCode::SUCCESS)
            .map_err(Failure::from),
        HostCmd::ResetServerCert { name } => ops
            .order(Request::HostResetServerCert { name: name.clone() })
            .map(|_| {
                outln!("ordered: {name} makes a new key and gets a new server certificate at its next poll");
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        HostCmd::RefreshPoolCert { name } => ops
            .order(Request::HostRefreshPoolCert { name: name.clone() })
            .map(|_| {
                outln!("ordered: {name} makes a new pool-internal certificate at its next poll, and the server pins it");
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
    })
}
