//! Certificate profiles: what each kind of certificate is for, how long it lives, and
//! what breaks when it lapses.

use std::collections::BTreeMap;

use certherd_x509::{Eku, KeyAlgorithm, Role};

use crate::{Error, Span};

/// A certificate profile. Built-in profiles follow DESIGN.md; `certherd.toml` may
/// override the lifetime, key algorithm and impact of any of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name (`machine-ssl`, `service`, ...).
    pub name: String,
    /// The lifetime of a certificate issued or renewed under this profile.
    pub lifetime: Span,
    /// CA or leaf.
    pub role: Role,
    /// Extended key usages.
    pub eku: Vec<Eku>,
    /// Self-signed rather than issued by the CA.
    pub self_signed: bool,
    /// Key algorithm for new keys; `None` means the node's default.
    pub key_algo: Option<KeyAlgorithm>,
    /// What stops working when a certificate of this profile lapses.
    pub impact: String,
}

impl Profile {
    /// Whether `cert renew` may reissue certificates of this profile (CAs rotate instead).
    pub fn is_renewable(&self) -> bool {
        matches!(self.role, Role::Leaf)
    }
}

/// Overridable fields of a profile, as written in `certherd.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileOverride {
    /// New lifetime.
    pub lifetime: Option<Span>,
    /// New key algorithm name.
    pub key_algo: Option<String>,
    /// New impact text.
    pub impact: Option<String>,
    /// Entries every certificate of this profile depends on (`STORE/ALIAS`): when one of
    /// them lapses, whoever uses a certificate of this profile is affected too.
    #[serde(default)]
    pub depends_on: Vec<crate::EntryRef>,
}

/// The set of known profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profiles(BTreeMap<String, Profile>);

fn leaf(name: &str, years: i64, eku: &[Eku], self_signed: bool, impact: &str) -> Profile {
    Profile {
        name: name.to_owned(),
        lifetime: Span::years(years),
        role: Role::Leaf,
        eku: eku.to_vec(),
        self_signed,
        key_algo: None,
        impact: impact.to_owned(),
    }
}

impl Profiles {
    /// The root CA profile's name.
    pub const ROOT_CA: &'static str = "root-ca";
    /// The intermediate (or subordinate) CA profile's name.
    pub const INTERMEDIATE_CA: &'static str = "intermediate-ca";

    /// The built-in profiles.
    pub fn builtin() -> Self {
        use Eku::{ClientAuth, ServerAuth};
        let list = [
            Profile {
                name: Self::ROOT_CA.into(),
                lifetime: Span::years(10),
                role: Role::Ca { path_len: None },
                eku: vec![],
                self_signed: true,
                key_algo: None,
                impact: "every certificate it issued stops being trusted, and the services using them fail".into(),
            },
            Profile {
                name: Self::INTERMEDIATE_CA.into(),
                lifetime: Span::years(5),
                role: Role::Ca { path_len: Some(0) },
                eku: vec![],
                self_signed: false,
                key_algo: None,
                impact: "every certificate it issued stops being trusted".into(),
            },
            leaf("machine-ssl", 2, &[ServerAuth, ClientAuth], false,
                "services fail to start; no login; open sessions survive until they disconnect"),
            leaf("service", 2, &[ClientAuth], false,
                "the service fails; integrated products (backup, NSX, VDI) lose their connection"),
            leaf("host", 5, &[ServerAuth, ClientAuth], false,
                "the host disconnects from the management server"),
            leaf("sts-signing", 10, &[], false, "SSO login fails"),
            leaf("pool-internal", 10, &[ServerAuth, ClientAuth], true,
                "host-to-host pool connections fail"),
            leaf("kmip-client", 2, &[ClientAuth], false,
                "the key server refuses the provider; encrypted VMs cannot start"),
        ];
        Self(list.into_iter().map(|p| (p.name.clone(), p)).collect())
    }

    /// Applies overrides from configuration; unknown profile names are an error.
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, ProfileOverride>,
    ) -> Result<Self, Error> {
        for (name, o) in overrides {
            let known = self.names();
            let p = self.0.get_mut(name).ok_or_else(|| Error::UnknownProfile {
                name: name.clone(),
                known,
            })?;
            if let Some(l) = o.lifetime {
                if l.duration().whole_seconds() <= 0 {
                    return Err(Error::ProfileSetting {
                        profile: name.clone(),
                        field: "lifetime",
                        value: l.to_string(),
                        expected: "a positive duration such as 2y",
                    });
                }
                p.lifetime = l;
            }
            if let Some(k) = &o.key_algo {
                p.key_algo = Some(k.parse().map_err(|_| Error::ProfileSetting {
                    profile: name.clone(),
                    field: "key_algo",
                    value: k.clone(),
                    expected:
                        "one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519",
                })?);
            }
            if let Some(i) = &o.impact {
                p.impact = i.clone();
            }
        }
        Ok(self)
    }

    /// Looks a profile up by name.
    pub fn get(&self, name: &str) -> Result<&Profile, Error> {
        self.0.get(name).ok_or_else(|| Error::UnknownProfile {
            name: name.to_owned(),
            known: self.names(),
        })
    }

    /// All profiles, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.0.values()
    }

    fn names(&self) -> String {
        self.0.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_follow_the_design_table() {
        let p = Profiles::builtin();
        assert_eq!(p.get("machine-ssl").unwrap().lifetime, Span::years(2));
        assert_eq!(p.get("host").unwrap().lifetime, Span::years(5));
        assert_eq!(p.get("sts-signing").unwrap().lifetime, Span::years(10));
        assert!(p.get("pool-internal").unwrap().self_signed);
        assert!(!p.get("root-ca").unwrap().is_renewable());
        assert!(p.get("nope").is_err());
    }

    #[test]
    fn overrides_apply_and_refuse_unknown_names() {
        let mut o = BTreeMap::new();
        o.insert(
            "machine-ssl".to_owned(),
            ProfileOverride {
                lifetime: Some(Span::days(90)),
                key_algo: Some("rsa-3072".into()),
                impact: None,
                depends_on: Vec::new(),
            },
        );
        let p = Profiles::builtin().with_overrides(&o).unwrap();
        assert_eq!(p.get("machine-ssl").unwrap().lifetime, Span::days(90));
        assert_eq!(
            p.get("machine-ssl").unwrap().key_algo,
            Some(KeyAlgorithm::Rsa3072)
        );
        o.insert("typo".to_owned(), ProfileOverride::default());
        assert!(Profiles::builtin().with_overrides(&o).is_err());
    }
}
