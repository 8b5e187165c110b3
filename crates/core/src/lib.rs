//! The certherd domain, without I/O: entry names, profiles, validity, status at an
//! instant, renewal planning and the check verdict.
//!
//! Nothing here reads a clock, a file or a socket. Every rule that depends on time takes
//! the instant as an argument (or a [`Clock`]), so each can be tested at any date.
#![forbid(unsafe_code)]

mod clock;
mod entry;
mod entry_ref;
mod error;
mod forecast;
mod key_provider;
mod profile;
mod renewal;
mod settings;
mod span;
mod status;
mod watch;

pub use clock::{Clock, FixedClock};
pub use entry::{EntryKind, EntryMeta, Source};
pub use entry_ref::{Alias, EntryRef, StoreName};
pub use error::Error;
pub use forecast::{Forecast, ForecastItem, Planned, Service};
pub use key_provider::{
    store_of, KeyProvider, KmipServer, ProviderName, ServerAddress, ServerCheck,
};
pub use profile::{Profile, ProfileOverride, Profiles};
pub use renewal::RenewalPolicy;
pub use settings::{ServiceSettings, Settings};
pub use span::Span;
pub use status::{days_left, Check, Finding, Severity, Status, Thresholds};
pub use watch::{Problem, Watch, WatchKind};

/// Re-exported so callers name instants with the same type the core uses.
pub use time::OffsetDateTime;
