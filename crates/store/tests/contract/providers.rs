//! Key providers and their servers.

use certherd_core::{KeyProvider, KmipServer};
use certherd_store::{Change, Error, Store};

use super::at;

fn provider(name: &str, servers: &[&str]) -> KeyProvider {
    KeyProvider {
        name: name.parse().unwrap(),
        primary_key_id: format!("{name}-key"),
        servers: servers
            .iter()
            .map(|s| KmipServer {
                address: s.parse().unwrap(),
                proxy: None,
            })
            .collect(),
    }
}

/// Key providers with their servers in order.
pub fn providers(s: &mut dyn Store) {
    // Key providers with their servers in order; replacing replaces the list.
    s.apply(&[
        Change::PutKeyProvider {
            provider: provider("kp1", &["kms2.example.test:5696", "kms1.example.test:5696"]),
            at: at(0),
        },
        Change::PutKeyProvider {
            provider: provider("gone", &["kms.example.test:5696"]),
            at: at(0),
        },
    ])
    .unwrap();
    s.apply(&[
        Change::PutKeyProvider {
            provider: provider("kp1", &["kms3.example.test:5696", "kms2.example.test:5696"]),
            at: at(40),
        },
        Change::DeleteKeyProvider("gone".parse().unwrap()),
    ])
    .unwrap();
    assert_eq!(
        s.key_providers().unwrap(),
        vec![provider(
            "kp1",
            &["kms3.example.test:5696", "kms2.example.test:5696"]
        )]
    );
    let err = s
        .apply(&[Change::DeleteKeyProvider("gone".parse().unwrap())])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
