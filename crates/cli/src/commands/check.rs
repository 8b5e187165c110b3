//! `check`: the monitoring plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
use crate::render::time_of;
use certherd_core::Span;
use certherd_ops::Operations;
use certherd_protocol::admin as api;

use crate::commands::Output;
use crate::instant::parse_at;
use crate::render::json;
use crate::Failure;
use clap::Args;
use std::process::ExitCode;

/// `check`: a monitoring plugin, so it always prints one status line on stdout, even when
/// it cannot run (`CERTHERD UNKNOWN - <the error>`, exit 3; in JSON `"status": "UNKNOWN"`
/// and `"error"`). The error and its hint also go to stderr, as for every command. An
/// operation: on the home, or against `--server` (the server's inventory and home).
pub fn operation(ops: &mut dyn Operations, a: CheckArgs) -> Result<ExitCode, Failure> {
    let output = a.output;
    checked(ops, a).inspect_err(|f| unknown(output, &f.message, f.hint.as_deref()))
}

/// Prints the UNKNOWN status of a `check` that could not run, on stdout.
pub fn unknown(output: Output, error: &str, hint: Option<&str>) {
    #[derive(serde::Serialize)]
    struct Unknown<'a> {
        status: &'static str,
        exit_code: u8,
        error: &'a str,
        hint: Option<&'a str>,
    }
    match output {
        Output::Json => json(&Unknown {
            status: "UNKNOWN",
            exit_code: 3,
            error,
            hint,
        }),
        Output::Table => outln!("CERTHERD UNKNOWN - {}", crate::output::escape(error)),
    }
}

fn checked(ops: &mut dyn Operations, a: CheckArgs) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let span = |s: Option<&str>| s.map(str::parse::<Span>).transpose();
    let (warn, crit) = (span(a.warn.as_deref())?, span(a.crit.as_deref())?);
    let at =
        a.at.as_deref()
            .map(|s| parse_at(s, certherd_authority::SystemClock.now()))
            .transpose()?;
    let c = ops.check(at, warn, crit)?;
    print(&c, a.output);
    Ok(ExitCode::from(c.exit_code))
}

/// The check's view: its JSON, or the plugin's status line and one line per problem.
fn print(c: &api::CheckAnswer, output: Output) {
    if output == Output::Json {
        return json(c);
    }
    let problems = c.findings.len()
        + c.watch_problems
            .iter()
            .map(|w| w.findings.len())
            .sum::<usize>()
        + c.open_alarms.len()
        + c.home_problems.len();
    outln!(
        "CERTHERD {} - {} certificates checked at {}, {} problem{}",
        c.status,
        c.examined,
        c.at,
        problems,
        if problems == 1 { "" } else { "s" }
    );
    let at = time_of(&c.at);
    for f in &c.findings {
        // Before notBefore it is "not yet valid (valid from ...)", not "expires in"; a
        // revoked one says so, whatever its dates.
        let when = match (time_of(&f.not_before), time_of(&f.not_after), at) {
            _ if f.status == certherd_core::Status::Revoked.as_str() => {
                "revoked, listed on a CRL this home holds".to_owned()
            }
            (Some(from), Some(until), Some(at)) => {
                certherd_inspect::wording::validity(from, until, at)
            }
            _ => f.status.clone(),
        };
        outln!(
            "{}: {}/{} {} ({}), not after {}",
            f.severity,
            f.store,
            f.alias,
            when,
            crate::output::field(&f.subject),
            f.not_after
        );
    }
    for w in &c.watch_problems {
        for f in &w.findings {
            outln!(
                "{}: {} {} ({}): {}: {}",
                if f.severity == certherd_inspect::Severity::Critical.as_str() {
                    "CRITICAL"
                } else {
                    "WARNING"
                },
                w.kind,
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
            a.severity,
            a.kind,
            crate::output::field(&a.subject),
            a.raised_at
        );
    }
    for p in &c.home_problems {
        outln!("WARNING: home: {}", p.message);
    }
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
