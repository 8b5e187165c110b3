//! Why a monitoring operation on a node (alarms, the notification outbox) was refused or
//! failed.

/// Why a monitoring operation on a node was refused or failed. Nothing was changed when
/// one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's context (its store, a rule of the authority) refused or failed.
    #[error(transparent)]
    Node(#[from] certherd_ca::Error),
}

// The store's failures are the node's: wrapped as `certherd_ca::Error` wraps them, so
// every caller maps them in one place.
impl From<certherd_store::Error> for Error {
    fn from(e: certherd_store::Error) -> Self {
        Self::Node(e.into())
    }
}

impl From<certherd_core::Error> for Error {
    fn from(e: certherd_core::Error) -> Self {
        Self::Node(e.into())
    }
}
