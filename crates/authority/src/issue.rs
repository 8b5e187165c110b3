//! Issuing and renewing leaf certificates.

use std::net::IpAddr;

use certherd_core::{
    EntryKind, EntryMeta, EntryRef, OffsetDateTime, Profile, Source, Span, StoreName,
};
use certherd_store::{Change, Store};
use certherd_x509::{CertInfo, CertSpec, KeyAlgorithm, PrivateKey};
use time::Duration;

use crate::node::SigningCa;
use crate::{Error, Instead, Node};

/// Certificates start a minute in the past so a peer whose clock lags slightly accepts
/// them (step-ca backdates by the same amount).
const BACKDATE: Duration = Duration::minutes(1);

/// The most subject alternative names (DNS names and IP addresses) one certificate may be
/// issued with (`cert issue --san`, `POST /v1/certificates`): a certificate with more is
/// an attack or a mistake, and every client that reads it pays for each name.
pub const MAX_SANS: usize = 100;

/// What to issue with `cert issue`.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Profile name.
    pub profile: String,
    /// Target entry.
    pub entry: EntryRef,
    /// Common name; defaults to the first SAN, else the alias.
    pub common_name: Option<String>,
    /// DNS names and IP addresses.
    pub names: Vec<String>,
    /// Key algorithm; defaults to the profile's, else the node's.
    pub key_algo: Option<KeyAlgorithm>,
}

/// A newly issued entry, with any warnings (e.g. validity capped by the issuer).
#[derive(Clone, Debug)]
pub struct Issued {
    /// The entry written.
    pub meta: EntryMeta,
    /// Things the admin should know.
    pub warnings: Vec<String>,
}

/// The outcome of renewing one entry.
#[derive(Clone, Debug)]
pub struct Renewed {
    /// The entry renewed.
    pub entry: EntryRef,
    /// The new entry, or why renewal failed.
    pub result: Result<Issued, String>,
    /// Where the previous entry went.
    pub backup: Option<EntryRef>,
}

/// Which entries `cert renew` takes.
#[derive(Clone, Debug)]
pub enum RenewSelection {
    /// One entry.
    One(EntryRef),
    /// Every renewable entry of a profile.
    Profile(String),
    /// Every renewable entry.
    All,
    /// Every renewable entry expiring within the span.
    ExpiringWithin(Span),
    /// Every renewable entry whose renewal time (2/3 of its lifetime, with jitter) has come.
    Due,
}

/// A bulk operation over many entries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Bulk {
    /// `cert renew` with a selection.
    Renew(RenewSelection),
    /// `cert reset --all`: imported entries replaced by CA-issued ones.
    Reset,
}

/// What a bulk operation will do: the entries it takes and those it leaves alone.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Entries to renew (or reset), in order.
    pub targets: Vec<EntryRef>,
    /// Entries the selection matched but that are left alone, with why.
    pub skipped: Vec<Skipped>,
}

/// An entry a bulk operation left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The entry.
    pub entry: EntryRef,
    /// Why.
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            SkipReason::Imported => f.write_str("imported"),
            SkipReason::CertificateAuthority => f.write_str("a CA certificate"),
            SkipReason::KeyOnHost => {
                f.write_str("its key lives on the host; the host's agent renews it")
            }
            SkipReason::NoProfile => f.write_str("no known profile to renew it under"),
            SkipReason::AlreadyDone { at } => write!(
                f,
                "written at {} by the run this one waited for; not renewed twice",
                certherd_x509::rfc3339(*at)
            ),
            SkipReason::NotDue => f.write_str("no longer due when its turn came"),
            SkipReason::NotImported => f.write_str("not imported (any more)"),
            SkipReason::Gone => f.write_str("deleted before its turn came"),
            SkipReason::Revoked => f.write_str("revoked; renewing it is the admin's decision"),
        }
    }
}

/// Why a bulk operation left an entry alone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Imported: monitored, not renewed; `cert reset` replaces it with a CA-issued one.
    Imported,
    /// A CA certificate: `ca rotate` replaces it.
    CertificateAuthority,
    /// A host certificate whose key lives on the host: its agent renews it.
    KeyOnHost,
    /// Issued under a profile that is no longer known.
    NoProfile,
    /// Written at `at`, by the concurrent run this one waited for.
    AlreadyDone {
        /// When it was written (to the second).
        at: OffsetDateTime,
    },
    /// Not due any more when its turn came.
    NotDue,
    /// `cert reset` of an entry that is not (or no longer) imported.
    NotImported,
    /// Deleted before its turn came.
    Gone,
    /// A CRL of the home lists its certificate: only a renewal named by hand (`cert renew
    /// STORE/ALIAS`) replaces it.
    Revoked,
}

impl SkipReason {
    /// [`code`](Self::code) of [`SkipReason::AlreadyDone`]: what a caller holding only the
    /// code (a row of the admin API) compares with.
    pub const ALREADY_DONE: &'static str = "already-done";

    /// A short machine-readable name (`imported`, `already-done`, ...), for JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Imported => "imported",
            Self::CertificateAuthority => "certificate-authority",
            Self::KeyOnHost => "key-on-host",
            Self::NoProfile => "no-profile",
            Self::AlreadyDone { .. } => Self::ALREADY_DONE,
            Self::NotDue => "not-due",
            Self::NotImported => "not-imported",
            Self::Gone => "gone",
            Self::Revoked => "revoked",
        }
    }
}

/// Why [`Node::renew_if_revoked`] failed: the revocation check, or the renewal of an
/// entry found revoked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplaceRevokedError {
    /// Whether the entry is revoked could not be checked (reading it or the CRLs failed,
    /// such as with the database unreachable); nothing is known to be revoked.
    #[error("cannot check whether {entry} is revoked: {error}")]
    Check {
        /// The entry.
        entry: EntryRef,
        /// What failed.
        error: Box<Error>,
    },
    /// A CRL of the home lists the entry's certificate, and its renewal failed.
    #[error("{entry} is revoked and could not be replaced: {error}")]
    Renew {
        /// The entry.
        entry: EntryRef,
        /// What failed.
        error: Box<Error>,
    },
}

/// One entry's outcome in a bulk run, reported as soon as it is committed.
#[derive(Clone, Debug)]
pub enum BulkStep {
    /// Renewed (or reset), or failed.
    Done(Box<Renewed>),
    /// Left alone.
    Skipped(Skipped),
}

/// The outcome of one entry's turn.
pub(crate) enum Step {
    Done(Box<Issued>, EntryRef),
    Skip(SkipReason),
}

/// What a bulk run checks again at each entry's turn.
pub(crate) struct Guard<'a> {
    /// Entries written at or after this second were handled by a concurrent run.
    pub since: Option<OffsetDateTime>,
    pub op: &'a Bulk,
}

impl Guard<'_> {
    /// Why the entry's turn has passed, if it has.
    pub fn stale<S: Store>(&self, m: &EntryMeta, node: &Node<S>) -> Option<SkipReason> {
        if let Some(since) = self.since {
            if m.stored_at >= since {
                return Some(SkipReason::AlreadyDone { at: m.stored_at });
            }
        }
        match self.op {
            Bulk::Renew(sel) if !node.selection_matches(sel, m, node.now()) => {
                Some(SkipReason::NotDue)
            }
            Bulk::Reset if m.source != Source::Imported => Some(SkipReason::NotImported),
            _ => None,
        }
    }
}

/// A certificate and key built under a profile, before it is stored.
pub(crate) struct Built {
    pub cert: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
    pub key: PrivateKey,
    pub info: CertInfo,
    pub issuer_sha256: Option<String>,
    pub warnings: Vec<String>,
}

impl<S: Store> Node<S> {
    /// Builds a certificate for `profile`, signed by `ca` unless the profile is self-signed.
    pub(crate) fn build(
        &self,
        profile: &Profile,
        common_name: &str,
        names: &[String],
        ips: &[IpAddr],
        key_algo: Option<KeyAlgorithm>,
        ca: Option<&SigningCa>,
    ) -> Result<Built, Error> {
        let algo = key_algo
            .or(profile.key_algo)
            .unwrap_or_else(|| self.default_key_algo());
        let key = PrivateKey::generate(algo)?;
        let now = self.now();
        let mut spec = CertSpec {
            common_name: common_name.to_owned(),
            organization: None,
            dns_names: Vec::new(),
            ip_addresses: ips.to_vec(),
            not_before: now - BACKDATE,
            not_after: profile.lifetime.after(now),
            role: profile.role,
            eku: profile.eku.clone(),
        }
        .with_names(names.iter().map(String::as_str))?;
        let mut warnings = Vec::new();
        let (cert, chain, issuer_sha256) = if profile.self_signed {
            (
                certherd_x509::self_sign(&spec, &key)?.to_vec(),
                Vec::new(),
                None,
            )
        } else {
            let ca = ca.ok_or(Error::CaNotReady("no signing CA"))?;
            // No leaf may outlive its issuer: a certificate valid past its CA is unusable then.
            if spec.not_after > ca.info.not_after {
                warnings.push(format!(
                    "validity capped at the issuing CA's expiry {} (profile {} asks for {})",
                    certherd_x509::rfc3339(ca.info.not_after),
                    profile.name,
                    profile.lifetime
                ));
                spec.not_after = ca.info.not_after;
            }
            let cert = certherd_x509::issue_with_crl_url(
                &spec,
                &key.public_key_spki(),
                &certherd_x509::Issuer {
                    cert: &ca.cert,
                    key: &ca.key,
                },
                self.revocations().crl_url_of(&ca.alias)?.as_deref(),
            )?;
            let mut chain = vec![ca.cert.clone()];
            chain.extend(ca.chain.iter().cloned());
            (cert.to_vec(), chain, Some(ca.sha256.clone()))
        };
        let info = CertInfo::from_der(&cert)?;
        Ok(Built {
            cert,
            chain,
            key,
            info,
            issuer_sha256,
            warnings,
        })
    }

    pub(crate) fn built_entry(
        &self,
        entry: EntryRef,
        profile: &str,
        b: &Built,
    ) -> certherd_store::Entry {
        let meta = self.meta_for(
            entry,
            &b.info,
            EntryKind::KeyPair,
            Some(profile),
            Source::Issued,
            b.issuer_sha256.clone(),
        );
        Self::entry_with_key(meta, b.cert.clone(), b.chain.clone(), Some(&b.key))
    }

    /// A new key and certificate under `profile` (self-signed when the profile is, else
    /// from the signing CA) named `common_name`, as the changes that put it at `r` through
    /// the one replace-entry step (what was there kept in the backup store), and the new
    /// entry's facts. For features that keep an identity of their own (a key provider's
    /// client certificate).
    pub fn issue_entry_changes(
        &self,
        profile: &Profile,
        common_name: &str,
        key_algo: Option<KeyAlgorithm>,
        r: EntryRef,
    ) -> Result<(Vec<Change>, EntryMeta), Error> {
        let ca = if profile.self_signed {
            None
        } else {
            Some(self.signing_ca()?)
        };
        let built = self.build(profile, common_name, &[], &[], key_algo, ca.as_deref())?;
        let entry = self.built_entry(r, &profile.name, &built);
        let meta = entry.meta.clone();
        let (changes, _) = self.replace_entry(entry)?;
        Ok((changes, meta))
    }

    /// `cert issue`: a new certificate and key under a profile, in a new entry.
    pub fn issue(&mut self, req: &IssueRequest) -> Result<Issued, Error> {
        let (changes, issued) = self.prepare_issue(req)?;
        self.commit(&changes)?;
        Ok(issued)
    }

    /// Issues several certificates in one transaction: all are written, or none. A batch
    /// pays the commit once, which is how bulk issuance keeps up with the crypto.
    pub fn issue_batch(&mut self, reqs: &[IssueRequest]) -> Result<Vec<Issued>, Error> {
        let mut changes = Vec::new();
        let mut out = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            if reqs[..i].iter().any(|r| r.entry == req.entry) {
                return Err(Error::EntryExists(req.entry.clone()));
            }
            let (c, issued) = self.prepare_issue(req)?;
            changes.extend(c);
            out.push(issued);
        }
        self.commit(&changes)?;
        Ok(out)
    }

    fn prepare_issue(&self, req: &IssueRequest) -> Result<(Vec<Change>, Issued), Error> {
        let profile = self.profiles.get(&req.profile)?.clone();
        if !profile.is_renewable() {
            return Err(Error::CaProfile(profile.name.clone()));
        }
        if req.names.len() > MAX_SANS {
            return Err(Error::TooManyNames {
                given: req.names.len(),
                max: MAX_SANS,
            });
        }
        if self.store.entry(&req.entry)?.is_some() {
            return Err(Error::EntryExists(req.entry.clone()));
        }
        if req.entry.store.is_managed() {
            return Err(Error::Protected {
                entry: req.entry.to_string(),
                why: "this store is managed by certherd; pick another store",
                instead: None,
            });
        }
        let cn = req
            .common_name
            .clone()
            .or_else(|| req.names.first().cloned())
            .unwrap_or_else(|| req.entry.alias.to_string());
        // RFC 5280 Appendix A.1: ub-common-name INTEGER ::= 64, and X520CommonName is
        // SIZE (1..ub-common-name). Refused here, where the CLI and the admin API both
        // issue, rather than signed into a non-conforming certificate.
        let length = cn.chars().count();
        // Only spaces name nothing either.
        if cn.trim().is_empty() {
            return Err(Error::CommonNameEmpty {
                from_name: req.common_name.is_none(),
            });
        }
        if length > certherd_x509::UB_COMMON_NAME {
            return Err(Error::CommonNameTooLong {
                length,
                from_name: req.common_name.is_none(),
            });
        }
        let ca = if profile.self_signed {
            None
        } else {
            Some(self.signing_ca()?)
        };
        let built = self.build(&profile, &cn, &req.names, &[], req.key_algo, ca.as_deref())?;
        let entry = self.built_entry(req.entry.clone(), &profile.name, &built);
        let meta = entry.meta.clone();
        let changes = vec![
            Change::CreateStore(req.entry.store.clone(), self.now()),
            self.audit(
                "issue",
                &req.entry,
                format!(
                    "profile {} serial {} not_after {}",
                    profile.name,
                    meta.serial,
                    certherd_x509::rfc3339(meta.not_after)
                ),
            ),
            Change::PutEntry {
                entry: Box::new(entry),
                replace: false,
            },
        ];
        Ok((
            changes,
            Issued {
                meta,
                warnings: built.warnings,
            },
        ))
    }

    /// `service add NAME`: store NAME with a `service` certificate whose CN is the name.
    pub fn add_service(&mut self, name: &str) -> Result<Issued, Error> {
        let store: StoreName = name.parse()?;
        if self.store.stores()?.iter().any(|s| s.name == store) {
            return Err(Error::AlreadyExists {
                what: crate::error::ObjectKind::Store,
                name: name.to_string(),
            });
        }
        self.issue(&IssueRequest {
            profile: "service".into(),
            entry: EntryRef::new(store, name.parse()?),
            common_name: Some(name.to_owned()),
            names: Vec::new(),
            key_algo: None,
        })
    }

    /// Renews one entry: a new key and certificate with the same names and the profile's
    /// full lifetime; the old entry moves to the backup store in the same transaction,
    /// and backups past the retention are pruned in it.
    pub fn renew(&mut self, r: &EntryRef) -> Result<(Issued, EntryRef), Error> {
        self.renew_with_key(r, None)
    }

    /// Renews one entry as [`Node::renew`] does, with a new key of `key_algo` when given
    /// (`cert renew STORE/ALIAS --key-algo`: an ECDSA certificate that a libvirt layout
    /// refuses gets an RSA key), else of the old key's algorithm. The names, profile and
    /// backup are a renewal's; any algorithm `cert issue --key-algo` takes is taken.
    pub fn renew_with_key(
        &mut self,
        r: &EntryRef,
        key_algo: Option<KeyAlgorithm>,
    ) -> Result<(Issued, EntryRef), Error> {
        match self.renew_one(r, true, None, key_algo)? {
            Step::Done(issued, backup) => Ok((*issued, backup)),
            // Without a guard nothing is skipped; report the entry as it stands.
            Step::Skip(_) => Err(Error::NoSuchEntry(r.clone())),
        }
    }

    /// Renews entry `r` (a server's own machine-ssl) when a CRL of the home lists its
    /// certificate: a new key and certificate, as [`Node::renew`]; `None` when it is not
    /// revoked (or gone). Fleet hosts' certificates are not for this: `host remove`
    /// revokes them on purpose. The error says whether the check or the renewal failed.
    pub fn renew_if_revoked(
        &mut self,
        r: &EntryRef,
    ) -> Result<Option<Issued>, ReplaceRevokedError> {
        let check = |error: Error| ReplaceRevokedError::Check {
            entry: r.clone(),
            error: Box::new(error),
        };
        let Some(e) = self.store.entry(r).map_err(|e| check(e.into()))? else {
            return Ok(None);
        };
        if self
            .revocations()
            .revocation_of(&e.cert)
            .map_err(check)?
            .is_none()
        {
            return Ok(None);
        }
        self.renew(r)
            .map(|(issued, _)| Some(issued))
            .map_err(|error| ReplaceRevokedError::Renew {
                entry: r.clone(),
                error: Box::new(error),
            })
    }

    /// The live entry `r` for one step of a renewal or reset, or the step's skip: gone
    /// (an error when `r` was named alone), or already handled by the run this one waited
    /// for (`guard`).
    pub(crate) fn entry_for_step(
        &self,
        r: &EntryRef,
        guard: Option<&Guard<'_>>,
    ) -> Result<Result<certherd_store::Entry, Step>, Error> {
        let Some(old) = self.store.entry(r)? else {
            return match guard {
                Some(_) => Ok(Err(Step::Skip(SkipReason::Gone))),
                None => Err(Error::NoSuchEntry(r.clone())),
            };
        };
        if let Some(reason) = guard.and_then(|g| g.stale(&old.meta, self)) {
            return Ok(Err(Step::Skip(reason)));
        }
        Ok(Ok(old))
    }

    /// Renews `r` unless `guard` says its turn has passed; prunes the backup store in the
    /// same transaction when `prune` is set (single renewals; a bulk run prunes once).
    /// The new key is of `key_algo` when given, else of the old key's algorithm.
    pub(crate) fn renew_one(
        &mut self,
        r: &EntryRef,
        prune: bool,
        guard: Option<&Guard<'_>>,
        key_algo: Option<KeyAlgorithm>,
    ) -> Result<Step, Error> {
        let old = match self.entry_for_step(r, guard)? {
            Ok(e) => e,
            Err(skip) => return Ok(skip),
        };
        // A bulk renewal leaves a revoked entry revoked (it may have been revoked since
        // the plan was made): renewing it is the admin's decision, named by hand.
        if guard.is_some_and(
            |g| matches!(g.op, Bulk::Renew(sel) if !matches!(sel, RenewSelection::One(_))),
        ) && self.revocations().revocation_of(&old.cert)?.is_some()
        {
            return Ok(Step::Skip(SkipReason::Revoked));
        }
        if r.store.is_backup() {
            return Err(Error::NotRenewable {
                entry: r.clone(),
                why: "it is a superseded backup entry",
                instead: None,
            });
        }
        match old.meta.source {
            certherd_core::Source::Issued => {}
            certherd_core::Source::Imported => {
                return Err(Error::NotRenewable {
                    entry: r.clone(),
                    why: "it was imported; renew it with its issuer",
                    instead: Some(Instead::ImportRenewed),
                })
            }
            certherd_core::Source::Trusted => {
                return Err(Error::NotRenewable {
                    entry: r.clone(),
                    why: "it is a trusted CA certificate",
                    instead: None,
                })
            }
            certherd_core::Source::Watched => {
                return Err(Error::NotRenewable {
                    entry: r.clone(),
                    why: "it is watched on an endpoint or in a file; its owner renews it",
                    instead: None,
                })
            }
        }
        if self.is_agent()? {
            return Err(Error::NotRenewable {
                entry: r.clone(),
                why: "on a host the agent renews through the server",
                instead: Some(Instead::AgentRun),
            });
        }
        if old.key.is_none() && old.meta.entry.store.as_str() == crate::HOSTS_STORE {
            return Err(Error::NotRenewable {
                entry: r.clone(),
                why: "its key lives on the host; the host's agent renews it",
                instead: None,
            });
        }
        let profile_name = old.meta.profile.clone().ok_or(Error::NotRenewable {
            entry: r.clone(),
            why: "it has no profile",
            instead: None,
        })?;
        let profile = self.profiles.get(&profile_name)?.clone();
        if !profile.is_renewable() {
            return Err(Error::NotRenewable {
                entry: r.clone(),
                why: "it is a CA certificate",
                instead: Some(Instead::RotateCa),
            });
        }
        let info = CertInfo::from_der(&old.cert)?;
        let cn = info
            .subject_cn
            .clone()
            .unwrap_or_else(|| r.alias.to_string());
        let old_key = old
            .key
            .as_ref()
            .map(|k| certherd_x509::parse_private_key(k.expose()))
            .transpose()?;
        // A self-signed certificate (pool-internal, or a self-signed kmip-client) renews as one.
        let mut profile = profile;
        profile.self_signed |= info.self_issued;
        let ca = if profile.self_signed {
            None
        } else {
            Some(self.signing_ca()?)
        };
        let old_algo = old_key.map(|k| k.algorithm());
        let built = self.build(
            &profile,
            &cn,
            &info.dns_names,
            &info.ip_addresses,
            key_algo.or(old_algo),
            ca.as_deref(),
        )?;
        // A key of another algorithm than the old one is said in the audit row.
        let new_algo = built.key.algorithm();
        let key_change = match old_algo {
            Some(a) if key_algo.is_some() && a != new_algo => format!("; key {a} -> {new_algo}"),
            _ => String::new(),
        };
        self.fault_point("renew.issued");
        let entry = self.built_entry(r.clone(), &profile.name, &built);
        let meta = entry.meta.clone();
        let (mut changes, backup) = self.replace_entry(entry)?;
        let backup = backup.ok_or_else(|| Error::NoSuchEntry(r.clone()))?;
        changes.push(self.audit(
            "renew",
            r,
            format!(
                "serial {} -> {}{key_change}; previous kept as {backup}",
                old.meta.serial, meta.serial
            ),
        ));
        if prune {
            changes.extend(self.prune_changes()?);
        }
        self.commit(&changes)?;
        self.fault_point("renew.committed");
        let mut warnings = built.warnings;
        if profile.name == "kmip-client" {
            warnings.push(
                "give the key server the new client certificate unless it trusts certherd's CA"
                    .into(),
            );
        }
        Ok(Step::Done(Box::new(Issued { meta, warnings }), backup))
    }

    /// What a bulk operation would take and leave alone: [`plan_renewal`](Self::plan_renewal)
    /// or [`plan_reset`](Self::plan_reset).
    pub fn plan(&self, op: &Bulk) -> Result<Plan, Error> {
        match op {
            Bulk::Renew(sel) => self.plan_renewal(sel),
            Bulk::Reset => self.plan_reset(),
        }
    }

    /// The entries a selection takes, without renewing them.
    pub fn select_for_renewal(&self, sel: &RenewSelection) -> Result<Vec<EntryRef>, Error> {
        Ok(self.plan_renewal(sel)?.targets)
    }

    /// The entries a selection takes, and those it matches but leaves alone, with why
    /// (imported entries, CAs, host certificates whose keys live on the hosts).
    pub fn plan_renewal(&self, sel: &RenewSelection) -> Result<Plan, Error> {
        if let RenewSelection::One(r) = sel {
            self.load(r)?;
            return Ok(Plan {
                targets: vec![r.clone()],
                skipped: Vec::new(),
            });
        }
        if let RenewSelection::Profile(p) = sel {
            self.profiles.get(p)?;
        }
        if self.is_agent()? {
            return Ok(Plan::default());
        }
        let now = self.now();
        let mut plan = Plan::default();
        let mut targets = Vec::new();
        for m in self.store.entries(None)? {
            if m.entry.store.is_backup() || !self.selection_matches(sel, &m, now) {
                continue;
            }
            let reason = match m.source {
                Source::Imported => Some(SkipReason::Imported),
                // Trusted roots and watched certificates are other people's: not listed.
                Source::Trusted | Source::Watched => continue,
                Source::Issued if m.kind != EntryKind::KeyPair => Some(SkipReason::KeyOnHost),
                Source::Issued => match m.profile.as_deref().map(|p| self.profiles.get(p)) {
                    Some(Ok(p)) if p.is_renewable() => None,
                    Some(Ok(_)) => Some(SkipReason::CertificateAuthority),
                    Some(Err(_)) | None => Some(SkipReason::NoProfile),
                },
            };
            match reason {
                None => targets.push(m),
                Some(reason) => plan.skipped.push(Skipped {
                    entry: m.entry,
                    reason,
                }),
            }
        }
        // Revoked entries stay revoked: only `cert renew STORE/ALIAS` renews one.
        let revoked = self.revocations().revoked_among(&targets)?;
        for m in targets {
            if revoked.contains(&m.entry) {
                plan.skipped.push(Skipped {
                    entry: m.entry,
                    reason: SkipReason::Revoked,
                });
            } else {
                plan.targets.push(m.entry);
            }
        }
        Ok(plan)
    }

    /// Whether an entry's dates and profile fall in a bulk selection.
    pub(crate) fn selection_matches(
        &self,
        sel: &RenewSelection,
        m: &EntryMeta,
        now: OffsetDateTime,
    ) -> bool {
        match sel {
            RenewSelection::One(r) => &m.entry == r,
            RenewSelection::All => true,
            RenewSelection::Profile(p) => m.profile.as_deref() == Some(p.as_str()),
            RenewSelection::ExpiringWithin(span) => m.not_after - now <= span.duration(),
            RenewSelection::Due => self.policy.is_due(m, now, self.thresholds.warn),
        }
    }

    /// Renews every selected entry; one failure does not stop the others.
    pub fn renew_selected(&mut self, sel: &RenewSelection) -> Result<Vec<Renewed>, Error> {
        let plan = self.plan_renewal(sel)?;
        let mut out = Vec::new();
        self.run_bulk(
            &Bulk::Renew(sel.clone()),
            &plan.targets,
            None,
            &mut |step| {
                if let BulkStep::Done(r) = step {
                    out.push(*r);
                }
            },
        )?;
        Ok(out)
    }

    /// Runs a bulk renewal or reset over `targets` (from [`Node::plan_renewal`] or
    /// [`Node::plan_reset`]), reporting each entry to `on_step` as soon as its transaction
    /// is committed. Backups past the retention are pruned once, first.
    ///
    /// `since`: the instant a concurrent run that this one waited for began; an entry
    /// written at or after it (to the second) was handled by that run and is skipped, so
    /// no entry is renewed twice. Each entry's due-ness is checked again at its turn.
    pub fn run_bulk(
        &mut self,
        op: &Bulk,
        targets: &[EntryRef],
        since: Option<OffsetDateTime>,
        on_step: &mut dyn FnMut(BulkStep),
    ) -> Result<usize, Error> {
        let prune = self.prune_changes()?;
        let pruned = prune.len() / 2;
        if !prune.is_empty() {
            self.commit(&prune)?;
        }
        let guard = Guard {
            since: since.map(|t| t.replace_nanosecond(0).unwrap_or(t)),
            op,
        };
        for r in targets {
            let step = match op {
                Bulk::Renew(_) => self.renew_one(r, false, Some(&guard), None),
                Bulk::Reset => self.reset_one(r, Some(&guard)),
            };
            on_step(match step {
                Ok(Step::Done(issued, backup)) => BulkStep::Done(Box::new(Renewed {
                    entry: r.clone(),
                    result: Ok(*issued),
                    backup: Some(backup),
                })),
                Ok(Step::Skip(reason)) => BulkStep::Skipped(Skipped {
                    entry: r.clone(),
                    reason,
                }),
                Err(e) => BulkStep::Done(Box::new(Renewed {
                    entry: r.clone(),
                    result: Err(e.to_string()),
                    backup: None,
                })),
            });
        }
        Ok(pruned)
    }

    /// `cert delete`: removes an entry. The signing CA and its trusted root are refused.
    pub fn delete(&mut self, r: &EntryRef) -> Result<(), Error> {
        let e = self.load(r)?;
        if let Ok(ca) = self.signing_ca() {
            if &ca.alias == r {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "this is the signing CA",
                    instead: Some(Instead::RotateCa),
                });
            }
            let root_sha = ca
                .chain
                .last()
                .map(|c| certherd_x509::hex(&certherd_x509::sha256(c)))
                .unwrap_or(ca.sha256.clone());
            if r.store.as_str() == StoreName::TRUSTED_ROOTS && e.meta.sha256 == root_sha {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "this root anchors the signing CA",
                    instead: Some(Instead::RotateCa),
                });
            }
        }
        // While a rotation is in progress the retiring CA still signs what has not been
        // reissued yet (hosts poll with its chain): it and its root stay until it retires.
        if let Some(alias) = self.store.meta(crate::node::keys::CA_RETIRING)? {
            let retiring: EntryRef = format!("{}/{alias}", StoreName::CA).parse()?;
            if &retiring == r {
                return Err(Error::Protected {
                    entry: r.to_string(),
                    why: "this is the retiring CA until the rotation retires it",
                    instead: Some(Instead::FinishRotation),
                });
            }
            if let Some(old) = self.store.entry(&retiring)? {
                let root = old.chain.last().unwrap_or(&old.cert);
                let root_sha = certherd_x509::hex(&certherd_x509::sha256(root));
                if r.store.as_str() == StoreName::TRUSTED_ROOTS && e.meta.sha256 == root_sha {
                    return Err(Error::Protected {
                        entry: r.to_string(),
                        why: "this root anchors the retiring CA until the rotation retires it",
                        instead: Some(Instead::FinishRotation),
                    });
                }
            }
        }
        self.commit(&[
            Change::DeleteEntry(r.clone()),
            self.audit("delete", r, format!("serial {}", e.meta.serial)),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_node::node;

    fn request(common_name: Option<&str>, names: &[&str]) -> IssueRequest {
        IssueRequest {
            profile: "service".into(),
            entry: "web/x".parse().unwrap(),
            common_name: common_name.map(str::to_owned),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            key_algo: None,
        }
    }

    /// RFC 5280: a common name is 1 to 64 characters; neither an empty nor a longer one
    /// is signed, and a refusal writes nothing.
    #[test]
    fn common_names_outside_1_to_64_characters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        let audit = n.store.audit_log().unwrap().len();
        let e = n
            .issue(&request(Some(""), &["x.example.test"]))
            .unwrap_err();
        assert!(
            matches!(e, Error::CommonNameEmpty { from_name: false }),
            "{e:?}"
        );
        let e = n
            .issue(&request(Some("   "), &["x.example.test"]))
            .unwrap_err();
        assert!(
            matches!(e, Error::CommonNameEmpty { from_name: false }),
            "{e:?}"
        );
        let e = n
            .issue(&request(Some(&"c".repeat(65)), &["x.example.test"]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::CommonNameTooLong {
                    length: 65,
                    from_name: false
                }
            ),
            "{e:?}"
        );
        assert_eq!(n.store.audit_log().unwrap().len(), audit);
        assert!(n.store.entry(&"web/x".parse().unwrap()).unwrap().is_none());
        let issued = n
            .issue(&request(Some(&"c".repeat(64)), &["x.example.test"]))
            .unwrap();
        assert!(
            issued.meta.subject.contains(&"c".repeat(64)),
            "{}",
            issued.meta.subject
        );
    }

    fn key_algo_of<S: Store>(n: &Node<S>, r: &EntryRef) -> KeyAlgorithm {
        let e = n.store.entry(r).unwrap().unwrap();
        certherd_x509::parse_private_key(e.key.unwrap().expose())
            .unwrap()
            .algorithm()
    }

    /// `cert renew --key-algo`: an existing entry gets a key of the algorithm asked for,
    /// with its names and profile, the old entry in backup and the change in the audit
    /// row; without one, a renewal keeps the old key's algorithm.
    #[test]
    fn a_renewal_takes_the_key_algorithm_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        let r: EntryRef = "web/x".parse().unwrap();
        n.issue(&request(None, &["x.example.test", "192.0.2.7"]))
            .unwrap();
        assert_eq!(key_algo_of(&n, &r), KeyAlgorithm::EcdsaP256);
        let (issued, backup) = n.renew_with_key(&r, Some(KeyAlgorithm::Rsa2048)).unwrap();
        assert_eq!(key_algo_of(&n, &r), KeyAlgorithm::Rsa2048);
        assert_eq!(key_algo_of(&n, &backup), KeyAlgorithm::EcdsaP256);
        assert_eq!(issued.meta.profile.as_deref(), Some("service"));
        let info = CertInfo::from_der(&n.store.entry(&r).unwrap().unwrap().cert).unwrap();
        assert_eq!(info.dns_names, ["x.example.test"]);
        assert_eq!(info.ip_addresses.len(), 1);
        assert!(info.key_usage.contains(&"keyEncipherment"), "{info:?}");
        let log = n.store.audit_log().unwrap();
        let last = log.iter().rev().find(|a| a.action == "renew").unwrap();
        assert!(
            last.detail.contains("key ecdsa-p256 -> rsa-2048"),
            "{}",
            last.detail
        );
        n.renew(&r).unwrap();
        assert_eq!(key_algo_of(&n, &r), KeyAlgorithm::Rsa2048);
        n.renew_with_key(&r, Some(KeyAlgorithm::Ed25519)).unwrap();
        assert_eq!(key_algo_of(&n, &r), KeyAlgorithm::Ed25519);
    }
}
