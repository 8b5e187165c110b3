//! Names of stores and entries: `STORE/ALIAS`, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use crate::Error;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The name of a certificate store (`machine-ssl`, `trusted-roots`, `backup`, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreName(String);

impl StoreName {
    /// The CA store: the signing CA certificates and their keys.
    pub const CA: &'static str = "ca";
    /// Trusted root certificates.
    pub const TRUSTED_ROOTS: &'static str = "trusted-roots";
    /// Superseded entries kept after a renewal.
    pub const BACKUP: &'static str = "backup";
    /// The node's TLS identity.
    pub const MACHINE_SSL: &'static str = "machine-ssl";
    /// The token-signing certificate.
    pub const STS: &'static str = "sts";
    /// Certificates seen on watched TLS endpoints.
    pub const ENDPOINTS: &'static str = "endpoints";
    /// Certificates found in watched files.
    pub const FILES: &'static str = "files";

    /// One of the constant names above, which are valid by construction.
    pub(crate) fn builtin(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    /// Whether certherd fills this store itself (no `cert issue` or `import` into it).
    pub fn is_managed(&self) -> bool {
        [
            Self::CA,
            Self::TRUSTED_ROOTS,
            Self::BACKUP,
            Self::ENDPOINTS,
            Self::FILES,
            // The fleet's: host certificates (keys on the hosts) and pinned identities.
            "fleet-hosts",
            "fleet-pool",
        ]
        .contains(&self.0.as_str())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the backup store, whose entries never raise a problem.
    pub fn is_backup(&self) -> bool {
        self.0 == Self::BACKUP
    }
}

impl FromStr for StoreName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::Name {
                what: "store name",
                input: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The alias of an entry within its store.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Alias(String);

impl Alias {
    /// The alias as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Alias {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::Name {
                what: "alias",
                input: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to one entry: `STORE/ALIAS`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryRef {
    /// The store.
    pub store: StoreName,
    /// The alias in that store.
    pub alias: Alias,
}

impl EntryRef {
    /// Builds a reference from already-valid parts.
    pub fn new(store: StoreName, alias: Alias) -> Self {
        Self { store, alias }
    }
}

impl FromStr for EntryRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (store, alias) = s.split_once('/').ok_or_else(|| Error::EntryRef {
            input: s.to_owned(),
        })?;
        Ok(Self {
            store: store.parse()?,
            alias: alias.parse()?,
        })
    }
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.store, self.alias)
    }
}

impl<'de> serde::Deserialize<'de> for EntryRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// In certherd.toml's schema (the generated reference), an entry is a `STORE/ALIAS` string.
impl schemars::JsonSchema for EntryRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EntryRef".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "x-kind": "STORE/ALIAS"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_slash_alias() {
        let r: EntryRef = "machine-ssl/machine".parse().unwrap();
        assert_eq!(r.store.as_str(), "machine-ssl");
        assert_eq!(r.to_string(), "machine-ssl/machine");
        for bad in [
            "machine",
            "/x",
            "x/",
            "a/b/c",
            "a b/c",
            "../etc/passwd",
            "-x/y",
        ] {
            assert!(bad.parse::<EntryRef>().is_err(), "{bad}");
        }
    }
}
