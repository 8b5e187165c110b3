//! `status`, `check`, `store list`, `profile list`, `audit`.

use std::process::ExitCode;

use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_store::Home;
use serde_json::json;

use crate::args::{CheckArgs, Output, OutputArg, ProfileCmd, StoreCmd};
use crate::instant::{parse_at, rfc3339, short};
use crate::render::{colon_hex, entry_json, json, table};
use crate::{open_node, Failure};

pub fn store(home: &Home, c: StoreCmd) -> Result<ExitCode, Failure> {
    let StoreCmd::List(a) = c;
    let node = open_node(home)?;
    let stores = node.stores()?;
    match a.output {
        Output::Json => json(&json!(stores.iter().map(|s| json!({"name": s.name.as_str(), "entries": s.entries, "created_at": rfc3339(s.created_at)})).collect::<Vec<_>>())),
        Output::Table => table(&["STORE", "ENTRIES"], &stores.iter().map(|s| vec![s.name.to_string(), s.entries.to_string()]).collect::<Vec<_>>()),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(home: &Home, a: OutputArg) -> Result<ExitCode, Failure> {
    let node = open_node(home)?;
    let s = node.status()?;
    let key = home.master_key_location();
    let problems = home.mode_problems().map_err(certherd_ca::Error::from)?;
    let agent = if node.agent().is_agent()? {
        Some(node.agent().agent_summary()?)
    } else {
        None
    };
    let outbox = node.alarms().outbox_summary()?;
    match a.output {
        Output::Json => json(&json!({
            "notifications": {"undelivered": outbox.undelivered, "last_error": outbox.last_error},
            "agent": agent.as_ref().map(|g| json!({
                "server": g.server,
                "last_poll": g.last_poll.map(rfc3339),
                "last_error": g.last_error.as_ref().map(|(at, m)| json!({"at": rfc3339(*at), "message": m})),
                "host_certificate_not_after": g.host_not_after.map(rfc3339),
                "verification": g.verification,
            })),
            "master_key": {"path": key.path.display().to_string(), "source": key.source.as_str()},
            "database": node.store().location(),
            "mode_warnings": mode_json(&problems),
            "hostname": s.hostname,
            "mode": s.ca.mode,
            "ca": s.ca.info.as_ref().map(|i| json!({"entry": s.ca.entry.as_ref().map(ToString::to_string), "subject": i.subject, "not_after": rfc3339(i.not_after), "sha256": i.sha256})),
            "total": s.total,
            "counts": s.counts,
            "next_expiry": s.next_expiry.as_ref().map(entry_json),
            "next_renewal": s.next_renewal.as_ref().map(entry_json),
        })),
        Output::Table => {
            outln!("Node            {}", s.hostname);
            let now = node.now();
            match (&agent, &s.ca.info) {
                (Some(g), _) => {
                    match &g.server {
                        Some(url) => outln!(
                            "Agent of        {url} (verification {})",
                            if g.verification { "on" } else { "OFF" }
                        ),
                        None => outln!("Agent of        no server: it removed this host; join again with `certherd agent join`"),
                    }
                    match g.last_poll {
                        Some(t) => outln!(
                            "Last poll       {} ({} ago)",
                            rfc3339(t),
                            certherd_inspect::wording::duration(now - t)
                        ),
                        None => outln!("Last poll       never: start `certherd agent run`"),
                    }
                    if let Some((at, m)) = &g.last_error {
                        outln!("Last error      {}: {m}", rfc3339(*at));
                    }
                    match g.host_not_after {
                        Some(t) => outln!(
                            "Host cert       {} until {} ({})",
                            certherd_fleet::AGENT_HOST_ENTRY,
                            short(t),
                            certherd_inspect::wording::expiry(t, now)
                        ),
                        None => outln!("Host cert       none"),
                    }
                }
                (None, Some(i)) => outln!(
                    "CA              {} (mode {}), expires {}, SHA-256 {}",
                    i.subject,
                    s.ca.mode,
                    short(i.not_after),
                    colon_hex(&i.sha256)
                ),
                (None, None) => outln!(
                    "CA              not ready (mode {}): waiting for `certherd ca import-signed`",
                    s.ca.mode
                ),
            }
            let counts = s
                .counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            outln!(
                "Entries         {} ({})",
                s.total,
                if counts.is_empty() {
                    "none".into()
                } else {
                    counts
                }
            );
            if let Some(v) = &s.next_expiry {
                outln!(
                    "Next expiry     {} on {} ({})",
                    v.meta.entry,
                    short(v.meta.not_after),
                    certherd_inspect::wording::expiry(v.meta.not_after, node.now())
                );
            }
            if let Some(v) = &s.next_renewal {
                if let Some(t) = v.renew_after {
                    outln!("Next renewal    {} due from {}", v.meta.entry, short(t));
                }
            }
            outln!(
                "Master key      {} ({})",
                key.path.display(),
                key.source.as_str()
            );
            outln!("Database        {}", node.store().location());
            if let Some(line) = outbox_line(&node)? {
                outln!("Notifications   {line}");
            }
            for p in &problems {
                outln!("Warning         {p}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The home's files that group or others may read or write, for JSON.
fn mode_json(problems: &[certherd_store::ModeProblem]) -> serde_json::Value {
    json!(problems
        .iter()
        .map(|p| json!({"path": p.path.display().to_string(), "mode": format!("{:04o}", p.mode), "fix": p.fix()}))
        .collect::<Vec<_>>())
}

/// `check`: a monitoring plugin, so it always prints one status line on stdout, even when
/// it cannot run (`CERTHERD UNKNOWN - <the error>`, exit 3; in JSON `"status": "UNKNOWN"`
/// and `"error"`). The error and its hint also go to stderr, as for every command.
pub fn check(home: &Home, a: CheckArgs) -> Result<ExitCode, Failure> {
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

pub fn profile(home: &Home, c: ProfileCmd) -> Result<ExitCode, Failure> {
    let ProfileCmd::List(a) = c;
    let node = open_node(home)?;
    let rows: Vec<_> = node.profiles().iter().collect();
    match a.output {
        Output::Json => json(&json!(rows.iter().map(|p| json!({
            "name": p.name, "lifetime": p.lifetime.to_string(), "ca": !p.is_renewable(), "self_signed": p.self_signed,
            "eku": p.eku.iter().map(|e| e.name()).collect::<Vec<_>>(), "key_algo": p.key_algo.map(|k| k.name()), "impact": p.impact,
        })).collect::<Vec<_>>())),
        Output::Table => table(
            &["PROFILE", "LIFETIME", "USAGE", "IMPACT WHEN IT LAPSES"],
            &rows
                .iter()
                .map(|p| {
                    let usage = if !p.is_renewable() {
                        "CA".to_owned()
                    } else if p.eku.is_empty() {
                        "signing".to_owned()
                    } else {
                        p.eku.iter().map(|e| e.name()).collect::<Vec<_>>().join("+")
                    };
                    let usage = if p.self_signed { format!("{usage}, self-signed") } else { usage };
                    vec![p.name.clone(), p.lifetime.to_string(), usage, p.impact.clone()]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `alarms`: evaluate now, record what changed, print open alarms (or all with `--all`).
pub fn alarms(home: &Home, a: crate::args::AlarmsArgs) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    evaluate_and_notify(&mut node)?;
    let undelivered = outbox_line(&node)?;
    let shown: Vec<_> = alarms_with_detail(&node, a.all)?
        .iter()
        .map(|(x, detail)| certherd_ops::rows::alarm_row(x, detail.clone()))
        .collect();
    crate::views::alarms(&shown, a.output);
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
    if o.undelivered == 0 {
        return Ok(None);
    }
    let plural = if o.undelivered == 1 { "" } else { "s" };
    Ok(Some(match o.last_error {
        Some(e) => format!(
            "{} webhook notification{plural} undelivered, last error: {e}",
            o.undelivered
        ),
        None => format!("{} webhook notification{plural} undelivered", o.undelivered),
    }))
}
