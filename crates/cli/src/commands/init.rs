//! `init`: a new home, with its CA, stores and this node's certificates.

use crate::Failure;
use certherd_authority::InitOptions;
use certherd_authority::Mode;
use certherd_authority::Node;
use certherd_authority::SystemClock;
use certherd_store::write_out;
use certherd_store::Home;
use certherd_x509::KeyAlgorithm;
use clap::Args;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn key_algo(s: &str) -> Result<KeyAlgorithm, Failure> {
    s.parse()
        .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))
}

pub fn run(home: &Home, a: InitArgs) -> Result<ExitCode, Failure> {
    let algo = key_algo(&a.key_algo)?;
    // Validate the settings file before anything is created.
    let config = home.read_config()?;
    if let Some(text) = &config {
        let _: certherd_core::Settings = toml::from_str(text).map_err(|e| {
            Failure::msg(format!(
                "{}: {}",
                home.config_path().display(),
                e.to_string().trim().replace('\n', " ")
            ))
        })?;
    }
    let mode = match a.mode {
        ModeArg::Ca => Mode::Ca,
        ModeArg::Subordinate => Mode::Subordinate,
    };
    let opts = InitOptions {
        hostname: a.hostname.clone(),
        ips: a.ips,
        key_algo: algo,
        mode,
    };
    opts.validate()?;
    let store = home.create()?;
    crate::commands::home::warn_modes(home);
    let path = home.config_path().display().to_string();
    let mut node = Node::new(store, Box::new(SystemClock), config.as_deref(), &path)?;
    let report = node.init(&opts)?;
    outln!(
        "initialized certherd home {} for {}",
        home.dir().display(),
        a.hostname.to_ascii_lowercase()
    );
    if let Some(sha) = &report.ca_sha256 {
        outln!("root CA SHA-256: {}", crate::render::colon_hex(sha));
    }
    for e in &report.entries {
        outln!("  created {e}");
    }
    if let Some(csr) = &report.csr_pem {
        let out = a.csr_out.unwrap_or_else(|| home.dir().join("ca.csr"));
        write_out(&out, csr.as_bytes(), 0o644)?;
        outln!(
            "subordinate mode: CA signing request written to {}",
            out.display()
        );
        outln!("next: have your enterprise CA sign it, then run `certherd ca import-signed SIGNED.pem --chain ROOT.pem`");
    }
    Ok(ExitCode::SUCCESS)
}

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// This node's fully qualified domain name (CN and first SAN of machine-ssl).
    #[arg(long, value_name = "FQDN")]
    pub hostname: String,
    /// An IP address of this node (a SAN of machine-ssl); repeatable.
    #[arg(long = "ip", value_name = "ADDR")]
    pub ips: Vec<std::net::IpAddr>,
    /// Key algorithm: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519.
    #[arg(long, value_name = "ALG", default_value = "ecdsa-p256")]
    pub key_algo: String,
    /// `ca`: certherd's own root. `subordinate`: a CA signed by your enterprise CA.
    #[arg(long, value_enum, default_value = "ca")]
    pub mode: ModeArg,
    /// Where to write the CA CSR in subordinate mode [default: HOME/ca.csr].
    #[arg(long, value_name = "FILE")]
    pub csr_out: Option<PathBuf>,
}

/// CA modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// certherd's own root CA.
    Ca,
    /// A CA signed by an enterprise CA.
    Subordinate,
}
