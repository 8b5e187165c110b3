//! The node, the shared context: a store, its settings, the profiles and the clock, the
//! public context API the operations and the features in other crates build on, and the
//! accessors of this crate's facets (see the crate documentation).

use std::rc::Rc;

use certherd_core::{
    Clock, EntryKind, EntryMeta, EntryRef, OffsetDateTime, Profiles, RenewalPolicy, Settings,
    Source, Span, StoreName, Thresholds,
};
use certherd_store::{AuditRecord, Change, Entry, Secret, Store};
use certherd_x509::{
    CertInfo, CertificateDer, CertificateRevocationListDer, KeyAlgorithm, PrivateKey,
};

use crate::{Admin, Error, Revocations};

/// The system clock, for the binary. Everything else takes a [`Clock`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

pub(crate) mod keys {
    pub const HOSTNAME: &str = "node.hostname";
    pub const IPS: &str = "node.ips";
    pub const MODE: &str = "node.mode";
    pub const KEY_ALGO: &str = "node.key_algo";
    pub const CA_CURRENT: &str = "ca.current";
    pub const CA_RETIRING: &str = "ca.retiring";
    /// The second (`YYYYMMDDhhmmss`) the last rotation's CA is named after.
    pub const CA_ROTATED_AT: &str = "ca.rotated-at";
    pub const PENDING_CA_KEY: &str = "ca.pending-key";
}

/// How many backups of one entry may be made within one second.
const BACKUP_SEQUENCE_LIMIT: u32 = 1000;

/// The longest alias (see `certherd_core::EntryRef`).
const MAX_ALIAS: usize = 64;

/// The backup alias of `r` for the `n`th backup within the second `stamp`: readable when
/// it fits, else a cut prefix made unique by a hash of the whole name. The stamp and `n`
/// are never cut.
fn backup_alias(r: &EntryRef, stamp: &str, n: u32) -> String {
    let suffix = if n == 0 {
        format!(".{stamp}")
    } else {
        format!(".{stamp}.{n}")
    };
    let readable = format!("{}.{}{suffix}", r.store, r.alias);
    if readable.len() <= MAX_ALIAS {
        return readable;
    }
    let digest = certherd_x509::hex(&certherd_x509::sha256(r.to_string().as_bytes()));
    let hash = digest.get(..8).unwrap_or(&digest);
    let room = MAX_ALIAS.saturating_sub(1 + hash.len() + suffix.len());
    // Names are ASCII (a-z, A-Z, 0-9, '.', '_', '-'), so a byte cut is a character cut.
    let full = format!("{}.{}", r.store, r.alias);
    let prefix = full.get(..room.min(full.len())).unwrap_or(&full);
    format!("{prefix}.{hash}{suffix}")
}

/// Called with a crash-point name (`renew.issued`, `renew.committed`, `rotate.new-root`);
/// tests make it abort or panic there.
pub type FaultHook = Rc<dyn Fn(&str)>;

/// One node's certificate inventory: the shared context (store, clock, settings, profiles,
/// signing CA, audit, commit, the one replace-entry step) with the authority's own
/// operations; the other features are facets reached through accessors: here
/// ([`Node::admin`], [`Node::revocations`]), or through the extension traits of the
/// crates that hold them (`certherd_fleet::FleetExt`, `certherd_monitor::MonitorExt`).
pub struct Node<S: Store> {
    pub(crate) store: S,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) profiles: Profiles,
    pub(crate) thresholds: Thresholds,
    pub(crate) policy: RenewalPolicy,
    pub(crate) fault: Option<FaultHook>,
    /// The signing CA, loaded and unsealed once; dropped whenever a batch is committed
    /// that could change it.
    ca_cache: std::cell::RefCell<Option<Rc<SigningCa>>>,
    key_algo_cache: std::cell::Cell<Option<KeyAlgorithm>>,
    /// The name this process goes by in what it sends (a server's `--hostname`), when it
    /// is not the home's hostname.
    node_name: Option<String>,
}

impl<S: Store> std::fmt::Debug for Node<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

/// The current signing CA, loaded.
pub(crate) struct SigningCa {
    pub alias: EntryRef,
    pub cert: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
    pub key: PrivateKey,
    pub info: CertInfo,
    pub sha256: String,
}

impl<S: Store> Node<S> {
    /// A node over `store`, with settings parsed from certherd.toml text (if any).
    /// `config_path` is only used to name the file in errors.
    pub fn new(
        store: S,
        clock: Box<dyn Clock>,
        config: Option<&str>,
        config_path: &str,
    ) -> Result<Self, Error> {
        let cfg_err = |detail: String| Error::Config {
            path: config_path.to_owned(),
            detail,
        };
        let settings: Settings = match config {
            Some(text) => toml::from_str(text)
                .map_err(|e| cfg_err(e.to_string().trim().replace('\n', " ")))?,
            None => Settings::default(),
        };
        let profiles = settings.profiles().map_err(|e| cfg_err(e.to_string()))?;
        let thresholds = settings.thresholds().map_err(|e| cfg_err(e.to_string()))?;
        let policy = settings
            .renewal_policy()
            .map_err(|e| cfg_err(e.to_string()))?;
        settings.crl.policy().map_err(|e| cfg_err(e.to_string()))?;
        // A wrong agent target is said when the home opens, as every other setting is,
        // not first at the agent's deploy, after it has polled.
        for target in &settings.agent.targets {
            target.resolve().map_err(|e| cfg_err(e.to_string()))?;
        }
        Ok(Self {
            store,
            clock,
            settings,
            profiles,
            thresholds,
            policy,
            fault: None,
            ca_cache: Default::default(),
            key_algo_cache: Default::default(),
            node_name: None,
        })
    }

    /// The admin credentials, to read.
    pub fn admin(&self) -> Admin<&Self> {
        Admin::new(self)
    }

    /// The admin credentials, to change.
    pub fn admin_mut(&mut self) -> Admin<&mut Self> {
        Admin::new(self)
    }

    /// Revocation and the published CRLs, to read.
    pub fn revocations(&self) -> Revocations<&Self> {
        Revocations::new(self)
    }

    /// Revocation and the published CRLs, to change.
    pub fn revocations_mut(&mut self) -> Revocations<&mut Self> {
        Revocations::new(self)
    }

    /// Names the process using this node (a server started with `--hostname`) in what it
    /// sends, such as webhook notifications' `node`; by default the home's hostname.
    pub fn set_node_name(&mut self, name: String) {
        self.node_name = Some(name);
    }

    /// The name of the process using this node: the one set with
    /// [`Node::set_node_name`], else the home's hostname.
    pub fn node_name(&self) -> Result<String, Error> {
        match &self.node_name {
            Some(n) => Ok(n.clone()),
            None => self.hostname(),
        }
    }

    /// The settings from certherd.toml, defaults filled where they have any.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Installs a fault-injection hook called at named crash points (tests only).
    pub fn set_fault_hook(&mut self, hook: FaultHook) {
        self.fault = Some(hook);
    }

    pub(crate) fn fault_point(&self, name: &str) {
        if let Some(h) = &self.fault {
            h(name);
        }
    }

    /// The store (read-only).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The profiles in force.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The check thresholds in force.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The renewal policy in force.
    pub fn renewal_policy(&self) -> RenewalPolicy {
        self.policy
    }

    /// Backup retention in force.
    pub fn backup_retention(&self) -> Span {
        self.settings.backup_retention()
    }

    /// The clock's current instant.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Whether this home is a joined host's (an agent's): the authority issues, renews
    /// and resets nothing there, as the host's certificates come from its server.
    pub fn is_agent(&self) -> Result<bool, Error> {
        Ok(self.store.meta(keys::MODE)?.as_deref() == Some("agent"))
    }

    /// The changes that make this home a joined host's named `hostname` (see
    /// [`Node::is_agent`]), for the batch that installs its identity.
    pub fn agent_mode_changes(hostname: &str) -> Vec<Change> {
        vec![
            Change::SetMeta {
                key: keys::HOSTNAME.into(),
                value: hostname.to_owned(),
            },
            Change::SetMeta {
                key: keys::MODE.into(),
                value: "agent".into(),
            },
        ]
    }

    /// The node's hostname, set at init.
    pub fn hostname(&self) -> Result<String, Error> {
        Ok(self.store.meta(keys::HOSTNAME)?.unwrap_or_default())
    }

    /// The key algorithm keys are made with when neither the caller nor the profile
    /// names one (`init --key-algo`).
    pub fn default_key_algo(&self) -> KeyAlgorithm {
        if let Some(a) = self.key_algo_cache.get() {
            return a;
        }
        let a = self
            .store
            .meta(keys::KEY_ALGO)
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        self.key_algo_cache.set(Some(a));
        a
    }

    /// An audit record of `action` on `subject` at the clock's instant, to apply in the
    /// batch it describes (so the record and the change stand or fall together).
    pub fn audit(&self, action: &str, subject: impl ToString, detail: impl Into<String>) -> Change {
        Change::Audit(AuditRecord {
            at: self.now(),
            action: action.to_owned(),
            subject: subject.to_string(),
            detail: detail.into(),
        })
    }

    /// The entry at `r`, or [`Error::NoSuchEntry`].
    pub fn load(&self, r: &EntryRef) -> Result<Entry, Error> {
        self.store
            .entry(r)?
            .ok_or_else(|| Error::NoSuchEntry(r.clone()))
    }

    pub(crate) fn signing_ca(&self) -> Result<Rc<SigningCa>, Error> {
        if let Some(ca) = self.ca_cache.borrow().as_ref() {
            // Another process (a `ca rotate` beside a running server) may have moved the
            // current CA on; one indexed read tells.
            let current = self.store.meta(keys::CA_CURRENT)?;
            if current.as_deref() == Some(ca.alias.alias.as_str()) {
                return Ok(ca.clone());
            }
        }
        let ca = Rc::new(self.load_signing_ca()?);
        *self.ca_cache.borrow_mut() = Some(ca.clone());
        Ok(ca)
    }

    fn load_signing_ca(&self) -> Result<SigningCa, Error> {
        let alias = self.store.meta(keys::CA_CURRENT)?.ok_or(Error::CaNotReady(
            "subordinate mode is waiting for the enterprise CA's signed certificate",
        ))?;
        let r: EntryRef = format!("{}/{alias}", StoreName::CA).parse()?;
        let e = self.load(&r)?;
        let key_der = e
            .key
            .as_ref()
            .ok_or(Error::CaNotReady("the CA entry has no private key"))?;
        let key = certherd_x509::parse_private_key(key_der.expose())?;
        let info = CertInfo::from_der(&e.cert)?;
        Ok(SigningCa {
            alias: r,
            sha256: e.meta.sha256.clone(),
            cert: e.cert,
            chain: e.chain,
            key,
            info,
        })
    }

    /// Trusted certificates (trusted-roots), DER.
    pub fn trust_anchors(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        let store: StoreName = StoreName::TRUSTED_ROOTS.parse()?;
        let mut out = Vec::new();
        for m in self.store.entries(Some(&store))? {
            out.push(CertificateDer::from(self.load(&m.entry)?.cert));
        }
        Ok(out)
    }

    /// Trusted CRLs, DER.
    pub fn trusted_crls(&self) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
        Ok(self
            .store
            .crls()?
            .into_iter()
            .map(|c| CertificateRevocationListDer::from(c.der))
            .collect())
    }

    /// Entry facts from a certificate, for writing, stored at the clock's instant.
    pub fn meta_for(
        &self,
        entry: EntryRef,
        info: &CertInfo,
        kind: EntryKind,
        profile: Option<&str>,
        source: Source,
        issuer_sha256: Option<String>,
    ) -> EntryMeta {
        EntryMeta {
            entry,
            kind,
            profile: profile.map(str::to_owned),
            source,
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            serial: info.serial.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            sha256: info.sha256.clone(),
            issuer_sha256,
            stored_at: self.now(),
        }
    }

    /// An entry to write: its facts, certificate, chain (above the certificate) and the
    /// private key, if this side holds it.
    pub fn entry_with_key(
        meta: EntryMeta,
        cert: Vec<u8>,
        chain: Vec<Vec<u8>>,
        key: Option<&PrivateKey>,
    ) -> Entry {
        Entry {
            meta,
            cert,
            chain,
            key: key.map(|k| Secret::new(k.secret_der().to_vec())),
        }
    }

    /// A free alias in the backup store for a superseded `r`, stamped with the time.
    ///
    /// `STORE.ALIAS.TIMESTAMP` (then `.1`, `.2`, ... within one second) while that fits
    /// the 64-character limit of an alias; a longer name keeps a readable prefix and adds
    /// the first 8 hex digits of the SHA-256 of `STORE/ALIAS`, so the timestamp and the
    /// sequence always survive and every valid entry can be backed up any number of times.
    pub(crate) fn backup_ref(&self, r: &EntryRef, taken: &[EntryRef]) -> Result<EntryRef, Error> {
        let now = self.now();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let backup: StoreName = StoreName::BACKUP.parse()?;
        for n in 0..BACKUP_SEQUENCE_LIMIT {
            let candidate = EntryRef::new(backup.clone(), backup_alias(r, &stamp, n).parse()?);
            if !taken.contains(&candidate) && self.store.entry(&candidate)?.is_none() {
                return Ok(candidate);
            }
        }
        Err(Error::NoFreeBackupAlias(r.clone()))
    }

    /// The first half of every replacement: changes that keep the live entry at `r`, if
    /// there is one, in the backup store (under a name not in `taken`), with that name.
    /// Applied in the same transaction as what takes its place, so a crash at any point
    /// leaves either the old entry live or the new one live with the old one kept.
    pub fn displace(
        &self,
        r: &EntryRef,
        taken: &[EntryRef],
    ) -> Result<(Vec<Change>, Option<EntryRef>), Error> {
        if self.store.entry(r)?.is_none() {
            return Ok((Vec::new(), None));
        }
        let to = self.backup_ref(r, taken)?;
        let now = self.now();
        Ok((
            vec![
                Change::CreateStore(StoreName::BACKUP.parse()?, now),
                Change::MoveEntry {
                    from: r.clone(),
                    to: to.clone(),
                    at: now,
                },
            ],
            Some(to),
        ))
    }

    /// The one replace-entry step: the live entry at `entry`'s name (if any) moved to the
    /// backup store, then `entry` put in its place (never over anything not moved), with
    /// the backup's name.
    pub fn replace_entry(&self, entry: Entry) -> Result<(Vec<Change>, Option<EntryRef>), Error> {
        let (mut changes, backup) = self.displace(&entry.meta.entry, &[])?;
        changes.push(Change::PutEntry {
            entry: Box::new(entry),
            replace: false,
        });
        Ok((changes, backup))
    }

    /// Changes that delete backup entries older than the retention.
    pub(crate) fn prune_changes(&self) -> Result<Vec<Change>, Error> {
        let backup: StoreName = StoreName::BACKUP.parse()?;
        let cutoff = self.backup_retention().before(self.now());
        let mut out = Vec::new();
        for m in self.store.entries(Some(&backup))? {
            if m.stored_at < cutoff {
                out.push(Change::DeleteEntry(m.entry.clone()));
                out.push(self.audit("backup-prune", &m.entry, "retention elapsed"));
            }
        }
        Ok(out)
    }

    /// Applies a batch in one transaction, dropping what the node caches of its CA when
    /// the batch could change it. Every write of every feature goes through here.
    pub fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        let ca = StoreName::CA;
        let touches_ca = changes.iter().any(|c| match c {
            Change::SetMeta { .. }
            | Change::DeleteMeta(_)
            | Change::PutSecret { .. }
            | Change::DeleteSecret(_) => true,
            Change::PutEntry { entry, .. } => entry.meta.entry.store.as_str() == ca,
            Change::DeleteEntry(r) => r.store.as_str() == ca,
            Change::MoveEntry { from, to, .. } => {
                from.store.as_str() == ca || to.store.as_str() == ca
            }
            _ => false,
        });
        if touches_ca {
            self.ca_cache.borrow_mut().take();
            self.key_algo_cache.set(None);
        }
        self.store.apply(changes)?;
        Ok(())
    }
}
