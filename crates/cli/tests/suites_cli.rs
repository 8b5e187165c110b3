//! x509-limbo and NIST PKITS through the `certherd verify` binary, not only the library:
//! every case is written to files and judged by the command an admin runs, and the
//! command's verdict must be the library's for every case (the library harnesses,
//! `crates/inspect/tests/limbo.rs` and `crates/x509/tests/pkits.rs`, hold the listed
//! exceptions to the suites' expectations). Both figures are printed: how many cases agree
//! with the suite through the library and through the binary.
//!
//! limbo runs as `verify --strict` (its expectations hold the CA/Browser Forum and RFC 5280
//! profile rules, which --strict adds); PKITS runs as plain `verify` with the RFC 5280
//! inputs of each case (`--policy`, `--explicit-policy`, `--inhibit-policy-mapping`,
//! `--inhibit-any-policy`, `--crl-check-all`), as RFC 5280 validity is what it tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../x509/tests/pkits_options/mod.rs"]
mod pkits_options;

use std::path::{Path, PathBuf};

use certherd_inspect::{inspect, ChainInput, Target, Thresholds, TrustPolicy};
use certherd_x509::{CertificateDer, CertificateRevocationListDer, Purpose, Rfc5280Options};
use serde_json::{json, Value};

const DEFAULT_TIME: &str = "2026-01-01T00:00:00Z";

fn pem_of(ders: &[Vec<u8>]) -> String {
    ders.iter()
        .map(|d| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, d))
        .collect()
}

fn pem_decode(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|p| {
            let text = p.as_str().unwrap();
            match certherd_x509::parse_certificates(text.as_bytes()) {
                Ok(c) => c.into_iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
                // A CRL block.
                Err(_) => vec![certherd_x509::parse_crl(text.as_bytes()).unwrap().to_vec()],
            }
        })
        .collect()
}

/// What `certherd verify` said: valid, and the path's subjects.
struct Said {
    valid: bool,
    chain: Vec<String>,
}

fn verify_cli(home: &Path, args: &[String]) -> Said {
    let mut all: Vec<&str> = vec!["verify"];
    all.extend(args.iter().map(String::as_str));
    all.extend(["--output", "json"]);
    let r = common::run_at(home, &all);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("verify {args:?}: {e}: {}{}", r.stdout, r.stderr));
    let valid = v["valid"].as_bool().unwrap();
    assert_eq!(r.code, if valid { 0 } else { 1 }, "{args:?}: {}", r.stdout);
    Said {
        valid,
        chain: v["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
    }
}

/// Intermediates of a path (leaf first, anchor last) as RFC 5280 6.1.4 (l) counts them: a
/// self-issued one (its subject is its issuer's, the next one up) does not count.
fn counted_intermediates(chain: &[String]) -> usize {
    (1..chain.len().saturating_sub(1))
        .filter(|&i| chain[i] != chain[i + 1])
        .count()
}

#[test]
fn x509_limbo_through_the_verify_command_decides_as_the_library() {
    let suite: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../x509/tests/vectors/x509-limbo.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A directory that is not a home: no trusted roots, no CRLs but those given.
    let home = tmp.path().join("no-home");
    let (mut n, mut lib_agree, mut cli_agree, mut differ) = (0, 0, 0, Vec::new());
    for tc in suite["testcases"].as_array().unwrap() {
        let id = tc["id"].as_str().unwrap();
        let name = match &tc["expected_peer_name"] {
            Value::Null => None,
            p => match p["kind"].as_str() {
                Some("DNS") | Some("IP") => p["value"].as_str().map(str::to_owned),
                _ => continue,
            },
        };
        let peer = pem_decode(&json!([tc["peer_certificate"]]));
        let trusted = pem_decode(&tc["trusted_certs"]);
        let inter = pem_decode(&tc["untrusted_intermediates"]);
        let crls = pem_decode(&tc["crls"]);
        let at = tc["validation_time"].as_str().unwrap_or(DEFAULT_TIME);
        let purpose = if tc["validation_kind"] == "CLIENT" {
            "client"
        } else {
            "server"
        };
        n += 1;
        let dir = tmp.path().join(format!("case{n}"));
        std::fs::create_dir(&dir).unwrap();
        let f = |file: &str, data: String| {
            let p = dir.join(file);
            std::fs::write(&p, data).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let mut args = vec![
            f("peer.pem", pem_of(&peer)),
            "--trusted".into(),
            f("trusted.pem", pem_of(&trusted)),
            "--at".into(),
            at.into(),
            "--purpose".into(),
            purpose.into(),
            "--strict".into(),
            // No expiry thresholds, as the library harness: the suite asks about validity
            // at one instant, not about renewal.
            "--warn".into(),
            "0s".into(),
            "--crit".into(),
            "0s".into(),
        ];
        if !inter.is_empty() {
            args.extend(["--chain".into(), f("inter.pem", pem_of(&inter))]);
        }
        for (i, crl) in crls.iter().enumerate() {
            let p = dir.join(format!("{i}.crl"));
            std::fs::write(&p, crl).unwrap();
            args.extend(["--crl".into(), p.to_str().unwrap().to_owned()]);
        }
        if let Some(name) = &name {
            args.extend(["--name".into(), name.clone()]);
        }
        let said = verify_cli(&home, &args);

        // The library, as crates/inspect/tests/limbo.rs runs it.
        let presented: Vec<CertificateDer<'_>> = peer
            .iter()
            .chain(inter.iter())
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let trusted_der: Vec<CertificateDer<'_>> = trusted
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let crl_der: Vec<CertificateRevocationListDer<'_>> = crls
            .iter()
            .map(|d| CertificateRevocationListDer::from(d.as_slice()))
            .collect();
        let lib = inspect(&ChainInput {
            presented: &presented,
            name: name.as_deref(),
            purpose: if purpose == "client" {
                Purpose::Client
            } else {
                Purpose::Server
            },
            at: time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .unwrap(),
            trusted: &trusted_der,
            anchor_subjects: None,
            crls: &crl_der,
            pins: &[],
            thresholds: Thresholds {
                warn: time::Duration::ZERO,
                crit: time::Duration::ZERO,
            },
            policy: TrustPolicy::Required,
            ca_expected: false,
            target: Target::Files,
            rfc5280: Rfc5280Options::default(),
        });
        if lib.passes_strict() != said.valid {
            differ.push(format!(
                "{id}: library valid={}, certherd verify valid={}",
                lib.passes_strict(),
                said.valid
            ));
        }
        let depth_ok = |intermediates: usize| {
            tc["max_chain_depth"]
                .as_u64()
                .is_none_or(|max| intermediates as u64 <= max)
        };
        let lib_chain: Vec<String> = lib
            .path
            .iter()
            .map(|c| certherd_x509::CertInfo::from_der(c).unwrap().subject)
            .collect();
        let lib_ok = lib.passes_strict() && depth_ok(counted_intermediates(&lib_chain));
        let cli_ok = said.valid && depth_ok(counted_intermediates(&said.chain));
        let expected_ok = tc["expected_result"] == "SUCCESS";
        lib_agree += usize::from(lib_ok == expected_ok);
        cli_agree += usize::from(cli_ok == expected_ok);
    }
    println!(
        "limbo: {n} cases; agree with the suite: {lib_agree} through the library, {cli_agree} through `certherd verify --strict`"
    );
    assert!(
        differ.is_empty(),
        "the command decides otherwise than the library:\n{}",
        differ.join("\n")
    );
    assert_eq!(lib_agree, cli_agree);
}

fn pkits_dir() -> PathBuf {
    std::env::var_os("CERTHERD_PKITS")
        .expect("CERTHERD_PKITS is not set: CERTHERD_PKITS=$(.ci/pkits-fetch)")
        .into()
}

#[test]
#[ignore = "needs the PKITS data: CERTHERD_PKITS=$(.ci/pkits-fetch)"]
fn nist_pkits_through_the_verify_command_decides_as_the_library() {
    let dir = pkits_dir();
    let cases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("pkits.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("no-home");
    let certs = |n: &str| dir.join("certs").join(n).to_str().unwrap().to_owned();
    let crl = |n: &str| dir.join("crls").join(n).to_str().unwrap().to_owned();
    let (mut n, mut lib_agree, mut cli_agree, mut differ) = (0, 0, 0, Vec::new());
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        let opts = pkits_options::options(case);
        let mut args = vec![
            certs(case["cert"].as_str().unwrap()),
            "--trusted".into(),
            certs("TrustAnchorRootCertificate.crt"),
            "--crl".into(),
            crl("TrustAnchorRootCRL.crl"),
            "--at".into(),
            "2022-05-01T00:00:00Z".into(),
        ];
        for c in case["other_certs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            args.extend(["--chain".into(), certs(c.as_str().unwrap())]);
        }
        for c in case["crls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            args.extend(["--crl".into(), crl(c.as_str().unwrap())]);
        }
        // anyPolicy (2.5.29.32.0) is the default set; naming it is the same.
        for oid in opts
            .initial_policy_set
            .iter()
            .filter(|o| *o != "2.5.29.32.0")
        {
            args.extend(["--policy".into(), oid.clone()]);
        }
        for (on, flag) in [
            (opts.initial_explicit_policy, "--explicit-policy"),
            (
                opts.initial_policy_mapping_inhibit,
                "--inhibit-policy-mapping",
            ),
            (opts.initial_any_policy_inhibit, "--inhibit-any-policy"),
            (opts.require_revocation_status, "--crl-check-all"),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        n += 1;
        let said = verify_cli(&home, &args);
        let read = |p: &str| std::fs::read(p).unwrap();
        let ee = read(&args[0]);
        let inter: Vec<Vec<u8>> = case["other_certs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| read(&certs(c.as_str().unwrap())))
            .collect();
        let mut crls = vec![read(&crl("TrustAnchorRootCRL.crl"))];
        crls.extend(
            case["crls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|c| read(&crl(c.as_str().unwrap()))),
        );
        let anchor = read(&certs("TrustAnchorRootCertificate.crt"));
        let lib = certherd_x509::verify_all_with(
            &certherd_x509::VerifyInput {
                end_entity: &ee,
                intermediates: &inter
                    .iter()
                    .map(|d| CertificateDer::from(d.as_slice()))
                    .collect::<Vec<_>>(),
                trusted: &[CertificateDer::from(anchor.as_slice())],
                crls: &crls
                    .iter()
                    .map(|d| CertificateRevocationListDer::from(d.as_slice()))
                    .collect::<Vec<_>>(),
                at: time::macros::datetime!(2022-05-01 0:00 UTC),
                name: None,
                purpose: Purpose::Any,
            },
            &opts,
        )
        .is_ok();
        if lib != said.valid {
            differ.push(format!(
                "{id} {}: library valid={lib}, certherd verify valid={}",
                case["name"].as_str().unwrap_or("?"),
                said.valid
            ));
        }
        let expected_ok = case.get("error").is_none();
        lib_agree += usize::from(lib == expected_ok);
        cli_agree += usize::from(said.valid == expected_ok);
    }
    println!(
        "pkits: {n} cases; agree with the suite: {lib_agree} through the library, {cli_agree} through `certherd verify`"
    );
    assert!(
        differ.is_empty(),
        "the command decides otherwise than the library:\n{}",
        differ.join("\n")
    );
    assert!(
        cli_agree >= lib_agree,
        "the command agrees with PKITS less than the library ({cli_agree} < {lib_agree})"
    );
}
