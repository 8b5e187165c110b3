//! `alarms`: the inventory evaluated now, the alarms reconciled and listed, with the
//! notifications they queue.
use certherd_monitor::MonitorExt;

use crate::commands::Output;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_protocol::AlarmRow;
use certherd_store::Home;
use clap::Args;
use std::process::ExitCode;

/// `alarms`: evaluate now, record what changed, print open alarms (or all with `--all`).
pub fn run(home: &Home, a: AlarmsArgs) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    evaluate_and_notify(&mut node)?;
    let undelivered = outbox_line(&node)?;
    let shown: Vec<_> = alarms_with_detail(&node, a.all)?
        .iter()
        .map(|(x, detail)| certherd_ops::rows::alarm_row(x, detail.clone()))
        .collect();
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

/// The alarms `certherd alarms` lists, each with its detail: the open ones, or every one
/// with `all`. The HTML report lists the same open ones.
pub fn alarms_with_detail(
    node: &crate::LocalNode,
    all: bool,
) -> Result<Vec<(certherd_core::Alarm, Option<String>)>, Failure> {
    let mut out = Vec::new();
    for x in node.alarms().alarm_history()? {
        if all || x.is_open() {
            let detail = node.alarms().alarm_detail(&x)?;
            out.push((x, detail));
        }
    }
    Ok(out)
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

/// "N notifications undelivered, last error ...", when the outbox is not empty.
pub fn outbox_line(node: &crate::LocalNode) -> Result<Option<String>, Failure> {
    let o = node.alarms().outbox_summary()?;
    Ok(undelivered_line(
        &certherd_protocol::admin::NotificationsRow {
            undelivered: u64::try_from(o.undelivered).unwrap_or(u64::MAX),
            last_error: o.last_error,
        },
    ))
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
