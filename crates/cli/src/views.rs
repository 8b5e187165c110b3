//! What the commands that run both on a home and against `--server` print, each from the
//! admin API's type: on a home the node's answer is converted by
//! [`certherd_ops::rows`] (as the operations convert it), so both paths render the same
//! value with the same function.

use std::process::ExitCode;

use certherd_core::{OffsetDateTime, StoreName};
use certherd_protocol::admin as api;
use certherd_protocol::AlarmRow;
use serde_json::{json, Value};

use crate::args::Output;
use crate::instant::short;
use crate::render::{colon_hex, json, table, ENTRY_HEADER};

/// An RFC 3339 text of the API as a time.
pub fn time_of(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// An RFC 3339 text as `short` prints it (the text itself if it is not one).
fn short_of(text: &str) -> String {
    time_of(text).map_or_else(|| text.to_owned(), short)
}

/// `cert list --output json`'s object for an entry (without `also_seen_at` unless
/// `with_copies`).
pub fn cert_json(c: &api::CertRow, with_copies: bool) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if !with_copies {
        if let Some(o) = v.as_object_mut() {
            o.remove("also_seen_at");
        }
    }
    v
}

/// `cert list`: one row per entry; with `copies_under`, the other places each
/// certificate was seen, under the table.
pub fn cert_list(rows: &[api::CertRow], copies_under: bool, output: Output) {
    match output {
        Output::Json => json(&Value::Array(
            rows.iter().map(|c| cert_json(c, true)).collect(),
        )),
        Output::Table => {
            table(
                &ENTRY_HEADER,
                &rows
                    .iter()
                    .map(|c| {
                        let manual = !c.auto_renew
                            && c.source == certherd_core::Source::Imported.as_str()
                            && c.store != StoreName::BACKUP;
                        vec![
                            format!("{}/{}", c.store, c.alias),
                            c.subject.clone(),
                            c.issuer.clone(),
                            short_of(&c.not_after),
                            c.days_left.to_string(),
                            if manual {
                                format!("{} (manual renewal)", c.status)
                            } else {
                                c.status.clone()
                            },
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            for c in rows {
                if copies_under && !c.also_seen_at.is_empty() {
                    outln!(
                        "  {}/{} is also seen at {}",
                        c.store,
                        c.alias,
                        c.also_seen_at.join(", ")
                    );
                }
            }
        }
    }
}

/// `host list --output json`: one host.
#[derive(serde::Serialize)]
struct HostJson<'a> {
    name: &'a str,
    ips: &'a [String],
    joined_at: Option<&'a str>,
    last_seen: Option<&'a str>,
    pool_internal_sha256: Option<&'a str>,
}

/// `cert revoke --output json`.
#[derive(serde::Serialize)]
struct RevokedJson<'a> {
    entry: &'a str,
    serial: &'a str,
    subject: &'a str,
    issuer: &'a str,
    reason: &'a str,
    revoked_at: &'a str,
    revoked_by: &'a str,
    already_revoked: bool,
    crl_number: Option<u64>,
    renewal_ordered: Option<&'a str>,
}

/// `pool verification status --output json`.
#[derive(serde::Serialize)]
struct PoolVerificationJson<'a> {
    pool: &'a str,
    hosts: Vec<HostVerificationJson<'a>>,
}

/// One host of [`PoolVerificationJson`].
#[derive(serde::Serialize)]
struct HostVerificationJson<'a> {
    host: &'a str,
    verification: &'a str,
}

/// `ca show --output json`.
#[derive(serde::Serialize)]
struct CaJson<'a> {
    mode: &'a str,
    entry: Option<&'a str>,
    subject: Option<&'a str>,
    not_after: Option<&'a str>,
    public_key: Option<&'a str>,
    sha256: Option<&'a str>,
    root_subject: Option<&'a str>,
    root_sha256: Option<&'a str>,
    rotation_in_progress: Option<&'a str>,
    pending_signature: bool,
}

/// `ca rotate --output json`.
#[derive(serde::Serialize)]
struct RotationJson<'a> {
    new_ca: &'a str,
    new_sha256: &'a str,
    old_ca: &'a str,
    retired: bool,
    waiting_for: &'a [String],
    ordered: &'a [String],
    reissued: Vec<ReissuedJson<'a>>,
    skipped: Vec<SkippedJson<'a>>,
}

/// `forecast --output json`.
#[derive(serde::Serialize)]
struct ForecastJson<'a> {
    from: &'a str,
    until: &'a str,
    first_unattended: Option<UnattendedJson<'a>>,
    items: Vec<ForecastItemJson<'a>>,
}

/// One reissued entry of `ca rotate --output json`.
#[derive(serde::Serialize)]
struct ReissuedJson<'a> {
    entry: &'a str,
    ok: bool,
    error: Option<&'a str>,
}

/// One skipped entry of `ca rotate --output json`.
#[derive(serde::Serialize)]
struct SkippedJson<'a> {
    entry: &'a str,
    reason: &'a str,
    detail: String,
}

/// `forecast --output json`: the first expiry nothing renews.
#[derive(serde::Serialize)]
struct UnattendedJson<'a> {
    date: &'a str,
    entry: &'a str,
    impact: &'a str,
}

/// `forecast --output json`: one expiry.
#[derive(serde::Serialize)]
struct ForecastItemJson<'a> {
    date: &'a str,
    store: &'a str,
    alias: &'a str,
    subject: &'a str,
    impact: &'a str,
    affected: &'a [String],
    covered_by_renewal: bool,
    already_expired: bool,
}

/// `host list`.
pub fn host_list(hosts: &[certherd_protocol::HostRow], output: Output) {
    match output {
        Output::Json => json(
            &hosts
                .iter()
                .map(|h| HostJson {
                    name: &h.name,
                    ips: &h.ips,
                    joined_at: h.joined_at.as_deref(),
                    last_seen: h.last_seen.as_deref(),
                    pool_internal_sha256: h.pool_internal_sha256.as_deref(),
                })
                .collect::<Vec<_>>(),
        ),
        Output::Table => table(
            &["HOST", "IPS", "JOINED", "LAST SEEN"],
            &hosts
                .iter()
                .map(|h| {
                    vec![
                        h.name.clone(),
                        h.ips.join(","),
                        h.joined_at.clone().unwrap_or_else(|| "not yet".into()),
                        h.last_seen.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// An entry just written (`cert issue`, `service add`...): `verb` says how, and the
/// expiry is worded as seen at `now`.
pub fn issued(
    c: &api::CertRow,
    warnings: &[String],
    verb: &str,
    now: OffsetDateTime,
    output: Output,
) {
    for w in warnings {
        errln!("warning: {w}");
    }
    match output {
        Output::Json => json(&cert_json(c, false)),
        Output::Table => {
            let when = time_of(&c.not_after);
            outln!(
                "{verb} {}/{}  serial {}  not after {}  ({})",
                c.store,
                c.alias,
                c.serial,
                c.not_after,
                when.map_or_else(String::new, |t| certherd_inspect::wording::expiry(t, now))
            );
        }
    }
}

/// `cert show`.
pub fn cert_detail(d: &api::CertDetail, output: Output) {
    let c = &d.certificate;
    match output {
        Output::Json => {
            let mut v = cert_json(c, false);
            v["sans"] = json!(d.sans);
            v["key_usage"] = json!(d.key_usage);
            v["extended_key_usage"] = json!(d.extended_key_usage);
            v["public_key"] = json!(d.public_key);
            v["signature_algorithm"] = json!(d.signature_algorithm);
            v["is_ca"] = json!(d.is_ca);
            v["sha1"] = json!(d.sha1);
            v["chain"] = json!(d.chain);
            json(&v);
        }
        Output::Table => {
            let rows: Vec<(&str, String)> = vec![
                ("Entry", format!("{}/{}", c.store, c.alias)),
                ("Profile", c.profile.clone().unwrap_or_else(|| "-".into())),
                ("Source", c.source.clone()),
                ("Subject", c.subject.clone()),
                ("Issuer", c.issuer.clone()),
                ("Serial", c.serial.clone()),
                ("Not before", c.not_before.clone()),
                ("Not after", c.not_after.clone()),
                ("Days left", c.days_left.to_string()),
                ("Status", c.status.clone()),
                (
                    "Renewal",
                    match &c.renew_after {
                        Some(t) => format!("automatic, due from {t}"),
                        None => "manual (not renewed by certherd)".into(),
                    },
                ),
                ("SANs", d.sans.join(", ")),
                ("Key usage", d.key_usage.join(", ")),
                ("Ext. key usage", d.extended_key_usage.join(", ")),
                (
                    "CA",
                    if d.is_ca {
                        format!(
                            "yes{}",
                            d.path_len
                                .map(|p| format!(" (pathlen {p})"))
                                .unwrap_or_default()
                        )
                    } else {
                        "no".into()
                    },
                ),
                ("Public key", d.public_key.clone()),
                ("Signature", d.signature_algorithm.clone()),
                (
                    "Private key",
                    if c.has_key {
                        "held (sealed)".into()
                    } else {
                        "none".into()
                    },
                ),
                ("SHA-256", colon_hex(&c.sha256)),
                ("SHA-1", colon_hex(&d.sha1)),
            ];
            for (k, v) in rows {
                outln!("{k:<15} {}", crate::output::field(&v));
            }
            outln!("Chain:");
            outln!("  0 {}", crate::output::field(&c.subject));
            for (i, x) in d.chain.iter().enumerate() {
                outln!(
                    "  {} {}  (not after {})",
                    i + 1,
                    crate::output::field(&x.subject),
                    short_of(&x.not_after)
                );
            }
        }
    }
}

/// `host remove`.
pub fn host_removed(r: &api::HostRemoved) {
    outln!(
        "removed host {}: its certificate and pinned identity are forgotten",
        r.host
    );
    for x in &r.revoked {
        outln!(
            "revoked {}  serial {}  reason {}; the CA's CRL lists it",
            x.entry,
            x.serial,
            x.reason
        );
    }
}

/// `cert revoke`.
pub fn revoked(r: &api::RevokeAnswer, output: Output) {
    match output {
        Output::Json => json(&RevokedJson {
            entry: &r.entry,
            serial: &r.serial,
            subject: &r.subject,
            issuer: &r.issuer,
            reason: &r.reason,
            revoked_at: &r.revoked_at,
            revoked_by: &r.revoked_by,
            already_revoked: !r.revoked_now,
            crl_number: r.crl_number,
            renewal_ordered: r.renewal_ordered.as_deref(),
        }),
        Output::Table if !r.revoked_now => outln!(
            "{} was already revoked on {} ({}, by {}); nothing changed",
            r.entry,
            r.revoked_at,
            r.reason,
            r.revoked_by
        ),
        Output::Table => {
            outln!(
                "revoked {}  serial {}  reason {}  at {}; published CRL number {}",
                r.entry,
                r.serial,
                r.reason,
                r.revoked_at,
                r.crl_number.unwrap_or(0)
            );
            if let Some(host) = &r.renewal_ordered {
                outln!("ordered: {host} gets a new certificate at its next poll");
            } else if let Some(host) = r
                .entry
                .strip_prefix("fleet-hosts/")
                .filter(|_| r.reason == "keyCompromise")
            {
                // The host's pool identity still authenticates whoever copied its keys.
                outln!(
                    "not ordered: {host}'s keys may be compromised, and its pool identity still authenticates its polls: re-enroll it (`certherd host remove {host}`, `certherd host add {host}`, `certherd agent join` on the host), or once it is safe `certherd host reset-server-cert {host}`"
                );
            }
        }
    }
}

/// `trust add`.
pub fn trust_added(t: &api::TrustAddAnswer) {
    for w in &t.warnings {
        errln!("warning: {w}");
    }
    for m in &t.added {
        outln!(
            "trusted {}/{}  {}  SHA-256 {}",
            StoreName::TRUSTED_ROOTS,
            m.alias,
            m.subject,
            colon_hex(&m.sha256)
        );
    }
    for m in &t.already {
        outln!(
            "already trusted as {}/{}  {}",
            StoreName::TRUSTED_ROOTS,
            m.alias,
            m.subject
        );
    }
}

/// `trust list`: the entries of trusted-roots.
pub fn trust_list(rows: &[api::CertRow], output: Output) {
    match output {
        Output::Json => json(&Value::Array(
            rows.iter().map(|c| cert_json(c, false)).collect(),
        )),
        Output::Table => table(
            &["ALIAS", "SUBJECT", "NOT AFTER", "STATUS", "SHA-256"],
            &rows
                .iter()
                .map(|c| {
                    vec![
                        c.alias.clone(),
                        c.subject.clone(),
                        short_of(&c.not_after),
                        c.status.clone(),
                        colon_hex(&c.sha256),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// `trust remove`.
pub fn trust_removed(t: &api::TrustRow) {
    outln!(
        "no longer trusted: {}/{}  {}",
        StoreName::TRUSTED_ROOTS,
        t.alias,
        t.subject
    );
}

/// `trust add-crl`.
pub fn crl_added(c: &api::CrlRow) {
    outln!(
        "added CRL from {}  ({} revoked, next update {})",
        c.issuer,
        c.revoked,
        c.next_update
            .as_deref()
            .map_or_else(|| "none".into(), short_of)
    );
}

/// `alarms`.
pub fn alarms(rows: &[AlarmRow], output: Output) {
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

/// `audit`.
pub fn audit(rows: &[api::AuditRow], output: Output) {
    match output {
        Output::Json => json(rows),
        Output::Table => table(
            &["AT", "ACTION", "SUBJECT", "DETAIL"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.at.clone(),
                        r.action.clone(),
                        r.subject.clone(),
                        r.detail.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// `pool verification status`: the pool's setting, and what each host reported.
pub fn pool_verification(pool: bool, hosts: &[(String, Option<bool>)], output: Output) {
    let word = |v: Option<bool>| match v {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "not reported",
    };
    let pool = if pool { "enabled" } else { "disabled" };
    match output {
        Output::Json => json(&PoolVerificationJson {
            pool,
            hosts: hosts
                .iter()
                .map(|(h, v)| HostVerificationJson {
                    host: h,
                    verification: word(*v),
                })
                .collect(),
        }),
        Output::Table => {
            outln!("Pool verification  {pool}");
            table(
                &["HOST", "VERIFICATION"],
                &hosts
                    .iter()
                    .map(|(h, v)| vec![h.clone(), word(*v).to_owned()])
                    .collect::<Vec<_>>(),
            );
        }
    }
}

/// `ca show`.
pub fn ca_show(s: &api::CaAnswer, output: Output) {
    match output {
        Output::Json => json(&CaJson {
            mode: &s.mode,
            entry: s.entry.as_deref(),
            subject: s.subject.as_deref(),
            not_after: s.not_after.as_deref(),
            public_key: s.public_key.as_deref(),
            sha256: s.sha256.as_deref(),
            root_subject: s.root_subject.as_deref(),
            root_sha256: s.root_sha256.as_deref(),
            rotation_in_progress: s.retiring.as_deref(),
            pending_signature: s.pending,
        }),
        Output::Table => {
            outln!("Mode            {}", s.mode);
            match (&s.entry, &s.subject) {
                (Some(e), Some(subject)) => {
                    let text = |v: &Option<String>| v.clone().unwrap_or_default();
                    outln!("Signing CA      {e}");
                    outln!("Subject         {subject}");
                    outln!("Issuer          {}", text(&s.issuer));
                    outln!("Not after       {}", text(&s.not_after));
                    outln!("Public key      {}", text(&s.public_key));
                    outln!("SHA-256         {}", colon_hex(&text(&s.sha256)));
                }
                _ => outln!("Signing CA      none yet (waiting for `certherd ca import-signed`)"),
            }
            if let (Some(subject), Some(sha256)) = (&s.root_subject, &s.root_sha256) {
                outln!("Root            {subject}  SHA-256 {}", colon_hex(sha256));
            }
            if let Some(r) = &s.retiring {
                outln!("Rotation        in progress: {r} is retiring; run `certherd ca rotate` to finish");
            }
        }
    }
}

/// `ca rotate`: one step; exit 1 when an entry could not be reissued.
pub fn rotation(r: &api::RotationAnswer, output: Output) -> ExitCode {
    let error_of = |entry: &str| {
        r.failed
            .iter()
            .find(|f| f.entry == entry)
            .map(|f| f.error.as_str())
    };
    match output {
        Output::Json => json(&RotationJson {
            new_ca: &r.new_ca,
            new_sha256: &r.new_sha256,
            old_ca: &r.old_ca,
            retired: r.retired,
            waiting_for: &r.waiting_for,
            ordered: &r.ordered,
            reissued: r
                .reissued
                .iter()
                .map(|e| ReissuedJson {
                    entry: e,
                    ok: error_of(e).is_none(),
                    error: error_of(e),
                })
                .collect(),
            skipped: r
                .skipped
                .iter()
                .map(|s| SkippedJson {
                    entry: &s.entry,
                    reason: &s.reason,
                    detail: crate::hints::skip_reason(&s.reason, &s.entry, &s.detail),
                })
                .collect(),
        }),
        Output::Table => {
            outln!(
                "new signing CA {}  SHA-256 {}",
                r.new_ca,
                colon_hex(&r.new_sha256)
            );
            for e in &r.reissued {
                match error_of(e) {
                    None => outln!("  reissued {e}"),
                    Some(err) => outln!("  FAILED   {e}: {err}"),
                }
            }
            for s in &r.skipped {
                outln!(
                    "  skipped  {}: {}",
                    s.entry,
                    crate::hints::skip_reason(&s.reason, &s.entry, &s.detail)
                );
            }
            if !r.waiting_for.is_empty() {
                outln!(
                    "staged: {} host(s) must trust the new root before anything is reissued: {}",
                    r.waiting_for.len(),
                    r.waiting_for.join(", ")
                );
                outln!("they receive it at their next poll; a running `certherd server` takes the next steps by itself, or run `certherd ca rotate` again");
            } else if !r.ordered.is_empty() {
                outln!(
                    "{} host(s) ordered to renew under the new root: {}",
                    r.ordered.len(),
                    r.ordered.join(", ")
                );
            }
            if r.retired {
                if r.skipped.is_empty() {
                    outln!("old CA {} retired: nothing issued by it remains; its root is no longer trusted", r.old_ca);
                } else {
                    outln!("old CA {} retired: nothing issued by it remains but {} revoked entr{} left as {}; its root is no longer trusted", r.old_ca, r.skipped.len(), if r.skipped.len() == 1 { "y" } else { "ies" }, if r.skipped.len() == 1 { "it is" } else { "they are" });
                }
            } else if !r.waiting_for.is_empty() || !r.ordered.is_empty() {
                outln!(
                    "old CA {} stays trusted until every host has renewed",
                    r.old_ca
                );
            } else {
                outln!("old CA {} still trusted: {} entries could not be reissued; fix them and run `certherd ca rotate` again", r.old_ca, r.failed.len());
            }
        }
    }
    if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The forecast's first line: the day something breaks unattended, or that nothing does.
pub fn headline(f: &api::ForecastAnswer) -> String {
    match &f.first_unattended {
        Some(i) => format!(
            "{}: {} lapses and nothing renews it: {}",
            short_of(&i.not_after),
            i.entry,
            i.impact
        ),
        None => format!("nothing breaks unattended until {}", short_of(&f.until)),
    }
}

/// `forecast`.
pub fn forecast(f: &api::ForecastAnswer, output: Output) {
    match output {
        Output::Json => json(&ForecastJson {
            from: &f.from,
            until: &f.until,
            first_unattended: f.first_unattended.as_ref().map(|i| UnattendedJson {
                date: &i.not_after,
                entry: &i.entry,
                impact: &i.impact,
            }),
            items: f
                .items
                .iter()
                .map(|i| {
                    let (store, alias) = i.entry.split_once('/').unwrap_or((i.entry.as_str(), ""));
                    ForecastItemJson {
                        date: &i.not_after,
                        store,
                        alias,
                        subject: &i.subject,
                        impact: &i.impact,
                        affected: &i.affected,
                        covered_by_renewal: i.covered,
                        already_expired: i.already_expired,
                    }
                })
                .collect(),
        }),
        Output::Table => {
            outln!("{}", headline(f));
            outln!();
            table(
                &["DATE", "ENTRY", "RENEWED", "AFFECTED", "IMPACT"],
                &f.items
                    .iter()
                    .map(|i| {
                        vec![
                            short_of(&i.not_after),
                            i.entry.clone(),
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
}

/// One host of `fleet renew --output json`.
#[derive(serde::Serialize)]
struct FleetRenewJson<'a> {
    host: &'a str,
    result: &'a str,
    not_after: Option<&'a str>,
}

/// The `fleet renew` table or JSON, one row per host (name, renewed, new not-after), on
/// the home and through the API alike; exit 0 when every host renewed.
pub fn fleet_renew_results(rows: &[(String, bool, Option<String>)], output: Output) -> ExitCode {
    match output {
        Output::Json => json(
            &rows
                .iter()
                .map(|(h, d, na)| FleetRenewJson {
                    host: h,
                    result: if *d { "renewed" } else { "pending" },
                    not_after: na.as_deref(),
                })
                .collect::<Vec<_>>(),
        ),
        Output::Table => table(
            &["HOST", "RESULT", "NOT AFTER"],
            &rows
                .iter()
                .map(|(h, d, na)| {
                    vec![
                        h.clone(),
                        if *d {
                            "renewed".into()
                        } else {
                            "pending: not heard from yet".into()
                        },
                        na.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    if rows.iter().all(|(_, d, _)| *d) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
