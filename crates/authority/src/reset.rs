//! `cert reset`: the way back from a custom (imported) certificate to a certherd-issued
//! one, as vSphere's certificate-manager does with its option 8.

use certherd_core::{EntryRef, Profile, Source};
use certherd_store::Store;
use certherd_x509::{CertInfo, Eku};

use crate::issue::{Guard, Plan, SkipReason, Skipped, Step};
use crate::{Error, Instead, Issued, Node};

/// The profile a reset entry is issued under when neither the entry nor its store names
/// one: serverAuth and clientAuth, two years.
pub const RESET_DEFAULT_PROFILE: &str = "machine-ssl";

/// The profile for an imported certificate that is for client authentication only.
const RESET_CLIENT_PROFILE: &str = "service";

impl<S: Store> Node<S> {
    /// `cert reset STORE/ALIAS`: replaces an imported certificate with a fresh
    /// certherd-issued one for the same names (subject CN, DNS and IP SANs), under the
    /// profile it was imported under, else the store's name if that is a profile, else
    /// `service` for a clientAuth-only certificate and `machine-ssl` for any other. The
    /// imported entry moves to the backup store in the same transaction, with an audit row.
    pub fn reset(&mut self, r: &EntryRef) -> Result<(Issued, EntryRef), Error> {
        match self.reset_one(r, None)? {
            Step::Done(issued, backup) => Ok((*issued, backup)),
            Step::Skip(_) => Err(Error::NoSuchEntry(r.clone())),
        }
    }

    /// The entries `cert reset --all` takes: every imported entry outside the backup store.
    pub fn plan_reset(&self) -> Result<Plan, Error> {
        if self.is_agent()? {
            return Ok(Plan::default());
        }
        let mut plan = Plan::default();
        for m in self.store.entries(None)? {
            if m.entry.store.is_backup() || m.source != Source::Imported {
                continue;
            }
            match self.reset_profile(&m.entry, m.profile.as_deref(), None) {
                Some(_) => plan.targets.push(m.entry),
                None => plan.skipped.push(Skipped {
                    entry: m.entry,
                    reason: SkipReason::CertificateAuthority,
                }),
            }
        }
        Ok(plan)
    }

    /// The leaf profile a reset issues under (see [`Node::reset`]); `None` when the
    /// entry's recorded profile is a CA profile.
    fn reset_profile(
        &self,
        r: &EntryRef,
        recorded: Option<&str>,
        info: Option<&CertInfo>,
    ) -> Option<Profile> {
        if let Some(p) = recorded.and_then(|p| self.profiles.get(p).ok()) {
            return p.is_renewable().then(|| p.clone());
        }
        if let Some(p) = self
            .profiles
            .get(r.store.as_str())
            .ok()
            .filter(|p| p.is_renewable())
        {
            return Some(p.clone());
        }
        let client_only = info.is_some_and(|i| {
            !i.extended_key_usage.is_empty()
                && i.extended_key_usage
                    .iter()
                    .all(|e| e == Eku::ClientAuth.name())
        });
        let name = if client_only {
            RESET_CLIENT_PROFILE
        } else {
            RESET_DEFAULT_PROFILE
        };
        self.profiles.get(name).ok().cloned()
    }

    /// Resets `r` unless `guard` says its turn has passed.
    pub(crate) fn reset_one(
        &mut self,
        r: &EntryRef,
        guard: Option<&Guard<'_>>,
    ) -> Result<Step, Error> {
        let old = match self.entry_for_step(r, guard)? {
            Ok(e) => e,
            Err(skip) => return Ok(skip),
        };
        if r.store.is_backup() {
            return Err(Error::Protected {
                entry: r.to_string(),
                why: "it is a superseded backup entry; reset the live entry instead",
                instead: None,
            });
        }
        match old.meta.source {
            Source::Imported => {}
            Source::Issued => {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "it is already issued by certherd's CA",
                    instead: Some(Instead::Renew),
                })
            }
            Source::Trusted => {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "it is a trusted CA certificate",
                    instead: Some(Instead::ManageTrust),
                })
            }
            Source::Watched => {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "it is watched on an endpoint or in a file; its owner replaces it",
                    instead: None,
                })
            }
        }
        if self.is_agent()? {
            return Err(Error::Protected {
                entry: r.to_string(),
                why: "on a host the agent gets its certificates from the server",
                instead: Some(Instead::AgentRun),
            });
        }
        let info = CertInfo::from_der(&old.cert)?;
        let profile = self
            .reset_profile(r, old.meta.profile.as_deref(), Some(&info))
            .ok_or(Error::Protected {
                entry: r.to_string(),
                why: "it was imported under a CA profile",
                instead: Some(Instead::ManageCa),
            })?;
        let cn = info
            .subject_cn
            .clone()
            .unwrap_or_else(|| r.alias.to_string());
        let old_key = old
            .key
            .as_ref()
            .map(|k| certherd_x509::parse_private_key(k.expose()))
            .transpose()?;
        let ca = if profile.self_signed {
            None
        } else {
            Some(self.signing_ca()?)
        };
        let built = self.build(
            &profile,
            &cn,
            &info.dns_names,
            &info.ip_addresses,
            old_key.map(|k| k.algorithm()),
            ca.as_deref(),
        )?;
        let entry = self.built_entry(r.clone(), &profile.name, &built);
        let meta = entry.meta.clone();
        let (mut changes, backup) = self.replace_entry(entry)?;
        let backup = backup.ok_or_else(|| Error::NoSuchEntry(r.clone()))?;
        changes.push(self.audit(
                "reset",
                r,
                format!(
                    "imported serial {} (issuer {}) -> certherd-issued serial {} under profile {}; previous kept as {backup}",
                    old.meta.serial, old.meta.issuer, meta.serial, profile.name
                ),
        ));
        self.commit(&changes)?;
        self.fault_point("reset.committed");
        let mut warnings = built.warnings;
        warnings.push(format!(
            "whoever trusted the imported certificate's issuer must now trust certherd's CA; profile {}",
            profile.name
        ));
        Ok(Step::Done(Box::new(Issued { meta, warnings }), backup))
    }
}
