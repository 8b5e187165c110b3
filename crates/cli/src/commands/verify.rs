//! `verify`: the same validation `cert import` uses, on files.

use crate::commands::Output;
use crate::failure::read_input;
use crate::instant::parse_at;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::Failure;
use certherd_inspect::ChainInput;
use certherd_inspect::Target;
use certherd_inspect::Thresholds;
use certherd_inspect::TrustPolicy;
use certherd_store::Home;
use certherd_x509::CertInfo;
use certherd_x509::CertificateDer;
use certherd_x509::Purpose;
use clap::Args;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(home: &Home, a: VerifyArgs) -> Result<ExitCode, Failure> {
    let mut certs = certherd_x509::parse_certificates(&read_input(&a.cert)?)
        .map_err(|e| Failure::file(&a.cert, e))?;
    let leaf = certs.remove(0);
    let mut intermediates: Vec<CertificateDer<'static>> = certs;
    for p in &a.chain {
        intermediates.extend(
            certherd_x509::parse_certificates(&read_input(p)?).map_err(|e| Failure::file(p, e))?,
        );
    }
    // The home's CRLs are consulted whatever the anchors: a revoked certificate is revoked
    // under a root given with --trusted too (as `openssl verify -crl_check` with the CRL).
    // Without --trusted the home is needed for its roots; with it, a home is optional.
    let node = if a.trusted.is_empty() {
        Some(open_node(home).map_err(|mut f| {
            f.hint =
                Some("pass --trusted ROOT.pem, or --home with an initialized certherd home".into());
            f
        })?)
    } else if home.database().is_some() || home.db_path().exists() {
        Some(open_node(home)?)
    } else {
        None
    };
    let mut crls = match &node {
        Some(node) => node.trusted_crls()?,
        None => Vec::new(),
    };
    for p in &a.crl {
        let crl = certherd_x509::parse_crl(&read_input(p)?).map_err(|e| Failure::file(p, e))?;
        crls.push(crl);
    }
    let trusted = if a.trusted.is_empty() {
        match &node {
            Some(node) => node.trust_anchors()?,
            None => Vec::new(),
        }
    } else {
        let mut t = Vec::new();
        for p in &a.trusted {
            t.extend(
                certherd_x509::parse_certificates(&read_input(p)?)
                    .map_err(|e| Failure::file(p, e))?,
            );
        }
        t
    };
    let now = time::OffsetDateTime::now_utc();
    let at = match &a.at {
        Some(s) => parse_at(s, now)?,
        None => now,
    };
    let purpose = match a.purpose {
        PurposeArg::Server => Purpose::Server,
        PurposeArg::Client => Purpose::Client,
        PurposeArg::Any => Purpose::Any,
    };
    for oid in &a.policy {
        // A dotted OID: digits separated by dots, at least two arcs (RFC 5280 4.2.1.4).
        let arcs: Vec<&str> = oid.split('.').collect();
        if arcs.len() < 2
            || arcs
                .iter()
                .any(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Failure::usage(format!(
                "--policy {oid}: not a dotted OID (e.g. 2.16.840.1.101.3.2.1.48.1)"
            )));
        }
    }
    let rfc5280 = certherd_x509::Rfc5280Options {
        initial_policy_set: a.policy.clone(),
        initial_explicit_policy: a.explicit_policy,
        initial_policy_mapping_inhibit: a.inhibit_policy_mapping,
        initial_any_policy_inhibit: a.inhibit_any_policy,
        require_revocation_status: a.crl_check_all,
    };
    let t = crate::instant::thresholds(
        a.warn.as_deref(),
        a.crit.as_deref(),
        node.as_ref().map(|n| n.thresholds()).unwrap_or_default(),
    )?;
    let thresholds = Thresholds {
        warn: t.warn.duration(),
        crit: t.crit.duration(),
    };
    let mut presented = vec![leaf.clone()];
    presented.extend(intermediates.iter().cloned());
    let inspection = certherd_inspect::inspect(&ChainInput {
        presented: &presented,
        name: a.name.as_deref(),
        purpose,
        at,
        trusted: &trusted,
        anchor_subjects: None,
        crls: &crls,
        pins: &[],
        thresholds,
        policy: TrustPolicy::Required,
        ca_expected: false,
        target: Target::Files,
        rfc5280,
    });
    let subject = inspection
        .leaf
        .as_ref()
        .map(|i| i.subject.clone())
        .unwrap_or_default();
    // Valid means RFC 5280 and the purpose accept the path now (no critical finding but
    // `expiring`); under --strict, any warning fails it too (the CA/B profile, expiry near).
    let valid = if a.strict {
        inspection.passes_strict()
    } else {
        inspection.is_valid()
    };
    let path: Vec<String> = inspection
        .path
        .iter()
        .map(|c| CertInfo::from_der(c).map(|i| i.subject).unwrap_or_default())
        .collect();
    match a.output {
        Output::Json => json(&VerifyJson {
            valid,
            subject: &subject,
            at: rfc3339(at),
            trusted: inspection.trusted,
            covers_name: inspection.covers_name,
            chain: &path,
            finding: certherd_inspect::summary(&inspection.findings),
            strict: a.strict,
            failure: inspection.failure(a.strict),
            findings: inspection
                .findings
                .iter()
                .map(certherd_ops::rows::finding_row)
                .collect(),
        }),
        Output::Table => {
            // The whole report goes to stdout, failing or not (`verify x.pem | less` shows
            // what is wrong); only the one-line verdict of a failure is repeated on stderr.
            // A failure is headed by the finding that fails it, not by a warning that
            // does not (an `expiring` listed first among equal warnings).
            let failure = inspection.failure(a.strict);
            match &failure {
                None => outln!("{}: OK", a.cert.display()),
                Some(why) => outln!("{}: FAILED: {why}", a.cert.display()),
            }
            for (i, s) in path.iter().enumerate() {
                outln!("  {i} {}", crate::output::field(s));
            }
            for f in &inspection.findings {
                outln!(
                    "  {:<9}{:<25}{}",
                    f.severity.as_str(),
                    f.kind.as_str(),
                    crate::output::field(&f.message)
                );
            }
            if let Some(why) = &failure {
                errln!("error: {} failed verification: {why}", a.cert.display());
            }
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

/// `verify --output json`.
#[derive(serde::Serialize)]
struct VerifyJson<'a> {
    valid: bool,
    subject: &'a str,
    at: String,
    trusted: bool,
    covers_name: Option<bool>,
    chain: &'a [String],
    finding: String,
    strict: bool,
    /// What fails the verification (as the table's headline), null when valid.
    failure: Option<String>,
    findings: Vec<certherd_protocol::admin::FindingRow>,
}
