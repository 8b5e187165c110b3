//! `ca ...`.

use std::process::ExitCode;

use certherd_store::{write_atomic, Home};
use certherd_x509::PemLabel;
use serde_json::json;

use crate::args::{CaCmd, Output};
use crate::failure::read_certificates;
use crate::instant::rfc3339;
use crate::render::{colon_hex, json};
use crate::{open_node, Failure};

pub fn run(home: &Home, c: CaCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        CaCmd::Show(a) => {
            let s = node.ca_summary()?;
            match a.output {
                Output::Json => json(&json!({
                    "mode": s.mode,
                    "entry": s.entry.as_ref().map(ToString::to_string),
                    "subject": s.info.as_ref().map(|i| i.subject.clone()),
                    "not_after": s.info.as_ref().map(|i| rfc3339(i.not_after)),
                    "public_key": s.info.as_ref().map(|i| i.public_key.clone()),
                    "sha256": s.info.as_ref().map(|i| i.sha256.clone()),
                    "root_subject": s.root.as_ref().map(|i| i.subject.clone()),
                    "root_sha256": s.root.as_ref().map(|i| i.sha256.clone()),
                    "rotation_in_progress": s.retiring.as_ref().map(ToString::to_string),
                    "pending_signature": s.pending,
                })),
                Output::Table => {
                    outln!("Mode            {}", s.mode);
                    match (&s.entry, &s.info) {
                        (Some(e), Some(i)) => {
                            outln!("Signing CA      {e}");
                            outln!("Subject         {}", i.subject);
                            outln!("Issuer          {}", i.issuer);
                            outln!("Not after       {}", rfc3339(i.not_after));
                            outln!("Public key      {}", i.public_key);
                            outln!("SHA-256         {}", colon_hex(&i.sha256));
                        }
                        _ => outln!(
                            "Signing CA      none yet (waiting for `certherd ca import-signed`)"
                        ),
                    }
                    if let Some(r) = &s.root {
                        outln!(
                            "Root            {}  SHA-256 {}",
                            r.subject,
                            colon_hex(&r.sha256)
                        );
                    }
                    if let Some(r) = &s.retiring {
                        outln!("Rotation        in progress: {r} is retiring; run `certherd ca rotate` to finish");
                    }
                }
            }
        }
        CaCmd::Export { out } => {
            let pem = certherd_x509::to_pem(PemLabel::Certificate, &node.ca_root()?);
            match out {
                Some(p) => {
                    write_atomic(&p, pem.as_bytes(), 0o644)?;
                    errln!("wrote {}", p.display());
                }
                None => out!("{pem}"),
            }
        }
        CaCmd::Crl { out, der } => {
            let crl = node.revocations_mut().current_crl()?;
            let bytes = if der {
                crl.clone()
            } else {
                certherd_x509::to_pem(PemLabel::Crl, &crl).into_bytes()
            };
            let info = certherd_x509::CrlInfo::from_der(&crl)?;
            let number = certherd_x509::crl_number(&crl)?.unwrap_or(0);
            let facts = format!(
                "CRL number {number} from {}: {} revoked, this update {}, next update {}",
                info.issuer,
                info.revoked,
                rfc3339(info.this_update),
                info.next_update.map_or_else(|| "-".into(), rfc3339)
            );
            match out {
                Some(p) => {
                    write_atomic(&p, &bytes, 0o644)?;
                    errln!("wrote {}: {facts}", p.display());
                }
                None if der => {
                    return Err(Failure::usage(
                        "--der writes binary: give --out FILE".to_owned(),
                    ))
                }
                None => {
                    errln!("{facts}");
                    out!("{}", String::from_utf8_lossy(&bytes));
                }
            }
        }
        CaCmd::Rotate(a) => {
            let r = node.ca_rotate()?;
            let failed = r.reissued.iter().filter(|x| x.result.is_err()).count();
            match a.output {
                Output::Json => json(&json!({
                    "new_ca": r.new_ca.to_string(),
                    "new_sha256": r.new_sha256,
                    "old_ca": r.old_ca.to_string(),
                    "retired": r.retired,
                    "waiting_for": r.waiting_for,
                    "ordered": r.ordered,
                    "reissued": r.reissued.iter().map(|x| json!({"entry": x.entry.to_string(), "ok": x.result.is_ok(), "error": x.result.as_ref().err()})).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    outln!(
                        "new signing CA {}  SHA-256 {}",
                        r.new_ca,
                        colon_hex(&r.new_sha256)
                    );
                    for x in &r.reissued {
                        match &x.result {
                            Ok(_) => outln!("  reissued {}", x.entry),
                            Err(e) => outln!("  FAILED   {}: {e}", x.entry),
                        }
                    }
                    if !r.waiting_for.is_empty() {
                        outln!("staged: {} host(s) must trust the new root before anything is reissued: {}", r.waiting_for.len(), r.waiting_for.join(", "));
                        outln!("they receive it at their next poll; a running `certherd server` takes the next steps by itself, or run `certherd ca rotate` again");
                    } else if !r.ordered.is_empty() {
                        outln!(
                            "{} host(s) ordered to renew under the new root: {}",
                            r.ordered.len(),
                            r.ordered.join(", ")
                        );
                    }
                    if r.retired {
                        outln!("old CA {} retired: nothing issued by it remains; its root is no longer trusted", r.old_ca);
                    } else if !r.waiting_for.is_empty() || !r.ordered.is_empty() {
                        outln!(
                            "old CA {} stays trusted until every host has renewed",
                            r.old_ca
                        );
                    } else {
                        outln!("old CA {} still trusted: {failed} entries could not be reissued; fix them and run `certherd ca rotate` again", r.old_ca);
                    }
                }
            }
            if failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
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
    }
    Ok(ExitCode::SUCCESS)
}
