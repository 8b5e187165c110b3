//! Rendering: aligned tables for people, JSON for scripts.

use certherd_ca::EntryView;
use serde_json::{json, Value};

use crate::instant::rfc3339;
use crate::output::escape;

/// Prints rows as aligned columns under a header. Every cell is escaped with
/// [`escape`], so a name read from a certificate or a file cannot move the cursor, change
/// the terminal or break the row.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for r in &rows {
        line(r);
    }
}

/// Prints a JSON value, pretty and exact: strings keep every character (JSON escapes what
/// it must), so scripts see what the certificate or file holds.
pub fn json(v: &Value) {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    text.push('\n');
    if let Err(e) = crate::output::raw(text.as_bytes()) {
        errln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// The JSON object for one entry view.
pub fn entry_json(v: &EntryView) -> Value {
    let m = &v.meta;
    json!({
        "store": m.entry.store.as_str(),
        "alias": m.entry.alias.as_str(),
        "profile": m.profile,
        "source": m.source.as_str(),
        "subject": m.subject,
        "issuer": m.issuer,
        "serial": m.serial,
        "not_before": rfc3339(m.not_before),
        "not_after": rfc3339(m.not_after),
        "days_left": v.days_left,
        "status": v.status.as_str(),
        "auto_renew": v.auto_renew,
        "renew_after": v.renew_after.map(rfc3339),
        "has_key": m.kind == certherd_core::EntryKind::KeyPair,
        "sha256": m.sha256,
    })
}

/// Header of `cert list`'s table.
pub const ENTRY_HEADER: [&str; 6] = [
    "STORE/ALIAS",
    "SUBJECT",
    "ISSUER",
    "NOT AFTER",
    "DAYS LEFT",
    "STATUS",
];

/// Upper-case hex with colons, from lower-case hex (how openssl and vSphere print thumbprints).
pub fn colon_hex(hex: &str) -> String {
    certherd_x509::thumbprint(hex)
}
