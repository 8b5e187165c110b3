//! Read-only views of the inventory: list, show, status, check.

use std::collections::{BTreeMap, HashMap, HashSet};

use certherd_core::{days_left, Check, EntryMeta, EntryRef, OffsetDateTime, Status, StoreName};
use certherd_store::{Store, StoreInfo};
use certherd_x509::CertInfo;

use crate::{CaSummary, Error, Node};

/// One entry as `cert list` shows it at an instant.
#[derive(Clone, Debug)]
pub struct EntryView {
    /// The facts.
    pub meta: EntryMeta,
    /// Status at the instant.
    pub status: Status,
    /// Days left at the instant.
    pub days_left: i64,
    /// Whether certherd renews it.
    pub auto_renew: bool,
    /// When renewal is due, for entries certherd renews.
    pub renew_after: Option<OffsetDateTime>,
}

/// What `certherd status` prints.
#[derive(Clone, Debug)]
pub struct StatusSummary {
    /// The node's hostname.
    pub hostname: String,
    /// The CA.
    pub ca: CaSummary,
    /// Entries per status.
    pub counts: BTreeMap<&'static str, usize>,
    /// Entries in all.
    pub total: usize,
    /// The soonest expiry (superseded entries aside).
    pub next_expiry: Option<EntryView>,
    /// The soonest renewal due.
    pub next_renewal: Option<EntryView>,
}

/// Every certificate a CRL the home holds lists: the CA's own revocations, by (issuer
/// SHA-256, serial), and the stored CRLs (received with the trust sync or added with
/// `trust add-crl`, their signature checked by a trusted root then), by (issuer DN,
/// serial). Each CRL is parsed once, to judge any number of entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct RevokedSet {
    /// (issuer certificate SHA-256, serial) of what the CA revoked.
    by_ca: HashSet<(String, String)>,
    /// Issuer DN to the serials its CRL lists.
    by_crl: HashMap<String, HashSet<String>>,
}

impl RevokedSet {
    /// Whether `meta` is a live entry (not a backup) whose certificate is listed.
    pub(crate) fn contains(&self, meta: &EntryMeta) -> bool {
        if meta.entry.store.is_backup() {
            return false;
        }
        let serial = meta.serial.to_ascii_lowercase();
        meta.issuer_sha256
            .as_ref()
            .is_some_and(|i| self.by_ca.contains(&(i.clone(), serial.clone())))
            || self
                .by_crl
                .get(&meta.issuer)
                .is_some_and(|s| s.contains(&serial))
    }
}

impl<S: Store> Node<S> {
    /// A view of one entry at `at`.
    pub fn view(&self, meta: EntryMeta, at: OffsetDateTime) -> EntryView {
        let auto_renew = meta.renews_automatically()
            && meta
                .profile
                .as_deref()
                .and_then(|p| self.profiles.get(p).ok())
                .is_some_and(|p| p.is_renewable());
        EntryView {
            status: Status::of(&meta, at, self.thresholds),
            days_left: days_left(meta.not_after, at),
            renew_after: auto_renew.then(|| self.policy.renew_after(&meta, self.thresholds.warn)),
            auto_renew,
            meta,
        }
    }

    /// `cert list`: every entry (or one store's) at `at`.
    pub fn list(
        &self,
        store: Option<&StoreName>,
        at: OffsetDateTime,
    ) -> Result<Vec<EntryView>, Error> {
        if let Some(s) = store {
            if !self.store.stores()?.iter().any(|i| &i.name == s) {
                return Err(Error::NoSuchStore(s.to_string()));
            }
        }
        let revoked = self.revoked_set()?;
        Ok(self
            .store
            .entries(store)?
            .into_iter()
            .map(|m| self.view_marked(m, at, &revoked))
            .collect())
    }

    /// Every certificate the CA revoked or a stored CRL lists (see [`RevokedSet`]). A
    /// stored CRL that no longer decodes is left out (it was checked when added).
    pub(crate) fn revoked_set(&self) -> Result<RevokedSet, Error> {
        let by_ca = self
            .store
            .revocations()?
            .into_iter()
            .map(|r| (r.issuer_sha256, r.serial.to_ascii_lowercase()))
            .collect();
        let mut by_crl: HashMap<String, HashSet<String>> = HashMap::new();
        for c in self.store.crls()? {
            if let Ok((issuer, serials)) = certherd_x509::crl_revoked_serials(&c.der) {
                by_crl
                    .entry(issuer)
                    .or_default()
                    .extend(serials.into_iter().map(|s| s.to_ascii_lowercase()));
            }
        }
        Ok(RevokedSet { by_ca, by_crl })
    }

    /// [`Node::view`], `revoked` when a CRL the home holds lists this live entry's
    /// certificate.
    fn view_marked(&self, meta: EntryMeta, at: OffsetDateTime, revoked: &RevokedSet) -> EntryView {
        let is_revoked = revoked.contains(&meta);
        let mut v = self.view(meta, at);
        if is_revoked {
            v.status = Status::Revoked;
        }
        v
    }

    /// `store list`.
    pub fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        Ok(self.store.stores()?)
    }

    /// `cert show`: the entry, its certificate and its chain, parsed.
    pub fn show(&self, r: &EntryRef) -> Result<(EntryView, CertInfo, Vec<CertInfo>), Error> {
        let e = self.load(r)?;
        let info = CertInfo::from_der(&e.cert)?;
        let chain = e
            .chain
            .iter()
            .map(|c| CertInfo::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        let revoked = self.revoked_set()?;
        Ok((self.view_marked(e.meta, self.now(), &revoked), info, chain))
    }

    /// `check`: the verdict over the inventory at `at` (an entry a CRL the home holds
    /// lists is `revoked`, a critical problem).
    pub fn check(
        &self,
        at: OffsetDateTime,
        thresholds: certherd_core::Thresholds,
    ) -> Result<Check, Error> {
        let entries = certherd_core::fold_copies(&self.store.entries(None)?).items;
        let revoked = self.revoked_set()?;
        let watches = self.watches_dated_at(at, thresholds, &entries)?;
        Ok(
            Check::evaluate_with(&entries, at, thresholds, |m| revoked.contains(m))
                .with_watches(watches)
                .with_alarms(self.store.alarms()?),
        )
    }

    /// The watches with their date findings judged at `at`, not at their last scan, so
    /// `check --at +90d` never says "expires in 19 days" of a certificate that is expired
    /// by then. A watch is judged again when it has a date finding, or when its
    /// certificate's notAfter falls within the warning threshold of `at` (or before it):
    /// the others have no date to report then, and are left as scanned.
    fn watches_dated_at(
        &self,
        at: OffsetDateTime,
        thresholds: certherd_core::Thresholds,
        entries: &[certherd_core::EntryMeta],
    ) -> Result<Vec<certherd_core::Watch>, Error> {
        use certherd_inspect::FindingKind as K;
        let dated = |k: K| matches!(k, K::Expired | K::Expiring | K::NotYetValid);
        let mut watches = self.store.watches(None)?;
        // One lookup per watch, not a pass over every entry: a scan of many files makes as
        // many watches as entries.
        let by_ref: HashMap<&EntryRef, &certherd_core::EntryMeta> =
            entries.iter().map(|m| (&m.entry, m)).collect();
        let mut judge: Option<crate::Judge> = None;
        for w in &mut watches {
            let Some(r) = w.entry() else { continue };
            let near = by_ref.get(&r).is_some_and(|m| {
                m.not_after - thresholds.warn.duration() <= at || m.not_before > at
            });
            if !(near || w.findings.iter().any(|f| dated(f.kind))) {
                continue;
            }
            let Some(entry) = self.store.entry(&r)? else {
                continue;
            };
            let judge = match &mut judge {
                Some(j) => j,
                None => judge.insert(self.judge_at(at, thresholds)?),
            };
            let mut chain = vec![entry.cert];
            chain.extend(entry.chain);
            let again = judge.inspect(
                &chain,
                &crate::JudgeAs {
                    name: None,
                    purpose: certherd_x509::Purpose::Any,
                    policy: certherd_inspect::TrustPolicy::Informational,
                    pins: &[],
                    ca_expected: false,
                    target: certherd_inspect::Target::Files,
                },
            );
            w.findings.retain(|f| !dated(f.kind));
            w.findings
                .extend(again.findings.into_iter().filter(|f| dated(f.kind)));
            certherd_inspect::sort_findings(&mut w.findings);
        }
        Ok(watches)
    }

    /// `status`.
    pub fn status(&self) -> Result<StatusSummary, Error> {
        let now = self.now();
        let views = self.list(None, now)?;
        let mut counts = BTreeMap::new();
        for v in &views {
            *counts.entry(v.status.as_str()).or_insert(0) += 1;
        }
        let next_expiry = views
            .iter()
            .filter(|v| !matches!(v.status, Status::Superseded | Status::Expired))
            .min_by_key(|v| v.meta.not_after)
            .cloned();
        let next_renewal = views
            .iter()
            .filter(|v| v.renew_after.is_some())
            .min_by_key(|v| v.renew_after)
            .cloned();
        Ok(StatusSummary {
            hostname: self.hostname()?,
            ca: self.ca_summary()?,
            total: views.len(),
            counts,
            next_expiry,
            next_renewal,
        })
    }
}
