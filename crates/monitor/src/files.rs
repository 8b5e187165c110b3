//! Reading what a file holds for `scan files`: its certificates and keys, and what is wrong
//! with the file itself (a wrong PKCS#12 password, a key readable by others, damage).
//! Judging the certificates is the inspection's; recording them is the node's.

use std::collections::HashSet;
use std::path::PathBuf;

use certherd_inspect::{FileFacts, Finding, FindingKind, Severity};
use certherd_x509::{Found, FoundKey};

use crate::walk::{self, Content, SkipReason, WalkedFile};

/// Files larger than this are not certificates or keys; they are skipped unread.
pub const MAX_FILE: u64 = 1 << 20;

/// What one file holds.
#[derive(Clone, Debug)]
pub struct ExaminedFile {
    /// The path read.
    pub path: PathBuf,
    /// Its certificates, DER, in file order.
    pub certs: Vec<Vec<u8>>,
    /// Its private keys.
    pub keys: Vec<FoundKey>,
    /// What is wrong with the file itself.
    pub findings: Vec<Finding>,
    /// What it holds.
    pub facts: FileFacts,
}

/// Mode bits wider than 0600 (group or others may read).
fn loose_permissions(mode: u32) -> Option<u32> {
    let mode = mode & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// What [`examine`] made of one file.
#[derive(Clone, Debug)]
pub enum Examined {
    /// It holds certificates or keys, or something is wrong with it (unreadable, damaged,
    /// locked).
    File(ExaminedFile),
    /// It holds nothing certherd recognizes, is empty, or is a SQLite database
    /// (certherd's own, or any other: never parsed).
    Nothing,
    /// Not read: larger than [`MAX_FILE`], or not a regular file any more. The scan lists
    /// it with this reason.
    Skipped(SkipReason),
}

/// Reads and classifies one file the walk listed (one open, one `fstat`, one read).
/// The links that lead to it become its facts' `links`.
pub fn examine(file: &WalkedFile, password: Option<&str>) -> Examined {
    match examine_read(file, password) {
        Ok(Some(r)) => Examined::File(r),
        Ok(None) => Examined::Nothing,
        Err(reason) => Examined::Skipped(reason),
    }
}

fn examine_read(
    file: &WalkedFile,
    password: Option<&str>,
) -> Result<Option<ExaminedFile>, SkipReason> {
    let path = file.path.as_path();
    let mut r = ExaminedFile {
        path: path.into(),
        certs: vec![],
        keys: vec![],
        findings: vec![],
        facts: FileFacts {
            links: file.links.iter().map(|l| walk::path_text(l)).collect(),
            ..FileFacts::default()
        },
    };
    let (bytes, mode) = match walk::read(path, MAX_FILE) {
        Ok(Content::Bytes { bytes, mode }) => (bytes, mode),
        Ok(Content::TooLarge(size)) => {
            return Err(SkipReason::TooLarge {
                size,
                limit: MAX_FILE,
            })
        }
        Ok(Content::NotRegular) => return Err(SkipReason::NotRegular),
        Ok(Content::Empty | Content::Sqlite) => return Ok(None),
        // In /proc and the like, an unreadable file is a process's private state or one
        // that ended: skipped and listed, never recorded (a watch of it would warn for
        // good about a process long gone).
        Err(e) if walk::pseudo_of(path).is_some() => {
            return Err(SkipReason::UnreadablePseudo(e.to_string()))
        }
        // An unreadable file is a finding of its own, recorded and monitored.
        Err(e) => {
            r.findings.push(Finding::new(
                FindingKind::Unreadable,
                Severity::Warning,
                e.to_string(),
            ));
            return Ok(Some(r));
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match certherd_x509::discover(&bytes, &name, password) {
        Found::Nothing => return Ok(None),
        Found::Der(c) => {
            r.certs = vec![c];
            r.facts.format = "DER".into();
        }
        Found::Pem { certs, keys } => {
            r.facts.format = "PEM".into();
            r.certs = certs;
            r.keys = keys;
        }
        Found::Pkcs12 { certs, keys } => {
            r.facts.format = "PKCS#12".into();
            r.certs = certs;
            r.keys = keys;
        }
        Found::Pkcs12Locked { tried } => {
            r.facts.format = "PKCS#12".into();
            r.facts.locked = true;
            r.findings.push(
                Finding::new(
                    FindingKind::WrongPassword,
                    Severity::Warning,
                    if tried {
                        "the password given does not open this PKCS#12 file"
                    } else {
                        "encrypted PKCS#12: its certificates cannot be read without the password"
                    },
                )
                .with_hint("certherd scan files PATH --password-file FILE"),
            );
        }
        Found::Damaged(d) => {
            r.findings
                .push(Finding::new(FindingKind::Damaged, Severity::Warning, d));
        }
    }
    r.facts.certificates = r.certs.len();
    r.facts.keys = r.keys.len();
    r.facts.bundle = r.certs.len() > 1;
    if !r.keys.is_empty() {
        if let Some(mode) = loose_permissions(mode) {
            r.findings.push(
                Finding::new(
                    FindingKind::KeyPermissions,
                    Severity::Critical,
                    format!("holds a private key but its mode is {mode:o}, wider than 600"),
                )
                .with_hint(format!("chmod 600 {}", path.display())),
            );
        }
    }
    Ok(Some(r))
}

/// Marks keys that no certificate of the whole scan matches (`cert_keys`: the
/// SubjectPublicKeyInfo of every certificate found, see `certherd_x509::certificate_spki`): such a key
/// is stale, or its certificate lives where nobody is watching.
pub fn mark_orphaned_keys(files: &mut [ExaminedFile], cert_keys: &HashSet<Vec<u8>>) {
    for r in files {
        let orphans = r
            .keys
            .iter()
            .filter(|k| {
                k.public_key
                    .as_ref()
                    .is_some_and(|p| !cert_keys.contains(p))
            })
            .count();
        if orphans > 0 {
            r.findings.push(Finding::new(
                FindingKind::OrphanedKey,
                Severity::Warning,
                format!("{orphans} private key(s) match no certificate found in this scan"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use certherd_x509::{certificate_spki, CertInfo, CertSpec, KeyAlgorithm, PrivateKey, Role};

    /// The scan matches keys to certificates by the SubjectPublicKeyInfo as written.
    #[test]
    fn finds_the_public_key_of_certificates_and_nothing_in_garbage() {
        let now = time::OffsetDateTime::now_utc();
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
            let key = PrivateKey::generate(alg).unwrap();
            let spec = CertSpec {
                common_name: "k.example.test".into(),
                organization: None,
                dns_names: vec!["k.example.test".into()],
                ip_addresses: vec![],
                not_before: now,
                not_after: now + time::Duration::days(30),
                role: Role::Leaf,
                eku: vec![],
            };
            let cert = certherd_x509::self_sign(&spec, &key).unwrap().to_vec();
            assert_eq!(
                certificate_spki(&cert),
                Some(&CertInfo::from_der(&cert).unwrap().spki_der[..])
            );
            assert_eq!(certificate_spki(&key.public_key_spki()), None);
            for n in 0..cert.len() {
                let _ = certificate_spki(&cert[..n]);
            }
        }
        assert_eq!(certificate_spki(&[]), None);
        assert_eq!(
            certificate_spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
