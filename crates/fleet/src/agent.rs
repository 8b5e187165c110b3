//! The fleet, host side: the agent's own home. Its keys are made here and never leave; it
//! keeps its host certificate (`machine-ssl/host`), its self-signed pool-internal
//! identity (`pool/pool-internal`), the pool's trusted roots and CRLs, and the server it
//! pinned at join.

use certherd_core::{AgentTarget, EntryKind, EntryRef, Source, TargetLayout};
use certherd_store::{Change, Store};
use certherd_x509::{CertInfo, CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};

use std::ops::{Deref, DerefMut};

use certherd_authority::Node;

use crate::layout::{layout_files, LayoutFile, QemuReader};
use crate::{Error, Layout, LayoutError};

const SERVER_URL: &str = "agent.server";
const SERVER_CA: &str = "agent.server-ca-sha256";
const LAST_POLL: &str = "agent.last-poll";
const LAST_ERROR: &str = "agent.last-error";
const LAST_ERROR_AT: &str = "agent.last-error-at";
/// The host key algorithm this host chose at join (`agent join --key-algo`, else
/// ecdsa-p256).
const KEY_ALGO: &str = "agent.key-algo";
/// The host key algorithm the server's `host` profile sets, as its last answer said.
const SERVER_KEY_ALGO: &str = "agent.server-key-algo";
/// The servers given at join (`agent join --server`, repeated), one URL a line.
const SERVERS_GIVEN: &str = "agent.servers";
/// The servers the server advertised in its last answer that named any, one a line.
const SERVERS_ADVERTISED: &str = "agent.servers-advertised";
/// The server that answered this agent last.
const LAST_SERVER: &str = "agent.last-server";

/// The host key algorithm a join uses: the server's `host` profile's when it sets one (an
/// explicit `--key-algo` that differs is refused: the fleet is of one algorithm), else
/// `--key-algo`, else ECDSA P-256.
pub fn join_key_algo(
    hostname: &str,
    asked: Option<KeyAlgorithm>,
    server: Option<KeyAlgorithm>,
) -> Result<KeyAlgorithm, Error> {
    match (asked, server) {
        (Some(a), Some(wanted)) if a != wanted => Err(Error::HostKeyAlgorithm {
            host: hostname.to_owned(),
            asked: a.name().to_owned(),
            wanted,
        }),
        (_, Some(wanted)) => Ok(wanted),
        (a, None) => Ok(a.unwrap_or_default()),
    }
}

/// The agent's host certificate entry.
pub const AGENT_HOST_ENTRY: &str = "machine-ssl/host";
/// The agent's pool-internal identity entry.
pub const AGENT_POOL_ENTRY: &str = "pool/pool-internal";

/// What a host makes before it joins: both keys, its pool-internal certificate and the
/// CSR for its host certificate.
pub struct JoinRequest {
    /// The host's name.
    pub hostname: String,
    /// The pool-internal key.
    pub pool_key: PrivateKey,
    /// The self-signed pool-internal certificate (DER).
    pub pool_cert: Vec<u8>,
    /// The host certificate's key.
    pub host_key: PrivateKey,
    /// The CSR for the host certificate (DER).
    pub csr: Vec<u8>,
    /// The host key algorithm this host chose (`--key-algo`, else ecdsa-p256),
    /// remembered for renewals when the server's profile sets none.
    pub own_key_algo: KeyAlgorithm,
    /// The host key algorithm the server's `host` profile sets, if it sets one.
    pub server_key_algo: Option<KeyAlgorithm>,
}

fn csr_for(
    hostname: &str,
    ips: &[std::net::IpAddr],
    key: &PrivateKey,
    now: time::OffsetDateTime,
) -> Result<Vec<u8>, Error> {
    let mut names = vec![hostname.to_owned()];
    names.extend(ips.iter().map(ToString::to_string));
    let spec = CertSpec {
        common_name: hostname.to_owned(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(1),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth, Eku::ClientAuth],
    }
    .with_names(names.iter().map(String::as_str))?;
    Ok(certherd_x509::signing_request(&spec, key)?)
}

/// A joined agent's own state over a node's context: its server and identity, its host and pool certificates, its targets, polls and deploy results. Reached by
/// [`crate::FleetExt::agent`] (reads) and [`crate::FleetExt::agent_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Agent<N> {
    node: N,
}

impl<N> Agent<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Agent<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        Ok(self.node.commit(changes)?)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// Makes the keys, the pool-internal certificate (self-signed, `pool-internal` profile)
    /// and the host certificate's CSR for names `hostname` and `ips`. The host key is of
    /// the algorithm [`join_key_algo`] chooses from `key_algo` (`--key-algo`) and
    /// `server_key_algo` (the server's `host` profile); the pool-internal key is always
    /// ECDSA P-256: it only authenticates this agent to the certherd server, which pins it
    /// by SHA-256, and no other TLS stack ever reads it.
    pub fn agent_prepare(
        &self,
        hostname: &str,
        ips: &[std::net::IpAddr],
        key_algo: Option<KeyAlgorithm>,
        server_key_algo: Option<KeyAlgorithm>,
    ) -> Result<JoinRequest, Error> {
        // DNS names are case-insensitive: the certificates and the enrolment use one
        // lower-case spelling.
        let hostname = &certherd_authority::host_name(hostname)?;
        let host_algo = join_key_algo(hostname, key_algo, server_key_algo)?;
        let now = self.node.now();
        let pool_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
        let profile = self.node.profiles().get("pool-internal")?.clone();
        let spec = CertSpec {
            common_name: hostname.to_owned(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::minutes(1),
            not_after: profile.lifetime.after(now),
            role: Role::Leaf,
            eku: profile.eku.clone(),
        }
        .with_names([hostname.as_str()])?;
        let pool_cert = certherd_x509::self_sign(&spec, &pool_key)?.to_vec();
        let host_key = PrivateKey::generate(host_algo)?;
        let csr = csr_for(hostname, ips, &host_key, now)?;
        Ok(JoinRequest {
            hostname: hostname.to_owned(),
            pool_key,
            pool_cert,
            host_key,
            csr,
            own_key_algo: key_algo.unwrap_or_default(),
            server_key_algo,
        })
    }

    /// Records a completed join: both identities, the pinned server, the pool's trust.
    pub fn agent_install(
        &mut self,
        req: &JoinRequest,
        server_url: &str,
        server_ca_sha256: &str,
        host_chain: &[Vec<u8>],
    ) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let now = self.node.now();
        let host_cert = host_chain.first().ok_or_else(|| Error::NoHostCertificate)?;
        let info = CertInfo::from_der(host_cert)?;
        if info.spki_der != req.host_key.public_key_spki() {
            return Err(certherd_authority::Error::KeyMismatch.into());
        }
        let pool_info = CertInfo::from_der(&req.pool_cert)?;
        let host_ref: EntryRef = AGENT_HOST_ENTRY.parse()?;
        let pool_ref: EntryRef = AGENT_POOL_ENTRY.parse()?;
        let host_meta = self.node.meta_for(
            host_ref.clone(),
            &info,
            EntryKind::KeyPair,
            Some("host"),
            Source::Issued,
            None,
        );
        let pool_meta = self.node.meta_for(
            pool_ref.clone(),
            &pool_info,
            EntryKind::KeyPair,
            Some("pool-internal"),
            Source::Issued,
            None,
        );
        let mut changes = vec![
            Change::CreateStore(host_ref.store.clone(), now),
            Change::CreateStore(pool_ref.store.clone(), now),
            Change::CreateStore(certherd_core::StoreName::TRUSTED_ROOTS.parse()?, now),
            Change::CreateStore(certherd_core::StoreName::BACKUP.parse()?, now),
            Change::PutEntry {
                entry: Box::new(Node::<S>::entry_with_key(
                    host_meta,
                    host_cert.clone(),
                    host_chain[1..].to_vec(),
                    Some(&req.host_key),
                )),
                replace: true,
            },
            Change::PutEntry {
                entry: Box::new(Node::<S>::entry_with_key(
                    pool_meta,
                    req.pool_cert.clone(),
                    vec![],
                    Some(&req.pool_key),
                )),
                replace: true,
            },
            Change::SetMeta {
                key: SERVER_URL.into(),
                value: server_url.to_owned(),
            },
            Change::SetMeta {
                key: SERVER_CA.into(),
                value: server_ca_sha256.to_owned(),
            },
            Change::SetMeta {
                key: KEY_ALGO.into(),
                value: req.own_key_algo.name().into(),
            },
            match req.server_key_algo {
                Some(a) => Change::SetMeta {
                    key: SERVER_KEY_ALGO.into(),
                    value: a.name().into(),
                },
                None => Change::DeleteMeta(SERVER_KEY_ALGO.into()),
            },
            self.node
                .audit("agent-join", &req.hostname, format!("server {server_url}")),
            Change::SetMeta {
                key: certherd_store::INITIALIZED.into(),
                value: now.unix_timestamp().to_string(),
            },
        ];
        // This home becomes the host's: named as it, in the agent's mode.
        changes.extend(Node::<S>::agent_mode_changes(&req.hostname));
        self.commit(&changes)
    }

    /// Whether this home is a host agent's (its certificates are renewed through the server).
    pub fn is_agent(&self) -> Result<bool, Error> {
        Ok(self.node.is_agent()?)
    }

    /// The server this agent joined and the SHA-256 of the root CA it pinned.
    pub fn agent_server(&self) -> Result<(String, String), Error> {
        match (
            self.node.store().meta(SERVER_URL)?,
            self.node.store().meta(SERVER_CA)?,
        ) {
            (Some(u), Some(c)) => Ok((u, c)),
            _ => Err(Error::NotJoined),
        }
    }

    /// The pool-internal certificate and key this agent authenticates with.
    pub fn agent_identity(&self) -> Result<(Vec<u8>, PrivateKey), Error> {
        let e = self.node.load(&AGENT_POOL_ENTRY.parse()?)?;
        let key = e
            .key
            .ok_or_else(|| Error::EntryWithoutKey("pool-internal"))?;
        Ok((e.cert, certherd_x509::parse_private_key(key.expose())?))
    }

    /// When the host certificate is due (the renewal policy at the node's clock), a new
    /// key and its CSR for the same names.
    pub fn agent_renewal_due(&self) -> Result<Option<(PrivateKey, Vec<u8>)>, Error> {
        let e = self.node.load(&AGENT_HOST_ENTRY.parse()?)?;
        if !self
            .node
            .renewal_policy()
            .is_due(&e.meta, self.node.now(), self.node.thresholds().warn)
        {
            return Ok(None);
        }
        Ok(Some(self.agent_new_host_key()?))
    }

    /// The algorithm of this host's next host key: the server's `host` profile's, as its
    /// last answer said, else the one chosen at join, else ECDSA P-256 (a home joined
    /// before the choice was remembered).
    pub fn agent_host_key_algo(&self) -> Result<KeyAlgorithm, Error> {
        for key in [SERVER_KEY_ALGO, KEY_ALGO] {
            if let Some(a) = self.node.store().meta(key)?.and_then(|v| v.parse().ok()) {
                return Ok(a);
            }
        }
        Ok(KeyAlgorithm::default())
    }

    /// Records the host key algorithm the server's last answer set (`None`: the server's
    /// profile sets none, and the host's own choice applies again).
    pub fn agent_set_server_key_algo(&mut self, algo: Option<KeyAlgorithm>) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let held = self.node.store().meta(SERVER_KEY_ALGO)?;
        if held.as_deref() == algo.map(KeyAlgorithm::name) {
            return Ok(());
        }
        self.commit(&[match algo {
            Some(a) => Change::SetMeta {
                key: SERVER_KEY_ALGO.into(),
                value: a.name().into(),
            },
            None => Change::DeleteMeta(SERVER_KEY_ALGO.into()),
        }])
    }

    /// A new host key (of [`Self::agent_host_key_algo`]) and its CSR for the names of the
    /// current host certificate.
    pub fn agent_new_host_key(&self) -> Result<(PrivateKey, Vec<u8>), Error> {
        let e = self.node.load(&AGENT_HOST_ENTRY.parse()?)?;
        let info = CertInfo::from_der(&e.cert)?;
        let key = PrivateKey::generate(self.agent_host_key_algo()?)?;
        let csr = csr_for(
            &self.node.hostname()?,
            &info.ip_addresses,
            &key,
            self.node.now(),
        )?;
        Ok((key, csr))
    }

    /// Installs a renewed host certificate; the previous one moves to backup.
    pub fn agent_install_host(&mut self, key: &PrivateKey, chain: &[Vec<u8>]) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let cert = chain.first().ok_or_else(|| Error::NoHostCertificate)?;
        let info = CertInfo::from_der(cert)?;
        if info.spki_der != key.public_key_spki() {
            return Err(certherd_authority::Error::KeyMismatch.into());
        }
        let r: EntryRef = AGENT_HOST_ENTRY.parse()?;
        let meta = self.node.meta_for(
            r.clone(),
            &info,
            EntryKind::KeyPair,
            Some("host"),
            Source::Issued,
            None,
        );
        let (mut changes, _) = self.node.replace_entry(Node::<S>::entry_with_key(
            meta,
            cert.clone(),
            chain[1..].to_vec(),
            Some(key),
        ))?;
        changes.push(
            self.node
                .audit("agent-renew", &r, format!("serial {}", info.serial)),
        );
        self.commit(&changes)
    }

    /// Makes trusted-roots and the CRLs what the server says (the pool certificate sync):
    /// adds what is new, removes what the server no longer trusts. Returns (added, removed).
    pub fn agent_sync_trust(
        &mut self,
        roots: &[Vec<u8>],
        crls: &[Vec<u8>],
    ) -> Result<(usize, usize), Error>
    where
        N: DerefMut,
    {
        let held = self.node.trust_list()?;
        let wanted: Vec<String> = roots
            .iter()
            .filter_map(|r| CertInfo::from_der(r).ok().map(|i| i.sha256))
            .collect();
        let mut added = 0;
        for r in roots {
            let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, r);
            added += self.node.trust_add(pem.as_bytes())?.0.len();
        }
        let mut removed = 0;
        for m in held.iter().filter(|m| !wanted.contains(&m.sha256)) {
            self.node.delete(&m.entry)?;
            removed += 1;
        }
        for c in crls {
            let held = self.node.store().crls()?;
            let sha = certherd_x509::hex(&certherd_x509::sha256(c));
            if !held.iter().any(|h| h.sha256 == sha) {
                // A CRL older than the one held is refused by trust_add_crl; keep the newer.
                let _ = self.node.trust_add_crl(c);
            }
        }
        Ok((added, removed))
    }
}

/// A `layout` target, rendered.
#[derive(Debug)]
pub struct LayoutTarget {
    /// Which tree.
    pub layout: Layout,
    /// Where it goes.
    pub dir: std::path::PathBuf,
    /// The command run after it changed, if any.
    pub reload: Option<String>,
    /// How long the reload may run before it is killed.
    pub reload_timeout: std::time::Duration,
    /// The files, or why the daemon would refuse them (nothing is written then).
    pub files: Result<Vec<LayoutFile>, Error>,
}

/// One file a target should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetFile {
    /// Where.
    pub path: std::path::PathBuf,
    /// What (PEM).
    pub contents: Vec<u8>,
    /// Its mode: 0600 for keys, 0644 for certificates.
    pub mode: u32,
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// The files the `[[agent.targets]]` without a layout ask for, from the entries as
    /// they are now.
    pub fn agent_target_files(&self) -> Result<Vec<TargetFile>, Error> {
        let mut out = Vec::new();
        for t in &self.node.settings().agent.targets {
            let AgentTarget::Files { entry, cert, key } = t.resolve()? else {
                continue;
            };
            let e = self.node.load(&entry)?;
            let mut pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &e.cert);
            for c in &e.chain {
                pem.push_str(&certherd_x509::to_pem(
                    certherd_x509::PemLabel::Certificate,
                    c,
                ));
            }
            out.push(TargetFile {
                path: cert,
                contents: pem.into_bytes(),
                mode: 0o644,
            });
            if let Some(k) = key {
                let key =
                    e.key
                        .as_ref()
                        .ok_or_else(|| certherd_authority::Error::NoPrivateKey {
                            entry: entry.to_string(),
                            file: Some(k.display().to_string()),
                            detail: None,
                        })?;
                let key = certherd_x509::parse_private_key(key.expose())?;
                out.push(TargetFile {
                    path: k,
                    contents: key.to_pem().into_bytes(),
                    mode: 0o600,
                });
            }
        }
        Ok(out)
    }

    /// The `[[agent.targets]]` with a layout: each with its files rendered from the entry
    /// (the host certificate unless `entry` is set) and the trusted roots as they are now,
    /// or the reason the daemon would refuse them. `qemu` tells what QEMU is installed; it
    /// is asked once, and only when a target has the qemu layout.
    pub fn agent_layout_targets(
        &self,
        qemu: impl FnOnce() -> QemuReader,
    ) -> Result<Vec<LayoutTarget>, Error> {
        let mut probe = Some(qemu);
        let mut found: Option<QemuReader> = None;
        let mut out = Vec::new();
        for t in &self.node.settings().agent.targets {
            let AgentTarget::Layout {
                layout,
                entry,
                dir,
                reload,
                reload_timeout,
            } = t.resolve()?
            else {
                continue;
            };
            let layout = match layout {
                TargetLayout::Libvirt => Layout::Libvirt,
                TargetLayout::Qemu => Layout::Qemu,
            };
            let entry = match entry {
                Some(e) => e,
                None => AGENT_HOST_ENTRY.parse()?,
            };
            let reader = match layout {
                Layout::Qemu => found
                    .get_or_insert_with(|| probe.take().map_or(QemuReader::NotFound, |f| f()))
                    .clone(),
                // libvirt's rule does not depend on the QEMU installed.
                Layout::Libvirt => QemuReader::NotFound,
            };
            let files = self.render_layout(&entry, layout, &reader);
            out.push(LayoutTarget {
                layout,
                dir,
                reload,
                reload_timeout,
                files,
            });
        }
        Ok(out)
    }

    fn render_layout(
        &self,
        entry: &EntryRef,
        layout: Layout,
        qemu: &QemuReader,
    ) -> Result<Vec<LayoutFile>, Error> {
        let e = self.node.load(entry)?;
        let Some(key) = &e.key else {
            return Err(LayoutError::NoKey(entry.clone(), layout).into());
        };
        let key = certherd_x509::parse_private_key(key.expose())?;
        let roots: Vec<Vec<u8>> = self
            .node
            .trust_anchors()?
            .into_iter()
            .map(|c| c.to_vec())
            .collect();
        Ok(layout_files(layout, qemu, &e.cert, &e.chain, &key, &roots)?)
    }

    /// The command to run after a target changed.
    pub fn agent_reload_command(&self) -> Option<String> {
        self.node.settings().agent.reload.clone()
    }

    /// Records where the agent serves its host certificate.
    pub fn agent_set_listen(&mut self, listen: &str) -> Result<(), Error>
    where
        N: DerefMut,
    {
        self.commit(&[Change::SetMeta {
            key: LISTEN.into(),
            value: listen.to_owned(),
        }])
    }

    /// Where the agent serves its host certificate, if it does.
    pub fn agent_listen(&self) -> Result<Option<String>, Error> {
        Ok(self.node.store().meta(LISTEN)?)
    }

    /// The host certificate chain and key, to serve.
    pub fn agent_host_identity(&self) -> Result<(Vec<Vec<u8>>, PrivateKey), Error> {
        let e = self.node.load(&AGENT_HOST_ENTRY.parse()?)?;
        let key = e
            .key
            .ok_or_else(|| Error::EntryWithoutKey("host certificate"))?;
        let mut chain = vec![e.cert];
        chain.extend(e.chain);
        Ok((chain, certherd_x509::parse_private_key(key.expose())?))
    }
}

const LISTEN: &str = "agent.listen";

/// Meta key of the deploy error the agent reports to the server at its next poll.
const DEPLOY_ERROR: &str = "agent.deploy_error";

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// The problem of the agent's last deploy, reported at the next poll (`None`: it
    /// went well).
    pub fn agent_deploy_error(&self) -> Result<Option<String>, Error> {
        Ok(self
            .node
            .store()
            .meta(DEPLOY_ERROR)?
            .filter(|v| !v.is_empty()))
    }

    /// Records the problem of the last deploy (`None`: it went well).
    pub fn agent_set_deploy_error(&mut self, error: Option<&str>) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let value = error.unwrap_or_default();
        if self.agent_deploy_error()?.unwrap_or_default() == value {
            return Ok(());
        }
        self.commit(&[Change::SetMeta {
            key: DEPLOY_ERROR.into(),
            value: value.to_owned(),
        }])
    }
}

/// Meta key prefix marking a layout directory whose last reload failed.
const RELOAD_PENDING: &str = "agent.reload_pending:";

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// Whether the last reload of the layout in `dir` failed (so it is run again even
    /// when the files are unchanged).
    pub fn agent_reload_pending(&self, dir: &std::path::Path) -> Result<bool, Error> {
        Ok(self
            .node
            .store()
            .meta(&format!("{RELOAD_PENDING}{}", dir.display()))?
            .is_some_and(|v| v == "1"))
    }

    /// Records whether the reload of the layout in `dir` is still to succeed.
    pub fn agent_set_reload_pending(
        &mut self,
        dir: &std::path::Path,
        pending: bool,
    ) -> Result<(), Error>
    where
        N: DerefMut,
    {
        if self.agent_reload_pending(dir)? == pending {
            return Ok(());
        }
        self.commit(&[Change::SetMeta {
            key: format!("{RELOAD_PENDING}{}", dir.display()),
            value: if pending { "1" } else { "0" }.to_owned(),
        }])
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// A new pool-internal key and self-signed certificate (`pool-internal` profile).
    pub fn agent_new_pool_identity(&self) -> Result<(PrivateKey, Vec<u8>), Error> {
        let hostname = self.node.hostname()?;
        let now = self.node.now();
        // ECDSA P-256 whatever the host key: see agent_prepare.
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
        let profile = self.node.profiles().get("pool-internal")?.clone();
        let spec = CertSpec {
            common_name: hostname.clone(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::minutes(1),
            not_after: profile.lifetime.after(now),
            role: Role::Leaf,
            eku: profile.eku.clone(),
        }
        .with_names([hostname.as_str()])?;
        let cert = certherd_x509::self_sign(&spec, &key)?.to_vec();
        Ok((key, cert))
    }

    /// Installs the pool-internal identity the server re-pinned; the old one goes to backup.
    pub fn agent_install_pool_identity(
        &mut self,
        key: &PrivateKey,
        cert: &[u8],
    ) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let r: EntryRef = AGENT_POOL_ENTRY.parse()?;
        let info = CertInfo::from_der(cert)?;
        let meta = self.node.meta_for(
            r.clone(),
            &info,
            EntryKind::KeyPair,
            Some("pool-internal"),
            Source::Issued,
            None,
        );
        let (mut changes, _) = self.node.replace_entry(Node::<S>::entry_with_key(
            meta,
            cert.to_vec(),
            vec![],
            Some(key),
        ))?;
        changes.push(
            self.node
                .audit("agent-pool-refresh", &r, format!("sha256 {}", info.sha256)),
        );
        self.commit(&changes)
    }
}
const VERIFICATION: &str = "agent.verification";

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// The server removed this host: forget the server (its address, its pinned CA) and
    /// the trust it distributed, as both sides of a XenServer pool do when a host leaves.
    pub fn agent_forget_server(&mut self) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let mut changes = vec![
            Change::DeleteMeta(SERVER_URL.into()),
            Change::DeleteMeta(SERVER_CA.into()),
            Change::DeleteMeta(SERVERS_GIVEN.into()),
            Change::DeleteMeta(SERVERS_ADVERTISED.into()),
            Change::DeleteMeta(LAST_SERVER.into()),
        ];
        for m in self.node.trust_list()? {
            changes.push(Change::DeleteEntry(m.entry));
        }
        changes.push(self.node.audit(
            "agent-removed",
            &self.node.hostname()?,
            "the server removed this host; its pins and trust are forgotten",
        ));
        self.commit(&changes)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// Whether this agent verifies the server (on unless emergency-disabled).
    pub fn agent_verification(&self) -> Result<bool, Error> {
        Ok(self.node.store().meta(VERIFICATION)?.as_deref() != Some("disabled"))
    }

    /// `agent emergency-disable-verification` / `emergency-reenable-verification`.
    pub fn agent_set_verification(&mut self, enabled: bool) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let value = if enabled { "enabled" } else { "disabled" };
        self.commit(&[
            Change::SetMeta {
                key: VERIFICATION.into(),
                value: value.into(),
            },
            self.node
                .audit("agent-verification", &self.node.hostname()?, value),
        ])
    }
}

/// What `certherd status` shows of an agent's home.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSummary {
    /// The server it joined; `None` once the server removed it.
    pub server: Option<String>,
    /// The last successful poll.
    pub last_poll: Option<time::OffsetDateTime>,
    /// The last failed poll since then, and why.
    pub last_error: Option<(time::OffsetDateTime, String)>,
    /// The host certificate's notAfter, if the host holds one.
    pub host_not_after: Option<time::OffsetDateTime>,
    /// Whether it verifies the server.
    pub verification: bool,
    /// The servers it may poll, in the order it tries them after the last one that
    /// answered (see [`Agent::agent_servers`]).
    pub servers: Vec<String>,
    /// The server that answered last.
    pub last_server: Option<String>,
}

fn unix(value: Option<String>) -> Option<time::OffsetDateTime> {
    value
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// Whether this home holds a server to poll (it joined, and was not removed since).
    pub fn agent_joined(&self) -> Result<bool, Error> {
        Ok(self.node.store().meta(SERVER_URL)?.is_some()
            && self.node.store().meta(SERVER_CA)?.is_some())
    }

    /// Records a successful poll at the node's clock; the last error is cleared.
    pub fn agent_record_poll(&mut self) -> Result<(), Error>
    where
        N: DerefMut,
    {
        self.commit(&[
            Change::SetMeta {
                key: LAST_POLL.into(),
                value: self.node.now().unix_timestamp().to_string(),
            },
            Change::DeleteMeta(LAST_ERROR.into()),
            Change::DeleteMeta(LAST_ERROR_AT.into()),
        ])
    }

    /// Records a failed poll and why, at the node's clock.
    pub fn agent_record_poll_error(&mut self, message: &str) -> Result<(), Error>
    where
        N: DerefMut,
    {
        self.commit(&[
            Change::SetMeta {
                key: LAST_ERROR.into(),
                value: message.to_owned(),
            },
            Change::SetMeta {
                key: LAST_ERROR_AT.into(),
                value: self.node.now().unix_timestamp().to_string(),
            },
        ])
    }

    /// The agent's server, last poll, last error and host certificate expiry.
    pub fn agent_summary(&self) -> Result<AgentSummary, Error> {
        let last_error = match (
            self.node.store().meta(LAST_ERROR)?,
            unix(self.node.store().meta(LAST_ERROR_AT)?),
        ) {
            (Some(m), Some(at)) => Some((at, m)),
            _ => None,
        };
        let host: EntryRef = AGENT_HOST_ENTRY.parse()?;
        let host_not_after = self
            .node
            .store()
            .entries(Some(&host.store))?
            .into_iter()
            .find(|m| m.entry == host)
            .map(|m| m.not_after);
        Ok(AgentSummary {
            server: self.node.store().meta(SERVER_URL)?,
            last_poll: unix(self.node.store().meta(LAST_POLL)?),
            last_error,
            host_not_after,
            verification: self.agent_verification()?,
            servers: self.agent_servers()?,
            last_server: self.node.store().meta(LAST_SERVER)?,
        })
    }
}

fn lines(value: Option<String>) -> Vec<String> {
    value
        .map(|v| v.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

impl<S: Store, N: Deref<Target = Node<S>>> Agent<N> {
    /// The servers this agent may poll, without repeats: the one it joined, those given
    /// with `agent join --server`, then those the server advertised last (`[fleet]
    /// servers`). Empty once the server removed this host.
    pub fn agent_servers(&self) -> Result<Vec<String>, Error> {
        let Some(joined) = self.node.store().meta(SERVER_URL)? else {
            return Ok(Vec::new());
        };
        let mut all = vec![joined];
        all.extend(lines(self.node.store().meta(SERVERS_GIVEN)?));
        all.extend(lines(self.node.store().meta(SERVERS_ADVERTISED)?));
        Ok(certherd_protocol::dedup_servers(
            all.iter().map(String::as_str),
        ))
    }

    /// The server that answered last, if any did since the join.
    pub fn agent_last_server(&self) -> Result<Option<String>, Error> {
        Ok(self.node.store().meta(LAST_SERVER)?)
    }

    /// Records the servers given at join (`agent join --server`, repeated).
    pub fn agent_set_servers_given(&mut self, servers: &[String]) -> Result<(), Error>
    where
        N: DerefMut,
    {
        self.commit(&[Change::SetMeta {
            key: SERVERS_GIVEN.into(),
            value: certherd_protocol::dedup_servers(servers.iter().map(String::as_str)).join("\n"),
        }])
    }

    /// Records that `server` answered, and the servers it advertised (none: the list
    /// advertised before is kept, as a server without `[fleet] servers` advertises none).
    pub fn agent_answered(&mut self, server: &str, advertised: &[String]) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let mut changes = vec![Change::SetMeta {
            key: LAST_SERVER.into(),
            value: server.to_owned(),
        }];
        let advertised = certherd_protocol::dedup_servers(advertised.iter().map(String::as_str));
        if !advertised.is_empty() {
            changes.push(Change::SetMeta {
                key: SERVERS_ADVERTISED.into(),
                value: advertised.join("\n"),
            });
        }
        self.commit(&changes)
    }
}
