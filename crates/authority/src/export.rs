//! `cert export`: PEM, DER or PKCS#12; a private key only when asked for; the root only
//! with `--with-root`.

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
            _ => Err(Error::InvalidValue {
                what: crate::error::ValueKind::ExportFormat,
                value: s.to_owned(),
            }),
        }
    }
}

/// What `cert export` puts out besides the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportContent {
    /// The certificate and its chain.
    Certificate,
    /// The certificate, its chain and the private key (`--key`).
    WithKey,
    /// The private key alone (`--key-only`, PEM).
    KeyOnly,
}

impl ExportContent {
    /// Whether the private key goes out.
    pub fn has_key(self) -> bool {
        !matches!(self, Self::Certificate)
    }
}

/// The choices of one `cert export`.
#[derive(Clone, Copy, Debug)]
pub struct ExportOptions<'a> {
    /// The encoding.
    pub format: ExportFormat,
    /// Certificate, certificate and key, or key alone.
    pub content: ExportContent,
    /// Keep the root in the chain (`--with-root`); by default a chain stops below it, as a
    /// TLS server should send it.
    pub with_root: bool,
    /// The PKCS#12 password.
    pub password: Option<&'a str>,
}

impl<S: Store> Node<S> {
    /// Exports an entry with the key if `with_key`, the chain without its root. See
    /// [`Node::export_with`].
    pub fn export(
        &mut self,
        r: &EntryRef,
        format: ExportFormat,
        with_key: bool,
        password: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        self.export_with(
            r,
            &ExportOptions {
                format,
                content: if with_key {
                    ExportContent::WithKey
                } else {
                    ExportContent::Certificate
                },
                with_root: false,
                password,
            },
        )
    }

    /// Exports an entry. The key is included only when asked for; PKCS#12 needs both the
    /// key and a password. The chain leaves out self-issued certificates (the root)
    /// unless `with_root`.
    pub fn export_with(&mut self, r: &EntryRef, o: &ExportOptions<'_>) -> Result<Vec<u8>, Error> {
        let format = o.format;
        let with_key = o.content.has_key();
        let e = self.load(r)?;
        if with_key && e.key.is_none() {
            return Err(Error::NoPrivateKey {
                entry: r.to_string(),
                file: None,
                detail: Some("certificate-only entry"),
            });
        }
        let chain = if o.with_root {
            let mut all = vec![e.cert.clone()];
            all.extend(e.chain.iter().cloned());
            all
        } else {
            chain_without_root(&e.cert, &e.chain)
        };
        let out = match (format, o.content) {
            (ExportFormat::Pem, ExportContent::KeyOnly) => match &e.key {
                Some(k) => certherd_x509::parse_private_key(k.expose())?
                    .to_pem()
                    .into_bytes(),
                None => {
                    return Err(Error::NoPrivateKey {
                        entry: r.to_string(),
                        file: None,
                        detail: None,
                    })
                }
            },
            (_, ExportContent::KeyOnly) => {
                return Err(Error::ExportOptions(
                    crate::error::ExportConflict::KeyOnlyNotPem,
                ))
            }
            (ExportFormat::Der, _) => {
                if o.with_root {
                    return Err(Error::ExportOptions(
                        crate::error::ExportConflict::DerWithRoot,
                    ));
                }
                if with_key {
                    return Err(Error::ExportOptions(
                        crate::error::ExportConflict::DerWithKey,
                    ));
                }
                e.cert.clone()
            }
            (ExportFormat::Pem, _) => {
                let mut s = String::new();
                for c in &chain {
                    s.push_str(&certherd_x509::to_pem(PemLabel::Certificate, c));
                }
                if with_key {
                    if let Some(k) = &e.key {
                        s.push_str(&certherd_x509::parse_private_key(k.expose())?.to_pem());
                    }
                }
                s.into_bytes()
            }
            (ExportFormat::P12, _) => {
                let Some(k) = e.key.as_ref().filter(|_| with_key) else {
                    return Err(Error::ExportOptions(
                        crate::error::ExportConflict::P12WithoutKey,
                    ));
                };
                let password = o
                    .password
                    .filter(|p| !p.is_empty())
                    .ok_or(Error::ExportOptions(
                        crate::error::ExportConflict::P12WithoutPassword,
                    ))?;
                let key = certherd_x509::parse_private_key(k.expose())?;
                certherd_x509::pkcs12_encode(r.alias.as_str(), key.secret_der(), &chain, password)?
            }
        };
        if with_key {
            let audit = self.audit(
                "export-key",
                r,
                format!(
                    "format {}{}",
                    format!("{format:?}").to_ascii_lowercase(),
                    if o.content == ExportContent::KeyOnly {
                        ", key only"
                    } else {
                        ""
                    }
                ),
            );
            self.commit(&[audit])?;
        }
        Ok(out)
    }
}

/// Leaf then intermediates, without any self-issued certificate (the root): what a
/// server presents, and what an export or a layout writes beside the key.
pub fn chain_without_root(cert: &[u8], chain: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = vec![cert.to_vec()];
    out.extend(
        chain
            .iter()
            .filter(|c| !certherd_x509::CertInfo::from_der(c).is_ok_and(|i| i.self_issued))
            .cloned(),
    );
    out
}
