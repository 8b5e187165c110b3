//! `cert ...` and `service add`.

use std::process::ExitCode;

use std::io::{IsTerminal, Write};

use certherd_ca::{
    Bulk, BulkStep, ExportContent, ExportFormat, ExportOptions, Plan, RenewSelection, Renewed,
    SkipReason, Skipped,
};
use certherd_core::{EntryRef, OffsetDateTime, Span, StoreName};
use certherd_store::{write_atomic, Home, HomeLock, LockHolder, Locked};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::args::{CertCmd, FormatArg, LayoutArg, Output, RenewArgs, ResetArgs, ServiceCmd};
use crate::failure::{read_certificates, read_input, read_secret};
use crate::instant::{parse_at, rfc3339};
use crate::render::{colon_hex, entry_json, json};
use crate::{open_node, Failure};

fn entry_ref(s: &str) -> Result<EntryRef, Failure> {
    Ok(s.parse::<EntryRef>()?)
}

fn print_issued(out: Output, node: &crate::LocalNode, issued: &certherd_ca::Issued, verb: &str) {
    let view = node.view(issued.meta.clone(), node.now());
    crate::views::issued(
        &certherd_ops::rows::cert_row(&view),
        &issued.warnings,
        verb,
        node.now(),
        out,
    );
}

/// `--reason` of `cert revoke`: an RFC 5280 reason name.
pub fn revocation_reason(text: &str) -> Result<certherd_x509::RevocationReason, Failure> {
    certherd_x509::RevocationReason::parse(text).ok_or_else(|| {
        Failure::usage(format!(
            "unknown revocation reason '{}' (expected one of: {})",
            text.escape_debug(),
            certherd_x509::RevocationReason::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
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
            let rows: Vec<_> = views
                .iter()
                .map(|v| certherd_ops::rows::listed_row(v, &folded))
                .collect();
            crate::views::cert_list(&rows, store.is_none(), a.output);
        }
        CertCmd::Renew(a) => return renew(home, &mut node, a),
        CertCmd::Reset(a) => return reset(home, &mut node, a),
        CertCmd::Import(a) => {
            let r = entry_ref(&a.entry)?;
            let cert = read_input(&a.cert)?;
            let _lock = lock_home(home, node.now(), "cert import")?;
            let imported = if let Some(pw) = &a.password_file {
                if a.key.is_some() || !a.chain.is_empty() {
                    return Err(Failure::usage(
                        "a PKCS#12 bundle carries its own key and chain; drop --key and --chain",
                    ));
                }
                let password = first_line(&read_secret(pw)?);
                node.import_pkcs12(&r, &cert, &password, a.profile.as_deref())
                    .map_err(|e| Failure::file(&a.cert, e))?
            } else if let Some(found) = pkcs12_without_password(&cert, &a.cert) {
                // A PKCS#12 file given without --password-file: opened as openssl opens it
                // (unencrypted, or an empty password), or one line saying it needs one.
                if a.key.is_some() || !a.chain.is_empty() {
                    return Err(Failure::usage(
                        "a PKCS#12 bundle carries its own key and chain; drop --key and --chain",
                    ));
                }
                match found {
                    certherd_x509::Found::Pkcs12Locked { .. } => {
                        return Err(Failure::msg(format!(
                            "{}: a PKCS#12 file protected by a password; give it with --password-file FILE",
                            a.cert.display()
                        )))
                    }
                    _ => node
                        .import_pkcs12(&r, &cert, "", a.profile.as_deref())
                        .map_err(|e| Failure::file(&a.cert, e))?,
                }
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
            match (a.output, imported.unchanged) {
                (Output::Json, unchanged) => {
                    let view = node.view(imported.issued.meta.clone(), node.now());
                    for w in &imported.issued.warnings {
                        errln!("warning: {w}");
                    }
                    let mut j = entry_json(&view);
                    j["unchanged"] = json!(unchanged);
                    json(&j);
                }
                (Output::Table, true) => outln!(
                    "unchanged {}: this certificate (SHA-256 {}) and key are already the live entry; nothing was changed and no backup was made",
                    imported.issued.meta.entry,
                    colon_hex(&imported.issued.meta.sha256)
                ),
                (Output::Table, false) => {
                    print_issued(Output::Table, &node, &imported.issued, "imported")
                }
            }
        }
        CertCmd::Export(a) => {
            let r = entry_ref(&a.entry)?;
            if let Some(layout) = a.layout {
                let layout = match layout {
                    LayoutArg::Libvirt => certherd_fleet::Layout::Libvirt,
                    LayoutArg::Qemu => certherd_fleet::Layout::Qemu,
                };
                let Some(dir) = &a.out else {
                    return Err(Failure::usage("--layout needs --out DIR"));
                };
                // Whether the qemu layout needs keyEncipherment follows the QEMU here.
                let qemu = match layout {
                    certherd_fleet::Layout::Qemu => certherd_agent::installed_qemu(),
                    certherd_fleet::Layout::Libvirt => certherd_fleet::QemuReader::NotFound,
                };
                let written = certherd_fleet::export_layout(&mut node, &r, layout, &qemu, dir)?;
                for path in written {
                    let mode = std::fs::metadata(&path)
                        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
                        .unwrap_or(0);
                    errln!("wrote {} ({mode:04o})", path.display());
                }
                return Ok(ExitCode::SUCCESS);
            }
            let format = match a.format {
                FormatArg::Pem => ExportFormat::Pem,
                FormatArg::Der => ExportFormat::Der,
                FormatArg::P12 => ExportFormat::P12,
            };
            let password = match &a.password_file {
                Some(p) => Some(first_line(&read_secret(p)?)),
                None => std::env::var("CERTHERD_P12_PASSWORD").ok(),
            };
            let content = if a.key_only {
                ExportContent::KeyOnly
            } else if a.key {
                ExportContent::WithKey
            } else {
                ExportContent::Certificate
            };
            let bytes = node.export_with(
                &r,
                &ExportOptions {
                    format,
                    content,
                    with_root: a.with_root,
                    password: password.as_deref(),
                },
            )?;
            match &a.out {
                Some(path) => {
                    if path.is_dir() {
                        return Err(Failure::msg(format!(
                            "--out {}: the output path is a directory; give a file name in it",
                            path.display()
                        )));
                    }
                    let key = content.has_key();
                    write_atomic(path, &bytes, if key { 0o600 } else { 0o644 })?;
                    errln!(
                        "wrote {}{}",
                        path.display(),
                        if key {
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
        other => return Err(crate::not_carried_out(&other)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Takes the home's lock for a command that replaces entries; says so on standard error
/// when another command holds it and this one waits.
pub(crate) fn lock_home(
    home: &Home,
    started: OffsetDateTime,
    what: &str,
) -> Result<Locked, Failure> {
    let me = LockHolder {
        pid: std::process::id(),
        started,
        what: what.to_owned(),
    };
    let path = home.lock_path();
    let waiting = |holder: Option<&LockHolder>| {
        match holder {
        Some(h) => errln!(
            "waiting: `certherd {}` (pid {}, started {}) holds this home; this run goes on when it ends",
            h.what,
            h.pid,
            rfc3339(h.started)
        ),
        None => errln!(
            "waiting: another certherd command holds {}; this run goes on when it ends",
            path.display()
        ),
    }
    };
    Ok(HomeLock::acquire(&path, &me, waiting)?)
}

/// Entries written at or after this instant were handled by the run we waited for.
fn handled_since(locked: &Locked, started: OffsetDateTime) -> Option<OffsetDateTime> {
    locked.waited.then(|| {
        locked
            .waited_for
            .as_ref()
            .map_or(started, |h| h.started.min(started))
    })
}

fn renew_selection(a: &RenewArgs) -> Result<RenewSelection, Failure> {
    Ok(if let Some(e) = &a.entry {
        RenewSelection::One(entry_ref(e)?)
    } else if let Some(p) = &a.profile {
        RenewSelection::Profile(p.clone())
    } else if a.all {
        RenewSelection::All
    } else if let Some(s) = &a.expiring_within {
        RenewSelection::ExpiringWithin(s.parse::<Span>()?)
    } else {
        RenewSelection::Due
    })
}

/// `--dry-run`: the entries a run would take (JSON: a list of them), and those it skips.
fn print_plan(out: Output, plan: &Plan, verb: &str) {
    match out {
        Output::Json => json(&json!(plan
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>())),
        Output::Table => {
            let n = plan.targets.len();
            outln!("would {verb} {n} entr{}", if n == 1 { "y" } else { "ies" });
            for t in &plan.targets {
                outln!("  {t}");
            }
            for s in &plan.skipped {
                outln!("skipped {}: {}", s.entry, crate::hints::skipped(s));
            }
        }
    }
}

fn skipped_json(s: &Skipped) -> serde_json::Value {
    json!({"entry": s.entry.to_string(), "ok": true, "skipped": true, "reason": s.reason.code(), "detail": crate::hints::skipped(s)})
}

fn renewed_json(r: &Renewed) -> serde_json::Value {
    match &r.result {
        Ok(i) => {
            json!({"entry": r.entry.to_string(), "ok": true, "skipped": false, "serial": i.meta.serial, "not_after": rfc3339(i.meta.not_after), "profile": i.meta.profile, "backup": r.backup.as_ref().map(ToString::to_string), "warnings": i.warnings})
        }
        Err(e) => json!({"entry": r.entry.to_string(), "ok": false, "error": e}),
    }
}

/// The results of a renewal or reset, printed one line per entry as each is committed
/// (flushed, so an interrupted run shows what it did), with a progress bar on a terminal.
struct Report {
    out: Output,
    verb: &'static str,
    bar: Option<ProgressBar>,
    elements: usize,
    done: usize,
    failed: usize,
    handled_elsewhere: usize,
}

impl Report {
    fn new(out: Output, verb: &'static str, total: usize) -> Self {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = (terminal && !ci && total > 1).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} {verb} {{elapsed}} (eta {{eta}}) {{msg}}"
            )) {
                bar.set_style(style);
            }
            bar
        });
        if matches!(out, Output::Json) {
            Self::emit_raw("[");
        }
        Self {
            out,
            verb,
            bar,
            elements: 0,
            done: 0,
            failed: 0,
            handled_elsewhere: 0,
        }
    }

    /// Writes one line to standard output and flushes it. A closed standard output does
    /// not stop the run: what is committed stays committed.
    fn emit_raw(line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn emit(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| Self::emit_raw(line)),
            None => Self::emit_raw(line),
        }
    }

    fn warn(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| errln!("{line}")),
            None => errln!("{line}"),
        }
    }

    fn element(&mut self, v: &serde_json::Value) {
        let text = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
        let sep = if self.elements == 0 { "" } else { "," };
        self.elements += 1;
        self.emit(&format!("{sep}{text}"));
    }

    fn step(&mut self, step: BulkStep) {
        match step {
            BulkStep::Done(r) => {
                self.tick(&r.entry);
                match &r.result {
                    Ok(_) => self.done += 1,
                    Err(_) => self.failed += 1,
                }
                self.renewed(&r);
            }
            BulkStep::Skipped(s) => {
                self.tick(&s.entry);
                self.skipped(&s);
            }
        }
    }

    fn tick(&self, entry: &EntryRef) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(entry.to_string());
        }
    }

    fn renewed(&mut self, r: &Renewed) {
        match self.out {
            Output::Json => self.element(&renewed_json(r)),
            Output::Table => match &r.result {
                Ok(i) => {
                    for w in &i.warnings {
                        self.warn(&format!("warning: {}: {w}", r.entry));
                    }
                    let reset = self.verb == "reset";
                    if let Some(h) = crate::hints::after_renewal(reset, i.meta.profile.as_deref()) {
                        self.warn(&format!("hint: {}: {h}", r.entry));
                    }
                    self.emit(&format!(
                        "{} {}  serial {}  not after {}  (previous kept as {})",
                        self.verb,
                        r.entry,
                        i.meta.serial,
                        rfc3339(i.meta.not_after),
                        r.backup
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ));
                }
                Err(e) => self.emit(&format!("FAILED  {}: {e}", r.entry)),
            },
        }
    }

    fn skipped(&mut self, s: &Skipped) {
        match self.out {
            Output::Json => self.element(&skipped_json(s)),
            // One line for all the entries the run we waited for renewed.
            Output::Table if matches!(s.reason, SkipReason::AlreadyDone { .. }) => {
                self.handled_elsewhere += 1;
            }
            Output::Table => self.emit(&format!(
                "skipped {}: {}",
                s.entry,
                crate::hints::skipped(s)
            )),
        }
    }

    /// Closes the JSON array or prints the summary; the exit code.
    fn finish(mut self, skipped: &[Skipped]) -> ExitCode {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        for s in skipped {
            self.skipped(s);
        }
        match self.out {
            Output::Json => Self::emit_raw("]"),
            Output::Table => {
                if self.handled_elsewhere > 0 {
                    Self::emit_raw(&format!(
                        "skipped {} entr{} that the run this one waited for had just handled; none is {} twice",
                        self.handled_elsewhere,
                        if self.handled_elsewhere == 1 { "y" } else { "ies" },
                        self.verb
                    ));
                }
                if self.done == 0
                    && self.failed == 0
                    && self.handled_elsewhere == 0
                    && skipped.is_empty()
                {
                    Self::emit_raw(&format!(
                        "nothing to {}",
                        if self.verb == "renewed" {
                            "renew"
                        } else {
                            "reset"
                        }
                    ));
                }
            }
        }
        if self.failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn renew(home: &Home, node: &mut crate::LocalNode, a: RenewArgs) -> Result<ExitCode, Failure> {
    let sel = renew_selection(&a)?;
    if a.dry_run {
        print_plan(a.output, &node.plan_renewal(&sel)?, "renew");
        return Ok(ExitCode::SUCCESS);
    }
    let started = node.now();
    let what = match &sel {
        RenewSelection::One(r) => format!("cert renew {r}"),
        RenewSelection::Profile(p) => format!("cert renew --profile {p}"),
        RenewSelection::All => "cert renew --all".into(),
        RenewSelection::ExpiringWithin(s) => format!("cert renew --expiring-within {s}"),
        RenewSelection::Due => "cert renew --due".into(),
    };
    let locked = lock_home(home, started, &what)?;
    let plan = node.plan_renewal(&sel)?;
    let mut report = Report::new(a.output, "renewed", plan.targets.len());
    node.run_bulk(
        &Bulk::Renew(sel),
        &plan.targets,
        handled_since(&locked, started),
        &mut |step| report.step(step),
    )?;
    Ok(report.finish(&plan.skipped))
}

fn reset(home: &Home, node: &mut crate::LocalNode, a: ResetArgs) -> Result<ExitCode, Failure> {
    let one = a.entry.as_deref().map(entry_ref).transpose()?;
    if a.dry_run {
        let mut plan = node.plan_reset()?;
        if let Some(r) = &one {
            if !plan.targets.contains(r) {
                node.show(r)?;
                return Err(Failure::msg(format!(
                    "{r} is not an imported entry; nothing to reset (`certherd cert renew {r}` renews a certherd-issued one)"
                )));
            }
            plan = Plan {
                targets: vec![r.clone()],
                skipped: Vec::new(),
            };
        }
        print_plan(a.output, &plan, "reset");
        return Ok(ExitCode::SUCCESS);
    }
    let started = node.now();
    let what = match &one {
        Some(r) => format!("cert reset {r}"),
        None => "cert reset --all".into(),
    };
    let locked = lock_home(home, started, &what)?;
    if let Some(r) = one {
        let (issued, backup) = node.reset(&r)?;
        let mut report = Report::new(a.output, "reset", 1);
        report.step(BulkStep::Done(Box::new(Renewed {
            entry: r,
            result: Ok(issued),
            backup: Some(backup),
        })));
        return Ok(report.finish(&[]));
    }
    let plan = node.plan_reset()?;
    let mut report = Report::new(a.output, "reset", plan.targets.len());
    node.run_bulk(
        &Bulk::Reset,
        &plan.targets,
        handled_since(&locked, started),
        &mut |step| report.step(step),
    )?;
    Ok(report.finish(&plan.skipped))
}

pub fn service(home: &Home, c: ServiceCmd) -> Result<ExitCode, Failure> {
    let ServiceCmd::Add { name, output } = c;
    let mut node = open_node(home)?;
    let issued = node.add_service(&name)?;
    print_issued(output, &node, &issued, "created");
    Ok(ExitCode::SUCCESS)
}

/// What `data` is when it is a PKCS#12 file (opened without a password, or locked), by its
/// content: `None` for PEM, a DER certificate, or anything else.
fn pkcs12_without_password(data: &[u8], path: &std::path::Path) -> Option<certherd_x509::Found> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match certherd_x509::discover(data, &name, None) {
        f @ (certherd_x509::Found::Pkcs12 { .. } | certherd_x509::Found::Pkcs12Locked { .. }) => {
            Some(f)
        }
        _ => None,
    }
}

/// The first line of a password file, without its line ending.
fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
