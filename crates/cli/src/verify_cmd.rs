//! `verify`: the same validation `cert import` uses, on files.

use std::process::ExitCode;

use certherd_store::Home;
use certherd_x509::{CertInfo, CertificateDer, Purpose, VerifyInput};
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
    let (trusted, crls) = if a.trusted.is_empty() {
        let node = open_node(home).map_err(|mut f| {
            f.hint =
                Some("pass --trusted ROOT.pem, or --home with an initialized certherd home".into());
            f
        })?;
        (node.trust_anchors()?, node.trusted_crls()?)
    } else {
        let mut t = Vec::new();
        for p in &a.trusted {
            t.extend(
                certherd_x509::parse_certificates(&read_input(p)?)
                    .map_err(|e| Failure::file(p, e))?,
            );
        }
        (t, Vec::new())
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
    let result = certherd_x509::verify(&VerifyInput {
        end_entity: &leaf,
        intermediates: &intermediates,
        trusted: &trusted,
        crls: &crls,
        at,
        name: a.name.as_deref(),
        purpose,
    });
    let subject = CertInfo::from_der(&leaf)
        .map(|i| i.subject)
        .unwrap_or_default();
    match (&result, a.output) {
        (Ok(chain), Output::Json) => json(&json!({
            "valid": true, "subject": subject, "at": rfc3339(at),
            "chain": chain.chain.iter().map(|c| CertInfo::from_der(c).map(|i| i.subject).unwrap_or_default()).collect::<Vec<_>>(),
        })),
        (Ok(chain), Output::Table) => {
            println!("{}: OK", a.cert.display());
            for (i, c) in chain.chain.iter().enumerate() {
                println!(
                    "  {i} {}",
                    CertInfo::from_der(c).map(|i| i.subject).unwrap_or_default()
                );
            }
        }
        (Err(reason), Output::Json) => json(
            &json!({"valid": false, "subject": subject, "at": rfc3339(at), "reason": reason.to_string()}),
        ),
        (Err(reason), Output::Table) => eprintln!("{}: FAILED: {reason}", a.cert.display()),
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
