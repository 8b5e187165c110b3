//! Walking paths for `scan files`: which files to read, each once.
//!
//! The walk follows symbolic links to files and to directories. A file is listed once, under
//! its canonical path, with every link that leads to it; a directory is entered once (by
//! device and inode), so a link loop ends. Links that lead nowhere are reported, not dropped.
//! Directories to skip (certherd's own home) are never entered, and SQLite sidecars
//! (`-wal`, `-shm`, `-journal` next to their database) are not listed. [`read`] reads one
//! listed file and refuses SQLite databases by their magic.
//!
//! Pseudo-filesystems ([`PSEUDO_FILESYSTEMS`]: `/proc`, `/sys`, `/dev`) hold no
//! certificate files and lead everywhere (`/proc/PID/root` is the whole filesystem): the
//! walk does not enter them unless one is named as a path to scan, and then does not
//! follow a link out of it. A walk lists at most a bound of files ([`MAX_FILES`] unless
//! told otherwise) and says when it stopped there.
//!
//! Cost: one `stat` per directory and per link, none per plain file (the directory
//! listing's file types are enough).

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Why a walk could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    /// A path to scan does not exist or cannot be examined.
    #[error("{}: {source}", path.display())]
    Root {
        /// The path as given.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A path to scan is neither a regular file nor a directory (a FIFO, a device, a
    /// socket), or a link to one: nothing there can be read as a certificate file.
    #[error("{}: {kind}, not a regular file or directory: nothing to scan", path.display())]
    NotScannable {
        /// The path as given.
        path: PathBuf,
        /// What it is: "a FIFO", "a character device"...
        kind: &'static str,
    },
    /// A listed file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// A file the walk found: its canonical path and the links that lead to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkedFile {
    /// The canonical path of the file (no link in it).
    pub path: PathBuf,
    /// Every symbolic link met in the walk that leads to this file, sorted; empty when the
    /// file was only reached directly.
    pub links: Vec<PathBuf>,
}

/// A symbolic link that leads to nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DanglingLink {
    /// The link.
    pub link: PathBuf,
    /// What it points to, as written in the link (empty if it could not be read).
    pub target: PathBuf,
    /// Whether it is part of a loop of links (rather than pointing to a missing path).
    pub looped: bool,
}

/// What the walk left out, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Directories (or files) inside a directory to skip (certherd's home).
    pub skip_dirs: usize,
    /// SQLite sidecars: `NAME-wal`, `NAME-shm`, `NAME-journal` beside `NAME`.
    pub database_sidecars: usize,
    /// Directories reached again (a link loop, or overlapping paths), entered once only.
    pub repeated_dirs: usize,
    /// Links in a pseudo-filesystem named to scan that lead out of it (`/proc/PID/root`,
    /// `/proc/PID/fd/N`): not followed.
    pub links_out_of_pseudo: usize,
    /// Paths met inside the directories scanned and not read, each with why: FIFOs,
    /// sockets and devices (a FIFO would block), directories that could not be listed.
    /// Sorted by path.
    pub paths: Vec<SkippedPath>,
}

/// A path the scan met but did not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPath {
    /// The path (as met in the walk: a link keeps its own path).
    pub path: PathBuf,
    /// Why it was not read.
    pub reason: SkipReason,
}

/// Why a path met in a scan was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A FIFO, socket or device (or a link to one): never read, a FIFO would block.
    Special(&'static str),
    /// Larger than the limit: no certificate or key file is that large.
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Listed as a regular file, but something else by the time it was opened.
    NotRegular,
    /// A directory that could not be listed.
    UnreadableDirectory(String),
    /// In a pseudo-filesystem (`/proc`, `/sys`, `/dev`) that was not named to scan.
    PseudoFilesystem(&'static str),
    /// In a pseudo-filesystem named to scan, and not readable (a process's private file,
    /// or one that ended): kernel state, not a certificate file to watch.
    UnreadablePseudo(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Special(kind) => write!(f, "{kind}, not a regular file"),
            Self::TooLarge { size, limit } => write!(
                f,
                "too large: {} (files over {} are not read)",
                bytes_in_words(*size),
                bytes_in_words(*limit)
            ),
            Self::NotRegular => f.write_str("no longer a regular file when opened"),
            Self::UnreadableDirectory(e) => write!(f, "directory cannot be listed: {e}"),
            Self::PseudoFilesystem(fs) => write!(
                f,
                "in {fs}, a pseudo-filesystem: not walked unless named as a path to scan"
            ),
            Self::UnreadablePseudo(e) => {
                write!(f, "unreadable in a pseudo-filesystem (not recorded): {e}")
            }
        }
    }
}

/// A size as people read it: "512 bytes", "70.0 MiB", "1 MiB".
pub fn bytes_in_words(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    let (unit, name) = match n {
        n if n >= GIB => (GIB, "GiB"),
        n if n >= MIB => (MIB, "MiB"),
        n if n >= KIB => (KIB, "KiB"),
        _ => return format!("{n} bytes"),
    };
    if n.is_multiple_of(unit) {
        format!("{} {name}", n / unit)
    } else {
        // One decimal, rounded down, computed in integers.
        let tenths = u128::from(n) * 10 / u128::from(unit);
        format!("{}.{} {name}", tenths / 10, tenths % 10)
    }
}

pub use certherd_store::file_type_words;

/// Kernel pseudo-filesystems, by where Linux mounts them: never entered by a walk unless
/// named as a path to scan (or a link named leads there). They hold no certificate files,
/// and their links lead to every file of every process's root.
pub const PSEUDO_FILESYSTEMS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The most files one walk lists by default: a scan of `/` on a big server stays within
/// memory and time, and says where it stopped instead of running on.
pub const MAX_FILES: usize = 100_000;

/// The pseudo-filesystem `p` (absolute) lies in, if any.
pub fn pseudo_of(p: &Path) -> Option<&'static str> {
    PSEUDO_FILESYSTEMS.into_iter().find(|fs| p.starts_with(fs))
}

/// What `link` points to, as written, made absolute against the link's directory with
/// `..` taken lexically: `/etc/mtab -> ../proc/self/mounts` is `/proc/self/mounts`.
fn written_target(link: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(link).ok()?;
    let joined = match link.parent() {
        Some(dir) => dir.join(target),
        None => target,
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// The result of a walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// `Some(bound)` when the walk stopped at its bound of files: the files listed are the
    /// first `bound` met, and the rest were not looked at.
    pub stopped_at: Option<usize>,
    /// Every file to read, once each, sorted by canonical path.
    pub files: Vec<WalkedFile>,
    /// Links that lead nowhere, sorted by link path.
    pub dangling: Vec<DanglingLink>,
    /// What was left out.
    pub skipped: Skipped,
}

impl Walk {
    /// How many links in all lead to the files listed.
    pub fn link_count(&self) -> usize {
        self.files.iter().map(|f| f.links.len()).sum()
    }
}

type DirId = (u64, u64);

#[cfg(unix)]
fn dir_id(m: &std::fs::Metadata) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dir_id(_: &std::fs::Metadata) -> Option<DirId> {
    None
}

struct Walker {
    /// The pseudo-filesystems a path to scan lies in: walked, but never left by a link.
    named_pseudo: Vec<&'static str>,
    max_files: usize,
    skip_ids: HashSet<DirId>,
    skip_paths: Vec<PathBuf>,
    visited: HashSet<DirId>,
    stack: Vec<PathBuf>,
    files: BTreeMap<PathBuf, Vec<PathBuf>>,
    out: Walk,
}

impl Walker {
    fn skipped_path(&self, p: &Path) -> bool {
        self.skip_paths.iter().any(|s| p.starts_with(s))
    }

    /// Whether `p` (canonical) is in a pseudo-filesystem not named to scan; if so it is
    /// recorded as skipped.
    fn unnamed_pseudo(&mut self, p: &Path) -> bool {
        match pseudo_of(p) {
            Some(fs) if !self.named_pseudo.contains(&fs) => {
                self.skip(p.to_path_buf(), SkipReason::PseudoFilesystem(fs));
                true
            }
            _ => false,
        }
    }

    /// Whether the walk reached its bound of files.
    fn stopped(&self) -> bool {
        self.out.stopped_at.is_some()
    }

    /// Queues a directory (its canonical path) unless it is skipped or was seen.
    fn enter(&mut self, path: PathBuf, meta: &std::fs::Metadata) {
        if self.unnamed_pseudo(&path) {
            return;
        }
        let id = dir_id(meta);
        if id.is_some_and(|id| self.skip_ids.contains(&id)) || self.skipped_path(&path) {
            self.out.skipped.skip_dirs += 1;
            return;
        }
        let first = match id {
            Some(id) => self.visited.insert(id),
            None => !self.stack.contains(&path),
        };
        if first {
            self.stack.push(path);
        } else {
            self.out.skipped.repeated_dirs += 1;
        }
    }

    fn add_file(&mut self, canonical: PathBuf, link: Option<PathBuf>) {
        if self.skipped_path(&canonical) {
            self.out.skipped.skip_dirs += 1;
            return;
        }
        if self.unnamed_pseudo(&canonical) {
            return;
        }
        if self.files.len() >= self.max_files && !self.files.contains_key(&canonical) {
            self.out.stopped_at = Some(self.max_files);
            return;
        }
        let links = self.files.entry(canonical).or_default();
        if let Some(l) = link {
            links.push(l);
        }
    }

    /// A symbolic link (or a root given as one): follows it.
    fn follow(&mut self, link: PathBuf) {
        let meta = match std::fs::metadata(&link) {
            Ok(m) => m,
            Err(e) => {
                let target = std::fs::read_link(&link).unwrap_or_default();
                // ELOOP: too many levels of links.
                let looped = e.raw_os_error() == Some(40);
                self.out.dangling.push(DanglingLink {
                    link,
                    target,
                    looped,
                });
                return;
            }
        };
        let Ok(canonical) = std::fs::canonicalize(&link) else {
            self.out.dangling.push(DanglingLink {
                target: std::fs::read_link(&link).unwrap_or_default(),
                link,
                looped: false,
            });
            return;
        };
        // A link in a pseudo-filesystem that leads out of it (`/proc/PID/root` is `/`):
        // not followed, or scanning /proc would scan everything.
        let absolute = std::path::absolute(&link).unwrap_or_else(|_| link.clone());
        if let Some(fs) = pseudo_of(&absolute) {
            if !canonical.starts_with(fs) {
                self.out.skipped.links_out_of_pseudo += 1;
                return;
            }
        }
        // A link written into a pseudo-filesystem not named (`-> /proc/self/root`, which
        // resolves to `/`): not followed, wherever it resolves to. (A link to a device is
        // skipped below as the device it is.)
        let readable = meta.is_dir() || meta.is_file();
        if let Some(fs) = written_target(&absolute)
            .as_deref()
            .and_then(pseudo_of)
            .filter(|_| readable)
        {
            if !self.named_pseudo.contains(&fs) {
                self.skip(link, SkipReason::PseudoFilesystem(fs));
                return;
            }
        }
        if meta.is_dir() {
            self.enter(canonical, &meta);
        } else if meta.is_file() {
            self.add_file(canonical, Some(link));
        } else {
            self.skip(
                link,
                SkipReason::Special(file_type_words(&meta.file_type())),
            );
        }
    }

    fn skip(&mut self, path: PathBuf, reason: SkipReason) {
        self.out.skipped.paths.push(SkippedPath { path, reason });
    }

    fn root(&mut self, p: &Path) -> Result<(), WalkError> {
        let root_err = |source| WalkError::Root {
            path: p.to_path_buf(),
            source,
        };
        let lmeta = std::fs::symlink_metadata(p).map_err(root_err)?;
        // What the path leads to (through links): a named path that leads nowhere, or to
        // something that is neither a file nor a directory, is an error, not a silent zero.
        let meta = if lmeta.file_type().is_symlink() {
            std::fs::metadata(p).map_err(root_err)?
        } else {
            lmeta.clone()
        };
        if !meta.is_dir() && !meta.is_file() {
            return Err(WalkError::NotScannable {
                path: p.to_path_buf(),
                kind: file_type_words(&meta.file_type()),
            });
        }
        if lmeta.file_type().is_symlink() {
            self.follow(p.to_path_buf());
            return Ok(());
        }
        let canonical = std::fs::canonicalize(p).map_err(root_err)?;
        if lmeta.is_dir() {
            self.enter(canonical, &lmeta);
        } else {
            self.add_file(canonical, None);
        }
        Ok(())
    }

    fn list(&mut self, dir: &Path) {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.skip(
                    dir.to_path_buf(),
                    SkipReason::UnreadableDirectory(e.to_string()),
                );
                return;
            }
        };
        let entries: Vec<std::fs::DirEntry> = rd.flatten().collect();
        let names: HashSet<std::ffi::OsString> = entries.iter().map(|e| e.file_name()).collect();
        for e in entries {
            if self.stopped() {
                return;
            }
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                if let Ok(m) = std::fs::symlink_metadata(&path) {
                    self.enter(path, &m);
                }
            } else if ft.is_file() {
                if is_sqlite_sidecar(&e.file_name(), &names) {
                    self.out.skipped.database_sidecars += 1;
                } else {
                    self.add_file(path, None);
                }
            } else if ft.is_symlink() {
                self.follow(path);
            } else {
                self.skip(path, SkipReason::Special(file_type_words(&ft)));
            }
        }
    }
}

/// A path as text that keeps its identity: UTF-8 stays as it is, a backslash becomes
/// `\\` and each byte that is not UTF-8 becomes `\xHH`. Two distinct paths never give the
/// same text (`bad\xff.pem` and `bad\xfe.pem` stay two files), unlike
/// `Path::display`, which turns every such byte into U+FFFD.
pub fn path_text(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `NAME-wal`, `NAME-shm` or `NAME-journal` with `NAME` in the same directory.
fn is_sqlite_sidecar(name: &std::ffi::OsStr, siblings: &HashSet<std::ffi::OsString>) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    ["-wal", "-shm", "-journal"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| !base.is_empty() && siblings.contains(std::ffi::OsStr::new(base)))
    })
}

/// Lists every file under `paths` once, following links, never entering a directory twice
/// nor any directory under `skip` (missing `skip` paths are ignored), at most [`MAX_FILES`].
/// Fails only when one of `paths` itself cannot be examined; trouble further down is
/// reported in the [`Walk`].
pub fn walk(paths: &[PathBuf], skip: &[PathBuf]) -> Result<Walk, WalkError> {
    walk_at_most(paths, skip, MAX_FILES)
}

/// [`walk`], listing at most `max_files` files: past them it stops and says so in
/// [`Walk::stopped_at`].
pub fn walk_at_most(
    paths: &[PathBuf],
    skip: &[PathBuf],
    max_files: usize,
) -> Result<Walk, WalkError> {
    // A pseudo-filesystem is walked when a path to scan lies in it, as given or once its
    // links are resolved (`/etc/mtab` leads into /proc).
    let mut named_pseudo = Vec::new();
    for p in paths {
        let given = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        let resolved = std::fs::canonicalize(p).ok();
        for fs in [Some(given.as_path()), resolved.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(pseudo_of)
        {
            if !named_pseudo.contains(&fs) {
                named_pseudo.push(fs);
            }
        }
    }
    let mut w = Walker {
        named_pseudo,
        max_files,
        skip_ids: HashSet::new(),
        skip_paths: Vec::new(),
        visited: HashSet::new(),
        stack: Vec::new(),
        files: BTreeMap::new(),
        out: Walk::default(),
    };
    for s in skip {
        if let Ok(m) = std::fs::metadata(s) {
            if let Some(id) = dir_id(&m) {
                w.skip_ids.insert(id);
            }
        }
        if let Ok(c) = std::fs::canonicalize(s) {
            w.skip_paths.push(c);
        }
    }
    for p in paths {
        w.root(p)?;
    }
    while let Some(dir) = w.stack.pop() {
        if w.stopped() {
            break;
        }
        w.list(&dir);
    }
    let Walker { files, mut out, .. } = w;
    out.files = files
        .into_iter()
        .map(|(path, mut links)| {
            links.sort();
            links.dedup();
            WalkedFile { path, links }
        })
        .collect();
    out.dangling.sort_by(|a, b| a.link.cmp(&b.link));
    out.dangling.dedup_by(|a, b| a.link == b.link);
    out.skipped.paths.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The first bytes of every SQLite database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Whether `bytes` start like a SQLite database or its write-ahead log.
pub fn is_sqlite(bytes: &[u8]) -> bool {
    bytes.starts_with(SQLITE_MAGIC)
        || bytes.starts_with(&[0x37, 0x7f, 0x06, 0x82])
        || bytes.starts_with(&[0x37, 0x7f, 0x06, 0x83])
}

/// What [`read`] got from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// The file's bytes and its permission bits (`0o777` mask; 0 where there are none).
    Bytes {
        /// Everything in the file.
        bytes: Vec<u8>,
        /// Its mode bits.
        mode: u32,
    },
    /// Not read: empty.
    Empty,
    /// Not read: larger than the limit (its size).
    TooLarge(u64),
    /// Not a regular file (any more).
    NotRegular,
    /// A SQLite database or log: never parsed.
    Sqlite,
}

#[cfg(unix)]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0
}

/// Reads one file of at most `max` bytes: one open, one `fstat`, one or two reads. The size
/// and mode come from the open file, so nothing is looked up twice.
pub fn read(path: &Path, max: u64) -> Result<Content, WalkError> {
    let err = |source| WalkError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let meta = f.metadata().map_err(err)?;
    if !meta.is_file() {
        return Ok(Content::NotRegular);
    }
    let len = meta.len();
    if len == 0 {
        return Ok(Content::Empty);
    }
    if len > max {
        return Ok(Content::TooLarge(len));
    }
    // The size is known: read exactly that much (plus one byte to notice growth), so the
    // common case is one read call and no reallocation.
    let cap = usize::try_from(len).unwrap_or(usize::MAX).saturating_add(1);
    let mut bytes = Vec::with_capacity(cap);
    (&mut f)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > max {
        return Ok(Content::TooLarge(bytes.len() as u64));
    }
    if bytes.is_empty() {
        return Ok(Content::Empty);
    }
    if is_sqlite(&bytes) {
        return Ok(Content::Sqlite);
    }
    Ok(Content::Bytes {
        bytes,
        mode: mode_of(&meta),
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn path_text_is_lossless() {
        use std::os::unix::ffi::OsStrExt;
        let p = |b: &[u8]| path_text(Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(p(b"/etc/ssl/a.pem"), "/etc/ssl/a.pem");
        assert_eq!(p("/z\u{fc}rich.pem".as_bytes()), "/z\u{fc}rich.pem");
        assert_eq!(p(b"bad\xff.pem"), "bad\\xff.pem");
        assert_ne!(p(b"bad\xff.pem"), p(b"bad\xfe.pem"));
        assert_ne!(p(b"bad\xff.pem"), p(b"bad\\xff.pem"));
        assert_eq!(p(b"a\\b"), "a\\\\b");
    }

    fn paths(w: &Walk) -> Vec<PathBuf> {
        w.files.iter().map(|f| f.path.clone()).collect()
    }

    #[test]
    fn lists_plain_files_once_under_their_canonical_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/one.pem"), "1").unwrap();
        std::fs::write(root.join("a/b/two.pem"), "2").unwrap();
        // Overlapping paths: the inner one adds nothing.
        let w = walk(
            &[root.join("a"), root.join("a/b"), root.join("a/one.pem")],
            &[],
        )
        .unwrap();
        assert_eq!(
            paths(&w),
            vec![root.join("a/b/two.pem"), root.join("a/one.pem")]
        );
        assert!(w.files.iter().all(|f| f.links.is_empty()));
        assert_eq!(w.skipped.repeated_dirs, 1);
        assert!(matches!(
            walk(&[root.join("missing")], &[]),
            Err(WalkError::Root { path, .. }) if path == root.join("missing")
        ));
    }

    #[test]
    fn follows_file_links_reads_each_target_once_and_reports_dangling_ones() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        // Let's Encrypt's layout: live/NAME/cert.pem -> ../../archive/NAME/cert1.pem
        std::fs::create_dir_all(root.join("archive/ex")).unwrap();
        std::fs::create_dir_all(root.join("live/ex")).unwrap();
        std::fs::write(root.join("archive/ex/cert1.pem"), "c").unwrap();
        symlink("../../archive/ex/cert1.pem", root.join("live/ex/cert.pem")).unwrap();
        // /etc/ssl/certs: a hash link to a name link to the file.
        symlink("cert.pem", root.join("live/ex/abcd1234.0")).unwrap();
        symlink("../../archive/ex/gone.pem", root.join("live/ex/chain.pem")).unwrap();
        symlink("loop2", root.join("live/loop1")).unwrap();
        symlink("loop1", root.join("live/loop2")).unwrap();

        let w = walk(std::slice::from_ref(&root), &[]).unwrap();
        assert_eq!(paths(&w), vec![root.join("archive/ex/cert1.pem")]);
        assert_eq!(
            w.files[0].links,
            vec![
                root.join("live/ex/abcd1234.0"),
                root.join("live/ex/cert.pem")
            ]
        );
        assert_eq!(w.link_count(), 2);
        let dangling: Vec<(PathBuf, bool)> = w
            .dangling
            .iter()
            .map(|d| (d.link.clone(), d.looped))
            .collect();
        assert_eq!(
            dangling,
            vec![
                (root.join("live/ex/chain.pem"), false),
                (root.join("live/loop1"), true),
                (root.join("live/loop2"), true),
            ]
        );
        assert_eq!(
            w.dangling[0].target,
            PathBuf::from("../../archive/ex/gone.pem")
        );

        // Only the live directory given: the target is still read, under its real path.
        let w = walk(&[root.join("live")], &[]).unwrap();
        assert_eq!(paths(&w), vec![root.join("archive/ex/cert1.pem")]);
        assert_eq!(w.files[0].links.len(), 2);
        // A link given as the path to scan.
        let w = walk(&[root.join("live/ex/cert.pem")], &[]).unwrap();
        assert_eq!(w.files[0].links, vec![root.join("live/ex/cert.pem")]);
    }

    #[test]
    fn follows_directory_links_without_looping() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::fs::write(root.join("real/sub/x.pem"), "x").unwrap();
        symlink(&root, root.join("real/sub/up")).unwrap(); // a loop back to the top
        symlink("real", root.join("alias")).unwrap();
        symlink("../sub", root.join("real/sub/self")).unwrap();
        let w = walk(std::slice::from_ref(&root), &[]).unwrap();
        assert_eq!(paths(&w), vec![root.join("real/sub/x.pem")]);
        assert!(w.skipped.repeated_dirs >= 3, "{:?}", w.skipped);
        // Entered through the link only: the files keep their real paths.
        let w = walk(&[root.join("alias")], &[]).unwrap();
        assert_eq!(paths(&w), vec![root.join("real/sub/x.pem")]);
    }

    #[test]
    fn skips_the_home_directory_sqlite_sidecars_and_fifos() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join("keys")).unwrap();
        std::fs::write(home.join("certherd.db"), b"SQLite format 3\0rest").unwrap();
        std::fs::write(home.join("keys/ca.pem"), "k").unwrap();
        std::fs::write(root.join("app.db"), b"SQLite format 3\0-----BEGIN ").unwrap();
        std::fs::write(root.join("app.db-wal"), [0x37, 0x7f, 0x06, 0x82, 0]).unwrap();
        std::fs::write(root.join("app.db-shm"), [0u8; 8]).unwrap();
        std::fs::write(root.join("notes-wal"), "not a sidecar").unwrap();
        symlink("home/keys/ca.pem", root.join("ca-link.pem")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);

        let w = walk(std::slice::from_ref(&root), std::slice::from_ref(&home)).unwrap();
        assert_eq!(paths(&w), vec![root.join("app.db"), root.join("notes-wal")]);
        // The home directory, and the link into it.
        assert_eq!(w.skipped.skip_dirs, 2);
        assert_eq!(w.skipped.database_sidecars, 2);
        let skipped: Vec<(PathBuf, SkipReason)> = w
            .skipped
            .paths
            .iter()
            .map(|p| (p.path.clone(), p.reason.clone()))
            .collect();
        if fifo {
            assert_eq!(
                skipped,
                vec![(root.join("pipe"), SkipReason::Special("a FIFO"))]
            );
            assert_eq!(
                w.skipped.paths[0].reason.to_string(),
                "a FIFO, not a regular file"
            );
            // Named on the command line, it is an error, not a silent zero.
            assert!(matches!(
                walk(&[root.join("pipe")], &[]),
                Err(WalkError::NotScannable { kind: "a FIFO", .. })
            ));
        } else {
            assert!(skipped.is_empty());
        }
        // The database itself is listed but never parsed: `read` refuses it.
        assert_eq!(
            read(&root.join("app.db"), 1 << 20).unwrap(),
            Content::Sqlite
        );
        assert_eq!(
            read(&root.join("app.db-wal"), 1 << 20).unwrap(),
            Content::Sqlite
        );
        // Walking the home itself (or a file in it) reads nothing.
        let w = walk(
            &[home.clone(), home.join("certherd.db")],
            std::slice::from_ref(&home),
        )
        .unwrap();
        assert!(w.files.is_empty());
    }

    #[test]
    fn named_paths_must_be_files_or_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        assert!(matches!(
            walk(&[PathBuf::from("/dev/zero")], &[]),
            Err(WalkError::NotScannable {
                kind: "a character device",
                ..
            })
        ));
        symlink("/dev/null", root.join("null-link")).unwrap();
        let e = walk(&[root.join("null-link")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: a character device, not a regular file or directory: nothing to scan",
                root.join("null-link").display()
            )
        );
        // A link named on the command line that leads nowhere: an error naming it.
        symlink("gone.pem", root.join("dangling.pem")).unwrap();
        assert!(matches!(
            walk(&[root.join("dangling.pem")], &[]),
            Err(WalkError::Root { path, .. }) if path == root.join("dangling.pem")
        ));
        // Inside a directory, a link to a device is skipped with its reason.
        let w = walk(std::slice::from_ref(&root), &[]).unwrap();
        assert_eq!(
            w.skipped.paths,
            vec![SkippedPath {
                path: root.join("null-link"),
                reason: SkipReason::Special("a character device"),
            }]
        );
        assert_eq!(w.dangling.len(), 1);
    }

    #[test]
    fn pseudo_filesystems_are_walked_only_when_named_and_never_left() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::write(root.join("a.pem"), "a").unwrap();
        symlink("/proc", root.join("proc-link")).unwrap();
        symlink("/proc/self/status", root.join("status-link")).unwrap();
        symlink("/sys", root.join("sys-link")).unwrap();
        // Resolves to `/`, but written into /proc: not followed.
        symlink("/proc/self/root", root.join("root-link")).unwrap();
        std::fs::create_dir(root.join("etc")).unwrap();
        let up = "../".repeat(root.components().count());
        symlink(format!("{up}proc/self/mounts"), root.join("etc/mtab")).unwrap();
        let w = walk(std::slice::from_ref(&root), &[]).unwrap();
        assert_eq!(paths(&w), vec![root.join("a.pem")]);
        let reasons: Vec<String> = w
            .skipped
            .paths
            .iter()
            .map(|p| p.reason.to_string())
            .collect();
        assert_eq!(w.skipped.paths.len(), 5, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|r| r
                    .ends_with("a pseudo-filesystem: not walked unless named as a path to scan"))
        );

        // Named, /proc is walked, but no link out of it is followed: /proc/self/root
        // and /proc/self/cwd lead to the whole filesystem.
        let w = walk(&[PathBuf::from("/proc")], &[]).unwrap();
        assert!(!w.files.is_empty());
        assert!(
            w.files.iter().all(|f| f.path.starts_with("/proc")),
            "{:?}",
            w.files.iter().find(|f| !f.path.starts_with("/proc"))
        );
        assert!(w.skipped.paths.iter().all(|p| p.path.starts_with("/proc")));
        assert!(w.skipped.links_out_of_pseudo > 0);
        assert!(!w.files.iter().any(|f| f.path.starts_with(&root)));
        // A link out of /proc named itself leads nowhere the walk goes.
        let w = walk(&[PathBuf::from("/proc/self/root")], &[]).unwrap();
        assert!(w.files.is_empty());
        assert_eq!(w.skipped.links_out_of_pseudo, 1);
    }

    #[test]
    fn a_walk_stops_at_its_bound_of_files() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        for i in 0..5 {
            std::fs::write(root.join(format!("{i}.pem")), "x").unwrap();
            std::fs::write(root.join(format!("sub/{i}.pem")), "x").unwrap();
        }
        let w = walk_at_most(std::slice::from_ref(&root), &[], 3).unwrap();
        assert_eq!(w.files.len(), 3);
        assert_eq!(w.stopped_at, Some(3));
        let w = walk_at_most(std::slice::from_ref(&root), &[], 10).unwrap();
        assert_eq!((w.files.len(), w.stopped_at), (10, None));
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(bytes_in_words(512), "512 bytes");
        assert_eq!(bytes_in_words(1 << 20), "1 MiB");
        assert_eq!(bytes_in_words(70 * 1000 * 1000), "66.7 MiB");
        assert_eq!(bytes_in_words(1536), "1.5 KiB");
        assert_eq!(bytes_in_words(u64::MAX), "17179869183.9 GiB");
    }

    #[test]
    fn reads_bytes_and_mode_and_refuses_what_is_not_a_certificate_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k.pem");
        std::fs::write(&f, "-----BEGIN PRIVATE KEY-----").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            read(&f, 100).unwrap(),
            Content::Bytes {
                bytes: b"-----BEGIN PRIVATE KEY-----".to_vec(),
                mode: 0o640
            }
        );
        assert_eq!(read(&f, 10).unwrap(), Content::TooLarge(27));
        std::fs::write(&f, "").unwrap();
        assert_eq!(read(&f, 10).unwrap(), Content::Empty);
        assert_eq!(read(d.path(), 10).unwrap(), Content::NotRegular);
        assert!(matches!(
            read(&d.path().join("nope"), 10),
            Err(WalkError::Read { .. })
        ));
    }
}
