//! One certificate, one inventory item: copies of a certificate seen through several
//! sources (a store entry, a fleet host, a scanned endpoint or file) are recognised by
//! their SHA-256 and counted once.

use std::collections::BTreeMap;

use crate::{EntryMeta, EntryRef, Source};

/// The inventory with copies folded: each certificate once, with every place it was seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// One entry per certificate: the managed one when there is one (issued, imported,
    /// trusted, a fleet host's...), else the first scanned copy.
    pub items: Vec<EntryMeta>,
    /// For each kept entry that has copies, the other entries holding the same certificate.
    pub copies: BTreeMap<EntryRef, Vec<EntryRef>>,
}

impl Folded {
    /// The other places the certificate of `entry` was seen.
    pub fn copies_of(&self, entry: &EntryRef) -> &[EntryRef] {
        self.copies.get(entry).map_or(&[], Vec::as_slice)
    }
}

/// Folds scanned copies (source `watched`) into the entry that holds the same certificate.
/// A copy of a certificate that was since superseded (moved to `backup`) folds into that
/// backup entry, so a stale scan never raises or forecasts a lapse the fleet already
/// renewed away.
pub fn fold_copies(entries: &[EntryMeta]) -> Folded {
    // The entry that stands for each certificate: managed beats watched; among managed,
    // a live entry beats its backup.
    let rank = |m: &EntryMeta| -> u8 {
        match (m.source == Source::Watched, m.entry.store.is_backup()) {
            (false, false) => 0,
            (false, true) => 1,
            (true, _) => 2,
        }
    };
    let mut primary: BTreeMap<&str, &EntryMeta> = BTreeMap::new();
    for m in entries {
        let slot = primary.entry(m.sha256.as_str()).or_insert(m);
        if rank(m) < rank(slot) {
            *slot = m;
        }
    }
    let mut out = Folded::default();
    for m in entries {
        let Some(p) = primary.get(m.sha256.as_str()) else {
            continue;
        };
        if p.entry == m.entry {
            out.items.push(m.clone());
        } else if m.source == Source::Watched {
            out.copies
                .entry(p.entry.clone())
                .or_default()
                .push(m.entry.clone());
        } else {
            // Two managed entries with one certificate (a trusted root and the CA entry)
            // are two roles, both kept.
            out.items.push(m.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntryKind;
    use time::macros::datetime;

    fn meta(r: &str, source: Source, sha: &str) -> EntryMeta {
        EntryMeta {
            entry: r.parse().unwrap(),
            kind: EntryKind::Certificate,
            profile: None,
            source,
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2027-01-01 0:00 UTC),
            sha256: sha.into(),
            issuer_sha256: None,
            stored_at: datetime!(2026-01-01 0:00 UTC),
        }
    }

    #[test]
    fn a_scanned_copy_folds_into_the_managed_entry() {
        let f = fold_copies(&[
            meta("endpoints/h1-443", Source::Watched, "aa"),
            meta("files/cert-1", Source::Watched, "aa"),
            meta("fleet-hosts/h1", Source::Issued, "aa"),
            meta("endpoints/other", Source::Watched, "bb"),
        ]);
        let kept: Vec<String> = f.items.iter().map(|m| m.entry.to_string()).collect();
        assert_eq!(kept, ["fleet-hosts/h1", "endpoints/other"]);
        assert_eq!(f.copies_of(&"fleet-hosts/h1".parse().unwrap()).len(), 2);
    }

    #[test]
    fn a_copy_of_a_superseded_certificate_is_not_live() {
        let f = fold_copies(&[
            meta("endpoints/h1-9443", Source::Watched, "old"),
            meta("backup/fleet-hosts.h1.1", Source::Issued, "old"),
            meta("fleet-hosts/h1", Source::Issued, "new"),
        ]);
        let kept: Vec<String> = f.items.iter().map(|m| m.entry.to_string()).collect();
        assert_eq!(kept, ["backup/fleet-hosts.h1.1", "fleet-hosts/h1"]);
    }

    #[test]
    fn scanned_copies_alone_keep_the_first() {
        let f = fold_copies(&[
            meta("endpoints/a", Source::Watched, "aa"),
            meta("files/b", Source::Watched, "aa"),
        ]);
        assert_eq!(f.items.len(), 1);
        assert_eq!(f.items[0].entry.to_string(), "endpoints/a");
    }
}
