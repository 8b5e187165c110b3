//! `cert ...` and `service add`.

use std::process::ExitCode;

use certherd_ca::{ExportFormat, IssueRequest, RenewSelection};
use certherd_core::{EntryRef, Span, StoreName};
use certherd_store::{write_atomic, Home};
use serde_json::json;

use crate::args::{CertCmd, FormatArg, Output, RenewArgs, ServiceCmd};
use crate::failure::{read_certificates, read_input, read_secret};
use crate::instant::{parse_at, rfc3339, short};
use crate::render::{colon_hex, entry_json, entry_row, json, table, ENTRY_HEADER};
use crate::{open_node, Failure};

fn entry_ref(s: &str) -> Result<EntryRef, Failure> {
    Ok(s.parse::<EntryRef>()?)
}

fn print_issued(out: Output, node: &crate::LocalNode, issued: &certherd_ca::Issued, verb: &str) {
    let view = node.view(issued.meta.clone(), node.now());
    for w in &issued.warnings {
        errln!("warning: {w}");
    }
    match out {
        Output::Json => json(&entry_json(&view)),
        Output::Table => outln!(
            "{verb} {}  serial {}  not after {}  ({})",
            issued.meta.entry,
            issued.meta.serial,
            rfc3339(issued.meta.not_after),
            certherd_inspect::wording::expiry(issued.meta.not_after, node.now())
        ),
    }
}

pub fn run(home: &Home, c: CertCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        CertCmd::List(a) => {
            let store = a
                .store
                .as_deref()
                .map(str::parse::<StoreName>)
                .transpose()?;
            let at = match &a.at {
                Some(s) => parse_at(s, node.now())?,
                None => node.now(),
            };
            let mut views = node.list(store.as_ref(), at)?;
            // One certificate, one line: scanned copies of a listed certificate are named
            // under it instead of listed again (a --store listing shows every entry).
            let folded = certherd_core::fold_copies(
                &views.iter().map(|v| v.meta.clone()).collect::<Vec<_>>(),
            );
            if store.is_none() {
                views.retain(|v| folded.items.iter().any(|m| m.entry == v.meta.entry));
            }
            match a.output {
                Output::Json => json(&serde_json::Value::Array(
                    views
                        .iter()
                        .map(|v| {
                            let mut j = entry_json(v);
                            j["also_seen_at"] = json!(folded
                                .copies_of(&v.meta.entry)
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>());
                            j
                        })
                        .collect(),
                )),
                Output::Table => {
                    table(
                        &ENTRY_HEADER,
                        &views.iter().map(entry_row).collect::<Vec<_>>(),
                    );
                    for v in &views {
                        let copies = folded.copies_of(&v.meta.entry);
                        if !copies.is_empty() && store.is_none() {
                            outln!(
                                "  {} is also seen at {}",
                                v.meta.entry,
                                copies
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                        }
                    }
                }
            }
        }
        CertCmd::Show(a) => {
            let r = entry_ref(&a.entry)?;
            let (view, info, chain) = node.show(&r)?;
            match a.output {
                Output::Json => {
                    let mut v = entry_json(&view);
                    v["sans"] = json!(info.subject_alt_names());
                    v["key_usage"] = json!(info.key_usage);
                    v["extended_key_usage"] = json!(info.extended_key_usage);
                    v["public_key"] = json!(info.public_key);
                    v["signature_algorithm"] = json!(info.signature_algorithm);
                    v["is_ca"] = json!(info.is_ca);
                    v["sha1"] = json!(info.sha1);
                    v["chain"] = json!(chain.iter().map(|c| json!({"subject": c.subject, "issuer": c.issuer, "not_after": rfc3339(c.not_after), "sha256": c.sha256})).collect::<Vec<_>>());
                    json(&v);
                }
                Output::Table => {
                    let m = &view.meta;
                    let rows: Vec<(&str, String)> = vec![
                        ("Entry", m.entry.to_string()),
                        ("Profile", m.profile.clone().unwrap_or_else(|| "-".into())),
                        ("Source", m.source.as_str().into()),
                        ("Subject", info.subject.clone()),
                        ("Issuer", info.issuer.clone()),
                        ("Serial", info.serial.clone()),
                        ("Not before", rfc3339(info.not_before)),
                        ("Not after", rfc3339(info.not_after)),
                        ("Days left", view.days_left.to_string()),
                        ("Status", view.status.as_str().into()),
                        (
                            "Renewal",
                            match view.renew_after {
                                Some(t) => format!("automatic, due from {}", rfc3339(t)),
                                None => "manual (not renewed by certherd)".into(),
                            },
                        ),
                        ("SANs", info.subject_alt_names().join(", ")),
                        ("Key usage", info.key_usage.join(", ")),
                        ("Ext. key usage", info.extended_key_usage.join(", ")),
                        (
                            "CA",
                            if info.is_ca {
                                format!(
                                    "yes{}",
                                    info.path_len
                                        .map(|p| format!(" (pathlen {p})"))
                                        .unwrap_or_default()
                                )
                            } else {
                                "no".into()
                            },
                        ),
                        ("Public key", info.public_key.clone()),
                        ("Signature", info.signature_algorithm.clone()),
                        (
                            "Private key",
                            if m.kind == certherd_core::EntryKind::KeyPair {
                                "held (sealed)".into()
                            } else {
                                "none".into()
                            },
                        ),
                        ("SHA-256", colon_hex(&info.sha256)),
                        ("SHA-1", colon_hex(&info.sha1)),
                    ];
                    for (k, v) in rows {
                        outln!("{k:<15} {v}");
                    }
                    outln!("Chain:");
                    outln!("  0 {}", info.subject);
                    for (i, c) in chain.iter().enumerate() {
                        outln!(
                            "  {} {}  (not after {})",
                            i + 1,
                            c.subject,
                            short(c.not_after)
                        );
                    }
                }
            }
        }
        CertCmd::Issue(a) => {
            let store: StoreName = a.store.parse()?;
            let alias = a
                .alias
                .clone()
                .or_else(|| a.cn.clone())
                .or_else(|| a.sans.first().cloned())
                .ok_or_else(|| Failure::usage("give --alias, --cn or --san"))?;
            let key_algo = a
                .key_algo
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))?;
            if let Some(cn) = &a.cn {
                crate::input::printable("--cn", cn).map_err(|e| Failure::usage(e.to_string()))?;
            }
            for name in &a.sans {
                crate::input::printable("--san", name)
                    .map_err(|e| Failure::usage(e.to_string()))?;
            }
            let req = IssueRequest {
                profile: a.profile,
                entry: EntryRef::new(store, alias.parse()?),
                common_name: a.cn,
                names: a.sans,
                key_algo,
            };
            let issued = node.issue(&req)?;
            print_issued(a.output, &node, &issued, "issued");
        }
        CertCmd::Renew(a) => return renew(&mut node, a),
        CertCmd::Import(a) => {
            let r = entry_ref(&a.entry)?;
            let cert = read_input(&a.cert)?;
            let issued = if let Some(pw) = &a.password_file {
                if a.key.is_some() || !a.chain.is_empty() {
                    return Err(Failure::usage(
                        "a PKCS#12 bundle carries its own key and chain; drop --key and --chain",
                    ));
                }
                let password = first_line(&read_secret(pw)?);
                node.import_pkcs12(&r, &cert, &password, a.profile.as_deref())
                    .map_err(|e| Failure::file(&a.cert, e))?
            } else {
                certherd_x509::parse_certificates(&cert).map_err(|e| Failure::file(&a.cert, e))?;
                let chain = a
                    .chain
                    .iter()
                    .map(|p| read_certificates(p))
                    .collect::<Result<Vec<_>, _>>()?;
                let key = a.key.as_deref().map(read_input).transpose()?;
                if let (Some(k), Some(path)) = (&key, &a.key) {
                    certherd_x509::parse_private_key(k).map_err(|e| Failure::file(path, e))?;
                }
                node.import(&r, &cert, &chain, key.as_deref(), a.profile.as_deref())?
            };
            print_issued(Output::Table, &node, &issued, "imported");
        }
        CertCmd::Export(a) => {
            let r = entry_ref(&a.entry)?;
            let format = match a.format {
                FormatArg::Pem => ExportFormat::Pem,
                FormatArg::Der => ExportFormat::Der,
                FormatArg::P12 => ExportFormat::P12,
            };
            let password = match &a.password_file {
                Some(p) => Some(first_line(&read_secret(p)?)),
                None => std::env::var("CERTHERD_P12_PASSWORD").ok(),
            };
            let bytes = node.export(&r, format, a.key, password.as_deref())?;
            match &a.out {
                Some(path) => {
                    write_atomic(path, &bytes, if a.key { 0o600 } else { 0o644 })?;
                    errln!(
                        "wrote {}{}",
                        path.display(),
                        if a.key {
                            " (0600, contains the private key)"
                        } else {
                            ""
                        }
                    );
                }
                None => {
                    if matches!(format, ExportFormat::Der | ExportFormat::P12)
                        && std::io::IsTerminal::is_terminal(&std::io::stdout())
                    {
                        return Err(Failure::usage("refusing to write binary output to a terminal; use --out FILE or redirect"));
                    }
                    crate::output::raw(&bytes).map_err(|e| Failure::msg(format!("stdout: {e}")))?;
                }
            }
        }
        CertCmd::Delete(a) => {
            let r = entry_ref(&a.entry)?;
            node.delete(&r)?;
            outln!("deleted {r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn renew(node: &mut crate::LocalNode, a: RenewArgs) -> Result<ExitCode, Failure> {
    let sel = if let Some(e) = &a.entry {
        RenewSelection::One(entry_ref(e)?)
    } else if let Some(p) = &a.profile {
        RenewSelection::Profile(p.clone())
    } else if a.all {
        RenewSelection::All
    } else if let Some(s) = &a.expiring_within {
        RenewSelection::ExpiringWithin(s.parse::<Span>()?)
    } else {
        RenewSelection::Due
    };
    if a.dry_run {
        let targets = node.select_for_renewal(&sel)?;
        match a.output {
            Output::Json => json(&json!(targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>())),
            Output::Table => {
                outln!(
                    "would renew {} entr{}",
                    targets.len(),
                    if targets.len() == 1 { "y" } else { "ies" }
                );
                for t in targets {
                    outln!("  {t}");
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let results = if let RenewSelection::One(r) = &sel {
        // A single named entry reports its own error directly.
        let (issued, backup) = node.renew(r)?;
        vec![certherd_ca::Renewed {
            entry: r.clone(),
            result: Ok(issued),
            backup: Some(backup),
        }]
    } else {
        node.renew_selected(&sel)?
    };
    let failed = results.iter().filter(|r| r.result.is_err()).count();
    match a.output {
        Output::Json => json(&json!(results
            .iter()
            .map(|r| match &r.result {
                Ok(i) => json!({"entry": r.entry.to_string(), "ok": true, "serial": i.meta.serial, "not_after": rfc3339(i.meta.not_after), "backup": r.backup.as_ref().map(ToString::to_string), "warnings": i.warnings}),
                Err(e) => json!({"entry": r.entry.to_string(), "ok": false, "error": e}),
            })
            .collect::<Vec<_>>())),
        Output::Table => {
            if results.is_empty() {
                outln!("nothing to renew");
            }
            for r in &results {
                match &r.result {
                    Ok(i) => {
                        for w in &i.warnings {
                            errln!("warning: {}: {w}", r.entry);
                        }
                        outln!(
                            "renewed {}  serial {}  not after {}  (previous kept as {})",
                            r.entry,
                            i.meta.serial,
                            rfc3339(i.meta.not_after),
                            r.backup.as_ref().map(ToString::to_string).unwrap_or_default()
                        );
                    }
                    Err(e) => outln!("FAILED  {}: {e}", r.entry),
                }
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn service(home: &Home, c: ServiceCmd) -> Result<ExitCode, Failure> {
    let ServiceCmd::Add { name, output } = c;
    let mut node = open_node(home)?;
    let issued = node.add_service(&name)?;
    print_issued(output, &node, &issued, "created");
    Ok(ExitCode::SUCCESS)
}

/// The first line of a password file, without its line ending.
fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
