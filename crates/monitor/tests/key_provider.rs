//! Key-provider rules that need no key server: names, the three trust paths' refusals,
//! pinning by thumbprint, renewal of the client certificate, inventory and removal. The
//! real-peer test (PyKMIP) is `crates/cli/tests/kmip.rs`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use certherd_authority::{InitOptions, Mode, Node};
use certherd_core::{
    Clock, EntryRef, KmipServer, OffsetDateTime, ProviderName, ServerAddress, Thresholds,
};
use certherd_monitor::MonitorExt;
use certherd_store::{Home, HomeStore, Store};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use time::macros::datetime;
use time::Duration;

struct At(OffsetDateTime);

impl Clock for At {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

const START: OffsetDateTime = datetime!(2026-03-01 0:00 UTC);

fn node() -> (tempfile::TempDir, Node<HomeStore>) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    let mut node = Node::new(
        home.create().unwrap(),
        Box::new(At(START)),
        None,
        "certherd.toml",
    )
    .unwrap();
    node.init(&InitOptions {
        hostname: "vc01.example.test".into(),
        ips: vec![],
        key_algo: KeyAlgorithm::EcdsaP256,
        mode: Mode::Ca,
    })
    .unwrap();
    (dir, node)
}

fn server(addr: &str) -> KmipServer {
    KmipServer {
        address: addr.parse().unwrap(),
        proxy: None,
    }
}

fn name(s: &str) -> ProviderName {
    s.parse().unwrap()
}

/// A self-signed certificate standing in for what a key server presents or issues.
fn foreign(cn: &str, eku: Vec<Eku>) -> (Vec<u8>, PrivateKey) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let spec = CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: START - Duration::days(1),
        not_after: START + Duration::days(365),
        role: Role::Leaf,
        eku,
    };
    (certherd_x509::self_sign(&spec, &key).unwrap().to_vec(), key)
}

#[test]
fn names_are_unique_and_addresses_are_checked() {
    let (_d, mut node) = node();
    node.key_providers_mut()
        .key_provider_create(&name("kms"), "key-1", server("kms1.example.test:5696"))
        .unwrap();
    let dup = node.key_providers_mut().key_provider_create(
        &name("kms"),
        "key-2",
        server("kms2.example.test:5696"),
    );
    assert!(dup.unwrap_err().to_string().contains("unique"));
    assert!(node
        .key_providers_mut()
        .key_provider_create(&name("other"), "  ", server("kms2.example.test:5696"))
        .is_err());
    assert!(
        "kms1.example.test".parse::<ServerAddress>().is_err(),
        "a port is required"
    );
    assert!("kms1.example.test:0".parse::<ServerAddress>().is_err());
    assert!("bad name".parse::<ProviderName>().is_err());
    node.key_providers_mut()
        .key_provider_add_server(&name("kms"), server("kms2.example.test:5696"))
        .unwrap();
    let again = node
        .key_providers_mut()
        .key_provider_add_server(&name("kms"), server("kms2.example.test:5696"));
    assert!(again.is_err(), "a server is listed once");
    let p = node.key_providers().get(&name("kms")).unwrap();
    assert_eq!(p.servers.len(), 2);
    assert!(node.key_providers().get(&name("missing")).is_err());
}

#[test]
fn client_certificate_paths_refuse_what_does_not_fit_and_change_nothing() {
    let (_d, mut node) = node();
    node.key_providers_mut()
        .key_provider_create(&name("kms"), "key-1", server("127.0.0.1:5696"))
        .unwrap();
    let client: EntryRef = "kmip-kms/client".parse().unwrap();

    // Path 2 without a pending CSR.
    let (cert, key) = foreign("vendor-signed", vec![Eku::ClientAuth]);
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert);
    assert!(node
        .key_providers_mut()
        .kmip_client_upload(&name("kms"), pem.as_bytes(), None)
        .unwrap_err()
        .to_string()
        .contains("no CSR is pending"));
    // Path 2 with a CSR pending, but a certificate for another key.
    node.key_providers_mut()
        .kmip_client_csr(&name("kms"), None)
        .unwrap();
    assert!(node
        .key_providers_mut()
        .kmip_client_upload(&name("kms"), pem.as_bytes(), None)
        .is_err());
    assert!(
        node.store().entry(&client).unwrap().is_none(),
        "nothing written"
    );
    // Path 3 with a key that is not the certificate's.
    let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    assert!(node
        .key_providers_mut()
        .kmip_client_upload(
            &name("kms"),
            pem.as_bytes(),
            Some(other.to_pem().as_bytes())
        )
        .is_err());
    // A server-only certificate cannot be a KMIP client.
    let (server_only, skey) = foreign("server-only", vec![Eku::ServerAuth]);
    let spem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &server_only);
    assert!(node
        .key_providers_mut()
        .kmip_client_upload(
            &name("kms"),
            spem.as_bytes(),
            Some(skey.to_pem().as_bytes())
        )
        .is_err());
    assert!(
        node.store().entry(&client).unwrap().is_none(),
        "nothing written"
    );
    // Path 3 done right.
    node.key_providers_mut()
        .kmip_client_upload(&name("kms"), pem.as_bytes(), Some(key.to_pem().as_bytes()))
        .unwrap();
    let e = node.store().entry(&client).unwrap().unwrap();
    assert_eq!(e.meta.subject, "CN=vendor-signed");
    let plan = node.key_providers().kmip_plan(&name("kms")).unwrap();
    assert!(plan.identity.is_some());
}

#[test]
fn client_certificate_is_an_inventory_entry_that_renews_with_a_warning() {
    let (_d, mut node) = node();
    node.key_providers_mut()
        .key_provider_create(&name("kms"), "key-1", server("127.0.0.1:5696"))
        .unwrap();
    let issued = node
        .key_providers_mut()
        .kmip_client_new(&name("kms"), false, None)
        .unwrap();
    assert_eq!(issued.meta.profile.as_deref(), Some("kmip-client"));
    // Two years from now; notBefore is backdated a little for clock skew.
    assert_eq!(issued.meta.not_after, START + Duration::days(730));
    assert!(
        issued.meta.not_before <= START && issued.meta.not_before > START - Duration::minutes(10)
    );
    let info = certherd_x509::CertInfo::from_der(
        &node
            .store()
            .entry(&issued.meta.entry)
            .unwrap()
            .unwrap()
            .cert,
    )
    .unwrap();
    assert!(
        info.extended_key_usage.iter().any(|e| e.contains("lient")),
        "{:?}",
        info.extended_key_usage
    );

    // It shows up in check as the expiry approaches, like any entry.
    let late = issued.meta.not_after - Duration::days(10);
    let check = node.check(late, Thresholds::default()).unwrap();
    assert!(
        check
            .findings
            .iter()
            .any(|f| f.meta.entry == issued.meta.entry),
        "{check:?}"
    );

    // Renewal keeps the profile, moves the old one to backup and warns about the key server.
    let (renewed, backup) = node.renew(&issued.meta.entry).unwrap();
    assert!(
        renewed.warnings.iter().any(|w| w.contains("key server")),
        "{:?}",
        renewed.warnings
    );
    assert_eq!(backup.store.as_str(), "backup");
    assert_ne!(renewed.meta.sha256, issued.meta.sha256);

    // Self-signed instead: replaces the CA-issued one, the old goes to backup.
    let selfs = node
        .key_providers_mut()
        .kmip_client_new(&name("kms"), true, None)
        .unwrap();
    assert_eq!(selfs.meta.subject, selfs.meta.issuer);
}

#[test]
fn server_certificate_is_pinned_only_as_checked_and_removal_keeps_backups() {
    let (_d, mut node) = node();
    let addr: ServerAddress = "127.0.0.1:5696".parse().unwrap();
    node.key_providers_mut()
        .key_provider_create(&name("kms"), "key-1", server("127.0.0.1:5696"))
        .unwrap();
    let (presented, _) = foreign("kms1", vec![Eku::ServerAuth]);
    let info = certherd_x509::CertInfo::from_der(&presented).unwrap();

    // A wrong thumbprint, or a server not in the provider: refused, nothing pinned.
    assert!(node
        .key_providers_mut()
        .kmip_server_trust(&name("kms"), &addr, &presented, Some(&"AB".repeat(32)))
        .is_err());
    let elsewhere: ServerAddress = "127.0.0.9:5696".parse().unwrap();
    assert!(node
        .key_providers_mut()
        .kmip_server_trust(&name("kms"), &elsewhere, &presented, None)
        .is_err());
    assert!(node
        .key_providers()
        .kmip_plan(&name("kms"))
        .unwrap()
        .servers[0]
        .1
        .is_none());

    // SHA-1 as vSphere prints it (colons, any case) pins it.
    let sha1_colon = info
        .sha1
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(":");
    node.key_providers_mut()
        .kmip_server_trust(&name("kms"), &addr, &presented, Some(&sha1_colon))
        .unwrap();
    assert_eq!(
        node.key_providers()
            .kmip_plan(&name("kms"))
            .unwrap()
            .servers[0]
            .1
            .as_deref(),
        Some(&presented[..])
    );

    // Removal: the provider goes, its certificates wait in backup.
    node.key_providers_mut()
        .kmip_client_new(&name("kms"), false, None)
        .unwrap();
    node.key_providers_mut()
        .key_provider_remove(&name("kms"))
        .unwrap();
    assert!(node.key_providers().get(&name("kms")).is_err());
    let backups = node.list(Some(&"backup".parse().unwrap()), START).unwrap();
    assert!(
        backups
            .iter()
            .filter(|v| v.meta.entry.alias.as_str().starts_with("kmip-kms."))
            .count()
            >= 2,
        "{backups:?}"
    );
}
