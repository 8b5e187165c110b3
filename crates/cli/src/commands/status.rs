//! `status`: the CA, entries per status, the next expiry and the next renewal.
use crate::commands::alarms::outbox_line;

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::instant::rfc3339;
use crate::instant::short;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::entry_json;
use crate::render::json;
use crate::Failure;
use certherd_protocol::admin as api;
use certherd_store::Home;
use serde_json::json;
use std::process::ExitCode;

pub fn run(home: &Home, a: OutputArg) -> Result<ExitCode, Failure> {
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
                            certherd_ca::AGENT_HOST_ENTRY,
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
pub(crate) fn mode_json(problems: &[certherd_store::ModeProblem]) -> Vec<api::HomeProblemRow> {
    problems
        .iter()
        .map(certherd_ops::rows::home_problem_row)
        .collect()
}
