//! `cert ...`: list, show, issue, renew, reset, import, export, revoke, delete.
//!
//! The forms that are operations ([`operation`]) print from the admin API's types, so a
//! home and a server print the same; the others (bulk renewal, keys, layouts, imports)
//! run on the home.
use crate::commands::EntryArg;
use crate::commands::Ran;
use crate::render::short_of;
use crate::render::time_of;

use crate::commands::issue_lines;
use crate::commands::Output;
use crate::failure::read_certificates;
use crate::failure::read_input;
use crate::failure::read_secret;
use crate::instant::parse_at;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::render::ENTRY_HEADER;
use crate::Failure;
use certherd_authority::ExportContent;
use certherd_authority::ExportFormat;
use certherd_authority::ExportOptions;
use certherd_authority::SkipReason;
use certherd_core::EntryRef;
use certherd_core::OffsetDateTime;
use certherd_core::Span;
use certherd_core::StoreName;
use certherd_ops::CertFilter;
use certherd_ops::Operations;
use certherd_ops::Request;
use certherd_protocol::admin as api;
use certherd_store::write_out;
use certherd_store::Home;
use clap::Args;
use clap::Subcommand;
use clap::ValueEnum;
use indicatif::ProgressBar;
use indicatif::ProgressDrawTarget;
use indicatif::ProgressStyle;
use std::io::IsTerminal;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

fn entry_ref(s: &str) -> Result<EntryRef, Failure> {
    Ok(s.parse::<EntryRef>()?)
}

/// `--key-algo`: a key algorithm's name (a usage error otherwise).
fn key_algo(name: Option<&str>) -> Result<Option<certherd_x509::KeyAlgorithm>, Failure> {
    name.map(|n| {
        n.parse()
            .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))
    })
    .transpose()
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
                let written = certherd_fleet::export_layout(&mut node, &r, layout, &qemu, dir)
                    .map_err(|e| crate::hints::layout_export_error(&e, &r))?;
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
                    write_out(path, &bytes, if key { 0o600 } else { 0o644 })?;
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
        other => return Err(crate::not_carried_out(&other)),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `cert renew` without one named entry (or with `--dry-run`) asks for.
fn renew_select(a: &RenewArgs) -> Result<api::RenewSelect, Failure> {
    Ok(if let Some(e) = &a.entry {
        api::RenewSelect::One {
            entry: entry_ref(e)?.to_string(),
        }
    } else if let Some(p) = &a.profile {
        api::RenewSelect::Profile { profile: p.clone() }
    } else if a.all {
        api::RenewSelect::All
    } else if let Some(s) = &a.expiring_within {
        s.parse::<Span>()?;
        api::RenewSelect::ExpiringWithin { span: s.clone() }
    } else {
        api::RenewSelect::Due
    })
}

/// `--dry-run`: the entries a run would take (JSON: a list of them), and those it skips.
fn print_plan(out: Output, plan: &api::RunAnswer, verb: &str) {
    match out {
        Output::Json => json(&plan.targets),
        Output::Table => {
            let n = plan.targets.len();
            outln!("would {verb} {n} entr{}", if n == 1 { "y" } else { "ies" });
            for t in &plan.targets {
                outln!("  {t}");
            }
            for s in &plan.skipped {
                outln!("skipped {}: {}", s.entry, skip_words(s));
            }
        }
    }
}

/// Why an entry was left alone, with the command that deals with it.
fn skip_words(s: &api::ReissueSkip) -> String {
    crate::hints::skip_reason(&s.reason, &s.entry, &s.detail)
}

/// `cert import --output json`: the entry, and whether it was there already.
#[derive(serde::Serialize)]
struct ImportedJson<'a> {
    #[serde(flatten)]
    entry: CertJson<'a>,
    unchanged: bool,
}

/// `cert import`: the files read and checked here (each error naming its file), the
/// entry written by the operation, a PKCS#12 file's refusals naming the file too.
fn cert_import(ops: &mut dyn Operations, a: ImportArgs) -> Result<ExitCode, Failure> {
    use certherd_ops::{ImportSource, Secret};
    let entry = entry_ref(&a.entry)?;
    let cert = read_input(&a.cert)?;
    let pkcs12_alone = || {
        if a.key.is_some() || !a.chain.is_empty() {
            return Err(Failure::usage(
                "a PKCS#12 bundle carries its own key and chain; drop --key and --chain",
            ));
        }
        Ok(())
    };
    let source = if let Some(pw) = &a.password_file {
        pkcs12_alone()?;
        ImportSource::Pkcs12 {
            data: Secret(cert),
            password: Secret(first_line(&read_secret(pw)?).into_bytes()),
        }
    } else if let Some(found) = pkcs12_without_password(&cert, &a.cert) {
        // A PKCS#12 file given without --password-file: opened as openssl opens it
        // (unencrypted, or an empty password), or one line saying it needs one.
        pkcs12_alone()?;
        if let certherd_x509::Found::Pkcs12Locked { .. } = found {
            return Err(Failure::msg(format!(
                "{}: a PKCS#12 file protected by a password; give it with --password-file FILE",
                a.cert.display()
            )));
        }
        ImportSource::Pkcs12 {
            data: Secret(cert),
            password: Secret(Vec::new()),
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
        ImportSource::Files {
            cert,
            chain,
            key: key.map(Secret),
        }
    };
    let pkcs12 = matches!(source, ImportSource::Pkcs12 { .. });
    let imported = match ops.cert_import(entry, source, a.profile) {
        Ok(i) => i,
        Err(e) if pkcs12 => return Err(Failure::file(&a.cert, e)),
        Err(e) => return Err(e.into()),
    };
    use certherd_core::Clock;
    let c = &imported.certificate;
    match (a.output, imported.unchanged) {
        (Output::Json, unchanged) => {
            for w in &imported.warnings {
                errln!("warning: {w}");
            }
            json(&ImportedJson {
                entry: cert_json(c),
                unchanged,
            });
        }
        (Output::Table, true) => outln!(
            "unchanged {}/{}: this certificate (SHA-256 {}) and key are already the live entry; nothing was changed and no backup was made",
            c.store,
            c.alias,
            colon_hex(&c.sha256)
        ),
        (Output::Table, false) => print_issued_answer(
            c,
            &imported.warnings,
            "imported",
            certherd_authority::SystemClock.now(),
            Output::Table,
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// One element of a renewal's or reset's JSON list; its fields differ by outcome.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum RenewalJson<'a> {
    /// Renewed: the new certificate. `ok` is true and `skipped` false.
    Renewed {
        entry: String,
        ok: bool,
        skipped: bool,
        serial: &'a str,
        not_after: String,
        profile: Option<&'a str>,
        backup: Option<String>,
        warnings: &'a [String],
    },
    /// The renewal failed. `ok` is false.
    Failed {
        entry: String,
        ok: bool,
        error: &'a str,
    },
    /// Not renewed, and why. `ok` and `skipped` are true.
    Skipped {
        entry: String,
        ok: bool,
        skipped: bool,
        reason: &'a str,
        detail: String,
    },
}

fn skipped_json(s: &api::ReissueSkip) -> RenewalJson<'_> {
    RenewalJson::Skipped {
        entry: s.entry.clone(),
        ok: true,
        skipped: true,
        reason: &s.reason,
        detail: skip_words(s),
    }
}

fn renewed_json(r: &api::RunStep) -> RenewalJson<'_> {
    match r {
        api::RunStep::Renewed {
            entry,
            serial,
            not_after,
            profile,
            backup,
            warnings,
        } => RenewalJson::Renewed {
            entry: entry.clone(),
            ok: true,
            skipped: false,
            serial,
            not_after: not_after.clone(),
            profile: profile.as_deref(),
            backup: backup.clone(),
            warnings,
        },
        api::RunStep::Failed { entry, error } => RenewalJson::Failed {
            entry: entry.clone(),
            ok: false,
            error,
        },
        api::RunStep::Skipped(s) => skipped_json(s),
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
    /// Whether a run shows a progress bar: on a terminal, outside CI.
    fn shows_bar() -> bool {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && !ci
    }

    fn new(out: Output, verb: &'static str, total: usize) -> Self {
        let bar = (Self::shows_bar() && total > 1).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} {verb} {{elapsed}} (eta {{eta}}) {{msg}}"
            )) {
                bar.set_style(style);
            }
            bar
        });
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

    fn element(&mut self, v: &RenewalJson<'_>) {
        let text = crate::render::json_line(v);
        // The array opens at its first element (or when it closes empty), so a run refused
        // before it starts prints nothing on standard output.
        let sep = if self.elements == 0 { "[\n" } else { "," };
        self.elements += 1;
        self.emit(&format!("{sep}{text}"));
    }

    fn step(&mut self, step: &api::RunStep) {
        match step {
            api::RunStep::Renewed { entry, .. } | api::RunStep::Failed { entry, .. } => {
                self.tick(entry);
                match step {
                    api::RunStep::Failed { .. } => self.failed += 1,
                    _ => self.done += 1,
                }
                self.renewed(step);
            }
            api::RunStep::Skipped(s) => {
                self.tick(&s.entry);
                self.skipped(s);
            }
        }
    }

    fn tick(&self, entry: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(entry.to_owned());
        }
    }

    fn renewed(&mut self, r: &api::RunStep) {
        match (self.out, r) {
            (Output::Json, _) => self.element(&renewed_json(r)),
            (
                Output::Table,
                api::RunStep::Renewed {
                    entry,
                    serial,
                    not_after,
                    profile,
                    backup,
                    warnings,
                },
            ) => {
                for w in warnings {
                    self.warn(&format!("warning: {entry}: {w}"));
                }
                let reset = self.verb == "reset";
                if let Some(h) = crate::hints::after_renewal(reset, profile.as_deref()) {
                    self.warn(&format!("hint: {entry}: {h}"));
                }
                self.emit(&format!(
                    "{} {entry}  serial {serial}  not after {not_after}  (previous kept as {})",
                    self.verb,
                    backup.as_deref().unwrap_or_default()
                ));
            }
            (Output::Table, api::RunStep::Failed { entry, error }) => {
                self.emit(&format!("FAILED  {entry}: {error}"))
            }
            (Output::Table, api::RunStep::Skipped(s)) => self.skipped(s),
        }
    }

    fn skipped(&mut self, s: &api::ReissueSkip) {
        match self.out {
            Output::Json => self.element(&skipped_json(s)),
            // One line for all the entries the run we waited for renewed.
            Output::Table if s.reason == SkipReason::ALREADY_DONE => {
                self.handled_elsewhere += 1;
            }
            Output::Table => self.emit(&format!("skipped {}: {}", s.entry, skip_words(s))),
        }
    }

    /// Takes the progress bar away after a run that failed as a whole.
    fn abandon(mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Closes the JSON array or prints the summary; the exit code.
    fn finish(mut self, skipped: &[api::ReissueSkip]) -> ExitCode {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        for s in skipped {
            self.skipped(s);
        }
        match self.out {
            Output::Json if self.elements == 0 => Self::emit_raw("[\n]"),
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
                        if self.verb == Run::Renewal.done_verb() {
                            Run::Renewal.plan_verb()
                        } else {
                            Run::Reset.plan_verb()
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

/// `cert renew` of a selection (or any `--dry-run`): each entry's line as it is
/// committed, then those left alone; exit 1 when one failed.
fn renew_run(ops: &mut dyn Operations, a: RenewArgs) -> Result<ExitCode, Failure> {
    // A dry run of one entry with --key-algo: the name is checked all the same.
    key_algo(a.key_algo.as_deref())?;
    let request = |dry_run| -> Result<Request, Failure> {
        Ok(Request::Renewals(api::RenewalsRequest {
            select: renew_select(&a)?,
            dry_run,
        }))
    };
    run_report(ops, request, a.dry_run, a.output, Run::Renewal)
}

/// `cert reset --all` (or any `--dry-run`), as `cert renew` reports a run.
fn reset_run(ops: &mut dyn Operations, a: ResetArgs) -> Result<ExitCode, Failure> {
    let one = a.entry.as_deref().map(entry_ref).transpose()?;
    let request = |dry_run| Ok(Request::Resets(api::ResetsRequest { dry_run }));
    if !a.dry_run || one.is_none() {
        return run_report(ops, request, a.dry_run, a.output, Run::Reset);
    }
    let mut plan = ops.run(request(true)?, &mut |_| {})?;
    if let Some(r) = one {
        if !plan.targets.contains(&r.to_string()) {
            ops.cert_show(r.clone())?;
            return Err(Failure::msg(format!(
                "{r} is not an imported entry; nothing to reset (`certherd cert renew {r}` renews a certherd-issued one)"
            )));
        }
        plan = api::RunAnswer {
            targets: vec![r.to_string()],
            ..api::RunAnswer::default()
        };
    }
    print_plan(a.output, &plan, "reset");
    Ok(ExitCode::SUCCESS)
}

/// Which run a report is of.
#[derive(Clone, Copy)]
enum Run {
    Renewal,
    Reset,
}

impl Run {
    /// The verb of a plan (`would renew 3 entries`).
    fn plan_verb(self) -> &'static str {
        match self {
            Run::Renewal => "renew",
            Run::Reset => "reset",
        }
    }

    /// The verb of each line (`renewed web/www ...`).
    fn done_verb(self) -> &'static str {
        match self {
            Run::Renewal => "renewed",
            Run::Reset => "reset",
        }
    }
}

/// Runs (or plans, `dry_run`) the renewal or reset `request` makes, and reports it: a
/// progress bar on a terminal (its length from a plan asked first).
fn run_report(
    ops: &mut dyn Operations,
    request: impl Fn(bool) -> Result<Request, Failure>,
    dry_run: bool,
    output: Output,
    run: Run,
) -> Result<ExitCode, Failure> {
    if dry_run {
        let plan = ops.run(request(true)?, &mut |_| {})?;
        print_plan(output, &plan, run.plan_verb());
        return Ok(ExitCode::SUCCESS);
    }
    let verb = run.done_verb();
    let total = if Report::shows_bar() {
        ops.run(request(true)?, &mut |_| {})?.targets.len()
    } else {
        0
    };
    let request = request(false)?;
    let mut report = Report::new(output, verb, total);
    let answer = ops.run(request, &mut |step| report.step(step));
    match answer {
        Ok(answer) => Ok(report.finish(&answer.skipped)),
        Err(e) => {
            report.abandon();
            Err(e.into())
        }
    }
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

/// `cert renew STORE/ALIAS`: a new key and certificate, the old one kept in backup.
pub(crate) fn cert_renew(ops: &mut dyn Operations, a: RenewArgs) -> Result<ExitCode, Failure> {
    let entry: EntryRef = a.entry.as_deref().unwrap_or_default().parse()?;
    let renewed = ops.cert_renew(entry, key_algo(a.key_algo.as_deref())?)?;
    print_replaced(&renewed, "renewed", a.output);
    Ok(ExitCode::SUCCESS)
}

/// `cert reset STORE/ALIAS`: one imported entry replaced by a CA-issued one.
fn cert_reset(ops: &mut dyn Operations, a: ResetArgs) -> Result<ExitCode, Failure> {
    let entry = entry_ref(a.entry.as_deref().unwrap_or_default())?;
    let reset = ops.cert_reset(entry)?;
    print_replaced(&reset, "reset", a.output);
    Ok(ExitCode::SUCCESS)
}

/// One entry renewed or reset (`verb`), as the home's run reports one entry: the JSON
/// array of one row, or its line with its warnings and hint on standard error.
fn print_replaced(replaced: &api::IssuedAnswer, verb: &str, output: Output) {
    let c = &replaced.certificate;
    let name = format!("{}/{}", c.store, c.alias);
    let not_after = crate::render::time_of(&c.not_after)
        .map_or_else(|| c.not_after.clone(), crate::instant::rfc3339);
    match output {
        Output::Json => {
            let v = RenewalJson::Renewed {
                entry: name,
                ok: true,
                skipped: false,
                serial: &c.serial,
                not_after,
                profile: c.profile.as_deref(),
                backup: replaced.backup.clone(),
                warnings: &replaced.warnings,
            };
            outln!("[");
            outln!("{}", crate::render::json_line(&v));
            outln!("]");
        }
        Output::Table => {
            for w in &replaced.warnings {
                errln!("warning: {name}: {w}");
            }
            if let Some(h) = crate::hints::after_renewal(verb == "reset", c.profile.as_deref()) {
                errln!("hint: {name}: {h}");
            }
            outln!(
                "{verb} {name}  serial {}  not after {not_after}  (previous kept as {})",
                c.serial,
                replaced.backup.clone().unwrap_or_default()
            );
        }
    }
}

/// `cert issue`: the arguments checked here (a usage error exits 2), the issuing the
/// operation's.
pub(crate) fn cert_issue(ops: &mut dyn Operations, a: IssueArgs) -> Result<ExitCode, Failure> {
    if let Some(from) = &a.from {
        return cert_issue_from(ops, from, a.output);
    }
    // clap requires both without --from.
    let (Some(profile), Some(store)) = (a.profile, a.store) else {
        return Err(Failure::usage("give --profile and --store, or --from FILE"));
    };
    let store: StoreName = store.parse()?;
    let alias = a
        .alias
        .clone()
        .or_else(|| a.cn.clone())
        .or_else(|| a.sans.first().cloned())
        .ok_or_else(|| Failure::usage("give --alias, --cn or --san"))?;
    key_algo(a.key_algo.as_deref())?;
    if let Some(cn) = &a.cn {
        crate::input::printable("--cn", cn).map_err(|e| Failure::usage(e.to_string()))?;
    }
    for name in &a.sans {
        crate::input::printable("--san", name).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let entry = EntryRef::new(store, alias.parse()?);
    let issued = ops
        .cert_issue(certherd_protocol::admin::IssueRequest {
            store: entry.store.to_string(),
            alias: entry.alias.to_string(),
            profile,
            common_name: a.cn,
            names: a.sans,
            key_algo: a.key_algo,
        })
        .map_err(|e| match e {
            // The common name's rules, worded by the flags that set it.
            certherd_ops::Error::Node(certherd_authority::Error::CommonNameTooLong { length, from_name }) => Failure::usage(
                if from_name {
                    format!("the first --san, the common name without --cn, is {length} characters; RFC 5280 allows a common name of at most {} (ub-common-name): give a shorter --cn", certherd_x509::UB_COMMON_NAME)
                } else {
                    format!("--cn is {length} characters; RFC 5280 allows at most {} (ub-common-name)", certherd_x509::UB_COMMON_NAME)
                },
            ),
            certherd_ops::Error::Node(certherd_authority::Error::CommonNameEmpty { from_name }) => Failure::usage(
                if from_name {
                    "the first --san, the common name without --cn, is empty; give a --cn of 1 to 64 characters".to_owned()
                } else {
                    format!("--cn is empty or only spaces; RFC 5280 requires a common name of 1 to {} characters", certherd_x509::UB_COMMON_NAME)
                },
            ),
            e => e.into(),
        })?;
    use certherd_core::Clock;
    print_issued_answer(
        &issued.certificate,
        &issued.warnings,
        "issued",
        certherd_authority::SystemClock.now(),
        a.output,
    );
    Ok(ExitCode::SUCCESS)
}

/// `cert export ENTRY` as PEM: the certificate and its chain, the root only with
/// `--with-root`, to standard output or `--out FILE`.
pub(crate) fn cert_export(ops: &mut dyn Operations, a: ExportArgs) -> Result<ExitCode, Failure> {
    let entry: EntryRef = a.entry.parse()?;
    if let Some(path) = a.out.as_ref().filter(|p| p.is_dir()) {
        return Err(Failure::msg(format!(
            "--out {}: the output path is a directory; give a file name in it",
            path.display()
        )));
    }
    if a.format == FormatArg::Der && a.with_root {
        return Err(certherd_authority::Error::ExportOptions(
            certherd_authority::ExportConflict::DerWithRoot,
        )
        .into());
    }
    let e = ops.cert_export(entry)?;
    if a.format == FormatArg::Der {
        // DER holds one certificate: the entry's own.
        let der = certherd_x509::parse_certificates(e.certificate.as_bytes())?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        return match &a.out {
            Some(path) => {
                certherd_store::write_out(path, &der, 0o644)?;
                errln!("wrote {}", path.display());
                Ok(ExitCode::SUCCESS)
            }
            None if std::io::stdout().is_terminal() => Err(Failure::usage(
                "refusing to write binary output to a terminal; use --out FILE or redirect",
            )),
            None => {
                crate::output::raw(&der).map_err(|e| Failure::msg(format!("stdout: {e}")))?;
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let mut pem = e.certificate;
    let n = e.chain.len();
    for (i, c) in e.chain.iter().enumerate() {
        let root = i + 1 == n
            && certherd_x509::parse_certificates(c.as_bytes())
                .ok()
                .and_then(|d| d.first().cloned())
                .and_then(|d| certherd_x509::CertInfo::from_der(&d).ok())
                .is_some_and(|info| info.self_issued);
        if a.with_root || !root {
            pem.push_str(c);
        }
    }
    match &a.out {
        Some(path) => {
            certherd_store::write_out(path, pem.as_bytes(), 0o644)?;
            errln!("wrote {}", path.display());
        }
        None => out!("{pem}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn cert_list(
    ops: &mut dyn Operations,
    store: Option<String>,
    at: Option<&str>,
    output: crate::commands::Output,
) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    if let Some(s) = &store {
        s.parse::<StoreName>()?;
    }
    let at = at
        .map(|s| parse_at(s, certherd_authority::SystemClock.now()))
        .transpose()?;
    let all = store.is_none();
    let rows = ops.cert_list(CertFilter {
        store,
        at,
        ..CertFilter::default()
    })?;
    print_list(&rows, all, output);
    Ok(ExitCode::SUCCESS)
}

/// An entry's JSON object without `also_seen_at`, for the outputs that show one entry
/// or a store's (`cert issue`, `cert show`, `trust list`...): the fields of
/// [`api::CertRow`] but that one, in the same form.
#[derive(serde::Serialize)]
pub struct CertJson<'a> {
    store: &'a str,
    alias: &'a str,
    profile: Option<&'a str>,
    source: &'a str,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    not_before: &'a str,
    not_after: &'a str,
    days_left: i64,
    status: &'a str,
    auto_renew: bool,
    renew_after: Option<&'a str>,
    has_key: bool,
    sha256: &'a str,
}

/// An entry's JSON object without `also_seen_at`, borrowed from its row (`cert list`
/// prints the whole [`api::CertRow`], copies included).
pub fn cert_json(c: &api::CertRow) -> CertJson<'_> {
    // Destructured, so that a field added to `CertRow` is a compile error here until it
    // is either shown or left out on purpose.
    let api::CertRow {
        store,
        alias,
        profile,
        source,
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        days_left,
        status,
        auto_renew,
        renew_after,
        has_key,
        sha256,
        also_seen_at: _,
    } = c;
    CertJson {
        store,
        alias,
        profile: profile.as_deref(),
        source,
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        days_left: *days_left,
        status,
        auto_renew: *auto_renew,
        renew_after: renew_after.as_deref(),
        has_key: *has_key,
        sha256,
    }
}

/// `cert show --output json`: the entry (as [`cert_json`]) and what the certificate says.
/// `path_len` is left out, as it always was: the table shows it with `is_ca`.
#[derive(serde::Serialize)]
struct DetailJson<'a> {
    #[serde(flatten)]
    certificate: CertJson<'a>,
    sans: &'a [String],
    key_usage: &'a [String],
    extended_key_usage: &'a [String],
    public_key: &'a str,
    signature_algorithm: &'a str,
    is_ca: bool,
    sha1: &'a str,
    chain: &'a [api::ChainCert],
}

/// `cert list`: one row per entry; with `copies_under`, the other places each
/// certificate was seen, under the table.
pub fn print_list(rows: &[api::CertRow], copies_under: bool, output: Output) {
    match output {
        Output::Json => json(rows),
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

/// An entry just written (`cert issue`, `service add`...): `verb` says how, and the
/// expiry is worded as seen at `now`.
pub fn print_issued_answer(
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
        Output::Json => json(&cert_json(c)),
        Output::Table => outln!("{}", issued_line(c, verb, now)),
    }
}

/// The line `cert issue` prints for the entry it wrote.
fn issued_line(c: &api::CertRow, verb: &str, now: OffsetDateTime) -> String {
    let when = time_of(&c.not_after);
    format!(
        "{verb} {}/{}  serial {}  not after {}  ({})",
        c.store,
        c.alias,
        c.serial,
        c.not_after,
        when.map_or_else(String::new, |t| certherd_inspect::wording::expiry(t, now))
    )
}

/// Reads `cert issue --from`'s file (`-`: standard input), at most
/// [`issue_lines::FILE_LIMIT`] bytes.
fn read_requests(from: &Path) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    if from == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(issue_lines::FILE_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::msg(format!("standard input: {e}")))?;
        if bytes.len() as u64 > issue_lines::FILE_LIMIT {
            return Err(Failure::msg(format!(
                "standard input: more than {} bytes, the limit of a request file",
                issue_lines::FILE_LIMIT
            )));
        }
        return Ok(bytes);
    }
    crate::input::read(from, crate::input::Kind::Requests).map_err(|e| Failure::msg(e.to_string()))
}

/// `cert issue --from FILE`: every line checked, then the requests issued a batch at a
/// time (one transaction each), each batch's lines printed when it is committed: the
/// line `cert issue` prints per entry, or one JSON array of the entries.
fn cert_issue_from(
    ops: &mut dyn Operations,
    from: &Path,
    output: Output,
) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let bytes = read_requests(from)?;
    let shown = if from == Path::new("-") {
        "standard input".to_owned()
    } else {
        from.display().to_string()
    };
    let requests =
        issue_lines::parse(&bytes).map_err(|e| Failure::usage(format!("{shown}: {e}")))?;
    drop(bytes);
    let mut issued = 0usize;
    let mut out = String::new();
    for batch in issue_lines::batches(&requests) {
        let (first, last) = match (batch.first(), batch.last()) {
            (Some(f), Some(l)) => (f.line, l.line),
            _ => continue,
        };
        let answer = ops.cert_issue_batch(api::IssueBatchRequest {
            requests: batch.iter().map(|n| n.request.clone()).collect(),
        });
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                // What was committed stays a whole JSON array.
                if matches!(output, Output::Json) && issued > 0 {
                    let _ = crate::output::raw(b"\n]\n");
                }
                let mut f = Failure::from(e);
                f.message = format!(
                    "{shown}: lines {first}-{last}: {}; none of these lines was issued{}",
                    f.message,
                    if issued > 0 {
                        format!(" (the {issued} before them were)")
                    } else {
                        String::new()
                    }
                );
                return Err(f);
            }
        };
        let now = certherd_authority::SystemClock.now();
        out.clear();
        for a in &answer.issued {
            let c = &a.certificate;
            for w in &a.warnings {
                errln!("warning: {}/{}: {w}", c.store, c.alias);
            }
            match output {
                Output::Json => {
                    out.push_str(if issued == 0 { "[\n" } else { ",\n" });
                    out.push_str(&crate::render::json_line(&cert_json(c)));
                }
                Output::Table => {
                    out.push_str(&issued_line(c, "issued", now));
                    out.push('\n');
                }
            }
            issued += 1;
        }
        match output {
            Output::Json => {
                if let Err(e) = crate::output::raw(out.as_bytes()) {
                    return Err(Failure::msg(format!("writing to stdout: {e}")));
                }
            }
            Output::Table => crate::output::human(format_args!("{out}")),
        }
    }
    if matches!(output, Output::Json) {
        let _ = crate::output::raw(if issued == 0 { b"[\n]\n" } else { b"\n]\n" });
    }
    Ok(ExitCode::SUCCESS)
}

/// `cert show`.
pub fn cert_detail(d: &api::CertDetail, output: Output) {
    let c = &d.certificate;
    match output {
        Output::Json => {
            json(&DetailJson {
                certificate: cert_json(c),
                sans: &d.sans,
                key_usage: &d.key_usage,
                extended_key_usage: &d.extended_key_usage,
                public_key: &d.public_key,
                signature_algorithm: &d.signature_algorithm,
                is_ca: d.is_ca,
                sha1: &d.sha1,
                chain: &d.chain,
            });
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

/// `cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// List entries: STORE/ALIAS, SUBJECT, ISSUER, NOT AFTER, DAYS LEFT, STATUS.
    List(CertListArgs),
    /// Show one entry: subject, issuer, serial, validity, SANs, key usage, EKU, thumbprints, chain.
    Show(EntryOutputArgs),
    /// Issue a new certificate and key under a profile.
    Issue(IssueArgs),
    /// Renew: a new key and certificate with the profile's full lifetime.
    ///
    /// The replaced entry moves to the `backup` store under a timestamped alias (kept for
    /// the backup retention, 30 days by default). Imported certificates are not renewed:
    /// a bulk run lists them as skipped (`certherd cert reset` replaces one with a
    /// CA-issued certificate).
    ///
    /// Each result line is printed as soon as its renewal is committed, so a run that is
    /// interrupted shows exactly what it did; on a terminal a progress bar runs on
    /// standard error. Renewals hold the home's lock (HOME/certherd.lock): a second run
    /// waits for the first, then skips every entry the first one renewed. Backups past
    /// the retention are pruned once per run.
    Renew(RenewArgs),
    /// Replace an imported (custom) certificate with a certherd-issued one.
    ///
    /// The way back from custom mode, as certificate-manager's option 8 ("reset all
    /// certificates"): a new key and a certificate from certherd's CA for the same names
    /// (the imported certificate's subject CN, DNS and IP SANs), under the profile the
    /// entry was imported with; else the store's name if that is a profile (machine-ssl,
    /// service, host, ...); else `service` for a clientAuth-only certificate and
    /// `machine-ssl` (serverAuth + clientAuth) for any other. The imported certificate
    /// moves to the backup store and the audit log records the reset; from then on the
    /// entry renews automatically.
    ///
    /// Whoever trusted the imported certificate's issuer must now trust certherd's CA
    /// (`certherd ca export`).
    ///
    /// Examples:
    ///   certherd cert reset machine-ssl/machine --dry-run
    ///   certherd cert reset machine-ssl/machine
    ///   certherd cert reset --all --output json
    #[command(verbatim_doc_comment)]
    Reset(ResetArgs),
    /// Import a certificate issued elsewhere, with its chain and key.
    ///
    /// Accepts PEM or DER, and bundles in any order. Refused, with nothing changed, when
    /// the key does not match, the chain does not reach a trusted root, the certificate
    /// is expired or not yet valid, a machine-ssl certificate does not cover the node's
    /// hostname, or its EKU does not fit the profile. Imported certificates are monitored
    /// but not renewed automatically (`certherd cert reset` goes back to a CA-issued
    /// one). Importing the certificate and key that are already the live entry changes
    /// nothing and says so.
    Import(ImportArgs),
    /// Export a certificate (PEM with chain, DER, or PKCS#12), or a libvirt or QEMU layout.
    /// Keys only with --key or --key-only.
    Export(ExportArgs),
    /// Delete an entry (the signing CA and its root are protected).
    Delete(EntryArg),
    /// Revoke a certificate certherd's CA issued, and publish a new CRL listing it.
    ///
    /// The revocation (serial, issuer, reason, time, who) is recorded and audited; the
    /// CA's CRL (`certherd ca crl`, the server's /crl/ca.crl) lists it from now on, and
    /// `certherd verify`, the agents and the server refuse the certificate. The entry stays
    /// in place: renew it (a new serial) or delete it. Self-signed certificates, those of
    /// another CA and certherd's own CA are refused; revoking again changes nothing.
    ///
    /// Examples:
    ///   certherd cert revoke machine-ssl/machine --reason keyCompromise
    ///   certherd cert revoke service/backup --reason superseded --output json
    #[command(verbatim_doc_comment)]
    Revoke(RevokeArgs),
}

/// `cert revoke` arguments.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// RFC 5280 reason: unspecified (no reason code in the CRL), keyCompromise,
    /// cACompromise, affiliationChanged, superseded, cessationOfOperation,
    /// privilegeWithdrawn.
    #[arg(long, value_name = "REASON", default_value = "unspecified")]
    pub reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// One entry and an output format.
#[derive(Debug, Args)]
pub struct EntryOutputArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert list` arguments.
#[derive(Debug, Args)]
pub struct CertListArgs {
    /// Only this store.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// Evaluate status at another instant: RFC 3339, YYYY-MM-DD, or ±DURATION (e.g. +2y, -1y).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert issue` arguments.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Profile: machine-ssl, service, host, sts-signing, pool-internal, kmip-client.
    #[arg(long, required_unless_present = "from")]
    pub profile: Option<String>,
    /// Target store (created if missing).
    #[arg(long, required_unless_present = "from")]
    pub store: Option<String>,
    /// Alias in the store [default: the CN].
    #[arg(long)]
    pub alias: Option<String>,
    /// Subject common name [default: the first --san, else the alias].
    #[arg(long)]
    pub cn: Option<String>,
    /// A DNS name or IP address for the SAN extension; repeatable.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Key algorithm [default: the profile's, else the node's].
    #[arg(long, value_name = "ALG")]
    pub key_algo: Option<String>,
    /// Issue one certificate per line of FILE (`-`: standard input): JSON objects whose
    /// keys are this command's long flags, e.g. {"profile": "host", "store": "bulk",
    /// "alias": "b1", "san": ["b1.example.test"]}. Every line is checked first: a bad
    /// line or an unknown key is refused with its line number and nothing is issued.
    /// Issued in batches of up to 1,000, each one transaction (all of it or none), each
    /// batch's lines printed when it is committed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["profile", "store", "alias", "cn", "sans", "key_algo"])]
    pub from: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert renew` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["entry", "profile", "all", "expiring_within", "due"])))]
pub struct RenewArgs {
    /// One entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: Option<String>,
    /// Every certherd-issued entry of this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Every certherd-issued entry.
    #[arg(long)]
    pub all: bool,
    /// Every certherd-issued entry expiring within this span (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub expiring_within: Option<String>,
    /// Every entry whose renewal time has come (2/3 of its lifetime, with jitter).
    #[arg(long)]
    pub due: bool,
    /// The new key's algorithm, for one entry: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072,
    /// rsa-4096, ed25519 (e.g. rsa-2048 for a libvirt or QEMU layout) [default: the old
    /// key's].
    #[arg(long, value_name = "ALG", conflicts_with_all = ["profile", "all", "expiring_within", "due"])]
    pub key_algo: Option<String>,
    /// Show what would be renewed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert reset` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["entry", "all"])))]
pub struct ResetArgs {
    /// One imported entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: Option<String>,
    /// Every imported entry.
    #[arg(long)]
    pub all: bool,
    /// Show what would be reset, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format (JSON: the same objects as `cert renew`).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Target entry, as STORE/ALIAS (an existing entry moves to backup).
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// The certificate (PEM or DER; may be a bundle with its chain). A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Intermediate/root certificates; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub chain: Vec<PathBuf>,
    /// The private key (PEM or DER; PKCS#8, PKCS#1 or SEC1). A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Profile [default: the existing entry's, else the store's name if it is a profile].
    #[arg(long)]
    pub profile: Option<String>,
    /// Read --cert as a PKCS#12 (.p12/.pfx) bundle, with the password in FILE (first
    /// line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Output format (JSON: the entry, with `unchanged` true when the certificate and key
    /// were already the live entry).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// Export encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FormatArg {
    /// Certificate and chain (and key with --key), PEM.
    #[default]
    Pem,
    /// Certificate only, DER.
    Der,
    /// PKCS#12 with key and chain; needs --key and --password-file.
    P12,
}

/// `cert export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// Include the private key (written 0600 with --out).
    #[arg(long, conflicts_with = "key_only")]
    pub key: bool,
    /// Only the private key, PEM (written 0600 with --out).
    #[arg(long, conflicts_with = "with_root")]
    pub key_only: bool,
    /// Keep the root in the chain (by default the chain stops below it, as a TLS server
    /// sends it).
    #[arg(long)]
    pub with_root: bool,
    /// Encoding.
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
    /// Write the files a daemon reads into the directory given with --out: libvirt (the
    /// tree under /etc/pki) or qemu (a tls-creds-x509 directory). Needs an RSA key for
    /// libvirt, and serverAuth and clientAuth (machine-ssl or host profile).
    #[arg(long, value_enum, value_name = "LAYOUT", requires = "out",
          conflicts_with_all = ["key", "key_only", "with_root", "format", "password_file"])]
    pub layout: Option<LayoutArg>,
    /// Write to FILE (atomically) instead of standard output; with --layout, the
    /// directory the layout goes in.
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    /// File holding the PKCS#12 password (first line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// File layouts of `cert export --layout`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// /etc/pki: CA/cacert.pem, libvirt/servercert.pem, libvirt/clientcert.pem,
    /// libvirt/private/serverkey.pem, libvirt/private/clientkey.pem.
    Libvirt,
    /// QEMU tls-creds-x509: ca-cert.pem, server-cert.pem, server-key.pem,
    /// client-cert.pem, client-key.pem.
    Qemu,
}

/// The forms of `cert` that are operations: list, show, issue, revoke, delete, renew and
/// reset (one entry or a run), import, and the PEM export of a certificate with its
/// chain. Exports of keys and layouts are the home's.
pub fn operation(ops: &mut dyn Operations, c: CertCmd) -> Ran<CertCmd> {
    Ran::Done(match c {
        CertCmd::List(a) => cert_list(ops, a.store, a.at.as_deref(), a.output),
        CertCmd::Issue(a) => cert_issue(ops, a),
        // One named entry: its new certificate; a selection or a plan: a run.
        CertCmd::Renew(a) if !a.dry_run && a.entry.is_some() => cert_renew(ops, a),
        CertCmd::Renew(a) => renew_run(ops, a),
        CertCmd::Reset(a) if !a.dry_run && a.entry.is_some() => cert_reset(ops, a),
        CertCmd::Reset(a) => reset_run(ops, a),
        // What an operation gives is the certificate and its chain, never a key.
        CertCmd::Export(a)
            if !a.key && !a.key_only && a.layout.is_none() && a.format != FormatArg::P12 =>
        {
            cert_export(ops, a)
        }
        CertCmd::Import(a) => cert_import(ops, a),
        CertCmd::Delete(a) => entry_ref(&a.entry)
            .and_then(|e| ops.cert_delete(e).map_err(Failure::from))
            .map(|d| {
                outln!("deleted {}", d.entry);
                ExitCode::SUCCESS
            }),
        CertCmd::Show(a) => entry_ref(&a.entry)
            .and_then(|e| ops.cert_show(e).map_err(Failure::from))
            .map(|d| {
                cert_detail(&d, a.output);
                ExitCode::SUCCESS
            }),
        CertCmd::Revoke(a) => revocation_reason(&a.reason)
            .and_then(|reason| Ok(ops.cert_revoke(entry_ref(&a.entry)?, reason)?))
            .map(|done| {
                revoked(&done, a.output);
                ExitCode::SUCCESS
            }),
        other => return Ran::NotAnOperation(other),
    })
}

#[cfg(test)]
mod json_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A failed renewal's line is the one `json!` printed: keys sorted, no `skipped`.
    #[test]
    fn a_failed_renewal_prints_as_before() {
        let r = api::RunStep::Failed {
            entry: "web/www".into(),
            error: "the CA key is sealed".into(),
        };
        let line = crate::render::json_line(&renewed_json(&r));
        assert_eq!(
            line,
            r#"{"entry":"web/www","error":"the CA key is sealed","ok":false}"#
        );
        let by_hand =
            serde_json::json!({"entry": "web/www", "ok": false, "error": "the CA key is sealed"});
        assert_eq!(line, serde_json::to_string(&by_hand).unwrap());
    }
}
