//! `key-provider ...`: the state lives in the node; the TLS and KMIP exchanges are
//! certherd-monitor's.

use std::process::ExitCode;
use std::time::Duration;

use certherd_core::{KmipServer, ProviderName, ServerAddress};
use certherd_monitor::{KmipPlan, MonitorExt};
use certherd_store::{write_atomic, Home};
use certherd_tls::Identity;
use certherd_x509::CertInfo;
use serde_json::json;

use crate::args::{ClientCertCmd, KeyProviderCmd, Output, ServerCertCmd};
use crate::failure::read_input;
use crate::instant::rfc3339;
use crate::render::{colon_hex, json, table};
use crate::{open_node, Failure};

fn provider(name: &str) -> Result<ProviderName, Failure> {
    Ok(name.parse::<ProviderName>()?)
}

fn address(s: &str) -> Result<ServerAddress, Failure> {
    Ok(s.parse::<ServerAddress>()?)
}

fn key_algo(s: Option<&str>) -> Result<Option<certherd_x509::KeyAlgorithm>, Failure> {
    s.map(str::parse)
        .transpose()
        .map_err(|e: certherd_x509::Error| Failure::usage(e.to_string()))
}

use certherd_monitor::kmip::endpoint;

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
                Output::Json => json(&json!(ps.iter().map(|p| json!({
                    "name": p.name.as_str(),
                    "primary_key_id": p.primary_key_id,
                    "servers": p.servers.iter().map(|s| json!({"address": s.address.to_string(), "proxy": s.proxy.as_ref().map(ToString::to_string)})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>())),
                Output::Table => table(
                    &["PROVIDER", "PRIMARY KEY ID", "SERVERS"],
                    &ps.iter()
                        .map(|p| {
                            let servers = p.servers.iter().map(|s| match &s.proxy {
                                Some(px) => format!("{} (via {px})", s.address),
                                None => s.address.to_string(),
                            });
                            vec![p.name.to_string(), p.primary_key_id.clone(), servers.collect::<Vec<_>>().join(", ")]
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

/// What a server presented, as the vSphere tools show it.
fn describe(der: &[u8]) -> Result<(CertInfo, serde_json::Value), Failure> {
    let i = CertInfo::from_der(der)?;
    let v = json!({
        "subject": i.subject, "issuer": i.issuer, "serial": i.serial,
        "not_before": rfc3339(i.not_before), "not_after": rfc3339(i.not_after),
        "sha1": colon_hex(&i.sha1), "sha256": colon_hex(&i.sha256),
    });
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
                        let (_, mut v) = describe(leaf)?;
                        v["server"] = json!(server.address.to_string());
                        v["trusted"] = json!(pinned.as_deref() == Some(leaf.as_ref()));
                        out.push(v);
                    }
                    Err(e) => out.push(
                        json!({"server": server.address.to_string(), "error": e.to_string()}),
                    ),
                }
            }
            match output {
                Output::Json => json(&json!(out)),
                Output::Table => {
                    for v in &out {
                        outln!("Server        {}", v["server"].as_str().unwrap_or_default());
                        if let Some(e) = v["error"].as_str() {
                            outln!("Error         {e}\n");
                            continue;
                        }
                        for (label, key) in [
                            ("Subject", "subject"),
                            ("Issuer", "issuer"),
                            ("Serial", "serial"),
                            ("Not before", "not_before"),
                            ("Not after", "not_after"),
                            ("SHA-1", "sha1"),
                            ("SHA-256", "sha256"),
                        ] {
                            outln!("{label:<13} {}", v[key].as_str().unwrap_or_default());
                        }
                        outln!("Trusted       {}\n", v["trusted"]);
                    }
                }
            }
            if out.iter().any(|v| v.get("error").is_some()) {
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
