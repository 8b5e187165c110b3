//! NIST PKITS (Public Key Interoperability Test Suite) run through
//! `certherd_x509::verify_all_with`, the decision behind `certherd_x509::verify` (certval
//! authoritative for RFC 5280, webpki for the TLS rules) with the
//! RFC 5280 inputs a case sets. The data is not committed: `.ci/pkits-fetch` takes it from
//! the pyhanko-certvalidator source distribution on PyPI and prints the directory to give
//! in `CERTHERD_PKITS` (it holds `pkits.json`, `certs/` and `crls/`). Ignored by default;
//! `.ci/run` runs it with `--ignored`.
//!
//! Every case whose result differs from the suite's expectation must be listed in
//! `tests/pkits-exceptions.json` (by its unique `name`, with `id`, expected, actual and the
//! reason); the test fails on an unlisted difference and on a stale entry.
//!
//! How a case maps to the input, following pyhanko-certvalidator's own harness:
//! - trust anchor `TrustAnchorRootCertificate.crt`, and its CRL with the case's CRLs;
//! - `other_certs` are the untrusted intermediates; `cert` is the end entity;
//! - validation time 2022-05-01T00:00:00Z; purpose any; no peer name;
//! - `params` give the user-initial-policy-set and the three RFC 5280 indicators;
//! - `revocation` absent means the status of every certificate must be determined from the
//!   CRLs (pyhanko's "require"); `revocation: false` means it is checked where a CRL is given.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness fails loudly

mod exceptions;
mod pkits_options;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use certherd_x509::{
    verify_all_with, CertificateDer, CertificateRevocationListDer, Purpose, VerifyInput,
};
use exceptions::Compared;
use pkits_options::options;
use serde_json::Value;
use time::macros::datetime;

fn read(dir: &Path, sub: &str, name: &str) -> Vec<u8> {
    let p = dir.join(sub).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The PKITS section of a case id: "40101" is section 4.1, test 1.
fn section(id: &str) -> u32 {
    id.get(1..3)
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(0)
}

/// Runs one case: Ok(()) for a valid path, Err(reasons) otherwise.
fn run_case(dir: &Path, case: &Value) -> Result<(), String> {
    let ee = read(dir, "certs", case["cert"].as_str().expect("cert"));
    let inter: Vec<Vec<u8>> = case["other_certs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|n| read(dir, "certs", n.as_str().expect("other cert name")))
        .collect();
    let mut crls = vec![read(dir, "crls", "TrustAnchorRootCRL.crl")];
    crls.extend(
        case["crls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|n| read(dir, "crls", n.as_str().expect("crl name"))),
    );
    let anchor = read(dir, "certs", "TrustAnchorRootCertificate.crt");
    let trusted = [CertificateDer::from(anchor.as_slice())];
    let inter: Vec<CertificateDer<'_>> = inter
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let crls: Vec<CertificateRevocationListDer<'_>> = crls
        .iter()
        .map(|d| CertificateRevocationListDer::from(d.as_slice()))
        .collect();
    let input = VerifyInput {
        end_entity: &ee,
        intermediates: &inter,
        trusted: &trusted,
        crls: &crls,
        at: datetime!(2022-05-01 0:00 UTC),
        name: None,
        purpose: Purpose::Any,
    };
    verify_all_with(&input, &options(case))
        .map(|_| ())
        .map_err(|all| {
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
}

#[test]
#[ignore = "needs the PKITS data: CERTHERD_PKITS=$(.ci/pkits-fetch)"]
fn nist_pkits_matches_expectations_or_listed_exceptions() {
    let dir: PathBuf = std::env::var_os("CERTHERD_PKITS")
        .expect(
            "CERTHERD_PKITS is not set: run `.ci/pkits-fetch` and set CERTHERD_PKITS to the \
             directory it prints (the one holding pkits.json, certs/ and crls/)",
        )
        .into();
    let cases: Vec<Value> = serde_json::from_slice(
        &std::fs::read(dir.join("pkits.json"))
            .unwrap_or_else(|e| panic!("read {}/pkits.json: {e}", dir.display())),
    )
    .expect("parse pkits.json");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut listed = exceptions::load(&here.join("pkits-exceptions.json"), "name");

    // section -> (cases, agree, known exceptions)
    let mut per_section: BTreeMap<u32, (u32, u32, u32)> = BTreeMap::new();
    let mut problems = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        let name = case["name"].as_str().unwrap_or("?").to_owned();
        let expected = if case.get("error").is_some() {
            "FAILURE"
        } else {
            "SUCCESS"
        };
        let (actual, context) = match run_case(&dir, case) {
            Ok(()) => ("SUCCESS", String::new()),
            Err(why) => ("FAILURE", why),
        };
        let counts = per_section.entry(section(id)).or_default();
        counts.0 += 1;
        let detail = format!(
            "suite: {}",
            case["error"]["msg_regex"].as_str().unwrap_or("valid path")
        );
        let label = format!("{id} {name}");
        match exceptions::compare(
            &label,
            expected,
            actual,
            &context,
            listed.remove(&name).as_ref(),
            &detail,
        ) {
            Compared::Agrees => counts.1 += 1,
            Compared::Known => counts.2 += 1,
            Compared::Problem(p) => problems.push(p),
        }
    }
    for name in listed.keys() {
        problems.push(format!(
            "{name}: listed as an exception but not in the suite"
        ));
    }
    let (mut n, mut agree, mut known) = (0, 0, 0);
    for (s, (c, a, k)) in &per_section {
        println!("pkits 4.{s}: {c} cases, {a} agree, {k} known exceptions");
        n += c;
        agree += a;
        known += k;
    }
    println!("pkits: {n} cases, {agree} agree, {known} exceptions");
    assert!(
        problems.is_empty(),
        "{} unexplained differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
