//! Watched endpoints and files: recording what a scan saw and judging it with the same
//! validator `certherd verify` uses. The scans themselves (sockets, the file system) are
//! the caller's; this module only evaluates and stores.

use certherd_core::{
    EntryKind, EntryMeta, EntryRef, Facts, FileFacts, Finding, Source, StoreName, TlsFacts, Watch,
    WatchKind,
};
use certherd_inspect::{Inspection, Target, TrustPolicy};
use certherd_store::{Change, Entry, Store};
use certherd_x509::{CertInfo, Purpose};

use std::ops::{Deref, DerefMut};

use certherd_authority::{Judge, JudgeAs, Node, ObjectKind, ValueKind};

use crate::Error;

/// What a file scan found in one file.
#[derive(Clone, Debug)]
pub struct FileFinding {
    /// The file's path (the link target's, when it was reached through links).
    pub path: String,
    /// The certificates in it, DER, in file order.
    pub certs: Vec<Vec<u8>>,
    /// What is wrong with the file itself (wrong password, loose key permissions...).
    pub findings: Vec<Finding>,
    /// What it holds.
    pub facts: FileFacts,
}

/// What one endpoint scan produced.
#[derive(Debug)]
pub enum EndpointScan {
    /// The server presented this chain: a TLS session opened, or the handshake failed
    /// after the chain was shown (`failure` says why).
    Presented {
        /// Leaf first.
        chain: Vec<Vec<u8>>,
        /// The protocol version.
        version: String,
        /// The cipher suite.
        cipher_suite: String,
        /// The STARTTLS protocol spoken first, if any.
        starttls: Option<String>,
        /// Why no session opened after the chain was shown (a server requiring a client
        /// certificate), classified by the transport; `None` when the session opened.
        failure: Option<Finding>,
    },
    /// No TLS session: the reason, classified by the transport.
    Failed(Finding),
}

/// A transport finding (no session opened) as `watch` records it: only an endpoint that
/// must verify is critical when no session opens; for the others it is a warning.
fn transport_finding_for(watch: &Watch, f: &Finding) -> Finding {
    let mut f = f.clone();
    if !watch.verify {
        f.severity = f.severity.min(certherd_inspect::Severity::Warning);
    }
    f
}

/// What a scan asks of the node's [`Judge`]: a scanned file's records, and what an
/// endpoint or a file presented judged as its watch says.
pub trait JudgeWatches {
    /// Judges every certificate of one scanned file and prepares its records: a watch per
    /// certificate (named after the path, `-1`, `-2`... for a bundle) with the file's own
    /// findings and the inspection's, and the certificate's entry; a lone watch for a file
    /// without certificates. Pure and `&self`, so many threads can share one judge; the
    /// node writes the result with [`Watches::record_file_scans`].
    fn prepare_file(&self, f: FileFinding) -> Result<Vec<(Watch, Option<Entry>)>, Error>;

    /// Judges what an endpoint presented as its watch says (the name, its pins), with
    /// trust mattering as `policy` says (the watch's own, or `Required` for a diagnosis).
    fn inspect_endpoint(&self, w: &Watch, chain: &[Vec<u8>], policy: TrustPolicy) -> Inspection;

    /// Judges one certificate found in a file, with the file's other certificates as
    /// possible intermediates.
    fn inspect_file_cert(&self, path: &str, certs: &[Vec<u8>], i: usize) -> Inspection;
}

impl JudgeWatches for Judge {
    /// Judges every certificate of one scanned file and prepares its records: a watch per
    fn prepare_file(&self, f: FileFinding) -> Result<Vec<(Watch, Option<Entry>)>, Error> {
        let store = WatchKind::File.store();
        let base = file_alias_base(&f.path);
        let count = f.certs.len().max(1);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let name = if count == 1 {
                base.clone()
            } else {
                format!("{base}-{}", i + 1)
            };
            let r = EntryRef::new(store.clone(), name.parse()?);
            let mut findings = f.findings.clone();
            let mut entry = None;
            if let Some(cert) = f.certs.get(i) {
                let inspection = self.inspect_file_cert(&f.path, &f.certs, i);
                findings.extend(inspection.findings);
                certherd_inspect::sort_findings(&mut findings);
                // The inspection parsed the leaf already; one it cannot decode is reported
                // among its findings, and gets no entry.
                if let Some(info) = inspection.leaf {
                    entry = Some(Entry {
                        meta: EntryMeta {
                            entry: r,
                            kind: EntryKind::Certificate,
                            profile: None,
                            source: Source::Watched,
                            subject: info.subject,
                            issuer: info.issuer,
                            serial: info.serial,
                            not_before: info.not_before,
                            not_after: info.not_after,
                            sha256: info.sha256,
                            issuer_sha256: None,
                            stored_at: self.at(),
                        },
                        cert: cert.clone(),
                        chain: vec![],
                        key: None,
                    });
                }
            }
            out.push((
                Watch {
                    kind: WatchKind::File,
                    name,
                    target: f.path.clone(),
                    server_name: None,
                    verify: false,
                    created_at: self.at(),
                    scanned_at: Some(self.at()),
                    starttls: None,
                    pin: None,
                    findings,
                    facts: Facts::File(f.facts.clone()),
                },
                entry,
            ));
        }
        Ok(out)
    }

    fn inspect_endpoint(&self, w: &Watch, chain: &[Vec<u8>], policy: TrustPolicy) -> Inspection {
        let name = endpoint_check_name(w);
        let pins: Vec<String> = w.pin.iter().cloned().collect();
        self.inspect(
            chain,
            &JudgeAs {
                name: Some(&name),
                purpose: Purpose::Server,
                policy,
                pins: &pins,
                ca_expected: false,
                target: Target::Endpoint {
                    name: &w.name,
                    address: &w.target,
                },
            },
        )
    }

    fn inspect_file_cert(&self, path: &str, certs: &[Vec<u8>], i: usize) -> Inspection {
        let mut chain = Vec::with_capacity(certs.len());
        if let Some(c) = certs.get(i) {
            chain.push(c.clone());
        }
        chain.extend(
            certs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c.clone()),
        );
        self.inspect(
            &chain,
            &JudgeAs {
                name: None,
                purpose: Purpose::Any,
                policy: TrustPolicy::Informational,
                pins: &[],
                ca_expected: true,
                target: Target::File { path },
            },
        )
    }
}

/// The host part of `HOST:PORT`, without IPv6 brackets; a target recorded before the
/// address rules were one (that no longer parses) is its own name.
fn host_of(target: &str) -> String {
    target
        .parse::<certherd_protocol::HostPort>()
        .map_or_else(|_| target.to_owned(), |a| a.host().to_owned())
}

/// The name an endpoint's certificate must cover: its server name, else the host.
pub fn endpoint_check_name(w: &Watch) -> String {
    w.server_name.clone().unwrap_or_else(|| host_of(&w.target))
}

/// How much trust matters for an endpoint: required when it is watched with `--verify`.
pub fn endpoint_policy(w: &Watch) -> TrustPolicy {
    if w.verify {
        TrustPolicy::Required
    } else {
        TrustPolicy::Expected
    }
}

/// A SHA-256 thumbprint as typed (hex, colons or spaces allowed), lower-case.
pub fn parse_sha256(t: &str) -> Result<String, Error> {
    let hex: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Node(certherd_authority::Error::InvalidValue {
            what: ValueKind::Sha256,
            value: t.to_owned(),
        }));
    }
    Ok(hex)
}

/// An alias for a `HOST:PORT` target: `127.0.0.1:8443` becomes `127.0.0.1-8443`.
pub fn endpoint_name_for(target: &str) -> String {
    let mut s: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s = s.trim_matches('-').to_owned();
    s.truncate(64);
    if s.is_empty() {
        "endpoint".into()
    } else {
        s
    }
}

/// The watches over a node's context: endpoints and files certherd inspects but does not
/// own, their scans and their trust. Reached by [`crate::MonitorExt::watches`] (reads) and
/// [`crate::MonitorExt::watches_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Watches<N> {
    node: N,
}

impl<N> Watches<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Watches<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        Ok(self.node.commit(changes)?)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Watches<N> {
    /// Watched endpoints or files (or both), by kind then name.
    pub fn list(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        Ok(self.node.store().watches(kind)?)
    }

    /// One watched endpoint by name.
    pub fn endpoint(&self, name: &str) -> Result<Watch, Error> {
        self.list(Some(WatchKind::Endpoint))?
            .into_iter()
            .find(|w| w.name == name)
            .ok_or_else(|| {
                Error::Node(certherd_authority::Error::NotFound {
                    what: ObjectKind::Endpoint,
                    name: name.to_string(),
                })
            })
    }

    /// `endpoint add`: watch HOST:PORT under NAME.
    pub fn endpoint_add(
        &mut self,
        name: &str,
        address: &certherd_core::ServerAddress,
        server_name: Option<&str>,
        verify: bool,
        starttls: Option<&str>,
    ) -> Result<Watch, Error>
    where
        N: DerefMut,
    {
        // The name becomes an alias in the endpoints store; refuse what cannot be one.
        let _: certherd_core::Alias = name.parse()?;
        if self
            .list(Some(WatchKind::Endpoint))?
            .iter()
            .any(|w| w.name == name)
        {
            return Err(Error::Node(certherd_authority::Error::AlreadyExists {
                what: ObjectKind::Endpoint,
                name: name.to_string(),
            }));
        }
        let watch = Watch {
            kind: WatchKind::Endpoint,
            name: name.to_owned(),
            target: address.to_string(),
            server_name: server_name.map(str::to_owned),
            verify,
            created_at: self.node.now(),
            scanned_at: None,
            starttls: starttls.map(str::to_owned),
            pin: None,
            findings: Vec::new(),
            facts: Facts::None,
        };
        self.commit(&[
            Change::CreateStore(WatchKind::Endpoint.store(), self.node.now()),
            Change::PutWatch(Box::new(watch.clone())),
            self.node.audit(
                "endpoint-add",
                name,
                format!(
                    "{address} verify={verify}{}",
                    starttls
                        .map(|p| format!(" starttls={p}"))
                        .unwrap_or_default()
                ),
            ),
        ])?;
        Ok(watch)
    }

    /// `endpoint remove`: forget the endpoint and the certificate last seen on it.
    pub fn endpoint_remove(&mut self, name: &str) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let w = self.endpoint(name)?;
        let mut changes = vec![Change::DeleteWatch(WatchKind::Endpoint, name.to_owned())];
        if let Some(r) = w.entry() {
            if self.node.store().entry(&r)?.is_some() {
                changes.push(Change::DeleteEntry(r));
            }
        }
        changes.push(self.node.audit("endpoint-remove", name, w.target));
        self.commit(&changes)
    }

    /// `endpoint trust`: pins the certificate the endpoint presented (`leaf`, DER). With a
    /// thumbprint, the certificate must match it or nothing is pinned.
    pub fn endpoint_trust(
        &mut self,
        name: &str,
        leaf: &[u8],
        thumbprint: Option<&str>,
    ) -> Result<Watch, Error>
    where
        N: DerefMut,
    {
        let mut w = self.endpoint(name)?;
        let info = CertInfo::from_der(leaf)?;
        if let Some(t) = thumbprint {
            let t = parse_sha256(t)?;
            if t != info.sha256 {
                return Err(Error::PinMismatch {
                    target: w.target.clone(),
                    sha256: info.sha256.clone(),
                    given: t.clone(),
                });
            }
        }
        w.pin = Some(info.sha256.clone());
        let details = format!("{} sha256={}", w.target, info.sha256);
        self.commit(&[
            Change::PutWatch(Box::new(w.clone())),
            self.node.audit("endpoint-trust", name, details),
        ])?;
        Ok(w)
    }

    /// Records one endpoint scan. With `only`, that watch is updated; otherwise every watch
    /// of that target checked under the same server name (none for the host itself), and a
    /// target first seen under that name gets a watch of its own. Its leaf becomes (or
    /// replaces) `endpoints/NAME`; the watch keeps the facts and every finding.
    pub fn record_endpoint_scan(
        &mut self,
        target: &str,
        server_name: Option<&str>,
        scan: &EndpointScan,
        only: Option<&str>,
    ) -> Result<Vec<Watch>, Error>
    where
        N: DerefMut,
    {
        let (watches, changes) = self.endpoint_scan_changes(target, server_name, scan, only)?;
        self.commit(&changes)?;
        Ok(watches)
    }

    /// Judges one endpoint scan as [`Self::record_endpoint_scan`] would record it, and
    /// records nothing: a one-off scan made with other settings than the watch's (another
    /// STARTTLS protocol) must not rewrite what the watch knows.
    pub fn judge_endpoint_scan(
        &self,
        target: &str,
        server_name: Option<&str>,
        scan: &EndpointScan,
    ) -> Result<Vec<Watch>, Error> {
        Ok(self
            .endpoint_scan_changes(target, server_name, scan, None)?
            .0)
    }

    /// The watches a scan gives and the changes that record them.
    fn endpoint_scan_changes(
        &self,
        target: &str,
        server_name: Option<&str>,
        scan: &EndpointScan,
        only: Option<&str>,
    ) -> Result<(Vec<Watch>, Vec<Change>), Error> {
        let now = self.node.now();
        let all = self.list(Some(WatchKind::Endpoint))?;
        let mut watches: Vec<Watch> = all
            .iter()
            .filter(|w| match only {
                Some(n) => w.name == n,
                None => w.target == target && w.server_name.as_deref() == server_name,
            })
            .cloned()
            .collect();
        if watches.is_empty() {
            let base = endpoint_name_for(target);
            // A scan under another server name is another watch, never a rename of this one.
            let name = match server_name {
                Some(sni) if all.iter().any(|w| w.name == base) => {
                    endpoint_name_for(&format!("{target}-{sni}"))
                }
                _ => base,
            };
            watches.push(Watch {
                kind: WatchKind::Endpoint,
                name,
                target: target.to_owned(),
                server_name: server_name.map(str::to_owned),
                verify: false,
                created_at: now,
                scanned_at: None,
                starttls: None,
                pin: None,
                findings: Vec::new(),
                facts: Facts::None,
            });
        }
        let judge = self.node.judge()?;
        let mut changes = vec![Change::CreateStore(WatchKind::Endpoint.store(), now)];
        for watch in &mut watches {
            watch.scanned_at = Some(now);
            let r = EntryRef::new(WatchKind::Endpoint.store(), watch.name.parse()?);
            match scan {
                EndpointScan::Failed(f) => {
                    watch.findings = vec![transport_finding_for(watch, f)];
                    watch.facts = Facts::None;
                    // What it served before is no longer what it serves: a stale copy would
                    // be judged (and forecast) as if it were still there.
                    if self.node.store().entry(&r)?.is_some() {
                        changes.push(Change::DeleteEntry(r));
                    }
                }
                EndpointScan::Presented {
                    chain,
                    version,
                    cipher_suite,
                    starttls,
                    failure,
                } => {
                    if starttls.is_some() {
                        watch.starttls.clone_from(starttls);
                    }
                    let inspection = judge.inspect_endpoint(watch, chain, endpoint_policy(watch));
                    let leaf = chain.first().ok_or_else(|| Error::NothingPresented)?;
                    let info = match &inspection.leaf {
                        Some(i) => i.clone(),
                        None => CertInfo::from_der(leaf)?,
                    };
                    watch.facts = Facts::Tls(TlsFacts {
                        tls_version: version.clone(),
                        cipher_suite: cipher_suite.clone(),
                        starttls: starttls.clone(),
                        key: info.public_key.clone(),
                        signature: info.signature_algorithm.clone(),
                        chain_length: chain.len(),
                        trusted: inspection.trusted,
                        pinned: inspection.pinned,
                        name: endpoint_check_name(watch),
                        covers_name: inspection.covers_name.unwrap_or(false),
                    });
                    watch.findings = inspection.findings;
                    if let Some(f) = failure {
                        watch.findings.push(transport_finding_for(watch, f));
                        certherd_inspect::sort_findings(&mut watch.findings);
                    }
                    let meta = self.node.meta_for(
                        r,
                        &info,
                        EntryKind::Certificate,
                        None,
                        Source::Watched,
                        None,
                    );
                    changes.push(Change::PutEntry {
                        entry: Box::new(Node::<S>::entry_with_key(
                            meta,
                            leaf.clone(),
                            chain[1..].to_vec(),
                            None,
                        )),
                        replace: true,
                    });
                }
            }
            changes.push(Change::PutWatch(Box::new(watch.clone())));
        }
        Ok((watches, changes))
    }

    /// Records what a file scan found, file by file, as [`JudgeWatches::prepare_file`] prepared
    /// it: each certificate as `files/ALIAS` (a bundle gives several) with its watch, and a
    /// watch alone for a file without certificates (an orphaned key, a wrong password).
    /// Entries an earlier scan recorded for a file that now holds fewer certificates are
    /// removed. Written `batch` files per transaction; after each commit `recorded` sees
    /// every watch written (with its entry's facts), so a caller can stream its report and
    /// nothing is held for the whole scan. Returns how many watches were written.
    pub fn record_file_scans(
        &mut self,
        files: impl IntoIterator<Item = Vec<(Watch, Option<Entry>)>>,
        batch: usize,
        recorded: &mut dyn FnMut(&Watch, Option<&EntryMeta>),
    ) -> Result<usize, Error>
    where
        N: DerefMut,
    {
        // What earlier scans recorded per path, so a file that now holds fewer certificates
        // (a bundle trimmed to one) leaves no stale entries behind.
        let mut earlier: std::collections::HashMap<String, Vec<String>> = Default::default();
        for w in self.node.store().watches(Some(WatchKind::File))? {
            earlier.entry(w.target).or_default().push(w.name);
        }
        let store = WatchKind::File.store();
        let mut written = 0;
        let mut changes = vec![Change::CreateStore(store.clone(), self.node.now())];
        let mut in_batch = 0;
        let mut files = files.into_iter().peekable();
        while let Some(records) = files.next() {
            if let Some((first, _)) = records.first() {
                if let Some(before) = earlier.remove(&first.target) {
                    for stale in before
                        .into_iter()
                        .filter(|n| !records.iter().any(|(w, _)| &w.name == n))
                    {
                        let r = EntryRef::new(store.clone(), stale.parse()?);
                        if self.node.store().entry(&r)?.is_some() {
                            changes.push(Change::DeleteEntry(r));
                        }
                        changes.push(Change::DeleteWatch(WatchKind::File, stale));
                    }
                }
            }
            for (watch, entry) in records {
                if let Some(e) = entry {
                    changes.push(Change::PutEntry {
                        entry: Box::new(e),
                        replace: true,
                    });
                }
                changes.push(Change::PutWatch(Box::new(watch)));
            }
            in_batch += 1;
            if in_batch >= batch.max(1) || files.peek().is_none() {
                self.commit(&changes)?;
                let mut meta: Option<&EntryMeta> = None;
                for c in &changes {
                    match c {
                        Change::PutEntry { entry, .. } => meta = Some(&entry.meta),
                        Change::PutWatch(w) => {
                            let m = meta.take().filter(|m| m.entry.alias.as_str() == w.name);
                            recorded(w, m);
                            written += 1;
                        }
                        _ => meta = None,
                    }
                }
                changes.clear();
                in_batch = 0;
            }
        }
        Ok(written)
    }

    /// Whether a store is one certherd fills itself.
    pub fn is_managed_store(store: &StoreName) -> bool {
        store.is_managed()
    }
}

/// A stable alias for a file path: its name, made alias-safe, and a hash of the whole path
/// so two `server.pem` in different directories stay apart.
fn file_alias_base(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let mut name: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    name.truncate(40);
    let hash = &certherd_x509::hex(&certherd_x509::sha256(path.as_bytes()))[..10];
    if name.is_empty() {
        format!("f{hash}")
    } else {
        format!("{name}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_for_targets_and_files_are_valid_aliases() {
        assert_eq!(endpoint_name_for("127.0.0.1:8443"), "127.0.0.1-8443");
        assert_eq!(endpoint_name_for("[::1]:443"), "1-443");
        let a = file_alias_base("/etc/ssl/server.pem");
        let b = file_alias_base("/opt/app/server.pem");
        assert_ne!(a, b);
        for s in [
            a,
            b,
            file_alias_base("/x/.hidden key.pem"),
            file_alias_base("/"),
        ] {
            assert!(s.parse::<certherd_core::Alias>().is_ok(), "{s}");
            assert!(s.len() <= 64);
        }
    }
}
