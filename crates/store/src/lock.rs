//! The home's operation lock: `HOME/certherd.lock`, held exclusively (an advisory
//! `flock`) by one renewing command at a time, so two bulk runs never renew the same entry.
//! The operating system releases it when the holder exits, however it exits.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use certherd_core::OffsetDateTime;

use crate::Error;

/// Who holds (or held) the lock, as written in the lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's process id.
    pub pid: u32,
    /// When the holder's command began (whole seconds).
    pub started: OffsetDateTime,
    /// The command, for messages (`cert renew --all`).
    pub what: String,
}

impl LockHolder {
    fn to_line(&self) -> String {
        format!(
            "{} {} {}\n",
            self.pid,
            self.started.unix_timestamp(),
            self.what.replace(['\n', '\r'], " ")
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let line = text.lines().next()?;
        let mut parts = line.splitn(3, ' ');
        let pid = parts.next()?.parse().ok()?;
        let started = OffsetDateTime::from_unix_timestamp(parts.next()?.parse().ok()?).ok()?;
        Some(Self {
            pid,
            started,
            what: parts.next().unwrap_or_default().to_owned(),
        })
    }
}

/// The held lock; dropping it empties the lock file and releases the lock.
#[derive(Debug)]
pub struct HomeLock {
    file: File,
}

impl Drop for HomeLock {
    fn drop(&mut self) {
        // An empty file tells the next waiter nobody is mid-run; a holder that is killed
        // leaves its line, which the next holder overwrites as soon as it has the lock.
        let _ = self.file.set_len(0);
    }
}

/// How the lock was taken.
#[derive(Debug)]
pub struct Locked {
    /// The lock, held until dropped.
    pub lock: HomeLock,
    /// The run this one waited for, if the lock was busy (read from the lock file; `None`
    /// when it was free, or the holder had not written its line yet).
    pub waited_for: Option<LockHolder>,
    /// Whether the lock was busy and this call waited.
    pub waited: bool,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The lock file at `path`, created (0600) if missing.
fn open(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open", path))
}

/// The holder's line in a lock file another process holds. A holder that has not written
/// its line yet leaves the file empty or stale; either way the line is only used for
/// messages and a lower bound.
fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.read_to_string(&mut text)
        .ok()
        .and_then(|_| LockHolder::parse(&text))
}

/// Writes `me` as the holder, over whatever line a previous holder left.
fn write_holder(file: &mut File, path: &Path, me: &LockHolder) -> Result<(), Error> {
    file.set_len(0).map_err(io_err("write", path))?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("write", path))?;
    file.write_all(me.to_line().as_bytes())
        .map_err(io_err("write", path))?;
    file.flush().map_err(io_err("write", path))
}

impl HomeLock {
    /// Takes the lock at `path`, waiting while another process holds it; `on_wait` is
    /// called once, before waiting, with the holder's line if it could be read. `me` is
    /// written into the lock file for whoever waits next.
    pub fn acquire(
        path: &Path,
        me: &LockHolder,
        on_wait: impl FnOnce(Option<&LockHolder>),
    ) -> Result<Locked, Error> {
        let mut file = open(path)?;
        let (waited, waited_for) = match file.try_lock() {
            Ok(()) => (false, None),
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                on_wait(holder.as_ref());
                file.lock().map_err(io_err("lock", path))?;
                (true, holder)
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", path)(e)),
        };
        write_holder(&mut file, path, me)?;
        Ok(Locked {
            lock: HomeLock { file },
            waited_for,
            waited,
        })
    }
}

impl HomeLock {
    /// Takes the lock at `path` if it is free, writing `me` into it; `Err(holder)` (its
    /// line, if it could be read) when another process holds it. A server answering a
    /// request never waits behind a bulk run.
    pub fn try_acquire(
        path: &Path,
        me: &LockHolder,
    ) -> Result<Result<HomeLock, Option<LockHolder>>, Error> {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Ok(Err(read_holder(&mut file)));
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", path)(e)),
        }
        write_holder(&mut file, path, me)?;
        Ok(Ok(HomeLock { file }))
    }
}

/// The lock file of a home directory.
pub(crate) fn lock_path(dir: &Path) -> PathBuf {
    dir.join("certherd.lock")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn me(pid: u32) -> LockHolder {
        LockHolder {
            pid,
            started: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            what: "cert renew --all".into(),
        }
    }

    #[test]
    fn a_second_taker_waits_and_learns_who_held_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        let first = HomeLock::acquire(&path, &me(1), |_| panic!("free")).unwrap();
        assert!(!first.waited);
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let t = std::thread::spawn(move || {
            HomeLock::acquire(&p, &me(2), |h| tx.send(h.cloned()).unwrap()).unwrap()
        });
        // The second taker reports the holder before it blocks; then the first lets go.
        assert_eq!(rx.recv().unwrap(), Some(me(1)));
        drop(first);
        let second = t.join().unwrap();
        assert!(second.waited);
        assert_eq!(second.waited_for, Some(me(1)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(LockHolder::parse(&text), Some(me(2)));
        drop(second);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        // Without waiting: free, then busy (naming the holder), then free again.
        let held = HomeLock::try_acquire(&path, &me(3)).unwrap().unwrap();
        assert_eq!(
            HomeLock::try_acquire(&path, &me(4)).unwrap().err(),
            Some(Some(me(3)))
        );
        drop(held);
        assert!(HomeLock::try_acquire(&path, &me(5)).unwrap().is_ok());
    }
}
