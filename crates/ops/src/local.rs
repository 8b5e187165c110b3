//! The operations carried out on a home: what `certherd CMD` does on the server's home and
//! what the admin API does for `certherd --server URL CMD`, in one place.

use std::net::IpAddr;

use certherd_authority::Node;
use certherd_core::{EntryRef, StoreName};
use certherd_fleet::FleetExt;
use certherd_monitor::MonitorExt;
use certherd_protocol::admin as api;
use certherd_store::Store;

use crate::request::{Answer, AuditFilter, CertFilter, Horizon, Request};
use crate::{credentials, key_providers, rows, Error, Operations, Problem};

/// Serializes the renewals of one home: the CLI's runs and the admin API's renew take it
/// alike, so two never replace the same entry at once.
pub trait RenewalLock {
    /// Holds the home for `what` until the returned guard is dropped; refused with
    /// [`Error::HomeBusy`] when another run holds it (or the implementation waits).
    fn hold(&self, what: &str) -> Result<Box<dyn std::any::Any>, Error>;

    /// Holds the home for a run that started at `started`, as [`hold`](Self::hold); with
    /// it, the instant from which entries written were handled by a run this one waited
    /// for (none when it did not wait), so the run does not replace them twice.
    fn hold_run(
        &self,
        what: &str,
        started: certherd_core::OffsetDateTime,
    ) -> Result<
        (
            Box<dyn std::any::Any>,
            Option<certherd_core::OffsetDateTime>,
        ),
        Error,
    > {
        let _ = started;
        Ok((self.hold(what)?, None))
    }
}

/// What a step that replaces one entry (`Node::renew_with_key`, `Node::reset`) gives: the
/// new certificate and where the previous one went.
type Replaced = Result<(certherd_authority::Issued, EntryRef), certherd_authority::Error>;

/// The operations over a home's node.
pub struct Local<'a, S: Store> {
    node: &'a mut Node<S>,
    actor: String,
    lock: Option<&'a dyn RenewalLock>,
    home: Option<&'a certherd_store::Home>,
}

impl<'a, S: Store> Local<'a, S> {
    /// Operations on `node`, on behalf of `actor` (what a revocation records as its
    /// author: `admin:NAME` for an admin credential, `local:USER` on the home).
    pub fn new(node: &'a mut Node<S>, actor: impl Into<String>) -> Self {
        Self {
            node,
            actor: actor.into(),
            lock: None,
            home: None,
        }
    }

    /// `check` also reports the files of `home` that others may read or write.
    pub fn with_home(mut self, home: &'a certherd_store::Home) -> Self {
        self.home = Some(home);
        self
    }

    /// Replaces `entry` with `how` (a renewal or a reset) under the home's renewal lock,
    /// held as `what`: the new certificate, its backup and the warnings.
    fn replace(
        &mut self,
        what: &str,
        entry: &EntryRef,
        how: impl FnOnce(&mut Node<S>, &EntryRef) -> Replaced,
    ) -> Result<api::IssuedAnswer, Error> {
        let _held = match self.lock {
            Some(l) => Some(l.hold(&format!("{what} {entry}"))?),
            None => None,
        };
        let (issued, backup) = how(self.node, entry)?;
        let now = self.node.now();
        Ok(api::IssuedAnswer {
            certificate: rows::cert_row(&self.node.view(issued.meta, now)),
            backup: Some(backup.to_string()),
            warnings: issued.warnings,
        })
    }

    /// The monitoring check at `at` (now when absent), with the thresholds given (the
    /// node's for those absent); a home whose files others may read or write is at least
    /// a warning, the fix being one chmod.
    fn check_at(
        &self,
        at: Option<certherd_core::OffsetDateTime>,
        warn: Option<certherd_core::Span>,
        crit: Option<certherd_core::Span>,
    ) -> Result<api::CheckAnswer, Error> {
        let defaults = self.node.thresholds();
        let t = certherd_core::Thresholds {
            warn: warn.unwrap_or(defaults.warn),
            crit: crit.unwrap_or(defaults.crit),
        };
        if t.crit > t.warn {
            return Err(Error::Thresholds {
                warn: t.warn,
                crit: t.crit,
            });
        }
        let at = at.unwrap_or_else(|| self.node.now());
        let check = self.node.check(at, t)?;
        let problems = match self.home {
            Some(h) => h.mode_problems().map_err(certherd_authority::Error::from)?,
            None => Vec::new(),
        };
        Ok(rows::check_answer(&check, t, &problems))
    }

    /// The node at a glance, with the home's master key and file modes when it has one.
    fn status_now(&self) -> Result<api::StatusAnswer, Error> {
        let s = self.node.status()?;
        let agent = if self.node.agent().is_agent()? {
            Some(self.node.agent().agent_summary()?)
        } else {
            None
        };
        let outbox = self.node.alarms().outbox_summary()?;
        let (master_key, problems) = match self.home {
            Some(h) => (
                Some(h.master_key_location()),
                h.mode_problems().map_err(certherd_authority::Error::from)?,
            ),
            None => (None, Vec::new()),
        };
        Ok(rows::status_answer(
            &s,
            agent.as_ref(),
            &outbox,
            master_key.as_ref(),
            &self.node.store().location(),
            &problems,
        ))
    }

    /// A renewal or reset run over `bulk`'s selection (held as `what`), or its plan; `each`
    /// sees each entry's turn as it is committed.
    fn run_steps(
        &mut self,
        bulk: certherd_authority::Bulk,
        what: &str,
        dry_run: bool,
        each: &mut dyn FnMut(&api::RunStep),
    ) -> Result<api::RunAnswer, Error> {
        if dry_run {
            let plan = self.node.plan(&bulk)?;
            return Ok(api::RunAnswer {
                targets: plan.targets.iter().map(ToString::to_string).collect(),
                steps: Vec::new(),
                skipped: plan.skipped.iter().map(rows::skip_row).collect(),
            });
        }
        let started = self.node.now();
        let (_held, since) = match self.lock {
            Some(l) => {
                let (held, since) = l.hold_run(what, started)?;
                (Some(held), since)
            }
            None => (None, None),
        };
        // Planned once the home is held: a run this one waited for may have changed it.
        let plan = self.node.plan(&bulk)?;
        let mut steps = Vec::new();
        self.node
            .run_bulk(&bulk, &plan.targets, since, &mut |step| {
                let row = rows::run_step(&step);
                each(&row);
                steps.push(row);
            })?;
        Ok(api::RunAnswer {
            targets: Vec::new(),
            steps,
            skipped: plan.skipped.iter().map(rows::skip_row).collect(),
        })
    }

    /// A watch's row, with the certificate it last saw.
    fn watch_row(&self, w: &certherd_core::Watch) -> Result<api::WatchRow, Error> {
        let cert = match w.entry() {
            Some(r) => self
                .node
                .store()
                .entry(&r)
                .map_err(certherd_authority::Error::Store)?
                .map(|e| e.meta),
            None => None,
        };
        Ok(rows::watch_row(w, cert.as_ref()))
    }

    /// `scan tls` from this side: `started` learns the number of probes, `tick` sees
    /// each one end.
    fn probe_tls(
        &mut self,
        r: &api::ScanTlsRequest,
        started: impl FnOnce(usize),
        tick: &(dyn Fn() + Sync),
    ) -> Result<api::ScanTlsAnswer, Error> {
        if r.targets.is_empty() || r.targets.len() > MAX_SCAN_TARGETS {
            return Err(Problem::OutOfRange {
                name: "targets",
                min: 1,
                max: MAX_SCAN_TARGETS as u64,
            }
            .into());
        }
        if !(1..=MAX_CONCURRENCY).contains(&r.concurrency) {
            return Err(Problem::OutOfRange {
                name: "concurrency",
                min: 1,
                max: u64::from(MAX_CONCURRENCY),
            }
            .into());
        }
        let mut targets: Vec<String> = Vec::with_capacity(r.targets.len());
        for t in &r.targets {
            let address: certherd_core::ServerAddress =
                t.parse().map_err(|source| Error::BadAddress {
                    address: certherd_protocol::echo(t),
                    source,
                })?;
            let address = address.to_string();
            if !targets.contains(&address) {
                targets.push(address);
            }
        }
        let request = certherd_monitor::scan::TlsScanRequest {
            targets,
            sni: r.sni.clone(),
            starttls: starttls_of(r.starttls.as_deref())?,
            concurrency: r.concurrency as usize,
            timeout: bound_of(r.timeout_ms)?,
        };
        let scanned = certherd_monitor::scan::scan_tls(self.node, &request, started, tick)?;
        Ok(api::ScanTlsAnswer {
            worst: scanned.worst().map(|s| s.as_str().to_owned()),
            watches: scanned
                .shown
                .iter()
                .map(|w| self.watch_row(w))
                .collect::<Result<_, _>>()?,
            new_names: scanned.new_names,
            kept: scanned
                .kept
                .into_iter()
                .map(|(name, starttls)| api::KeptWatch { name, starttls })
                .collect(),
        })
    }

    /// `endpoint trust`: pins what the endpoint presents now.
    fn endpoint_trust(
        &mut self,
        name: &str,
        probe: &api::ProbeRequest,
    ) -> Result<api::EndpointTrusted, Error> {
        let t = certherd_monitor::scan::trust(
            self.node,
            name,
            probe.thumbprint.as_deref(),
            probe_bound(probe)?,
        )?;
        let info =
            certherd_x509::CertInfo::from_der(&t.leaf).map_err(certherd_authority::Error::from)?;
        Ok(api::EndpointTrusted {
            name: name.to_owned(),
            target: t.watch.target,
            subject: info.subject,
            issuer: info.issuer,
            serial: info.serial,
            not_before: certherd_x509::rfc3339(info.not_before),
            not_after: certherd_x509::rfc3339(info.not_after),
            sha256: info.sha256,
        })
    }

    /// Watches the endpoint `r` names; STARTTLS by the port when not asked for.
    fn endpoint_add(&mut self, r: &api::EndpointAddRequest) -> Result<api::WatchRow, Error> {
        let address: certherd_core::ServerAddress =
            r.address.parse().map_err(|source| Error::BadAddress {
                address: certherd_protocol::echo(&r.address),
                source,
            })?;
        let asked = starttls_of(r.starttls.as_deref())?;
        let starttls = certherd_monitor::probe::starttls_for(&address.to_string(), asked);
        let w = self.node.watches_mut().endpoint_add(
            &r.name,
            &address,
            r.server_name.as_deref(),
            r.verify,
            starttls.map(certherd_tls::StartTls::as_str),
        )?;
        Ok(rows::watch_row(&w, None))
    }

    /// Imports `source` into `entry` under the home's renewal lock.
    fn import(
        &mut self,
        entry: &EntryRef,
        source: crate::ImportSource,
        profile: Option<&str>,
    ) -> Result<api::ImportAnswer, Error> {
        let _held = match self.lock {
            Some(l) => Some(l.hold(&format!("cert import {entry}"))?),
            None => None,
        };
        let imported = match source {
            crate::ImportSource::Files { cert, chain, key } => self.node.import(
                entry,
                &cert,
                &chain,
                key.as_ref().map(|k| &k.0[..]),
                profile,
            )?,
            crate::ImportSource::Pkcs12 { data, password } => self.node.import_pkcs12(
                entry,
                &data.0,
                &String::from_utf8_lossy(&password.0),
                profile,
            )?,
        };
        let now = self.node.now();
        Ok(api::ImportAnswer {
            certificate: rows::cert_row(&self.node.view(imported.issued.meta, now)),
            warnings: imported.issued.warnings,
            unchanged: imported.unchanged,
        })
    }

    /// Renewals hold `lock` while they replace an entry.
    pub fn with_lock(mut self, lock: &'a dyn RenewalLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// The host named `name`, whatever its case.
    fn known_host(&self, name: &str) -> Result<certherd_core::Host, Error> {
        let stored = self.node.fleet().stored_name(name)?;
        stored
            .map(|n| self.node.store().host(&n))
            .transpose()
            .map_err(certherd_authority::Error::Store)?
            .flatten()
            .ok_or_else(|| Error::NoSuchHost {
                name: name.to_owned(),
            })
    }

    fn host_rows(&self) -> Result<Vec<certherd_protocol::HostRow>, Error> {
        let hosts = self.node.fleet().hosts()?;
        Ok(hosts
            .iter()
            .map(|h| rows::host_row(self.node, h))
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn add_host(&mut self, req: api::HostAddRequest) -> Result<api::HostAdded, Error> {
        // Counted before any address is parsed: thousands are refused unread.
        if req.ips.len() > certherd_fleet::MAX_HOST_IPS {
            return Err(certherd_fleet::Error::TooManyAddresses {
                given: req.ips.len(),
                max: certherd_fleet::MAX_HOST_IPS,
            }
            .into());
        }
        let ips = req
            .ips
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| Error::NotAnAddress { value: s.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ttl = match (req.token_ttl_hours, req.token_ttl_seconds) {
            (Some(_), Some(_)) => return Err(Error::TokenTtl),
            (h, None) => time::Duration::hours(i64::from(h.unwrap_or(24))),
            (None, Some(s)) => time::Duration::seconds(i64::from(s)),
        };
        if !(certherd_core::MIN_TOKEN_TTL..=certherd_core::MAX_TOKEN_TTL).contains(&ttl) {
            return Err(Error::TokenTtl);
        }
        if self.node.fleet().stored_name(&req.name)?.is_some() {
            return Err(Error::HostEnrolled { name: req.name });
        }
        let (host, token, ca) = self.node.fleet_mut().host_add(
            &req.name,
            &ips,
            ttl,
            certherd_x509::random32().map_err(certherd_authority::Error::X509)?,
        )?;
        Ok(api::HostAdded {
            token_expires_at: certherd_x509::rfc3339(host.created_at + ttl),
            host: rows::host_row(self.node, &host)?,
            token,
            ca_fingerprint: ca,
            metrics_open: !self.node.settings().metrics.require_token,
        })
    }

    fn list_certs(&self, f: &CertFilter) -> Result<Vec<api::CertRow>, Error> {
        let store = match &f.store {
            Some(s) => Some(
                s.parse::<StoreName>()
                    .map_err(|_| Error::NoSuchStore { store: s.clone() })?,
            ),
            None => None,
        };
        let at = f.at.unwrap_or_else(|| self.node.now());
        let mut views = self.node.list(store.as_ref(), at)?;
        // One certificate, one row: scanned copies are named under it (a store's own
        // listing shows every entry).
        let folded =
            certherd_core::fold_copies(&views.iter().map(|v| v.meta.clone()).collect::<Vec<_>>());
        if store.is_none() {
            views.retain(|v| folded.items.iter().any(|m| m.entry == v.meta.entry));
        }
        Ok(views
            .iter()
            .filter(|v| {
                f.profile
                    .as_deref()
                    .is_none_or(|p| v.meta.profile.as_deref() == Some(p))
            })
            .filter(|v| f.status.as_deref().is_none_or(|s| v.status.as_str() == s))
            .filter(|v| f.expiring_within_days.is_none_or(|d| v.days_left <= d))
            .map(|v| rows::listed_row(v, &folded))
            .collect())
    }

    fn issue_cert(&mut self, req: api::IssueRequest) -> Result<api::IssuedAnswer, Error> {
        let req = issue_request(req)?;
        let issued = self.node.issue(&req)?;
        Ok(self.issued_answer(&req.entry, issued))
    }

    /// `cert issue --from`: one transaction for the whole batch, so all of it is written
    /// or none; refused whole past [`api::MAX_ISSUE_BATCH`] requests.
    fn issue_batch(&mut self, r: api::IssueBatchRequest) -> Result<api::IssueBatchAnswer, Error> {
        if r.requests.is_empty() || r.requests.len() > api::MAX_ISSUE_BATCH {
            return Err(Problem::OutOfRange {
                name: "requests",
                min: 1,
                max: api::MAX_ISSUE_BATCH as u64,
            }
            .into());
        }
        let reqs = r
            .requests
            .into_iter()
            .map(issue_request)
            .collect::<Result<Vec<_>, _>>()?;
        let issued = self.node.issue_batch(&reqs)?;
        Ok(api::IssueBatchAnswer {
            issued: reqs
                .iter()
                .zip(issued)
                .map(|(req, i)| self.issued_answer(&req.entry, i))
                .collect(),
        })
    }

    /// What issuing `entry` gave, with a warning for a key the layouts will refuse.
    fn issued_answer(
        &self,
        entry: &EntryRef,
        mut issued: certherd_authority::Issued,
    ) -> api::IssuedAnswer {
        // A key the layouts will refuse is said now, not at the export. The entry is
        // written: a check that cannot be made fails nothing.
        issued.warnings.extend(
            certherd_fleet::layout_misfits(self.node, entry)
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string),
        );
        let now = self.node.now();
        api::IssuedAnswer {
            certificate: rows::cert_row(&self.node.view(issued.meta, now)),
            backup: None,
            warnings: issued.warnings,
        }
    }

    fn export_cert(&mut self, entry: &EntryRef) -> Result<api::ExportAnswer, Error> {
        // The certificate and its chain only: an operation never gives out a key.
        let pem = self.node.export_with(
            entry,
            &certherd_authority::ExportOptions {
                format: certherd_authority::ExportFormat::Pem,
                content: certherd_authority::ExportContent::Certificate,
                with_root: true,
                password: None,
            },
        )?;
        let certs =
            certherd_x509::parse_certificates(&pem).map_err(certherd_authority::Error::X509)?;
        let mut pems = certs
            .iter()
            .map(|c| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, c));
        let certificate = pems.next().ok_or_else(|| Error::NoCertificate {
            entry: entry.to_string(),
        })?;
        Ok(api::ExportAnswer {
            certificate,
            chain: pems.collect(),
        })
    }

    fn crl_rows(&self) -> Result<Vec<api::CrlRow>, Error> {
        let crls = self
            .node
            .store()
            .crls()
            .map_err(certherd_authority::Error::Store)?;
        // A stored CRL that no longer decodes is left out, the others listed: the
        // caller did nothing wrong.
        Ok(crls
            .iter()
            .filter_map(|c| {
                certherd_x509::CrlInfo::from_der(&c.der)
                    .ok()
                    .map(|info| rows::crl_row(&info, c.added_at))
            })
            .collect())
    }

    fn alarm_rows(&self, all: bool) -> Result<Vec<certherd_protocol::AlarmRow>, Error> {
        let mut out = Vec::new();
        for a in self.node.alarms().alarm_history()? {
            if all || a.is_open() {
                let detail = self.node.alarms().alarm_detail(&a)?;
                out.push(rows::alarm_row(&a, detail));
            }
        }
        Ok(out)
    }

    fn audit_page(
        &self,
        offset: u64,
        limit: u64,
        filter: &AuditFilter,
    ) -> Result<api::AuditPage, Error> {
        let mut log = self
            .node
            .store()
            .audit_log()
            .map_err(certherd_authority::Error::Store)?;
        // `total` and `offset` count the records the filter passes, so that a filtered
        // log pages as a whole one does.
        log.retain(|a| filter.passes(a.at, &a.action, &a.subject));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(api::AuditPage {
            total: log.len() as u64,
            offset,
            records: log
                .iter()
                .skip(skip)
                .take(take)
                .map(rows::audit_row)
                .collect(),
        })
    }

    fn forecast_to(&self, horizon: Horizon) -> Result<api::ForecastAnswer, Error> {
        Ok(rows::forecast_answer(
            &self.node.forecast(self.until_of(horizon)?)?,
        ))
    }

    /// The end of a forecast: not in the past, and no further than `--until` reaches on
    /// a home.
    fn until_of(&self, horizon: Horizon) -> Result<certherd_core::OffsetDateTime, Error> {
        let now = self.node.now();
        Ok(match horizon {
            Horizon::Days(d) => now + time::Duration::days(d),
            Horizon::Until(t) => {
                if t < now {
                    return Err(Problem::UntilPast {
                        until: certherd_x509::rfc3339(t),
                    }
                    .into());
                }
                // As far as `--until` reaches on a home, and no further.
                let max = certherd_core::Span::MAX;
                if t > now + max.duration() {
                    return Err(Problem::UntilTooFar {
                        until: certherd_x509::rfc3339(t),
                        max: max.to_string(),
                    }
                    .into());
                }
                t
            }
        })
    }
}

impl<S: Store> Operations for Local<'_, S> {
    fn scan_tls(
        &mut self,
        r: api::ScanTlsRequest,
        started: &mut dyn FnMut(usize),
        tick: &(dyn Fn() + Sync),
    ) -> Result<api::ScanTlsAnswer, Error> {
        self.probe_tls(&r, started, tick)
    }

    fn run(
        &mut self,
        request: Request,
        each: &mut dyn FnMut(&api::RunStep),
    ) -> Result<api::RunAnswer, Error> {
        let (bulk, what, dry_run) = match request {
            Request::Renewals(r) => {
                let (selection, what) = renew_selection(r.select)?;
                (certherd_authority::Bulk::Renew(selection), what, r.dry_run)
            }
            Request::Resets(r) => (
                certherd_authority::Bulk::Reset,
                "cert reset --all".to_owned(),
                r.dry_run,
            ),
            other => {
                let answer = self.call(other)?;
                return Err(Error::mismatch("a renewal run", &answer));
            }
        };
        self.run_steps(bulk, &what, dry_run, each)
    }

    fn call(&mut self, request: Request) -> Result<Answer, Error> {
        Ok(match request {
            Request::HostList => Answer::Hosts(self.host_rows()?),
            Request::HostAdd(req) => Answer::HostAdded(self.add_host(req)?),
            Request::HostRemove { name } => {
                self.known_host(&name)?;
                let revoked = self.node.fleet_mut().host_remove(&name)?;
                Answer::HostRemoved(rows::host_removed(&name, &revoked))
            }
            Request::HostResetServerCert { name } => {
                self.known_host(&name)?;
                let hosts = self.node.fleet_mut().order_renewal(&[name])?;
                Answer::Ordered(api::HostsAnswer { hosts })
            }
            Request::HostRefreshPoolCert { name } => {
                self.known_host(&name)?;
                self.node.fleet_mut().order_pool_refresh(&name)?;
                Answer::Ordered(api::HostsAnswer { hosts: vec![name] })
            }
            Request::FleetRenew(req) => {
                for h in &req.hosts {
                    self.known_host(h)?;
                }
                let hosts = self.node.fleet_mut().order_renewal(&req.hosts)?;
                Answer::Ordered(api::HostsAnswer { hosts })
            }
            Request::CertList(f) => Answer::Certs(self.list_certs(&f)?),
            Request::CertIssue(req) => Answer::Issued(self.issue_cert(req)?),
            Request::CertIssueBatch(r) => Answer::IssuedBatch(self.issue_batch(r)?),
            Request::CertShow { entry } => {
                let (view, info, chain) = self.node.show(&entry)?;
                Answer::Cert(rows::cert_detail(&view, &info, &chain))
            }
            Request::CertRenew { entry, key_algo } => {
                Answer::Issued(self.replace("cert renew", &entry, |node, r| {
                    node.renew_with_key(r, key_algo)
                })?)
            }
            Request::CertReset { entry } => {
                Answer::Issued(self.replace("cert reset", &entry, Node::reset)?)
            }
            Request::CertImport {
                entry,
                source,
                profile,
            } => Answer::Imported(self.import(&entry, source, profile.as_deref())?),
            r @ (Request::Renewals(_) | Request::Resets(_)) => {
                Answer::Run(self.run(r, &mut |_| {})?)
            }
            Request::CertExport { entry } => Answer::Exported(self.export_cert(&entry)?),
            Request::CertRevoke { entry, reason } => {
                let outcome = self
                    .node
                    .revocations_mut()
                    .revoke(&entry, reason, &self.actor)?;
                Answer::Revoked(rows::revoke_answer(&outcome))
            }
            Request::TrustList => Answer::Trusted(
                self.node
                    .trust_list()?
                    .iter()
                    .map(rows::trust_row)
                    .collect(),
            ),
            Request::TrustAdd { pem } => {
                let added = self.node.trust_add_checked(pem.as_bytes())?;
                Answer::TrustAdded(rows::trust_added(&added))
            }
            Request::TrustRemove { fingerprint } => {
                let removed = self.node.trust_remove(&fingerprint)?;
                Answer::TrustRemoved(rows::trust_row(&removed))
            }
            Request::CrlList => Answer::Crls(self.crl_rows()?),
            Request::CrlAdd { pem } => {
                let info = self.node.trust_add_crl(pem.as_bytes())?;
                Answer::CrlAdded(rows::crl_row(&info, self.node.now()))
            }
            Request::Alarms { all } => Answer::Alarms(self.alarm_rows(all)?),
            Request::Audit {
                offset,
                limit,
                filter,
            } => Answer::Audit(self.audit_page(offset, limit, &filter)?),
            Request::PoolVerificationGet => Answer::Verification(api::PoolVerification {
                enabled: self.node.fleet().pool_verification()?,
            }),
            Request::PoolVerificationSet { enabled } => {
                self.node.fleet_mut().set_pool_verification(enabled)?;
                Answer::Verification(api::PoolVerification {
                    enabled: self.node.fleet().pool_verification()?,
                })
            }
            Request::CaShow => Answer::Ca(rows::ca_answer(&self.node.ca_summary()?)),
            Request::CaRotate => Answer::Rotation(rows::rotation_answer(&self.node.ca_rotate()?)),
            Request::Forecast(h) => Answer::Forecast(self.forecast_to(h)?),
            Request::KeyProviders {
                name,
                timeout_seconds,
            } => Answer::KeyProviders(crate::key_providers::health(
                self.node,
                name.as_deref(),
                std::time::Duration::from_secs(timeout_seconds),
            )?),
            Request::Check { at, warn, crit } => Answer::Check(self.check_at(at, warn, crit)?),
            Request::Status => Answer::Status(Box::new(self.status_now()?)),
            Request::StoreList => {
                Answer::Stores(self.node.stores()?.iter().map(rows::store_row).collect())
            }
            Request::Notifications => Answer::Notifications(rows::notifications_row(
                &self.node.alarms().outbox_summary()?,
            )),
            Request::PoolCertificates => Answer::PoolCertificates(
                self.node
                    .fleet()
                    .pool_certificates()?
                    .iter()
                    .map(rows::pool_cert_row)
                    .collect(),
            ),
            Request::EndpointList => {
                let watches = self
                    .node
                    .watches()
                    .list(Some(certherd_core::WatchKind::Endpoint))?;
                Answer::Endpoints(
                    watches
                        .iter()
                        .map(|w| self.watch_row(w))
                        .collect::<Result<_, _>>()?,
                )
            }
            Request::ScanTls(r) => Answer::TlsScanned(self.probe_tls(&r, |_| {}, &|| {})?),
            Request::Verify(r) => Answer::Verified(crate::verify::judge(
                &r,
                &crate::verify::HomeTrust {
                    anchors: self.node.trust_anchors()?,
                    crls: self.node.trusted_crls()?,
                    thresholds: self.node.thresholds(),
                    now: self.node.now(),
                },
            )?),
            Request::Report { until } => {
                let until = self.until_of(Horizon::Until(until))?;
                let forecast = self.node.forecast(until)?;
                Answer::Report(crate::report::report(self.node, &forecast)?)
            }
            Request::EndpointTrust { name, probe } => {
                Answer::EndpointTrusted(self.endpoint_trust(&name, &probe)?)
            }
            Request::EndpointDiagnose { name, probe } => {
                let d = certherd_monitor::scan::diagnose(self.node, &name, probe_bound(&probe)?)?;
                Answer::Diagnosis(api::DiagnosisAnswer {
                    endpoint: name,
                    target: d.watch.target.clone(),
                    starttls: d.starttls.map(|p| p.as_str().to_owned()),
                    name_checked: d.check_name,
                    verdict: d.verdict.as_str().to_owned(),
                    finding: certherd_inspect::summary(&d.findings),
                    findings: d.findings.iter().map(rows::finding_row).collect(),
                    facts: d.facts,
                })
            }
            Request::ServiceAdd { name } => {
                let issued = self.node.add_service(&name)?;
                let now = self.node.now();
                Answer::Issued(api::IssuedAnswer {
                    certificate: rows::cert_row(&self.node.view(issued.meta, now)),
                    backup: None,
                    warnings: issued.warnings,
                })
            }
            Request::EndpointAdd(r) => Answer::EndpointAdded(self.endpoint_add(&r)?),
            Request::EndpointRemove { name } => {
                self.node.watches_mut().endpoint_remove(&name)?;
                Answer::EndpointRemoved(api::EndpointRemoved { name })
            }
            Request::CertDelete { entry } => {
                self.node.delete(&entry)?;
                Answer::Deleted(api::Deleted {
                    entry: entry.to_string(),
                })
            }
            Request::CaCrl => Answer::CaCrl(api::CaCrl {
                pem: certherd_x509::to_pem(
                    certherd_x509::PemLabel::Crl,
                    &self.node.revocations_mut().current_crl()?,
                ),
            }),
            Request::CaRoot => Answer::CaRoot(api::CaRoot {
                pem: certherd_x509::to_pem(
                    certherd_x509::PemLabel::Certificate,
                    &self.node.ca_root()?,
                ),
            }),
            Request::ProfileList => {
                Answer::Profiles(self.node.profiles().iter().map(rows::profile_row).collect())
            }
            Request::KeyProviderCreate(r) => {
                Answer::KeyProviderCreated(key_providers::create(self.node, &r)?)
            }
            Request::KeyProviderList => Answer::KeyProviderRows(key_providers::list(self.node)?),
            Request::KeyProviderAddServer { name, server } => {
                Answer::KeyProviderRow(key_providers::add_server(self.node, &name, &server)?)
            }
            Request::KeyProviderRemove { name } => {
                Answer::KeyProviderRemoved(key_providers::remove(self.node, &name)?)
            }
            Request::KmipClientNew { name, request } => {
                Answer::KmipClient(key_providers::client_new(self.node, &name, &request)?)
            }
            Request::KmipClientExport { name } => {
                Answer::KmipPem(key_providers::client_export(self.node, &name)?)
            }
            Request::KmipClientCsr { name, request } => {
                Answer::KmipPem(key_providers::client_csr(self.node, &name, &request)?)
            }
            Request::KmipClientUpload { name, cert } => {
                Answer::KmipClient(key_providers::client_upload(self.node, &name, &cert)?)
            }
            Request::KmipServerCerts { name } => {
                Answer::KmipPresented(key_providers::server_certs(self.node, &name)?)
            }
            Request::KmipServerTrust { name, request } => {
                Answer::KmipTrusted(key_providers::server_trust(self.node, &name, &request)?)
            }
            Request::CredentialAdd(r) => Answer::CredentialIssued(credentials::add(self.node, &r)?),
            Request::CredentialList => Answer::Credentials(credentials::list(self.node)?),
            Request::CredentialRevoke { name, reason } => Answer::CredentialsRevoked(
                credentials::revoke(self.node, &name, reason, &self.actor)?,
            ),
        })
    }
}

/// A renewal run's selection from the request, and the command it is held as.
fn renew_selection(
    select: api::RenewSelect,
) -> Result<(certherd_authority::RenewSelection, String), Error> {
    use certherd_authority::RenewSelection;
    Ok(match select {
        api::RenewSelect::Due => (RenewSelection::Due, "cert renew --due".into()),
        api::RenewSelect::All => (RenewSelection::All, "cert renew --all".into()),
        api::RenewSelect::Profile { profile } => {
            let what = format!("cert renew --profile {profile}");
            (RenewSelection::Profile(profile), what)
        }
        api::RenewSelect::ExpiringWithin { span } => {
            let parsed = span
                .parse::<certherd_core::Span>()
                .map_err(|_| Problem::BadSpan {
                    value: certherd_protocol::echo(&span),
                })?;
            (
                RenewSelection::ExpiringWithin(parsed),
                format!("cert renew --expiring-within {span}"),
            )
        }
        api::RenewSelect::One { entry } => {
            let parsed = entry
                .parse::<EntryRef>()
                .map_err(|source| Error::BadEntry {
                    entry: certherd_protocol::echo(&entry),
                    source,
                })?;
            let what = format!("cert renew {parsed}");
            (RenewSelection::One(parsed), what)
        }
    })
}

/// The node's request for an admin API's `cert issue` request: its entry and key
/// algorithm parsed.
fn issue_request(req: api::IssueRequest) -> Result<certherd_authority::IssueRequest, Error> {
    let text = format!("{}/{}", req.store, req.alias);
    let entry: EntryRef = text.parse().map_err(|source| Error::BadEntry {
        entry: text,
        source,
    })?;
    let key_algo = crate::request::key_algo(req.key_algo.as_deref())?;
    Ok(certherd_authority::IssueRequest {
        profile: req.profile,
        entry,
        common_name: req.common_name,
        names: req.names,
        key_algo,
    })
}

/// Targets one `scan tls` takes at most.
const MAX_SCAN_TARGETS: usize = 10_000;

/// Probes one `scan tls` runs at once at most.
const MAX_CONCURRENCY: u32 = 256;

/// The longest a probe may be given, in milliseconds: an hour.
const MAX_PROBE_MS: u64 = 3_600_000;

/// A STARTTLS protocol's name, parsed.
fn starttls_of(name: Option<&str>) -> Result<Option<certherd_tls::StartTls>, Error> {
    name.map(|p| {
        p.parse::<certherd_tls::StartTls>()
            .map_err(|_| Problem::UnknownStartTls {
                value: certherd_protocol::echo(p),
            })
    })
    .transpose()
    .map_err(Error::from)
}

/// A probe's bound, from 1 ms to an hour.
fn bound_of(ms: u64) -> Result<std::time::Duration, Error> {
    if (1..=MAX_PROBE_MS).contains(&ms) {
        Ok(std::time::Duration::from_millis(ms))
    } else {
        Err(Problem::OutOfRange {
            name: "timeout_ms",
            min: 1,
            max: MAX_PROBE_MS,
        }
        .into())
    }
}

/// The bound a trust or diagnosis request gives its probe.
fn probe_bound(probe: &api::ProbeRequest) -> Result<std::time::Duration, Error> {
    bound_of(probe.timeout_ms)
}
