//! `cert import`: bringing in a certificate issued elsewhere (hybrid and custom modes),
//! refused with the reason unless it is one certherd can stand behind.

use certherd_core::{EntryKind, EntryRef, Source};
use certherd_store::{Change, Store};
use certherd_x509::{CertInfo, CertificateDer, Eku, Purpose, Reason, Role, VerifyInput};

use crate::issue::Issued;
use crate::{Error, Instead, Node};

/// The outcome of `cert import`.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The live entry after the import.
    pub issued: Issued,
    /// The certificate (same SHA-256) and key were already the live entry: nothing was
    /// changed, no backup made, no audit row written.
    pub unchanged: bool,
}

impl<S: Store> Node<S> {
    /// Imports from a PKCS#12 bundle (key, certificate and chain) opened with `password`,
    /// with the same checks as [`Node::import`].
    pub fn import_pkcs12(
        &mut self,
        r: &EntryRef,
        data: &[u8],
        password: &str,
        profile: Option<&str>,
    ) -> Result<Imported, Error> {
        let contents = certherd_x509::pkcs12_decode(data, password)?;
        let (key, chain) = match contents.keys.as_slice() {
            [one] => one.clone(),
            [] => return Err(Error::Pkcs12Keys { keys: 0 }),
            _ => {
                return Err(Error::Pkcs12Keys {
                    keys: contents.keys.len(),
                })
            }
        };
        let mut pem = String::new();
        for c in chain.iter().chain(contents.certificates.iter()) {
            pem.push_str(&certherd_x509::to_pem(
                certherd_x509::PemLabel::Certificate,
                c,
            ));
        }
        let key = certherd_x509::parse_private_key(&key)?;
        self.import(
            r,
            pem.as_bytes(),
            &[],
            Some(key.to_pem().as_bytes()),
            profile,
        )
    }

    /// Imports a certificate (PEM or DER; a bundle in any order) with optional chain files
    /// and key. Refused, with nothing changed, when the key does not match, the chain does
    /// not reach a trusted root, the certificate is not valid now, a machine-ssl
    /// certificate does not cover the hostname, or the EKU does not fit the profile.
    /// An existing entry of that name is kept in the backup store; importing the very
    /// certificate and key that are already the live entry changes nothing.
    pub fn import(
        &mut self,
        r: &EntryRef,
        cert_input: &[u8],
        chain_inputs: &[Vec<u8>],
        key_input: Option<&[u8]>,
        profile: Option<&str>,
    ) -> Result<Imported, Error> {
        if r.store.is_managed() {
            return Err(Error::Protected {
                entry: r.to_string(),
                why: "this store is managed by certherd",
                instead: Some(Instead::AddTrust),
            });
        }
        let mut certs = certherd_x509::parse_certificates(cert_input)?;
        for c in chain_inputs {
            certs.extend(certherd_x509::parse_certificates(c)?);
        }
        let key = key_input
            .map(certherd_x509::parse_private_key)
            .transpose()?;
        let infos = certs
            .iter()
            .map(|c| CertInfo::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;

        // The leaf: the certificate matching the key; else the only non-CA one; else the first.
        let leaf_idx = match &key {
            Some(k) => {
                let spki = k.public_key_spki();
                infos
                    .iter()
                    .position(|i| i.spki_der == spki)
                    .ok_or(Error::KeyMismatch)?
            }
            None => {
                let non_ca: Vec<usize> = (0..infos.len()).filter(|&i| !infos[i].is_ca).collect();
                if non_ca.len() == 1 {
                    non_ca[0]
                } else {
                    0
                }
            }
        };
        let leaf = certs[leaf_idx].clone();
        let info = infos[leaf_idx].clone();
        let others: Vec<CertificateDer<'static>> = certs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != leaf_idx)
            .map(|(_, c)| c.clone())
            .collect();

        let existing = self.store.entry(r)?;
        let profile_name = profile
            .map(str::to_owned)
            .or_else(|| existing.as_ref().and_then(|e| e.meta.profile.clone()))
            .or_else(|| {
                self.profiles
                    .get(r.store.as_str())
                    .ok()
                    .map(|p| p.name.clone())
            });
        let profile = profile_name
            .as_deref()
            .map(|p| self.profiles.get(p))
            .transpose()?
            .cloned();
        if profile
            .as_ref()
            .is_some_and(|p| !matches!(p.role, Role::Leaf))
        {
            return Err(Error::CaCertificateImport);
        }

        let now = self.now();
        if now > info.not_after {
            return Err(Error::Expired {
                not_after: info.not_after,
                now,
            });
        }
        if now < info.not_before {
            return Err(Error::NotYetValid {
                not_before: info.not_before,
                now,
            });
        }
        if let Some(p) = &profile {
            if !info.extended_key_usage.is_empty() {
                let missing: Vec<&str> = p
                    .eku
                    .iter()
                    .map(|e| e.name())
                    .filter(|n| !info.extended_key_usage.iter().any(|x| x == n))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::EkuMismatch {
                        profile: p.name.clone(),
                        required: p
                            .eku
                            .iter()
                            .map(|e| e.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                        present: info.extended_key_usage.join(", "),
                    });
                }
            }
        }
        let hostname = self.hostname()?;
        let is_machine_ssl = profile.as_ref().is_some_and(|p| p.name == "machine-ssl");
        if is_machine_ssl && !info.covers_name(&hostname) {
            return Err(Error::HostnameNotCovered {
                hostname,
                names: info.subject_alt_names().join(", "),
            });
        }
        let purpose = match &profile {
            Some(p) if p.eku.contains(&Eku::ServerAuth) => Purpose::Server,
            Some(p) if p.eku.contains(&Eku::ClientAuth) => Purpose::Client,
            _ => Purpose::Any,
        };
        let trusted = self.trust_anchors()?;
        let crls = self.trusted_crls()?;
        let verified = certherd_x509::verify(&VerifyInput {
            end_entity: &leaf,
            intermediates: &others,
            trusted: &trusted,
            crls: &crls,
            at: now,
            name: None,
            purpose,
        })
        .map_err(|reason| match reason {
            Reason::Expired { not_after, now } => Error::Expired { not_after, now },
            other => Error::Untrusted(other),
        })?;
        let chain: Vec<Vec<u8>> = verified.chain.iter().skip(1).map(|c| c.to_vec()).collect();
        // The path holds; the one inspection judges the rest (weak keys and signatures,
        // the profile), so `cert import` and `verify` never disagree.
        let mut presented = vec![leaf.to_vec()];
        presented.extend(others.iter().map(|c| c.to_vec()));
        let entry_text = r.to_string();
        let inspection = self.inspect_chain(
            &presented,
            &crate::JudgeAs {
                name: None,
                purpose,
                policy: certherd_inspect::TrustPolicy::Required,
                pins: &[],
                ca_expected: false,
                target: certherd_inspect::Target::Entry {
                    entry: &entry_text,
                    renewable: false,
                },
            },
        )?;
        let critical = inspection.invalidating();
        if !critical.is_empty() {
            return Err(Error::Rejected {
                what: format!("importing {}", info.subject),
                findings: critical,
            });
        }
        let mut warnings: Vec<String> = inspection
            .findings
            .iter()
            .filter(|f| f.is_problem())
            .map(|f| format!("{}: {}", f.kind, f.message))
            .collect();
        warnings.push("imported certificates are monitored but not renewed automatically".into());

        if let Some(live) = existing.as_ref().filter(|e| {
            // The key was checked against the certificate above: the same certificate
            // with a key is the same key.
            e.meta.sha256 == info.sha256
                && e.key.is_some() == key.is_some()
                && profile_name == e.meta.profile
        }) {
            return Ok(Imported {
                issued: Issued {
                    meta: live.meta.clone(),
                    warnings: Vec::new(),
                },
                unchanged: true,
            });
        }
        let kind = if key.is_some() {
            EntryKind::KeyPair
        } else {
            EntryKind::Certificate
        };
        let meta = self.meta_for(
            r.clone(),
            &info,
            kind,
            profile_name.as_deref(),
            Source::Imported,
            None,
        );
        let entry = Self::entry_with_key(meta.clone(), leaf.to_vec(), chain, key.as_ref());
        let mut changes = vec![Change::CreateStore(r.store.clone(), now)];
        let mut detail = format!("serial {} issuer {}", info.serial, info.issuer);
        let (replacing, backup) = self.replace_entry(entry)?;
        if let Some(backup) = backup {
            detail.push_str(&format!("; previous kept as {backup}"));
        }
        changes.extend(replacing);
        changes.push(self.audit("import", r, detail));
        self.commit(&changes)?;
        Ok(Imported {
            issued: Issued { meta, warnings },
            unchanged: false,
        })
    }
}
