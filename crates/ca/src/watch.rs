//! Watched endpoints and files: recording what a scan saw and judging it with the same
//! validator `certherd verify` uses. The scans themselves (sockets, the file system) are
//! the caller's; this module only evaluates and stores.

use certherd_core::{EntryKind, EntryRef, Problem, Source, StoreName, Watch, WatchKind};
use certherd_store::{Change, Store};
use certherd_x509::{CertInfo, CertificateDer, Purpose, Reason, VerifyInput};

use crate::{Error, Node};

/// The verdict on a chain presented by an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainVerdict {
    /// Whether the chain reaches a certherd trusted root (name not considered).
    pub trusted: Result<(), Reason>,
    /// Whether the leaf covers the name used to connect.
    pub covers_name: Result<(), Reason>,
    /// What the leaf names: its CN and SANs.
    pub leaf_names: Vec<String>,
}

impl ChainVerdict {
    /// The problem to record, if verification is required and fails.
    pub fn problem(&self, name: &str) -> Option<Problem> {
        if let Err(r) = &self.trusted {
            let kind = match r {
                Reason::UnknownIssuer => "untrusted",
                Reason::Expired { .. } => "expired",
                Reason::NotYetValid { .. } => "not-yet-valid",
                Reason::Revoked => "revoked",
                _ => "invalid-chain",
            };
            return Some(Problem {
                kind: kind.into(),
                message: r.to_string(),
            });
        }
        if self.covers_name.is_err() {
            return Some(Problem {
                kind: "name-mismatch".into(),
                message: format!(
                    "the certificate names {} but was reached as {name}",
                    self.leaf_names.join(", ")
                ),
            });
        }
        None
    }
}

/// What a file scan found in one file.
#[derive(Clone, Debug)]
pub struct FileFinding {
    /// The file's path.
    pub path: String,
    /// The certificates in it, DER.
    pub certs: Vec<Vec<u8>>,
    /// Its problem, if any.
    pub problem: Option<Problem>,
    /// What it holds, in words.
    pub detail: String,
}

/// What one endpoint scan produced.
#[derive(Debug)]
pub enum EndpointScan {
    /// A TLS session opened and the server presented this chain.
    Presented {
        /// Leaf first.
        chain: Vec<Vec<u8>>,
        /// The protocol version.
        version: String,
        /// The cipher suite.
        cipher_suite: String,
    },
    /// No TLS session: the reason, classified by the transport.
    Failed(Problem),
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

impl<S: Store> Node<S> {
    /// Watched endpoints or files (or both), by kind then name.
    pub fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        Ok(self.store.watches(kind)?)
    }

    /// One watched endpoint by name.
    pub fn endpoint(&self, name: &str) -> Result<Watch, Error> {
        self.watches(Some(WatchKind::Endpoint))?
            .into_iter()
            .find(|w| w.name == name)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "no endpoint named '{name}' (see `certherd endpoint list`)"
                ))
            })
    }

    /// `endpoint add`: watch HOST:PORT under NAME.
    pub fn endpoint_add(
        &mut self,
        name: &str,
        address: &certherd_core::ServerAddress,
        server_name: Option<&str>,
        verify: bool,
    ) -> Result<Watch, Error> {
        // The name becomes an alias in the endpoints store; refuse what cannot be one.
        let _: certherd_core::Alias = name.parse()?;
        if self
            .watches(Some(WatchKind::Endpoint))?
            .iter()
            .any(|w| w.name == name)
        {
            return Err(Error::Invalid(format!(
                "an endpoint named '{name}' already exists"
            )));
        }
        let watch = Watch {
            kind: WatchKind::Endpoint,
            name: name.to_owned(),
            target: address.to_string(),
            server_name: server_name.map(str::to_owned),
            verify,
            created_at: self.now(),
            scanned_at: None,
            problem: None,
            detail: String::new(),
        };
        self.commit(&[
            Change::CreateStore(WatchKind::Endpoint.store(), self.now()),
            Change::PutWatch(Box::new(watch.clone())),
            self.audit("endpoint-add", name, format!("{address} verify={verify}")),
        ])?;
        Ok(watch)
    }

    /// `endpoint remove`: forget the endpoint and the certificate last seen on it.
    pub fn endpoint_remove(&mut self, name: &str) -> Result<(), Error> {
        let w = self.endpoint(name)?;
        let mut changes = vec![Change::DeleteWatch(WatchKind::Endpoint, name.to_owned())];
        if let Some(r) = w.entry() {
            if self.store.entry(&r)?.is_some() {
                changes.push(Change::DeleteEntry(r));
            }
        }
        changes.push(self.audit("endpoint-remove", name, w.target));
        self.commit(&changes)
    }

    /// Judges a chain with the node's trusted roots and CRLs at the node's clock.
    pub fn judge_chain(&self, chain: &[Vec<u8>], name: &str) -> Result<ChainVerdict, Error> {
        let leaf = chain
            .first()
            .ok_or_else(|| Error::Invalid("the endpoint presented no certificate".into()))?;
        let anchors = self.trust_anchors()?;
        let crls = self.trusted_crls()?;
        let intermediates: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let mut input = VerifyInput {
            end_entity: leaf,
            intermediates: &intermediates,
            trusted: &anchors,
            crls: &crls,
            at: self.now(),
            name: None,
            purpose: Purpose::Server,
        };
        let trusted = certherd_x509::verify(&input).map(|_| ());
        let info = CertInfo::from_der(leaf)?;
        let covers_name = if trusted.is_ok() {
            input.name = Some(name);
            match certherd_x509::verify(&input) {
                Err(r @ (Reason::NameMismatch { .. } | Reason::InvalidName(_))) => Err(r),
                _ => Ok(()),
            }
        } else {
            // No path to judge with: match the SANs as a TLS client does (no CN fallback).
            let has_sans = !(info.dns_names.is_empty() && info.ip_addresses.is_empty());
            if has_sans && info.covers_name(name) {
                Ok(())
            } else {
                Err(Reason::NameMismatch {
                    expected: name.to_owned(),
                    presented: info.subject_alt_names(),
                })
            }
        };
        let mut leaf_names: Vec<String> = info.subject_cn.iter().cloned().collect();
        leaf_names.extend(info.dns_names.iter().cloned());
        leaf_names.extend(info.ip_addresses.iter().map(ToString::to_string));
        leaf_names.dedup();
        Ok(ChainVerdict {
            trusted,
            covers_name,
            leaf_names,
        })
    }

    /// Records one endpoint scan. Every watch of that target (or only the one named) is
    /// updated: its leaf becomes (or replaces) `endpoints/NAME`, and the watch keeps the
    /// facts and the problem. A target seen for the first time gets a watch of its own.
    pub fn record_endpoint_scan(
        &mut self,
        target: &str,
        server_name: Option<&str>,
        scan: &EndpointScan,
        only: Option<&str>,
    ) -> Result<Vec<Watch>, Error> {
        let now = self.now();
        let mut watches: Vec<Watch> = self
            .watches(Some(WatchKind::Endpoint))?
            .into_iter()
            .filter(|w| match only {
                Some(n) => w.name == n,
                None => {
                    w.target == target
                        && (server_name.is_none() || w.server_name.as_deref() == server_name)
                }
            })
            .collect();
        if watches.is_empty() {
            watches.push(Watch {
                kind: WatchKind::Endpoint,
                name: endpoint_name_for(target),
                target: target.to_owned(),
                server_name: server_name.map(str::to_owned),
                verify: false,
                created_at: now,
                scanned_at: None,
                problem: None,
                detail: String::new(),
            });
        }
        let mut changes = vec![Change::CreateStore(WatchKind::Endpoint.store(), now)];
        for watch in &mut watches {
            watch.scanned_at = Some(now);
            let r = EntryRef::new(WatchKind::Endpoint.store(), watch.name.parse()?);
            match scan {
                EndpointScan::Failed(p) => {
                    watch.detail = format!("last_scan=failed; reason={}", p.kind);
                    watch.problem = Some(p.clone());
                }
                EndpointScan::Presented {
                    chain,
                    version,
                    cipher_suite,
                } => {
                    let name = watch.server_name.clone().unwrap_or_else(|| {
                        target
                            .rsplit_once(':')
                            .map_or(target, |(h, _)| h)
                            .trim_matches(['[', ']'])
                            .to_owned()
                    });
                    let verdict = self.judge_chain(chain, &name)?;
                    let info = CertInfo::from_der(&chain[0])?;
                    // `key=value; ...`, so people read it and `--output json` splits it into fields.
                    watch.detail = format!(
                        "tls_version={version}; cipher_suite={cipher_suite}; key={}; signature={}; chain_length={}; trusted={}; name={name}; covers_name={}",
                        info.public_key,
                        info.signature_algorithm,
                        chain.len(),
                        if verdict.trusted.is_ok() { "yes" } else { "no" },
                        if verdict.covers_name.is_ok() { "yes" } else { "no" },
                    );
                    watch.problem = if watch.verify {
                        verdict.problem(&name)
                    } else {
                        None
                    };
                    let meta = self.meta_for(
                        r,
                        &info,
                        EntryKind::Certificate,
                        None,
                        Source::Watched,
                        None,
                    );
                    changes.push(Change::PutEntry {
                        entry: Box::new(Self::entry_with_key(
                            meta,
                            chain[0].clone(),
                            chain[1..].to_vec(),
                            None,
                        )),
                        replace: true,
                    });
                }
            }
            changes.push(Change::PutWatch(Box::new(watch.clone())));
        }
        self.commit(&changes)?;
        Ok(watches)
    }

    /// Records what a file scan found, file by file: each certificate as `files/ALIAS` (a
    /// bundle gives several), with the file's problem (wrong password, loose key
    /// permissions...). Written in batches of a thousand files per transaction, so a
    /// scan of a whole disk is not a hundred thousand commits.
    pub fn record_file_scans(&mut self, files: &[FileFinding]) -> Result<Vec<Watch>, Error> {
        let mut out = Vec::new();
        // What earlier scans recorded per path, so a file that now holds fewer certificates
        // (a bundle trimmed to one) leaves no stale entries behind.
        let mut earlier: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for w in self.store.watches(Some(WatchKind::File))? {
            earlier.entry(w.target).or_default().push(w.name);
        }
        for chunk in files.chunks(1000) {
            let now = self.now();
            let store = WatchKind::File.store();
            let mut changes = vec![Change::CreateStore(store.clone(), now)];
            for f in chunk {
                let base = file_alias_base(&f.path);
                let count = f.certs.len().max(1);
                let names: Vec<String> = if count == 1 {
                    vec![base.clone()]
                } else {
                    (1..=count).map(|i| format!("{base}-{i}")).collect()
                };
                for stale in earlier
                    .remove(&f.path)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| !names.contains(n))
                {
                    let r = EntryRef::new(store.clone(), stale.parse()?);
                    if self.store.entry(&r)?.is_some() {
                        changes.push(Change::DeleteEntry(r));
                    }
                    changes.push(Change::DeleteWatch(WatchKind::File, stale));
                }
                // A file with no certificate (an orphaned key, a wrong password) is still recorded.
                for i in 0..count {
                    let name = if count == 1 {
                        base.clone()
                    } else {
                        format!("{base}-{}", i + 1)
                    };
                    let r = EntryRef::new(store.clone(), name.parse()?);
                    let watch = Watch {
                        kind: WatchKind::File,
                        name,
                        target: f.path.clone(),
                        server_name: None,
                        verify: false,
                        created_at: now,
                        scanned_at: Some(now),
                        problem: f.problem.clone(),
                        detail: f.detail.clone(),
                    };
                    if let Some(cert) = f.certs.get(i) {
                        let info = CertInfo::from_der(cert)?;
                        let meta = self.meta_for(
                            r,
                            &info,
                            EntryKind::Certificate,
                            None,
                            Source::Watched,
                            None,
                        );
                        changes.push(Change::PutEntry {
                            entry: Box::new(Self::entry_with_key(meta, cert.clone(), vec![], None)),
                            replace: true,
                        });
                    }
                    changes.push(Change::PutWatch(Box::new(watch.clone())));
                    out.push(watch);
                }
            }
            self.commit(&changes)?;
        }
        Ok(out)
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
