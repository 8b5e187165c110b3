//! The fleet, server side: enrolling hosts with join tokens, admitting them (their host
//! certificate from a CSR they made, their pool-internal certificate pinned), and what
//! each poll gives back (trust, renewals). The transport is the server crate's; every
//! rule is here, at the node's clock.

use certherd_core::{EntryKind, EntryRef, Host, JoinToken, Source, StoreName};
use certherd_store::{Change, HostOrder, Store};
use certherd_x509::{CertInfo, CertSpec, CsrInfo, Eku, Role};

use std::ops::{Deref, DerefMut};

use certherd_authority::{Node, ObjectKind, Revocation, HOSTS_STORE, POOL_STORE};

use certherd_monitor::MonitorExt;

use crate::{Error, PoolCertificateProblem};

/// The most IP addresses one host may be enrolled with (`host add --ip`, `POST
/// /v1/hosts`): each becomes a SAN of its host certificate, and a list of thousands is an
/// attack or a mistake, not a host.
pub const MAX_HOST_IPS: usize = 64;

/// One row of `pool certificate-list`.
#[derive(Clone, Debug)]
pub struct PoolCertificate {
    /// The host.
    pub host: String,
    /// `pool-internal` or `server-identity`.
    pub kind: &'static str,
    /// The certificate's facts.
    pub meta: certherd_core::EntryMeta,
}

const POOL_VERIFICATION: &str = "pool.verification";

/// What a host receives when it joins or polls.
#[derive(Clone, Debug, Default)]
pub struct Grant {
    /// Whether the server orders a new host certificate (send a CSR now).
    pub renew_ordered: bool,
    /// Whether the server orders a new pool-internal certificate.
    pub refresh_pool_ordered: bool,
    /// Its host certificate and chain (leaf first, DER), when one was issued now.
    pub host_chain: Option<Vec<Vec<u8>>>,
    /// Every trusted root of the pool (DER).
    pub trusted_roots: Vec<Vec<u8>>,
    /// Every trusted CRL (DER).
    pub crls: Vec<Vec<u8>>,
    /// The key algorithm the `host` profile sets for host keys (`[profiles.host]
    /// key_algo`); `None` lets each host choose (`agent join --key-algo`).
    pub host_key_algo: Option<certherd_x509::KeyAlgorithm>,
}

/// The fleet's server rules over a node's context: hosts, enrolment, renewal and
/// pool-refresh orders, pool trust and verification. Reached by [`crate::FleetExt::fleet`] (reads)
/// and [`crate::FleetExt::fleet_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Fleet<N> {
    node: N,
}

impl<N> Fleet<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Fleet<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        Ok(self.node.commit(changes)?)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Fleet<N> {
    /// Hosts of the fleet.
    pub fn hosts(&self) -> Result<Vec<Host>, Error> {
        Ok(self.node.store().hosts()?)
    }

    /// The name host `name` is stored under, whatever its case: names are kept lower-case
    /// since they enter so, but a host enrolled by an older release may be stored as typed.
    pub fn stored_name(&self, name: &str) -> Result<Option<String>, Error> {
        if self.node.store().host(name)?.is_some() {
            return Ok(Some(name.to_owned()));
        }
        Ok(self.node.store().host_any_case(name)?.map(|h| h.name))
    }

    /// Orders new host certificates (a new key made on each host) at their next poll:
    /// `fleet renew`, and `host reset-server-cert` for one host. Returns the hosts ordered.
    pub fn order_renewal(&mut self, hosts: &[String]) -> Result<Vec<String>, Error>
    where
        N: DerefMut,
    {
        let (changes, chosen) = self.renewal_order_changes(hosts)?;
        self.commit(&changes)?;
        Ok(chosen)
    }

    /// The changes ordering new host certificates for `hosts` (every joined host when
    /// empty), audited, and the hosts ordered as stored; the rule is the authority's (a
    /// CA rotation and a revocation order through it too).
    fn renewal_order_changes(&self, hosts: &[String]) -> Result<(Vec<Change>, Vec<String>), Error> {
        Ok(self.node.host_renewal_order_changes(hosts)?)
    }

    /// The pool's certificate verification setting (enabled unless turned off).
    pub fn pool_verification(&self) -> Result<bool, Error> {
        Ok(self.node.store().meta(POOL_VERIFICATION)?.as_deref() != Some("disabled"))
    }

    /// `pool verification enable|disable`.
    pub fn set_pool_verification(&mut self, enabled: bool) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let value = if enabled { "enabled" } else { "disabled" };
        self.commit(&[
            Change::SetMeta {
                key: POOL_VERIFICATION.into(),
                value: value.into(),
            },
            self.node.audit("pool-verification", "pool", value),
        ])
    }

    /// Each host's verification as it last reported it (`None` before its first report).
    pub fn host_verification(&self, host: &str) -> Result<Option<bool>, Error> {
        let Some(host) = self.stored_name(host)? else {
            return Ok(None);
        };
        Ok(self.node.store().host_state(&host)?.verification)
    }

    /// `host refresh-pool-cert`: the host makes a new pool-internal certificate at its next
    /// poll and registers it over a session authenticated by the old one.
    pub fn order_pool_refresh(&mut self, host: &str) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let host = &self.stored_name(host)?.unwrap_or_else(|| host.to_owned());
        match self.node.store().host(host)? {
            None => Err(Error::Node(certherd_authority::Error::NotFound {
                what: ObjectKind::Host,
                name: host.to_string(),
            })),
            Some(h) if h.joined_at.is_none() => Err(Error::Node(
                certherd_authority::Error::HostNotJoined(host.to_string()),
            )),
            Some(_) => {
                let now = self.node.now();
                self.commit(&[
                    Change::PutHostOrder {
                        host: host.to_owned(),
                        order: HostOrder::RefreshPool,
                        at: now,
                    },
                    self.node.audit(
                        "pool-refresh-ordered",
                        host,
                        "new pool-internal certificate at the next poll",
                    ),
                ])
            }
        }
    }

    /// A host replaces its pinned pool-internal certificate, authenticated by the current
    /// one. The new certificate must be self-signed and name the host.
    pub fn host_repin(&mut self, client_cert_der: &[u8], new_pool_der: &[u8]) -> Result<Host, Error>
    where
        N: DerefMut,
    {
        let presented = certherd_x509::hex(&certherd_x509::sha256(client_cert_der));
        let mut host = self
            .node
            .store()
            .host_by_pool(&presented)?
            .ok_or_else(|| Error::UnknownPeer(presented.clone()))?;
        let pool = CertInfo::from_der(new_pool_der)?;
        if !pool.self_issued
            || !pool
                .subject_cn
                .as_deref()
                .is_some_and(|cn| cn.eq_ignore_ascii_case(&host.name))
        {
            return Err(Error::PoolCertificate {
                why: PoolCertificateProblem::NotSelfSigned,
                host: Some(host.name.clone()),
            });
        }
        let now = self.node.now();
        let store: StoreName = POOL_STORE.parse()?;
        let r = EntryRef::new(store.clone(), host.name.parse()?);
        let meta = self.node.meta_for(
            r,
            &pool,
            EntryKind::Certificate,
            Some("pool-internal"),
            Source::Trusted,
            None,
        );
        let (mut changes, _) = self.node.replace_entry(Node::<S>::entry_with_key(
            meta,
            new_pool_der.to_vec(),
            vec![],
            None,
        ))?;
        host.pool_sha256 = Some(pool.sha256.clone());
        host.last_seen = Some(now);
        changes.push(Change::PutHost(Box::new(host.clone())));
        changes.push(Change::DeleteHostOrder {
            host: host.name.clone(),
            order: HostOrder::RefreshPool,
        });
        changes.push(self.node.audit(
            "pool-refresh",
            &host.name,
            format!("pinned sha256 {}", pool.sha256),
        ));
        self.commit(&changes)?;
        Ok(host)
    }

    /// Whether a pool-internal refresh ordered for `host` is still waiting.
    pub fn pool_refresh_pending(&self, host: &str) -> Result<bool, Error> {
        Ok(self
            .node
            .store()
            .host_state(host)?
            .refresh_pool_ordered_at
            .is_some())
    }

    /// Whether `/metrics` needs an admin credential (`[metrics] require_token`).
    pub fn metrics_require_token(&self) -> bool {
        self.node.settings().metrics.require_token
    }

    /// The host a join token was issued for, and its enrolled names, without spending the
    /// token: the agent asks before it makes its CSR. A token that would be refused at
    /// join is refused here too.
    pub fn enrollment(&self, token_text: &str) -> Result<Host, Error> {
        let key = JoinToken::lookup_key(token_text)?;
        let mut token = self
            .node
            .store()
            .join_token(&key)?
            .ok_or(certherd_core::TokenError::Unknown)?;
        let host = self
            .node
            .store()
            .host(&token.host)?
            .ok_or(certherd_core::TokenError::Unknown)?;
        // Checked on a copy: nothing is written.
        token.redeem(&host.name, self.node.now())?;
        Ok(host)
    }

    /// Whether a renewal ordered for `host` is still waiting for its poll.
    pub fn renewal_pending(&self, host: &str) -> Result<bool, Error> {
        Ok(self.node.host_renewal_pending(host)?)
    }

    /// `pool certificate-list`: every host's pool-internal and server identity
    /// certificates.
    pub fn pool_certificates(&self) -> Result<Vec<PoolCertificate>, Error> {
        let mut out = Vec::new();
        for (store, kind) in [
            (POOL_STORE, "pool-internal"),
            (HOSTS_STORE, "server-identity"),
        ] {
            let name: StoreName = store.parse()?;
            if !self.node.store().stores()?.iter().any(|s| s.name == name) {
                continue;
            }
            for meta in self.node.store().entries(Some(&name))? {
                out.push(PoolCertificate {
                    host: meta.entry.alias.to_string(),
                    kind,
                    meta,
                });
            }
        }
        out.sort_by(|a, b| (&a.host, a.kind).cmp(&(&b.host, b.kind)));
        Ok(out)
    }

    /// `host add`: enrolls a host and issues its single-use join token. Returns the host,
    /// the token text (shown once) and the SHA-256 of the root CA the agent must pin.
    pub fn host_add(
        &mut self,
        name: &str,
        ips: &[std::net::IpAddr],
        ttl: time::Duration,
        random: [u8; 32],
    ) -> Result<(Host, String, String), Error>
    where
        N: DerefMut,
    {
        // The name becomes the host certificate's CN and an alias: refuse what cannot be,
        // as the host name it is (not as an alias, which the user never typed). DNS names
        // are case-insensitive: kept lower-case, so one host has one name.
        let name = &certherd_authority::host_name(name)?;
        if ips.len() > MAX_HOST_IPS {
            return Err(Error::TooManyAddresses {
                given: ips.len(),
                max: MAX_HOST_IPS,
            });
        }
        // A list with an address twice is a mistake to show, not to tidy away.
        if let Some(address) = ips
            .iter()
            .enumerate()
            .find(|(i, a)| ips.get(..*i).is_some_and(|before| before.contains(a)))
            .map(|(_, a)| *a)
        {
            return Err(Error::DuplicateAddress { address });
        }
        if !(certherd_core::MIN_TOKEN_TTL..=certherd_core::MAX_TOKEN_TTL).contains(&ttl) {
            return Err(Error::TokenTtl {
                seconds: ttl.whole_seconds(),
            });
        }
        if name.parse::<certherd_core::Alias>().is_err() {
            return Err(Error::Node(certherd_authority::Error::InvalidHostname(
                name.to_owned(),
            )));
        }
        if self.stored_name(name)?.is_some() {
            return Err(Error::Node(certherd_authority::Error::AlreadyExists {
                what: ObjectKind::Host,
                name: name.to_string(),
            }));
        }
        let now = self.node.now();
        let host = Host {
            name: name.to_owned(),
            ips: ips.to_vec(),
            created_at: now,
            joined_at: None,
            pool_sha256: None,
            last_seen: None,
        };
        let (token, text) = JoinToken::issue(name, random, now, ttl);
        let root = CertInfo::from_der(&self.node.ca_root()?)?;
        self.commit(&[
            Change::PutHost(Box::new(host.clone())),
            Change::PutToken(token.clone()),
            self.node.audit(
                "host-add",
                name,
                format!("token expires {}", certherd_x509::rfc3339(token.expires_at)),
            ),
        ])?;
        Ok((host, text, root.sha256))
    }

    /// `host remove`: the host, its pins and its certificate are forgotten; its
    /// pool-internal certificate no longer authenticates, and its host certificates that
    /// certherd's CA issued are revoked (cessationOfOperation) and listed in a new CRL,
    /// which are returned. Its tokens, reported verification, held roots and pending
    /// orders go with its row.
    pub fn host_remove(&mut self, name: &str) -> Result<Vec<Revocation>, Error>
    where
        N: DerefMut,
    {
        let name = &self.stored_name(name)?.unwrap_or_else(|| name.to_owned());
        if self.node.store().host(name)?.is_none() {
            return Err(Error::Node(certherd_authority::Error::NotFound {
                what: ObjectKind::Host,
                name: name.to_string(),
            }));
        }
        // Its host certificates (current and superseded) are revoked, and a new CRL
        // published, in the same transaction that forgets it.
        let (mut changes, revoked) = self.node.revocations().host_removal_changes(name)?;
        changes.push(Change::DeleteHost(name.to_owned()));
        let mut subjects = vec![name.to_owned()];
        for store in [HOSTS_STORE, POOL_STORE] {
            let r = EntryRef::new(store.parse()?, name.parse()?);
            subjects.push(r.to_string());
            if self.node.store().entry(&r)?.is_some() {
                changes.push(Change::DeleteEntry(r));
            }
        }
        // Its open alarms (silent, verification off, its certificate's) clear with it.
        changes.extend(self.node.alarms().clear_alarms_about(&subjects)?);
        changes.push(self.node.audit(
            "host-remove",
            name,
            format!(
                "pins and certificate forgotten; {} certificate(s) revoked",
                revoked.len()
            ),
        ));
        self.commit(&changes)?;
        Ok(revoked)
    }

    /// The key algorithm the `host` profile sets for every host key (`[profiles.host]
    /// key_algo`), which agents follow; `None` when each host chooses its own.
    pub fn host_key_algo(&self) -> Result<Option<certherd_x509::KeyAlgorithm>, Error> {
        Ok(self.node.profiles().get("host")?.key_algo)
    }

    /// Refuses a host key of another algorithm than the `host` profile sets.
    fn check_host_key_algo(&self, host: &Host, spki_der: &[u8]) -> Result<(), Error> {
        let Some(wanted) = self.host_key_algo()? else {
            return Ok(());
        };
        let asked = certherd_x509::spki_key_algorithm(spki_der);
        if asked == Some(wanted) {
            return Ok(());
        }
        Err(Error::HostKeyAlgorithm {
            host: host.name.clone(),
            asked: asked.map_or_else(|| "other".to_owned(), |a| a.name().to_owned()),
            wanted,
        })
    }

    fn trust_bundle(&self) -> Result<Grant, Error> {
        Ok(Grant {
            host_key_algo: self.host_key_algo()?,
            renew_ordered: false,
            refresh_pool_ordered: false,
            host_chain: None,
            trusted_roots: self
                .node
                .trust_anchors()?
                .into_iter()
                .map(|c| c.to_vec())
                .collect(),
            crls: self
                .node
                .trusted_crls()?
                .into_iter()
                .map(|c| c.to_vec())
                .collect(),
        })
    }

    /// Issues a host certificate for `host` from its CSR, refusing names it is not
    /// enrolled for. Returns the changes to commit and the chain.
    fn host_certificate(
        &self,
        host: &Host,
        csr_der: &[u8],
        audit: &str,
    ) -> Result<(Vec<Change>, Vec<Vec<u8>>), Error> {
        let csr = CsrInfo::from_der(csr_der)?;
        if !csr.signature_valid {
            return Err(Error::CsrSignature);
        }
        let enrolled = host.enrolled_names();
        let mut asked: Vec<String> = csr.dns_names.clone();
        asked.extend(csr.ip_addresses.iter().map(ToString::to_string));
        if let Some(cn) = &csr.subject_cn {
            asked.push(cn.clone());
        }
        // Names compare as DNS names do, whatever their case (a host enrolled before names
        // were kept lower-case may still be upper-case).
        let refused: Vec<String> = asked
            .iter()
            .filter(|n| !enrolled.iter().any(|e| e.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(Error::NotEnrolled {
                host: host.name.clone(),
                asked: refused.join(", "),
                enrolled: enrolled.join(", "),
            });
        }
        self.check_host_key_algo(host, &csr.spki_der)?;
        let profile = self.node.profiles().get("host")?.clone();
        let now = self.node.now();
        let mut spec = CertSpec {
            common_name: host.name.clone(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::minutes(1),
            not_after: profile.lifetime.after(now),
            role: Role::Leaf,
            eku: vec![Eku::ServerAuth, Eku::ClientAuth],
        }
        .with_names(enrolled.iter().map(String::as_str))?;
        spec.organization = None;
        // The host keeps its key: the authority signs over the CSR's, capped at its CA.
        let signed = self.node.issue_for_key(&spec, &csr.spki_der)?;
        let cert = signed.cert;
        let mut chain = vec![cert.clone()];
        chain.extend(signed.chain);
        let info = CertInfo::from_der(&cert)?;
        let store: StoreName = HOSTS_STORE.parse()?;
        let r = EntryRef::new(store.clone(), host.name.parse()?);
        let mut changes = vec![Change::CreateStore(store, now)];
        let meta = self.node.meta_for(
            r.clone(),
            &info,
            EntryKind::Certificate,
            Some("host"),
            Source::Issued,
            Some(signed.issuer_sha256),
        );
        changes.extend(
            self.node
                .replace_entry(Node::<S>::entry_with_key(
                    meta,
                    cert,
                    chain[1..].to_vec(),
                    None,
                ))?
                .0,
        );
        changes.push(
            self.node
                .audit(audit, &r, format!("serial {}", info.serial)),
        );
        Ok((changes, chain))
    }

    /// A host joins: the token is spent, its CSR becomes its host certificate, and its
    /// pool-internal certificate is pinned. Any refusal changes nothing (the token stays
    /// unspent) and is recorded in the audit log.
    pub fn host_join(
        &mut self,
        token_text: &str,
        csr_der: &[u8],
        pool_cert_der: &[u8],
        verification: bool,
    ) -> Result<(Host, Grant), Error>
    where
        N: DerefMut,
    {
        let result = self.pool_verification().and_then(|pool| {
            if pool != verification {
                return Err(Error::VerificationMismatch {
                    pool,
                    host: verification,
                });
            }
            self.host_join_inner(token_text, csr_der, pool_cert_der)
        });
        if let Err(e) = &result {
            let _ = self.commit(&[self.node.audit("host-join-refused", "fleet", e.to_string())]);
        }
        result
    }

    fn host_join_inner(
        &mut self,
        token_text: &str,
        csr_der: &[u8],
        pool_cert_der: &[u8],
    ) -> Result<(Host, Grant), Error>
    where
        N: DerefMut,
    {
        let now = self.node.now();
        let key = JoinToken::lookup_key(token_text)?;
        let mut token = self
            .node
            .store()
            .join_token(&key)?
            .ok_or(certherd_core::TokenError::Unknown)?;
        let mut host = self
            .node
            .store()
            .host(&token.host)?
            .ok_or(certherd_core::TokenError::Unknown)?;
        token.redeem(&host.name.clone(), now)?;
        let pool = CertInfo::from_der(pool_cert_der)?;
        if !pool.self_issued {
            return Err(Error::PoolCertificate {
                why: PoolCertificateProblem::NotSelfSigned,
                host: None,
            });
        }
        if self.node.store().host_by_pool(&pool.sha256)?.is_some() {
            return Err(Error::PoolCertificate {
                why: PoolCertificateProblem::Taken,
                host: None,
            });
        }
        let (mut changes, chain) = self.host_certificate(&host, csr_der, "host-join")?;
        host.joined_at = Some(now);
        host.last_seen = Some(now);
        host.pool_sha256 = Some(pool.sha256.clone());
        let pool_store: StoreName = POOL_STORE.parse()?;
        let pool_ref = EntryRef::new(pool_store.clone(), host.name.parse()?);
        let pool_meta = self.node.meta_for(
            pool_ref,
            &pool,
            EntryKind::Certificate,
            Some("pool-internal"),
            Source::Trusted,
            None,
        );
        changes.push(Change::CreateStore(pool_store, now));
        changes.push(Change::PutEntry {
            entry: Box::new(Node::<S>::entry_with_key(
                pool_meta,
                pool_cert_der.to_vec(),
                vec![],
                None,
            )),
            replace: true,
        });
        changes.push(Change::PutToken(token));
        changes.push(Change::PutHost(Box::new(host.clone())));
        changes.push(Change::SetHostVerification {
            host: host.name.clone(),
            enabled: true,
        });
        self.commit(&changes)?;
        let mut grant = self.trust_bundle()?;
        grant.host_chain = Some(chain);
        Ok((host, grant))
    }

    /// A joined host polls, authenticated by its pinned pool-internal certificate: its
    /// heartbeat is recorded, it gets the pool's trust, and a CSR (when its host
    /// certificate is due) gets a renewed certificate.
    pub fn host_poll(
        &mut self,
        client_cert_der: &[u8],
        renew_csr: Option<&[u8]>,
        verification: bool,
        held_roots: &[String],
    ) -> Result<(Host, Grant), Error>
    where
        N: DerefMut,
    {
        let presented = certherd_x509::hex(&certherd_x509::sha256(client_cert_der));
        let mut host = self
            .node
            .store()
            .host_by_pool(&presented)?
            .ok_or_else(|| Error::UnknownPeer(presented.clone()))?;
        host.last_seen = Some(self.node.now());
        let mut changes = Vec::new();
        let mut chain = None;
        let state = self.node.store().host_state(&host.name)?;
        let ordered = state.renew_ordered_at.is_some();
        // The roots the host holds: a staged CA rotation waits until all hold the new one.
        changes.push(Change::SetHostRoots {
            host: host.name.clone(),
            roots: held_roots.to_vec(),
        });
        // What the host says of its verification; off raises an alarm until it is back on.
        changes.push(Change::SetHostVerification {
            host: host.name.clone(),
            enabled: verification,
        });
        // A renewal CSR whose key is not of the algorithm the host profile now sets (the
        // profile changed since the host made it) gets no certificate: the host is asked
        // for a new CSR, and the answer tells it the algorithm.
        let wrong_algo = match renew_csr {
            Some(csr) => {
                let info = CsrInfo::from_der(csr)?;
                match self.check_host_key_algo(&host, &info.spki_der) {
                    Err(e @ Error::HostKeyAlgorithm { .. }) => {
                        changes.push(self.node.audit(
                            "host-renew-key-algo",
                            &host.name,
                            format!("{e}; a new CSR was asked for"),
                        ));
                        true
                    }
                    other => {
                        other?;
                        false
                    }
                }
            }
            None => false,
        };
        if let Some(csr) = renew_csr.filter(|_| !wrong_algo) {
            let (c, ch) = self.host_certificate(&host, csr, "host-renew")?;
            changes.extend(c);
            chain = Some(ch);
            if ordered {
                changes.push(Change::DeleteHostOrder {
                    host: host.name.clone(),
                    order: HostOrder::Renew,
                });
            }
        }
        changes.push(Change::PutHost(Box::new(host.clone())));
        self.commit(&changes)?;
        let mut grant = self.trust_bundle()?;
        grant.renew_ordered = (ordered || wrong_algo) && chain.is_none();
        grant.refresh_pool_ordered = self.pool_refresh_pending(&host.name)?;
        grant.host_chain = chain;
        Ok((host, grant))
    }
}
