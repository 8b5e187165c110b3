//! `scan tls` and `scan files`: arguments, progress, and the view of what was found. The
//! scans themselves (probing, walking, reading, recording) are `certherd-monitor`'s;
//! judging is `certherd-inspect`'s.

use crate::commands::Output;
use crate::commands::Ran;
use crate::failure::read_input;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::render::time_of;
use crate::Failure;
use certherd_core::EntryMeta;
use certherd_core::Finding;
use certherd_core::ServerAddress;
use certherd_core::Span;
use certherd_core::Watch;
use certherd_inspect::Severity;
use certherd_monitor::scan::FilesScanned;
use certherd_monitor::walk::walk_at_most;
use certherd_monitor::walk::SkippedPath;
use certherd_monitor::walk::Walk;
use certherd_monitor::walk::WalkError;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use certherd_tls::StartTls;
use clap::Args;
use clap::Subcommand;
use indicatif::ProgressBar;
use indicatif::ProgressStyle;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `scan tls` is an operation: a server connects from where it runs, as a home does.
pub fn operation(ops: &mut dyn Operations, c: ScanCmd) -> Ran<ScanCmd> {
    match c {
        ScanCmd::Tls(a) => Ran::Done(scan_tls(ops, a)),
        other => Ran::NotAnOperation(other),
    }
}

/// `scan files` reads the files of the machine it runs on, into its home.
pub fn run(home: &certherd_store::Home, c: ScanCmd) -> Result<ExitCode, Failure> {
    match c {
        ScanCmd::Files(a) => scan_files(home, a),
        other => Err(crate::not_carried_out(&other)),
    }
}

pub(crate) fn timeout(s: &str) -> Result<Duration, Failure> {
    let d = s.parse::<Span>()?.duration().unsigned_abs();
    if d.is_zero() {
        return Err(Failure::usage("--timeout must be longer than 0s"));
    }
    Ok(d)
}

/// `--timeout` in milliseconds, as an operation carries it (at least 1).
pub(crate) fn timeout_ms(s: &str) -> Result<u64, Failure> {
    let d = timeout(s)?;
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
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

/// A watch's cells in the table: name, target, subject, notAfter, worst finding.
fn watch_cells(r: &api::WatchRow) -> Vec<String> {
    vec![
        r.name.clone(),
        r.target.clone(),
        r.subject.clone().unwrap_or_else(|| "-".into()),
        r.not_after
            .as_deref()
            .and_then(time_of)
            .map_or_else(|| "-".into(), crate::instant::short),
        r.finding.clone(),
    ]
}

/// The problems (warnings and worse) among a watch's findings, each with its hint, under
/// the table.
fn print_findings(name: &str, findings: &[api::FindingRow]) {
    for f in findings
        .iter()
        .filter(|f| f.severity == "warning" || f.severity == "critical")
    {
        let name = crate::output::field(name);
        outln!(
            "  {name}: {} {}: {}",
            f.severity,
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

/// Watches as `endpoint list` and `scan tls` show them: JSON, or a table with each
/// watch's problems under it.
pub(crate) fn print_watches(rows: &[api::WatchRow], output: Output) {
    match output {
        Output::Json => json(rows),
        Output::Table => {
            table(
                &["NAME", "TARGET", "SUBJECT", "NOT AFTER", "FINDING"],
                &rows.iter().map(watch_cells).collect::<Vec<_>>(),
            );
            for r in rows {
                print_findings(&r.name, &r.findings);
            }
        }
    }
}

fn scan_tls(ops: &mut dyn Operations, a: ScanTlsArgs) -> Result<ExitCode, Failure> {
    let targets = targets_of(&a)?;
    let timeout_ms = timeout_ms(&a.timeout)?;
    parse_starttls(&a.starttls)?;
    if a.concurrency == 0 {
        return Err(Failure::usage("--concurrency must be at least 1"));
    }
    let bar: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();
    let request = api::ScanTlsRequest {
        targets,
        sni: a.sni,
        starttls: a.starttls,
        concurrency: u32::try_from(a.concurrency).unwrap_or(u32::MAX),
        timeout_ms,
    };
    let scanned = ops.scan_tls(
        request,
        &mut |n| {
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
    print_watches(&scanned.watches, a.output);
    // Say what the scan left behind, and how to undo it: `check` and alarms watch it now.
    if !scanned.new_names.is_empty() {
        errln!(
            "now watched (check, alarms and the forecast see it): {}; stop with: certherd endpoint remove NAME",
            scanned.new_names.join(", ")
        );
    }
    for k in &scanned.kept {
        errln!(
            "not recorded: endpoint {} is watched with STARTTLS {}, and this scan used other settings; certherd endpoint diagnose {} scans it as watched",
            k.name, k.starttls, k.name
        );
    }
    Ok(match scanned.worst.as_deref() {
        Some("critical") => ExitCode::from(2),
        Some("warning") => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// Writes `v` pretty, every line after the first indented by `indent` spaces, its keys
/// sorted as [`crate::render::json`] prints them.
fn write_indented(
    out: &mut impl Write,
    v: &impl serde::Serialize,
    indent: usize,
) -> std::io::Result<()> {
    // Through a Value, as `render::json`: its object keys come out sorted.
    let v = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "null".into());
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
    problems: Vec<(String, Vec<api::FindingRow>)>,
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
                if let Err(e) = self.out.write_all(sep).and_then(|()| {
                    write_indented(&mut self.out, &certherd_ops::rows::watch_row(w, meta), 4)
                }) {
                    self.failed = Some(e);
                }
            }
            Output::Table => {
                self.rows
                    .push(watch_cells(&certherd_ops::rows::watch_row(w, meta)));
                if w.findings.iter().any(Finding::is_problem) {
                    self.problems.push((
                        w.name.clone(),
                        w.findings
                            .iter()
                            .map(certherd_ops::rows::finding_row)
                            .collect(),
                    ));
                }
            }
        }
        self.watched += 1;
    }

    fn finish(
        mut self,
        summary: &FilesSummary,
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
                // The summary's fields follow `watched` in the one object, keys sorted (as
                // `render::json` prints them): its serialized map is written field by field.
                if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(summary) {
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

/// What a scan of files counted, for the report: the fields of its JSON object after
/// `watched`.
#[derive(serde::Serialize)]
struct FilesSummary {
    files_examined: usize,
    files_with_findings: usize,
    links_followed: usize,
    dangling_links: Vec<DanglingJson>,
    /// Paths met and not read, each with why (a FIFO, too large, a directory that cannot
    /// be listed): the admin sees everything the scan did not look at.
    skipped: Vec<SkippedJson>,
    /// Left out on purpose, counted: certherd's home, SQLite sidecars, directories
    /// reached twice.
    excluded: ExcludedJson,
    /// The bound of files the walk stopped at, or null when it saw everything.
    stopped_at_max_files: Option<usize>,
}

/// A link whose target is missing, or a loop of links.
#[derive(serde::Serialize)]
struct DanglingJson {
    link: String,
    target: String,
    #[serde(rename = "loop")]
    looped: bool,
}

/// A path the scan met and did not read.
#[derive(serde::Serialize)]
struct SkippedJson {
    path: String,
    reason: String,
}

/// What the walk left out on purpose, counted.
#[derive(serde::Serialize)]
struct ExcludedJson {
    home: usize,
    database_sidecars: usize,
    repeated_directories: usize,
    links_out_of_pseudo_filesystems: usize,
}

/// What a scan of files counted, for the report.
fn files_summary(
    walked: &Walk,
    examined: usize,
    with_findings: usize,
    skipped: &[SkippedPath],
) -> FilesSummary {
    let k = &walked.skipped;
    FilesSummary {
        files_examined: examined,
        files_with_findings: with_findings,
        links_followed: walked.link_count(),
        dangling_links: walked
            .dangling
            .iter()
            .map(|d| DanglingJson {
                link: d.link.display().to_string(),
                target: d.target.display().to_string(),
                looped: d.looped,
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|s| SkippedJson {
                path: certherd_monitor::walk::path_text(&s.path),
                reason: s.reason.to_string(),
            })
            .collect(),
        excluded: ExcludedJson {
            home: k.skip_dirs,
            database_sidecars: k.database_sidecars,
            repeated_directories: k.repeated_dirs,
            links_out_of_pseudo_filesystems: k.links_out_of_pseudo,
        },
        stopped_at_max_files: walked.stopped_at,
    }
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
    report.finish(&summary, &walked, &skipped)?;
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

/// `scan` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScanCmd {
    /// Connect to each HOST:PORT and judge the chain it presents.
    ///
    /// Every finding of the inspection (expired, untrusted-issuer, incomplete-chain,
    /// name-mismatch, self-signed, weak keys...) with the facts: TLS version, cipher suite,
    /// key and signature algorithms, whether the chain reaches a trusted root, whether the
    /// certificate covers the name used. PostgreSQL, LDAP and SMTP ports are reached with
    /// STARTTLS. An unreachable target, or one that does not speak TLS, is a finding, not
    /// an error.
    ///
    /// A target seen for the first time becomes a watched endpoint (stderr names it; stop
    /// watching with `certherd endpoint remove NAME`). A target an endpoint already watches
    /// is recorded only when scanned as the endpoint scans it: with another --starttls the
    /// result is shown, and the endpoint's recorded state is left as it was.
    /// Exit 0 ok, 1 warning, 2 critical, 3 the scan could not run.
    Tls(ScanTlsArgs),
    /// Walk files and directories for PEM, DER and PKCS#12 certificates.
    ///
    /// Reports bundles, orphaned keys (no certificate in the scan matches them), keys
    /// readable by group or others (wider than 0600), and PKCS#12 files the password does
    /// not open. Every certificate is judged like an endpoint's chain (expiry, weak keys and
    /// signatures, the file's bundle as its chain). Symbolic links are followed (each
    /// target read once); certherd's own home is skipped, and /proc, /sys and /dev are
    /// walked only when named (then no link out of them is followed). PKCS#12 files are
    /// read as openssl reads them: unencrypted or with an empty password without
    /// --password-file, and their keys count for key permissions. Exit 0 ok, 1 warning,
    /// 2 critical, 3 the scan could not run.
    Files(ScanFilesArgs),
}

/// `scan tls` arguments.
#[derive(Debug, Args)]
pub struct ScanTlsArgs {
    /// Targets as HOST:PORT.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read more targets from FILE, one HOST:PORT per line (# comments allowed). A regular file of at most 4 MiB.
    #[arg(long = "targets", value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// The name to send as SNI and to check the certificate against [default: the host].
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Speak PROTO before the TLS handshake: postgres, ldap or smtp [default: by the port:
    /// 5432 postgres, 389 ldap, 25 and 587 smtp; none otherwise].
    #[arg(long, value_name = "PROTO")]
    pub starttls: Option<String>,
    /// How many targets to scan at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Connect and handshake timeout per target.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `scan files` arguments.
#[derive(Debug, Args)]
pub struct ScanFilesArgs {
    /// Files or directories (walked recursively).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// File holding the password for encrypted PKCS#12 files (first line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Stop after listing N files: the scan says so, and what it found up to there is
    /// recorded.
    #[arg(long, value_name = "N", default_value_t = certherd_monitor::walk::MAX_FILES)]
    pub max_files: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}
