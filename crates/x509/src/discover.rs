//! What a file on disk holds, for `scan files`: certificates (PEM, DER, PKCS#12) and keys.
//! Sans-I/O: it gets the bytes and a name; reading the disk is the caller's. Never panics
//! on any input; anything unrecognized is `Nothing`.

use crate::{pkcs12_decode, Error, PrivateKey};

/// A private key found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundKey {
    /// Its public key (DER SubjectPublicKeyInfo), to match against certificates; `None`
    /// when it is encrypted or in a form certherd cannot load.
    pub public_key: Option<Vec<u8>>,
    /// Whether it is an encrypted PKCS#8 key.
    pub encrypted: bool,
}

/// What one file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// PEM blocks: certificates (leaf first as written) and keys.
    Pem {
        /// Certificates, DER.
        certs: Vec<Vec<u8>>,
        /// Private keys.
        keys: Vec<FoundKey>,
    },
    /// One DER certificate.
    Der(Vec<u8>),
    /// A PKCS#12 file opened with the password given.
    Pkcs12 {
        /// Every certificate in it, DER.
        certs: Vec<Vec<u8>>,
    },
    /// A PKCS#12 file the password did not open (or no password was given).
    Pkcs12Locked {
        /// Whether a password was tried.
        tried: bool,
    },
    /// A PEM or PKCS#12 file that claims to hold certificates but is damaged.
    Damaged(String),
    /// Nothing certherd recognizes.
    Nothing,
}

fn is_pkcs12_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".p12") || n.ends_with(".pfx")
}

/// Classifies `bytes`, read from a file called `name` (its extension hints PKCS#12).
pub fn discover(bytes: &[u8], name: &str, password: Option<&str>) -> Found {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return discover_pem(bytes);
    }
    if bytes.first() != Some(&0x30) {
        return Found::Nothing;
    }
    if let Ok(certs) = crate::parse_certificates(bytes) {
        if let Some(c) = certs.into_iter().next() {
            return Found::Der(c.to_vec());
        }
    }
    // PKCS#12 is also a DER SEQUENCE: tried when the name says so, or when it opens.
    match pkcs12_decode(bytes, password.unwrap_or("")) {
        Ok(c) => Found::Pkcs12 {
            certs: c
                .keys
                .into_iter()
                .flat_map(|(_, chain)| chain)
                .chain(c.certificates)
                .collect(),
        },
        Err(Error::Pkcs12Password) => Found::Pkcs12Locked {
            tried: password.is_some(),
        },
        Err(e) if is_pkcs12_name(name) => Found::Damaged(e.to_string()),
        Err(_) => Found::Nothing,
    }
}

fn discover_pem(bytes: &[u8]) -> Found {
    let blocks = match crate::decode::pem_blocks(bytes, "PEM file") {
        Ok(b) => b,
        Err(e) => return Found::Damaged(e.to_string()),
    };
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for b in blocks {
        match b.tag() {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                match crate::parse_certificates(b.contents()) {
                    Ok(c) => certs.extend(c.into_iter().map(|c| c.to_vec())),
                    Err(e) => return Found::Damaged(e.to_string()),
                }
            }
            "ENCRYPTED PRIVATE KEY" => keys.push(FoundKey {
                public_key: None,
                encrypted: true,
            }),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                let pem = crate::decode::pem_block(b.tag(), b.contents());
                keys.push(FoundKey {
                    public_key: crate::parse_private_key(pem.as_bytes())
                        .ok()
                        .map(|k: PrivateKey| k.public_key_spki()),
                    encrypted: false,
                });
            }
            _ => {}
        }
    }
    if certs.is_empty() && keys.is_empty() {
        Found::Nothing
    } else {
        Found::Pem { certs, keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertSpec, KeyAlgorithm, Role};
    use proptest::prelude::*;

    fn cert() -> (Vec<u8>, PrivateKey) {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let spec = CertSpec {
            common_name: "files.example.test".into(),
            organization: None,
            dns_names: vec!["files.example.test".into()],
            ip_addresses: vec![],
            not_before: now,
            not_after: now + time::Duration::days(30),
            role: Role::Leaf,
            eku: vec![],
        };
        (crate::self_sign(&spec, &key).unwrap().to_vec(), key)
    }

    #[test]
    fn finds_pem_bundles_keys_der_and_pkcs12() {
        let (c, k) = cert();
        let pem = format!(
            "{}{}{}",
            crate::to_pem(crate::PemLabel::Certificate, &c),
            crate::to_pem(crate::PemLabel::Certificate, &c),
            k.to_pem()
        );
        match discover(pem.as_bytes(), "bundle.pem", None) {
            Found::Pem { certs, keys } => {
                assert_eq!(certs.len(), 2);
                assert_eq!(
                    keys[0].public_key.as_deref(),
                    Some(&k.public_key_spki()[..])
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(discover(&c, "c.der", None), Found::Der(c.clone()));
        let p12 =
            crate::pkcs12_encode("x", k.secret_der(), std::slice::from_ref(&c), "secret").unwrap();
        assert!(
            matches!(discover(&p12, "x.p12", Some("secret")), Found::Pkcs12 { certs } if certs == vec![c.clone()])
        );
        assert_eq!(
            discover(&p12, "x.p12", Some("wrong")),
            Found::Pkcs12Locked { tried: true }
        );
        assert_eq!(discover(b"hello", "notes.txt", None), Found::Nothing);
        let truncated = &pem.as_bytes()[..pem.len() / 3];
        assert!(matches!(
            discover(truncated, "t.pem", None),
            Found::Damaged(_) | Found::Pem { .. }
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), p12 in any::<bool>()) {
            let _ = discover(&bytes, if p12 { "f.p12" } else { "f" }, Some("pw"));
            let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            pem.extend_from_slice(&bytes);
            let _ = discover(&pem, "f.pem", None);
        }
    }
}
