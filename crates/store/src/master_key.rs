//! The master key: 32 random bytes in a 0600 file, sealing private keys with AES-256-GCM.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::aead::{Aad, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};

use crate::Error;

const MAGIC: &[u8; 4] = b"CHS1";

/// The key that seals private keys at rest. `Debug` never shows it.
pub struct MasterKey {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Creates a new random key file at `path`; refuses if the file exists.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::MasterKey {
            path: path.into(),
            detail: "random generator failed",
        })?;
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io("create"))?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io("chmod"))?;
        f.write_all(&bytes).map_err(io("write"))?;
        f.sync_all().map_err(io("sync"))?;
        Self::from_bytes(&bytes, path)
    }

    /// Loads the key file; it must be exactly 32 bytes and not readable by others.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let io = |action| {
            move |source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let mut f = fs::File::open(path).map_err(io("open"))?;
        let mode = f.metadata().map_err(io("stat"))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::MasterKey {
                path: path.into(),
                detail: "it is readable by group or others; run chmod 600 on it",
            });
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io("read"))?;
        Self::from_bytes(&bytes, path)
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, Error> {
        if bytes.len() != 32 {
            return Err(Error::MasterKey {
                path: path.into(),
                detail: "expected exactly 32 bytes",
            });
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| Error::MasterKey {
            path: path.into(),
            detail: "not a valid AES-256 key",
        })?;
        Ok(Self { key })
    }

    /// Seals `plain`, binding it to `context` (the entry it belongs to).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<Vec<u8>, Error> {
        let mut buf = plain.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| Error::Corrupt("sealing failed".into()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + buf.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens what [`MasterKey::seal`] produced for the same `context`.
    pub fn unseal(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, Error> {
        let err = || Error::Unseal {
            entry: context.to_owned(),
        };
        let rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or_else(err)?;
        if rest.len() < NONCE_LEN {
            return Err(err());
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| err())?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| err())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        let k = MasterKey::create(&p).unwrap();
        let sealed = k.seal(b"secret key", "a/b").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"secret key"));
        let k2 = MasterKey::load(&p).unwrap();
        assert_eq!(k2.unseal(&sealed, "a/b").unwrap(), b"secret key");
        assert!(k2.unseal(&sealed, "a/c").is_err());
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(k2.unseal(&bad, "a/b").is_err());
        assert!(MasterKey::create(&p).is_err(), "never overwrites a key");
    }

    #[test]
    fn wide_permissions_and_wrong_length_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        fs::write(&p, [0u8; 31]).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(MasterKey::load(&p)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
        fs::write(&p, [0u8; 32]).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(MasterKey::load(&p)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }
}
