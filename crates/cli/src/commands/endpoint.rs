//! `endpoint ...`: the endpoints certherd watches, their trust and their diagnosis.
use crate::commands::scan::parse_starttls;
use crate::commands::scan::print_watches;
use crate::commands::scan::timeout;
use crate::commands::OutputArg;
use certherd_monitor::MonitorExt;

use crate::commands::Output;
use crate::commands::Ran;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::Failure;
use crate::LocalNode;
use certherd_core::Finding;
use certherd_core::ServerAddress;
use certherd_monitor::probe::starttls_for;
use certherd_monitor::scan::Diagnosis;
use certherd_monitor::scan::ScanError;
use certherd_monitor::scan::Verdict;
use certherd_ops::Operations;
use certherd_tls::StartTls;
use clap::Subcommand;
use std::process::ExitCode;
use std::time::Duration;

/// `endpoint list` and `endpoint remove` are operations; adding, trusting and diagnosing
/// reach the endpoint from the home.
pub fn operation(ops: &mut dyn Operations, c: EndpointCmd) -> Ran<EndpointCmd> {
    Ran::Done(
        match c {
            EndpointCmd::List(o) => ops.endpoint_list().map(|rows| {
                print_watches(&rows, o.output);
                ExitCode::SUCCESS
            }),
            EndpointCmd::Remove { name } => ops.endpoint_remove(&name).map(|r| {
                outln!("stopped watching {}", r.name);
                ExitCode::SUCCESS
            }),
            other => return Ran::NotAnOperation(other),
        }
        .map_err(Failure::from),
    )
}

/// Runs an `endpoint` subcommand.
pub fn run(home: &certherd_store::Home, c: EndpointCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        EndpointCmd::Add {
            name,
            address,
            server_name,
            verify,
            starttls,
        } => {
            let addr: ServerAddress = address.parse()?;
            let proto = starttls_for(&addr.to_string(), parse_starttls(&starttls)?);
            let w = node.watches_mut().endpoint_add(
                &name,
                &addr,
                server_name.as_deref(),
                verify,
                proto.map(StartTls::as_str),
            )?;
            outln!(
                "watching {} at {}{}{}",
                w.name,
                w.target,
                w.starttls
                    .as_deref()
                    .map(|p| format!(" (STARTTLS {p})"))
                    .unwrap_or_default(),
                if verify { " (verified)" } else { "" }
            );
            errln!("next: `certherd scan tls {}` records its certificate; `certherd endpoint diagnose {}` explains a failure", w.target, w.name);
        }
        EndpointCmd::Trust {
            name,
            thumbprint,
            timeout: t,
        } => return trust(&mut node, &name, thumbprint.as_deref(), timeout(&t)?),
        EndpointCmd::Diagnose {
            name,
            timeout: t,
            output,
        } => return diagnose(&mut node, &name, timeout(&t)?, output),
        other => return Err(crate::not_carried_out(&other)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `endpoint trust`: pin what the endpoint presents now (after checking the thumbprint).
pub(crate) fn trust(
    node: &mut LocalNode,
    name: &str,
    thumbprint: Option<&str>,
    t: Duration,
) -> Result<ExitCode, Failure> {
    let trusted =
        certherd_monitor::scan::trust(node, name, thumbprint, t).map_err(|e| match e {
            ScanError::Node(e) => Failure::from(e),
            ScanError::Transport {
                name,
                target,
                finding,
            } => Failure {
                message: format!("{name} ({target}): {}", finding.message),
                hint: finding.hint,
                code: None,
                note: None,
            },
            e => Failure::msg(e.to_string()),
        })?;
    let info = certherd_x509::CertInfo::from_der(&trusted.leaf)?;
    outln!("pinned {name} ({})", trusted.watch.target);
    outln!("  Subject  {}", info.subject);
    outln!("  Issuer   {}", info.issuer);
    outln!("  Serial   {}", info.serial);
    outln!(
        "  Valid    {} to {}",
        rfc3339(info.not_before),
        rfc3339(info.not_after)
    );
    outln!("  SHA-256  {}", crate::render::colon_hex(&info.sha256));
    if thumbprint.is_none() {
        errln!("check that thumbprint against the appliance's own console; `certherd endpoint trust {name} --thumbprint SHA256` pins only a certificate you checked");
    }
    Ok(ExitCode::SUCCESS)
}

/// `endpoint diagnose`: seed 004's rule (see [`certherd_monitor::scan::diagnose`]),
/// rendered.
fn diagnose(
    node: &mut LocalNode,
    name: &str,
    t: Duration,
    output: Output,
) -> Result<ExitCode, Failure> {
    let Diagnosis {
        watch: w,
        check_name,
        starttls,
        verdict,
        findings,
        facts,
    } = certherd_monitor::scan::diagnose(node, name, t)?;
    match output {
        Output::Json => json(&DiagnosisJson {
            endpoint: name,
            target: &w.target,
            starttls: starttls.map(StartTls::as_str),
            name_checked: &check_name,
            verdict: verdict.as_str(),
            finding: certherd_inspect::summary(&findings),
            findings: findings
                .iter()
                .map(certherd_ops::rows::finding_row)
                .collect(),
            facts: &facts,
        }),
        Output::Table => {
            outln!(
                "Endpoint     {name} ({}{})",
                w.target,
                starttls
                    .map(|p| format!(", STARTTLS {p}"))
                    .unwrap_or_default()
            );
            outln!("Name         {check_name}");
            outln!(
                "Verdict      {}",
                match verdict {
                    Verdict::Ok if findings.iter().any(Finding::is_problem) => {
                        "OK: a verifying client accepts this certificate, with the warnings below"
                    }
                    Verdict::Ok => "OK: a verifying client accepts this certificate",
                    Verdict::Network => "network or credentials problem (no TLS session, even without verification)",
                    Verdict::Service => "service configuration problem (the service does not offer TLS)",
                    Verdict::Server => "server configuration problem (it offers only TLS 1.0/1.1, which current clients refuse; the network and credentials are not at fault)",
                    Verdict::Credentials => "credentials problem (the server requires a client certificate; its own certificate, when shown, is judged below)",
                    _ => "certificate problem (a TLS session opens without verification; with verification it fails)",
                }
            );
            let problems: Vec<&Finding> = findings.iter().filter(|f| f.is_problem()).collect();
            if !problems.is_empty() {
                outln!("Findings");
            }
            for f in &problems {
                outln!(
                    "  {:<9}{:<24} {}",
                    f.severity.as_str(),
                    f.kind.as_str(),
                    crate::output::field(&f.message)
                );
                if let Some(h) = &f.hint {
                    outln!("  {:<34}hint: {}", "", crate::output::field(h));
                }
            }
            for f in findings.iter().filter(|f| !f.is_problem()) {
                outln!(
                    "  {:<9}{:<24} {}",
                    f.severity.as_str(),
                    f.kind.as_str(),
                    crate::output::field(&f.message)
                );
            }
        }
    }
    Ok(if verdict == Verdict::Ok {
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

/// `endpoint diagnose --output json`.
#[derive(serde::Serialize)]
struct DiagnosisJson<'a> {
    endpoint: &'a str,
    target: &'a str,
    starttls: Option<&'a str>,
    name_checked: &'a str,
    verdict: &'a str,
    finding: String,
    findings: Vec<certherd_protocol::admin::FindingRow>,
    facts: &'a certherd_inspect::Facts,
}
