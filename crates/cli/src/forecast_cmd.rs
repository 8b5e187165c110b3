//! `forecast` and `report`: what lapses when, what it breaks, and one HTML page of it all.

use std::process::ExitCode;

use certherd_core::{Forecast, OffsetDateTime, Span, WatchKind};
use certherd_store::{write_atomic, Home};
use serde_json::json;

use crate::args::{ForecastArgs, Output, ReportArgs};
use crate::instant::{parse_at, rfc3339, short};
use crate::render::{json, table};
use crate::{open_node, Failure, LocalNode};
use certherd_ca::report::{ForecastItem, ReportAlarm, ReportData};

fn until(node: &LocalNode, s: Option<&str>) -> Result<OffsetDateTime, Failure> {
    let now = node.now();
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

fn headline(f: &Forecast) -> String {
    match f.first_unattended() {
        Some(i) => format!(
            "{}: {} lapses and nothing renews it: {}",
            short(i.not_after),
            i.entry,
            i.impact
        ),
        None => format!("nothing breaks unattended until {}", short(f.until)),
    }
}

/// `forecast`.
pub fn forecast(home: &Home, a: ForecastArgs) -> Result<ExitCode, Failure> {
    let node = open_node(home)?;
    let until = until(&node, a.until.as_deref())?;
    let f = node.forecast(until)?;
    match a.output {
        Output::Json => json(&json!({
            "from": rfc3339(f.from),
            "until": rfc3339(f.until),
            "first_unattended": f.first_unattended().map(|i| json!({"date": rfc3339(i.not_after), "entry": i.entry.to_string(), "impact": i.impact})),
            "items": f.items.iter().map(|i| json!({
                "date": rfc3339(i.not_after),
                "store": i.entry.store.as_str(),
                "alias": i.entry.alias.as_str(),
                "subject": i.subject,
                "impact": i.impact,
                "affected": i.affected,
                "covered_by_renewal": i.covered,
                "already_expired": i.already_expired,
            })).collect::<Vec<_>>(),
        })),
        Output::Table => {
            outln!("{}", headline(&f));
            outln!();
            table(
                &["DATE", "ENTRY", "RENEWED", "AFFECTED", "IMPACT"],
                &f.items
                    .iter()
                    .map(|i| {
                        vec![
                            short(i.not_after),
                            i.entry.to_string(),
                            if i.already_expired {
                                "EXPIRED".into()
                            } else if i.covered {
                                "yes".into()
                            } else {
                                "NO".into()
                            },
                            if i.affected.is_empty() {
                                "-".into()
                            } else {
                                i.affected.join(", ")
                            },
                            i.impact.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `report --html FILE`.
pub fn report(home: &Home, a: ReportArgs) -> Result<ExitCode, Failure> {
    let node = open_node(home)?;
    let now = node.now();
    let until = until(&node, a.until.as_deref())?;
    let hostname = node.hostname()?;
    let f = node.forecast(until)?;
    let check = node.check(now, node.thresholds())?;
    let rows = certherd_ca::report::rows(&node, &hostname, now)?;
    let mut alarms: Vec<ReportAlarm> = check
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
    alarms.extend(check.watch_problems.iter().filter_map(|w| {
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
    alarms.extend(check.open_alarms.iter().map(|a| ReportAlarm {
        severity: a.kind.severity().as_str().to_owned(),
        subject: a.subject.clone(),
        message: format!(
            "alarm {} open since {}",
            a.kind.name(),
            rfc3339(a.raised_at)
        ),
    }));
    let data = ReportData {
        title: format!("certherd report: {hostname}"),
        generated_at: now,
        rows,
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
        headline: Some(headline(&f)),
    };
    let html = certherd_ca::report::render(&data);
    write_atomic(&a.html, html.as_bytes(), 0o644).map_err(|e| Failure::file(&a.html, e))?;
    outln!(
        "wrote {} ({} certificates, {} open alarms)",
        a.html.display(),
        data.rows.len(),
        data.alarms.len()
    );
    Ok(ExitCode::SUCCESS)
}
