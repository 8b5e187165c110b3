//! `ca ...`: the built-in CA (show, rotate, its CRL, a subordinate CA's signed certificate).
use crate::commands::OutputArg;
use crate::commands::Ran;
use certherd_ops::Operations;

use crate::commands::Output;
use crate::failure::read_certificates;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::json;
use crate::Failure;
use certherd_protocol::admin as api;
use certherd_store::write_out;
use certherd_store::Home;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(home: &Home, c: CaCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        CaCmd::ImportSigned { cert, chain } => {
            let c = read_certificates(&cert)?;
            let chain = chain
                .iter()
                .map(|p| read_certificates(p))
                .collect::<Result<Vec<_>, _>>()?;
            let refs = node.ca_import_signed(&c, &chain)?;
            outln!("subordinate CA installed");
            for r in refs {
                outln!("  created {r}");
            }
        }
        other => return Err(crate::not_carried_out(&other)),
    }
    Ok(ExitCode::SUCCESS)
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

/// `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Show the signing CA, its root and any rotation in progress.
    Show(OutputArg),
    /// Write the root certificate clients should trust (PEM).
    Export {
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Replace the root: trust the new one, reissue everything, retire the old when unused.
    ///
    /// The new root is added to trusted-roots first, every certificate the old root issued
    /// is reissued by the new one, and the old root stays trusted until none remains. An
    /// interrupted rotation resumes when run again.
    Rotate(OutputArg),
    /// Write the CA's current CRL (published first when none is current).
    ///
    /// The CRL of the signing CA: every certificate it revoked, with a CRL number that only
    /// grows, thisUpdate and nextUpdate (`[crl] next_update`, default 7 days).
    Crl {
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
    },
    /// Complete subordinate mode with the certificate your enterprise CA signed.
    ImportSigned {
        /// The signed CA certificate (PEM or DER; may include the chain). A regular file of at most 4 MiB.
        cert: PathBuf,
        /// The enterprise intermediates and root; repeatable. A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        chain: Vec<PathBuf>,
    },
}

/// One reissued entry of `ca rotate --output json`.
#[derive(serde::Serialize)]
pub(crate) struct ReissuedJson<'a> {
    entry: &'a str,
    ok: bool,
    error: Option<&'a str>,
}

/// One skipped entry of `ca rotate --output json`.
#[derive(serde::Serialize)]
pub(crate) struct SkippedJson<'a> {
    entry: &'a str,
    reason: &'a str,
    detail: String,
}

/// `ca show` and `ca rotate` are operations; the other forms work on the home's keys.
pub fn operation(ops: &mut dyn Operations, c: CaCmd) -> Ran<CaCmd> {
    Ran::Done(match c {
        CaCmd::Show(o) => ops
            .ca_show()
            .map(|s| {
                ca_show(&s, o.output);
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        CaCmd::Rotate(o) => ops
            .ca_rotate()
            .map(|step| rotation(&step, o.output))
            .map_err(Failure::from),
        CaCmd::Crl { out, der } => ops
            .ca_crl()
            .map_err(Failure::from)
            .and_then(|crl| write_crl(&crl, out.as_deref(), der)),
        // The root clients should trust: on standard output, or written to --out.
        CaCmd::Export { out } => ops.ca_root().map_err(Failure::from).and_then(|root| {
            match out {
                Some(p) => {
                    write_out(&p, root.pem.as_bytes(), 0o644)?;
                    errln!("wrote {}", p.display());
                }
                None => out!("{}", root.pem),
            }
            Ok(ExitCode::SUCCESS)
        }),
        other => return Ran::NotAnOperation(other),
    })
}

/// `ca crl`: the CRL as PEM on standard output, or written to `out` (DER with `der`),
/// its facts said on standard error.
fn write_crl(
    crl: &api::CaCrl,
    out: Option<&std::path::Path>,
    der: bool,
) -> Result<ExitCode, Failure> {
    let body = certherd_x509::parse_crl(crl.pem.as_bytes())?.to_vec();
    let info = certherd_x509::CrlInfo::from_der(&body)?;
    let number = certherd_x509::crl_number(&body)?.unwrap_or(0);
    let facts = format!(
        "CRL number {number} from {}: {} revoked, this update {}, next update {}",
        info.issuer,
        info.revoked,
        rfc3339(info.this_update),
        info.next_update.map_or_else(|| "-".into(), rfc3339)
    );
    let bytes = if der {
        body
    } else {
        crl.pem.clone().into_bytes()
    };
    match out {
        Some(p) => {
            write_out(p, &bytes, 0o644)?;
            errln!("wrote {}: {facts}", p.display());
        }
        None if der => return Err(Failure::usage("--der writes binary: give --out FILE")),
        None => {
            errln!("{facts}");
            out!("{}", crl.pem);
        }
    }
    Ok(ExitCode::SUCCESS)
}
