//! `check`: the monitoring plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
use crate::commands::status::mode_json;

use crate::commands::Output;
use crate::instant::parse_at;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::Failure;
use certherd_store::Home;
use clap::Args;
use serde_json::json;
use std::process::ExitCode;

/// `check`: a monitoring plugin, so it always prints one status line on stdout, even when
/// it cannot run (`CERTHERD UNKNOWN - <the error>`, exit 3; in JSON `"status": "UNKNOWN"`
/// and `"error"`). The error and its hint also go to stderr, as for every command.
pub fn run(home: &Home, a: CheckArgs) -> Result<ExitCode, Failure> {
    let output = a.output;
    check_inner(home, a).inspect_err(|f| unknown(output, &f.message, f.hint.as_deref()))
}

/// Prints the UNKNOWN status of a `check` that could not run, on stdout.
pub fn unknown(output: Output, error: &str, hint: Option<&str>) {
    match output {
        Output::Json => json(&json!({
            "status": "UNKNOWN",
            "exit_code": 3,
            "error": error,
            "hint": hint,
        })),
        Output::Table => outln!("CERTHERD UNKNOWN - {}", crate::output::escape(error)),
    }
}

fn check_inner(home: &Home, a: CheckArgs) -> Result<ExitCode, Failure> {
    let node = open_node(home)?;
    let t = crate::instant::thresholds(a.warn.as_deref(), a.crit.as_deref(), node.thresholds())?;
    let at = match &a.at {
        Some(s) => parse_at(s, node.now())?,
        None => node.now(),
    };
    let c = node.check(at, t)?;
    // A home others can read or write is a warning: the fix is one chmod.
    let home_problems = home.mode_problems().map_err(certherd_ca::Error::from)?;
    let sev = if home_problems.is_empty() {
        c.severity()
    } else {
        c.severity().max(certherd_core::Severity::Warning)
    };
    match a.output {
        Output::Json => json(&json!({
            "status": sev.as_str(),
            "exit_code": sev.exit_code(),
            "at": rfc3339(at),
            "warn": t.warn.to_string(),
            "crit": t.crit.to_string(),
            "examined": c.examined,
            "home_problems": mode_json(&home_problems),
            "findings": c.findings.iter().map(|f| json!({
                "store": f.meta.entry.store.as_str(),
                "alias": f.meta.entry.alias.as_str(),
                "profile": f.meta.profile,
                "subject": f.meta.subject,
                "not_before": rfc3339(f.meta.not_before),
                "not_after": rfc3339(f.meta.not_after),
                "days_left": f.days_left,
                "status": f.status.as_str(),
                "severity": f.status.severity().as_str(),
            })).collect::<Vec<_>>(),
            "watch_problems": c.watch_problems.iter().map(|w| json!({
                "kind": w.kind.as_str(),
                "name": w.name,
                "target": w.target,
                "finding": certherd_inspect::summary(&w.findings),
                "findings": w.findings.iter().filter(|f| f.is_problem()).map(|f| json!({
                    "kind": f.kind.as_str(), "severity": f.severity.as_str(), "message": f.message, "hint": f.hint,
                })).collect::<Vec<_>>(),
                "severity": w.severity().as_str(),
            })).collect::<Vec<_>>(),
            "open_alarms": c.open_alarms.iter().map(|a| json!({
                "kind": a.kind.name(),
                "subject": a.subject,
                "raised_at": rfc3339(a.raised_at),
                "severity": a.kind.severity().as_str(),
            })).collect::<Vec<_>>(),
        })),
        Output::Table => {
            let problems = c.findings.len()
                + c.watch_problems
                    .iter()
                    .map(|w| w.findings.iter().filter(|f| f.is_problem()).count())
                    .sum::<usize>()
                + c.open_alarms.len()
                + home_problems.len();
            outln!(
                "CERTHERD {} - {} certificates checked at {}, {} problem{}",
                sev.as_str(),
                c.examined,
                rfc3339(at),
                problems,
                if problems == 1 { "" } else { "s" }
            );
            for f in &c.findings {
                // Before notBefore it is "not yet valid (valid from ...)", not "expires in";
                // a revoked one says so, whatever its dates.
                let when = if f.status == certherd_core::Status::Revoked {
                    "revoked, listed on a CRL this home holds".to_owned()
                } else {
                    certherd_inspect::wording::validity(f.meta.not_before, f.meta.not_after, at)
                };
                outln!(
                    "{}: {} {} ({}), not after {}",
                    f.status.severity().as_str(),
                    f.meta.entry,
                    when,
                    crate::output::field(&f.meta.subject),
                    rfc3339(f.meta.not_after)
                );
            }
            for w in &c.watch_problems {
                for f in w.findings.iter().filter(|f| f.is_problem()) {
                    outln!(
                        "{}: {} {} ({}): {}: {}",
                        match f.severity {
                            certherd_inspect::Severity::Critical => "CRITICAL",
                            _ => "WARNING",
                        },
                        w.kind.as_str(),
                        crate::output::field(&w.name),
                        crate::output::field(&w.target),
                        f.kind,
                        crate::output::field(&f.message)
                    );
                }
            }
            for a in &c.open_alarms {
                outln!(
                    "{}: alarm {} on {}, open since {}",
                    a.kind.severity().as_str(),
                    a.kind.name(),
                    crate::output::field(&a.subject),
                    rfc3339(a.raised_at)
                );
            }
            for p in &home_problems {
                outln!("WARNING: home: {p}");
            }
        }
    }
    Ok(ExitCode::from(sev.exit_code()))
}

/// `check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// WARNING when a certificate expires within this span [default: certherd.toml, else 30d].
    #[arg(long, value_name = "DURATION")]
    pub warn: Option<String>,
    /// CRITICAL when a certificate expires within this span [default: certherd.toml, else 7d].
    #[arg(long, value_name = "DURATION")]
    pub crit: Option<String>,
    /// Evaluate at this instant: RFC 3339, YYYY-MM-DD, or ±DURATION (e.g. +2y, -1y).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}
