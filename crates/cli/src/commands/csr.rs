//! `csr create`: a key and a CSR for a certificate another CA signs.

use crate::commands::init::key_algo;
use crate::Failure;
use certherd_store::write_out;
use certherd_x509::CertSpec;
use certherd_x509::PemLabel;
use certherd_x509::PrivateKey;
use certherd_x509::Role;
use clap::Args;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(c: CsrCmd) -> Result<ExitCode, Failure> {
    let CsrCmd::Create(a) = c;
    create_csr(a)
}

fn create_csr(a: CsrArgs) -> Result<ExitCode, Failure> {
    // The CA will refuse what RFC 5280 does: say so before a key is made.
    let length = a.cn.chars().count();
    if a.cn.trim().is_empty() {
        return Err(Failure::usage(format!(
            "--cn is empty or only spaces; RFC 5280 requires a common name of 1 to {} characters",
            certherd_x509::UB_COMMON_NAME
        )));
    }
    if length > certherd_x509::UB_COMMON_NAME {
        return Err(Failure::usage(format!(
            "--cn is {length} characters; RFC 5280 requires a common name of 1 to {} characters (ub-common-name): put the full name in --san",
            certherd_x509::UB_COMMON_NAME
        )));
    }
    if a.cn.parse::<std::net::IpAddr>().is_ok() {
        return Err(Failure::usage(format!(
            "--cn '{}' is an IP address: the CN must be the FQDN clients use; give IPs with --san",
            a.cn
        )));
    }
    let algo = key_algo(&a.key_algo)?;
    let now = time::OffsetDateTime::now_utc();
    let mut names = vec![a.cn.as_str()];
    names.extend(a.sans.iter().map(String::as_str));
    // The validity in a CSR is ignored by CAs; the spec needs one, so give a nominal year.
    let spec = CertSpec {
        common_name: a.cn.clone(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(365),
        role: Role::Leaf,
        eku: vec![
            certherd_x509::Eku::ServerAuth,
            certherd_x509::Eku::ClientAuth,
        ],
    }
    .with_names(names)?;
    let key_path = a.out.join("key.pem");
    let csr_path = a.out.join("csr.pem");
    for p in [&key_path, &csr_path] {
        if p.exists() {
            return Err(Failure::msg(format!(
                "{} already exists; refusing to overwrite a key or CSR",
                p.display()
            )));
        }
    }
    let key = PrivateKey::generate(algo)?;
    let csr = certherd_x509::signing_request(&spec, &key)?;
    // The directory holds the key: 0700 for those certherd creates.
    certherd_store::create_parents(&key_path, 0o700)?;
    write_out(&key_path, key.to_pem().as_bytes(), 0o600)?;
    write_out(
        &csr_path,
        certherd_x509::to_pem(PemLabel::CertificateRequest, &csr).as_bytes(),
        0o644,
    )?;
    outln!(
        "wrote {} (0600) and {}",
        key_path.display(),
        csr_path.display()
    );
    outln!(
        "CN={}  SANs: {}",
        a.cn,
        spec.dns_names
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(spec.ip_addresses.iter().map(|i| format!("IP:{i}")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `csr` subcommands.
#[derive(Debug, Subcommand)]
pub enum CsrCmd {
    /// Write key.pem (0600) and csr.pem for another CA to sign. CN is the FQDN; IPs only as SANs.
    Create(CsrArgs),
}

/// `csr create` arguments.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The FQDN clients use (must be a DNS name, not an IP).
    #[arg(long, value_name = "FQDN")]
    pub cn: String,
    /// Extra DNS names or IP addresses; the CN is always the first SAN.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Key algorithm.
    #[arg(long, value_name = "ALG", default_value = "ecdsa-p256")]
    pub key_algo: String,
    /// Directory for key.pem and csr.pem (created if missing; existing files are refused).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
