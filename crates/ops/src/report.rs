//! `report`: one self-contained HTML page of the inventory, what needs attention, the
//! open alarms and the forecast, assembled from the node and rendered by the authority.

use certherd_authority::report::{ForecastItem, ReportAlarm, ReportData};
use certherd_authority::Node;
use certherd_core::WatchKind;
use certherd_monitor::MonitorExt;
use certherd_protocol::admin as api;
use certherd_store::Store;
use certherd_x509::rfc3339;

use crate::{rows, Error};

/// The report at the node's now, its forecast up to `until` (checked by the caller).
pub(crate) fn report<S: Store>(
    node: &Node<S>,
    forecast: &certherd_core::Forecast,
) -> Result<api::ReportAnswer, Error> {
    let now = node.now();
    let hostname = node.hostname()?;
    let check = node.check(now, node.thresholds())?;
    let rows = certherd_authority::report::rows(node, &hostname, now)?;
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
    let mut alarms = Vec::new();
    for x in node.alarms().alarm_history()? {
        if !x.is_open() {
            continue;
        }
        let detail = node.alarms().alarm_detail(&x)?;
        alarms.push(ReportAlarm {
            severity: x.kind.severity().as_str().to_owned(),
            subject: x.subject.clone(),
            message: format!(
                "alarm {} open since {}{}",
                x.kind.name(),
                rfc3339(x.raised_at),
                detail.map(|d| format!(": {d}")).unwrap_or_default()
            ),
        });
    }
    let data = ReportData {
        title: format!("certherd report: {hostname}"),
        generated_at: now,
        rows,
        attention,
        alarms,
        forecast: forecast
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
        headline: Some(rows::forecast_headline(&rows::forecast_answer(forecast))),
    };
    Ok(api::ReportAnswer {
        html: certherd_authority::report::render(&data),
        certificates: data.rows.len() as u64,
        attention: data.attention.len() as u64,
        alarms: data.alarms.len() as u64,
    })
}
