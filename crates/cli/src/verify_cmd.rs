//! `verify`: the same validation `cert import` uses, on files.

use std::process::ExitCode;

use certherd_inspect::{ChainInput, Target, Thresholds, TrustPolicy};
use certherd_store::Home;
use certherd_x509::{CertInfo, CertificateDer, Purpose};
use serde_json::json;

use crate::args::{Output, PurposeArg, VerifyArgs};
use crate::failure::read_input;
use crate::instant::{parse_at, rfc3339};
use crate::render::json;
use crate::{open_node, Failure};

pub fn verify(home: &Home, a: VerifyArgs) -> Result<ExitCode, Failure> {
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
        Output::Json => json(&json!({
            "valid": valid,
            "subject": subject,
            "at": rfc3339(at),
            "trusted": inspection.trusted,
            "covers_name": inspection.covers_name,
            "chain": path,
            "finding": certherd_inspect::summary(&inspection.findings),
            // What fails the verification (as the table's headline), null when valid.
            "strict": a.strict,
            "failure": inspection.failure(a.strict),
            "findings": inspection.findings.iter().map(|f| json!({
                "kind": f.kind.as_str(), "severity": f.severity.as_str(),
                "message": f.message, "hint": f.hint, "subject": f.subject,
            })).collect::<Vec<_>>(),
        })),
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
        let mut cli = crate::args::Cli::command();
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
