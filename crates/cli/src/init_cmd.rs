//! `init` and `csr create`.

use std::process::ExitCode;

use certherd_ca::{InitOptions, Mode, Node, SystemClock};
use certherd_store::{write_atomic, Home};
use certherd_x509::{CertSpec, KeyAlgorithm, PemLabel, PrivateKey, Role};

use crate::args::{CsrArgs, CsrCmd, InitArgs, ModeArg};
use crate::Failure;

fn key_algo(s: &str) -> Result<KeyAlgorithm, Failure> {
    s.parse()
        .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))
}

pub fn init(home: &Home, a: InitArgs) -> Result<ExitCode, Failure> {
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
    crate::home_cmd::warn_modes(home);
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
        write_atomic(&out, csr.as_bytes(), 0o644)?;
        outln!(
            "subordinate mode: CA signing request written to {}",
            out.display()
        );
        outln!("next: have your enterprise CA sign it, then run `certherd ca import-signed SIGNED.pem --chain ROOT.pem`");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn csr(c: CsrCmd) -> Result<ExitCode, Failure> {
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
    std::fs::create_dir_all(&a.out).map_err(|e| Failure::file(&a.out, e))?;
    write_atomic(&key_path, key.to_pem().as_bytes(), 0o600)?;
    write_atomic(
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
