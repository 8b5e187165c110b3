//! The client side of the health check, without I/O: which requests to send and what
//! their answers say. The caller does the exchange (one request, one whole response
//! message, see [`crate::message_length`]) and passes it in as a function.

use std::fmt;

use crate::{
    discover_versions_request, query_request, ProtocolVersion, QueryFunction, Response,
    ResultStatus,
};

/// A key server that answered the health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    /// Protocol versions the server supports, e.g. `1.2`.
    pub versions: Vec<String>,
    /// Its vendor identification, if it said.
    pub vendor: Option<String>,
}

/// Why the health check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError<E: fmt::Display + fmt::Debug> {
    /// The exchange itself failed (the caller's transport).
    #[error("{0}")]
    Exchange(E),
    /// The response could not be parsed.
    #[error("unreadable KMIP response: {0}")]
    Unreadable(crate::Error),
    /// The response has no batch item.
    #[error("KMIP response without a batch item")]
    NoBatchItem,
    /// Discover Versions answered with an error.
    #[error("KMIP error: {reason}: {message}")]
    Refused {
        /// The result reason.
        reason: String,
        /// The result message.
        message: String,
    },
    /// The Discover Versions payload could not be read.
    #[error("unreadable Discover Versions payload: {0}")]
    Versions(crate::Error),
}

/// One request and its parsed response.
fn ask<E: fmt::Display + fmt::Debug>(
    exchange: &mut impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
    request: &[u8],
) -> Result<Response, HealthError<E>> {
    let wire = exchange(request).map_err(HealthError::Exchange)?;
    Response::parse(&wire).map_err(HealthError::Unreadable)
}

/// The health check: Discover Versions must succeed; Query for the vendor is asked too,
/// but only informs.
pub fn health<E: fmt::Display + fmt::Debug>(
    mut exchange: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Healthy, HealthError<E>> {
    let version = ProtocolVersion::V1_2;
    let answer = ask(&mut exchange, &discover_versions_request(version))?;
    let item = answer.items.first().ok_or(HealthError::NoBatchItem)?;
    if item.status != ResultStatus::Success {
        return Err(HealthError::Refused {
            reason: item.reason_name().to_owned(),
            message: item.message.clone().unwrap_or_default(),
        });
    }
    let versions = item
        .versions()
        .map_err(HealthError::Versions)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let vendor = ask(
        &mut exchange,
        &query_request(version, &[QueryFunction::ServerInformation]),
    )
    .ok()
    .and_then(|r| r.items.first().and_then(|i| i.vendor().map(str::to_owned)));
    Ok(Healthy { versions, vendor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_exchange_is_the_callers_error() {
        let r = health(|_| Err::<Vec<u8>, _>("down"));
        assert!(matches!(r, Err(HealthError::Exchange("down"))));
    }

    #[test]
    fn garbage_is_unreadable() {
        let r = health(|_| Ok::<_, String>(vec![0u8; 8]));
        assert!(matches!(r, Err(HealthError::Unreadable(_))), "{r:?}");
    }
}
