//! `ca ...`.

use std::process::ExitCode;

use certherd_store::{write_atomic, Home};
use certherd_x509::PemLabel;

use crate::args::CaCmd;
use crate::failure::read_certificates;
use crate::instant::rfc3339;
use crate::{open_node, Failure};

pub fn run(home: &Home, c: CaCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
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
