//! The forecast over this node's inventory: impacts from profiles, services and watches,
//! dependencies from `[services.NAME]`, renewal plans from the policy.

use certherd_core::{Source, Watch, WatchKind};
use certherd_store::Store;

use crate::{Error, Node};

impl<S: Store> Node<S> {
    /// Services for the forecast: every store holding a `service` certificate (as made by
    /// `certherd service add`), plus every `[services.NAME]` in certherd.toml with its
    /// `depends_on`.
    pub fn services(&self) -> Result<Vec<certherd_core::Service>, Error> {
        let mut by_name: std::collections::BTreeMap<String, certherd_core::Service> =
            Default::default();
        let entries = self.store.entries(None)?;
        for m in &entries {
            if m.profile.as_deref() == Some("service") && !m.entry.store.is_backup() {
                let name = m.entry.store.to_string();
                let s = by_name
                    .entry(name.clone())
                    .or_insert_with(|| certherd_core::Service {
                        name,
                        uses: Default::default(),
                    });
                // A service uses every entry of its own store.
                for e in entries.iter().filter(|e| e.entry.store == m.entry.store) {
                    s.uses.insert(e.entry.clone());
                }
            }
        }
        for (name, cfg) in &self.settings.services {
            let s = by_name
                .entry(name.clone())
                .or_insert_with(|| certherd_core::Service {
                    name: name.clone(),
                    uses: Default::default(),
                });
            s.uses.extend(cfg.depends_on.iter().cloned());
        }
        // A profile's dependencies belong to every service using a certificate of it.
        for s in by_name.values_mut() {
            let extra: Vec<_> = entries
                .iter()
                .filter(|e| s.uses.contains(&e.entry))
                .filter_map(|e| {
                    e.profile
                        .as_deref()
                        .and_then(|p| self.settings.profiles.get(p))
                })
                .flat_map(|o| o.depends_on.iter().cloned())
                .collect();
            s.uses.extend(extra);
        }
        Ok(by_name.into_values().collect())
    }

    /// What stops working when this entry lapses: its service's impact from certherd.toml,
    /// else its profile's, else a description of what it was found on.
    fn impact_of(&self, meta: &certherd_core::EntryMeta, watches: &[Watch]) -> String {
        if let Some(s) = self.settings.services.get(meta.entry.store.as_str()) {
            if let Some(i) = &s.impact {
                return i.clone();
            }
        }
        if let Some(p) = meta
            .profile
            .as_deref()
            .and_then(|p| self.profiles.get(p).ok())
        {
            return p.impact.clone();
        }
        if let Some(w) = watches
            .iter()
            .find(|w| w.entry().as_ref() == Some(&meta.entry))
        {
            // A service that names this watched entry may say what its loss means.
            if let Some(i) = self
                .settings
                .services
                .values()
                .find(|s| s.depends_on.contains(&meta.entry))
                .and_then(|s| s.impact.clone())
            {
                return i;
            }
            return match w.kind {
                WatchKind::Endpoint => {
                    format!("clients that verify {} ({}) refuse it", w.name, w.target)
                }
                WatchKind::File => format!("whatever uses {}", w.target),
            };
        }
        match meta.source {
            Source::Trusted => "certificates chaining to this trusted CA stop validating".into(),
            Source::Imported => "the service using this imported certificate".into(),
            _ => "unknown: give it a profile or a [services] entry".into(),
        }
    }

    /// The forecast from the node's clock until `until`.
    pub fn forecast(
        &self,
        until: certherd_core::OffsetDateTime,
    ) -> Result<certherd_core::Forecast, Error> {
        let now = self.now();
        let watches = self.store.watches(None)?;
        // One certificate, one item: a scanned copy of a managed certificate (or of one the
        // fleet has since superseded) is not a lapse of its own.
        let planned: Vec<certherd_core::Planned> =
            certherd_core::fold_copies(&self.store.entries(None)?)
                .items
                .into_iter()
                .map(|meta| {
                    let impact = self.impact_of(&meta, &watches);
                    let view = self.view(meta, now);
                    certherd_core::Planned {
                        impact,
                        renew_after: view.renew_after,
                        meta: view.meta,
                    }
                })
                .collect();
        Ok(certherd_core::Forecast::build(
            &planned,
            &self.services()?,
            now,
            until,
        ))
    }
}
