//! Revocation by certherd's CA: `cert revoke`, the revocations behind `host remove`, and
//! the CRL the CA publishes.
//!
//! Each CA that may still have valid certificates out publishes one CRL: the signing CA,
//! and during a rotation the retiring root too (until it is retired, when nothing it issued
//! remains in use). The CRLs are kept in the home's CRL table, beside CRLs added with
//! `trust add-crl`, so `verify`, imports, alarms and the agents' trust sync consult them
//! like any trusted CRL. A new CRL is published at every revocation and, by the server's
//! lifecycle loop, from half of the previous one's validity on; CRL numbers come from one
//! counter and only ever grow.

use certherd_core::{CrlPolicy, EntryMeta, EntryRef, OffsetDateTime, StoreName};
use certherd_store::{Change, CrlRecord, RevocationRecord, Store};
use certherd_x509::{CertInfo, CrlInfo, PrivateKey, RevocationReason, Revoked};

use std::ops::{Deref, DerefMut};

use crate::node::keys;
use crate::{Error, Node};

/// The meta key of the last CRL number used.
const CRL_NUMBER: &str = "crl.number";

/// Why an entry cannot be revoked by certherd's CA.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotRevocable {
    /// The certificate is self-signed: no CA vouches for it, so no CRL can withdraw it.
    SelfSigned,
    /// Another CA issued it.
    Foreign {
        /// Its issuer DN.
        issuer: String,
    },
    /// certherd's CA issued it, but that CA was retired by a rotation and no longer signs.
    RetiredIssuer {
        /// The retired CA's SHA-256.
        issuer_sha256: String,
    },
    /// It is one of certherd's own CA certificates.
    OwnCa,
}

impl std::fmt::Display for NotRevocable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SelfSigned => f.write_str(
                "it is self-signed, so no CA can revoke it; delete it, and remove it wherever it is trusted or pinned",
            ),
            Self::Foreign { issuer } => write!(
                f,
                "it was issued by '{issuer}', not by certherd's CA; ask that CA to revoke it"
            ),
            Self::RetiredIssuer { issuer_sha256 } => write!(
                f,
                "its issuer (SHA-256 {issuer_sha256}) was retired by a CA rotation and signs no more CRLs"
            ),
            Self::OwnCa => f.write_str("it is certherd's own CA certificate"),
        }
    }
}

/// One revocation, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The entry it was (`STORE/ALIAS`).
    pub entry: String,
    /// Serial number, hex.
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Why.
    pub reason: RevocationReason,
    /// When.
    pub revoked_at: OffsetDateTime,
    /// Who.
    pub revoked_by: String,
}

impl Revocation {
    pub(crate) fn from_record(r: &RevocationRecord) -> Self {
        Self {
            entry: r.entry.clone(),
            serial: r.serial.clone(),
            subject: r.subject.clone(),
            issuer: r.issuer.clone(),
            reason: RevocationReason::parse(&r.reason).unwrap_or(RevocationReason::Unspecified),
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by.clone(),
        }
    }
}

/// What `cert revoke` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now; the CRL published with it has this number.
    Revoked {
        /// The revocation.
        revocation: Revocation,
        /// The number of the CRL that lists it.
        crl_number: u64,
        /// The joined host whose host certificate this was, ordered a new key and
        /// certificate at its next poll (with the revocation); never for keyCompromise,
        /// whose host must be re-enrolled or ordered by hand once it is safe.
        renewal_ordered: Option<String>,
    },
    /// It was revoked before; nothing changed.
    AlreadyRevoked(Revocation),
}

/// A CRL the CA published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCrl {
    /// The CA entry that signed it.
    pub ca: EntryRef,
    /// Its CRL number.
    pub number: u64,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// How many certificates it lists.
    pub revoked: usize,
    /// The CRL, DER.
    pub der: Vec<u8>,
}

impl PublishedCrl {
    /// The file it is served as, at `/crl/FILE` (see [`crl_file_name`]).
    pub fn file_name(&self) -> String {
        crl_file_name(&self.ca)
    }
}

/// The file name of the CRL that CA entry `ca` publishes: its alias and `.crl`
/// (`root.crl`, `root-20261125190957.crl`), stable for the CA's life. The certificates it
/// issues name it in their CRL Distribution Point.
pub fn crl_file_name(ca: &EntryRef) -> String {
    format!("{}.crl", ca.alias)
}

/// The file name under which the signing CA's CRL is also served, whatever the CA:
/// certificates issued before each CA's CRL had its own file point there.
pub const SIGNING_CRL_FILE: &str = "ca.crl";

/// A CA able to sign CRLs.
struct CrlSigner {
    alias: EntryRef,
    sha256: String,
    cert: Vec<u8>,
    key: PrivateKey,
}

/// Revocation and the CRLs over a node's context: revoking what the CA issued, publishing and refreshing each issuing CA's CRL. Reached by
/// [`Node::revocations`] (reads) and [`Node::revocations_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Revocations<N> {
    node: N,
}

impl<N> Revocations<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Revocations<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        self.node.commit(changes)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Revocations<N> {
    /// The `[crl]` settings in force (checked when the node was opened).
    pub fn crl_policy(&self) -> Result<CrlPolicy, Error> {
        Ok(self.node.settings().crl.policy()?)
    }

    /// The CAs that publish a CRL: the signing CA, then the retiring one while a rotation
    /// is in progress. Empty while a subordinate CA waits for its certificate.
    fn crl_signers(&self) -> Result<Vec<CrlSigner>, Error> {
        let mut out = Vec::new();
        match self.node.signing_ca() {
            Ok(ca) => out.push(CrlSigner {
                alias: ca.alias.clone(),
                sha256: ca.sha256.clone(),
                cert: ca.cert.clone(),
                key: certherd_x509::parse_private_key(ca.key.secret_der())?,
            }),
            Err(Error::CaNotReady(_)) => return Ok(out),
            Err(e) => return Err(e),
        }
        if let Some(alias) = self.node.store().meta(keys::CA_RETIRING)? {
            let r: EntryRef = format!("{}/{alias}", StoreName::CA).parse()?;
            if let Some(e) = self.node.store().entry(&r)? {
                if let Some(k) = &e.key {
                    out.push(CrlSigner {
                        alias: r,
                        sha256: e.meta.sha256.clone(),
                        key: certherd_x509::parse_private_key(k.expose())?,
                        cert: e.cert,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Every revocation recorded, oldest first.
    pub fn list(&self) -> Result<Vec<Revocation>, Error> {
        Ok(self
            .node
            .store()
            .revocations()?
            .iter()
            .map(Revocation::from_record)
            .collect())
    }

    /// Why `r` cannot be revoked, or the CA that issued it.
    fn issuing_ca_of(&self, r: &EntryRef, cert: &[u8]) -> Result<CrlSigner, Error> {
        let info = CertInfo::from_der(cert)?;
        let refuse = |why| Error::NotRevocable {
            entry: r.clone(),
            why,
        };
        let signers = self.crl_signers()?;
        if signers.iter().any(|s| s.sha256 == info.sha256) || r.store.as_str() == StoreName::CA {
            return Err(refuse(NotRevocable::OwnCa));
        }
        if let Some(s) = signers
            .into_iter()
            .find(|s| CertInfo::is_signed_by(cert, &s.cert))
        {
            return Ok(s);
        }
        if info.self_issued {
            return Err(refuse(NotRevocable::SelfSigned));
        }
        // Issued by a CA of this node that is no longer among the signers.
        let ca_store: StoreName = StoreName::CA.parse()?;
        let backup: StoreName = StoreName::BACKUP.parse()?;
        for store in [ca_store, backup] {
            for m in self.node.store().entries(Some(&store))? {
                if let Some(e) = self.node.store().entry(&m.entry)? {
                    if e.key.is_some() && CertInfo::is_signed_by(cert, &e.cert) {
                        return Err(refuse(NotRevocable::RetiredIssuer {
                            issuer_sha256: m.sha256,
                        }));
                    }
                }
            }
        }
        Err(refuse(NotRevocable::Foreign {
            issuer: info.issuer,
        }))
    }

    /// The changes recording the revocation of entry `r` (certificate `cert`), or the
    /// earlier revocation of that certificate.
    fn revocation_changes(
        &self,
        r: &EntryRef,
        cert: &[u8],
        reason: RevocationReason,
        by: &str,
    ) -> Result<Result<RevocationRecord, Revocation>, Error> {
        let ca = self.issuing_ca_of(r, cert)?;
        let info = CertInfo::from_der(cert)?;
        if let Some(held) = self
            .node
            .store()
            .revocations()?
            .iter()
            .find(|h| h.issuer_sha256 == ca.sha256 && h.serial == info.serial)
        {
            return Ok(Err(Revocation::from_record(held)));
        }
        Ok(Ok(RevocationRecord {
            issuer_sha256: ca.sha256,
            serial: info.serial,
            issuer: info.issuer,
            subject: info.subject,
            entry: r.to_string(),
            reason: reason.name().to_owned(),
            revoked_at: self.node.now(),
            revoked_by: by.to_owned(),
        }))
    }

    /// The revocation putting admin client certificate `cert` (of credential `name`) on
    /// the CRL of the CA that issued it; `None` when that CA signs no CRL any more (a
    /// root retired by a rotation: nothing trusts the certificate) or it is listed already.
    pub(crate) fn admin_cert_revocation(
        &self,
        name: &str,
        cert: &[u8],
        reason: RevocationReason,
        by: &str,
    ) -> Result<Option<RevocationRecord>, Error> {
        let Some(ca) = self
            .crl_signers()?
            .into_iter()
            .find(|s| CertInfo::is_signed_by(cert, &s.cert))
        else {
            return Ok(None);
        };
        let info = CertInfo::from_der(cert)?;
        let listed = self
            .node
            .store()
            .revocations()?
            .iter()
            .any(|h| h.issuer_sha256 == ca.sha256 && h.serial == info.serial);
        Ok((!listed).then(|| RevocationRecord {
            issuer_sha256: ca.sha256,
            serial: info.serial,
            issuer: info.issuer,
            subject: info.subject,
            entry: format!("admin-credential/{name}"),
            reason: reason.name().to_owned(),
            revoked_at: self.node.now(),
            revoked_by: by.to_owned(),
        }))
    }

    /// `cert revoke`: certherd's CA revokes the certificate of entry `r` for `reason`, on
    /// behalf of `by`; the revocation is recorded and audited and a new CRL is published
    /// in the same transaction. The entry itself stays (renew or delete it). A certificate
    /// already revoked changes nothing. A self-signed certificate, one another CA issued,
    /// and certherd's own CA certificates are refused.
    pub fn revoke(
        &mut self,
        r: &EntryRef,
        reason: RevocationReason,
        by: &str,
    ) -> Result<RevokeOutcome, Error>
    where
        N: DerefMut,
    {
        let e = self.node.load(r)?;
        let record = match self.revocation_changes(r, &e.cert, reason, by)? {
            Ok(record) => record,
            Err(held) => return Ok(RevokeOutcome::AlreadyRevoked(held)),
        };
        let mut changes = vec![
            Change::PutRevocation(record.clone()),
            self.node.audit(
                "revoke",
                r,
                format!(
                    "serial {} reason {} by {}",
                    record.serial, record.reason, record.revoked_by
                ),
            ),
        ];
        let (crl_changes, published) = self.crl_changes(std::slice::from_ref(&record))?;
        changes.extend(crl_changes);
        // A live host's certificate: the host gets a new key and certificate at its next
        // poll rather than keep serving the revoked one (`host remove` forgets the host
        // instead, and revokes through `host_revocations`). Not for keyCompromise: the
        // host authenticates its polls with its pool identity, which whoever copied its
        // keys holds too, so an order would hand them the new certificate; re-enrolling the
        // host (or ordering once it is safe) is the admin's decision.
        let renewal_ordered = match self.node.live_host_of(r)? {
            Some(host) if reason != RevocationReason::KeyCompromise => {
                let (orders, mut chosen) = self.node.host_renewal_order_changes(&[host])?;
                changes.extend(orders);
                chosen.pop()
            }
            _ => None,
        };
        self.commit(&changes)?;
        let crl_number = published
            .iter()
            .find(|p| certherd_x509::find_revoked(&p.der, &e.cert).is_some())
            .map_or(0, |p| p.number);
        Ok(RevokeOutcome::Revoked {
            revocation: Revocation::from_record(&record),
            crl_number,
            renewal_ordered,
        })
    }

    /// The changes that revoke (cessationOfOperation) every certificate of a removed host
    /// that certherd's CA issued and that is not revoked yet, and publish a new CRL when
    /// any is, with the revocations made; for the batch that forgets the host.
    pub fn host_removal_changes(
        &self,
        host: &str,
    ) -> Result<(Vec<Change>, Vec<Revocation>), Error> {
        let (mut changes, revoked) = self.host_revocations(host)?;
        if !revoked.is_empty() {
            changes.extend(self.crl_changes(&revoked)?.0);
        }
        Ok((
            changes,
            revoked.iter().map(Revocation::from_record).collect(),
        ))
    }

    /// The changes (and revocation records) that revoke every certificate of a removed
    /// host that certherd's CA issued and that is not revoked yet: its host certificate
    /// and the superseded ones kept in the backup store. Its pool-internal certificate is
    /// self-signed: forgetting its pin is what withdraws it.
    fn host_revocations(&self, host: &str) -> Result<(Vec<Change>, Vec<RevocationRecord>), Error> {
        let mut refs = Vec::new();
        let current = EntryRef::new(crate::HOSTS_STORE.parse()?, host.parse()?);
        if self.node.store().entry(&current)?.is_some() {
            refs.push(current);
        }
        let backup: StoreName = StoreName::BACKUP.parse()?;
        let prefix = format!("{}.{host}.", crate::HOSTS_STORE);
        for m in self.node.store().entries(Some(&backup))? {
            if m.entry.alias.as_str().starts_with(&prefix) {
                refs.push(m.entry);
            }
        }
        let mut changes = Vec::new();
        let mut records = Vec::new();
        for r in refs {
            let e = self.node.load(&r)?;
            match self.revocation_changes(
                &r,
                &e.cert,
                RevocationReason::CessationOfOperation,
                "host-remove",
            ) {
                Ok(Ok(record)) => {
                    changes.push(Change::PutRevocation(record.clone()));
                    changes.push(self.node.audit(
                        "revoke",
                        &r,
                        format!(
                            "serial {} reason {} by host-remove",
                            record.serial, record.reason
                        ),
                    ));
                    records.push(record);
                }
                // Already revoked, or not certherd's to revoke: nothing to add.
                Ok(Err(_)) | Err(Error::NotRevocable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((changes, records))
    }

    /// The changes publishing a new CRL from every CA that publishes one, listing what is
    /// recorded plus `adding` (revocations in the same batch), and what they publish.
    pub(crate) fn crl_changes(
        &self,
        adding: &[RevocationRecord],
    ) -> Result<(Vec<Change>, Vec<PublishedCrl>), Error> {
        let policy = self.crl_policy()?;
        let now = self.node.now();
        let next_update = policy.next_update.after(now);
        let mut number: u64 = self
            .node
            .store()
            .meta(CRL_NUMBER)?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut all = self.node.store().revocations()?;
        all.extend(adding.iter().cloned());
        let held = self.node.store().crls()?;
        let mut changes = Vec::new();
        let mut published = Vec::new();
        for ca in self.crl_signers()? {
            let revoked: Vec<Revoked> = all
                .iter()
                .filter(|r| r.issuer_sha256 == ca.sha256)
                .map(|r| Revoked {
                    serial: r.serial.clone(),
                    revoked_at: r.revoked_at,
                    reason: RevocationReason::parse(&r.reason)
                        .unwrap_or(RevocationReason::Unspecified),
                })
                .collect();
            number = number.saturating_add(1);
            let der = certherd_x509::crl_with(
                &certherd_x509::Issuer {
                    cert: &ca.cert,
                    key: &ca.key,
                },
                &revoked,
                number,
                now,
                next_update,
            )?;
            let info = CrlInfo::from_der(&der)?;
            for h in &held {
                if h.sha256 != info.sha256
                    && CrlInfo::from_der(&h.der).is_ok_and(|i| i.issuer_raw == info.issuer_raw)
                {
                    changes.push(Change::DeleteCrl(h.sha256.clone()));
                }
            }
            changes.push(Change::PutCrl(CrlRecord {
                sha256: info.sha256.clone(),
                issuer: info.issuer.clone(),
                der: der.clone(),
                this_update: info.this_update,
                added_at: now,
            }));
            changes.push(self.node.audit(
                "crl-publish",
                &ca.alias,
                format!(
                    "CRL number {number}, {} revoked, next update {}",
                    revoked.len(),
                    certherd_x509::rfc3339(info.next_update.unwrap_or(next_update))
                ),
            ));
            published.push(PublishedCrl {
                ca: ca.alias.clone(),
                number,
                this_update: info.this_update,
                next_update: info.next_update.unwrap_or(next_update),
                revoked: revoked.len(),
                der,
            });
        }
        if !published.is_empty() {
            changes.push(Change::SetMeta {
                key: CRL_NUMBER.into(),
                value: number.to_string(),
            });
        }
        Ok((changes, published))
    }

    /// The CRL each publishing CA holds now (signing CA first), with its facts; a CA
    /// without one yet is left out.
    pub fn published_crls(&self) -> Result<Vec<PublishedCrl>, Error> {
        let held = self.node.store().crls()?;
        let mut out = Vec::new();
        for ca in self.crl_signers()? {
            for h in &held {
                if CrlInfo::is_signed_by(&h.der, &ca.cert) {
                    let info = CrlInfo::from_der(&h.der)?;
                    out.push(PublishedCrl {
                        ca: ca.alias.clone(),
                        number: certherd_x509::crl_number(&h.der)?.unwrap_or(0),
                        this_update: info.this_update,
                        next_update: info.next_update.unwrap_or(info.this_update),
                        revoked: info.revoked,
                        der: h.der.clone(),
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Whether some publishing CA has no CRL yet, or one from half its validity on, at the
    /// node's clock.
    pub fn crl_refresh_due(&self) -> Result<bool, Error> {
        let policy = self.crl_policy()?;
        let signers = self.crl_signers()?.len();
        let held = self.published_crls()?;
        let now = self.node.now();
        Ok(held.len() < signers || held.iter().any(|p| policy.refresh_due(p.this_update, now)))
    }

    /// Publishes a new CRL from every publishing CA when one is due (see
    /// [`Self::crl_refresh_due`]) or when `force`; returns what was published.
    pub fn crl_refresh(&mut self, force: bool) -> Result<Vec<PublishedCrl>, Error>
    where
        N: DerefMut,
    {
        if !force && !self.crl_refresh_due()? {
            return Ok(Vec::new());
        }
        let (changes, published) = self.crl_changes(&[])?;
        if !changes.is_empty() {
            self.commit(&changes)?;
        }
        Ok(published)
    }

    /// What the home's CRLs (the CA's own and those added with `trust add-crl`) say of
    /// `cert_der`: `Some` when one signed by its issuer lists it. A client certificate
    /// listed is refused by the server.
    pub fn revocation_of(
        &self,
        cert_der: &[u8],
    ) -> Result<Option<certherd_x509::RevokedEntry>, Error> {
        Ok(self
            .node
            .store()
            .crls()?
            .iter()
            .find_map(|c| certherd_x509::find_revoked(&c.der, cert_der)))
    }

    /// The entries among `metas` whose current certificate the home's revocations or a
    /// CRL it holds lists (as `cert list` says `revoked`): every CRL parsed once, from the
    /// metadata in hand, no entry read again.
    pub fn revoked_among<'a>(
        &self,
        metas: impl IntoIterator<Item = &'a EntryMeta>,
    ) -> Result<std::collections::HashSet<EntryRef>, Error> {
        let set = self.node.revoked_set()?;
        Ok(metas
            .into_iter()
            .filter(|m| set.contains(m))
            .map(|m| m.entry.clone())
            .collect())
    }

    /// The signing CA's current CRL (DER), published first if it has none yet or it is due.
    pub fn current_crl(&mut self) -> Result<Vec<u8>, Error>
    where
        N: DerefMut,
    {
        self.crl_refresh(false)?;
        self.published_crls()?
            .into_iter()
            .next()
            .map(|p| p.der)
            .ok_or(Error::CaNotReady("no signing CA publishes a CRL yet"))
    }

    /// The current CRL (DER) served as `file`: [`SIGNING_CRL_FILE`] is the signing CA's,
    /// any other the CRL of the live CA (signing or retiring) whose
    /// [`crl_file_name`] it is; `None` when no live CA has that file. Published first when
    /// due, as [`Revocations::current_crl`].
    pub fn crl_file(&mut self, file: &str) -> Result<Option<Vec<u8>>, Error>
    where
        N: DerefMut,
    {
        if file == SIGNING_CRL_FILE {
            return self.current_crl().map(Some);
        }
        if !self
            .crl_signers()?
            .iter()
            .any(|s| crl_file_name(&s.alias) == file)
        {
            return Ok(None);
        }
        self.crl_refresh(false)?;
        Ok(self
            .published_crls()?
            .into_iter()
            .find(|p| p.file_name() == file)
            .map(|p| p.der))
    }

    /// The CRL Distribution Point of certificates CA entry `ca` issues: `[crl] url` with
    /// the CA's own CRL file (see [`certherd_core::CrlPolicy::url_for`]); `None` without
    /// a URL.
    pub(crate) fn crl_url_of(&self, ca: &EntryRef) -> Result<Option<String>, Error> {
        Ok(self.crl_policy()?.url_for(&crl_file_name(ca)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_node::node;
    use certherd_core::{EntryKind, EntryMeta, Source};
    use certherd_store::Entry;
    use certherd_x509::{CertSpec, KeyAlgorithm, Role};
    use time::macros::datetime;

    fn refused(n: &mut Node<certherd_store::HomeStore>, r: &str) -> NotRevocable {
        let before = n.store.revocations().unwrap().len();
        let audit = n.store.audit_log().unwrap().len();
        let e = n
            .revocations_mut()
            .revoke(&r.parse().unwrap(), RevocationReason::KeyCompromise, "t")
            .unwrap_err();
        assert_eq!(n.store.revocations().unwrap().len(), before);
        assert_eq!(n.store.audit_log().unwrap().len(), audit);
        match e {
            Error::NotRevocable { why, .. } => why,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn only_what_the_ca_issued_is_revoked_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        // A certificate of another CA, stored as an entry.
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "Other Root".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2030-01-01 0:00 UTC),
            role: Role::Ca { path_len: None },
            eku: vec![],
        };
        let other = certherd_x509::self_sign(&spec, &key).unwrap();
        let mut leaf = spec.clone();
        leaf.common_name = "foreign.example.test".into();
        leaf.role = Role::Leaf;
        let foreign = certherd_x509::issue(
            &leaf,
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &other,
                key: &key,
            },
        )
        .unwrap()
        .to_vec();
        let r: EntryRef = "web/foreign".parse().unwrap();
        let info = CertInfo::from_der(&foreign).unwrap();
        let meta: EntryMeta = n.meta_for(
            r.clone(),
            &info,
            EntryKind::Certificate,
            None,
            Source::Imported,
            None,
        );
        n.commit(&[
            Change::CreateStore("web".parse().unwrap(), n.now()),
            Change::PutEntry {
                entry: Box::new(Entry {
                    meta,
                    cert: foreign,
                    chain: vec![],
                    key: None,
                }),
                replace: false,
            },
        ])
        .unwrap();
        assert!(matches!(
            refused(&mut n, "web/foreign"),
            NotRevocable::Foreign { issuer } if issuer.contains("Other Root")
        ));
        assert_eq!(refused(&mut n, "ca/root"), NotRevocable::OwnCa);
        // certherd's root in trusted-roots is its own CA; another root there is self-signed.
        let own = n.trust_list().unwrap()[0].entry.to_string();
        assert_eq!(refused(&mut n, &own), NotRevocable::OwnCa);
        let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &other);
        n.trust_add(pem.as_bytes()).unwrap();
        let other_sha = CertInfo::from_der(&other).unwrap().sha256;
        let trusted = n
            .trust_list()
            .unwrap()
            .into_iter()
            .find(|m| m.sha256 == other_sha)
            .unwrap()
            .entry
            .to_string();
        assert_eq!(refused(&mut n, &trusted), NotRevocable::SelfSigned);
        assert!(matches!(
            n.revocations_mut().revoke(
                &"web/none".parse().unwrap(),
                RevocationReason::Superseded,
                "t"
            ),
            Err(Error::NoSuchEntry(_))
        ));
        // The CA's own: revoked once; the second time changes nothing.
        let m: EntryRef = "machine-ssl/machine".parse().unwrap();
        let first = n
            .revocations_mut()
            .revoke(&m, RevocationReason::Superseded, "alice")
            .unwrap();
        let RevokeOutcome::Revoked {
            revocation,
            crl_number,
            renewal_ordered: None,
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!(crl_number, 1);
        let audit = n.store.audit_log().unwrap().len();
        let again = n
            .revocations_mut()
            .revoke(&m, RevocationReason::KeyCompromise, "bob")
            .unwrap();
        assert_eq!(again, RevokeOutcome::AlreadyRevoked(revocation.clone()));
        assert_eq!(n.store.audit_log().unwrap().len(), audit);
        assert_eq!(n.revocations().list().unwrap(), vec![revocation]);
        assert_eq!(n.revocations().published_crls().unwrap()[0].number, 1);
    }

    #[test]
    fn a_retired_ca_revokes_nothing() {
        // Without hosts a rotation retires the old root at once; what it issued and is
        // kept in the backup store can no longer be revoked. (With a joined host the old
        // root stays and both CAs publish: certherd-fleet's tests/rotation.rs.)
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        n.ca_rotate().unwrap();
        let backup: StoreName = StoreName::BACKUP.parse().unwrap();
        let superseded = n
            .store
            .entries(Some(&backup))
            .unwrap()
            .into_iter()
            .find(|m| m.entry.alias.as_str().starts_with("machine-ssl.machine."))
            .unwrap();
        assert!(matches!(
            refused(&mut n, &superseded.entry.to_string()),
            NotRevocable::RetiredIssuer { .. }
        ));
    }
}
