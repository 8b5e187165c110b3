//! `verify`: the same validation `cert import` uses, on files.

use crate::commands::Output;
use crate::failure::read_input;
use crate::instant::parse_at;
use crate::instant::rfc3339;
use crate::render::json;
use crate::Failure;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use certherd_store::Home;
use clap::Args;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

/// `verify` as an operation: judged where the trust is (the home's, or the server's).
pub fn operation(ops: &mut dyn Operations, a: VerifyArgs) -> Result<ExitCode, Failure> {
    let r = request(&a)?;
    let v = ops.verify(r)?;
    Ok(print(&v, &a))
}

/// `verify` where there is no home: with `--trusted`, judged here against those anchors
/// and `--crl` alone; without, refused as the home's absence reads, saying what to give.
pub fn without_home(home: &Home, a: &VerifyArgs) -> Result<ExitCode, Failure> {
    if a.trusted.is_empty() {
        if let Err(mut f) = crate::open_node(home) {
            f.hint =
                Some("pass --trusted ROOT.pem, or --home with an initialized certherd home".into());
            return Err(f);
        }
    }
    let r = request(a)?;
    let v = certherd_ops::verify::judge(
        &r,
        &certherd_ops::verify::HomeTrust::none(time::OffsetDateTime::now_utc()),
    )?;
    Ok(print(&v, a))
}

/// The request from the files and flags: every file read and parsed here, each error
/// naming its file.
fn request(a: &VerifyArgs) -> Result<api::VerifyRequest, Failure> {
    let certs = |p: &PathBuf| -> Result<Vec<String>, Failure> {
        Ok(certherd_x509::parse_certificates(&read_input(p)?)
            .map_err(|e| Failure::file(p, e))?
            .iter()
            .map(|c| certherd_ops::verify::encode(c))
            .collect())
    };
    let mut presented = certs(&a.cert)?;
    for p in &a.chain {
        presented.extend(certs(p)?);
    }
    let mut trusted = Vec::new();
    for p in &a.trusted {
        trusted.extend(certs(p)?);
    }
    let mut crls = Vec::new();
    for p in &a.crl {
        let crl = certherd_x509::parse_crl(&read_input(p)?).map_err(|e| Failure::file(p, e))?;
        crls.push(certherd_ops::verify::encode(&crl));
    }
    let at =
        a.at.as_deref()
            .map(|s| parse_at(s, time::OffsetDateTime::now_utc()))
            .transpose()?;
    for oid in &a.policy {
        if !certherd_ops::verify::is_dotted_oid(oid) {
            return Err(Failure::usage(format!(
                "--policy {oid}: not a dotted OID (e.g. 2.16.840.1.101.3.2.1.48.1)"
            )));
        }
    }
    // The spans are checked here, with the flags' names; the order of the two where both
    // are given (the home's certherd.toml fills in the other where it runs).
    crate::instant::thresholds(
        a.warn.as_deref(),
        a.crit.as_deref(),
        certherd_core::Thresholds {
            warn: certherd_core::Span::MAX,
            crit: certherd_core::Span::days(0),
        },
    )?;
    Ok(api::VerifyRequest {
        presented,
        trusted,
        crls,
        name: a.name.clone(),
        at: at.map(rfc3339),
        purpose: Some(
            match a.purpose {
                PurposeArg::Server => "server",
                PurposeArg::Client => "client",
                PurposeArg::Any => "any",
            }
            .to_owned(),
        ),
        warn: a.warn.clone(),
        crit: a.crit.clone(),
        crl_check_all: a.crl_check_all,
        policy: a.policy.clone(),
        explicit_policy: a.explicit_policy,
        inhibit_policy_mapping: a.inhibit_policy_mapping,
        inhibit_any_policy: a.inhibit_any_policy,
        strict: a.strict,
    })
}

/// The verdict: JSON, or the report on stdout with a failure's line on stderr too; exit 1
/// when it fails.
fn print(v: &api::VerifyAnswer, a: &VerifyArgs) -> ExitCode {
    match a.output {
        Output::Json => json(v),
        Output::Table => {
            // The whole report goes to stdout, failing or not (`verify x.pem | less` shows
            // what is wrong); only the one-line verdict of a failure is repeated on stderr.
            match &v.failure {
                None => outln!("{}: OK", a.cert.display()),
                Some(why) => outln!("{}: FAILED: {why}", a.cert.display()),
            }
            for (i, s) in v.chain.iter().enumerate() {
                outln!("  {i} {}", crate::output::field(s));
            }
            for f in &v.findings {
                outln!(
                    "  {:<9}{:<25}{}",
                    f.severity,
                    f.kind,
                    crate::output::field(&f.message)
                );
            }
            if let Some(why) = &v.failure {
                errln!("error: {} failed verification: {why}", a.cert.display());
            }
        }
    }
    if v.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// `verify --help` says what fails it and what only --strict fails.
    #[test]
    fn help_says_what_fails_verify_and_what_only_strict_fails() {
        use clap::CommandFactory;
        let mut cli = crate::commands::Cli::command();
        let help = cli
            .find_subcommand_mut("verify")
            .unwrap()
            .render_long_help()
            .to_string();
        for needle in ["`expiring`", "`profile`", "--strict", "no critical finding"] {
            assert!(help.contains(needle), "{needle} missing: {help}");
        }
    }
}

/// Purposes for verify.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PurposeArg {
    /// TLS server (serverAuth).
    Server,
    /// TLS client (clientAuth).
    Client,
    /// Any purpose (EKU not checked).
    Any,
}

/// `verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to validate (PEM or DER; the first certificate of a bundle,
    /// the rest are used as intermediates). A regular file of at most 4 MiB.
    pub cert: PathBuf,
    /// Untrusted intermediates; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub chain: Vec<PathBuf>,
    /// Trust anchors instead of the home's trusted-roots; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub trusted: Vec<PathBuf>,
    /// CRLs to consult besides the home's (PEM or DER, e.g. an intermediate's, as
    /// `openssl verify -CRLfile`); repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// A DNS name or IP address the certificate must cover.
    #[arg(long, value_name = "DNS-OR-IP")]
    pub name: Option<String>,
    /// Validate at this instant: RFC 3339, YYYY-MM-DD, or ±DURATION (+2y, -1y) [default: now].
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Required purpose.
    #[arg(long, value_enum, default_value = "any")]
    pub purpose: PurposeArg,
    /// `expiring` is a warning when a certificate of the path expires within this span
    /// [default: certherd.toml, else 30d]; 0s reports no nearness to expiry.
    #[arg(long, value_name = "DURATION")]
    pub warn: Option<String>,
    /// `expiring` is critical within this span [default: certherd.toml, else 7d]; it never
    /// fails `verify` without --strict.
    #[arg(long, value_name = "DURATION")]
    pub crit: Option<String>,
    /// Require the revocation status of every certificate of the path to be known from the
    /// CRLs (the home's and --crl), as `openssl verify -crl_check_all`: a certificate whose
    /// issuer has no CRL fails the path.
    #[arg(long)]
    pub crl_check_all: bool,
    /// An acceptable certificate policy (dotted OID; repeatable): the
    /// user-initial-policy-set of RFC 5280 6.1.1, as `openssl verify -policy` [default:
    /// anyPolicy].
    #[arg(long, value_name = "OID")]
    pub policy: Vec<String>,
    /// The path must be valid for a policy of --policy (RFC 5280 initial-explicit-policy,
    /// `openssl verify -explicit_policy`).
    #[arg(long)]
    pub explicit_policy: bool,
    /// Policy mapping is not allowed (initial-policy-mapping-inhibit, `-inhibit_map`).
    #[arg(long)]
    pub inhibit_policy_mapping: bool,
    /// anyPolicy is not accepted in the path (initial-any-policy-inhibit, `-inhibit_any`).
    #[arg(long)]
    pub inhibit_any_policy: bool,
    /// Fail on every warning too: expiry within the warning threshold, the RFC 5280
    /// profile (critical basicConstraints, key identifiers), a long common name, and with
    /// --purpose server the CA/Browser Forum rules for a TLS server certificate (an EKU, the
    /// CN among the SANs); like `openssl verify -x509_strict`, stricter.
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}
