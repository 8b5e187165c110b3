//! `report`: one self-contained HTML page of the inventory, alarms and forecast.
use crate::commands::forecast::until;

use crate::instant::rfc3339;
use crate::open_node;
use crate::Failure;
use certherd_authority::report::ForecastItem;
use certherd_authority::report::ReportAlarm;
use certherd_authority::report::ReportData;
use certherd_core::WatchKind;
use certherd_store::write_atomic;
use certherd_store::Home;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `report --html FILE`.
pub fn run(home: &Home, a: ReportArgs) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    // The alarms as `certherd alarms` shows them: evaluated now, then every open one, so
    // the report and `alarms` never count differently.
    crate::commands::alarms::evaluate_and_notify(&mut node)?;
    let now = node.now();
    let until = until(&node, a.until.as_deref())?;
    let hostname = node.hostname()?;
    let f = node.forecast(until)?;
    let check = node.check(now, node.thresholds())?;
    let rows = certherd_authority::report::rows(&node, &hostname, now)?;
    let mut attention: Vec<ReportAlarm> = check
        .findings
        .iter()
        .map(|x| ReportAlarm {
            severity: x.status.severity().as_str().to_owned(),
            subject: x.meta.entry.to_string(),
            message: format!(
                "{}: {}, not after {}",
                x.status.as_str(),
                certherd_inspect::wording::expiry(x.meta.not_after, now),
                rfc3339(x.meta.not_after)
            ),
        })
        .collect();
    attention.extend(check.watch_problems.iter().filter_map(|w| {
        w.worst_finding().map(|p| ReportAlarm {
            severity: w.severity().as_str().to_owned(),
            subject: format!(
                "{} {}",
                if w.kind == WatchKind::Endpoint {
                    "endpoint"
                } else {
                    "file"
                },
                w.name
            ),
            message: format!("{}: {}", certherd_inspect::summary(&w.findings), p.message),
        })
    }));
    let alarms: Vec<ReportAlarm> = crate::commands::alarms::alarms_with_detail(&node, false)?
        .into_iter()
        .map(|(x, detail)| ReportAlarm {
            severity: x.kind.severity().as_str().to_owned(),
            subject: x.subject.clone(),
            message: format!(
                "alarm {} open since {}{}",
                x.kind.name(),
                rfc3339(x.raised_at),
                detail.map(|d| format!(": {d}")).unwrap_or_default()
            ),
        })
        .collect();
    let data = ReportData {
        title: format!("certherd report: {hostname}"),
        generated_at: now,
        rows,
        attention,
        alarms,
        forecast: f
            .items
            .iter()
            .map(|i| ForecastItem {
                date: i.not_after,
                entry: i.entry.to_string(),
                impact: i.impact.clone(),
                affected: i.affected.clone(),
                auto_renew: i.covered,
            })
            .collect(),
        headline: Some(crate::commands::forecast::headline(
            &certherd_ops::rows::forecast_answer(&f),
        )),
    };
    let html = certherd_authority::report::render(&data);
    write_atomic(&a.html, html.as_bytes(), 0o644).map_err(|e| Failure::file(&a.html, e))?;
    outln!(
        "wrote {} ({} certificates, {} needing attention, {} open alarms)",
        a.html.display(),
        data.rows.len(),
        data.attention.len(),
        data.alarms.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the HTML report to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// Forecast period: RFC 3339, YYYY-MM-DD, or +DURATION [default: +12y].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}
