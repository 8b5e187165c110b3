//! TLS to PostgreSQL, with rustls on aws-lc-rs: the URL's `sslmode` (`require`,
//! `verify-ca`, `verify-full`, as libpq reads them) and `sslrootcert` (a PEM file of the
//! CA certificates to trust). `disable`, `prefer` and no `sslmode` stay without TLS.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::redact_url;
use crate::Error;

/// What the URL asks of TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No TLS from certherd (`disable`, `prefer`, or none said).
    Off,
    /// Encrypted; the certificate unchecked unless `sslrootcert` is given, which makes it
    /// `verify-ca` (as libpq does).
    Require,
    /// Encrypted, the chain verified against `sslrootcert`, the name not.
    VerifyCa,
    /// Encrypted, the chain verified against `sslrootcert` and the certificate valid for
    /// the host connected to.
    VerifyFull,
}

/// The URL without the TLS parameters certherd handles itself, the mode, and the root
/// file given.
pub(crate) fn split(url: &str) -> Result<(String, Mode, Option<String>), Error> {
    let bad = |detail: String| Error::BadUrl {
        url: redact_url(url),
        detail,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Mode::Off, None));
    };
    let (mut kept, mut mode, mut root) = (Vec::new(), Mode::Off, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = match value {
                    "disable" | "prefer" => Mode::Off,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(bad(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                )))
                    }
                }
            }
            "sslrootcert" => {
                root = Some(
                    percent_decoded(value)
                        .ok_or_else(|| bad("sslrootcert: not a percent-encoded path".into()))?,
                )
            }
            _ => kept.push(pair),
        }
    }
    if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) && root.is_none() {
        return Err(bad(
            "sslmode=verify-ca and verify-full need sslrootcert=FILE (the CA certificates to trust, PEM)".into(),
        ));
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

/// `%XX` escapes decoded; `None` when one is broken or the result is not UTF-8.
fn percent_decoded(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The rustls client configuration of `mode` (not [`Mode::Off`]), trusting the
/// certificates of the PEM file `root`.
pub(crate) fn client_config(
    url: &str,
    mode: &Mode,
    root: Option<&str>,
) -> Result<ClientConfig, Error> {
    let bad = |detail: String| Error::BadUrl {
        url: redact_url(url),
        detail,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let webpki = match root {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| bad(format!("sslrootcert {path}: cannot read it: {e}")))?;
            let certs = certherd_x509::parse_certificates(&pem)
                .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            let mut roots = RootCertStore::empty();
            for c in certs {
                roots
                    .add(CertificateDer::from(c.to_vec()))
                    .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad(format!("sslrootcert {path}: no certificate in it")));
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?,
            )
        }
    };
    let verifier = Verifier {
        webpki,
        check_name: *mode == Mode::VerifyFull,
        provider: provider.clone(),
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The name mismatch a `verify-full` connection to `address` (HOST:PORT) failed with, in
/// certherd-tls's words (`presents a certificate for X, not Y`), if that is why `e` (the
/// driver's error) failed; the verifier below puts the names in as written. The driver
/// keeps the handshake's error inside an `io::Error`, which hides it from `source()`.
pub(crate) fn name_mismatch(
    e: &(dyn std::error::Error + 'static),
    address: &str,
) -> Option<certherd_tls::Error> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected,
            presented,
        })) = inner.or_else(|| c.downcast_ref::<rustls::Error>())
        {
            return Some(certherd_tls::Error::NameMismatch {
                address: address.to_owned(),
                expected: expected.to_str().into_owned(),
                // The verifier below put the names in as written.
                presented: presented.clone(),
            });
        }
        cause = c.source();
    }
    None
}

/// libpq's checks: none without a root file (`require`), the chain (`verify-ca`), the
/// chain and the name (`verify-full`). Handshake signatures are always verified.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other.map_err(|e| certherd_tls::with_presented_names(e, end_entity)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, mode, root) =
            split("postgres://u:pw@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a")
                .unwrap();
        assert_eq!(rest, "postgres://u:pw@db:5432/x?application_name=a");
        assert_eq!(mode, Mode::VerifyFull);
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (rest, mode, root) = split("postgres://u@db/x?sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), mode, root),
            ("postgres://u@db/x", Mode::Require, None)
        );
        assert_eq!(split("postgres://u@db/x").unwrap().1, Mode::Off);
        assert_eq!(
            split("postgres://u@db/x?sslmode=prefer").unwrap().1,
            Mode::Off
        );
        // A password never shows in the refusal.
        for bad in [
            "postgres://u:pw@db/x?sslmode=verify-full",
            "postgres://u:pw@db/x?sslmode=sometimes",
            "postgres://u:pw@db/x?sslmode=require&sslrootcert=%zz",
        ] {
            let e = split(bad).unwrap_err().to_string();
            assert!(!e.contains("pw@"), "{e}");
        }
    }

    /// A verify-full name mismatch, as the driver wraps it (an `io::Error` holding
    /// rustls's), said in words: the names, not rustls's Debug text.
    #[test]
    fn a_name_mismatch_is_said_plainly() {
        let rustls_error =
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("db.example.com").unwrap(),
                presented: vec!["other.example.com".into(), "127.0.0.1".into()],
            });
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let e = name_mismatch(&wrapped, "db.example.com:5432").unwrap();
        assert_eq!(
            e.to_string(),
            "db.example.com:5432 presents a certificate for other.example.com, 127.0.0.1, not db.example.com"
        );
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(name_mismatch(&other, "db:5432").is_none());
    }
}
