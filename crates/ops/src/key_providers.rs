//! `GET /v1/key-providers`: each key provider and the health of its KMIP servers, checked
//! at the call (certherd-monitor's check, as `key-provider status` runs it).

use std::time::Duration;

use certherd_ca::Node;
use certherd_core::ServerCheck;
use certherd_protocol::admin::{KeyProviderHealth, KmipServerHealth};
use certherd_store::Store;

/// How long each server may take to connect and answer (the CLI's default).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The health of every key provider of the node.
pub(crate) fn health<S: Store>(
    node: &Node<S>,
) -> Result<Vec<KeyProviderHealth>, certherd_ca::Error> {
    let mut out = Vec::new();
    for p in node.key_providers().list()? {
        let plan = node.key_providers().kmip_plan(&p.name)?;
        let identity = plan
            .identity
            .as_ref()
            .map(|(chain, key)| certherd_monitor::kmip::identity(chain, key))
            .transpose();
        let checked = match identity {
            Ok(id) => {
                certherd_monitor::kmip::provider_health(&plan.servers, id.as_ref(), TIMEOUT, || {
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
