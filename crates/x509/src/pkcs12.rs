//! PKCS#12 bundles, for export to tools that want one file with key and chain, and for
//! reading the ones found on disk as openssl reads them.
//!
//! p12-keystore brings the legacy ciphers (RC2, 3DES, SHA-1 MACs) that real-world PKCS#12
//! files use and that aws-lc-rs does not expose; the bags it drops, those not encrypted at all
//! (`openssl pkcs12 -export -keypbe NONE -certpbe NONE -nomac`) are read here with the typed
//! structures of the `pkcs12` crate it decodes with. certherd writes only PBES2/AES-256.

use p12_keystore::error::Error as P12Error;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};

use crate::Error;

/// What a PKCS#12 file held.
#[derive(Debug, Default)]
pub struct Pkcs12Contents {
    /// Private keys (PKCS#8 DER) with their certificate chains (DER, leaf first; empty when
    /// no certificate of the file names the key).
    pub keys: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Certificates that belong to no key.
    pub certificates: Vec<Vec<u8>>,
}

/// Encodes a key (PKCS#8 DER) and its chain (leaf first) into a password-protected PKCS#12.
pub fn pkcs12_encode(
    alias: &str,
    key_pkcs8: &[u8],
    chain: &[Vec<u8>],
    password: &str,
) -> Result<Vec<u8>, Error> {
    if password.is_empty() {
        return Err(Error::Pkcs12("a non-empty password is required".into()));
    }
    let certs = chain
        .iter()
        .map(|der| Certificate::from_der(der).map_err(|e| Error::Pkcs12(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let local_key_id = crate::sha1(chain.first().map(Vec::as_slice).unwrap_or_default()).to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_pkcs8, local_key_id, certs)),
    );
    store
        .writer(password)
        .write()
        .map_err(|e| Error::Pkcs12(e.to_string()))
}

/// The most PBKDF2 or MAC iterations certherd spends on one PKCS#12 file (openssl writes
/// 2,048; Windows and Java up to 100,000): a hostile file of 20 million iterations would
/// hold a scan for seconds a file.
pub const PKCS12_MAX_ITERATIONS: u64 = 1_000_000;

/// Decodes a PKCS#12 file with `password` (empty for a file without one), as openssl reads
/// it: keys with their chains, and every certificate, encrypted (PBES2) or not.
pub fn pkcs12_decode(data: &[u8], password: &str) -> Result<Pkcs12Contents, Error> {
    // The bags p12-keystore drops, read first: this also bounds the iterations before
    // anything derives a key.
    let password_error = |e: P12Error| match e {
        // A MAC that does not verify, or a decryption that yields garbage: the password.
        P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
            Error::Pkcs12Password
        }
        other => Error::Pkcs12(other.to_string()),
    };
    let walked = match walk(data, password) {
        // A wrong password decrypts a safe to garbage whose padding still checks out one
        // time in 256, and that garbage does not decode: the MAC (p12-keystore verifies
        // it before decrypting) decides between a wrong password and a damaged file.
        Err(Error::Pkcs12Password) => {
            return Err(match KeyStore::from_pkcs12(data, password) {
                Err(e) => password_error(e),
                Ok(_) => Error::Pkcs12("an encrypted safe does not decode".into()),
            })
        }
        other => other?,
    };
    // p12-keystore verifies the MAC, decrypts legacy ciphers, and pairs keys with chains.
    let store = KeyStore::from_pkcs12(data, password).map_err(password_error)?;
    let mut out = Pkcs12Contents::default();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => {
                let certs: Vec<Vec<u8>> =
                    chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
                seen.extend(certs.iter().cloned());
                out.keys.push((chain.key().to_vec(), certs));
            }
            KeyStoreEntry::Certificate(c) => {
                seen.push(c.as_der().to_vec());
                out.certificates.push(c.as_der().to_vec());
            }
            _ => {}
        }
    }
    for key in walked.keys {
        if out.keys.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let spki = crate::parse_private_key(&key)
            .ok()
            .map(|k| k.public_key_spki());
        let chain: Vec<Vec<u8>> = walked
            .certs
            .iter()
            .filter(|c| {
                spki.as_deref()
                    .is_some_and(|s| crate::certificate_spki(c) == Some(s))
            })
            .take(1)
            .cloned()
            .collect();
        seen.extend(chain.iter().cloned());
        out.keys.push((key, chain));
    }
    for cert in walked.certs {
        if !seen.contains(&cert) {
            seen.push(cert.clone());
            out.certificates.push(cert);
        }
    }
    Ok(out)
}

/// The bags of a PKCS#12 file's safes that are plain or PBES2-encrypted.
#[derive(Default)]
struct Walked {
    /// PKCS#8 DER of each plain keyBag.
    keys: Vec<Vec<u8>>,
    /// DER of each X.509 certBag.
    certs: Vec<Vec<u8>>,
}

/// id-data (PKCS#7): a safe stored as it is, not encrypted.
const ID_DATA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-encryptedData (PKCS#7): a safe encrypted with a password-based scheme.
const ID_ENCRYPTED_DATA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
/// PBES2 (PKCS#5).
const PBES2: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// x509Certificate (PKCS#9): the certificate type of a certBag.
const X509_CERTIFICATE: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");

/// Refuses an iteration count over [`PKCS12_MAX_ITERATIONS`].
fn bounded(what: &str, iterations: u64) -> Result<(), Error> {
    if iterations > PKCS12_MAX_ITERATIONS {
        return Err(Error::Pkcs12(format!(
            "its {what} asks for {iterations} iterations, more than the {PKCS12_MAX_ITERATIONS} certherd spends on a file"
        )));
    }
    Ok(())
}

/// For PBES2 (`alg`): bounds its PBKDF2 iterations, then decrypts `ciphertext` when one is
/// given. `Ok(None)` for another scheme (legacy PBES1: p12-keystore's to decrypt).
fn pbes2(
    alg: &spki::AlgorithmIdentifierOwned,
    what: &str,
    password: &str,
    ciphertext: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, Error> {
    use der::{Decode, Encode};
    if alg.oid != PBES2 {
        return Ok(None);
    }
    let bad = |e: der::Error| Error::Pkcs12(e.to_string());
    let Some(params) = &alg.parameters else {
        return Err(Error::Pkcs12("PBES2 without parameters".into()));
    };
    let der = params.to_der().map_err(bad)?;
    let parsed = pkcs5::pbes2::Parameters::from_der(&der).map_err(bad)?;
    match &parsed.kdf {
        pkcs5::pbes2::Kdf::Pbkdf2(p) => bounded(what, u64::from(p.iteration_count))?,
        // scrypt's cost is not iterations; certherd does not spend it on files it scans.
        _ => {
            return Err(Error::Pkcs12(format!(
                "its {what} uses a key derivation other than PBKDF2"
            )))
        }
    }
    match ciphertext {
        // A wrong password shows as bad padding, as for p12-keystore.
        Some(c) => parsed
            .decrypt(password.as_bytes(), c)
            .map(Some)
            .map_err(|_| Error::Pkcs12Password),
        None => Ok(Some(Vec::new())),
    }
}

/// Reads every bag of the safes that are plain or PBES2-encrypted, bounding iterations.
fn walk(data: &[u8], password: &str) -> Result<Walked, Error> {
    use der::asn1::{ContextSpecific, OctetString};
    use der::{Decode, Encode};
    use pkcs12::cert_type::CertBag;
    use pkcs12::pfx::Pfx;
    use pkcs12::safe_bag::SafeContents;

    let bad = |e: der::Error| Error::Pkcs12(e.to_string());
    let pfx = Pfx::from_der(data).map_err(bad)?;
    if let Some(mac) = &pfx.mac_data {
        bounded("MAC", u64::try_from(mac.iterations).unwrap_or(u64::MAX))?;
    }
    let mut out = Walked::default();
    if pfx.auth_safe.content_type != ID_DATA {
        return Ok(out);
    }
    let outer =
        OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(bad)?).map_err(bad)?;
    let safes =
        pkcs12::authenticated_safe::AuthenticatedSafe::from_der(outer.as_bytes()).map_err(bad)?;
    for safe in &safes {
        let encrypted = safe.content_type == ID_ENCRYPTED_DATA;
        let plain = if safe.content_type == ID_DATA {
            OctetString::from_der(&safe.content.to_der().map_err(bad)?)
                .map_err(bad)?
                .as_bytes()
                .to_vec()
        } else if safe.content_type == ID_ENCRYPTED_DATA {
            let enc =
                cms::encrypted_data::EncryptedData::from_der(&safe.content.to_der().map_err(bad)?)
                    .map_err(bad)?;
            let info = &enc.enc_content_info;
            let Some(ciphertext) = &info.encrypted_content else {
                continue;
            };
            match pbes2(
                &info.content_enc_alg,
                "encrypted safe",
                password,
                Some(ciphertext.as_bytes()),
            )? {
                Some(p) => p,
                None => continue,
            }
        } else {
            continue;
        };
        // What an encrypted safe holds does not decode when it was decrypted with the wrong
        // key (garbage whose padding checked out): see `pkcs12_decode`.
        let fail = |e: der::Error| {
            if encrypted {
                Error::Pkcs12Password
            } else {
                bad(e)
            }
        };
        let bags = SafeContents::from_der(&plain).map_err(fail)?;
        for bag in bags {
            if bag.bag_id == pkcs12::PKCS_12_CERT_BAG_OID {
                let cs: ContextSpecific<CertBag> =
                    ContextSpecific::from_der(&bag.bag_value).map_err(fail)?;
                if cs.value.cert_id == X509_CERTIFICATE {
                    out.certs.push(cs.value.cert_value.as_bytes().to_vec());
                }
            } else if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
                let cs: ContextSpecific<der::Any> =
                    ContextSpecific::from_der(&bag.bag_value).map_err(fail)?;
                out.keys.push(cs.value.to_der().map_err(fail)?);
            } else if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
                // Decrypted by p12-keystore; only its iterations are bounded here.
                let cs: ContextSpecific<der::Any> =
                    ContextSpecific::from_der(&bag.bag_value).map_err(fail)?;
                let inner = cs.value.to_der().map_err(fail)?;
                let mut reader = der::SliceReader::new(&inner).map_err(fail)?;
                let alg = der::Reader::sequence(&mut reader, |r| {
                    let alg = spki::AlgorithmIdentifierOwned::decode(r)?;
                    OctetString::decode(r)?;
                    Ok(alg)
                })
                .map_err(fail)?;
                pbes2(&alg, "key encryption", password, None)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{CertSpec, KeyAlgorithm, PrivateKey, Role};

    /// The first encrypted safe's algorithm and ciphertext.
    fn encrypted_safe(data: &[u8]) -> (spki::AlgorithmIdentifierOwned, Vec<u8>) {
        use der::asn1::OctetString;
        use der::{Decode, Encode};
        let pfx = pkcs12::pfx::Pfx::from_der(data).unwrap();
        let outer = OctetString::from_der(&pfx.auth_safe.content.to_der().unwrap()).unwrap();
        let safes =
            pkcs12::authenticated_safe::AuthenticatedSafe::from_der(outer.as_bytes()).unwrap();
        let safe = safes
            .iter()
            .find(|s| s.content_type == ID_ENCRYPTED_DATA)
            .unwrap();
        let enc =
            cms::encrypted_data::EncryptedData::from_der(&safe.content.to_der().unwrap()).unwrap();
        let info = enc.enc_content_info;
        (
            info.content_enc_alg,
            info.encrypted_content.unwrap().as_bytes().to_vec(),
        )
    }

    /// A wrong password whose decryption of the encrypted safe passes the padding check
    /// (about one in 256) yields garbage: that is still a wrong password, never a damaged
    /// file (openssl says "mac verify failure").
    #[test]
    fn a_wrong_password_that_decrypts_to_garbage_is_a_wrong_password() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let spec = CertSpec {
            common_name: "p12.example.test".into(),
            organization: None,
            dns_names: vec!["p12.example.test".into()],
            ip_addresses: vec![],
            not_before: now,
            not_after: now + time::Duration::days(30),
            role: Role::Leaf,
            eku: vec![],
        };
        let cert = crate::self_sign(&spec, &key).unwrap().to_vec();
        let p12 = crate::pkcs12_encode("x", key.secret_der(), &[cert], "secret").unwrap();
        let (alg, ciphertext) = encrypted_safe(&p12);
        let garbling = (0..20_000)
            .map(|i| format!("wrong{i}"))
            .find(|pw| matches!(pbes2(&alg, "safe", pw, Some(&ciphertext)), Ok(Some(_))))
            .expect("a wrong password that passes the padding check");
        assert!(matches!(
            pkcs12_decode(&p12, &garbling),
            Err(Error::Pkcs12Password)
        ));
        assert!(matches!(
            pkcs12_decode(&p12, "wrong"),
            Err(Error::Pkcs12Password)
        ));
        assert!(pkcs12_decode(&p12, "secret").is_ok());
    }
}
