//! The node's settings: defaults, overridden by `certherd.toml` in the home.

use std::collections::BTreeMap;

use crate::{Error, ProfileOverride, Profiles, RenewalPolicy, Span, Thresholds};

/// Settings as written in certherd.toml. Every field is optional; unknown keys are errors
/// so a typo never silently falls back to a default.
#[derive(Clone, Debug, Default, serde::Deserialize)]
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
}

/// `[metrics]` section.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Require an admin credential (`Authorization: Bearer`) for `/metrics`.
    #[serde(default)]
    pub require_token: bool,
}

/// `[agent]` section, in a host agent's home.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// A command run (with `sh -c`) after any target file changed, e.g. `systemctl reload nginx`.
    pub reload: Option<String>,
    /// `[[agent.targets]]`: files kept equal to an entry.
    #[serde(default)]
    pub targets: Vec<TargetSettings>,
}

/// One `[[agent.targets]]`: an entry written as PEM files.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// The entry, e.g. `machine-ssl/host`.
    pub entry: crate::EntryRef,
    /// Where the certificate and its chain go (PEM, 0644).
    pub cert: std::path::PathBuf,
    /// Where the private key goes (PEM, 0600), if the service needs it.
    pub key: Option<std::path::PathBuf>,
}

/// `[fleet]` section.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// A joined host not heard from for this long raises `host-silent` (default 5m).
    pub heartbeat_window: Option<Span>,
}

/// One `[[webhooks]]` entry.
#[derive(Clone, Debug, serde::Deserialize)]
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
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// What stops working when this service's certificates lapse.
    pub impact: Option<String>,
    /// Other entries it uses, as `STORE/ALIAS` (e.g. `machine-ssl/machine`, `endpoints/wlb`).
    #[serde(default)]
    pub depends_on: Vec<crate::EntryRef>,
}

/// `[check]` section.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    /// Warning threshold (default 30d).
    pub warn: Option<Span>,
    /// Critical threshold (default 7d).
    pub crit: Option<Span>,
}

/// `[renewal]` section.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalSettings {
    /// Fraction of the lifetime after which renewal is due (default 2/3).
    pub at: Option<f64>,
    /// Largest jitter as a fraction of the lifetime (default 0.05).
    pub jitter: Option<f64>,
}

/// `[backup]` section.
#[derive(Clone, Debug, Default, serde::Deserialize)]
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
