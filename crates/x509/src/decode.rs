//! Decoding certificates, keys, CRLs and CSRs from PEM or DER, as users hand them over.

use pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use x509_parser::prelude::FromDer;

use crate::{Error, PrivateKey};

/// PEM labels certherd writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PemLabel {
    /// `CERTIFICATE`
    Certificate,
    /// `CERTIFICATE REQUEST`
    CertificateRequest,
    /// `X509 CRL`
    Crl,
}

impl PemLabel {
    fn tag(self) -> &'static str {
        match self {
            Self::Certificate => "CERTIFICATE",
            Self::CertificateRequest => "CERTIFICATE REQUEST",
            Self::Crl => "X509 CRL",
        }
    }
}

/// Encodes DER as one PEM block with the given label.
pub fn to_pem(label: PemLabel, der: &[u8]) -> String {
    pem_block(label.tag(), der)
}

pub(crate) fn pem_block(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn looks_like_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

pub(crate) fn pem_blocks(input: &[u8], what: &'static str) -> Result<Vec<pem::Pem>, Error> {
    let count = |needle: &[u8]| input.windows(needle.len()).filter(|w| *w == needle).count();
    if count(b"-----BEGIN ") > count(b"-----END ") {
        return Err(Error::Malformed {
            what,
            detail: "truncated: a BEGIN line has no matching END line".into(),
        });
    }
    pem::parse_many(input).map_err(|e| Error::Malformed {
        what,
        detail: e.to_string(),
    })
}

/// Every certificate in the input: one or more PEM blocks (other blocks are skipped),
/// or a single DER certificate. Each one is checked to parse as X.509.
pub fn parse_certificates(input: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let ders: Vec<Vec<u8>> = if looks_like_pem(input) {
        pem_blocks(input, "PEM certificate")?
            .into_iter()
            .filter(|p| {
                p.tag() == "CERTIFICATE"
                    || p.tag() == "TRUSTED CERTIFICATE"
                    || p.tag() == "X509 CERTIFICATE"
            })
            .map(pem::Pem::into_contents)
            .collect()
    } else if input.is_empty() {
        Vec::new()
    } else {
        vec![input.to_vec()]
    };
    if ders.is_empty() {
        return Err(Error::NotFound {
            expected: "certificate",
        });
    }
    ders.into_iter()
        .map(|der| {
            let (rest, _) =
                x509_parser::certificate::X509Certificate::from_der(&der).map_err(|e| {
                    Error::Malformed {
                        what: "certificate",
                        detail: e.to_string(),
                    }
                })?;
            if !rest.is_empty() {
                return Err(Error::Malformed {
                    what: "certificate",
                    detail: format!("{} trailing bytes after the certificate", rest.len()),
                });
            }
            Ok(CertificateDer::from(der))
        })
        .collect()
}

/// The first private key in the input (PKCS#8, PKCS#1 or SEC1; PEM or DER).
pub fn parse_private_key(input: &[u8]) -> Result<PrivateKey, Error> {
    let der: PrivateKeyDer<'static> = if looks_like_pem(input) {
        let blocks = pem_blocks(input, "PEM private key")?;
        if blocks.iter().any(|p| p.tag() == "ENCRYPTED PRIVATE KEY") {
            return Err(Error::Malformed {
                what: "private key",
                detail: "encrypted private keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)".into(),
            });
        }
        let block = blocks
            .into_iter()
            .find(|p| {
                matches!(
                    p.tag(),
                    "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
                )
            })
            .ok_or(Error::NotFound {
                expected: "private key",
            })?;
        match block.tag() {
            "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(block.into_contents().into()),
            "EC PRIVATE KEY" => PrivateKeyDer::Sec1(block.into_contents().into()),
            _ => PrivateKeyDer::Pkcs8(block.into_contents().into()),
        }
    } else if input.is_empty() {
        return Err(Error::NotFound {
            expected: "private key",
        });
    } else {
        PrivateKeyDer::try_from(input.to_vec()).map_err(|e| Error::Malformed {
            what: "private key",
            detail: e.to_string(),
        })?
    };
    PrivateKey::from_der(der)
}

/// The first CRL in the input (PEM `X509 CRL` or DER), checked to parse.
pub fn parse_crl(input: &[u8]) -> Result<CertificateRevocationListDer<'static>, Error> {
    let der = if looks_like_pem(input) {
        pem_blocks(input, "PEM CRL")?
            .into_iter()
            .find(|p| p.tag() == "X509 CRL")
            .map(pem::Pem::into_contents)
            .ok_or(Error::NotFound { expected: "CRL" })?
    } else if input.is_empty() {
        return Err(Error::NotFound { expected: "CRL" });
    } else {
        input.to_vec()
    };
    x509_parser::revocation_list::CertificateRevocationList::from_der(&der).map_err(|e| {
        Error::Malformed {
            what: "CRL",
            detail: e.to_string(),
        }
    })?;
    Ok(CertificateRevocationListDer::from(der))
}

/// The first certificate signing request in the input (PEM or DER), checked to parse.
pub fn parse_signing_request(input: &[u8]) -> Result<Vec<u8>, Error> {
    let der = if looks_like_pem(input) {
        pem_blocks(input, "PEM CSR")?
            .into_iter()
            .find(|p| p.tag() == "CERTIFICATE REQUEST" || p.tag() == "NEW CERTIFICATE REQUEST")
            .map(pem::Pem::into_contents)
            .ok_or(Error::NotFound {
                expected: "certificate signing request",
            })?
    } else {
        input.to_vec()
    };
    x509_parser::certification_request::X509CertificationRequest::from_der(&der).map_err(|e| {
        Error::Malformed {
            what: "certificate signing request",
            detail: e.to_string(),
        }
    })?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Every decoder of untrusted input must return Ok or Err, never panic.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_certificates(&bytes);
            let _ = parse_private_key(&bytes);
            let _ = parse_crl(&bytes);
            let _ = parse_signing_request(&bytes);
            let _ = crate::pkcs12_decode(&bytes, "secret");
        }

        #[test]
        fn pem_wrapped_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..1024), label in "(CERTIFICATE|PRIVATE KEY|X509 CRL|EC PRIVATE KEY|RSA PRIVATE KEY|CERTIFICATE REQUEST)") {
            let pem = pem_block(&label, &body);
            let _ = parse_certificates(pem.as_bytes());
            let _ = parse_private_key(pem.as_bytes());
            let _ = parse_crl(pem.as_bytes());
            let _ = parse_signing_request(pem.as_bytes());
        }
    }

    #[test]
    fn empty_input_is_not_found() {
        assert!(matches!(
            parse_certificates(b""),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            parse_private_key(b""),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn truncated_pem_is_malformed() {
        let key = PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).unwrap();
        let pem = key.to_pem();
        let cut = &pem.as_bytes()[..pem.len() / 2];
        assert!(parse_private_key(cut).is_err());
    }
}
