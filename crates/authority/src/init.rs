//! `certherd init`: the root CA (or a subordinate CA request), the stores, the node's
//! machine-ssl and sts-signing certificates, all in one transaction.

use std::net::IpAddr;

use certherd_core::{EntryKind, EntryRef, Profiles, Source, StoreName};
use certherd_store::{Change, Secret, Store};
use certherd_x509::{CertInfo, CertSpec, KeyAlgorithm, PrivateKey, Role};

use crate::node::{keys, SigningCa};
use crate::{Error, Node};

/// Whether the node runs its own root or a CA signed by an enterprise CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// certherd's own root CA.
    Ca,
    /// A CA key whose certificate an enterprise CA signs (`ca import-signed`).
    Subordinate,
}

impl Mode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::Subordinate => "subordinate",
        }
    }
}

/// Options of `certherd init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The node's fully qualified name.
    pub hostname: String,
    /// The node's IP addresses.
    pub ips: Vec<IpAddr>,
    /// Key algorithm for every key certherd generates on this node.
    pub key_algo: KeyAlgorithm,
    /// CA or subordinate.
    pub mode: Mode,
}

/// What `init` made.
#[derive(Clone, Debug)]
pub struct InitReport {
    /// The CA certificate's SHA-256 (mode ca).
    pub ca_sha256: Option<String>,
    /// Entries created.
    pub entries: Vec<EntryRef>,
    /// The CA CSR in PEM (subordinate mode), for the enterprise CA.
    pub csr_pem: Option<String>,
}

impl InitOptions {
    /// Checks the options before anything is created, so a refused init leaves no home.
    pub fn validate(&self) -> Result<(), Error> {
        host_name(&self.hostname).map(drop)
    }
}

/// A host's DNS name as certherd keeps it: checked, and lower-cased (DNS names are
/// case-insensitive, RFC 4343), so `H1.EXAMPLE.COM` and `h1.example.com` are one host.
/// A DNS name may be 253 characters, but a host's name is the common name of its
/// certificate (machine-ssl at init, the host certificate at join) and an alias, both at
/// most 64: a longer name is refused, naming that limit, rather than signed into a
/// certificate RFC 5280 does not allow or silently given another common name.
pub fn host_name(h: &str) -> Result<String, Error> {
    // An address literal has a DNS name's letters (`127.0.0.9`): told apart, and named.
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Err(Error::HostnameIsAddress(h.to_owned()));
    }
    if !valid_hostname(h) {
        return Err(Error::InvalidHostname(h.to_owned()));
    }
    let length = h.chars().count();
    if length > certherd_x509::UB_COMMON_NAME {
        return Err(Error::HostnameTooLong {
            name: h.to_owned(),
            length,
        });
    }
    Ok(h.to_ascii_lowercase())
}

pub(crate) fn valid_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The CA's common name: `certherd CA <hostname>`, and at `ca rotate` the tag (a
/// timestamp) that makes the new CA's name differ from the old one's.
pub(crate) fn ca_common_name(hostname: &str, n: Option<&str>) -> String {
    match n {
        Some(tag) => cn_with_host("certherd CA ", hostname, &format!(" {tag}")),
        None => cn_with_host("certherd CA ", hostname, ""),
    }
}

/// The common name `{prefix}{hostname}{suffix}` within RFC 5280's 64 characters
/// (ub-common-name): the host name is cut short when the whole would be longer (its
/// first labels, which tell hosts apart, kept; no trailing dot or hyphen left), while
/// the prefix and the suffix stay whole.
pub(crate) fn cn_with_host(prefix: &str, hostname: &str, suffix: &str) -> String {
    let room = certherd_x509::UB_COMMON_NAME
        .saturating_sub(prefix.chars().count() + suffix.chars().count());
    let host: String = hostname.chars().take(room).collect();
    let host = if host.len() < hostname.len() {
        host.trim_end_matches(['.', '-'])
    } else {
        &host
    };
    format!("{prefix}{host}{suffix}")
}

/// The trusted-roots alias of a root: its CN, slugged, and the start of its fingerprint.
pub(crate) fn trust_alias(info: &CertInfo) -> String {
    let cn = info.subject_cn.clone().unwrap_or_else(|| "ca".into());
    let slug: String = cn
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(48).collect();
    format!(
        "{}-{}",
        if slug.is_empty() { "ca".into() } else { slug },
        &info.sha256[..8]
    )
}

impl<S: Store> Node<S> {
    /// Initializes the node. Refused (by the store) if the home is already initialized.
    pub fn init(&mut self, opts: &InitOptions) -> Result<InitReport, Error> {
        opts.validate()?;
        let hostname = opts.hostname.to_ascii_lowercase();
        let now = self.now();
        let mut changes = vec![
            Change::SetMeta {
                key: keys::HOSTNAME.into(),
                value: hostname.clone(),
            },
            Change::SetMeta {
                key: keys::IPS.into(),
                value: opts
                    .ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            },
            Change::SetMeta {
                key: keys::MODE.into(),
                value: opts.mode.as_str().into(),
            },
            Change::SetMeta {
                key: keys::KEY_ALGO.into(),
                value: opts.key_algo.name().into(),
            },
        ];
        for s in [
            StoreName::CA,
            StoreName::TRUSTED_ROOTS,
            StoreName::MACHINE_SSL,
            StoreName::STS,
            StoreName::BACKUP,
        ] {
            changes.push(Change::CreateStore(s.parse()?, now));
        }
        let ca_key = PrivateKey::generate(opts.key_algo)?;
        let mut report = InitReport {
            ca_sha256: None,
            entries: Vec::new(),
            csr_pem: None,
        };
        match opts.mode {
            Mode::Ca => {
                let root = self.new_root(&hostname, None, &ca_key)?;
                let ca_ref: EntryRef = format!("{}/root", StoreName::CA).parse()?;
                changes.extend(self.root_changes(&ca_ref, &root, &ca_key)?);
                report.ca_sha256 = Some(root.sha256.clone());
                report.entries.push(ca_ref.clone());
                changes.push(Change::SetMeta {
                    key: keys::CA_CURRENT.into(),
                    value: "root".into(),
                });
                let signing = SigningCa {
                    alias: ca_ref,
                    cert: root.cert.clone(),
                    chain: Vec::new(),
                    key: ca_key,
                    sha256: root.sha256.clone(),
                    info: root.info,
                };
                // The node's key algorithm is not committed yet, so pass it explicitly.
                let (c, refs) = self.node_identity_changes(
                    &hostname,
                    &opts.ips,
                    &signing,
                    Some(opts.key_algo),
                )?;
                changes.extend(c);
                report.entries.extend(refs);
            }
            Mode::Subordinate => {
                let profile = self.profiles.get(Profiles::INTERMEDIATE_CA)?;
                let spec = CertSpec {
                    common_name: ca_common_name(&hostname, None),
                    organization: Some("certherd".into()),
                    dns_names: vec![],
                    ip_addresses: vec![],
                    not_before: now,
                    not_after: profile.lifetime.after(now),
                    role: Role::Ca { path_len: Some(0) },
                    eku: vec![],
                };
                let csr = certherd_x509::signing_request(&spec, &ca_key)?;
                report.csr_pem = Some(certherd_x509::to_pem(
                    certherd_x509::PemLabel::CertificateRequest,
                    &csr,
                ));
                changes.push(Change::PutSecret {
                    name: keys::PENDING_CA_KEY.into(),
                    secret: Secret::new(ca_key.secret_der().to_vec()),
                });
            }
        }
        changes.push(self.audit(
            "init",
            &hostname,
            format!("mode {} key {}", opts.mode.as_str(), opts.key_algo),
        ));
        changes.push(Change::SetMeta {
            key: certherd_store::INITIALIZED.into(),
            value: now.unix_timestamp().to_string(),
        });
        self.commit(&changes)?;
        Ok(report)
    }

    /// A new self-signed root under the root-ca profile.
    pub(crate) fn new_root(
        &self,
        hostname: &str,
        tag: Option<&str>,
        key: &PrivateKey,
    ) -> Result<RootCert, Error> {
        let profile = self.profiles.get(Profiles::ROOT_CA)?;
        let now = self.now();
        let spec = CertSpec {
            common_name: ca_common_name(hostname, tag),
            organization: Some("certherd".into()),
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::minutes(1),
            not_after: profile.lifetime.after(now),
            role: profile.role,
            eku: vec![],
        };
        let cert = certherd_x509::self_sign(&spec, key)?.to_vec();
        let info = CertInfo::from_der(&cert)?;
        Ok(RootCert {
            sha256: info.sha256.clone(),
            cert,
            info,
        })
    }

    /// Writes a root into the ca store (with key) and trusted-roots (certificate only).
    pub(crate) fn root_changes(
        &self,
        ca_ref: &EntryRef,
        root: &RootCert,
        key: &PrivateKey,
    ) -> Result<Vec<Change>, Error> {
        let trust_ref = EntryRef::new(
            StoreName::TRUSTED_ROOTS.parse()?,
            trust_alias(&root.info).parse()?,
        );
        let ca_meta = self.meta_for(
            ca_ref.clone(),
            &root.info,
            EntryKind::KeyPair,
            Some(Profiles::ROOT_CA),
            Source::Issued,
            None,
        );
        let trust_meta = self.meta_for(
            trust_ref,
            &root.info,
            EntryKind::Certificate,
            Some(Profiles::ROOT_CA),
            Source::Trusted,
            None,
        );
        Ok(vec![
            Change::PutEntry {
                entry: Box::new(Self::entry_with_key(
                    ca_meta,
                    root.cert.clone(),
                    Vec::new(),
                    Some(key),
                )),
                replace: false,
            },
            Change::PutEntry {
                entry: Box::new(Self::entry_with_key(
                    trust_meta,
                    root.cert.clone(),
                    Vec::new(),
                    None,
                )),
                replace: false,
            },
        ])
    }

    /// machine-ssl/machine and sts/sts-signing for the node.
    pub(crate) fn node_identity_changes(
        &self,
        hostname: &str,
        ips: &[IpAddr],
        ca: &SigningCa,
        key_algo: Option<KeyAlgorithm>,
    ) -> Result<(Vec<Change>, Vec<EntryRef>), Error> {
        let mut changes = Vec::new();
        let mut refs = Vec::new();
        let machine = self.profiles.get("machine-ssl")?.clone();
        let built = self.build(
            &machine,
            hostname,
            &[hostname.to_owned()],
            ips,
            key_algo,
            Some(ca),
        )?;
        let r: EntryRef = "machine-ssl/machine".parse()?;
        changes.push(Change::PutEntry {
            entry: Box::new(self.built_entry(r.clone(), &machine.name, &built)),
            replace: false,
        });
        refs.push(r);
        let sts = self.profiles.get("sts-signing")?.clone();
        let built = self.build(
            &sts,
            &cn_with_host("sts-signing ", hostname, ""),
            &[],
            &[],
            key_algo,
            Some(ca),
        )?;
        let r: EntryRef = "sts/sts-signing".parse()?;
        changes.push(Change::PutEntry {
            entry: Box::new(self.built_entry(r.clone(), &sts.name, &built)),
            replace: false,
        });
        refs.push(r);
        Ok((changes, refs))
    }
}

/// A freshly built root.
pub(crate) struct RootCert {
    pub cert: Vec<u8>,
    pub info: CertInfo,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(valid_hostname("node1.example.com"));
        assert!(!valid_hostname("node1"));
        assert!(!valid_hostname("-bad.example.com"));
        assert!(!valid_hostname("a..b"));
        assert_eq!(host_name("H1.Example.COM").unwrap(), "h1.example.com");
        assert!(host_name("H1").is_err());
        for ip in ["127.0.0.9", "10.1.2.3"] {
            assert!(
                matches!(host_name(ip), Err(Error::HostnameIsAddress(ref a)) if a == ip),
                "{ip}"
            );
        }
    }

    /// A label of `n` characters and `.example.com`: a valid host name of `n + 12`.
    fn long_host(n: usize) -> String {
        format!("{}.example.com", "a".repeat(n))
    }

    #[test]
    fn host_names_longer_than_a_common_name_are_refused_naming_the_limit() {
        let at_limit = long_host(52);
        assert_eq!(at_limit.len(), 64);
        assert_eq!(host_name(&at_limit).unwrap(), at_limit);
        // 66 characters: a valid DNS name, but not a common name (nor an alias).
        let over = format!("{}.b.example.com", "a".repeat(52));
        assert_eq!(over.len(), 66);
        assert!(valid_hostname(&over));
        let e = host_name(&over).unwrap_err();
        assert!(
            matches!(&e, Error::HostnameTooLong { length: 66, .. }),
            "{e:?}"
        );
        let opts = InitOptions {
            hostname: long_host(61),
            ips: vec![],
            key_algo: KeyAlgorithm::EcdsaP256,
            mode: Mode::Ca,
        };
        assert!(matches!(
            opts.validate(),
            Err(Error::HostnameTooLong { length: 73, .. })
        ));
    }

    #[test]
    fn derived_common_names_fit_64_characters() {
        let host = long_host(52);
        let cn = ca_common_name(&host, None);
        assert!(cn.chars().count() <= 64, "{cn}");
        assert!(cn.starts_with("certherd CA aaaa"), "{cn}");
        let rotated = ca_common_name(&host, Some("20261125200732"));
        assert_eq!(rotated.chars().count(), 64, "{rotated}");
        assert!(rotated.ends_with(" 20261125200732"), "{rotated}");
        assert!(rotated.starts_with("certherd CA aaaa"), "{rotated}");
        // A cut that would end on a dot or hyphen drops it.
        let dotted = format!("{}.example.com", "a".repeat(37));
        let cn = ca_common_name(&dotted, Some("20261125200732"));
        assert_eq!(cn, format!("certherd CA {} 20261125200732", "a".repeat(37)));
        let sts = cn_with_host("sts-signing ", &host, "");
        assert_eq!(sts.chars().count(), 64, "{sts}");
        // Short names are kept whole.
        assert_eq!(
            ca_common_name("n1.example.com", Some("7")),
            "certherd CA n1.example.com 7"
        );
        assert_eq!(
            cn_with_host("sts-signing ", "n1.example.com", ""),
            "sts-signing n1.example.com"
        );
    }
}
