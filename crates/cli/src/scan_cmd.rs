//! `scan tls`, `scan files` and `endpoint`: arguments, progress bars, and rendering what
//! the scans found. The scans themselves (probing, walking, reading, recording) are
//! `certherd-monitor`'s; judging is `certherd-inspect`'s.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use certherd_core::{EntryMeta, Finding, ServerAddress, Span, Watch, WatchKind};
use certherd_inspect::Severity;
use certherd_monitor::probe::starttls_for;
use certherd_monitor::scan::{
    Diagnosis, FilesScanned, ScanError, TlsScanRequest, TlsScanned, Verdict,
};
use certherd_monitor::walk::{walk_at_most, SkippedPath, Walk, WalkError};
use certherd_monitor::MonitorExt;
use certherd_store::Store;
use certherd_tls::StartTls;
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

/// Parses `--starttls`.
pub fn parse_starttls(s: &Option<String>) -> Result<Option<StartTls>, Failure> {
    s.as_deref()
        .map(|p| {
            p.parse::<StartTls>()
                .map_err(|e| Failure::usage(format!("--starttls: {e}")))
        })
        .transpose()
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

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "kind": f.kind.as_str(),
        "severity": f.severity.as_str(),
        "message": f.message,
        "hint": f.hint,
        "subject": f.subject,
    })
}

fn watch_json(w: &Watch, node: &LocalNode) -> serde_json::Value {
    let cert = w
        .entry()
        .and_then(|r| node.store().entry(&r).ok().flatten().map(|e| e.meta));
    watch_json_meta(w, cert.as_ref())
}

/// [`watch_json`] with the watch's entry already at hand (no store lookup).
fn watch_json_meta(w: &Watch, cert: Option<&EntryMeta>) -> serde_json::Value {
    json!({
        "kind": w.kind.as_str(),
        "name": w.name,
        "target": w.target,
        "server_name": w.server_name,
        "starttls": w.starttls,
        "verify": w.verify,
        "pin_sha256": w.pin,
        "scanned_at": w.scanned_at.map(rfc3339),
        "severity": match w.severity() {
            certherd_core::Severity::Ok => "ok",
            certherd_core::Severity::Warning => "warning",
            certherd_core::Severity::Critical => "critical",
        },
        "finding": finding_column(w),
        "findings": w.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "facts": &w.facts,
        "subject": cert.map(|m| m.subject.clone()),
        "not_after": cert.map(|m| rfc3339(m.not_after)),
        "sha256": cert.map(|m| m.sha256.clone()),
    })
}

fn finding_column(w: &Watch) -> String {
    if w.scanned_at.is_none() {
        "not scanned yet".into()
    } else {
        certherd_inspect::summary(&w.findings)
    }
}

fn watch_row(w: &Watch, node: &LocalNode) -> Vec<String> {
    let cert = w
        .entry()
        .and_then(|r| node.store().entry(&r).ok().flatten().map(|e| e.meta));
    watch_row_meta(w, cert.as_ref())
}

/// [`watch_row`] with the watch's entry already at hand (no store lookup).
fn watch_row_meta(w: &Watch, cert: Option<&EntryMeta>) -> Vec<String> {
    vec![
        w.name.clone(),
        w.target.clone(),
        cert.as_ref().map_or("-".into(), |m| m.subject.clone()),
        cert.as_ref()
            .map_or("-".into(), |m| crate::instant::short(m.not_after)),
        finding_column(w),
    ]
}

/// The findings below a table: every warning and critical finding, with its hint.
fn print_findings(name: &str, findings: &[Finding]) {
    for f in findings.iter().filter(|f| f.is_problem()) {
        let name = crate::output::field(name);
        outln!(
            "  {name}: {} {}: {}",
            f.severity.as_str(),
            f.kind,
            crate::output::field(&f.message)
        );
        if let Some(h) = &f.hint {
            outln!(
                "  {:width$}  hint: {}",
                "",
                crate::output::field(h),
                width = name.chars().count()
            );
        }
    }
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
            for w in ws {
                print_findings(&w.name, &w.findings);
            }
        }
    }
}

fn scan_tls(home: &certherd_store::Home, a: ScanTlsArgs) -> Result<ExitCode, Failure> {
    let targets = targets_of(&a)?;
    let t = timeout(&a.timeout)?;
    let asked = parse_starttls(&a.starttls)?;
    if a.concurrency == 0 {
        return Err(Failure::usage("--concurrency must be at least 1"));
    }
    let mut node = open_node(home)?;
    let bar: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();
    let request = TlsScanRequest {
        targets,
        sni: a.sni,
        starttls: asked,
        concurrency: a.concurrency,
        timeout: t,
    };
    let scanned = certherd_monitor::scan::scan_tls(
        &mut node,
        &request,
        |n| {
            let _ = bar.set(progress(n, "targets"));
        },
        &|| {
            if let Some(b) = bar.get() {
                b.inc(1);
            }
        },
    );
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    let scanned = scanned?;
    let worst = scanned.worst();
    let TlsScanned {
        shown,
        new_names,
        kept,
    } = scanned;
    print_watches(&shown, &node, a.output);
    // Say what the scan left behind, and how to undo it: `check` and alarms watch it now.
    if !new_names.is_empty() {
        errln!(
            "now watched (check, alarms and the forecast see it): {}; stop with: certherd endpoint remove NAME",
            new_names.join(", ")
        );
    }
    for (name, protocol) in &kept {
        errln!(
            "not recorded: endpoint {name} is watched with STARTTLS {protocol}, and this scan used other settings; certherd endpoint diagnose {name} scans it as watched"
        );
    }
    Ok(verdict_exit(worst))
}

/// Writes `v` pretty, every line after the first indented by `indent` spaces.
fn write_indented(
    out: &mut impl Write,
    v: &serde_json::Value,
    indent: usize,
) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            writeln!(out)?;
            write!(out, "{:indent$}", "")?;
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The report of `scan files`, written while the scan records: JSON streams each watch
/// as its batch is committed; the table is printed at the end (its columns need every row).
struct FilesReport<W: Write> {
    out: W,
    output: Output,
    watched: usize,
    rows: Vec<Vec<String>>,
    problems: Vec<(String, Vec<Finding>)>,
    failed: Option<std::io::Error>,
    /// The worst finding of every watch reported, for the exit code.
    worst: Option<Severity>,
}

impl<W: Write> FilesReport<W> {
    fn new(mut out: W, output: Output) -> Self {
        let failed = match output {
            Output::Json => out.write_all(b"{\n  \"watched\": [").err(),
            Output::Table => None,
        };
        Self {
            out,
            output,
            watched: 0,
            rows: Vec::new(),
            problems: Vec::new(),
            failed,
            worst: None,
        }
    }

    fn watch(&mut self, w: &Watch, meta: Option<&EntryMeta>) {
        self.worst = self.worst.max(certherd_inspect::worst(&w.findings));
        if self.failed.is_some() {
            return;
        }
        match self.output {
            Output::Json => {
                let sep: &[u8] = if self.watched == 0 {
                    b"\n    "
                } else {
                    b",\n    "
                };
                if let Err(e) = self
                    .out
                    .write_all(sep)
                    .and_then(|()| write_indented(&mut self.out, &watch_json_meta(w, meta), 4))
                {
                    self.failed = Some(e);
                }
            }
            Output::Table => {
                self.rows.push(watch_row_meta(w, meta));
                if w.findings.iter().any(Finding::is_problem) {
                    self.problems.push((w.name.clone(), w.findings.clone()));
                }
            }
        }
        self.watched += 1;
    }

    fn finish(
        mut self,
        summary: serde_json::Value,
        walked: &Walk,
        skipped: &[SkippedPath],
    ) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure::msg(format!("writing the report: {e}"));
        if let Some(e) = self.failed.take() {
            return Err(io(e));
        }
        match self.output {
            Output::Json => {
                let out = &mut self.out;
                out.write_all(if self.watched == 0 { b"]" } else { b"\n  ]" })
                    .map_err(io)?;
                if let serde_json::Value::Object(fields) = summary {
                    for (k, v) in fields {
                        write!(out, ",\n  {}: ", serde_json::Value::String(k)).map_err(io)?;
                        write_indented(out, &v, 2).map_err(io)?;
                    }
                }
                out.write_all(b"\n}\n").map_err(io)?;
                out.flush().map_err(io)?;
            }
            Output::Table => {
                table(
                    &["NAME", "TARGET", "SUBJECT", "NOT AFTER", "FINDING"],
                    &self.rows,
                );
                for (name, findings) in &self.problems {
                    print_findings(name, findings);
                }
                for d in &walked.dangling {
                    errln!(
                        "dangling link: {} -> {}{}",
                        d.link.display(),
                        d.target.display(),
                        if d.looped { " (a loop of links)" } else { "" }
                    );
                }
                for k in skipped {
                    errln!("skipped: {}: {}", k.path.display(), k.reason);
                }
            }
        }
        Ok(())
    }
}

/// What a scan of files counted, for the report.
fn files_summary(
    walked: &Walk,
    examined: usize,
    with_findings: usize,
    skipped: &[SkippedPath],
) -> serde_json::Value {
    let k = &walked.skipped;
    json!({
        "files_examined": examined,
        "files_with_findings": with_findings,
        "links_followed": walked.link_count(),
        "dangling_links": walked.dangling.iter().map(|d| json!({
            "link": d.link.display().to_string(),
            "target": d.target.display().to_string(),
            "loop": d.looped,
        })).collect::<Vec<_>>(),
        // Paths met and not read, each with why (a FIFO, too large, a directory that
        // cannot be listed): the admin sees everything the scan did not look at.
        "skipped": skipped.iter().map(|s| json!({
            "path": certherd_monitor::walk::path_text(&s.path),
            "reason": s.reason.to_string(),
        })).collect::<Vec<_>>(),
        // Left out on purpose, counted: certherd's home, SQLite sidecars, directories
        // reached twice.
        "excluded": {
            "home": k.skip_dirs,
            "database_sidecars": k.database_sidecars,
            "repeated_directories": k.repeated_dirs,
            "links_out_of_pseudo_filesystems": k.links_out_of_pseudo,
        },
        // The bound of files the walk stopped at, or null when it saw everything.
        "stopped_at_max_files": walked.stopped_at,
    })
}

fn scan_files(home: &certherd_store::Home, a: ScanFilesArgs) -> Result<ExitCode, Failure> {
    let password = match &a.password_file {
        Some(f) => Some(
            String::from_utf8(crate::failure::read_secret(f)?)
                .map_err(|_| Failure::file(f, "not UTF-8 text"))?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
        None => None,
    };
    // certherd's own home (its database, its keys) is never scanned.
    if a.max_files == 0 {
        return Err(Failure::usage("--max-files must be at least 1"));
    }
    let walked =
        walk_at_most(&a.paths, &[home.dir().to_path_buf()], a.max_files).map_err(|e| match e {
            WalkError::Root { path, source } => Failure::file(&path, source),
            other => Failure::msg(other.to_string()),
        })?;
    let mut node = open_node(home)?;
    // Drawn only on a terminal, and from the recording thread only.
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| progress(walked.files.len(), "files"));
    let mut report = FilesReport::new(std::io::BufWriter::new(crate::output::stdout()), a.output);
    let scanned = certherd_monitor::scan::scan_files(
        &mut node,
        &walked,
        password.as_deref(),
        &mut || {
            if let Some(b) = &bar {
                b.inc(1);
            }
        },
        &mut |w, m| report.watch(w, m),
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let FilesScanned {
        examined,
        with_findings,
        skipped,
    } = scanned?;
    let summary = files_summary(&walked, examined, with_findings, &skipped);
    if matches!(a.output, Output::Table) {
        errln!(
            "{examined} files examined, {with_findings} hold certificates or keys; {} links followed, {} dangling; {} skipped",
            walked.link_count(),
            walked.dangling.len(),
            skipped.len()
        );
    }
    let mut worst = report.worst;
    if let Some(bound) = walked.stopped_at {
        errln!("scan stopped at {bound} files (--max-files): files past them were not scanned; name fewer paths or raise --max-files");
        // A scan that did not see everything is never "ok".
        worst = worst.max(Some(Severity::Warning));
    }
    report.finish(summary, &walked, &skipped)?;
    Ok(verdict_exit(worst))
}

/// The exit code of a scan, as `check` gives it: 0 when nothing needs attention, 1 for a
/// warning, 2 for a critical finding, so a script can tell.
fn verdict_exit(worst: Option<Severity>) -> ExitCode {
    match worst {
        Some(Severity::Critical) => ExitCode::from(2),
        Some(Severity::Warning) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
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
            starttls,
        } => {
            let addr: ServerAddress = address.parse()?;
            let proto = starttls_for(&addr.to_string(), parse_starttls(&starttls)?);
            let w = node.watches_mut().endpoint_add(
                &name,
                &addr,
                server_name.as_deref(),
                verify,
                proto.map(StartTls::as_str),
            )?;
            outln!(
                "watching {} at {}{}{}",
                w.name,
                w.target,
                w.starttls
                    .as_deref()
                    .map(|p| format!(" (STARTTLS {p})"))
                    .unwrap_or_default(),
                if verify { " (verified)" } else { "" }
            );
            errln!("next: `certherd scan tls {}` records its certificate; `certherd endpoint diagnose {}` explains a failure", w.target, w.name);
        }
        EndpointCmd::List(o) => print_watches(
            &node.watches().list(Some(WatchKind::Endpoint))?,
            &node,
            o.output,
        ),
        EndpointCmd::Remove { name } => {
            node.watches_mut().endpoint_remove(&name)?;
            outln!("stopped watching {name}");
        }
        EndpointCmd::Trust {
            name,
            thumbprint,
            timeout: t,
        } => return trust(&mut node, &name, thumbprint.as_deref(), timeout(&t)?),
        EndpointCmd::Diagnose {
            name,
            timeout: t,
            output,
        } => return diagnose(&mut node, &name, timeout(&t)?, output),
    }
    Ok(ExitCode::SUCCESS)
}

/// `endpoint trust`: pin what the endpoint presents now (after checking the thumbprint).
fn trust(
    node: &mut LocalNode,
    name: &str,
    thumbprint: Option<&str>,
    t: Duration,
) -> Result<ExitCode, Failure> {
    let trusted =
        certherd_monitor::scan::trust(node, name, thumbprint, t).map_err(|e| match e {
            ScanError::Node(e) => Failure::from(e),
            ScanError::Transport {
                name,
                target,
                finding,
            } => Failure {
                message: format!("{name} ({target}): {}", finding.message),
                hint: finding.hint,
                code: None,
            },
            e => Failure::msg(e.to_string()),
        })?;
    let info = certherd_x509::CertInfo::from_der(&trusted.leaf)?;
    outln!("pinned {name} ({})", trusted.watch.target);
    outln!("  Subject  {}", info.subject);
    outln!("  Issuer   {}", info.issuer);
    outln!("  Serial   {}", info.serial);
    outln!(
        "  Valid    {} to {}",
        rfc3339(info.not_before),
        rfc3339(info.not_after)
    );
    outln!("  SHA-256  {}", crate::render::colon_hex(&info.sha256));
    if thumbprint.is_none() {
        errln!("check that thumbprint against the appliance's own console; `certherd endpoint trust {name} --thumbprint SHA256` pins only a certificate you checked");
    }
    Ok(ExitCode::SUCCESS)
}

/// `endpoint diagnose`: seed 004's rule (see [`certherd_monitor::scan::diagnose`]),
/// rendered.
fn diagnose(
    node: &mut LocalNode,
    name: &str,
    t: Duration,
    output: Output,
) -> Result<ExitCode, Failure> {
    let Diagnosis {
        watch: w,
        check_name,
        starttls,
        verdict,
        findings,
        facts,
    } = certherd_monitor::scan::diagnose(node, name, t)?;
    match output {
        Output::Json => json(&json!({
            "endpoint": name,
            "target": w.target,
            "starttls": starttls.map(StartTls::as_str),
            "name_checked": check_name,
            "verdict": verdict.as_str(),
            "finding": certherd_inspect::summary(&findings),
            "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
            "facts": facts,
        })),
        Output::Table => {
            outln!(
                "Endpoint     {name} ({}{})",
                w.target,
                starttls
                    .map(|p| format!(", STARTTLS {p}"))
                    .unwrap_or_default()
            );
            outln!("Name         {check_name}");
            outln!(
                "Verdict      {}",
                match verdict {
                    Verdict::Ok if findings.iter().any(Finding::is_problem) => {
                        "OK: a verifying client accepts this certificate, with the warnings below"
                    }
                    Verdict::Ok => "OK: a verifying client accepts this certificate",
                    Verdict::Network => "network or credentials problem (no TLS session, even without verification)",
                    Verdict::Service => "service configuration problem (the service does not offer TLS)",
                    Verdict::Server => "server configuration problem (it offers only TLS 1.0/1.1, which current clients refuse; the network and credentials are not at fault)",
                    Verdict::Credentials => "credentials problem (the server requires a client certificate; its own certificate, when shown, is judged below)",
                    _ => "certificate problem (a TLS session opens without verification; with verification it fails)",
                }
            );
            let problems: Vec<&Finding> = findings.iter().filter(|f| f.is_problem()).collect();
            if !problems.is_empty() {
                outln!("Findings");
            }
            for f in &problems {
                outln!(
                    "  {:<9}{:<24} {}",
                    f.severity.as_str(),
                    f.kind.as_str(),
                    crate::output::field(&f.message)
                );
                if let Some(h) = &f.hint {
                    outln!("  {:<34}hint: {}", "", crate::output::field(h));
                }
            }
            for f in findings.iter().filter(|f| !f.is_problem()) {
                outln!(
                    "  {:<9}{:<24} {}",
                    f.severity.as_str(),
                    f.kind.as_str(),
                    crate::output::field(&f.message)
                );
            }
        }
    }
    Ok(if verdict == Verdict::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
