//! The CA itself: show, export, rotation, and completing subordinate mode.

use certherd_core::{EntryKind, EntryRef, Profiles, Source, StoreName};
use certherd_store::{Change, Store};
use certherd_x509::{CertInfo, CertSpec, CertificateDer, Eku, Purpose, Role, VerifyInput};

use crate::init::trust_alias;
use crate::issue::{Renewed, SkipReason, Skipped};
use crate::node::{keys, SigningCa};
use crate::{Error, Node};

/// What `ca show` prints.
#[derive(Clone, Debug)]
pub struct CaSummary {
    /// ca or subordinate.
    pub mode: String,
    /// The signing CA entry, when ready.
    pub entry: Option<EntryRef>,
    /// Its certificate facts.
    pub info: Option<CertInfo>,
    /// The root at the top of its chain.
    pub root: Option<CertInfo>,
    /// A rotation still in progress: the retiring CA entry.
    pub retiring: Option<EntryRef>,
    /// Subordinate mode waiting for the signed certificate.
    pub pending: bool,
}

/// What `ca rotate` did.
#[derive(Clone, Debug)]
pub struct RotationReport {
    /// The new CA entry.
    pub new_ca: EntryRef,
    /// Its SHA-256.
    pub new_sha256: String,
    /// Every reissued entry.
    pub reissued: Vec<Renewed>,
    /// Entries issued by the old CA left as they are: revoked ones (a CRL of the home
    /// lists them) stay revoked, and do not keep the old root from retiring; renewing one
    /// is the admin's decision (`cert renew STORE/ALIAS`).
    pub skipped: Vec<Skipped>,
    /// Whether the old root was retired (no entry issued by it remains).
    pub retired: bool,
    /// The old CA entry.
    pub old_ca: EntryRef,
    /// Fleet hosts that have not yet confirmed the new root (nothing is reissued until
    /// every host trusts it, so no connection fails).
    pub waiting_for: Vec<String>,
    /// Fleet hosts ordered to renew their host certificate under the new root.
    pub ordered: Vec<String>,
}

impl<S: Store> Node<S> {
    /// `ca show`.
    pub fn ca_summary(&self) -> Result<CaSummary, Error> {
        let mode = self.store.meta(keys::MODE)?.unwrap_or_else(|| "ca".into());
        let pending = self.store.secret(keys::PENDING_CA_KEY)?.is_some();
        let retiring = self
            .store
            .meta(keys::CA_RETIRING)?
            .map(|a| format!("{}/{a}", StoreName::CA).parse())
            .transpose()?;
        match self.signing_ca() {
            Ok(ca) => {
                let root = match ca.chain.last() {
                    Some(r) => CertInfo::from_der(r)?,
                    None => ca.info.clone(),
                };
                Ok(CaSummary {
                    mode,
                    entry: Some(ca.alias.clone()),
                    info: Some(ca.info.clone()),
                    root: Some(root),
                    retiring,
                    pending,
                })
            }
            Err(Error::CaNotReady(_)) => Ok(CaSummary {
                mode,
                entry: None,
                info: None,
                root: None,
                retiring,
                pending,
            }),
            Err(e) => Err(e),
        }
    }

    /// `ca export`: the root certificate clients must trust, DER.
    pub fn ca_root(&self) -> Result<Vec<u8>, Error> {
        let ca = self.signing_ca()?;
        Ok(ca.chain.last().cloned().unwrap_or_else(|| ca.cert.clone()))
    }

    /// Whether a rotation has begun and the old root is not retired yet.
    pub fn rotation_in_progress(&self) -> Result<bool, Error> {
        Ok(self.store.meta(keys::CA_RETIRING)?.is_some())
    }

    /// `ca rotate`: a new root is added to trusted-roots and becomes the signing CA, every
    /// entry the old root issued is reissued, and the old root stays trusted until none
    /// remains. Each step commits on its own, so a rotation interrupted at any point is
    /// resumed by running `ca rotate` again, and nothing is ever signed by an untrusted root.
    /// See [`Node::ca_rotate_step`] for the fleet's stages.
    pub fn ca_rotate(&mut self) -> Result<RotationReport, Error> {
        self.ca_rotate_step()
    }

    /// One step of a CA rotation. On a fleet the steps are staged: the new root is trusted
    /// everywhere first (hosts receive it at their next poll), then the server's own
    /// certificates are reissued and every host is ordered to renew, and the old root is
    /// retired once nothing issued by it remains. The server's lifecycle loop calls this
    /// until the rotation is done.
    pub fn ca_rotate_step(&mut self) -> Result<RotationReport, Error> {
        if self.store.meta(keys::MODE)?.as_deref() == Some("subordinate") {
            return Err(Error::SubordinateCa);
        }
        let old_alias = match self.store.meta(keys::CA_RETIRING)? {
            // Resume an interrupted rotation rather than starting another.
            Some(a) => format!("{}/{a}", StoreName::CA).parse::<EntryRef>()?,
            None => {
                let old = self.signing_ca()?;
                let hostname = self.hostname()?;
                let now = self.now();
                let second = format!(
                    "{:04}{:02}{:02}{:02}{:02}{:02}",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second()
                );
                let key = certherd_x509::PrivateKey::generate(old.key.algorithm())?;
                // A second rotation within one second (a script) is named apart by its
                // key: the CA named after that second may be retired already, its entry
                // gone, but its name (and so its subject) must not come back for another
                // key. Names of later seconds never met one before.
                let taken = self.store.meta(keys::CA_ROTATED_AT)?.as_deref() == Some(&second);
                let tag = if taken {
                    let id = certherd_x509::hex(&certherd_x509::sha256(&key.public_key_spki()));
                    format!("{second}-{}", id.get(..8).unwrap_or(&id))
                } else {
                    second
                };
                let root = self.new_root(&hostname, Some(&tag), &key)?;
                let new_ref: EntryRef = format!("{}/root-{tag}", StoreName::CA).parse()?;
                let mut changes = self.root_changes(&new_ref, &root, &key)?;
                changes.push(Change::SetMeta {
                    key: keys::CA_CURRENT.into(),
                    value: new_ref.alias.to_string(),
                });
                changes.push(Change::SetMeta {
                    key: keys::CA_RETIRING.into(),
                    value: old.alias.alias.to_string(),
                });
                changes.push(Change::SetMeta {
                    key: keys::CA_ROTATED_AT.into(),
                    value: second_of_tag(&tag).to_owned(),
                });
                changes.push(self.audit(
                    "ca-rotate",
                    &new_ref,
                    format!("new root sha256 {}; retiring {}", root.sha256, old.alias),
                ));
                self.commit(&changes)?;
                self.fault_point("rotate.new-root");
                old.alias.clone()
            }
        };
        let old = self.load(&old_alias)?;
        // A fleet is staged: every joined host must hold the new root before anything it
        // verifies (the server's certificate) is reissued under it.
        let new_sha = self.signing_ca()?.sha256.clone();
        let waiting_for = self.hosts_without_root(&new_sha)?;
        if !waiting_for.is_empty() {
            let current = self.signing_ca()?;
            return Ok(RotationReport {
                new_ca: current.alias.clone(),
                new_sha256: current.sha256.clone(),
                reissued: Vec::new(),
                skipped: Vec::new(),
                retired: false,
                old_ca: old_alias,
                waiting_for,
                ordered: Vec::new(),
            });
        }
        let fleet_hosts: StoreName = crate::HOSTS_STORE.parse()?;
        let issued_by_old = |node: &Self| -> Result<Vec<certherd_core::EntryMeta>, Error> {
            Ok(node
                .store
                .entries(None)?
                .into_iter()
                .filter(|m| {
                    m.issuer_sha256.as_deref() == Some(old.meta.sha256.as_str())
                        && !m.entry.store.is_backup()
                })
                .collect())
        };
        // What the old CA issued, and which of it is revoked (the CRLs read once). A
        // revoked entry is not brought back to life under the new root: it stays revoked
        // (on the old CA's CRL, which stays held) and is reported as skipped. A host whose
        // certificate is revoked is not ordered either: after a keyCompromise its pool
        // identity may be in other hands (re-enrolling it is the admin's decision), and
        // after any other reason the revocation ordered it already. Neither holds the old
        // root back (see `remaining` below).
        let issued = issued_by_old(self)?;
        let revoked = self.revocations().revoked_among(&issued)?;
        let (hosts_of_old, others): (
            Vec<&certherd_core::EntryMeta>,
            Vec<&certherd_core::EntryMeta>,
        ) = issued.iter().partition(|m| m.entry.store == fleet_hosts);
        let to_order: Vec<String> = hosts_of_old
            .iter()
            .filter(|m| !revoked.contains(&m.entry))
            .map(|m| m.entry.alias.to_string())
            .filter(|h| !self.host_renewal_pending(h).unwrap_or(false))
            .collect();
        let ordered = if to_order.is_empty() {
            Vec::new()
        } else {
            let (changes, ordered) = self.host_renewal_order_changes(&to_order)?;
            self.commit(&changes)?;
            ordered
        };
        let mut reissued = Vec::new();
        // Host certificates' keys live on the hosts: they renew at their next poll.
        let to_reissue: Vec<EntryRef> = others.iter().map(|m| m.entry.clone()).collect();
        let skipped: Vec<Skipped> = others
            .iter()
            .chain(hosts_of_old.iter())
            .filter(|m| revoked.contains(&m.entry))
            .map(|m| Skipped {
                entry: m.entry.clone(),
                reason: SkipReason::Revoked,
            })
            .collect();
        for r in to_reissue.into_iter().filter(|r| !revoked.contains(r)) {
            let (result, backup) = match self.renew(&r) {
                Ok((issued, b)) => (Ok(issued), Some(b)),
                Err(e) => (Err(e.to_string()), None),
            };
            reissued.push(Renewed {
                entry: r,
                result,
                backup,
            });
        }
        let remaining: Vec<EntryRef> = issued_by_old(self)?
            .into_iter()
            .map(|m| m.entry)
            .filter(|r| !revoked.contains(r))
            .collect();
        let retired = remaining.is_empty();
        if retired {
            let trust_store: StoreName = StoreName::TRUSTED_ROOTS.parse()?;
            let mut changes = Vec::new();
            for m in self.store.entries(Some(&trust_store))? {
                if m.sha256 == old.meta.sha256 {
                    changes.push(Change::DeleteEntry(m.entry));
                }
            }
            let (moved, backup) = self.displace(&old_alias, &[])?;
            let backup = backup.ok_or_else(|| Error::NoSuchEntry(old_alias.clone()))?;
            changes.extend(moved);
            changes.push(Change::DeleteMeta(keys::CA_RETIRING.into()));
            changes.push(self.audit(
                "ca-retire",
                &old_alias,
                if skipped.is_empty() {
                    format!("no entry issued by it remains; kept as {backup}")
                } else {
                    format!(
                        "no entry issued by it remains but {} revoked one(s); kept as {backup}",
                        skipped.len()
                    )
                },
            ));
            self.commit(&changes)?;
        }
        let current = self.signing_ca()?;
        Ok(RotationReport {
            new_ca: current.alias.clone(),
            new_sha256: current.sha256.clone(),
            reissued,
            skipped,
            retired,
            old_ca: old_alias,
            waiting_for: Vec::new(),
            ordered,
        })
    }

    /// `ca import-signed`: completes subordinate mode with the enterprise CA's signature.
    /// The certificate must carry the pending key, be a CA, and chain to a root given in
    /// the chain files; that root joins trusted-roots, and the node's machine-ssl and
    /// sts-signing certificates are issued, in one transaction.
    pub fn ca_import_signed(
        &mut self,
        cert_input: &[u8],
        chain_inputs: &[Vec<u8>],
    ) -> Result<Vec<EntryRef>, Error> {
        let pending = self
            .store
            .secret(keys::PENDING_CA_KEY)?
            .ok_or(Error::NoPendingCaRequest)?;
        let key = certherd_x509::parse_private_key(pending.expose())?;
        let spki = key.public_key_spki();
        let mut certs = certherd_x509::parse_certificates(cert_input)?;
        for c in chain_inputs {
            certs.extend(certherd_x509::parse_certificates(c)?);
        }
        let infos = certs
            .iter()
            .map(|c| CertInfo::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        let idx = infos
            .iter()
            .position(|i| i.spki_der == spki)
            .ok_or_else(|| Error::NoCertificate("no certificate in the input carries the pending CA key (was it signed from this node's CSR?)".into()))?;
        let ca_info = infos[idx].clone();
        if !ca_info.is_ca {
            return Err(Error::NotCa {
                subject: ca_info.subject,
            });
        }
        let others: Vec<CertificateDer<'static>> = certs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != idx)
            .map(|(_, c)| c.clone())
            .collect();
        let roots: Vec<CertificateDer<'static>> = others
            .iter()
            .filter(|c| CertInfo::from_der(c).is_ok_and(|i| i.self_issued && i.is_ca))
            .cloned()
            .collect();
        if roots.is_empty() {
            return Err(Error::NoCertificate("the chain must include the enterprise root CA certificate; pass it with --chain ROOT.pem".into()));
        }
        let now = self.now();
        // webpki validates paths for end-entity certificates only, so the CA's path is
        // proven by a probe leaf it signs: valid probe path means valid CA path.
        let probe_key =
            certherd_x509::PrivateKey::generate(certherd_x509::KeyAlgorithm::EcdsaP256)?;
        let probe_spec = CertSpec {
            common_name: "certherd-probe.invalid".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::minutes(1),
            not_after: (now + time::Duration::hours(1)).min(ca_info.not_after),
            role: Role::Leaf,
            eku: vec![Eku::ServerAuth],
        };
        let probe = certherd_x509::issue(
            &probe_spec,
            &probe_key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &certs[idx],
                key: &key,
            },
        )?;
        let mut intermediates = vec![certs[idx].clone()];
        intermediates.extend(others.iter().cloned());
        let verified = certherd_x509::verify(&VerifyInput {
            end_entity: &probe,
            intermediates: &intermediates,
            trusted: &roots,
            crls: &[],
            at: now,
            name: None,
            purpose: Purpose::Any,
        })
        .map_err(Error::Untrusted)?;
        // The CA's chain: everything above it in the verified path.
        let chain: Vec<Vec<u8>> = verified.chain.iter().skip(2).map(|c| c.to_vec()).collect();
        let root_der = verified
            .chain
            .last()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let root_info = CertInfo::from_der(&root_der)?;

        let ca_ref: EntryRef = format!("{}/intermediate", StoreName::CA).parse()?;
        let ca_meta = self.meta_for(
            ca_ref.clone(),
            &ca_info,
            EntryKind::KeyPair,
            Some(Profiles::INTERMEDIATE_CA),
            Source::Imported,
            None,
        );
        let trust_ref = EntryRef::new(
            StoreName::TRUSTED_ROOTS.parse()?,
            trust_alias(&root_info).parse()?,
        );
        let trust_meta = self.meta_for(
            trust_ref,
            &root_info,
            EntryKind::Certificate,
            None,
            Source::Trusted,
            None,
        );
        let mut changes = vec![Change::PutEntry {
            entry: Box::new(Self::entry_with_key(
                ca_meta,
                certs[idx].to_vec(),
                chain.clone(),
                Some(&key),
            )),
            replace: false,
        }];
        if !self
            .trust_list()?
            .iter()
            .any(|m| m.sha256 == root_info.sha256)
        {
            changes.push(Change::PutEntry {
                entry: Box::new(Self::entry_with_key(
                    trust_meta,
                    root_der.clone(),
                    Vec::new(),
                    None,
                )),
                replace: false,
            });
        }
        let hostname = self.hostname()?;
        let ips: Vec<std::net::IpAddr> = self
            .store
            .meta(keys::IPS)?
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| s.parse().ok())
            .collect();
        let signing = SigningCa {
            alias: ca_ref.clone(),
            sha256: ca_info.sha256.clone(),
            cert: certs[idx].to_vec(),
            chain,
            key,
            info: ca_info.clone(),
        };
        let (ident, mut refs) = self.node_identity_changes(&hostname, &ips, &signing, None)?;
        changes.extend(ident);
        changes.push(Change::SetMeta {
            key: keys::CA_CURRENT.into(),
            value: "intermediate".into(),
        });
        changes.push(Change::DeleteSecret(keys::PENDING_CA_KEY.into()));
        changes.push(self.audit(
            "ca-import-signed",
            &ca_ref,
            format!("{} issued by {}", ca_info.subject, ca_info.issuer),
        ));
        self.commit(&changes)?;
        refs.insert(0, ca_ref);
        Ok(refs)
    }
}

/// The second a rotation's tag (`YYYYMMDDhhmmss`, with `-KEYID` after a second rotation
/// within it) names.
fn second_of_tag(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}
