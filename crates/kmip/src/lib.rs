//! KMIP for certherd, without I/O: the TTLV codec and the few operations certherd needs.
//!
//! certherd talks KMIP only to prove that a key server accepts the provider's client
//! certificate and answers (Discover Versions, Query). The transport is the caller's: it
//! writes [`discover_versions_request`], reads eight bytes, asks [`message_length`] for the
//! rest, and hands the whole message to [`Response::parse`].
#![forbid(unsafe_code)]

mod error;
mod health;
mod message;
mod tag;
mod ttlv;

pub use error::Error;
pub use health::{health, HealthError, Healthy};
pub use message::{
    discover_versions_request, query_request, BatchResult, ProtocolVersion, Response, ResultStatus,
};
pub use tag::{result_reason_name, Operation, QueryFunction, Tag};
pub use ttlv::{message_length, Item, Value, MAX_DEPTH, MAX_MESSAGE};
