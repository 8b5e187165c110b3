//! PKCS#12 bundles, for export to tools that want one file with key and chain.
//!
//! p12-keystore brings the legacy ciphers (RC2, 3DES, SHA-1 MACs) that real-world PKCS#12
//! files use and that aws-lc-rs does not expose; certherd writes only PBES2/AES-256.

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};

use crate::Error;

/// What a PKCS#12 file held.
#[derive(Debug, Default)]
pub struct Pkcs12Contents {
    /// Private keys (PKCS#8 DER) with their certificate chains (DER, leaf first).
    pub keys: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Certificates without a key.
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

/// Decodes a PKCS#12 file with `password`.
pub fn pkcs12_decode(data: &[u8], password: &str) -> Result<Pkcs12Contents, Error> {
    let store = KeyStore::from_pkcs12(data, password).map_err(|e| {
        let msg = e.to_string();
        if msg.to_ascii_lowercase().contains("mac") || msg.to_ascii_lowercase().contains("password")
        {
            Error::Pkcs12Password
        } else {
            Error::Pkcs12(msg)
        }
    })?;
    let mut out = Pkcs12Contents::default();
    for (_, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => out.keys.push((
                chain.key().to_vec(),
                chain.chain().iter().map(|c| c.as_der().to_vec()).collect(),
            )),
            KeyStoreEntry::Certificate(c) => out.certificates.push(c.as_der().to_vec()),
            _ => {}
        }
    }
    Ok(out)
}
