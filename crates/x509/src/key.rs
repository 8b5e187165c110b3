//! Private keys: the algorithms certherd offers, generation and loading.

use std::fmt;
use std::str::FromStr;

use pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm};

use crate::Error;

/// The key algorithms certherd can generate; ECDSA P-256 is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// RSA 2048-bit, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072-bit, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
    /// RSA 4096-bit, PKCS#1 v1.5 with SHA-256.
    Rsa4096,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order `--help` lists them.
    pub const ALL: [KeyAlgorithm; 6] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::Ed25519,
    ];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::Ed25519 => "ed25519",
        }
    }

    /// How [`crate::CertInfo::public_key`] describes a key of this algorithm
    /// (`ECDSA P-256`, `RSA 2048`, `Ed25519`).
    pub fn description(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ECDSA P-256",
            Self::EcdsaP384 => "ECDSA P-384",
            Self::Rsa2048 => "RSA 2048",
            Self::Rsa3072 => "RSA 3072",
            Self::Rsa4096 => "RSA 4096",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// Whether this is an RSA algorithm (RSA leaves also get keyEncipherment).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    pub(crate) fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownKeyAlgorithm(s.to_owned()))
    }
}

/// A private key with its algorithm. `Debug` never shows the key material.
pub struct PrivateKey {
    der: PrivateKeyDer<'static>,
    algorithm: KeyAlgorithm,
    pair: KeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a fresh key with the provider's random generator.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, Error> {
        let alg = algorithm.signature_algorithm();
        let pair = match algorithm {
            KeyAlgorithm::Rsa2048 => KeyPair::generate_rsa_for(alg, RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => KeyPair::generate_rsa_for(alg, RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => KeyPair::generate_rsa_for(alg, RsaKeySize::_4096),
            _ => KeyPair::generate_for(alg),
        }
        .map_err(|e| Error::Key(e.to_string()))?;
        let mut der = pair.serialize_der();
        if algorithm == KeyAlgorithm::Ed25519 {
            der = ed25519_pkcs8_v1(&der).unwrap_or(der);
        }
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der));
        Ok(Self {
            der,
            algorithm,
            pair,
        })
    }

    /// Loads a key from DER (PKCS#8, PKCS#1 RSA or SEC1 EC), finding its algorithm.
    pub fn from_der(der: PrivateKeyDer<'static>) -> Result<Self, Error> {
        // The DER does not say which rcgen signature algorithm fits, so try each family;
        // only the right one parses.
        let candidates: [&'static SignatureAlgorithm; 4] = [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
            &rcgen::PKCS_RSA_SHA256,
        ];
        for alg in candidates {
            let Ok(pair) = KeyPair::from_der_and_sign_algo(&der, alg) else {
                continue;
            };
            let algorithm = if alg == &rcgen::PKCS_RSA_SHA256 {
                match rsa_bits(&pair) {
                    Some(2048) => KeyAlgorithm::Rsa2048,
                    Some(3072) => KeyAlgorithm::Rsa3072,
                    Some(4096) => KeyAlgorithm::Rsa4096,
                    other => {
                        return Err(Error::Key(format!(
                            "RSA key of {} bits is not supported (2048, 3072 or 4096)",
                            other.unwrap_or(0)
                        )))
                    }
                }
            } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
                KeyAlgorithm::EcdsaP256
            } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
                KeyAlgorithm::EcdsaP384
            } else {
                KeyAlgorithm::Ed25519
            };
            return Ok(Self {
                der,
                algorithm,
                pair,
            });
        }
        Err(Error::Malformed {
            what: "private key",
            detail: "not an ECDSA P-256/P-384, Ed25519 or RSA key in PKCS#8, PKCS#1 or SEC1 form"
                .into(),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The secret key in DER, as loaded or generated (PKCS#8 for generated keys).
    pub fn secret_der(&self) -> &[u8] {
        self.der.secret_der()
    }

    /// The key in PEM, with the label its DER form calls for.
    pub fn to_pem(&self) -> String {
        let label = match &self.der {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        crate::decode::pem_block(label, self.der.secret_der())
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_spki(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The rcgen key pair, for signing.
    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

/// The DER prefix of an Ed25519 PKCS#8 v2 (RFC 5958) key up to its 32-byte seed, after the
/// outer SEQUENCE header.
const ED25519_V2_PREFIX: [u8; 14] = [
    0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Rewrites an Ed25519 PKCS#8 v2 key (seed and public key) as v1 (seed only).
///
/// The provider generates v2, which OpenSSL 3.0 (Debian 12's) cannot read, neither as PEM nor
/// inside PKCS#12; v1 carries the same seed and every tool reads it.
fn ed25519_pkcs8_v1(der: &[u8]) -> Option<Vec<u8>> {
    if der.first() != Some(&0x30) || der.get(2..16)? != ED25519_V2_PREFIX {
        return None;
    }
    let seed = der.get(16..48)?;
    let mut v1 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v1.extend_from_slice(seed);
    Some(v1)
}

fn rsa_bits(pair: &KeyPair) -> Option<usize> {
    use x509_parser::prelude::FromDer;
    let spki = pair.subject_public_key_info();
    let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).ok()?;
    match parsed.parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => Some(rsa.key_size()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.name().parse::<KeyAlgorithm>().unwrap(), alg);
        }
        assert!("dsa-1024".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn generated_keys_reload_with_their_algorithm() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let reloaded = crate::parse_private_key(key.to_pem().as_bytes()).unwrap();
            assert_eq!(reloaded.algorithm(), alg);
            assert_eq!(reloaded.public_key_spki(), key.public_key_spki());
            assert!(!format!("{key:?}").contains("der"));
        }
    }

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1_for_openssl() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let der = key.secret_der();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]);
        // Not a v2 key: nothing to rewrite, and garbage is left alone.
        assert!(ed25519_pkcs8_v1(der).is_none());
        assert!(ed25519_pkcs8_v1(&[0x30]).is_none());
    }
}
