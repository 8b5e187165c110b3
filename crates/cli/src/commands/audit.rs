//! `audit`: the append-only log, filtered, an operation on a home or a server.

use crate::commands::Output;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use clap::Args;
use std::process::ExitCode;

/// `audit`: the records that pass the filters, oldest first.
pub(crate) fn audit(ops: &mut dyn Operations, a: AuditArgs) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let now = certherd_authority::SystemClock.now();
    let time = |flag: &str, t: &Option<String>| {
        t.as_deref()
            .map(|s| {
                crate::instant::parse_at(s, now).map_err(|f| Failure {
                    message: format!("{flag}: {}", f.message),
                    ..f
                })
            })
            .transpose()
    };
    let filter = certherd_ops::AuditFilter {
        action: a.action,
        subject: a.subject,
        since: time("--since", &a.since)?,
        until: time("--until", &a.until)?,
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s >= u {
            return Err(Failure::usage("--since must be before --until"));
        }
    }
    let rows = ops.audit_all(filter)?;
    print(&rows, a.output);
    Ok(ExitCode::SUCCESS)
}

/// `audit`.
pub fn print(rows: &[api::AuditRow], output: Output) {
    match output {
        Output::Json => json(rows),
        Output::Table => table(
            &["AT", "ACTION", "SUBJECT", "DETAIL"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.at.clone(),
                        r.action.clone(),
                        r.subject.clone(),
                        r.detail.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// `audit` arguments.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records of this action (issue, renew, import, host-add, admin-api...), exactly.
    #[arg(long)]
    pub action: Option<String>,
    /// Only records whose subject contains this text (any case).
    #[arg(long)]
    pub subject: Option<String>,
    /// Only records written at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records written before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}
