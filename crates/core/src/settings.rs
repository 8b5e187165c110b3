//! The node's settings: defaults, overridden by `certherd.toml` in the home.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::{Error, ProfileOverride, Profiles, RenewalPolicy, Span, Thresholds};

/// Settings as written in certherd.toml. Every field is optional; unknown keys are errors
/// so a typo never silently falls back to a default.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[check]`: warning and critical thresholds.
    #[serde(default)]
    pub check: CheckSettings,
    /// `[renewal]`: when renewal is due.
    #[serde(default)]
    pub renewal: RenewalSettings,
    /// `[backup]`: how long superseded entries are kept.
    #[serde(default)]
    pub backup: BackupSettings,
    /// `[profiles.NAME]`: per-profile overrides.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileOverride>,
    /// `[services.NAME]`: what a service's outage means and which entries it depends on.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSettings>,
    /// `[[webhooks]]`: where alarm changes are POSTed as JSON.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// `[fleet]`: the management server's view of its hosts.
    #[serde(default)]
    pub fleet: FleetSettings,
    /// `[agent]`: what a host agent does with its certificates.
    #[serde(default)]
    pub agent: AgentSettings,
    /// `[metrics]`: who may read the server's `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// `[server]`: the fleet API's connection limits and refusal rate limiting.
    #[serde(default)]
    pub server: ServerSettings,
    /// `[database]`: where the inventory lives when not in the home's SQLite file.
    #[serde(default)]
    pub database: DatabaseSettings,
    /// `[crl]`: the CA's certificate revocation list.
    #[serde(default)]
    pub crl: CrlSettings,
}

/// `[database]` section.
#[derive(Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`); absent: the home's
    /// `certherd.db`. `--database` and `CERTHERD_DATABASE_URL` take precedence.
    pub url: Option<String>,
    /// The most database connections one `certherd server` opens (from 2 to 32): one is
    /// kept for the lifecycle lease and `/v1/health`, the others serve requests and the
    /// lifecycle loop; requests wait for a free one. Default: 8 on PostgreSQL
    /// (three servers stay well under its default `max_connections` of 100), 32 on SQLite.
    pub max_connections: Option<u32>,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_ref().map(|_| ".."))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl DatabaseSettings {
    /// The most connections a server keeps on PostgreSQL when `max_connections` is unset.
    pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 8;
    /// The same on SQLite, where a connection is an open file.
    pub const DEFAULT_SQLITE_CONNECTIONS: u32 = 32;
    /// The most `max_connections` may be (a server serves on at most this many threads).
    pub const MOST_CONNECTIONS: u32 = 32;

    /// The checked `max_connections`, or the default of the backend (`postgres`: the
    /// inventory is in PostgreSQL).
    pub fn max_connections(&self, postgres: bool) -> Result<u32, Error> {
        match self.max_connections {
            None if postgres => Ok(Self::DEFAULT_POSTGRES_CONNECTIONS),
            None => Ok(Self::DEFAULT_SQLITE_CONNECTIONS),
            Some(n) if (2..=Self::MOST_CONNECTIONS).contains(&n) => Ok(n),
            Some(_) => Err(Error::Setting {
                field: "database.max_connections",
                expected: "a number of connections from 2 (one for requests, one for the lifecycle lease and health) to 32",
            }),
        }
    }
}

/// `[crl]` section: where the CA's CRL is published and how long each one is valid.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrlSettings {
    /// The plain-HTTP URL of the CRL (`http://HOST:PORT/crl/ca.crl`, what `certherd server
    /// --crl-listen` serves). Newly issued certificates carry, as their CRL Distribution
    /// Point, this URL with `ca.crl` replaced by their issuing CA's CRL file (`root.crl`,
    /// `root-20261125190957.crl`); another URL as it is (see [`CrlPolicy::url_for`]).
    /// None: no distribution point.
    pub url: Option<String>,
    /// How long a CRL is valid: its nextUpdate is its thisUpdate plus this (default 7d,
    /// from 1h to 365d). A new CRL is published at half of it, and at every revocation.
    pub next_update: Option<Span>,
}

/// The CRL settings, checked and with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlPolicy {
    /// The distribution point URL, if any.
    pub url: Option<String>,
    /// From thisUpdate to nextUpdate.
    pub next_update: Span,
}

impl CrlPolicy {
    /// The default validity of a CRL: a week.
    pub const DEFAULT_NEXT_UPDATE: Span = Span::days(7);

    /// The distribution point of the CRL file `file` (`root.crl`). A URL naming certherd's
    /// own layout (its last path segment `ca.crl`, or a directory ending in `/`) gets that
    /// segment replaced by `file`, so every CA's CRL sits beside the others as the server
    /// serves them (`/crl/FILE`). Any other URL (a mirror the operator publishes, say
    /// `http://pki.example.com/certherd.crl`, or one with a query) is used as it is: only
    /// the operator knows what it serves. None without a URL.
    pub fn url_for(&self, file: &str) -> Option<String> {
        let url = self.url.as_deref()?;
        // A checked URL has a '/' after its host: the base is up to the last one.
        match url.rsplit_once('/') {
            Some((base, "" | "ca.crl")) if !url.contains('?') => Some(format!("{base}/{file}")),
            _ => Some(url.to_owned()),
        }
    }

    /// Whether a CRL issued at `this_update` is due for replacement at `now`: from half its
    /// validity on (so relying parties never hold an expired one while the server runs).
    pub fn refresh_due(&self, this_update: OffsetDateTime, now: OffsetDateTime) -> bool {
        now >= this_update.saturating_add(self.next_update.duration() / 2)
    }
}

impl CrlSettings {
    /// The checked policy: the URL must be `http://HOST[:PORT]/PATH` (RFC 5280 asks for
    /// plain HTTP, so fetching a CRL never needs TLS), without spaces or control
    /// characters; the validity from 1h to 365d.
    pub fn policy(&self) -> Result<CrlPolicy, Error> {
        if let Some(url) = &self.url {
            let ok = url
                .strip_prefix("http://")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(host, _)| !host.is_empty())
                && url.len() <= 2048
                && url.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(Error::Setting {
                    field: "crl.url",
                    expected: "an http:// URL with a host and a path, e.g. http://mgmt.example.com:8080/crl/ca.crl",
                });
            }
        }
        let next_update = self.next_update.unwrap_or(CrlPolicy::DEFAULT_NEXT_UPDATE);
        if next_update < Span::seconds(3600) || next_update > Span::days(365) {
            return Err(Error::Setting {
                field: "crl.next_update",
                expected: "a duration from 1h to 365d",
            });
        }
        Ok(CrlPolicy {
            url: self.url.clone(),
            next_update,
        })
    }
}

/// `[metrics]` section.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Require an admin credential (`Authorization: Bearer`) for `/metrics`.
    #[serde(default)]
    pub require_token: bool,
}

/// `[agent]` section, in a host agent's home.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// A command run (with `sh -c`) after any target file changed, e.g. `systemctl reload nginx`.
    pub reload: Option<String>,
    /// `[[agent.targets]]`: files kept equal to an entry.
    #[serde(default)]
    pub targets: Vec<TargetSettings>,
}

/// One `[[agent.targets]]`: an entry written as PEM files (`entry`, `cert`, `key`), or
/// the host certificate and trusted roots written as a libvirt or QEMU tree (`layout`,
/// `dir`, `reload`, `reload_timeout`). [`TargetSettings::resolve`] checks which.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// The entry, e.g. `machine-ssl/host` (a layout target takes the host certificate
    /// when it is absent).
    pub entry: Option<crate::EntryRef>,
    /// Where the certificate and its chain go (PEM, 0644).
    pub cert: Option<std::path::PathBuf>,
    /// Where the private key goes (PEM, 0600), if the service needs it.
    pub key: Option<std::path::PathBuf>,
    /// `libvirt` or `qemu`: write the whole tree that daemon reads.
    pub layout: Option<TargetLayout>,
    /// Where the layout goes (default /etc/pki for libvirt, /etc/pki/qemu for qemu).
    pub dir: Option<std::path::PathBuf>,
    /// Run (with `sh -c`) after the layout changed; default for libvirt
    /// `virt-admin server-update-tls libvirtd`, for qemu none; `""` runs none.
    pub reload: Option<String>,
    /// How long the reload may run before it is killed (default 30s, at most 1h).
    pub reload_timeout: Option<Span>,
}

/// The tree a `layout` target writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum TargetLayout {
    /// libvirt's files as under /etc/pki.
    Libvirt,
    /// QEMU's `tls-creds-x509` directory.
    Qemu,
}

impl TryFrom<String> for TargetLayout {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "libvirt" => Ok(Self::Libvirt),
            "qemu" => Ok(Self::Qemu),
            _ => Err(format!(
                "invalid setting agent.targets.layout '{s}': expected \"libvirt\" or \"qemu\""
            )),
        }
    }
}

/// The names `layout` takes, as [`TargetLayout`]'s `TryFrom` reads them.
impl schemars::JsonSchema for TargetLayout {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TargetLayout".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "enum": ["libvirt", "qemu"]})
    }
}

impl TargetLayout {
    /// The directory written when `dir` is absent.
    pub fn default_dir(self) -> &'static str {
        match self {
            Self::Libvirt => "/etc/pki",
            Self::Qemu => "/etc/pki/qemu",
        }
    }

    /// The reload command run when `reload` is absent.
    pub fn default_reload(self) -> Option<&'static str> {
        match self {
            Self::Libvirt => Some("virt-admin server-update-tls libvirtd"),
            Self::Qemu => None,
        }
    }
}

/// A `[[agent.targets]]` checked and with its defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentTarget {
    /// An entry as PEM files; the `[agent] reload` runs after a change.
    Files {
        /// The entry.
        entry: crate::EntryRef,
        /// The certificate and chain file.
        cert: std::path::PathBuf,
        /// The key file, if any.
        key: Option<std::path::PathBuf>,
    },
    /// A libvirt or QEMU tree with its own reload.
    Layout {
        /// Which tree.
        layout: TargetLayout,
        /// The entry; `None` is the host certificate.
        entry: Option<crate::EntryRef>,
        /// Where it goes.
        dir: std::path::PathBuf,
        /// The command run after a change, if any.
        reload: Option<String>,
        /// How long the reload may run.
        reload_timeout: std::time::Duration,
    },
}

impl TargetSettings {
    /// Checks the combination of keys and fills in the defaults.
    pub fn resolve(&self) -> Result<AgentTarget, Error> {
        let Some(layout) = self.layout else {
            let only_layout = [
                (self.dir.is_some(), "agent.targets.dir"),
                (self.reload.is_some(), "agent.targets.reload"),
                (
                    self.reload_timeout.is_some(),
                    "agent.targets.reload_timeout",
                ),
            ];
            if let Some((_, field)) = only_layout.iter().find(|(set, _)| *set) {
                return Err(Error::Setting {
                    field,
                    expected: "only with `layout` (a file target runs the [agent] reload)",
                });
            }
            let (Some(entry), Some(cert)) = (&self.entry, &self.cert) else {
                return Err(Error::Setting {
                    field: "agent.targets",
                    expected: "`entry` and `cert` (and optionally `key`), or `layout`",
                });
            };
            return Ok(AgentTarget::Files {
                entry: entry.clone(),
                cert: cert.clone(),
                key: self.key.clone(),
            });
        };
        if self.cert.is_some() || self.key.is_some() {
            return Err(Error::Setting {
                field: "agent.targets.layout",
                expected:
                    "no `cert` or `key` beside it: the layout names its own files under `dir`",
            });
        }
        let reload_timeout = match self.reload_timeout {
            None => std::time::Duration::from_secs(30),
            Some(v) => {
                let secs = v.duration().whole_seconds();
                if !(1..=3600).contains(&secs) {
                    return Err(Error::Setting {
                        field: "agent.targets.reload_timeout",
                        expected: "a duration from 1s to 1h",
                    });
                }
                std::time::Duration::from_secs(secs.unsigned_abs())
            }
        };
        if self.dir.as_ref().is_some_and(|d| !d.is_absolute()) {
            // A relative one would follow the agent's working directory.
            return Err(Error::Setting {
                field: "agent.targets.dir",
                expected: "an absolute path (the layout's directory, e.g. \"/etc/pki\")",
            });
        }
        let reload = match &self.reload {
            Some(r) if r.trim().is_empty() => None,
            Some(r) => Some(r.clone()),
            None => layout.default_reload().map(str::to_owned),
        };
        Ok(AgentTarget::Layout {
            layout,
            entry: self.entry.clone(),
            dir: self
                .dir
                .clone()
                .unwrap_or_else(|| layout.default_dir().into()),
            reload,
            reload_timeout,
        })
    }
}

/// `[fleet]` section.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// A joined host not heard from for this long raises `host-silent` (default 5m).
    pub heartbeat_window: Option<Span>,
    /// The fleet's servers, each `https://HOST:PORT`, advertised to agents in every join
    /// and poll answer for them to fail over to (default: none; an agent keeps the
    /// server it joined, and those given with `agent join --server`).
    #[serde(default)]
    pub servers: Vec<String>,
}

/// One `[[webhooks]]` entry.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `http://HOST:PORT/PATH` or `https://...` (verified against trusted-roots).
    pub url: String,
    /// Attempts after the first failure (default 3).
    pub retries: Option<u32>,
    /// Wait before the first retry, doubled each time (default 1s).
    pub backoff: Option<Span>,
}

/// `[services.NAME]` section. NAME is a service added with `certherd service add`, or any
/// name for something that depends on certherd's entries (an integration, an appliance).
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// What stops working when this service's certificates lapse.
    pub impact: Option<String>,
    /// Other entries it uses, as `STORE/ALIAS` (e.g. `machine-ssl/machine`, `endpoints/wlb`).
    #[serde(default)]
    pub depends_on: Vec<crate::EntryRef>,
}

/// `[check]` section.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    /// Warning threshold (default 30d).
    pub warn: Option<Span>,
    /// Critical threshold (default 7d).
    pub crit: Option<Span>,
}

/// `[renewal]` section.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalSettings {
    /// Fraction of the lifetime after which renewal is due (default 2/3).
    pub at: Option<f64>,
    /// Largest jitter as a fraction of the lifetime (default 0.05).
    pub jitter: Option<f64>,
}

/// `[backup]` section.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// How long superseded entries stay in the backup store (default 30d).
    pub retention: Option<Span>,
}

impl Settings {
    /// Thresholds with defaults filled in; critical must not exceed warning.
    pub fn thresholds(&self) -> Result<Thresholds, Error> {
        let d = Thresholds::default();
        let t = Thresholds {
            warn: self.check.warn.unwrap_or(d.warn),
            crit: self.check.crit.unwrap_or(d.crit),
        };
        if t.crit > t.warn {
            return Err(Error::Setting {
                field: "check.crit",
                expected: "a duration no longer than check.warn",
            });
        }
        Ok(t)
    }

    /// The renewal policy with defaults filled in.
    pub fn renewal_policy(&self) -> Result<RenewalPolicy, Error> {
        let d = RenewalPolicy::default();
        RenewalPolicy {
            at: self.renewal.at.unwrap_or(d.at),
            jitter: self.renewal.jitter.unwrap_or(d.jitter),
        }
        .validated()
    }

    /// Backup retention (default 30 days).
    pub fn backup_retention(&self) -> Span {
        self.backup.retention.unwrap_or(Span::days(30))
    }

    /// The built-in profiles with this file's overrides applied.
    pub fn profiles(&self) -> Result<Profiles, Error> {
        Profiles::builtin().with_overrides(&self.profiles)
    }
}

/// `[server]` section: the fleet API's connection limits and how refused joins are
/// rate-limited. Every key is optional; [`ServerSettings::limits`] fills the defaults.
#[derive(Clone, Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Connections served at once (default 512).
    pub max_connections: Option<u32>,
    /// Connections served at once from one address, an IPv6 /64 counting as one (default
    /// an eighth of `max_connections`, at least 4).
    pub max_connections_per_address: Option<u32>,
    /// Time allowed for the TLS handshake (default 10s).
    pub handshake_timeout: Option<Span>,
    /// Time allowed for a request's headers to arrive after the handshake (default 10s).
    pub header_timeout: Option<Span>,
    /// Time allowed for a request's body to arrive (default 10s).
    pub body_timeout: Option<Span>,
    /// How long a kept-alive connection may wait for its next request (default 30s).
    pub idle_timeout: Option<Span>,
    /// The interval over which refused joins from one source are counted (default 1m).
    pub refusal_interval: Option<Span>,
    /// Refused joins one source may make per interval before it is answered 429
    /// (default 20).
    pub refusals_per_interval: Option<u32>,
    /// How long the lifecycle lease of several servers on one database runs unrenewed:
    /// when its holder dies, another server takes over within it (default 15s).
    pub lifecycle_lease: Option<Span>,
}

/// The `[server]` settings with defaults filled in and ranges checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once.
    pub max_connections: u32,
    /// Connections served at once from one address (an IPv6 /64 counting as one); at
    /// most `max_connections`.
    pub max_connections_per_address: u32,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: std::time::Duration,
    /// Time allowed for a request's headers.
    pub header_timeout: std::time::Duration,
    /// Time allowed for a request's body.
    pub body_timeout: std::time::Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: std::time::Duration,
    /// The interval over which refused joins from one source are counted.
    pub refusal_interval: std::time::Duration,
    /// Refused joins one source may make per interval before it is answered 429.
    pub refusals_per_interval: u32,
    /// The lifecycle lease: renewed every third of it; when its holder dies, another
    /// server takes over within it.
    pub lifecycle_lease: std::time::Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        let s = std::time::Duration::from_secs;
        Self {
            max_connections: 512,
            max_connections_per_address: ServerLimits::per_address_default(512),
            handshake_timeout: s(10),
            header_timeout: s(10),
            body_timeout: s(10),
            idle_timeout: s(30),
            refusal_interval: s(60),
            refusals_per_interval: 20,
            lifecycle_lease: s(15),
        }
    }
}

impl ServerLimits {
    /// The per-address limit when none is set: an eighth of the connections, at least 4
    /// (and never more than the connections).
    pub fn per_address_default(max_connections: u32) -> u32 {
        (max_connections / 8).max(4).min(max_connections)
    }
}

impl ServerSettings {
    /// The limits in force: defaults filled in; each value must lie in its range
    /// (timeouts 1s..1h, `refusal_interval` 1s..1d, counts 1..1,000,000,
    /// `max_connections_per_address` at most `max_connections`).
    pub fn limits(&self) -> Result<ServerLimits, Error> {
        let d = ServerLimits::default();
        let span = |v: Option<Span>,
                    default: std::time::Duration,
                    field: &'static str,
                    max_secs: i64,
                    expected: &'static str|
         -> Result<std::time::Duration, Error> {
            match v {
                None => Ok(default),
                Some(v) => {
                    let secs = v.duration().whole_seconds();
                    if (1..=max_secs).contains(&secs) {
                        Ok(std::time::Duration::from_secs(secs.unsigned_abs()))
                    } else {
                        Err(Error::Setting { field, expected })
                    }
                }
            }
        };
        let count = |v: Option<u32>, default: u32, field: &'static str| -> Result<u32, Error> {
            match v {
                None => Ok(default),
                Some(v) if (1..=1_000_000).contains(&v) => Ok(v),
                Some(_) => Err(Error::Setting {
                    field,
                    expected: "a whole number from 1 to 1000000",
                }),
            }
        };
        const TIMEOUT: &str = "a duration from 1s to 1h";
        let max_connections = count(
            self.max_connections,
            d.max_connections,
            "server.max_connections",
        )?;
        let max_connections_per_address = match self.max_connections_per_address {
            None => ServerLimits::per_address_default(max_connections),
            Some(v) if (1..=max_connections).contains(&v) => v,
            Some(_) => {
                return Err(Error::Setting {
                    field: "server.max_connections_per_address",
                    expected: "a whole number from 1 to server.max_connections",
                })
            }
        };
        Ok(ServerLimits {
            max_connections,
            max_connections_per_address,
            handshake_timeout: span(
                self.handshake_timeout,
                d.handshake_timeout,
                "server.handshake_timeout",
                3600,
                TIMEOUT,
            )?,
            header_timeout: span(
                self.header_timeout,
                d.header_timeout,
                "server.header_timeout",
                3600,
                TIMEOUT,
            )?,
            body_timeout: span(
                self.body_timeout,
                d.body_timeout,
                "server.body_timeout",
                3600,
                TIMEOUT,
            )?,
            idle_timeout: span(
                self.idle_timeout,
                d.idle_timeout,
                "server.idle_timeout",
                3600,
                TIMEOUT,
            )?,
            refusal_interval: span(
                self.refusal_interval,
                d.refusal_interval,
                "server.refusal_interval",
                86_400,
                "a duration from 1s to 1d",
            )?,
            refusals_per_interval: count(
                self.refusals_per_interval,
                d.refusals_per_interval,
                "server.refusals_per_interval",
            )?,
            lifecycle_lease: match span(
                self.lifecycle_lease,
                d.lifecycle_lease,
                "server.lifecycle_lease",
                600,
                LEASE,
            )? {
                // Renewed every third of it: under 3s a busy database could miss one.
                l if l < std::time::Duration::from_secs(3) => {
                    return Err(Error::Setting {
                        field: "server.lifecycle_lease",
                        expected: LEASE,
                    })
                }
                l => l,
            },
        })
    }
}

/// The range of `server.lifecycle_lease`.
const LEASE: &str = "a duration from 3s to 10m";

#[cfg(test)]
mod server_tests {
    use super::*;

    #[test]
    fn database_connections_default_by_backend_and_are_bounded() {
        let unset = DatabaseSettings::default();
        assert_eq!(unset.max_connections(true).unwrap(), 8);
        assert_eq!(unset.max_connections(false).unwrap(), 32);
        let toml = |n: &str| -> Result<u32, Error> {
            let s: Settings = toml::from_str(&format!("[database]\nmax_connections = {n}\n"))
                .map_err(|_| Error::Setting {
                    field: "database",
                    expected: "parsed",
                })?;
            s.database.max_connections(true)
        };
        assert_eq!(toml("2").unwrap(), 2);
        assert_eq!(toml("32").unwrap(), 32);
        assert!(toml("0").is_err());
        assert!(toml("1").is_err());
        assert!(toml("33").is_err());
    }

    #[test]
    fn crl_settings_are_checked() {
        let p = CrlSettings::default().policy().unwrap();
        assert_eq!(p.url, None);
        assert_eq!(p.next_update, Span::days(7));
        let t = time::macros::datetime!(2026-01-01 0:00 UTC);
        assert!(!p.refresh_due(t, t + time::Duration::days(3)));
        assert!(p.refresh_due(t, t + time::Duration::hours(84)));
        for (url, ok) in [
            ("http://mgmt:8080/crl/ca.crl", true),
            ("https://mgmt/crl/ca.crl", false),
            ("http:///crl", false),
            ("http://mgmt", false),
            ("http://mgmt/a b", false),
            ("ldap://x/y", false),
        ] {
            let s = CrlSettings {
                url: Some(url.into()),
                next_update: None,
            };
            assert_eq!(s.policy().is_ok(), ok, "{url}");
        }
        // Each CA's CRL beside the configured one.
        for (url, want) in [
            (
                "http://mgmt:8080/crl/ca.crl",
                "http://mgmt:8080/crl/root-1.crl",
            ),
            ("http://mgmt/", "http://mgmt/root-1.crl"),
            ("http://mgmt/pki/x/ca.crl", "http://mgmt/pki/x/root-1.crl"),
            // Not certherd's layout: the operator's URL as it is.
            (
                "http://pki.example.com/certherd.crl",
                "http://pki.example.com/certherd.crl",
            ),
            ("http://h/get?f=/x/ca.crl", "http://h/get?f=/x/ca.crl"),
        ] {
            let s = CrlSettings {
                url: Some(url.into()),
                next_update: None,
            };
            assert_eq!(
                s.policy().unwrap().url_for("root-1.crl").as_deref(),
                Some(want)
            );
        }
        assert_eq!(p.url_for("root.crl"), None);
        for (span, ok) in [
            (Span::seconds(60), false),
            (Span::days(1), true),
            (Span::days(400), false),
        ] {
            let s = CrlSettings {
                url: None,
                next_update: Some(span),
            };
            assert_eq!(s.policy().is_ok(), ok, "{span:?}");
        }
    }

    #[test]
    fn server_limits_default_and_range_checked() {
        assert_eq!(
            ServerSettings::default().limits().unwrap(),
            ServerLimits::default()
        );
        let l = ServerSettings {
            max_connections: Some(8),
            header_timeout: Some(Span::seconds(2)),
            ..Default::default()
        }
        .limits()
        .unwrap();
        assert_eq!(l.max_connections, 8);
        // The per-address default: an eighth, at least 4, at most the cap.
        assert_eq!(l.max_connections_per_address, 4);
        assert_eq!(ServerLimits::default().max_connections_per_address, 64);
        let per = |max: u32, per: Option<u32>| {
            ServerSettings {
                max_connections: Some(max),
                max_connections_per_address: per,
                ..Default::default()
            }
            .limits()
            .map(|l| l.max_connections_per_address)
        };
        assert_eq!(per(2, None).unwrap(), 2);
        assert_eq!(per(20, None).unwrap(), 4);
        assert_eq!(per(1000, None).unwrap(), 125);
        assert_eq!(per(20, Some(20)).unwrap(), 20);
        assert_eq!(per(20, Some(1)).unwrap(), 1);
        assert_eq!(l.header_timeout, std::time::Duration::from_secs(2));
        let bad = [
            (
                ServerSettings {
                    max_connections: Some(0),
                    ..Default::default()
                },
                "server.max_connections",
            ),
            (
                ServerSettings {
                    max_connections_per_address: Some(0),
                    ..Default::default()
                },
                "server.max_connections_per_address",
            ),
            (
                ServerSettings {
                    max_connections: Some(20),
                    max_connections_per_address: Some(21),
                    ..Default::default()
                },
                "server.max_connections_per_address",
            ),
            (
                ServerSettings {
                    max_connections_per_address: Some(513),
                    ..Default::default()
                },
                "server.max_connections_per_address",
            ),
            (
                ServerSettings {
                    idle_timeout: Some(Span::seconds(0)),
                    ..Default::default()
                },
                "server.idle_timeout",
            ),
            (
                ServerSettings {
                    body_timeout: Some(Span::seconds(7200)),
                    ..Default::default()
                },
                "server.body_timeout",
            ),
            (
                ServerSettings {
                    refusal_interval: Some(Span::days(2)),
                    ..Default::default()
                },
                "server.refusal_interval",
            ),
            (
                ServerSettings {
                    refusals_per_interval: Some(0),
                    ..Default::default()
                },
                "server.refusals_per_interval",
            ),
        ];
        for (settings, field) in bad {
            match settings.limits() {
                Err(Error::Setting { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn target(text: &str) -> Result<AgentTarget, String> {
        let s: Settings = toml::from_str(text).map_err(|e| e.to_string())?;
        s.agent.targets[0].resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn layout_targets_take_their_defaults() {
        let t = target("[[agent.targets]]\nlayout = \"libvirt\"\n").unwrap();
        assert_eq!(
            t,
            AgentTarget::Layout {
                layout: TargetLayout::Libvirt,
                entry: None,
                dir: "/etc/pki".into(),
                reload: Some("virt-admin server-update-tls libvirtd".into()),
                reload_timeout: std::time::Duration::from_secs(30),
            }
        );
        let t = target("[[agent.targets]]\nlayout = \"qemu\"\nreload_timeout = \"5s\"\n").unwrap();
        let AgentTarget::Layout {
            dir,
            reload,
            reload_timeout,
            ..
        } = t
        else {
            panic!("{t:?}")
        };
        assert_eq!(dir, std::path::PathBuf::from("/etc/pki/qemu"));
        assert_eq!(reload, None);
        assert_eq!(reload_timeout, std::time::Duration::from_secs(5));
        let t =
            target("[[agent.targets]]\nlayout = \"libvirt\"\ndir = \"/srv/pki\"\nreload = \"\"\n")
                .unwrap();
        assert!(
            matches!(t, AgentTarget::Layout { reload: None, ref dir, .. } if dir == std::path::Path::new("/srv/pki"))
        );
    }

    #[test]
    fn a_layout_dir_must_be_absolute() {
        for dir in ["", "relative/pki", "./pki"] {
            let e = target(&format!(
                "[[agent.targets]]\nlayout = \"qemu\"\ndir = \"{dir}\"\n"
            ))
            .unwrap_err();
            assert!(
                e.contains("agent.targets.dir: an absolute path"),
                "{dir}: {e}"
            );
        }
    }

    #[test]
    fn unknown_layout_names_the_setting() {
        let e = target("[[agent.targets]]\nlayout = \"xen\"\n").unwrap_err();
        assert!(
            e.contains("agent.targets.layout 'xen'") && e.contains("\"libvirt\" or \"qemu\""),
            "{e}"
        );
    }

    #[test]
    fn mixed_or_missing_keys_are_refused() {
        let e = target("[[agent.targets]]\nlayout = \"qemu\"\ncert = \"/x.pem\"\n").unwrap_err();
        assert!(e.contains("agent.targets.layout"), "{e}");
        let e = target("[[agent.targets]]\nentry = \"a/b\"\ncert = \"/x\"\ndir = \"/d\"\n")
            .unwrap_err();
        assert!(e.contains("agent.targets.dir"), "{e}");
        let e = target("[[agent.targets]]\nentry = \"a/b\"\n").unwrap_err();
        assert!(e.contains("`entry` and `cert`"), "{e}");
        let e =
            target("[[agent.targets]]\nlayout = \"qemu\"\nreload_timeout = \"0s\"\n").unwrap_err();
        assert!(e.contains("agent.targets.reload_timeout"), "{e}");
        let t = target("[[agent.targets]]\nentry = \"a/b\"\ncert = \"/x\"\n").unwrap();
        assert!(matches!(t, AgentTarget::Files { key: None, .. }));
    }
}
