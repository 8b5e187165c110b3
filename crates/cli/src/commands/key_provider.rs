//! `key-provider ...`: the state lives in the node; the TLS and KMIP exchanges are
//! certherd-monitor's.

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
use certherd_core::KmipServer;
use certherd_core::ProviderName;
use certherd_core::ServerAddress;
use certherd_monitor::kmip::endpoint;
use certherd_monitor::{KmipPlan, MonitorExt};
use certherd_ops::Operations;
use certherd_store::write_atomic;
use certherd_store::Home;
use certherd_tls::Identity;
use certherd_x509::CertInfo;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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

fn identity(plan: &KmipPlan) -> Result<Option<Identity>, Failure> {
    let Some((chain, key)) = &plan.identity else {
        return Ok(None);
    };
    certherd_monitor::kmip::identity(chain, key)
        .map(Some)
        .map_err(|e| Failure::msg(e.to_string()))
}

pub fn run(home: &Home, c: KeyProviderCmd) -> Result<ExitCode, Failure> {
    let mut node = open_node(home)?;
    match c {
        KeyProviderCmd::Create {
            name,
            primary_key_id,
            server,
            proxy,
        } => {
            let server = KmipServer {
                address: address(&server)?,
                proxy: proxy.as_deref().map(address).transpose()?,
            };
            let p = node.key_providers_mut().key_provider_create(
                &provider(&name)?,
                &primary_key_id,
                server,
            )?;
            outln!("created key provider {}  (store {})", p.name, p.store()?);
            outln!("next: make the key server trust certherd (`key-provider client-cert new {0}` then `client-cert export {0}`), then `key-provider server-cert get {0}`", p.name);
        }
        KeyProviderCmd::AddServer {
            name,
            address: a,
            proxy,
        } => {
            let server = KmipServer {
                address: address(&a)?,
                proxy: proxy.as_deref().map(address).transpose()?,
            };
            let p = node
                .key_providers_mut()
                .key_provider_add_server(&provider(&name)?, server)?;
            outln!("{} now has {} server(s)", p.name, p.servers.len());
        }
        KeyProviderCmd::List(a) => {
            let ps = node.key_providers().list()?;
            match a.output {
                Output::Json => json(
                    &ps.iter()
                        .map(|p| ListedProviderJson {
                            name: p.name.as_str(),
                            primary_key_id: &p.primary_key_id,
                            servers: p
                                .servers
                                .iter()
                                .map(|s| ListedServerJson {
                                    address: s.address.to_string(),
                                    proxy: s.proxy.as_ref().map(ToString::to_string),
                                })
                                .collect(),
                        })
                        .collect::<Vec<_>>(),
                ),
                Output::Table => table(
                    &["PROVIDER", "PRIMARY KEY ID", "SERVERS"],
                    &ps.iter()
                        .map(|p| {
                            let servers = p.servers.iter().map(|s| match &s.proxy {
                                Some(px) => format!("{} (via {px})", s.address),
                                None => s.address.to_string(),
                            });
                            vec![
                                p.name.to_string(),
                                p.primary_key_id.clone(),
                                servers.collect::<Vec<_>>().join(", "),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        KeyProviderCmd::Remove { name } => {
            node.key_providers_mut()
                .key_provider_remove(&provider(&name)?)?;
            outln!("removed key provider {name}; its certificates are kept in the backup store");
        }
        KeyProviderCmd::ClientCert(cc) => client_cert(&mut node, cc)?,
        KeyProviderCmd::ServerCert(sc) => server_cert(&mut node, sc)?,
        other => return Err(crate::not_carried_out(&other)),
    }
    Ok(ExitCode::SUCCESS)
}

fn client_cert(node: &mut crate::LocalNode, c: ClientCertCmd) -> Result<(), Failure> {
    match c {
        ClientCertCmd::New {
            name,
            self_signed,
            key_algo: k,
        } => {
            let issued = node.key_providers_mut().kmip_client_new(
                &provider(&name)?,
                self_signed,
                key_algo(k.as_deref())?,
            )?;
            outln!(
                "client certificate {}  subject {}  not after {}",
                issued.meta.entry,
                issued.meta.subject,
                rfc3339(issued.meta.not_after)
            );
            for w in issued.warnings {
                errln!("note: {w}");
            }
            errln!("note: {}", crate::hints::KMIP_CLIENT_NEW);
        }
        ClientCertCmd::Export { name, out } => {
            let pem = node.key_providers().kmip_client_export(&provider(&name)?)?;
            match out {
                Some(p) => {
                    write_atomic(&p, pem.as_bytes(), 0o644)?;
                    errln!("wrote {}", p.display());
                }
                None => out!("{pem}"),
            }
        }
        ClientCertCmd::Csr {
            name,
            out,
            key_algo: k,
        } => {
            let pem = node
                .key_providers_mut()
                .kmip_client_csr(&provider(&name)?, key_algo(k.as_deref())?)?;
            write_atomic(&out, pem.as_bytes(), 0o644)?;
            outln!("wrote {}; the key stays sealed in certherd", out.display());
            outln!("next: have the key server vendor sign it, then `key-provider client-cert upload {name} --cert SIGNED.pem`");
        }
        ClientCertCmd::Upload { name, cert, key } => {
            let c = read_input(&cert)?;
            certherd_x509::parse_certificates(&c).map_err(|e| Failure::file(&cert, e))?;
            let k = key.as_deref().map(read_input).transpose()?;
            if let (Some(bytes), Some(path)) = (&k, &key) {
                certherd_x509::parse_private_key(bytes).map_err(|e| Failure::file(path, e))?;
            }
            let issued =
                node.key_providers_mut()
                    .kmip_client_upload(&provider(&name)?, &c, k.as_deref())?;
            outln!(
                "client certificate {} uploaded  subject {}  issuer {}",
                issued.meta.entry,
                issued.meta.subject,
                issued.meta.issuer
            );
            for w in issued.warnings {
                errln!("note: {w}");
            }
        }
    }
    Ok(())
}

/// `key-provider list --output json`: one provider.
#[derive(serde::Serialize)]
struct ListedProviderJson<'a> {
    name: &'a str,
    primary_key_id: &'a str,
    servers: Vec<ListedServerJson>,
}

/// A KMIP server of [`ListedProviderJson`].
#[derive(serde::Serialize)]
struct ListedServerJson {
    address: String,
    proxy: Option<String>,
}

/// What a server presented, as the vSphere tools show it.
#[derive(serde::Serialize)]
struct Presented {
    subject: String,
    issuer: String,
    serial: String,
    not_before: String,
    not_after: String,
    sha1: String,
    sha256: String,
}

/// `key-provider server-cert get`: per server, what it presented or why nothing came.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ServerCertJson {
    /// The leaf certificate, and whether it is the one pinned.
    Presented {
        server: String,
        #[serde(flatten)]
        cert: Presented,
        trusted: bool,
    },
    /// The server could not be reached or its chain not read.
    Failed { server: String, error: String },
}

/// What a server presented, as the vSphere tools show it.
fn describe(der: &[u8]) -> Result<(CertInfo, Presented), Failure> {
    let i = CertInfo::from_der(der)?;
    let v = Presented {
        subject: i.subject.clone(),
        issuer: i.issuer.clone(),
        serial: i.serial.clone(),
        not_before: rfc3339(i.not_before),
        not_after: rfc3339(i.not_after),
        sha1: colon_hex(&i.sha1),
        sha256: colon_hex(&i.sha256),
    };
    Ok((i, v))
}

fn server_cert(node: &mut crate::LocalNode, c: ServerCertCmd) -> Result<(), Failure> {
    let timeout = Duration::from_secs(10);
    match c {
        ServerCertCmd::Get { name, output } => {
            let plan = node.key_providers().kmip_plan(&provider(&name)?)?;
            let id = identity(&plan)?;
            let mut out = Vec::new();
            for (server, pinned) in &plan.servers {
                match certherd_tls::fetch_chain(&endpoint(server, timeout), id.as_ref()) {
                    Ok(chain) => {
                        let leaf = chain.first().ok_or_else(|| {
                            Failure::msg(format!("{} presented no certificate", server.address))
                        })?;
                        let (_, cert) = describe(leaf)?;
                        out.push(ServerCertJson::Presented {
                            server: server.address.to_string(),
                            cert,
                            trusted: pinned.as_deref() == Some(leaf.as_ref()),
                        });
                    }
                    Err(e) => out.push(ServerCertJson::Failed {
                        server: server.address.to_string(),
                        error: e.to_string(),
                    }),
                }
            }
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
                            ("Subject", &cert.subject),
                            ("Issuer", &cert.issuer),
                            ("Serial", &cert.serial),
                            ("Not before", &cert.not_before),
                            ("Not after", &cert.not_after),
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
            let name = provider(&name)?;
            let only = server.as_deref().map(address).transpose()?;
            let plan = node.key_providers().kmip_plan(&name)?;
            let id = identity(&plan)?;
            let targets: Vec<&KmipServer> = plan
                .servers
                .iter()
                .map(|(s, _)| s)
                .filter(|s| only.as_ref().is_none_or(|o| &s.address == o))
                .collect();
            if targets.is_empty() {
                return Err(Failure::msg(format!(
                    "{} is not a server of '{name}'",
                    server.unwrap_or_default()
                )));
            }
            for s in targets {
                let chain = certherd_tls::fetch_chain(&endpoint(s, timeout), id.as_ref())
                    .map_err(|e| Failure::msg(format!("{}: {e}", s.address)))?;
                let leaf = chain.first().ok_or_else(|| {
                    Failure::msg(format!("{} presented no certificate", s.address))
                })?;
                let m = node.key_providers_mut().kmip_server_trust(
                    &name,
                    &s.address,
                    leaf,
                    thumbprint.as_deref(),
                )?;
                outln!(
                    "trusted {}  for {}  SHA-256 {}",
                    m.subject,
                    s.address,
                    colon_hex(&m.sha256)
                );
            }
        }
    }
    Ok(())
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

/// `key-provider status` is an operation; the other forms set up trust on the home.
pub fn operation(ops: &mut dyn Operations, c: KeyProviderCmd) -> Ran<KeyProviderCmd> {
    match c {
        KeyProviderCmd::Status {
            name,
            timeout,
            output,
        } => Ran::Done(key_provider_status(ops, name, &timeout, output)),
        other => Ran::NotAnOperation(other),
    }
}
