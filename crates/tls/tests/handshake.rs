//! The classification of TLS outcomes, against a real rustls server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use certherd_tls::{connect, fetch_chain, Endpoint, Error, Identity, PinnedServer};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use pki_types::{CertificateDer, PrivateKeyDer};

struct Ca {
    cert: Vec<u8>,
    key: PrivateKey,
}

fn spec(cn: &str, role: Role, eku: Vec<Eku>, names: &[&str]) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(30),
        role,
        eku,
    }
    .with_names(names.iter().copied())
    .unwrap()
}

impl Ca {
    fn new(cn: &str) -> Self {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert =
            certherd_x509::self_sign(&spec(cn, Role::Ca { path_len: None }, vec![], &[]), &key)
                .unwrap()
                .to_vec();
        Self { cert, key }
    }

    fn leaf(
        &self,
        cn: &str,
        eku: Eku,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = certherd_x509::issue(
            &spec(cn, Role::Leaf, vec![eku], names),
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &self.cert,
                key: &self.key,
            },
        )
        .unwrap();
        (
            cert,
            PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
        )
    }
}

/// A one-connection TLS echo server requiring client certificates from `client_ca`.
fn serve(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    client_ca: &Ca,
    tls13: bool,
) -> String {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(client_ca.cert.clone()))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for sock in listener.incoming().take(4) {
            let Ok(mut sock) = sock else { continue };
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            let mut buf = [0u8; 5];
            if tls.read_exact(&mut buf).is_ok() {
                let _ = tls.write_all(&buf);
                let _ = tls.flush();
            }
        }
    });
    addr
}

fn endpoint(addr: &str) -> Endpoint {
    Endpoint {
        address: addr.to_owned(),
        proxy: None,
        timeout: Duration::from_secs(5),
        server_name: None,
        starttls: None,
    }
}

#[test]
fn pinned_server_and_accepted_client_talk() {
    for tls13 in [false, true] {
        let server_ca = Ca::new("KMS CA");
        let client_ca = Ca::new("certherd CA");
        let (scert, skey) = server_ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
        let addr = serve(scert.clone(), skey, &client_ca, tls13);
        let shown = fetch_chain(&endpoint(&addr), None).unwrap();
        assert_eq!(
            shown[0], scert,
            "the presented certificate is recorded even when we are refused"
        );
        let (ccert, ckey) = client_ca.leaf("client", Eku::ClientAuth, &[]);
        let id = Identity {
            chain: vec![ccert],
            key: ckey,
        };
        let mut s = connect(&endpoint(&addr), PinnedServer::new(vec![scert]), Some(&id)).unwrap();
        s.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"hello");
    }
}

#[test]
fn a_server_that_is_not_pinned_is_refused() {
    let ca = Ca::new("CA");
    let (scert, skey) = ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
    let (other, _) = ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
    let addr = serve(scert.clone(), skey, &ca, false);
    let (ccert, ckey) = ca.leaf("client", Eku::ClientAuth, &[]);
    let id = Identity {
        chain: vec![ccert],
        key: ckey,
    };
    let pinned = PinnedServer::new(vec![other]);
    let e = connect(&endpoint(&addr), pinned.clone(), Some(&id)).unwrap_err();
    assert!(matches!(e, Error::ServerNotTrusted(_)), "{e}");
    assert_eq!(
        pinned.refused(),
        Some(scert),
        "the changed certificate is kept for the report"
    );
}

#[test]
fn a_client_certificate_from_an_unknown_ca_is_reported_as_refused() {
    for tls13 in [false, true] {
        let server_ca = Ca::new("KMS CA");
        let trusted_client_ca = Ca::new("trusted");
        let stranger = Ca::new("stranger");
        let (scert, skey) = server_ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
        let addr = serve(scert.clone(), skey, &trusted_client_ca, tls13);
        let (ccert, ckey) = stranger.leaf("client", Eku::ClientAuth, &[]);
        let id = Identity {
            chain: vec![ccert],
            key: ckey,
        };
        let e = connect(&endpoint(&addr), PinnedServer::new(vec![scert]), Some(&id)).unwrap_err();
        assert!(matches!(e, Error::ClientRejected(_)), "tls13={tls13}: {e}");
    }
}
