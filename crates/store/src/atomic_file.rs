//! Writing a file so that readers see the old content or the new, never a mix.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Error;

/// Writes `data` to `path` atomically with permission `mode`: a temporary file in the same
/// directory is written, synced, given its mode and renamed over the target, and the
/// directory is synced. On any failure the previous file is untouched.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| Error::Corrupt("random generator failed".into()))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", certherd_x509::hex(&nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            // Named by the target the user asked for, and the directory that refused: the
            // temporary file's name means nothing to them.
            .map_err(|source| Error::Io {
                action: "write",
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "cannot create a file in directory {}: {source}",
                        dir.display()
                    ),
                ),
            })?;
        f.write_all(data).map_err(io("write", &tmp))?;
        // The umask may have narrowed the mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("chmod", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("replace", path))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_with_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.pem"), b"x", 0o600).unwrap_err();
        let msg = err.to_string();
        assert_eq!(
            msg,
            "write /nonexistent-dir/x.pem: cannot create a file in directory /nonexistent-dir: \
             No such file or directory (os error 2)"
        );
        assert!(!msg.contains(".tmp"), "{msg}");
    }
}
