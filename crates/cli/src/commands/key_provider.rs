//! `key-provider ...`: the state lives in the node; the TLS and KMIP exchanges are
//! certherd-monitor's, carried out through the operations (on the home, or by the server
//! against `--server`).

use crate::commands::Output;
use crate::commands::OutputArg;
use crate::commands::Ran;
use crate::failure::read_input;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_core::ProviderName;
use certherd_core::ServerAddress;
use certherd_monitor::MonitorExt;
use certherd_ops::Operations;
use certherd_ops::Request;
use certherd_protocol::admin as api;
use certherd_store::write_out;
use certherd_store::Home;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

fn provider(name: &str) -> Result<ProviderName, Failure> {
    Ok(name.parse::<ProviderName>()?)
}

fn address(s: &str) -> Result<ServerAddress, Failure> {
    Ok(s.parse::<ServerAddress>()?)
}

pub(crate) fn key_algo(s: Option<&str>) -> Result<Option<certherd_x509::KeyAlgorithm>, Failure> {
    s.map(str::parse)
        .transpose()
        .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))
}

/// `key-provider client-cert upload --key`: a certificate with the key the key server
/// made, read and stored on the home (the admin API never takes a private key). The other
/// forms are operations ([`operation`]).
pub fn run(home: &Home, c: KeyProviderCmd) -> Result<ExitCode, Failure> {
    match c {
        KeyProviderCmd::ClientCert(ClientCertCmd::Upload {
            name,
            cert,
            key: Some(key),
        }) => {
            let c = read_upload(&cert)?;
            let k = read_input(&key)?;
            certherd_x509::parse_private_key(&k).map_err(|e| Failure::file(&key, e))?;
            let mut node = open_node(home)?;
            let issued =
                node.key_providers_mut()
                    .kmip_client_upload(&provider(&name)?, &c, Some(&k))?;
            uploaded(&api::KmipClientCert {
                entry: issued.meta.entry.to_string(),
                subject: issued.meta.subject,
                issuer: issued.meta.issuer,
                not_after: rfc3339(issued.meta.not_after),
                warnings: issued.warnings,
            });
            Ok(ExitCode::SUCCESS)
        }
        other => Err(crate::not_carried_out(&other)),
    }
}

/// A certificate file to upload, read and checked to hold certificates.
fn read_upload(cert: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let c = read_input(cert)?;
    certherd_x509::parse_certificates(&c).map_err(|e| Failure::file(cert, e))?;
    Ok(c)
}

/// `client-cert upload`'s lines.
fn uploaded(c: &api::KmipClientCert) {
    outln!(
        "client certificate {} uploaded  subject {}  issuer {}",
        c.entry,
        c.subject,
        c.issuer
    );
    for w in &c.warnings {
        errln!("note: {w}");
    }
}

/// `key-provider create`.
fn create(
    ops: &mut dyn Operations,
    name: String,
    primary_key_id: String,
    server: String,
    proxy: Option<String>,
) -> Result<ExitCode, Failure> {
    // Said as the home says them (exit 2) before anything is sent.
    provider(&name)?;
    address(&server)?;
    proxy.as_deref().map(address).transpose()?;
    let created = ops.key_provider_create(api::KeyProviderCreateRequest {
        name,
        primary_key_id,
        server,
        proxy,
    })?;
    let name = &created.provider.name;
    outln!("created key provider {name}  (store {})", created.store);
    outln!("next: make the key server trust certherd (`key-provider client-cert new {name}` then `client-cert export {name}`), then `key-provider server-cert get {name}`");
    Ok(ExitCode::SUCCESS)
}

/// `key-provider list`.
fn list(ops: &mut dyn Operations, output: Output) -> Result<ExitCode, Failure> {
    let ps = ops.key_provider_list()?;
    match output {
        Output::Json => json(&ps),
        Output::Table => table(
            &["PROVIDER", "PRIMARY KEY ID", "SERVERS"],
            &ps.iter()
                .map(|p| {
                    let servers = p.servers.iter().map(|s| match &s.proxy {
                        Some(px) => format!("{} (via {px})", s.address),
                        None => s.address.clone(),
                    });
                    vec![
                        p.name.clone(),
                        p.primary_key_id.clone(),
                        servers.collect::<Vec<_>>().join(", "),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `key-provider client-cert ...`; `upload --key` is given back (the home's alone).
fn client_cert(ops: &mut dyn Operations, c: ClientCertCmd) -> Ran<ClientCertCmd> {
    Ran::Done(match c {
        ClientCertCmd::New {
            name,
            self_signed,
            key_algo: k,
        } => (|| {
            provider(&name)?;
            key_algo(k.as_deref())?;
            let c = ops.kmip_client(Request::KmipClientNew {
                name,
                request: api::KmipClientNewRequest {
                    self_signed,
                    key_algo: k,
                },
            })?;
            outln!(
                "client certificate {}  subject {}  not after {}",
                c.entry,
                c.subject,
                c.not_after
            );
            for w in &c.warnings {
                errln!("note: {w}");
            }
            errln!("note: {}", crate::hints::KMIP_CLIENT_NEW);
            Ok(ExitCode::SUCCESS)
        })(),
        ClientCertCmd::Export { name, out } => (|| {
            provider(&name)?;
            let pem = ops.kmip_pem(Request::KmipClientExport { name })?.pem;
            match out {
                Some(p) => {
                    write_out(&p, pem.as_bytes(), 0o644)?;
                    errln!("wrote {}", p.display());
                }
                None => out!("{pem}"),
            }
            Ok(ExitCode::SUCCESS)
        })(),
        ClientCertCmd::Csr {
            name,
            out,
            key_algo: k,
        } => (|| {
            provider(&name)?;
            key_algo(k.as_deref())?;
            let pem = ops
                .kmip_pem(Request::KmipClientCsr {
                    name: name.clone(),
                    request: api::KmipClientCsrRequest { key_algo: k },
                })?
                .pem;
            write_out(&out, pem.as_bytes(), 0o644)?;
            outln!("wrote {}; the key stays sealed in certherd", out.display());
            outln!("next: have the key server vendor sign it, then `key-provider client-cert upload {name} --cert SIGNED.pem`");
            Ok(ExitCode::SUCCESS)
        })(),
        ClientCertCmd::Upload {
            name,
            cert,
            key: None,
        } => (|| {
            let c = read_upload(&cert)?;
            provider(&name)?;
            uploaded(&ops.kmip_client(Request::KmipClientUpload { name, cert: c })?);
            Ok(ExitCode::SUCCESS)
        })(),
        other @ ClientCertCmd::Upload { key: Some(_), .. } => return Ran::NotAnOperation(other),
    })
}

/// What a server presented, as the vSphere tools show it.
#[derive(serde::Serialize)]
struct Presented<'a> {
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    not_before: &'a str,
    not_after: &'a str,
    sha1: String,
    sha256: String,
}

/// `key-provider server-cert get`: per server, what it presented or why nothing came.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ServerCertJson<'a> {
    /// The leaf certificate, and whether it is the one pinned.
    Presented {
        server: &'a str,
        #[serde(flatten)]
        cert: Presented<'a>,
        trusted: bool,
    },
    /// The server could not be reached or its chain not read.
    Failed { server: &'a str, error: &'a str },
}

/// The view of what a server presented.
fn server_cert_view(p: &api::KmipPresented) -> ServerCertJson<'_> {
    match p {
        api::KmipPresented::Presented {
            server,
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            sha1,
            sha256,
            trusted,
        } => ServerCertJson::Presented {
            server,
            cert: Presented {
                subject,
                issuer,
                serial,
                not_before,
                not_after,
                sha1: colon_hex(sha1),
                sha256: colon_hex(sha256),
            },
            trusted: *trusted,
        },
        api::KmipPresented::Failed { server, error } => ServerCertJson::Failed { server, error },
    }
}

/// `key-provider server-cert ...`: the server (or the home) connects to the KMIP servers.
fn server_cert(ops: &mut dyn Operations, c: ServerCertCmd) -> Result<ExitCode, Failure> {
    match c {
        ServerCertCmd::Get { name, output } => {
            provider(&name)?;
            let presented = ops.kmip_server_certs(name)?;
            let out: Vec<ServerCertJson<'_>> = presented.iter().map(server_cert_view).collect();
            match output {
                Output::Json => json(&out),
                Output::Table => {
                    for v in &out {
                        let (server, cert, trusted) = match v {
                            ServerCertJson::Failed { server, error } => {
                                outln!("Server        {server}");
                                outln!("Error         {error}\n");
                                continue;
                            }
                            ServerCertJson::Presented {
                                server,
                                cert,
                                trusted,
                            } => (server, cert, trusted),
                        };
                        outln!("Server        {server}");
                        for (label, value) in [
                            ("Subject", cert.subject),
                            ("Issuer", cert.issuer),
                            ("Serial", cert.serial),
                            ("Not before", cert.not_before),
                            ("Not after", cert.not_after),
                            ("SHA-1", &cert.sha1),
                            ("SHA-256", &cert.sha256),
                        ] {
                            outln!("{label:<13} {value}");
                        }
                        outln!("Trusted       {trusted}\n");
                    }
                }
            }
            if out
                .iter()
                .any(|v| matches!(v, ServerCertJson::Failed { .. }))
            {
                return Err(Failure::msg(
                    "could not fetch the certificate of every server",
                ));
            }
        }
        ServerCertCmd::Trust {
            name,
            thumbprint,
            server,
        } => {
            provider(&name)?;
            server.as_deref().map(address).transpose()?;
            for t in ops.kmip_server_trust(name, api::KmipTrustRequest { thumbprint, server })? {
                outln!(
                    "trusted {}  for {}  SHA-256 {}",
                    t.subject,
                    t.server,
                    colon_hex(&t.sha256)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `key-provider status --output json`.
#[derive(serde::Serialize)]
struct ProviderJson<'a> {
    provider: &'a str,
    primary_key_id: &'a str,
    health: &'a str,
    servers: Vec<KmipServerJson<'a>>,
}

/// One server of [`ProviderJson`].
#[derive(serde::Serialize)]
struct KmipServerJson<'a> {
    address: &'a str,
    status: &'a str,
    detail: String,
}

/// `key-provider status NAME`: exit 0 only when every server is healthy.
pub(crate) fn key_provider_status(
    ops: &mut dyn Operations,
    name: String,
    timeout: &str,
    output: crate::commands::Output,
) -> Result<ExitCode, Failure> {
    let span: certherd_core::Span = timeout.parse()?;
    // Whole seconds, at least one: what the operation takes.
    let seconds = u64::try_from(span.duration().whole_seconds().clamp(1, 300)).unwrap_or(10);
    let checked = ops.key_providers(Some(name.clone()), seconds)?;
    let p = checked
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            Failure::msg(format!(
                "the answer does not name the key provider '{name}'"
            ))
        })?;
    let healthy = p.health == "OK";
    // Without a client certificate every server fails for that reason: say what makes one.
    let detail = |s: &certherd_protocol::admin::KmipServerHealth| {
        if p.client_certificate {
            format!("{}{}", s.detail, crate::hints::kmip_check(&s.status))
        } else {
            format!(
                "{}: run `key-provider client-cert new {}`",
                s.detail, p.name
            )
        }
    };
    match output {
        crate::commands::Output::Json => crate::render::json(&ProviderJson {
            provider: &p.name,
            primary_key_id: &p.primary_key_id,
            health: &p.health,
            servers: p
                .servers
                .iter()
                .map(|s| KmipServerJson {
                    address: &s.address,
                    status: &s.status,
                    detail: detail(s),
                })
                .collect(),
        }),
        crate::commands::Output::Table => {
            outln!("Key provider {}: health {}", p.name, p.health);
            for s in &p.servers {
                outln!("  {}  {}", s.address, detail(s));
            }
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `key-provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyProviderCmd {
    /// Create a key provider with its first KMIP server.
    Create {
        /// Provider name, unique on this node.
        name: String,
        /// The primary key's id on the key server (a UUID there).
        #[arg(long, value_name = "ID")]
        primary_key_id: String,
        /// The KMIP server, HOST:PORT (KMIP's port is 5696).
        #[arg(long, value_name = "HOST:PORT")]
        server: String,
        /// An HTTP CONNECT proxy to reach it through.
        #[arg(long, value_name = "HOST:PORT")]
        proxy: Option<String>,
    },
    /// Add another KMIP server (a cluster member) to a provider.
    AddServer {
        /// Provider name.
        name: String,
        /// HOST:PORT.
        address: String,
        /// An HTTP CONNECT proxy to reach it through.
        #[arg(long, value_name = "HOST:PORT")]
        proxy: Option<String>,
    },
    /// List providers and their servers.
    List(OutputArg),
    /// Remove a provider (its certificates are kept in backup for the retention period).
    Remove {
        /// Provider name.
        name: String,
    },
    /// The client certificate the key server must trust.
    #[command(subcommand)]
    ClientCert(ClientCertCmd),
    /// The key server's certificate, which certherd must trust.
    #[command(subcommand)]
    ServerCert(ServerCertCmd),
    /// Health: OK only when, for every server, mutual TLS opens and KMIP answers.
    ///
    /// Exit 0 only when healthy. Each failing server gets its precise reason: unreachable,
    /// our client certificate refused, its certificate not trusted (or changed since it
    /// was trusted), or a KMIP error.
    Status {
        /// Provider name.
        name: String,
        /// Per-server connect and response timeout.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `key-provider client-cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCertCmd {
    /// Make a `kmip-client` certificate (CA-issued by default) for the key server to trust.
    New {
        /// Provider name.
        name: String,
        /// Self-signed instead of issued by certherd's CA.
        #[arg(long)]
        self_signed: bool,
        /// Key algorithm [default: the node's].
        #[arg(long, value_name = "ALG")]
        key_algo: Option<String>,
    },
    /// Write the client certificate (PEM, with its chain) for the key server's admin.
    Export {
        /// Provider name.
        name: String,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write a CSR for the key server vendor to sign; the key stays sealed in certherd.
    Csr {
        /// Provider name.
        name: String,
        /// Where to write the CSR.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Key algorithm [default: the node's].
        #[arg(long, value_name = "ALG")]
        key_algo: Option<String>,
    },
    /// Upload the certificate signed from the CSR, or a certificate and key the key server issued.
    Upload {
        /// Provider name.
        name: String,
        /// The certificate (PEM or DER, may include its chain). A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Its private key, when the key server generated it. A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
}

/// `key-provider server-cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServerCertCmd {
    /// Connect to each server and show the certificate it presents (not trusted yet).
    Get {
        /// Provider name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Trust the certificate each server presents (or only those matching --thumbprint).
    Trust {
        /// Provider name.
        name: String,
        /// The SHA-256 or SHA-1 thumbprint you checked (colons optional); a server
        /// presenting anything else is refused.
        #[arg(long, value_name = "T")]
        thumbprint: Option<String>,
        /// Only this server (HOST:PORT) [default: every server of the provider].
        #[arg(long, value_name = "HOST:PORT")]
        server: Option<String>,
    },
}

/// Every form of `key-provider` is an operation but `client-cert upload --key`: a private
/// key never crosses the admin API, so a certificate with its own key is uploaded on the
/// home ([`run`]).
pub fn operation(ops: &mut dyn Operations, c: KeyProviderCmd) -> Ran<KeyProviderCmd> {
    Ran::Done(match c {
        KeyProviderCmd::Status {
            name,
            timeout,
            output,
        } => key_provider_status(ops, name, &timeout, output),
        KeyProviderCmd::Create {
            name,
            primary_key_id,
            server,
            proxy,
        } => create(ops, name, primary_key_id, server, proxy),
        KeyProviderCmd::AddServer {
            name,
            address: a,
            proxy,
        } => (|| {
            provider(&name)?;
            address(&a)?;
            proxy.as_deref().map(address).transpose()?;
            let p =
                ops.key_provider_add_server(name, api::KmipServerAddRequest { address: a, proxy })?;
            outln!("{} now has {} server(s)", p.name, p.servers.len());
            Ok(ExitCode::SUCCESS)
        })(),
        KeyProviderCmd::List(a) => list(ops, a.output),
        KeyProviderCmd::Remove { name } => (|| {
            provider(&name)?;
            let removed = ops.key_provider_remove(name)?;
            outln!(
                "removed key provider {}; its certificates are kept in the backup store",
                removed.name
            );
            Ok(ExitCode::SUCCESS)
        })(),
        KeyProviderCmd::ClientCert(cc) => {
            return client_cert(ops, cc).back(KeyProviderCmd::ClientCert)
        }
        KeyProviderCmd::ServerCert(sc) => server_cert(ops, sc),
    })
}
