//! `scan tls`, `scan files` and `endpoint`: finding certificates certherd did not issue.
//! The sockets and the file system are here; judging and recording is the node's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use certherd_ca::{EndpointScan, FileFinding};
use certherd_core::{Problem, ServerAddress, Span, Watch, WatchKind};
use certherd_store::Store;
use certherd_tls::{Endpoint, Probe};
use certherd_x509::{CertInfo, Found};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{EndpointCmd, Output, ScanCmd, ScanFilesArgs, ScanTlsArgs};
use crate::failure::read_input;
use crate::instant::rfc3339;
use crate::render::{json, table};
use crate::{open_node, Failure, LocalNode};

/// Runs a `scan` subcommand.
pub fn scan(home: &certherd_store::Home, c: ScanCmd) -> Result<ExitCode, Failure> {
    match c {
        ScanCmd::Tls(a) => scan_tls(home, a),
        ScanCmd::Files(a) => scan_files(home, a),
    }
}

fn timeout(s: &str) -> Result<Duration, Failure> {
    let d = s.parse::<Span>()?.duration().unsigned_abs();
    if d.is_zero() {
        return Err(Failure::usage("--timeout must be longer than 0s"));
    }
    Ok(d)
}

fn progress(len: usize, what: &str) -> ProgressBar {
    // indicatif draws only on a terminal; in CI and pipes it stays silent.
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{{bar:30}} {{pos}}/{{len}} {what} {{elapsed}}"))
    {
        bar.set_style(style);
    }
    bar
}

/// Classifies a transport failure as a finding.
fn scan_problem(e: &certherd_tls::Error) -> Problem {
    use certherd_tls::Error as E;
    let kind = match e {
        E::Unreachable { .. } | E::Proxy { .. } => "unreachable",
        E::Handshake(d) if d.contains("may not speak TLS") || d.contains("closed during") => {
            "not-tls"
        }
        E::ClientRejected(_) => "client-certificate-required",
        _ => "tls-handshake",
    };
    Problem {
        kind: kind.into(),
        message: e.to_string(),
    }
}

/// Probes every target, `concurrency` at a time; results come back in target order.
fn probe_all(
    targets: &[String],
    sni: Option<&str>,
    concurrency: usize,
    t: Duration,
) -> Vec<Result<Probe, certherd_tls::Error>> {
    let next = AtomicUsize::new(0);
    let bar = Arc::new(progress(targets.len(), "targets"));
    let mut results: Vec<Option<Result<Probe, certherd_tls::Error>>> =
        (0..targets.len()).map(|_| None).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, 256).min(targets.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            let bar = bar.clone();
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = targets.get(i) else { break };
                let r = certherd_tls::probe(&Endpoint {
                    address: target.clone(),
                    proxy: None,
                    timeout: t,
                    server_name: sni.map(str::to_owned),
                });
                bar.inc(1);
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            results[i] = Some(r);
        }
    });
    bar.finish_and_clear();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(certherd_tls::Error::Handshake("not scanned".into()))))
        .collect()
}

fn targets_of(a: &ScanTlsArgs) -> Result<Vec<String>, Failure> {
    let mut raw: Vec<(String, String)> = a
        .targets
        .iter()
        .map(|t| (t.clone(), "argument".to_owned()))
        .collect();
    if let Some(f) = &a.targets_file {
        let text =
            String::from_utf8(read_input(f)?).map_err(|_| Failure::file(f, "not UTF-8 text"))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                raw.push((line.to_owned(), format!("{} line {}", f.display(), n + 1)));
            }
        }
    }
    if raw.is_empty() {
        return Err(Failure::usage(
            "no targets: give HOST:PORT arguments or --targets FILE",
        ));
    }
    // Every target is checked before anything is scanned, so a typo changes nothing.
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (t, from) in raw {
        let addr: ServerAddress = t
            .parse()
            .map_err(|e| Failure::usage(format!("{from}: {e}")))?;
        if seen.insert(addr.to_string()) {
            out.push(addr.to_string());
        }
    }
    Ok(out)
}

/// The `key=value; ...` facts of a scan as a JSON object.
fn facts(detail: &str) -> serde_json::Value {
    serde_json::Value::Object(
        detail
            .split("; ")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
            .collect(),
    )
}

fn watch_json(w: &Watch, node: &LocalNode) -> serde_json::Value {
    let cert = w
        .entry()
        .and_then(|r| node.store().entry(&r).ok().flatten().map(|e| e.meta));
    json!({
        "kind": w.kind.as_str(),
        "name": w.name,
        "target": w.target,
        "server_name": w.server_name,
        "verify": w.verify,
        "scanned_at": w.scanned_at.map(rfc3339),
        "problem": w.problem.as_ref().map(|p| p.kind.as_str()),
        "message": w.problem.as_ref().map(|p| p.message.as_str()),
        "detail": w.detail,
        "facts": facts(&w.detail),
        "subject": cert.as_ref().map(|m| m.subject.clone()),
        "not_after": cert.as_ref().map(|m| rfc3339(m.not_after)),
        "sha256": cert.as_ref().map(|m| m.sha256.clone()),
    })
}

fn watch_row(w: &Watch, node: &LocalNode) -> Vec<String> {
    let cert = w
        .entry()
        .and_then(|r| node.store().entry(&r).ok().flatten().map(|e| e.meta));
    vec![
        w.name.clone(),
        w.target.clone(),
        cert.as_ref().map_or("-".into(), |m| m.subject.clone()),
        cert.as_ref()
            .map_or("-".into(), |m| crate::instant::short(m.not_after)),
        match &w.problem {
            Some(p) if p.message.starts_with(&p.kind) => p.message.clone(),
            Some(p) => format!("{}: {}", p.kind, p.message),
            None if w.scanned_at.is_none() => "not scanned yet".into(),
            None => "ok".into(),
        },
    ]
}

fn print_watches(ws: &[Watch], node: &LocalNode, output: Output) {
    match output {
        Output::Json => json(&json!(ws
            .iter()
            .map(|w| watch_json(w, node))
            .collect::<Vec<_>>())),
        Output::Table => {
            table(
                &["NAME", "TARGET", "SUBJECT", "NOT AFTER", "FINDING"],
                &ws.iter().map(|w| watch_row(w, node)).collect::<Vec<_>>(),
            );
            for w in ws.iter().filter(|w| !w.detail.is_empty()) {
                println!("  {}: {}", w.name, w.detail);
            }
        }
    }
}

fn scan_tls(home: &certherd_store::Home, a: ScanTlsArgs) -> Result<ExitCode, Failure> {
    let targets = targets_of(&a)?;
    let t = timeout(&a.timeout)?;
    if a.concurrency == 0 {
        return Err(Failure::usage("--concurrency must be at least 1"));
    }
    let mut node = open_node(home)?;
    let probes = probe_all(&targets, a.sni.as_deref(), a.concurrency, t);
    let mut recorded = Vec::new();
    for (target, probe) in targets.iter().zip(probes) {
        let scan = match probe {
            Ok(p) if p.chain.is_empty() => EndpointScan::Failed(Problem {
                kind: "no-certificate".into(),
                message: "the server presented no certificate".into(),
            }),
            Ok(p) => EndpointScan::Presented {
                chain: p.chain.iter().map(|c| c.to_vec()).collect(),
                version: p.version,
                cipher_suite: p.cipher_suite,
            },
            Err(e) => EndpointScan::Failed(scan_problem(&e)),
        };
        recorded.extend(node.record_endpoint_scan(target, a.sni.as_deref(), &scan, None)?);
    }
    print_watches(&recorded, &node, a.output);
    Ok(ExitCode::SUCCESS)
}

/// Mode bits wider than 0600 (group or others may read).
#[cfg(unix)]
fn loose_permissions(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_permissions(_: &std::fs::Metadata) -> Option<u32> {
    None
}

/// Every regular file under `paths`; directories are walked, links to them are not.
fn walk(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    for p in paths {
        let m = std::fs::metadata(p).map_err(|e| Failure::file(p, e))?;
        if m.is_dir() {
            stack.push(p.clone());
        } else {
            out.push(p.clone());
        }
    }
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Files larger than this are not certificates or keys; they are skipped unread.
const MAX_FILE: u64 = 1 << 20;

struct FileResult {
    path: PathBuf,
    certs: Vec<Vec<u8>>,
    keys: Vec<certherd_x509::FoundKey>,
    problem: Option<Problem>,
    detail: String,
}

fn examine(path: &Path, password: Option<&str>) -> Option<FileResult> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_FILE || meta.len() == 0 {
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Some(FileResult {
                path: path.into(),
                certs: vec![],
                keys: vec![],
                problem: Some(Problem {
                    kind: "unreadable".into(),
                    message: e.to_string(),
                }),
                detail: String::new(),
            })
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = FileResult {
        path: path.into(),
        certs: vec![],
        keys: vec![],
        problem: None,
        detail: String::new(),
    };
    match certherd_x509::discover(&bytes, &name, password) {
        Found::Nothing => return None,
        Found::Der(c) => {
            r.certs = vec![c];
            r.detail = "format=DER; certificates=1".into();
        }
        Found::Pem { certs, keys } => {
            r.detail = format!(
                "format=PEM; certificates={}; keys={}; bundle={}",
                certs.len(),
                keys.len(),
                if certs.len() > 1 { "yes" } else { "no" }
            );
            r.certs = certs;
            r.keys = keys;
        }
        Found::Pkcs12 { certs } => {
            r.detail = format!("format=PKCS#12; certificates={}", certs.len());
            r.certs = certs;
        }
        Found::Pkcs12Locked { tried } => {
            r.detail = "format=PKCS#12; locked=yes".into();
            r.problem = Some(Problem {
                kind: "wrong-password".into(),
                message: if tried {
                    "the password given does not open this PKCS#12 file".into()
                } else {
                    "encrypted PKCS#12: give --password-file".into()
                },
            });
        }
        Found::Damaged(d) => {
            r.problem = Some(Problem {
                kind: "damaged".into(),
                message: d,
            });
        }
    }
    if !r.keys.is_empty() {
        if let Some(mode) = loose_permissions(&meta) {
            r.problem = Some(Problem {
                kind: "key-permissions".into(),
                message: format!("holds a private key but its mode is {mode:o}, wider than 600"),
            });
        }
    }
    Some(r)
}

fn scan_files(home: &certherd_store::Home, a: ScanFilesArgs) -> Result<ExitCode, Failure> {
    let password = match &a.password_file {
        Some(f) => Some(
            String::from_utf8(read_input(f)?)
                .map_err(|_| Failure::file(f, "not UTF-8 text"))?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
        None => None,
    };
    let files = walk(&a.paths)?;
    let mut node = open_node(home)?;
    let bar = progress(files.len(), "files");
    // Reading and parsing is spread over the cores; recording is one thread, in batches.
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let mut found: Vec<(usize, FileResult)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (next, files, bar, password) = (&next, &files, &bar, password.as_deref());
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        if let Some(r) = examine(f, password) {
                            mine.push((i, r));
                        }
                        bar.inc(1);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    bar.finish_and_clear();
    found.sort_by_key(|(i, _)| *i);
    let mut results: Vec<FileResult> = found.into_iter().map(|(_, r)| r).collect();
    // A key no certificate of the scan matches is orphaned: it is either stale or its
    // certificate lives somewhere nobody is watching.
    let cert_keys: BTreeSet<Vec<u8>> = results
        .iter()
        .flat_map(|r| r.certs.iter())
        .filter_map(|c| CertInfo::from_der(c).ok().map(|i| i.spki_der))
        .collect();
    for r in &mut results {
        let orphans = r
            .keys
            .iter()
            .filter(|k| {
                k.public_key
                    .as_ref()
                    .is_some_and(|p| !cert_keys.contains(p))
            })
            .count();
        if orphans > 0 && r.problem.is_none() {
            r.problem = Some(Problem {
                kind: "orphaned-key".into(),
                message: format!(
                    "{orphans} private key(s) match no certificate found in this scan"
                ),
            });
        }
    }
    let findings: Vec<FileFinding> = results
        .iter()
        .map(|r| FileFinding {
            path: std::fs::canonicalize(&r.path)
                .unwrap_or_else(|_| r.path.clone())
                .display()
                .to_string(),
            certs: r.certs.clone(),
            problem: r.problem.clone(),
            detail: r.detail.clone(),
        })
        .collect();
    let recorded = node.record_file_scans(&findings)?;
    match a.output {
        Output::Json => json(&json!({
            "files_examined": files.len(),
            "files_with_findings": results.len(),
            "watched": recorded.iter().map(|w| watch_json(w, &node)).collect::<Vec<_>>(),
        })),
        Output::Table => {
            eprintln!(
                "{} files examined, {} hold certificates or keys",
                files.len(),
                results.len()
            );
            print_watches(&recorded, &node, Output::Table);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an `endpoint` subcommand.
pub fn endpoint(home: &certherd_store::Home, c: EndpointCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        EndpointCmd::Add {
            name,
            address,
            server_name,
            verify,
        } => {
            let addr: ServerAddress = address.parse()?;
            let w = node.endpoint_add(&name, &addr, server_name.as_deref(), verify)?;
            println!(
                "watching {} at {}{}",
                w.name,
                w.target,
                if verify { " (verified)" } else { "" }
            );
            eprintln!("next: `certherd scan tls {}` records its certificate; `certherd endpoint diagnose {}` explains a failure", w.target, w.name);
        }
        EndpointCmd::List(o) => {
            print_watches(&node.watches(Some(WatchKind::Endpoint))?, &node, o.output)
        }
        EndpointCmd::Remove { name } => {
            node.endpoint_remove(&name)?;
            println!("stopped watching {name}");
        }
        EndpointCmd::Diagnose {
            name,
            timeout: t,
            output,
        } => return diagnose(&mut node, &name, timeout(&t)?, output),
    }
    Ok(ExitCode::SUCCESS)
}

/// Seed 004's rule, automated: with verification on, then off. Success only without
/// verification means a certificate problem; failure both ways means network or credentials.
fn diagnose(
    node: &mut LocalNode,
    name: &str,
    t: Duration,
    output: Output,
) -> Result<ExitCode, Failure> {
    let w = node.endpoint(name)?;
    let host = w
        .target
        .rsplit_once(':')
        .map_or(w.target.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_owned();
    let check_name = w.server_name.clone().unwrap_or(host);
    let probe = certherd_tls::probe(&Endpoint {
        address: w.target.clone(),
        proxy: None,
        timeout: t,
        server_name: w.server_name.clone(),
    });
    let (verdict, kind, explanation) = match &probe {
        Err(e) => {
            let p = scan_problem(e);
            ("network", p.kind.clone(), format!("no TLS session even without verification: {} — check the address, the port, firewalls and that the service is running", p.message))
        }
        Ok(p) if p.chain.is_empty() => (
            "certificate",
            "no-certificate".into(),
            "the server presented no certificate".into(),
        ),
        Ok(p) => {
            let chain: Vec<Vec<u8>> = p.chain.iter().map(|c| c.to_vec()).collect();
            let v = node.judge_chain(&chain, &check_name)?;
            match v.problem(&check_name) {
                None => (
                    "ok",
                    "ok".into(),
                    format!("verified: the chain reaches a trusted root and covers {check_name}"),
                ),
                Some(problem) => {
                    let mut why = problem.message.clone();
                    if problem.kind == "untrusted" {
                        let leaf = CertInfo::from_der(&chain[0])?;
                        why = if leaf.self_issued {
                            format!("{why}: the certificate is self-signed ({}); trust it with `certherd trust add` only if you checked it", leaf.subject)
                        } else if chain.len() == 1 {
                            format!("{why}: the server sent only its own certificate (issuer {}); the chain is incomplete, or the issuing CA is not in trusted-roots", leaf.issuer)
                        } else {
                            format!("{why}: issuer {} is not in trusted-roots (`certherd trust add` its CA)", leaf.issuer)
                        };
                    }
                    ("certificate", problem.kind, why)
                }
            }
        }
    };
    // The result of the verified connection is what the watch records.
    let scan = match probe {
        Ok(p) if !p.chain.is_empty() => EndpointScan::Presented {
            chain: p.chain.iter().map(|c| c.to_vec()).collect(),
            version: p.version,
            cipher_suite: p.cipher_suite,
        },
        Ok(_) => EndpointScan::Failed(Problem {
            kind: "no-certificate".into(),
            message: "the server presented no certificate".into(),
        }),
        Err(e) => EndpointScan::Failed(scan_problem(&e)),
    };
    node.record_endpoint_scan(&w.target, w.server_name.as_deref(), &scan, Some(name))?;
    match output {
        Output::Json => json(
            &json!({"endpoint": name, "target": w.target, "name_checked": check_name, "verdict": verdict, "kind": kind, "explanation": explanation}),
        ),
        Output::Table => {
            println!("Endpoint     {name} ({})", w.target);
            println!(
                "Verdict      {}",
                match verdict {
                    "ok" => "OK",
                    "network" => "network or credentials problem",
                    _ => "certificate problem",
                }
            );
            println!("Finding      {kind}");
            println!("Explanation  {explanation}");
        }
    }
    Ok(if verdict == "ok" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
