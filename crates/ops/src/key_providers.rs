//! The key providers' operations: `GET /v1/key-providers`, each key provider and the
//! health of its KMIP servers, checked at the call (certherd-monitor's check, as
//! `key-provider status` runs it); and their set-up (`key-provider create`, `list`,
//! `add-server`, `remove`, `client-cert`, `server-cert`) over the node's key providers.

use std::time::Duration;

use certherd_authority::Node;
use certherd_core::ServerCheck;
use certherd_monitor::MonitorExt;
use certherd_protocol::admin::{self as api, KeyProviderHealth, KmipServerHealth};
use certherd_store::Store;

/// The health of the key provider `only` names, or of every one, each server given
/// `timeout` to connect and answer.
pub(crate) fn health<S: Store>(
    node: &Node<S>,
    only: Option<&str>,
    timeout: Duration,
) -> Result<Vec<KeyProviderHealth>, crate::Error> {
    let providers = match only {
        Some(name) => {
            let name = name
                .parse::<certherd_core::ProviderName>()
                .map_err(certherd_authority::Error::from)?;
            vec![node.key_providers().kmip_plan(&name)?.provider]
        }
        None => node.key_providers().list()?,
    };
    let mut out = Vec::new();
    for p in providers {
        let plan = node.key_providers().kmip_plan(&p.name)?;
        let identity = plan
            .identity
            .as_ref()
            .map(|(chain, key)| certherd_monitor::kmip::identity(chain, key))
            .transpose();
        let checked = match identity {
            Ok(id) => {
                certherd_monitor::kmip::provider_health(&plan.servers, id.as_ref(), timeout, || {
                    "no client certificate yet".to_owned()
                })
            }
            // Every server fails the same way: the provider's own key is unusable.
            Err(e) => certherd_monitor::kmip::ProviderHealth {
                servers: plan
                    .servers
                    .iter()
                    .map(|(s, _)| (s.clone(), ServerCheck::Failed(e.to_string())))
                    .collect(),
            },
        };
        out.push(KeyProviderHealth {
            name: p.name.to_string(),
            primary_key_id: p.primary_key_id.clone(),
            client_certificate: plan.identity.is_some(),
            health: if checked.healthy() { "OK" } else { "ERROR" }.to_owned(),
            servers: checked
                .servers
                .iter()
                .map(|(s, c)| KmipServerHealth {
                    address: s.address.to_string(),
                    proxy: s.proxy.as_ref().map(ToString::to_string),
                    status: c.kind().to_owned(),
                    detail: c.to_string(),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// How long each KMIP server may take to present its certificate.
const PRESENTED_TIMEOUT: Duration = Duration::from_secs(10);

/// A provider's name as the node takes it.
fn provider(name: &str) -> Result<certherd_core::ProviderName, crate::Error> {
    Ok(name
        .parse::<certherd_core::ProviderName>()
        .map_err(certherd_authority::Error::from)?)
}

/// A `HOST:PORT` as the node takes it.
fn address(text: &str) -> Result<certherd_core::ServerAddress, crate::Error> {
    Ok(text
        .parse::<certherd_core::ServerAddress>()
        .map_err(|e| certherd_authority::Error::from(certherd_core::Error::from(e)))?)
}

/// A KMIP server from its address and proxy.
fn server(text: &str, proxy: Option<&str>) -> Result<certherd_core::KmipServer, crate::Error> {
    Ok(certherd_core::KmipServer {
        address: address(text)?,
        proxy: proxy.map(address).transpose()?,
    })
}

/// A key provider as set up.
fn row(p: &certherd_core::KeyProvider) -> api::KeyProviderRow {
    api::KeyProviderRow {
        name: p.name.to_string(),
        primary_key_id: p.primary_key_id.clone(),
        servers: p
            .servers
            .iter()
            .map(|s| api::KmipServerRow {
                address: s.address.to_string(),
                proxy: s.proxy.as_ref().map(ToString::to_string),
            })
            .collect(),
    }
}

/// A client certificate just made or uploaded.
fn client_cert(issued: certherd_authority::Issued) -> api::KmipClientCert {
    api::KmipClientCert {
        entry: issued.meta.entry.to_string(),
        subject: issued.meta.subject,
        issuer: issued.meta.issuer,
        not_after: certherd_x509::rfc3339(issued.meta.not_after),
        warnings: issued.warnings,
    }
}

/// `key-provider create`.
pub(crate) fn create<S: Store>(
    node: &mut Node<S>,
    r: &api::KeyProviderCreateRequest,
) -> Result<api::KeyProviderCreated, crate::Error> {
    let name = provider(&r.name)?;
    let server = server(&r.server, r.proxy.as_deref())?;
    let p = node
        .key_providers_mut()
        .key_provider_create(&name, &r.primary_key_id, server)?;
    let store = p.store().map_err(certherd_authority::Error::from)?;
    Ok(api::KeyProviderCreated {
        provider: row(&p),
        store: store.to_string(),
    })
}

/// `key-provider list`.
pub(crate) fn list<S: Store>(node: &Node<S>) -> Result<Vec<api::KeyProviderRow>, crate::Error> {
    Ok(node.key_providers().list()?.iter().map(row).collect())
}

/// `key-provider add-server`.
pub(crate) fn add_server<S: Store>(
    node: &mut Node<S>,
    name: &str,
    r: &api::KmipServerAddRequest,
) -> Result<api::KeyProviderRow, crate::Error> {
    let name = provider(name)?;
    let server = server(&r.address, r.proxy.as_deref())?;
    Ok(row(&node
        .key_providers_mut()
        .key_provider_add_server(&name, server)?))
}

/// `key-provider remove`.
pub(crate) fn remove<S: Store>(
    node: &mut Node<S>,
    name: &str,
) -> Result<api::KeyProviderRemoved, crate::Error> {
    node.key_providers_mut()
        .key_provider_remove(&provider(name)?)?;
    Ok(api::KeyProviderRemoved {
        name: name.to_owned(),
    })
}

/// `key-provider client-cert new`.
pub(crate) fn client_new<S: Store>(
    node: &mut Node<S>,
    name: &str,
    r: &api::KmipClientNewRequest,
) -> Result<api::KmipClientCert, crate::Error> {
    let algo = crate::request::key_algo(r.key_algo.as_deref())?;
    let issued = node
        .key_providers_mut()
        .kmip_client_new(&provider(name)?, r.self_signed, algo)?;
    Ok(client_cert(issued))
}

/// `key-provider client-cert export`.
pub(crate) fn client_export<S: Store>(
    node: &Node<S>,
    name: &str,
) -> Result<api::KmipPem, crate::Error> {
    Ok(api::KmipPem {
        pem: node.key_providers().kmip_client_export(&provider(name)?)?,
    })
}

/// `key-provider client-cert csr`: the key is kept sealed in the home.
pub(crate) fn client_csr<S: Store>(
    node: &mut Node<S>,
    name: &str,
    r: &api::KmipClientCsrRequest,
) -> Result<api::KmipPem, crate::Error> {
    let algo = crate::request::key_algo(r.key_algo.as_deref())?;
    Ok(api::KmipPem {
        pem: node
            .key_providers_mut()
            .kmip_client_csr(&provider(name)?, algo)?,
    })
}

/// `key-provider client-cert upload` of the certificate signed from the provider's CSR.
pub(crate) fn client_upload<S: Store>(
    node: &mut Node<S>,
    name: &str,
    cert: &[u8],
) -> Result<api::KmipClientCert, crate::Error> {
    let issued = node
        .key_providers_mut()
        .kmip_client_upload(&provider(name)?, cert, None)?;
    Ok(client_cert(issued))
}

/// The provider's client identity, if it has one.
fn identity(
    plan: &certherd_monitor::KmipPlan,
) -> Result<Option<certherd_tls::Identity>, crate::Error> {
    plan.identity
        .as_ref()
        .map(|(chain, key)| certherd_monitor::kmip::identity(chain, key))
        .transpose()
        .map_err(crate::Error::KmipIdentity)
}

/// `key-provider server-cert get`: what each server presents, or why nothing came.
pub(crate) fn server_certs<S: Store>(
    node: &Node<S>,
    name: &str,
) -> Result<Vec<api::KmipPresented>, crate::Error> {
    let plan = node.key_providers().kmip_plan(&provider(name)?)?;
    let id = identity(&plan)?;
    let mut out = Vec::new();
    for (s, pinned) in &plan.servers {
        let server = s.address.to_string();
        let leaf = certherd_monitor::kmip::presented_leaf(s, id.as_ref(), PRESENTED_TIMEOUT)
            .map_err(|e| e.to_string())
            .and_then(|leaf| {
                certherd_x509::CertInfo::from_der(&leaf)
                    .map(|i| (leaf, i))
                    .map_err(|e| e.to_string())
            });
        out.push(match leaf {
            Ok((leaf, i)) => api::KmipPresented::Presented {
                server,
                subject: i.subject,
                issuer: i.issuer,
                serial: i.serial,
                not_before: certherd_x509::rfc3339(i.not_before),
                not_after: certherd_x509::rfc3339(i.not_after),
                sha1: i.sha1,
                sha256: i.sha256,
                trusted: pinned.as_deref() == Some(leaf.as_slice()),
            },
            Err(error) => api::KmipPresented::Failed { server, error },
        });
    }
    Ok(out)
}

/// `key-provider server-cert trust`: each server (or the one named) is connected to and
/// what it presents is trusted, when it matches the thumbprint given.
pub(crate) fn server_trust<S: Store>(
    node: &mut Node<S>,
    name: &str,
    r: &api::KmipTrustRequest,
) -> Result<Vec<api::KmipTrusted>, crate::Error> {
    let name = provider(name)?;
    let only = r.server.as_deref().map(address).transpose()?;
    let plan = node.key_providers().kmip_plan(&name)?;
    let id = identity(&plan)?;
    let targets: Vec<&certherd_core::KmipServer> = plan
        .servers
        .iter()
        .map(|(s, _)| s)
        .filter(|s| only.as_ref().is_none_or(|o| &s.address == o))
        .collect();
    if targets.is_empty() {
        return Err(certherd_monitor::Error::NoSuchKmipServer {
            provider: name.to_string(),
            address: r.server.clone().unwrap_or_default(),
        }
        .into());
    }
    let mut out = Vec::new();
    for s in targets {
        let leaf = certherd_monitor::kmip::presented_leaf(s, id.as_ref(), PRESENTED_TIMEOUT)
            .map_err(|source| crate::Error::KmipServer {
                address: s.address.to_string(),
                source,
            })?;
        let m = node.key_providers_mut().kmip_server_trust(
            &name,
            &s.address,
            &leaf,
            r.thumbprint.as_deref(),
        )?;
        out.push(api::KmipTrusted {
            server: s.address.to_string(),
            subject: m.subject,
            sha256: m.sha256,
        });
    }
    Ok(out)
}
