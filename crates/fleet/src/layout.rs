//! `cert export --layout`: the file trees libvirt and QEMU read their TLS credentials
//! from, checked against what the daemon accepts, prepared whole and put in place whole
//! or not at all.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use certherd_core::{EntryRef, StoreName};
use certherd_store::Store;
use certherd_x509::{CertInfo, PemLabel, PrivateKey};

use certherd_authority::{chain_without_root, Node};

use crate::Error;

/// A directory tree a TLS daemon reads its credentials from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// libvirt, as under /etc/pki: `CA/cacert.pem`, `libvirt/servercert.pem`,
    /// `libvirt/clientcert.pem`, `libvirt/private/serverkey.pem`,
    /// `libvirt/private/clientkey.pem`.
    Libvirt,
    /// QEMU's `tls-creds-x509` directory: `ca-cert.pem`, `server-cert.pem`,
    /// `server-key.pem`, `client-cert.pem`, `client-key.pem`.
    Qemu,
}

impl Layout {
    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Libvirt => "libvirt",
            Self::Qemu => "qemu",
        }
    }

    /// The program that reads the layout, for messages.
    fn reader(self) -> &'static str {
        match self {
            Self::Libvirt => "libvirt",
            Self::Qemu => "QEMU",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self, LayoutError> {
        match s.to_ascii_lowercase().as_str() {
            "libvirt" => Ok(Self::Libvirt),
            "qemu" => Ok(Self::Qemu),
            _ => Err(LayoutError::UnknownLayout(s.to_owned())),
        }
    }
}

/// A QEMU version as `qemu-img --version` prints it: `qemu-img version 10.0.2 (Debian
/// 1:10.0.2+ds-2+deb13u1~bpo12+1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuVersion {
    /// Upstream major, minor and micro version.
    pub upstream: (u32, u32, u32),
    /// The Debian package version in parentheses (`1:7.2+dfsg-7+deb12u18+b2`), on a
    /// Debian (or derived) build.
    pub debian: Option<String>,
}

impl QemuVersion {
    /// Parses the output of `qemu-img --version`; `None` when it is not understood.
    pub fn parse(output: &str) -> Option<Self> {
        let rest = output
            .lines()
            .next()?
            .trim()
            .strip_prefix("qemu-img version ")?;
        let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut parts = number.split('.');
        let mut part = || -> Option<u32> {
            match parts.next() {
                // Digits only: `10.2.0-rc1` style suffixes are not understood.
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                Some(_) => None,
                None => Some(0),
            }
        };
        let upstream = (part()?, part()?, part()?);
        if parts.next().is_some() || number.split('.').count() < 2 {
            return None;
        }
        let debian = rest
            .trim()
            .strip_prefix("(Debian ")
            .and_then(|d| d.split_once(')'))
            .map(|(d, _)| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        Some(Self { upstream, debian })
    }

    /// Whether this QEMU refuses a server or client certificate whose critical keyUsage
    /// lacks keyEncipherment. QEMU dropped that requirement in 10.2.0 and backported it to
    /// the 10.1.3 and 10.0.7 stable releases; Debian 12 to its 7.2 in 1:7.2+dfsg-7+deb12u18.
    pub fn requires_key_encipherment(&self) -> bool {
        let (major, minor, micro) = self.upstream;
        let upstream_fixed = major > 10
            || (major == 10
                && (minor >= 2 || (minor == 1 && micro >= 3) || (minor == 0 && micro >= 7)));
        let debian_fixed = (major, minor) == (7, 2)
            && self
                .debian
                .as_deref()
                .and_then(debian_update)
                .is_some_and(|n| n >= 18);
        !(upstream_fixed || debian_fixed)
    }
}

/// N of a Debian 12 stable update `+deb12uN` in a package version, if there is one.
fn debian_update(version: &str) -> Option<u32> {
    let (_, after) = version.split_once("+deb12u")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl fmt::Display for QemuVersion {
    /// The upstream version, `10.0.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor, micro) = self.upstream;
        write!(f, "{major}.{minor}.{micro}")
    }
}

/// What is known of the QEMU that reads a qemu layout on this machine, which decides
/// whether its certificate needs keyEncipherment. Found at the edge (the CLI, the agent)
/// by running `qemu-img --version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QemuReader {
    /// `qemu-img --version` printed this version.
    Found(QemuVersion),
    /// No `qemu-img` could be run.
    NotFound,
    /// `qemu-img --version` printed this first line, not understood.
    NotUnderstood(String),
}

impl QemuReader {
    /// From the output of `qemu-img --version`, or `None` when it could not be run.
    pub fn from_version_output(output: Option<&str>) -> Self {
        match output {
            None => Self::NotFound,
            Some(text) => QemuVersion::parse(text).map_or_else(
                || Self::NotUnderstood(text.lines().next().unwrap_or_default().trim().to_owned()),
                Self::Found,
            ),
        }
    }

    /// Whether the layout must carry keyEncipherment for this QEMU. A version not known
    /// keeps the requirement: a certificate that has it works with every QEMU.
    pub fn requires_key_encipherment(&self) -> bool {
        match self {
            Self::Found(v) => v.requires_key_encipherment(),
            Self::NotFound | Self::NotUnderstood(_) => true,
        }
    }

    /// How messages name the reader.
    fn describe(&self) -> String {
        match self {
            Self::Found(v) => match &v.debian {
                Some(d) => format!("QEMU {v} (qemu-img here, Debian {d})"),
                None => format!("QEMU {v} (qemu-img here)"),
            },
            Self::NotFound => {
                "QEMU (version unknown: no qemu-img found here; taken as before 10.0.7)".to_owned()
            }
            Self::NotUnderstood(line) => {
                format!("QEMU (version unknown: qemu-img printed {line:?}; taken as before 10.0.7)")
            }
        }
    }
}

/// What a refusal for QEMU adds: which QEMU needs digitalSignature alone.
const QEMU_NEWER: &str = "; QEMU 10.0.7, 10.1.3, 10.2.0 and later (on Debian 12, qemu-utils 1:7.2+dfsg-7+deb12u18 and later) need digitalSignature alone";

/// One file of a layout: where it goes under the layout directory, what it holds, its mode.
#[derive(Clone, PartialEq, Eq)]
pub struct LayoutFile {
    /// Path relative to the layout directory.
    pub path: PathBuf,
    /// Content (PEM).
    pub data: Vec<u8>,
    /// Permission bits: 0600 for keys, 0644 otherwise.
    pub mode: u32,
}

impl fmt::Debug for LayoutFile {
    // Keys are never printed, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayoutFile")
            .field("path", &self.path)
            .field("bytes", &self.data.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// Why a layout was refused or could not be written. When one is returned, the layout
/// directory holds what it held before.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The layout name is not known.
    #[error("unknown layout '{0}': expected libvirt or qemu")]
    UnknownLayout(String),
    /// The entry has no private key to lay out.
    #[error("{0} holds no private key (certificate-only entry): a {1} layout needs the key")]
    NoKey(EntryRef, Layout),
    /// The home trusts no root to write as the CA file.
    #[error("the home's trusted-roots store is empty: a {0} layout needs the CA certificate")]
    NoRoots(Layout),
    /// The certificate does not serve as both server and client certificate.
    #[error("the {layout} layout uses the certificate as server and client certificate, so its extended key usage must include serverAuth and clientAuth; it has: {present} (issue it with the machine-ssl or host profile)")]
    NotServerAndClient {
        /// The layout.
        layout: Layout,
        /// The EKUs the certificate has.
        present: String,
    },
    /// The key type cannot carry the key usage the target requires.
    #[error("{reader} requires keyEncipherment, which an {key} key cannot carry; the certificate needs an RSA key{newer}", newer = if *layout == Layout::Qemu { QEMU_NEWER } else { "" })]
    KeyCannotEncipher {
        /// The layout.
        layout: Layout,
        /// The program that reads it, as found here (`QEMU 10.0.2 (qemu-img here)`).
        reader: String,
        /// The key type (`ECDSA`, `Ed25519`).
        key: &'static str,
    },
    /// The certificate's key usage lacks a bit the target requires.
    #[error("{reader} refuses a server or client certificate whose critical keyUsage lacks {needed}, and this certificate has only [{present}]; reissue it with both digitalSignature and keyEncipherment (certherd's RSA leaves carry both){newer}", newer = if *layout == Layout::Qemu && *needed == "keyEncipherment" { QEMU_NEWER } else { "" })]
    MissingKeyUsage {
        /// The layout.
        layout: Layout,
        /// The program that reads it, as found here.
        reader: String,
        /// The missing bit.
        needed: &'static str,
        /// The bits present.
        present: String,
    },
    /// No trusted root signed the top of the certificate's chain.
    #[error("the certificate's chain ends at '{issuer}', which no root in trusted-roots signed: {reader} would reject the peer", reader = layout.reader())]
    NotAnchored {
        /// The layout.
        layout: Layout,
        /// The issuer of the chain's top certificate.
        issuer: String,
    },
    /// The layout directory exists and is not a directory.
    #[error("{}: is {kind}, not a directory; give the directory the {layout} layout goes in", dir.display())]
    DirNotDirectory {
        /// The path given.
        dir: PathBuf,
        /// What it is.
        kind: &'static str,
        /// The layout.
        layout: Layout,
    },
    /// A file or directory of the layout is in the way.
    #[error("{}: is {kind} where the layout needs {needed}; move it away first (nothing was written)", path.display())]
    InTheWay {
        /// The path.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
        /// What the layout needs there.
        needed: &'static str,
    },
    /// Preparing the layout failed before anything was replaced.
    #[error("cannot {action} {}: {source} (nothing was replaced)", path.display())]
    Prepare {
        /// What was being done.
        action: &'static str,
        /// The path the layout needs.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing a new file failed before anything was replaced.
    #[error("cannot write {}: {source} (nothing was replaced)", path.display())]
    Stage {
        /// The layout file.
        path: PathBuf,
        /// Why.
        source: certherd_store::Error,
    },
    /// Putting a prepared file in place failed; the files already renamed were put back.
    #[error("cannot put {} in place: {source}; {}", path.display(), if *restored { "the previous layout was restored" } else { "restoring the previous layout failed too: check the directory by hand" })]
    Replace {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
        /// Whether every file renamed before it was put back.
        restored: bool,
    },
    /// Putting the previous layout back failed.
    #[error("cannot put the previous {} back: {source}; check the directory by hand", path.display())]
    Restore {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A certificate or key could not be read.
    #[error(transparent)]
    X509(#[from] certherd_x509::Error),
}

fn pem_certs(certs: &[Vec<u8>]) -> Vec<u8> {
    certs
        .iter()
        .map(|c| certherd_x509::to_pem(PemLabel::Certificate, c))
        .collect::<String>()
        .into_bytes()
}

/// Checks that `layout`'s daemon would accept the certificate (for QEMU, the one `qemu`
/// describes), then renders its files: the certificate with its intermediates (never the
/// root) as server and client certificate, the key (0600) for both, and `roots` with
/// those intermediates as the CA file.
pub fn layout_files(
    layout: Layout,
    qemu: &QemuReader,
    cert: &[u8],
    chain: &[Vec<u8>],
    key: &PrivateKey,
    roots: &[Vec<u8>],
) -> Result<Vec<LayoutFile>, LayoutError> {
    let info = CertInfo::from_der(cert)?;
    // No extendedKeyUsage: any purpose, for libvirt and QEMU too. One that lacks either
    // purpose only gets a warning from them when it is not critical; refused here all
    // the same, since the layout uses the certificate both ways.
    let ekus = &info.extended_key_usage;
    let any = ekus.iter().any(|e| e == "anyExtendedKeyUsage");
    if info.has_extended_key_usage
        && !any
        && !(ekus.iter().any(|e| e == "serverAuth") && ekus.iter().any(|e| e == "clientAuth"))
    {
        return Err(LayoutError::NotServerAndClient {
            layout,
            present: if ekus.is_empty() {
                "none".to_owned()
            } else {
                ekus.join(", ")
            },
        });
    }
    // libvirt and QEMU (virNetTLSCertCheckKeyUsage, qcrypto_tls_creds_check_cert_key_usage)
    // refuse a server or client certificate whose keyUsage is critical and lacks
    // digitalSignature or keyEncipherment; a non-critical one only warns, an absent one
    // permits both. certherd's keyUsage is always critical. Newer QEMU no longer asks for
    // keyEncipherment (see QemuVersion::requires_key_encipherment); libvirt still does.
    if info.key_usage_critical {
        let (reader, encipher) = match layout {
            Layout::Libvirt => (layout.reader().to_owned(), true),
            Layout::Qemu => (qemu.describe(), qemu.requires_key_encipherment()),
        };
        let algorithm = key.algorithm();
        if encipher && !algorithm.is_rsa() && !info.key_usage.contains(&"keyEncipherment") {
            let key = if algorithm == certherd_x509::KeyAlgorithm::Ed25519 {
                "Ed25519"
            } else {
                "ECDSA"
            };
            return Err(LayoutError::KeyCannotEncipher {
                layout,
                reader,
                key,
            });
        }
        let needed: &[&'static str] = if encipher {
            &["digitalSignature", "keyEncipherment"]
        } else {
            &["digitalSignature"]
        };
        for &needed in needed {
            if !info.key_usage.contains(&needed) {
                return Err(LayoutError::MissingKeyUsage {
                    layout,
                    reader,
                    needed,
                    present: info.key_usage.join(", "),
                });
            }
        }
    }
    if roots.is_empty() {
        return Err(LayoutError::NoRoots(layout));
    }
    let certs = chain_without_root(cert, chain);
    let top = certs.last().map_or(cert, Vec::as_slice);
    if !roots
        .iter()
        .any(|root| root.as_slice() == top || CertInfo::is_signed_by(top, root))
    {
        return Err(LayoutError::NotAnchored {
            layout,
            issuer: CertInfo::from_der(top)?.issuer,
        });
    }
    // libvirt and QEMU check their own certificate against the CA file alone, not the
    // chain in the certificate file: the intermediates go there too, after the roots.
    let mut ca_certs: Vec<Vec<u8>> = roots.to_vec();
    for intermediate in certs.iter().skip(1) {
        if !ca_certs.contains(intermediate) {
            ca_certs.push(intermediate.clone());
        }
    }
    let certs = pem_certs(&certs);
    let key = key.to_pem().into_bytes();
    let ca = pem_certs(&ca_certs);
    let file = |path: &str, data: &[u8], mode: u32| LayoutFile {
        path: PathBuf::from(path),
        data: data.to_vec(),
        mode,
    };
    Ok(match layout {
        Layout::Libvirt => vec![
            file("CA/cacert.pem", &ca, 0o644),
            file("libvirt/servercert.pem", &certs, 0o644),
            file("libvirt/clientcert.pem", &certs, 0o644),
            file("libvirt/private/serverkey.pem", &key, 0o600),
            file("libvirt/private/clientkey.pem", &key, 0o600),
        ],
        Layout::Qemu => vec![
            file("ca-cert.pem", &ca, 0o644),
            file("server-cert.pem", &certs, 0o644),
            file("server-key.pem", &key, 0o600),
            file("client-cert.pem", &certs, 0o644),
            file("client-key.pem", &key, 0o600),
        ],
    })
}

/// The mode of a directory the layout creates: `private` (keys) is 0700.
fn dir_mode(rel: &Path) -> u32 {
    if rel.file_name().is_some_and(|n| n == "private") {
        0o700
    } else {
        0o755
    }
}

fn kind_of(m: &fs::Metadata) -> &'static str {
    certherd_store::file_type_words(&m.file_type())
}

/// A file on its way into place.
struct Staged {
    target: PathBuf,
    new: PathBuf,
    /// A hard link to the file it replaces, if there was one.
    old: Option<PathBuf>,
}

fn side_path(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.certherd-{what}-{}", std::process::id()))
}

fn sync_dir(dir: &Path) {
    // Durability of the renames; a directory that cannot be opened was already written.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `files` under `dir`, replacing an existing layout whole or not at all: every
/// check is made and every new file written to a temporary beside its target before the
/// first rename; if a rename fails, the files already renamed are put back (or removed
/// where there was none). Returns the paths written.
pub fn write_layout(
    dir: &Path,
    layout: Layout,
    files: &[LayoutFile],
) -> Result<Vec<PathBuf>, LayoutError> {
    replace_layout(dir, layout, files).map(Replaced::commit)
}

/// [`write_layout`], keeping the previous files until the caller commits the new layout
/// or restores the old one (after asking the daemon to load it).
pub fn replace_layout(
    dir: &Path,
    layout: Layout,
    files: &[LayoutFile],
) -> Result<Replaced, LayoutError> {
    write_layout_with(dir, layout, files, &mut |from, to| fs::rename(from, to))
}

fn write_layout_with(
    dir: &Path,
    layout: Layout,
    files: &[LayoutFile],
    rename: &mut dyn FnMut(&Path, &Path) -> io::Result<()>,
) -> Result<Replaced, LayoutError> {
    // 1. Checks: the directory, every directory on the way, every target.
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(LayoutError::DirNotDirectory {
                dir: dir.to_path_buf(),
                kind: kind_of(&m),
                layout,
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(LayoutError::Prepare {
                action: "read",
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let mut missing_dirs: Vec<(PathBuf, u32)> = Vec::new();
    // An existing key directory open to others is closed (the keys are 0600 anyway).
    let mut to_tighten: Vec<PathBuf> = Vec::new();
    let mut consider_dir = |path: PathBuf, mode: u32| -> Result<(), LayoutError> {
        if missing_dirs.iter().any(|(p, _)| *p == path) {
            return Ok(());
        }
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                use std::os::unix::fs::PermissionsExt;
                if mode == 0o700 && m.permissions().mode() & 0o077 != 0 {
                    to_tighten.push(path);
                }
                Ok(())
            }
            Ok(m) => Err(LayoutError::InTheWay {
                path,
                kind: kind_of(&m),
                needed: "a directory",
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing_dirs.push((path, mode));
                Ok(())
            }
            Err(source) => Err(LayoutError::Prepare {
                action: "read",
                path,
                source,
            }),
        }
    };
    // The missing directories above it (`--out a/new/pki`) are made too, outermost
    // first, and removed again with the rest when the layout is not put in place.
    let mut above: Vec<PathBuf> = dir
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    above.reverse();
    for d in above {
        consider_dir(d, 0o755)?;
    }
    consider_dir(dir.to_path_buf(), 0o755)?;
    for f in files {
        let mut rel = PathBuf::new();
        let parents: Vec<_> = f
            .path
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        for c in parents {
            rel.push(c);
            consider_dir(dir.join(&rel), dir_mode(&rel))?;
        }
        let target = dir.join(&f.path);
        match fs::symlink_metadata(&target) {
            Ok(m) if !m.file_type().is_file() => {
                return Err(LayoutError::InTheWay {
                    path: target,
                    kind: kind_of(&m),
                    needed: "a regular file",
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LayoutError::Prepare {
                    action: "read",
                    path: target,
                    source,
                })
            }
        }
    }

    // 2. Preparation: directories, new files beside their targets, links to the old ones.
    let mut created: Vec<PathBuf> = Vec::new();
    let mut staged: Vec<Staged> = Vec::new();
    let undo_prepare = |created: &[PathBuf], staged: &[Staged]| {
        for s in staged {
            let _ = fs::remove_file(&s.new);
            if let Some(old) = &s.old {
                let _ = fs::remove_file(old);
            }
        }
        for d in created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    };
    for path in &to_tighten {
        use std::os::unix::fs::PermissionsExt;
        if let Err(source) = fs::set_permissions(path, fs::Permissions::from_mode(0o700)) {
            return Err(LayoutError::Prepare {
                action: "restrict to 0700",
                path: path.clone(),
                source,
            });
        }
    }
    for (path, mode) in &missing_dirs {
        if let Err(source) = fs::DirBuilder::new().mode(*mode).create(path) {
            undo_prepare(&created, &staged);
            return Err(LayoutError::Prepare {
                action: "create directory",
                path: path.clone(),
                source,
            });
        }
        created.push(path.clone());
    }
    for f in files {
        let target = dir.join(&f.path);
        let new = side_path(&target, "new");
        if let Err(source) = certherd_store::write_atomic(&new, &f.data, f.mode) {
            let _ = fs::remove_file(&new);
            undo_prepare(&created, &staged);
            return Err(LayoutError::Stage {
                path: target,
                source,
            });
        }
        let mut s = Staged {
            target,
            new,
            old: None,
        };
        if s.target.exists() {
            let old = side_path(&s.target, "old");
            let _ = fs::remove_file(&old);
            if let Err(source) = fs::hard_link(&s.target, &old) {
                staged.push(s);
                undo_prepare(&created, &staged);
                return Err(LayoutError::Prepare {
                    action: "keep the previous",
                    path: dir.join(&f.path),
                    source,
                });
            }
            s.old = Some(old);
        }
        staged.push(s);
    }

    // 3. Into place; on a failure, back out what was renamed.
    for (i, s) in staged.iter().enumerate() {
        if let Err(source) = rename(&s.new, &s.target) {
            let mut restored = true;
            for done in staged[..i].iter().rev() {
                let back = match &done.old {
                    Some(old) => fs::rename(old, &done.target),
                    None => fs::remove_file(&done.target),
                };
                restored &= back.is_ok();
            }
            for later in &staged[i..] {
                let _ = fs::remove_file(&later.new);
                if let Some(old) = &later.old {
                    let _ = fs::remove_file(old);
                }
            }
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            return Err(LayoutError::Replace {
                path: s.target.clone(),
                source,
                restored,
            });
        }
    }
    for s in &staged {
        if let Some(parent) = s.target.parent() {
            sync_dir(parent);
        }
    }
    Ok(Replaced {
        staged,
        created,
        settled: false,
    })
}

/// A layout just put in place, the previous files still kept beside it (hard links), so
/// that it can be taken back when the daemon will not load it. Dropped without
/// [`Replaced::restore`], it stays: the same as [`Replaced::commit`].
#[derive(Debug)]
pub struct Replaced {
    staged: Vec<Staged>,
    created: Vec<PathBuf>,
    settled: bool,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Replaced {
    /// The files written.
    pub fn files(&self) -> Vec<PathBuf> {
        self.staged.iter().map(|s| s.target.clone()).collect()
    }

    /// Whether any file of the layout was there before (a first layout has nothing to go
    /// back to).
    pub fn had_previous(&self) -> bool {
        self.staged.iter().any(|s| s.old.is_some())
    }

    /// Keeps the new layout: the previous files are let go. Returns the files written.
    pub fn commit(mut self) -> Vec<PathBuf> {
        self.settle_keep();
        self.files()
    }

    fn settle_keep(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        for s in &self.staged {
            if let Some(old) = &s.old {
                let _ = fs::remove_file(old);
            }
        }
    }

    /// Puts the previous layout back whole: each replaced file from the link kept of it,
    /// each file that was not there removed, each directory made for the layout removed.
    /// On an error, the files not yet put back stay new; the error names the first.
    pub fn restore(mut self) -> Result<(), LayoutError> {
        self.settled = true;
        let mut first_error = None;
        for s in self.staged.iter().rev() {
            let back = match &s.old {
                Some(old) => fs::rename(old, &s.target),
                None => fs::remove_file(&s.target),
            };
            if let Err(source) = back {
                first_error.get_or_insert(LayoutError::Restore {
                    path: s.target.clone(),
                    source,
                });
            }
            if let Some(parent) = s.target.parent() {
                sync_dir(parent);
            }
        }
        for d in self.created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Replaced {
    fn drop(&mut self) {
        self.settle_keep();
    }
}

/// A layout that will refuse a certificate just issued, said at issue time (`cert issue`
/// and `POST /v1/certificates` carry it as a warning).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayoutMisfit {
    /// The layout.
    pub layout: Layout,
    /// Whether a `[[agent.targets]]` layout of the home takes this entry; otherwise the
    /// certificate is a host certificate, which a KVM host lays out for libvirt.
    pub configured: bool,
    /// The key type (`ECDSA`, `Ed25519`).
    pub key: &'static str,
}

impl fmt::Display for LayoutMisfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reader = match self.layout {
            Layout::Libvirt => "libvirt",
            Layout::Qemu => "QEMU before 10.0.7",
        };
        if self.configured {
            write!(f, "the {} layout configured in [[agent.targets]] will refuse this certificate: {reader} requires keyEncipherment, which an {} key cannot carry; give it an RSA key (--key-algo rsa-2048)", self.layout, self.key)
        } else {
            write!(f, "for a KVM host: a {} layout refuses this certificate, since {reader} requires keyEncipherment, which an {} key cannot carry; give it an RSA key (--key-algo rsa-2048)", self.layout, self.key)
        }
    }
}

/// The layouts that will refuse entry `r` of `node` as it now is: those of the home's
/// `[[agent.targets]]` that take it (named, or the host certificate when the target names
/// none), or, with no layout target configured, the libvirt layout for a `host`
/// certificate. Only a key that cannot carry keyEncipherment under a critical keyUsage
/// (certherd's ECDSA and Ed25519 leaves) misfits; QEMU is taken as before 10.0.7.
pub fn layout_misfits<S: Store>(node: &Node<S>, r: &EntryRef) -> Result<Vec<LayoutMisfit>, Error> {
    let Some(e) = node.store().entry(r)? else {
        return Ok(Vec::new());
    };
    let Some(key) = &e.key else {
        return Ok(Vec::new());
    };
    let algorithm = certherd_x509::parse_private_key(key.expose())?.algorithm();
    let info = CertInfo::from_der(&e.cert)?;
    if algorithm.is_rsa() || !info.key_usage_critical || info.key_usage.contains(&"keyEncipherment")
    {
        return Ok(Vec::new());
    }
    let key = if algorithm == certherd_x509::KeyAlgorithm::Ed25519 {
        "Ed25519"
    } else {
        "ECDSA"
    };
    let host = e.meta.profile.as_deref() == Some("host");
    let targets: Vec<(Layout, Option<EntryRef>)> = node
        .settings()
        .agent
        .targets
        .iter()
        .filter_map(|t| t.resolve().ok())
        .filter_map(|t| match t {
            certherd_core::AgentTarget::Layout { layout, entry, .. } => Some((
                match layout {
                    certherd_core::TargetLayout::Libvirt => Layout::Libvirt,
                    certherd_core::TargetLayout::Qemu => Layout::Qemu,
                },
                entry,
            )),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return Ok(if host {
            vec![LayoutMisfit {
                layout: Layout::Libvirt,
                configured: false,
                key,
            }]
        } else {
            Vec::new()
        });
    }
    let mut out: Vec<LayoutMisfit> = Vec::new();
    for (layout, entry) in targets {
        let takes = entry.as_ref().map_or(host, |t| t == r);
        if takes && !out.iter().any(|m| m.layout == layout) {
            out.push(LayoutMisfit {
                layout,
                configured: true,
                key,
            });
        }
    }
    Ok(out)
}

/// `cert export --layout`: checks that `node`'s entry `r` serves as `layout`'s server
/// and client certificate (for QEMU, the one `qemu` describes), writes the layout under
/// `dir` whole or not at all, and records the key export in the audit log. Returns the
/// paths written.
pub fn export_layout<S: Store>(
    node: &mut Node<S>,
    r: &EntryRef,
    layout: Layout,
    qemu: &QemuReader,
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let e = node.load(r)?;
    let Some(key) = &e.key else {
        return Err(LayoutError::NoKey(r.clone(), layout).into());
    };
    let key = certherd_x509::parse_private_key(key.expose())?;
    let trusted: StoreName = StoreName::TRUSTED_ROOTS.parse()?;
    let mut roots = Vec::new();
    for meta in node.store().entries(Some(&trusted))? {
        if let Some(root) = node.store().entry(&meta.entry)? {
            roots.push(root.cert);
        }
    }
    let files = layout_files(layout, qemu, &e.cert, &e.chain, &key, &roots)?;
    let written = write_layout(dir, layout, &files)?;
    let audit = node.audit(
        "export-key",
        r,
        format!("layout {layout} in {}", dir.display()),
    );
    node.commit(&[audit])?;
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn files(tag: &str) -> Vec<LayoutFile> {
        [
            "CA/cacert.pem",
            "libvirt/servercert.pem",
            "libvirt/private/serverkey.pem",
        ]
        .iter()
        .map(|p| LayoutFile {
            path: PathBuf::from(p),
            data: format!("{tag} {p}").into_bytes(),
            mode: if p.contains("key") { 0o600 } else { 0o644 },
        })
        .collect()
    }

    fn read_all(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    out.push((rel, "<dir>".into()));
                    stack.push(p);
                } else {
                    out.push((rel, fs::read_to_string(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn writes_tree_with_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        write_layout(&dir, Layout::Libvirt, &files("one")).unwrap();
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("libvirt/private"), 0o700);
        assert_eq!(mode("libvirt/private/serverkey.pem"), 0o600);
        assert_eq!(mode("CA/cacert.pem"), 0o644);
        assert_eq!(
            fs::read_to_string(dir.join("libvirt/servercert.pem")).unwrap(),
            "one libvirt/servercert.pem"
        );
    }

    /// `--out a/b/pki` with `a` missing: the directories above are made (0755); a file
    /// where one would go is refused.
    #[test]
    fn missing_directories_above_the_layout_are_made_or_left_unmade() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/pki");
        write_layout(&dir, Layout::Libvirt, &files("one")).unwrap();
        let mode = |p: &str| {
            fs::metadata(tmp.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("a") & !0o755, 0);
        assert_eq!(mode("a/b/pki/libvirt/private"), 0o700);
        // A file where a directory above would go: refused, nothing made.
        let in_the_way = tmp.path().join("e");
        fs::write(&in_the_way, "file").unwrap();
        assert!(write_layout(&in_the_way.join("g/pki"), Layout::Libvirt, &files("x")).is_err());
        assert_eq!(fs::read_to_string(&in_the_way).unwrap(), "file");
    }

    #[test]
    fn failed_rename_midway_restores_previous_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        write_layout(&dir, Layout::Libvirt, &files("old")).unwrap();
        let before = read_all(&dir);
        let mut calls = 0;
        let err = write_layout_with(&dir, Layout::Libvirt, &files("new"), &mut |a, b| {
            calls += 1;
            if calls == 3 {
                Err(io::Error::other("injected"))
            } else {
                fs::rename(a, b)
            }
        })
        .unwrap_err();
        assert_eq!(calls, 3, "two files were renamed before the failure");
        assert!(
            matches!(err, LayoutError::Replace { restored: true, .. }),
            "{err}"
        );
        assert_eq!(read_all(&dir), before, "the old layout, and no leftovers");
    }

    #[test]
    fn failed_rename_of_a_new_layout_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let mut calls = 0;
        write_layout_with(&dir, Layout::Libvirt, &files("new"), &mut |a, b| {
            calls += 1;
            if calls == 2 {
                Err(io::Error::other("injected"))
            } else {
                fs::rename(a, b)
            }
        })
        .unwrap_err();
        assert!(!dir.exists(), "{:?}", read_all(&dir));
    }

    #[test]
    fn a_replaced_layout_is_restored_whole_or_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        write_layout(&dir, Layout::Libvirt, &files("old")).unwrap();
        let before = read_all(&dir);
        // Restored: the previous files, no leftovers.
        let r = replace_layout(&dir, Layout::Libvirt, &files("new")).unwrap();
        assert!(r.had_previous());
        assert_ne!(
            read_all(&dir),
            before,
            "the new layout is in place meanwhile"
        );
        r.restore().unwrap();
        assert_eq!(read_all(&dir), before);
        // Dropped or committed: the new files stay, no leftovers.
        drop(replace_layout(&dir, Layout::Libvirt, &files("new")).unwrap());
        let new = read_all(&dir);
        assert!(
            new.iter()
                .all(|(_, c)| c == "<dir>" || c.starts_with("new ")),
            "{new:?}"
        );
        let r = replace_layout(&dir, Layout::Libvirt, &files("newer")).unwrap();
        assert_eq!(r.commit().len(), 3);
        assert!(read_all(&dir)
            .iter()
            .all(|(_, c)| c == "<dir>" || c.starts_with("newer ")));
        // A first layout restored leaves nothing.
        let first = tmp.path().join("first");
        let r = replace_layout(&first, Layout::Libvirt, &files("new")).unwrap();
        assert!(!r.had_previous());
        r.restore().unwrap();
        assert!(!first.exists());
    }

    #[test]
    fn an_open_key_directory_is_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        fs::create_dir_all(dir.join("libvirt/private")).unwrap();
        fs::set_permissions(
            dir.join("libvirt/private"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        write_layout(&dir, Layout::Libvirt, &files("one")).unwrap();
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("libvirt/private"), 0o700);
        assert_eq!(mode("libvirt"), 0o755);
    }

    #[test]
    fn target_in_the_way_is_refused_before_any_write() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        write_layout(&dir, Layout::Libvirt, &files("old")).unwrap();
        fs::remove_file(dir.join("libvirt/private/serverkey.pem")).unwrap();
        fs::create_dir(dir.join("libvirt/private/serverkey.pem")).unwrap();
        let before = read_all(&dir);
        let err = write_layout(&dir, Layout::Libvirt, &files("new")).unwrap_err();
        assert!(matches!(err, LayoutError::InTheWay { .. }), "{err}");
        assert_eq!(read_all(&dir), before);
    }

    #[test]
    fn dir_that_is_a_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        fs::write(&dir, "x").unwrap();
        let err = write_layout(&dir, Layout::Qemu, &files("new")).unwrap_err();
        assert!(matches!(err, LayoutError::DirNotDirectory { .. }), "{err}");
        assert_eq!(fs::read_to_string(&dir).unwrap(), "x");
    }

    fn qemu(output: &str) -> QemuReader {
        QemuReader::from_version_output(Some(output))
    }

    #[test]
    fn qemu_versions_parse_as_qemu_img_prints_them() {
        assert_eq!(
            QemuVersion::parse("qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n"),
            Some(QemuVersion {
                upstream: (10, 0, 2),
                debian: Some("1:10.0.2+ds-2+deb13u1~bpo12+1".into()),
            })
        );
        assert_eq!(
            QemuVersion::parse("qemu-img version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18+b2)"),
            Some(QemuVersion {
                upstream: (7, 2, 19),
                debian: Some("1:7.2+dfsg-7+deb12u18+b2".into()),
            })
        );
        // An upstream build names its own tag, not a Debian version.
        assert_eq!(
            QemuVersion::parse("qemu-img version 9.2.0 (v9.2.0)"),
            Some(QemuVersion {
                upstream: (9, 2, 0),
                debian: None,
            })
        );
        for odd in [
            "",
            "qemu-img version",
            "qemu-img version 10",
            "qemu-img version 10.x.1",
            "qemu-img version 10.2.0-rc1",
            "qemu-img version 1.2.3.4",
            "qemu-nbd 10.0.2",
        ] {
            assert_eq!(QemuVersion::parse(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn key_encipherment_is_required_by_qemu_before_the_fix_only() {
        let required = |o: &str| qemu(o).requires_key_encipherment();
        // Upstream: 10.2.0 on, and the 10.1.3 and 10.0.7 stable releases.
        for fixed in [
            "qemu-img version 10.2.0",
            "qemu-img version 10.2.1 (qemu-10.2.1)",
            "qemu-img version 11.0.0",
            "qemu-img version 10.1.3",
            "qemu-img version 10.0.7",
            "qemu-img version 10.0.8 (Debian 1:10.0.8+ds-0+deb13u1)",
        ] {
            assert!(!required(fixed), "{fixed}");
        }
        for old in [
            "qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)",
            "qemu-img version 10.0.6",
            "qemu-img version 10.1.2",
            "qemu-img version 9.2.4",
            "qemu-img version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)",
        ] {
            assert!(required(old), "{old}");
        }
        // Debian 12's 7.2 from its 18th stable update on, binary rebuilds included.
        assert!(!required(
            "qemu-img version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18+b2)"
        ));
        assert!(!required(
            "qemu-img version 7.2.20 (Debian 1:7.2+dfsg-7+deb12u19)"
        ));
        assert!(required(
            "qemu-img version 7.2.17 (Debian 1:7.2+dfsg-7+deb12u17)"
        ));
        assert!(required("qemu-img version 7.2.0 (Debian 1:7.2+dfsg-7)"));
        assert!(required("qemu-img version 7.2.19"));
        // A +deb12uN of another version is not that fix.
        assert!(required(
            "qemu-img version 8.0.0 (Debian 1:8.0+dfsg-1+deb12u20)"
        ));
        // Not known: the requirement is kept, since it suits every QEMU.
        assert!(QemuReader::NotFound.requires_key_encipherment());
        assert!(required("QEMU emulator, of some kind"));
        assert_eq!(
            qemu("something else\nmore"),
            QemuReader::NotUnderstood("something else".into())
        );
    }

    #[test]
    fn the_qemu_reader_is_named_with_its_version() {
        assert_eq!(
            qemu("qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)").describe(),
            "QEMU 10.0.2 (qemu-img here, Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"
        );
        assert!(QemuReader::NotFound
            .describe()
            .contains("no qemu-img found here"));
    }
}
