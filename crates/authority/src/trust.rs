//! Trusted CA certificates and CRLs.

use certherd_core::{EntryKind, EntryMeta, EntryRef, Source, StoreName};
use certherd_store::{Change, CrlRecord, Store};
use certherd_x509::{CertInfo, CrlInfo};

use crate::init::trust_alias;
use crate::{Error, Node};

/// A fingerprint as typed (hex, colons allowed) in lower-case hex digits; anything else
/// in it is refused, naming the character, rather than dropped.
fn normalize_fingerprint(s: &str) -> Result<String, Error> {
    if let Some(character) = s.chars().find(|c| !c.is_ascii_hexdigit() && *c != ':') {
        return Err(Error::FingerprintNotHex {
            input: s.to_owned(),
            character,
        });
    }
    Ok(s.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase())
}

/// What `trust add` did.
#[derive(Clone, Debug)]
pub struct TrustAdded {
    /// Newly trusted certificates.
    pub added: Vec<EntryMeta>,
    /// Certificates that were trusted already.
    pub already: Vec<EntryMeta>,
    /// Warnings the inspection found (expiring soon, a weak profile...).
    pub warnings: Vec<certherd_inspect::Finding>,
}

impl<S: Store> Node<S> {
    /// `trust add`: every certificate in the file must be a CA; each goes into
    /// trusted-roots. Returns the entries added and the ones already trusted.
    pub fn trust_add(&mut self, input: &[u8]) -> Result<(Vec<EntryMeta>, Vec<EntryMeta>), Error> {
        let certs = certherd_x509::parse_certificates(input)?;
        let store: StoreName = StoreName::TRUSTED_ROOTS.parse()?;
        let existing = self.store.entries(Some(&store))?;
        let mut added = Vec::new();
        let mut already = Vec::new();
        let mut changes = Vec::new();
        for c in &certs {
            let info = CertInfo::from_der(c)?;
            if !info.is_ca {
                return Err(Error::NotCa {
                    subject: info.subject,
                });
            }
            if let Some(m) = existing.iter().find(|m| m.sha256 == info.sha256) {
                already.push(m.clone());
                continue;
            }
            if added.iter().any(|m: &EntryMeta| m.sha256 == info.sha256) {
                continue;
            }
            let r = EntryRef::new(store.clone(), trust_alias(&info).parse()?);
            let meta = self.meta_for(
                r.clone(),
                &info,
                EntryKind::Certificate,
                None,
                Source::Trusted,
                None,
            );
            changes.push(Change::PutEntry {
                entry: Box::new(Self::entry_with_key(
                    meta.clone(),
                    c.to_vec(),
                    Vec::new(),
                    None,
                )),
                replace: false,
            });
            changes.push(self.audit(
                "trust-add",
                &r,
                format!("{} sha256 {}", info.subject, info.sha256),
            ));
            added.push(meta);
        }
        if !changes.is_empty() {
            self.commit(&changes)?;
        }
        Ok((added, already))
    }

    /// `trust add` as an admin runs it: each root is inspected first, and one that is
    /// expired, not yet valid or has a weak key is refused (nothing is added); the
    /// warnings (expiring soon, a weak self-signature...) come back to be shown.
    pub fn trust_add_checked(&mut self, input: &[u8]) -> Result<TrustAdded, Error> {
        let certs = certherd_x509::parse_certificates(input)?;
        let judge = self.judge()?;
        let mut warnings = Vec::new();
        for c in &certs {
            let info = CertInfo::from_der(c)?;
            if !info.is_ca {
                return Err(Error::NotCa {
                    subject: info.subject,
                });
            }
            let i = judge.inspect(
                &[c.to_vec()],
                &crate::JudgeAs {
                    name: None,
                    purpose: certherd_x509::Purpose::Any,
                    policy: certherd_inspect::TrustPolicy::Informational,
                    pins: &[],
                    ca_expected: true,
                    target: certherd_inspect::Target::Files,
                },
            );
            let critical = i.invalidating();
            if !critical.is_empty() {
                return Err(Error::Rejected {
                    what: format!("the root {}", info.subject),
                    findings: critical,
                });
            }
            warnings.extend(i.findings.into_iter().filter(|f| f.is_problem()));
        }
        let (added, already) = self.trust_add(input)?;
        Ok(TrustAdded {
            added,
            already,
            warnings,
        })
    }

    /// `trust list`.
    pub fn trust_list(&self) -> Result<Vec<EntryMeta>, Error> {
        Ok(self
            .store
            .entries(Some(&StoreName::TRUSTED_ROOTS.parse()?))?)
    }

    /// `trust remove FINGERPRINT`: by SHA-256 (hex, colons allowed; a unique prefix of at
    /// least 8 digits will do). The root anchoring the signing CA is refused.
    pub fn trust_remove(&mut self, fingerprint: &str) -> Result<EntryMeta, Error> {
        let fp = normalize_fingerprint(fingerprint)?;
        if fp.len() < 8 {
            return Err(Error::InvalidValue {
                what: crate::error::ValueKind::FingerprintPrefix,
                value: fingerprint.to_owned(),
            });
        }
        let matches: Vec<EntryMeta> = self
            .trust_list()?
            .into_iter()
            .filter(|m| m.sha256.starts_with(&fp))
            .collect();
        let m = match matches.as_slice() {
            [] => return Err(Error::NoSuchTrust(fingerprint.to_owned())),
            [one] => one.clone(),
            _ => {
                return Err(Error::AmbiguousFingerprint {
                    prefix: fingerprint.to_owned(),
                    matches: matches.len(),
                })
            }
        };
        self.delete(&m.entry)?;
        Ok(m)
    }

    /// `trust add-crl`: a CRL signed by a trusted CA; consulted by verify and import. It
    /// replaces an older CRL from the same issuer (the validator consults one per issuer),
    /// and a CRL older than the one held is refused.
    pub fn trust_add_crl(&mut self, input: &[u8]) -> Result<CrlInfo, Error> {
        let der = certherd_x509::parse_crl(input)?;
        let info = CrlInfo::from_der(&der)?;
        let signed = self
            .trust_anchors()?
            .iter()
            .any(|ca| CrlInfo::is_signed_by(&der, ca));
        if !signed {
            return Err(Error::CrlUntrusted {
                issuer: info.issuer,
            });
        }
        let mut changes = Vec::new();
        for held in self.store.crls()? {
            let held_info = CrlInfo::from_der(&held.der)?;
            if held_info.issuer_raw != info.issuer_raw {
                continue;
            }
            if held_info.this_update > info.this_update {
                return Err(Error::StaleCrl {
                    issuer: info.issuer.clone(),
                    this_update: info.this_update,
                    held: held_info.this_update,
                });
            }
            if held.sha256 != info.sha256 {
                changes.push(Change::DeleteCrl(held.sha256));
            }
        }
        changes.push(Change::PutCrl(CrlRecord {
            sha256: info.sha256.clone(),
            issuer: info.issuer.clone(),
            der: der.to_vec(),
            this_update: info.this_update,
            added_at: self.now(),
        }));
        changes.push(self.audit(
            "trust-add-crl",
            &info.issuer,
            format!("sha256 {} revoked {}", info.sha256, info.revoked),
        ));
        self.commit(&changes)?;
        Ok(info)
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    #[test]
    fn a_fingerprint_that_is_not_hex_is_said_so() {
        assert_eq!(
            normalize_fingerprint("AB:cd:01").ok().as_deref(),
            Some("abcd01")
        );
        assert!(matches!(
            normalize_fingerprint("zzzzzzzzzz"),
            Err(Error::FingerprintNotHex { character: 'z', .. })
        ));
        assert!(matches!(
            normalize_fingerprint("abcd ef01 2345"),
            Err(Error::FingerprintNotHex { character: ' ', .. })
        ));
    }
}
