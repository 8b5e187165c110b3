//! `endpoint ...`: the endpoints certherd watches, their trust and their diagnosis.
use crate::commands::scan::parse_starttls;
use crate::commands::scan::print_watches;
use crate::commands::scan::timeout_ms;
use crate::commands::OutputArg;

use crate::commands::Output;
use crate::render::json;
use crate::Failure;
use certherd_core::ServerAddress;
use certherd_ops::Operations;
use certherd_protocol::admin::FindingRow;
use certherd_protocol::admin::ProbeRequest;
use clap::Subcommand;
use std::process::ExitCode;

/// Every form of `endpoint` is an operation: a server adds, pins, diagnoses and lists the
/// endpoints it watches as a home does, connecting from where it runs.
pub fn operation(ops: &mut dyn Operations, c: EndpointCmd) -> Result<ExitCode, Failure> {
    match c {
        EndpointCmd::List(o) => {
            print_watches(&ops.endpoint_list()?, o.output);
            Ok(ExitCode::SUCCESS)
        }
        EndpointCmd::Remove { name } => {
            outln!("stopped watching {}", ops.endpoint_remove(&name)?.name);
            Ok(ExitCode::SUCCESS)
        }
        EndpointCmd::Add {
            name,
            address,
            server_name,
            verify,
            starttls,
        } => endpoint_add(ops, name, address, server_name, verify, starttls),
        EndpointCmd::Trust {
            name,
            thumbprint,
            timeout: t,
        } => trust(ops, &name, thumbprint, &t),
        EndpointCmd::Diagnose {
            name,
            timeout: t,
            output,
        } => diagnose(ops, &name, &t, output),
    }
}

/// `endpoint add`: the address and protocol checked here, the watch made by the operation.
fn endpoint_add(
    ops: &mut dyn Operations,
    name: String,
    address: String,
    server_name: Option<String>,
    verify: bool,
    starttls: Option<String>,
) -> Result<ExitCode, Failure> {
    let addr: ServerAddress = address.parse()?;
    parse_starttls(&starttls)?;
    let w = ops.endpoint_add(certherd_protocol::admin::EndpointAddRequest {
        name,
        address: addr.to_string(),
        server_name,
        verify,
        starttls,
    })?;
    outln!(
        "watching {} at {}{}{}",
        w.name,
        w.target,
        w.starttls
            .as_deref()
            .map(|p| format!(" (STARTTLS {p})"))
            .unwrap_or_default(),
        if w.verify { " (verified)" } else { "" }
    );
    errln!("next: `certherd scan tls {}` records its certificate; `certherd endpoint diagnose {}` explains a failure", w.target, w.name);
    Ok(ExitCode::SUCCESS)
}

/// `endpoint trust`: pin what the endpoint presents now (after checking the thumbprint).
fn trust(
    ops: &mut dyn Operations,
    name: &str,
    thumbprint: Option<String>,
    t: &str,
) -> Result<ExitCode, Failure> {
    let asked = thumbprint.is_some();
    let pinned = ops.endpoint_trust(
        name,
        ProbeRequest {
            thumbprint,
            timeout_ms: timeout_ms(t)?,
        },
    )?;
    outln!("pinned {name} ({})", pinned.target);
    outln!("  Subject  {}", pinned.subject);
    outln!("  Issuer   {}", pinned.issuer);
    outln!("  Serial   {}", pinned.serial);
    outln!("  Valid    {} to {}", pinned.not_before, pinned.not_after);
    outln!("  SHA-256  {}", crate::render::colon_hex(&pinned.sha256));
    if !asked {
        errln!("check that thumbprint against the appliance's own console; `certherd endpoint trust {name} --thumbprint SHA256` pins only a certificate you checked");
    }
    Ok(ExitCode::SUCCESS)
}

/// `endpoint diagnose`: seed 004's rule (see [`certherd_monitor::scan::diagnose`]),
/// rendered; exit 0 only when a verifying client accepts the endpoint.
fn diagnose(
    ops: &mut dyn Operations,
    name: &str,
    t: &str,
    output: Output,
) -> Result<ExitCode, Failure> {
    let d = ops.endpoint_diagnose(
        name,
        ProbeRequest {
            thumbprint: None,
            timeout_ms: timeout_ms(t)?,
        },
    )?;
    let problem = |f: &&FindingRow| f.severity == "warning" || f.severity == "critical";
    match output {
        Output::Json => json(&d),
        Output::Table => {
            outln!(
                "Endpoint     {name} ({}{})",
                d.target,
                d.starttls
                    .as_deref()
                    .map(|p| format!(", STARTTLS {p}"))
                    .unwrap_or_default()
            );
            outln!("Name         {}", d.name_checked);
            outln!(
                "Verdict      {}",
                match d.verdict.as_str() {
                    "ok" if d.findings.iter().any(|f| problem(&f)) => {
                        "OK: a verifying client accepts this certificate, with the warnings below"
                    }
                    "ok" => "OK: a verifying client accepts this certificate",
                    "network" => "network or credentials problem (no TLS session, even without verification)",
                    "service" => "service configuration problem (the service does not offer TLS)",
                    "server" => "server configuration problem (it offers only TLS 1.0/1.1, which current clients refuse; the network and credentials are not at fault)",
                    "credentials" => "credentials problem (the server requires a client certificate; its own certificate, when shown, is judged below)",
                    _ => "certificate problem (a TLS session opens without verification; with verification it fails)",
                }
            );
            let problems: Vec<&FindingRow> = d.findings.iter().filter(problem).collect();
            if !problems.is_empty() {
                outln!("Findings");
            }
            let line = |f: &FindingRow| {
                outln!(
                    "  {:<9}{:<24} {}",
                    f.severity,
                    f.kind,
                    crate::output::field(&f.message)
                );
            };
            for f in &problems {
                line(f);
                if let Some(h) = &f.hint {
                    outln!("  {:<34}hint: {}", "", crate::output::field(h));
                }
            }
            for f in d.findings.iter().filter(|f| !problem(f)) {
                line(f);
            }
        }
    }
    Ok(if d.verdict == "ok" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `endpoint` subcommands.
#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Watch HOST:PORT under NAME.
    Add {
        /// A name for it (letters, digits, `.`, `_`, `-`).
        name: String,
        /// Where it listens.
        #[arg(long, value_name = "HOST:PORT")]
        address: String,
        /// The name its certificate must cover and the SNI sent [default: the host].
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        /// Its chain must reach a trusted root (or its pin) and cover the name, or it is a
        /// CRITICAL alarm (XenServer's `wlb-verify-cert=true`).
        #[arg(long)]
        verify: bool,
        /// Speak PROTO before TLS: postgres, ldap or smtp [default: by the port: 5432,
        /// 389, 25 and 587].
        #[arg(long, value_name = "PROTO")]
        starttls: Option<String>,
    },
    /// Pin the certificate the endpoint presents now (self-signed appliances).
    ///
    /// As `key-provider server-cert trust` does: an appliance with a self-signed
    /// certificate (a WLB or backup appliance) then verifies while it presents that
    /// certificate; its name is still checked. When the certificate changes, the finding
    /// is `pin-mismatch` with both thumbprints.
    Trust {
        /// Its name.
        name: String,
        /// The SHA-256 thumbprint you checked on the appliance's console (64 hex digits,
        /// colons allowed); a certificate with another thumbprint is refused.
        #[arg(long, value_name = "SHA256")]
        thumbprint: Option<String>,
        /// Connect and handshake timeout.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: String,
    },
    /// List watched endpoints with their last scan.
    List(OutputArg),
    /// Stop watching an endpoint and forget its certificate.
    Remove {
        /// Its name.
        name: String,
    },
    /// Certificate problem or network problem? Every finding, with a hint.
    ///
    /// Seed 004's rule: a TLS session that opens without verification but that a
    /// verifying client refuses is a certificate problem; no session at all is the network
    /// or credentials. Exit 0 only when a verifying client accepts the endpoint.
    Diagnose {
        /// Its name.
        name: String,
        /// Connect and handshake timeout.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}
