//! `GET /v1/key-providers`: each key provider and the health of its KMIP servers, checked
//! at the call (certherd-monitor's check, as `key-provider status` runs it).

use std::time::Duration;

use certherd_authority::Node;
use certherd_core::ServerCheck;
use certherd_monitor::MonitorExt;
use certherd_protocol::admin::{KeyProviderHealth, KmipServerHealth};
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
