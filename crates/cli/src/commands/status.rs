//! `status`: the CA, entries per status, the next expiry and the next renewal.

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::instant::rfc3339;
use crate::instant::short;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::time_of;
use crate::Failure;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use std::process::ExitCode;

/// `status`: an operation, on the home or against `--server` (the server's node).
pub fn operation(ops: &mut dyn Operations, a: OutputArg) -> Result<ExitCode, Failure> {
    let s = ops.status()?;
    print(&s, a.output);
    Ok(ExitCode::SUCCESS)
}

/// The status view: its JSON, or one line per fact.
fn print(s: &api::StatusAnswer, output: Output) {
    use certherd_core::Clock;
    if output == Output::Json {
        return json(s);
    }
    let now = certherd_authority::SystemClock.now();
    outln!("Node            {}", s.hostname);
    match (&s.agent, &s.ca) {
        (Some(g), _) => {
            match &g.server {
                Some(url) => outln!(
                    "Agent of        {url} (verification {})",
                    if g.verification { "on" } else { "OFF" }
                ),
                None => outln!("Agent of        no server: it removed this host; join again with `certherd agent join`"),
            }
            match g.last_poll.as_deref().and_then(time_of) {
                Some(t) => outln!(
                    "Last poll       {} ({} ago)",
                    rfc3339(t),
                    certherd_inspect::wording::duration(now - t)
                ),
                None => outln!("Last poll       never: start `certherd agent run`"),
            }
            if let Some(e) = &g.last_error {
                outln!("Last error      {}: {}", e.at, e.message);
            }
            match g.host_certificate_not_after.as_deref().and_then(time_of) {
                Some(t) => outln!(
                    "Host cert       {} until {} ({})",
                    certherd_fleet::AGENT_HOST_ENTRY,
                    short(t),
                    certherd_inspect::wording::expiry(t, now)
                ),
                None => outln!("Host cert       none"),
            }
        }
        (None, Some(ca)) => outln!(
            "CA              {} (mode {}), expires {}, SHA-256 {}",
            ca.subject,
            s.mode,
            time_of(&ca.not_after).map_or_else(|| ca.not_after.clone(), short),
            colon_hex(&ca.sha256)
        ),
        (None, None) => outln!(
            "CA              not ready (mode {}): waiting for `certherd ca import-signed`",
            s.mode
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
        if let Some(t) = time_of(&v.not_after) {
            outln!(
                "Next expiry     {}/{} on {} ({})",
                v.store,
                v.alias,
                short(t),
                certherd_inspect::wording::expiry(t, now)
            );
        }
    }
    if let Some(v) = &s.next_renewal {
        if let Some(t) = v.renew_after.as_deref().and_then(time_of) {
            outln!(
                "Next renewal    {}/{} due from {}",
                v.store,
                v.alias,
                short(t)
            );
        }
    }
    if let Some(k) = &s.master_key {
        outln!("Master key      {} ({})", k.path, k.source);
    }
    outln!("Database        {}", s.database);
    if let Some(line) = crate::commands::alarms::undelivered_line(&s.notifications) {
        outln!("Notifications   {line}");
    }
    for p in &s.mode_warnings {
        outln!("Warning         {}", p.message);
    }
}
