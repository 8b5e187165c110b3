//! What a file on disk holds, for `scan files`: certificates (PEM, DER, PKCS#12) and keys.
//! Sans-I/O: it gets the bytes and a name; reading the disk is the caller's. Never panics
//! on any input; anything unrecognized is `Nothing`.

use x509_parser::prelude::FromDer;

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
    /// A PKCS#12 file opened with the password given (or with none, as openssl opens a
    /// file whose password is empty or that is not encrypted at all).
    Pkcs12 {
        /// Every certificate in it, DER.
        certs: Vec<Vec<u8>>,
        /// Its private keys.
        keys: Vec<FoundKey>,
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

/// Where `needle` first occurs in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while let Some(rest) = hay.get(at..) {
        let i = at + rest.iter().position(|&b| b == first)?;
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// Decodes standard base64 with line breaks (and other ASCII whitespace) in it; `None` on
/// any other character, misplaced padding or a length that is not whole.
fn base64_decode(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let (mut acc, mut n, mut pad) = (0u32, 0u8, 0u8);
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if pad > 0 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            (acc, n) = (0, 0);
        }
    }
    match (n, pad) {
        (0, 0) => {}
        (2, 2) => out.push((acc >> 4).to_be_bytes()[3]),
        (3, 1) => out.extend_from_slice(&(acc >> 2).to_be_bytes()[2..]),
        _ => return None,
    }
    Some(out)
}

/// Whether `der` decodes as one certificate, by x509-parser (never by hand): the file is
/// then a certificate file, and what the fields say is the inspection's to judge.
fn certificate_shaped(der: &[u8]) -> bool {
    matches!(
        x509_parser::certificate::X509Certificate::from_der(der),
        Ok((rest, _)) if rest.is_empty()
    )
}

fn damaged(detail: impl Into<String>) -> Found {
    Found::Damaged(
        Error::Malformed {
            what: "PEM file",
            detail: detail.into(),
        }
        .to_string(),
    )
}

/// Classifies `bytes`, read from a file called `name` (its extension hints PKCS#12).
pub fn discover(bytes: &[u8], name: &str, password: Option<&str>) -> Found {
    if find(bytes, b"-----BEGIN ", 0).is_some() {
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
    // PKCS#12 is also a DER SEQUENCE: tried when the name says so, or when it opens. A file
    // whose password is empty opens without one, whatever password a scan was given for
    // the others.
    let opened = match password.filter(|p| !p.is_empty()) {
        // Neither opening it says the password given is the one that is wrong.
        Some(p) => match pkcs12_decode(bytes, p) {
            Err(Error::Pkcs12Password) => pkcs12_decode(bytes, ""),
            other => other,
        },
        None => pkcs12_decode(bytes, ""),
    };
    match opened {
        Ok(c) => Found::Pkcs12 {
            keys: c
                .keys
                .iter()
                .map(|(key, _)| FoundKey {
                    public_key: crate::parse_private_key(key)
                        .ok()
                        .map(|k: PrivateKey| k.public_key_spki()),
                    encrypted: false,
                })
                .collect(),
            certs: c
                .keys
                .into_iter()
                .flat_map(|(_, chain)| chain)
                .chain(c.certificates)
                .collect(),
        },
        Err(Error::Pkcs12Password) => Found::Pkcs12Locked {
            tried: password.is_some_and(|p| !p.is_empty()),
        },
        Err(e) if is_pkcs12_name(name) => Found::Damaged(e.to_string()),
        Err(_) => Found::Nothing,
    }
}

/// The PEM blocks, read in one pass: certificate bodies are decoded here (the common case,
/// thousands of files in a scan); a block with headers, and every key, goes through the
/// `pem` crate.
fn discover_pem(bytes: &[u8]) -> Found {
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    let mut pos = 0;
    while let Some(begin) = find(bytes, b"-----BEGIN ", pos) {
        let label_at = begin + 11;
        let Some(label_end) = find(bytes, b"-----", label_at) else {
            return damaged("a BEGIN line does not end in -----");
        };
        let label = &bytes[label_at..label_end];
        if label.iter().any(|&b| b == b'\n' || b == b'\r') {
            return damaged("a BEGIN line does not end in -----");
        }
        let body_at = label_end + 5;
        let mut end_line = Vec::with_capacity(label.len() + 14);
        end_line.extend_from_slice(b"-----END ");
        end_line.extend_from_slice(label);
        end_line.extend_from_slice(b"-----");
        let Some(end) = find(bytes, &end_line, body_at) else {
            return damaged("truncated: a BEGIN line has no matching END line");
        };
        pos = end + end_line.len();
        let body = &bytes[body_at..end];
        let block = &bytes[begin..pos];
        match label {
            b"CERTIFICATE" | b"TRUSTED CERTIFICATE" | b"X509 CERTIFICATE" => {
                let der = if body.contains(&b':') {
                    pem::parse(block).ok().map(pem::Pem::into_contents)
                } else {
                    base64_decode(body)
                };
                let Some(der) = der else {
                    return damaged("a certificate block is not valid base64");
                };
                if !certificate_shaped(&der) {
                    return Found::Damaged(
                        Error::Malformed {
                            what: "certificate",
                            detail: "not a DER certificate".into(),
                        }
                        .to_string(),
                    );
                }
                certs.push(der);
            }
            b"ENCRYPTED PRIVATE KEY" => keys.push(FoundKey {
                public_key: None,
                encrypted: true,
            }),
            b"PRIVATE KEY" | b"RSA PRIVATE KEY" | b"EC PRIVATE KEY" => {
                let parsed = match pem::parse(block) {
                    Ok(p) => p,
                    Err(e) => return damaged(e.to_string()),
                };
                let pem = crate::decode::pem_block(parsed.tag(), parsed.contents());
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
            matches!(discover(&p12, "x.p12", Some("secret")), Found::Pkcs12 { certs, keys } if certs == vec![c.clone()] && keys.len() == 1 && keys[0].public_key.as_deref() == Some(&k.public_key_spki()[..]))
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

    #[test]
    fn reads_pem_the_way_the_pem_crate_does() {
        let (c, _) = cert();
        let pem = crate::to_pem(crate::PemLabel::Certificate, &c);
        // CRLF line ends, text around the blocks, a header line: the same certificate.
        let crlf = format!("subject=whatever\r\n{}", pem.replace('\n', "\r\n"));
        let headers = pem.replacen("-----\n", "-----\nComment: hello\n\n", 1);
        for text in [pem.clone(), crlf, headers] {
            assert_eq!(
                discover(text.as_bytes(), "c.pem", None),
                Found::Pem {
                    certs: vec![c.clone()],
                    keys: vec![]
                },
                "{text}"
            );
        }
        assert_eq!(base64_decode(b"TWFu"), Some(b"Man".to_vec()));
        assert_eq!(base64_decode(b"TWE=\n"), Some(b"Ma".to_vec()));
        assert_eq!(base64_decode(b"TQ=="), Some(b"M".to_vec()));
        for bad in [&b"TQ="[..], b"T", b"TQ==TQ==", b"TW!u", b"TWFuT"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        // A block that is no certificate, an END that does not match, bad base64.
        let not_der = crate::decode::pem_block("CERTIFICATE", b"hello");
        let unmatched = pem.replace("END CERTIFICATE", "END CERTIFICATEX");
        let bad64 = pem.replacen('M', "!", 1);
        for text in [not_der, unmatched, bad64] {
            assert!(
                matches!(discover(text.as_bytes(), "c.pem", None), Found::Damaged(_)),
                "{text}"
            );
        }
        assert_eq!(
            discover(
                b"-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n",
                "dh.pem",
                None
            ),
            Found::Nothing
        );
    }

    proptest! {
        #[test]
        fn base64_decodes_what_the_pem_crate_encodes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = crate::decode::pem_block("X", &data);
            let body = text.split("-----").nth(2).unwrap_or("");
            prop_assert_eq!(base64_decode(body.as_bytes()), Some(data));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), p12 in any::<bool>()) {
            let _ = discover(&bytes, if p12 { "f.p12" } else { "f" }, Some("pw"));
            let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            pem.extend_from_slice(&bytes);
            let _ = discover(&pem, "f.pem", None);
        }
    }
}
