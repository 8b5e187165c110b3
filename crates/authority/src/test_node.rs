//! The node the crate's unit tests start from: a CA (ECDSA P-256) made for
//! `vc01.example.test` at a fixed instant, in a home under a test's directory.

#![allow(clippy::unwrap_used)]

use certherd_core::Clock;
use certherd_store::{Home, HomeStore};
use certherd_x509::KeyAlgorithm;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::{InitOptions, Mode, Node};

/// A clock stopped at one instant.
pub(crate) struct At(pub(crate) OffsetDateTime);

impl Clock for At {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// A node with its CA, at 2026-03-01 00:00 UTC, its home `DIR/srv`.
pub(crate) fn node(dir: &std::path::Path) -> Node<HomeStore> {
    let mut n = Node::new(
        Home::new(dir.join("srv")).create().unwrap(),
        Box::new(At(datetime!(2026-03-01 0:00 UTC))),
        None,
        "certherd.toml",
    )
    .unwrap();
    n.init(&InitOptions {
        hostname: "vc01.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    n
}
