//! `alarms`: the inventory evaluated now, the alarms reconciled and listed, with the
//! notifications they queue.

use crate::commands::Output;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_ops::Operations;
use certherd_protocol::AlarmRow;
use clap::Args;
use std::process::ExitCode;

/// `alarms`: the open alarms (every one with `--all`) and the notifications not delivered
/// yet. An operation; on a home the inventory is evaluated first
/// ([`crate::local::HomeOps::evaluate_alarms`]), as the server's loop does on its timer.
pub fn operation(ops: &mut dyn Operations, a: AlarmsArgs) -> Result<ExitCode, Failure> {
    let shown = ops.alarms(a.all)?;
    let undelivered = undelivered_line(&ops.notifications()?);
    print(&shown, a.output);
    if let Some(line) = undelivered {
        match a.output {
            // JSON stays the list of alarms.
            Output::Json => errln!("warning: {line}"),
            Output::Table => outln!("\n{line}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Evaluates alarms now (each change and its webhook notifications recorded together),
/// then delivers the notifications due, waiting for retries (see
/// [`certherd_monitor::lifecycle::deliver`]): the server's lifecycle loop, run once.
pub fn evaluate_and_notify(node: &mut crate::LocalNode) -> Result<(), Failure> {
    certherd_monitor::lifecycle::evaluate_and_notify(
        node,
        &certherd_monitor::lifecycle::HttpDelivery,
        Some(&std::thread::sleep),
        &mut |e| errln!("{e}"),
    )?;
    Ok(())
}

/// "N notifications undelivered, last error ...", when some are.
pub fn undelivered_line(o: &certherd_protocol::admin::NotificationsRow) -> Option<String> {
    if o.undelivered == 0 {
        return None;
    }
    let plural = if o.undelivered == 1 { "" } else { "s" };
    Some(match &o.last_error {
        Some(e) => format!(
            "{} webhook notification{plural} undelivered, last error: {e}",
            o.undelivered
        ),
        None => format!("{} webhook notification{plural} undelivered", o.undelivered),
    })
}

/// `alarms`.
pub fn print(rows: &[AlarmRow], output: Output) {
    match output {
        Output::Json => json(rows),
        Output::Table => {
            table(
                &["KIND", "SUBJECT", "RAISED", "CLEARED"],
                &rows
                    .iter()
                    .map(|x| {
                        vec![
                            x.kind.clone(),
                            x.subject.clone(),
                            x.raised_at.clone(),
                            x.cleared_at.clone().unwrap_or_else(|| "open".into()),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            // Long and one per alarm at most: below the table, not in a column.
            for x in rows {
                if let Some(d) = &x.detail {
                    outln!(
                        "{} {}: {}",
                        x.kind,
                        crate::output::field(&x.subject),
                        crate::output::field(d)
                    );
                }
            }
        }
    }
}

/// `alarms` arguments.
#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// Show cleared alarms too (the history), not only open ones.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}
