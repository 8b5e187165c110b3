//! Rendering: aligned tables for people, JSON for scripts.

use certherd_ca::EntryView;
use serde_json::{json, Value};

use crate::instant::{rfc3339, short};

/// Prints rows as aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// Prints a JSON value, pretty.
pub fn json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
    );
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

/// The table row for one entry view.
pub fn entry_row(v: &EntryView) -> Vec<String> {
    let m = &v.meta;
    let status = if !v.auto_renew
        && m.source == certherd_core::Source::Imported
        && !m.entry.store.is_backup()
    {
        format!("{} (manual renewal)", v.status.as_str())
    } else {
        v.status.as_str().to_owned()
    };
    vec![
        m.entry.to_string(),
        m.subject.clone(),
        m.issuer.clone(),
        short(m.not_after),
        v.days_left.to_string(),
        status,
    ]
}

/// Header for [`entry_row`].
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
    hex.to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}
