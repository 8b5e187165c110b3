//! The scan pipelines over a node: probe endpoints and record what they present, pin an
//! endpoint, diagnose one, and walk-read-judge-record files. Each returns a typed result;
//! progress is told to a callback; rendering is the caller's.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use certherd_authority::Node;
use certherd_core::{EntryMeta, Facts, Finding, Watch, WatchKind};
use certherd_inspect::{FindingKind, Severity, TrustPolicy};
use certherd_store::{Entry, HomeStore, Store};
use certherd_tls::{Probe, StartTls};
use certherd_x509::certificate_spki;

use crate::files::{examine, mark_orphaned_keys, Examined, ExaminedFile};
use crate::probe::{probe_all, starttls_for, transport_finding, ProbeJob};
use crate::walk::{SkippedPath, Walk};
use crate::{EndpointScan, Error, FileFinding, JudgeWatches, MonitorExt};

/// Why a scan pipeline failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A node operation (reading watches, judging, recording) failed.
    #[error(transparent)]
    Node(#[from] Error),
    /// The endpoint could not be reached or refused the TLS session.
    #[error("{name} ({target}): {}", finding.message)]
    Transport {
        /// The watch's name.
        name: String,
        /// Its `HOST:PORT`.
        target: String,
        /// Why, as a finding (its hint says what to do); boxed, as findings are large.
        finding: Box<Finding>,
    },
    /// The endpoint presented no certificate.
    #[error("{0} presented no certificate; nothing was pinned")]
    NoCertificate(String),
}

/// What a probe found, as the node records it.
pub fn scan_of(job: &ProbeJob, probe: Result<Probe, certherd_tls::Error>) -> EndpointScan {
    match probe {
        Ok(p) if p.chain.is_empty() => EndpointScan::Failed(no_certificate()),
        Ok(p) => EndpointScan::Presented {
            chain: p.chain.iter().map(|c| c.to_vec()).collect(),
            version: p.version,
            cipher_suite: p.cipher_suite,
            starttls: job.starttls.map(|s| s.as_str().to_owned()),
            failure: None,
        },
        // Refused after showing its chain (mutual TLS): the chain is judged all the same.
        Err(
            ref e @ certherd_tls::Error::AfterCertificate {
                ref chain,
                ref version,
                ref cipher_suite,
                ..
            },
        ) => EndpointScan::Presented {
            chain: chain.iter().map(|c| c.to_vec()).collect(),
            version: version.clone(),
            cipher_suite: cipher_suite.clone(),
            starttls: job.starttls.map(|s| s.as_str().to_owned()),
            failure: Some(transport_finding(e)),
        },
        Err(e) => EndpointScan::Failed(transport_finding(&e)),
    }
}

fn no_certificate() -> Finding {
    Finding::new(
        FindingKind::NoCertificate,
        Severity::Critical,
        "the server presented no certificate",
    )
}

/// The probe a watch is scanned with: its target, server name and STARTTLS protocol.
pub fn job_of(w: &Watch) -> ProbeJob {
    ProbeJob {
        target: w.target.clone(),
        server_name: w.server_name.clone(),
        starttls: starttls_for(
            &w.target,
            w.starttls.as_deref().and_then(|p| p.parse().ok()),
        ),
    }
}

/// One probe.
pub fn probe_one(job: &ProbeJob, t: Duration) -> Result<Probe, certherd_tls::Error> {
    probe_all(std::slice::from_ref(job), 1, t, &|| {})
        .pop()
        .unwrap_or_else(|| Err(certherd_tls::Error::Handshake("no probe result".into())))
}

/// What `scan tls` asks.
#[derive(Debug, Clone)]
pub struct TlsScanRequest {
    /// `HOST:PORT` targets, each once.
    pub targets: Vec<String>,
    /// The server name to send and check; `None`: the host, and every name its watches
    /// were added with.
    pub sni: Option<String>,
    /// The STARTTLS protocol asked for, if any (else each watch's, else by port).
    pub starttls: Option<StartTls>,
    /// Probes at once.
    pub concurrency: usize,
    /// The bound of each probe.
    pub timeout: Duration,
}

/// What `scan tls` found and recorded.
#[derive(Debug, Default)]
pub struct TlsScanned {
    /// Every watch scanned, recorded or only judged, in target order.
    pub shown: Vec<Watch>,
    /// The watches this scan added.
    pub new_names: Vec<String>,
    /// Watches left alone because the scan spoke another STARTTLS protocol than they were
    /// recorded with: name and that protocol (`none` for plain TLS).
    pub kept: Vec<(String, String)>,
}

impl TlsScanned {
    /// The worst finding of all.
    pub fn worst(&self) -> Option<Severity> {
        self.shown
            .iter()
            .map(|w| certherd_inspect::worst(&w.findings))
            .max()
            .flatten()
    }
}

/// The probes of a `scan tls`: each target under the name asked for; without one, under
/// the host and under every server name its watches were added with, so no name sticks
/// by accident.
pub fn tls_jobs(r: &TlsScanRequest, watches: &[Watch]) -> Vec<ProbeJob> {
    let mut jobs = Vec::new();
    for target in &r.targets {
        let mut names: Vec<Option<String>> = vec![r.sni.clone()];
        if r.sni.is_none() {
            for w in watches.iter().filter(|w| &w.target == target) {
                if !names.contains(&w.server_name) {
                    names.push(w.server_name.clone());
                }
            }
        }
        for server_name in names {
            let remembered = watches
                .iter()
                .find(|w| &w.target == target && w.server_name == server_name)
                .and_then(|w| w.starttls.as_deref())
                .and_then(|p| p.parse::<StartTls>().ok());
            jobs.push(ProbeJob {
                target: target.clone(),
                server_name,
                starttls: starttls_for(target, r.starttls.or(remembered)),
            });
        }
    }
    jobs
}

/// `scan tls`: probes every job, records each scan on its watches (adding watches for
/// new targets); `started` is told the number of probes, `tick` each one done.
pub fn scan_tls<S: Store>(
    node: &mut Node<S>,
    r: &TlsScanRequest,
    started: impl FnOnce(usize),
    tick: &(dyn Fn() + Sync),
) -> Result<TlsScanned, Error> {
    let watches = node.watches().list(Some(WatchKind::Endpoint))?;
    let jobs = tls_jobs(r, &watches);
    started(jobs.len());
    let probes = probe_all(&jobs, r.concurrency, r.timeout, tick);
    let mut out = TlsScanned::default();
    for (job, probe) in jobs.iter().zip(probes) {
        let scan = scan_of(job, probe);
        let watched = watches
            .iter()
            .find(|w| w.target == job.target && w.server_name == job.server_name);
        // A scan made another way than the watch makes it (another STARTTLS protocol) is
        // shown, never recorded over what the watch knows.
        let differs = watched.is_some_and(|w| {
            let remembered = w
                .starttls
                .as_deref()
                .and_then(|p| p.parse::<StartTls>().ok());
            starttls_for(&job.target, remembered) != job.starttls
        });
        if let (true, Some(w)) = (differs, watched) {
            // The protocol the watch was recorded with, not the one this scan spoke (a
            // judged scan that opened takes the scan's protocol).
            out.kept.push((
                w.name.clone(),
                w.starttls.clone().unwrap_or_else(|| "none".into()),
            ));
            out.shown.extend(node.watches().judge_endpoint_scan(
                &job.target,
                job.server_name.as_deref(),
                &scan,
            )?);
            continue;
        }
        let recorded = node.watches_mut().record_endpoint_scan(
            &job.target,
            job.server_name.as_deref(),
            &scan,
            None,
        )?;
        if watched.is_none() {
            out.new_names
                .extend(recorded.iter().map(|w| w.name.clone()));
        }
        out.shown.extend(recorded);
    }
    Ok(out)
}

/// What `endpoint trust` pinned.
#[derive(Debug)]
pub struct Trusted {
    /// The watch, pinned.
    pub watch: Watch,
    /// The leaf certificate pinned (DER).
    pub leaf: Vec<u8>,
}

/// `endpoint trust`: pins what the endpoint presents now (after checking the thumbprint,
/// when given), and records the scan.
pub fn trust<S: Store>(
    node: &mut Node<S>,
    name: &str,
    thumbprint: Option<&str>,
    t: Duration,
) -> Result<Trusted, ScanError> {
    if let Some(tp) = thumbprint {
        // A malformed pin is refused before anything is contacted.
        crate::parse_sha256(tp)?;
    }
    let w = node.watches().endpoint(name)?;
    let job = job_of(&w);
    let probe = probe_one(&job, t).map_err(|e| ScanError::Transport {
        name: name.to_owned(),
        target: w.target.clone(),
        finding: Box::new(transport_finding(&e)),
    })?;
    let leaf = probe
        .chain
        .first()
        .ok_or_else(|| ScanError::NoCertificate(name.to_owned()))?
        .to_vec();
    let pinned = node.watches_mut().endpoint_trust(name, &leaf, thumbprint)?;
    let scan = scan_of(&job, Ok(probe));
    node.watches_mut().record_endpoint_scan(
        &w.target,
        w.server_name.as_deref(),
        &scan,
        Some(name),
    )?;
    Ok(Trusted {
        watch: pinned,
        leaf,
    })
}

/// Whose configuration a diagnosis points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A verifying client accepts the certificate.
    Ok,
    /// No TLS session, even without verification: network or credentials.
    Network,
    /// The service does not offer TLS (STARTTLS refused).
    Service,
    /// The server offers only protocols current clients refuse.
    Server,
    /// The server requires a client certificate.
    Credentials,
    /// A TLS session opens without verification; with verification it fails.
    Certificate,
}

impl Verdict {
    /// Its name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Network => "network",
            Self::Service => "service",
            Self::Server => "server",
            Self::Credentials => "credentials",
            Self::Certificate => "certificate",
        }
    }
}

/// The verdict a transport finding gives: whose configuration to look at.
pub fn transport_verdict(kind: FindingKind) -> Verdict {
    match kind {
        FindingKind::StarttlsRefused => Verdict::Service,
        FindingKind::ObsoleteProtocol => Verdict::Server,
        FindingKind::ClientCertificateRequired => Verdict::Credentials,
        _ => Verdict::Network,
    }
}

/// What `endpoint diagnose` found.
#[derive(Debug)]
pub struct Diagnosis {
    /// The watch diagnosed.
    pub watch: Watch,
    /// The name the certificate was checked against.
    pub check_name: String,
    /// The STARTTLS protocol spoken, if any.
    pub starttls: Option<StartTls>,
    /// Whose configuration to look at.
    pub verdict: Verdict,
    /// Every finding, critical first.
    pub findings: Vec<Finding>,
    /// The facts the watch recorded from this scan.
    pub facts: Facts,
}

/// Seed 004's rule, automated: the chain is fetched without verification and then judged
/// as a verifying client would. No TLS session at all means network or credentials; a
/// session whose certificate fails means a certificate problem, with every reason. The
/// scan is recorded on the watch.
pub fn diagnose<S: Store>(node: &mut Node<S>, name: &str, t: Duration) -> Result<Diagnosis, Error> {
    let w = node.watches().endpoint(name)?;
    let check_name = crate::endpoint_check_name(&w);
    let job = job_of(&w);
    let probe = probe_one(&job, t);
    let (verdict, findings) = match &probe {
        // Refused after showing its chain: the chain judged as below, and why it refused.
        Err(e @ certherd_tls::Error::AfterCertificate { chain, .. }) => {
            let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
            let mut i = node
                .judge()?
                .inspect_endpoint(&w, &chain, TrustPolicy::Required);
            let f = transport_finding(e);
            let verdict = match transport_verdict(f.kind) {
                Verdict::Network if i.worst() == Some(Severity::Critical) => Verdict::Certificate,
                v => v,
            };
            i.findings.push(f);
            certherd_inspect::sort_findings(&mut i.findings);
            (verdict, i.findings)
        }
        Err(e) => {
            let f = transport_finding(e);
            (transport_verdict(f.kind), vec![f])
        }
        Ok(p) if p.chain.is_empty() => (Verdict::Certificate, vec![no_certificate()]),
        Ok(p) => {
            let chain: Vec<Vec<u8>> = p.chain.iter().map(|c| c.to_vec()).collect();
            // As a verifying client sees it, whatever the watch's own setting.
            let i = node
                .judge()?
                .inspect_endpoint(&w, &chain, TrustPolicy::Required);
            // A verifying client refuses only what is critical; warnings are listed too.
            (
                if i.worst() == Some(Severity::Critical) {
                    Verdict::Certificate
                } else {
                    Verdict::Ok
                },
                i.findings,
            )
        }
    };
    // What the scan saw is what the watch records.
    let scan = scan_of(&job, probe);
    node.watches_mut().record_endpoint_scan(
        &w.target,
        w.server_name.as_deref(),
        &scan,
        Some(name),
    )?;
    let facts = node
        .watches()
        .endpoint(name)
        .map(|w| w.facts)
        .unwrap_or(Facts::None);
    Ok(Diagnosis {
        watch: w,
        check_name,
        starttls: job.starttls,
        verdict,
        findings,
        facts,
    })
}

/// What a scan of files read and recorded (the watches themselves went to the caller's
/// callback as they were committed).
#[derive(Debug, Default)]
pub struct FilesScanned {
    /// Files read.
    pub examined: usize,
    /// Files that hold certificates or keys.
    pub with_findings: usize,
    /// Everything not read, in the walk and by the readers, in path order.
    pub skipped: Vec<SkippedPath>,
}

/// One file's records, judged by a worker; `None` when the file holds nothing (or holds
/// keys, which wait for the whole scan: see `mark_orphaned_keys`).
type Prepared = Option<Result<Vec<(Watch, Option<Entry>)>, Error>>;

/// A file read, as the node records it.
pub fn finding_of(r: ExaminedFile) -> FileFinding {
    FileFinding {
        path: crate::walk::path_text(&r.path),
        certs: r.certs,
        findings: r.findings,
        facts: r.facts,
    }
}

/// `scan files` over what a walk found: workers read, parse and judge, in walk order;
/// this thread records in batches as results arrive (reordered), so the disk, the
/// parsing and the database overlap and only a window of results is in memory at a time.
/// `tick` is told each file done (from this thread), `recorded` each watch committed.
pub fn scan_files(
    node: &mut Node<HomeStore>,
    walked: &Walk,
    password: Option<&str>,
    tick: &mut dyn FnMut(),
    recorded: &mut dyn FnMut(&Watch, Option<&EntryMeta>),
) -> Result<FilesScanned, Error> {
    // A scan of a whole disk must not grow the database's cache without bound.
    node.store().bound_memory().map_err(Error::from)?;
    let judge = node.judge()?;
    let files = &walked.files;
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let keyed: Mutex<Vec<(usize, ExaminedFile)>> = Mutex::new(Vec::new());
    let skipped_files: Mutex<Vec<SkippedPath>> = Mutex::new(Vec::new());
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Prepared)>(512);
    let mut with_findings = 0;
    let mut failed: Option<Error> = None;
    let (written, cert_keys) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (tx, next, keyed, judge) = (tx.clone(), &next, &keyed, &judge);
                let skipped_files = &skipped_files;
                s.spawn(move || {
                    // Every certificate's public key, for the keys found: kept small (the
                    // SubjectPublicKeyInfo only), and only until the scan ends.
                    let mut cert_keys: HashSet<Vec<u8>> = HashSet::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        let examined = match examine(f, password) {
                            Examined::File(r) => Some(r),
                            Examined::Nothing => None,
                            Examined::Skipped(reason) => {
                                if let Ok(mut k) = skipped_files.lock() {
                                    k.push(SkippedPath {
                                        path: f.path.clone(),
                                        reason,
                                    });
                                }
                                None
                            }
                        };
                        let prepared = examined.and_then(|r| {
                            cert_keys.extend(
                                r.certs
                                    .iter()
                                    .filter_map(|c| certificate_spki(c).map(<[u8]>::to_vec)),
                            );
                            if r.keys.is_empty() {
                                Some(judge.prepare_file(finding_of(r)))
                            } else {
                                if let Ok(mut k) = keyed.lock() {
                                    k.push((i, r));
                                }
                                None
                            }
                        });
                        if tx.send((i, prepared)).is_err() {
                            break;
                        }
                    }
                    cert_keys
                })
            })
            .collect();
        drop(tx);
        let mut pending: BTreeMap<usize, Prepared> = BTreeMap::new();
        let mut expect = 0;
        let ordered = std::iter::from_fn(|| loop {
            if let Some(p) = pending.remove(&expect) {
                expect += 1;
                tick();
                match p {
                    None => continue,
                    Some(Ok(records)) => {
                        with_findings += 1;
                        return Some(records);
                    }
                    Some(Err(e)) => {
                        failed = Some(e);
                        return None;
                    }
                }
            }
            let (i, p) = rx.recv().ok()?;
            pending.insert(i, p);
        });
        let written = node
            .watches_mut()
            .record_file_scans(ordered, 2000, &mut *recorded);
        // On an error the workers stop at their next send, the receiver being gone.
        drop(rx);
        let mut cert_keys = HashSet::new();
        for h in handles {
            cert_keys.extend(h.join().unwrap_or_default());
        }
        (written, cert_keys)
    });
    written?;
    if let Some(e) = failed {
        return Err(e);
    }
    // Files with keys, last: whether a key is orphaned depends on every certificate found.
    let mut keyed = keyed.into_inner().unwrap_or_default();
    keyed.sort_by_key(|(i, _)| *i);
    let mut keyed: Vec<ExaminedFile> = keyed.into_iter().map(|(_, r)| r).collect();
    mark_orphaned_keys(&mut keyed, &cert_keys);
    with_findings += keyed.len();
    let prepared = keyed
        .into_iter()
        .map(|r| judge.prepare_file(finding_of(r)))
        .collect::<Result<Vec<_>, _>>()?;
    if !prepared.is_empty() {
        node.watches_mut()
            .record_file_scans(prepared, 2000, &mut *recorded)?;
    }
    let unread = skipped_files.into_inner().unwrap_or_default();
    let examined = files.len().saturating_sub(unread.len());
    let mut skipped = walked.skipped.paths.clone();
    skipped.extend(unread);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FilesScanned {
        examined,
        with_findings,
        skipped,
    })
}
