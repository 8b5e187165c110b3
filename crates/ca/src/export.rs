//! `cert export`: PEM, DER or PKCS#12; a private key only when asked for.

use std::str::FromStr;

use certherd_core::EntryRef;
use certherd_store::Store;
use certherd_x509::PemLabel;

use crate::{Error, Node};

/// Output encodings of `cert export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// The certificate then its chain (and the key last, with --key), PEM.
    Pem,
    /// The certificate alone, DER.
    Der,
    /// Key, certificate and chain in a password-protected PKCS#12.
    P12,
}

impl FromStr for ExportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "pem" => Ok(Self::Pem),
            "der" => Ok(Self::Der),
            "p12" | "pfx" | "pkcs12" => Ok(Self::P12),
            _ => Err(Error::Invalid(format!(
                "unknown format '{s}': expected pem, der or p12"
            ))),
        }
    }
}

impl<S: Store> Node<S> {
    /// Exports an entry. The key is included only with `with_key`; PKCS#12 needs both the
    /// key and a password.
    pub fn export(
        &mut self,
        r: &EntryRef,
        format: ExportFormat,
        with_key: bool,
        password: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let e = self.load(r)?;
        if with_key && e.key.is_none() {
            return Err(Error::Invalid(format!(
                "{r} holds no private key (certificate-only entry)"
            )));
        }
        let out = match format {
            ExportFormat::Der => {
                if with_key {
                    return Err(Error::Invalid(
                        "DER holds one object: export the key with --format pem or --format p12"
                            .into(),
                    ));
                }
                e.cert.clone()
            }
            ExportFormat::Pem => {
                let mut s = certherd_x509::to_pem(PemLabel::Certificate, &e.cert);
                for c in &e.chain {
                    s.push_str(&certherd_x509::to_pem(PemLabel::Certificate, c));
                }
                if with_key {
                    if let Some(k) = &e.key {
                        s.push_str(&certherd_x509::parse_private_key(k.expose())?.to_pem());
                    }
                }
                s.into_bytes()
            }
            ExportFormat::P12 => {
                let Some(k) = e.key.as_ref().filter(|_| with_key) else {
                    return Err(Error::Invalid("a PKCS#12 bundle carries the private key: add --key (or use --format pem for the certificate alone)".into()));
                };
                let password = password.filter(|p| !p.is_empty()).ok_or(Error::Invalid(
                    "a PKCS#12 export needs a password (--password-file FILE)".into(),
                ))?;
                let mut chain = vec![e.cert.clone()];
                chain.extend(e.chain.iter().cloned());
                let key = certherd_x509::parse_private_key(k.expose())?;
                certherd_x509::pkcs12_encode(r.alias.as_str(), key.secret_der(), &chain, password)?
            }
        };
        if with_key {
            let audit = self.audit(
                "export-key",
                r,
                format!("format {}", format!("{format:?}").to_ascii_lowercase()),
            );
            self.commit(&[audit])?;
        }
        Ok(out)
    }
}
