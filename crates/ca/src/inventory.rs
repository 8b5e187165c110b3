//! Read-only views of the inventory: list, show, status, check.

use std::collections::BTreeMap;

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

/// Whether `meta` is a live entry (not a backup) whose certificate is in `revoked`, the
/// (issuer SHA-256, serial) pairs of `Node::revoked_serials`.
pub(crate) fn revoked_live(
    meta: &EntryMeta,
    revoked: &std::collections::HashSet<(String, String)>,
) -> bool {
    !meta.entry.store.is_backup()
        && meta
            .issuer_sha256
            .as_ref()
            .is_some_and(|i| revoked.contains(&(i.clone(), meta.serial.to_ascii_lowercase())))
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
        let revoked = self.revoked_serials()?;
        Ok(self
            .store
            .entries(store)?
            .into_iter()
            .map(|m| self.view_marked(m, at, &revoked))
            .collect())
    }

    /// The (issuer SHA-256, serial) of every certificate the CA revoked.
    pub(crate) fn revoked_serials(
        &self,
    ) -> Result<std::collections::HashSet<(String, String)>, Error> {
        Ok(self
            .store
            .revocations()?
            .into_iter()
            .map(|r| (r.issuer_sha256, r.serial.to_ascii_lowercase()))
            .collect())
    }

    /// [`Node::view`], `revoked` when the CA revoked this live entry's certificate.
    fn view_marked(
        &self,
        meta: EntryMeta,
        at: OffsetDateTime,
        revoked: &std::collections::HashSet<(String, String)>,
    ) -> EntryView {
        let is_revoked = revoked_live(&meta, revoked);
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
        let revoked = self.revoked_serials()?;
        Ok((self.view_marked(e.meta, self.now(), &revoked), info, chain))
    }

    /// `check`: the verdict over the inventory at `at`.
    pub fn check(
        &self,
        at: OffsetDateTime,
        thresholds: certherd_core::Thresholds,
    ) -> Result<Check, Error> {
        let entries = certherd_core::fold_copies(&self.store.entries(None)?).items;
        Ok(Check::evaluate(&entries, at, thresholds)
            .with_watches(self.store.watches(None)?)
            .with_alarms(self.store.alarms()?))
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
