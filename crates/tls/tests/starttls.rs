//! STARTTLS against real peers: Debian's PostgreSQL and OpenLDAP slapd, each configured
//! with a certificate made here, must present exactly that certificate after the upgrade.
//!
//! Ignored by default (they start servers): `cargo test -p certherd-tls -- --include-ignored`.
//! Without the binaries they print a skip line, except under CI, where they fail.
#![allow(clippy::unwrap_used)]

mod peers;

use std::time::Duration;

use certherd_tls::{probe, Endpoint, Error, StartTls};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PemLabel, PrivateKey, Role};
use pki_types::CertificateDer;

/// A self-signed server certificate for 127.0.0.1: its DER, its PEM, its key's PEM.
fn server_identity(cn: &str) -> (CertificateDer<'static>, String, String) {
    let now = time::OffsetDateTime::now_utc();
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let spec = CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(2),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth],
    }
    .with_names(["127.0.0.1"])
    .unwrap();
    let cert = certherd_x509::self_sign(&spec, &key).unwrap();
    let pem = certherd_x509::to_pem(PemLabel::Certificate, &cert);
    (cert, pem, key.to_pem())
}

fn endpoint(address: &str, starttls: StartTls) -> Endpoint {
    Endpoint {
        address: address.to_owned(),
        proxy: None,
        timeout: Duration::from_secs(10),
        server_name: None,
        starttls: Some(starttls),
    }
}

#[test]
#[ignore = "starts PostgreSQL"]
fn postgres_presents_the_configured_certificate() {
    if peers::postgres_bin_dir().is_none() {
        return peers::missing("PostgreSQL");
    }
    let (cert, cert_pem, key_pem) = server_identity("db.certherd.test");
    let pg = peers::start_postgres(&cert_pem, &key_pem, true).unwrap();
    let p = probe(&endpoint(&pg.address, StartTls::Postgres))
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", pg.log()));
    assert_eq!(p.chain, vec![cert], "exactly the configured certificate");
    assert!(p.version.starts_with("TLSv1_"), "{}", p.version);

    // The same server without STARTTLS: it is no TLS server.
    let mut plain = endpoint(&pg.address, StartTls::Postgres);
    plain.starttls = None;
    plain.timeout = Duration::from_secs(2);
    let e = probe(&plain).unwrap_err();
    assert!(
        matches!(e, Error::NotTls { .. } | Error::Handshake(_)),
        "{e}"
    );
}

#[test]
#[ignore = "starts PostgreSQL"]
fn postgres_with_ssl_off_refuses() {
    if peers::postgres_bin_dir().is_none() {
        return peers::missing("PostgreSQL");
    }
    let (_, cert_pem, key_pem) = server_identity("db.certherd.test");
    let pg = peers::start_postgres(&cert_pem, &key_pem, false).unwrap();
    let e = probe(&endpoint(&pg.address, StartTls::Postgres)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::StartTlsRefused {
                protocol: StartTls::Postgres,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "STARTTLS: the PostgreSQL server refuses TLS: it answered 'N' to the SSLRequest: ssl is off"
    );

    // And PostgreSQL is not LDAP or SMTP.
    for other in [StartTls::Ldap, StartTls::Smtp] {
        let mut ep = endpoint(&pg.address, other);
        ep.timeout = Duration::from_secs(2);
        let e = probe(&ep).unwrap_err();
        assert!(
            matches!(&e, Error::StartTlsUnexpected { protocol, .. } if *protocol == other),
            "{other}: {e}"
        );
    }
}

#[test]
#[ignore = "starts slapd"]
fn slapd_presents_the_configured_certificate() {
    if peers::slapd_bin().is_none() {
        return peers::missing("OpenLDAP slapd");
    }
    let (cert, cert_pem, key_pem) = server_identity("ldap.certherd.test");
    let ldap = peers::start_slapd(&cert_pem, &key_pem).unwrap();
    let p = probe(&endpoint(&ldap.address, StartTls::Ldap))
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", ldap.log()));
    assert_eq!(p.chain, vec![cert], "exactly the configured certificate");

    // slapd is not PostgreSQL: it closes or ignores the SSLRequest.
    let mut ep = endpoint(&ldap.address, StartTls::Postgres);
    ep.timeout = Duration::from_secs(2);
    let e = probe(&ep).unwrap_err();
    assert!(
        matches!(
            e,
            Error::StartTlsUnexpected {
                protocol: StartTls::Postgres,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
#[ignore = "starts slapd"]
fn slapd_without_a_certificate_refuses() {
    if peers::slapd_bin().is_none() {
        return peers::missing("OpenLDAP slapd");
    }
    let ldap = peers::start_slapd_without_tls().unwrap();
    let e = probe(&endpoint(&ldap.address, StartTls::Ldap)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::StartTlsRefused {
                protocol: StartTls::Ldap,
                ..
            }
        ),
        "{e}"
    );
    eprintln!("{e}");
}
