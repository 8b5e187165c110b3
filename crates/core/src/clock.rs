//! The clock trait: the only way the core learns what time it is.

use time::OffsetDateTime;

/// A source of the current instant. The binary passes the system clock; tests pass a
/// [`FixedClock`] set to the date they want to examine.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// A clock stopped at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}
