//! `forecast` and `report`: what lapses when, what it breaks, and one HTML page of it all.

use std::process::ExitCode;

use certherd_core::{OffsetDateTime, Span, WatchKind};
use certherd_store::{write_atomic, Home};

use crate::args::ReportArgs;
use crate::instant::{parse_at, rfc3339};
use crate::{open_node, Failure, LocalNode};
use certherd_ca::report::{ForecastItem, ReportAlarm, ReportData};

fn until(node: &LocalNode, s: Option<&str>) -> Result<OffsetDateTime, Failure> {
    until_from(node.now(), s)
}

/// The end of a forecast: `--until` from `now` (default twelve years ahead), not in the past.
pub fn until_from(now: OffsetDateTime, s: Option<&str>) -> Result<OffsetDateTime, Failure> {
    let t = match s {
        Some(s) => parse_at(s, now)?,
        // Past the root CA's ten years, so the headline finds the first breakage.
        None => Span::days(365 * 12).after(now),
    };
    if t < now {
        return Err(Failure::usage(format!(
            "--until {} is in the past",
            rfc3339(t)
        )));
    }
    Ok(t)
}

/// `report --html FILE`.
pub fn report(home: &Home, a: ReportArgs) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    // The alarms as `certherd alarms` shows them: evaluated now, then every open one, so
    // the report and `alarms` never count differently.
    crate::report_cmd::evaluate_and_notify(&mut node)?;
    let now = node.now();
    let until = until(&node, a.until.as_deref())?;
    let hostname = node.hostname()?;
    let f = node.forecast(until)?;
    let check = node.check(now, node.thresholds())?;
    let rows = certherd_ca::report::rows(&node, &hostname, now)?;
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
    let alarms: Vec<ReportAlarm> = crate::report_cmd::alarms_with_detail(&node, false)?
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
        headline: Some(crate::views::headline(
            &certherd_ops::rows::forecast_answer(&f),
        )),
    };
    let html = certherd_ca::report::render(&data);
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
