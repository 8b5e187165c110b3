//! The certherd domain, without I/O: entry names, profiles, validity, status at an
//! instant, renewal planning and the check verdict.
//!
//! Nothing here reads a clock, a file or a socket. Every rule that depends on time takes
//! the instant as an argument (or a [`Clock`]), so each can be tested at any date.
#![forbid(unsafe_code)]

mod alarm;
mod clock;
mod copies;
mod entry;
mod entry_ref;
mod error;
mod forecast;
mod join_token;
mod key_provider;
mod metrics;
mod profile;
mod renewal;
mod settings;
mod span;
mod status;
mod watch;

pub use alarm::{
    expiry_condition, expiry_conditions, reconcile, Alarm, AlarmChange, AlarmKind, Condition,
    DEFAULT_TIERS,
};
/// The inspection engine's findings and scan facts, re-exported for the layers above.
pub use certherd_inspect::{Facts, FileFacts, Finding, FindingKind, TlsFacts};
pub use clock::{Clock, FixedClock};
pub use copies::{fold_copies, Folded};
pub use entry::{EntryKind, EntryMeta, Source};
pub use entry_ref::{Alias, EntryRef, StoreName};
pub use error::Error;
pub use forecast::{Forecast, ForecastItem, Planned, Service};
pub use join_token::{
    Host, JoinToken, TokenError, DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, MIN_TOKEN_TTL,
};
pub use key_provider::{
    store_of, KeyProvider, KmipServer, ProviderName, ServerAddress, ServerCheck,
};
pub use metrics::{render as render_metrics, Counters};
pub use profile::{Profile, ProfileOverride, Profiles};
pub use renewal::RenewalPolicy;
pub use settings::{
    AgentSettings, AgentTarget, CrlPolicy, CrlSettings, DatabaseSettings, FleetSettings,
    MetricsSettings, ServerLimits, ServerSettings, ServiceSettings, Settings, TargetLayout,
    TargetSettings, WebhookSettings,
};
pub use span::Span;
pub use status::{days_left, Check, EntryFinding, Severity, Status, Thresholds};
pub use watch::{Watch, WatchKind};

/// Re-exported so callers name instants with the same type the core uses.
pub use time::OffsetDateTime;
