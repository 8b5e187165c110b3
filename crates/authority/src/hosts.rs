//! What the authority knows of fleet hosts: the stores their certificates live in, the
//! host certificate it signs over a key the host keeps, and the renewal orders a CA
//! rotation or a revocation gives. The fleet's own rules (enrolment, joins, polls) are
//! `certherd-fleet`'s; these are here because the authority's operations need them and
//! depend on nothing above.

use std::collections::{HashMap, HashSet};

use certherd_core::{EntryRef, Host, StoreName};
use certherd_store::{Change, HostOrder, Store};
use certherd_x509::CertSpec;

use crate::{Error, Node, ObjectKind};

/// The store holding the server-issued host certificates (the hosts keep their keys).
pub const HOSTS_STORE: &str = "fleet-hosts";

/// The store holding each host's pinned pool-internal certificate, by host name.
pub const POOL_STORE: &str = "fleet-pool";

/// A certificate the signing CA issued over a public key held elsewhere.
#[derive(Clone, Debug)]
pub struct IssuedForKey {
    /// The certificate, DER.
    pub cert: Vec<u8>,
    /// The chain above it (the signing CA, then its issuers), DER.
    pub chain: Vec<Vec<u8>>,
    /// The signing CA's SHA-256 (the entry's issuer).
    pub issuer_sha256: String,
}

impl<S: Store> Node<S> {
    /// Signs `spec` over `spki_der` (a key a host made and keeps) with the signing CA and
    /// its CRL Distribution Point; the notAfter is capped at the CA's, as no leaf may
    /// outlive its issuer.
    pub fn issue_for_key(&self, spec: &CertSpec, spki_der: &[u8]) -> Result<IssuedForKey, Error> {
        let ca = self.signing_ca()?;
        let mut spec = spec.clone();
        spec.not_after = spec.not_after.min(ca.info.not_after);
        let cert = certherd_x509::issue_with_crl_url(
            &spec,
            spki_der,
            &certherd_x509::Issuer {
                cert: &ca.cert,
                key: &ca.key,
            },
            self.revocations().crl_url_of(&ca.alias)?.as_deref(),
        )?
        .to_vec();
        let mut chain = vec![ca.cert.clone()];
        chain.extend(ca.chain.iter().cloned());
        Ok(IssuedForKey {
            cert,
            chain,
            issuer_sha256: ca.sha256.clone(),
        })
    }

    /// The changes ordering new host certificates for `hosts` (every joined host when
    /// empty), audited, and the hosts ordered as stored; an unknown host or one that has
    /// not joined is refused. `fleet renew`, a CA rotation and a revocation all order
    /// through here.
    pub fn host_renewal_order_changes(
        &self,
        hosts: &[String],
    ) -> Result<(Vec<Change>, Vec<String>), Error> {
        let known = self.store().hosts()?;
        let chosen: Vec<String> = if hosts.is_empty() {
            // Every joined host but one whose certificate is revoked: after a
            // keyCompromise its pool identity may be in other hands (re-enrolling it is the
            // admin's decision; name it to order it anyway), and after any other reason
            // the revocation ordered it already.
            let hosts_store: StoreName = HOSTS_STORE.parse()?;
            let certificates = self.store().entries(Some(&hosts_store))?;
            let revoked: HashSet<String> = self
                .revocations()
                .revoked_among(&certificates)?
                .into_iter()
                .map(|r| r.alias.to_string())
                .collect();
            known
                .iter()
                .filter(|h| h.joined_at.is_some() && !revoked.contains(&h.name))
                .map(|h| h.name.clone())
                .collect()
        } else {
            // By lower-cased name, not a scan per host (a rotation names every host).
            let by_name: HashMap<String, &Host> = known
                .iter()
                .map(|k| (k.name.to_ascii_lowercase(), k))
                .collect();
            let mut chosen = Vec::new();
            for h in hosts {
                match by_name.get(&h.to_ascii_lowercase()).copied() {
                    None => {
                        return Err(Error::NotFound {
                            what: ObjectKind::Host,
                            name: h.to_string(),
                        })
                    }
                    Some(k) if k.joined_at.is_none() => {
                        return Err(Error::HostNotJoined(h.to_string()))
                    }
                    // As stored: its orders belong to its row.
                    Some(k) => chosen.push(k.name.clone()),
                }
            }
            chosen
        };
        let now = self.now();
        let mut changes: Vec<Change> = chosen
            .iter()
            .map(|h| Change::PutHostOrder {
                host: h.clone(),
                order: HostOrder::Renew,
                at: now,
            })
            .collect();
        changes.push(self.audit("fleet-renew-ordered", "fleet", chosen.join(", ")));
        Ok((changes, chosen))
    }

    /// Whether a renewal ordered for `host` is still waiting for its poll.
    pub fn host_renewal_pending(&self, host: &str) -> Result<bool, Error> {
        Ok(self.store().host_state(host)?.renew_ordered_at.is_some())
    }

    /// Joined hosts whose last poll did not show the root with this SHA-256 among their
    /// trusted roots: a CA rotation waits for them.
    pub fn hosts_without_root(&self, sha256: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for h in self
            .store()
            .hosts()?
            .into_iter()
            .filter(|h| h.joined_at.is_some())
        {
            let held = self.store().host_state(&h.name)?.roots;
            if !held.iter().any(|r| r == sha256) {
                out.push(h.name);
            }
        }
        Ok(out)
    }

    /// The joined host whose current host certificate entry `r` is, if any.
    pub(crate) fn live_host_of(&self, r: &EntryRef) -> Result<Option<String>, Error> {
        if r.store.as_str() != HOSTS_STORE {
            return Ok(None);
        }
        Ok(self
            .store()
            .hosts()?
            .into_iter()
            .find(|h| h.joined_at.is_some() && h.name.eq_ignore_ascii_case(r.alias.as_str()))
            .map(|h| h.name))
    }
}
