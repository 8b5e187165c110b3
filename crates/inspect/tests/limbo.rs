//! The x509-limbo path-validation suite (C2SP, vendored in `crates/x509/tests/vectors/`) run
//! through `certherd_inspect::inspect` with the decision `certherd verify --strict` makes
//! ([`certherd_inspect::Inspection::passes_strict`]: no warning or critical finding), so the
//! suite measures the one judgment every command uses: path validation (certval for
//! RFC 5280, webpki for the TLS rules) and the profile lints. limbo expects the CA/Browser
//! Forum and RFC 5280 profile rules (a missing AKI, a CN outside the SANs, no EKU) to
//! fail, which is what --strict adds to `verify`'s default (RFC 5280 validity, as openssl
//! and GnuTLS decide). `crates/cli/tests/suites_cli.rs` runs the suite through the
//! `certherd verify --strict` binary.
//! Every case whose result differs from the suite's expectation must be listed in
//! `tests/limbo-exceptions.json` with the reason; the test fails on an unlisted difference
//! and on a listed one that no longer differs (a stale entry), as webpki's harness does.
//!
//! Choices, where the suite leaves them to the harness:
//! - presented = the peer certificate then the untrusted intermediates; trust policy
//!   `Required` (as `certherd verify`); no pins; not a CA file.
//! - `validation_time: null` means "now" upstream; here it is 2026-01-01T00:00:00Z, inside
//!   every such case's validity (1970 to 2969), so the result never depends on the clock.
//! - no expiry thresholds (`expiring` is about renewal, not validity at an instant).
//! - `validation_kind` SERVER/CLIENT selects serverAuth/clientAuth.
//! - `expected_peer_name` of kind DNS, IP or RFC822 is the name checked.
//! - `max_chain_depth` limits the intermediates in the path built (`Inspection::path`),
//!   counted as RFC 5280 6.1.4 (l) does: a self-issued (key rollover) certificate does not count.
//! - `key_usage` (two cases ask for digitalSignature) is not a separate input.
//!
//! Results go to `$CARGO_TARGET_TMPDIR/limbo-results.json` in the upstream harness format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness fails loudly

use std::path::Path;

#[path = "../../x509/tests/exceptions/mod.rs"]
mod exceptions;

use exceptions::Compared;

use certherd_inspect::{inspect, ChainInput, Target, Thresholds, TrustPolicy};
use certherd_x509::{CertificateDer, CertificateRevocationListDer, Purpose};
use serde_json::{json, Value};

const DEFAULT_TIME: &str = "2026-01-01T00:00:00Z";

fn ders(v: &Value, what: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for p in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        let text = p.as_str().ok_or_else(|| format!("{what}: not a string"))?;
        let pem = pem::parse(text).map_err(|e| format!("{what}: {e}"))?;
        out.push(pem.into_contents());
    }
    Ok(out)
}

enum Outcome {
    Success,
    Failure(String),
    Skipped(String),
}

fn run_case(tc: &Value) -> Outcome {
    let name = match &tc["expected_peer_name"] {
        Value::Null => None,
        n => match n["kind"].as_str() {
            Some("DNS") | Some("IP") | Some("RFC822") => n["value"].as_str().map(str::to_owned),
            Some(kind) => return Outcome::Skipped(format!("peer name of kind {kind}")),
            None => return Outcome::Skipped("peer name without a kind".into()),
        },
    };
    let loaded = (|| -> Result<_, String> {
        let peer = ders(&json!([tc["peer_certificate"]]), "peer_certificate")?.remove(0);
        let trusted = ders(&tc["trusted_certs"], "trusted_certs")?;
        let inter = ders(&tc["untrusted_intermediates"], "untrusted_intermediates")?;
        let crls = ders(&tc["crls"], "crls")?;
        Ok((peer, trusted, inter, crls))
    })();
    let (peer, trusted, inter, crls) = match loaded {
        Ok(l) => l,
        Err(e) => return Outcome::Failure(format!("input not loaded: {e}")),
    };
    let at_text = tc["validation_time"].as_str().unwrap_or(DEFAULT_TIME);
    let at = match time::OffsetDateTime::parse(
        at_text,
        &time::format_description::well_known::Rfc3339,
    ) {
        Ok(t) => t,
        Err(e) => return Outcome::Skipped(format!("validation_time {at_text}: {e}")),
    };
    let presented: Vec<CertificateDer<'_>> = std::iter::once(&peer)
        .chain(inter.iter())
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let trusted: Vec<CertificateDer<'_>> = trusted
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let crls: Vec<CertificateRevocationListDer<'_>> = crls
        .iter()
        .map(|d| CertificateRevocationListDer::from(d.as_slice()))
        .collect();
    let purpose = match tc["validation_kind"].as_str() {
        Some("CLIENT") => Purpose::Client,
        _ => Purpose::Server,
    };
    let inspection = inspect(&ChainInput {
        presented: &presented,
        name: name.as_deref(),
        purpose,
        at,
        trusted: &trusted,
        anchor_subjects: None,
        crls: &crls,
        pins: &[],
        // No expiry thresholds: the suite asks about validity at one instant, not renewal.
        thresholds: Thresholds {
            warn: time::Duration::MIN,
            crit: time::Duration::MIN,
        },
        policy: TrustPolicy::Required,
        ca_expected: false,
        target: Target::Files,
        rfc5280: Default::default(),
    });
    if !inspection.passes_strict() {
        return Outcome::Failure(
            inspection
                .findings
                .iter()
                .filter(|f| f.is_problem())
                .map(|f| format!("{}: {}", f.kind, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    // RFC 5280 6.1.4 (l): self-issued intermediates (key rollover) do not count.
    let intermediates = inspection
        .path
        .iter()
        .skip(1)
        .take(inspection.path.len().saturating_sub(2))
        .filter(|c| !certherd_x509::CertInfo::from_der(c).is_ok_and(|i| i.self_issued))
        .count();
    match tc["max_chain_depth"].as_u64() {
        Some(max) if intermediates as u64 > max => Outcome::Failure(format!(
            "path has {intermediates} intermediates, more than max_chain_depth {max}"
        )),
        _ => Outcome::Success,
    }
}

#[test]
fn x509_limbo_suite_matches_expectations_or_listed_exceptions() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite_path = std::env::var_os("CERTHERD_LIMBO").map_or_else(
        || here.join("../x509/tests/vectors/x509-limbo.json"),
        Into::into,
    );
    let suite: Value =
        serde_json::from_slice(&std::fs::read(&suite_path).expect("read the limbo suite"))
            .expect("parse the suite");
    let mut listed = exceptions::load(&here.join("tests/limbo-exceptions.json"), "id");

    let cases = suite["testcases"].as_array().expect("testcases");
    let (mut as_expected, mut known, mut skipped) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut results = Vec::new();
    for tc in cases {
        let id = tc["id"].as_str().unwrap_or("?").to_owned();
        let expected = tc["expected_result"].as_str().unwrap_or("?");
        let (actual, context) = match run_case(tc) {
            Outcome::Success => ("SUCCESS", String::new()),
            Outcome::Failure(why) => ("FAILURE", why),
            Outcome::Skipped(why) => ("SKIPPED", why),
        };
        results.push(json!({"id": id, "actual_result": actual, "context": context}));
        let exception = listed.remove(&id);
        if actual == "SKIPPED" {
            skipped += 1;
            assert!(
                exception.is_none(),
                "{id} is skipped but listed as an exception"
            );
            continue;
        }
        let detail = format!(
            "description: {}",
            tc["description"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        match exceptions::compare(&id, expected, actual, &context, exception.as_ref(), &detail) {
            Compared::Agrees => as_expected += 1,
            Compared::Known => known += 1,
            Compared::Problem(p) => problems.push(p),
        }
    }
    for id in listed.keys() {
        problems.push(format!("{id}: listed as an exception but not in the suite"));
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("limbo-results.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(
            &json!({"version": 1, "harness": "certherd", "results": results}),
        )
        .unwrap(),
    )
    .unwrap();
    println!(
        "limbo: {} cases, {as_expected} agree, {known} exceptions, {skipped} skipped; results in {}",
        cases.len(),
        out.display()
    );
    assert!(
        problems.is_empty(),
        "{} unexplained differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
