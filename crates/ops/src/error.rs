//! Why an operation was refused or failed, with the stable code a client decides by.

use certherd_protocol::{ErrorCode, NextStep};

/// What was wrong with a request as the admin API carries it (its path, query or body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A query parameter the endpoint does not take.
    #[error("unknown query parameter '{name}' (this endpoint takes: {known})")]
    UnknownParam {
        /// Its name (cut).
        name: String,
        /// Those it takes, or `none`.
        known: String,
    },
    /// A query parameter given twice.
    #[error("query parameter '{name}' given twice")]
    ParamTwice {
        /// Its name.
        name: String,
    },
    /// A whole-number parameter out of range or not a number.
    #[error("query parameter '{name}' must be a whole number from {min} to {max}")]
    NotANumber {
        /// Its name.
        name: &'static str,
        /// The least accepted.
        min: i64,
        /// The most accepted.
        max: i64,
    },
    /// A boolean parameter other than `true` or `false`.
    #[error("query parameter '{name}' must be true or false")]
    NotABoolean {
        /// Its name.
        name: &'static str,
    },
    /// The query is not valid percent-encoded UTF-8.
    #[error("the query is not valid percent-encoded UTF-8")]
    NotPercentEncoded,
    /// A path parameter is not valid percent-encoded UTF-8.
    #[error("the path is not valid percent-encoded UTF-8")]
    PathNotPercentEncoded,
    /// A body where the endpoint takes none.
    #[error("this endpoint takes no request body")]
    UnexpectedBody,
    /// The body is not a JSON object of the endpoint's shape.
    #[error("the request body is not of this endpoint's shape: {detail}")]
    BodyShape {
        /// What the JSON parser said (cut: a stranger decides its length).
        detail: String,
    },
    /// The path lacks a parameter its endpoint has.
    #[error("the path lacks its parameter")]
    PathParam,
    /// Both `days` and `until`.
    #[error("give days or until, not both")]
    DaysAndUntil,
    /// `until` is not an RFC 3339 time.
    #[error("until '{value}' is not an RFC 3339 time")]
    UntilNotATime {
        /// What was given (cut).
        value: String,
    },
    /// A time parameter (the audit log's `since` or `until`) is not an RFC 3339 time.
    #[error("query parameter '{name}' '{value}' is not an RFC 3339 time")]
    NotATime {
        /// The parameter.
        name: &'static str,
        /// What was given (cut).
        value: String,
    },
    /// The audit log's `since` is not before its `until`.
    #[error("since {since} is not before until {until}")]
    EmptyPeriod {
        /// `since`, RFC 3339.
        since: String,
        /// `until`, RFC 3339.
        until: String,
    },
    /// A span parameter (`check`'s `warn` or `crit`) that is not one (`30d`, `12h`).
    #[error("query parameter '{name}' '{value}' is not a span such as 30d or 12h")]
    NotASpan {
        /// The parameter.
        name: &'static str,
        /// What was given (cut).
        value: String,
    },
    /// A field of `cert import`'s request that is not standard base64.
    #[error("'{field}' is not standard base64")]
    NotBase64 {
        /// The field.
        field: &'static str,
    },
    /// `cert import`'s request without exactly one of `cert` (with `chain` and `key`) and
    /// `pkcs12` (with `password`).
    #[error("give either 'cert' (with 'chain' and 'key') or 'pkcs12' (with 'password')")]
    ImportFields,
    /// A purpose other than `server`, `client` or `any`.
    #[error("unknown purpose '{value}' (expected server, client or any)")]
    UnknownPurpose {
        /// What was given (cut).
        value: String,
    },
    /// A certificate policy that is not a dotted OID.
    #[error("policy '{value}' is not a dotted OID (e.g. 2.16.840.1.101.3.2.1.48.1)")]
    NotAnOid {
        /// What was given (cut).
        value: String,
    },
    /// `report` without the end of its forecast.
    #[error("query parameter 'until' is missing: the report's forecast needs its end")]
    UntilMissing,
    /// A number outside the range the request allows.
    #[error("'{name}' must be from {min} to {max}")]
    OutOfRange {
        /// The field.
        name: &'static str,
        /// The least allowed.
        min: u64,
        /// The most allowed.
        max: u64,
    },
    /// A STARTTLS protocol not known.
    #[error("unknown STARTTLS protocol '{value}' (expected postgres, ldap or smtp)")]
    UnknownStartTls {
        /// What was given (cut).
        value: String,
    },
    /// A renewal run's span that is not one (`30d`, `12h`).
    #[error("'{value}' is not a span such as 30d or 12h")]
    BadSpan {
        /// What was given (cut).
        value: String,
    },
    /// `until` is in the past.
    #[error("until {until} is in the past")]
    UntilPast {
        /// The time, RFC 3339.
        until: String,
    },
    /// `until` is further ahead than a forecast reaches.
    #[error("until {until} is more than {max} ahead")]
    UntilTooFar {
        /// The time, RFC 3339.
        until: String,
        /// How far a forecast reaches.
        max: String,
    },
}

/// Why an operation did not give its answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request, as the admin API carries it, is malformed.
    #[error(transparent)]
    Request(#[from] Problem),
    /// The home refused or failed it.
    #[error(transparent)]
    Node(#[from] certherd_authority::Error),
    /// The fleet refused or failed it.
    #[error(transparent)]
    Fleet(#[from] certherd_fleet::Error),
    /// The alarms or the outbox refused or failed it.
    #[error(transparent)]
    Monitor(#[from] certherd_monitor::Error),
    /// A scan, pin or diagnosis of an endpoint refused or failed.
    #[error(transparent)]
    Scan(#[from] certherd_monitor::scan::ScanError),
    /// No host by that name.
    #[error("no host named '{name}'")]
    NoSuchHost {
        /// The name asked for.
        name: String,
    },
    /// The host is enrolled already.
    #[error("host '{name}' is already enrolled; remove it first to enroll it again")]
    HostEnrolled {
        /// Its name.
        name: String,
    },
    /// An address of a host is not an IP address.
    #[error("'{value}' is not an IP address")]
    NotAnAddress {
        /// What was given.
        value: String,
    },
    /// An endpoint's `HOST:PORT` that is not one.
    #[error("{address}: {source}")]
    BadAddress {
        /// What was given.
        address: String,
        /// Why.
        source: certherd_protocol::HostPortError,
    },
    /// A join token's lifetime outside 1 to 720 hours.
    #[error("token_ttl_hours must be from 1 to 720 (token_ttl_seconds from 3600 to 2592000), and not both")]
    TokenTtl,
    /// `STORE/ALIAS` that names no possible entry.
    #[error("entry {entry} does not exist")]
    NoSuchEntry {
        /// What was given.
        entry: String,
    },
    /// A store name that names no possible store.
    #[error("store '{store}' does not exist")]
    NoSuchStore {
        /// What was given.
        store: String,
    },
    /// `STORE/ALIAS` of a new entry that is not one.
    #[error("{entry}: {source}")]
    BadEntry {
        /// What was given.
        entry: String,
        /// Why.
        source: certherd_core::Error,
    },
    /// A key algorithm name not known.
    #[error(transparent)]
    KeyAlgorithm(certherd_x509::Error),
    /// A revocation reason name not known.
    #[error("unknown reason '{name}': expected unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn")]
    UnknownReason {
        /// What was given.
        name: String,
    },
    /// An entry that holds no certificate to export.
    #[error("{entry} holds no certificate")]
    NoCertificate {
        /// The entry.
        entry: String,
    },
    /// The critical threshold is longer than the warning threshold.
    #[error("the critical threshold {crit} is longer than the warning threshold {warn}")]
    Thresholds {
        /// The warning threshold.
        warn: certherd_core::Span,
        /// The critical threshold.
        crit: certherd_core::Span,
    },
    /// Another run holds the home's renewal lock.
    #[error("the home is busy: {} holds it; try again when it ends", holder.as_deref().unwrap_or("another certherd command"))]
    HomeBusy {
        /// Who holds it (`cert renew --all`, pid 4242, since ...), if known.
        holder: Option<String>,
    },
    /// The home's database cannot be reached now (a restart, a failover): the same call
    /// may succeed later.
    #[error("{0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The server refused the call: its code and its words.
    #[error("{message}")]
    Refused {
        /// The code it gave (absent from a server that predates codes).
        code: Option<ErrorCode>,
        /// The HTTP status.
        status: u16,
        /// Its words.
        message: String,
        /// The usual next step it named, if any.
        next: Option<NextStep>,
        /// What to look at, in its words, if it said.
        hint: Option<String>,
    },
    /// The server answered a refusal without a readable body.
    #[error("{op} answered {status} without a reason")]
    Unexplained {
        /// `METHOD PATH`.
        op: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server's answer is not of the operation's shape.
    #[error("{op}: an answer of another shape: {detail}")]
    AnswerShape {
        /// `METHOD PATH`.
        op: String,
        /// What the JSON parser said.
        detail: String,
    },
    /// An implementation answered another operation than the one asked (a bug).
    #[error("{asked}: the answer of another operation ({got})")]
    Mismatch {
        /// The operation asked.
        asked: &'static str,
        /// What came back.
        got: String,
    },
    /// The transport failed (no connection, a broken answer).
    #[error(transparent)]
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// A key provider's client identity (its key) cannot be used for TLS.
    #[error(transparent)]
    KmipIdentity(certherd_monitor::kmip::IdentityError),
    /// A KMIP server's certificate could not be read.
    #[error("{address}: {source}")]
    KmipServer {
        /// The server, `HOST:PORT`.
        address: String,
        /// Why.
        source: certherd_monitor::kmip::PresentedError,
    },
}

/// The usual next step after the home refused with `e`, if there is one: what the admin
/// API sends with the refusal and the CLI words in its own terms, alike on a home and
/// against a server.
pub fn next_step(e: &certherd_authority::Error) -> Option<NextStep> {
    use certherd_authority::{Error as E, Instead, NotRevocable, ObjectKind};
    let instead = |i: Instead, protected: bool| match i {
        Instead::RotateCa if protected => Some(NextStep::RotateCaToReplace),
        Instead::RotateCa => Some(NextStep::RotateCa),
        Instead::FinishRotation => Some(NextStep::FinishRotation),
        Instead::Renew => Some(NextStep::Renew),
        Instead::ManageTrust => Some(NextStep::ManageTrust),
        Instead::AddTrust => Some(NextStep::AddTrust),
        Instead::ManageCa => Some(NextStep::ManageCa),
        Instead::AgentRun => Some(NextStep::AgentRun),
        Instead::ImportRenewed => Some(NextStep::ImportRenewed),
        _ => None,
    };
    match e {
        E::FingerprintNotHex { .. } => Some(NextStep::ListTrust),
        E::SubordinateCa => Some(NextStep::NewSubordinateHome),
        E::CaProfile(_) => Some(NextStep::ManageCa),
        E::CaCertificateImport => Some(NextStep::AddTrustNotImport),
        E::CrlUntrusted { .. } => Some(NextStep::TrustCrlIssuer),
        E::NoSuchCredential(_) => Some(NextStep::ListCredentials),
        E::NotFound { what, .. } => match what {
            ObjectKind::Host => Some(NextStep::ListHosts),
            ObjectKind::Endpoint => Some(NextStep::ListEndpoints),
            ObjectKind::KeyProvider => Some(NextStep::ListKeyProviders),
            _ => None,
        },
        E::AlreadyExists {
            what: ObjectKind::Host,
            name,
        } => Some(NextStep::RemoveHostFirst { host: name.clone() }),
        E::NotRenewable {
            instead: Some(i), ..
        } => instead(*i, false),
        E::Protected {
            instead: Some(i), ..
        } => instead(*i, true),
        E::NotRevocable {
            why: NotRevocable::OwnCa,
            ..
        } => Some(NextStep::ReplaceByRotation),
        E::NoSuchEntry(_) => Some(NextStep::ListEntries),
        E::NoSuchStore(_) => Some(NextStep::ListStores),
        E::Untrusted(_) => Some(NextStep::TrustIssuer),
        E::EkuMismatch { .. } => Some(NextStep::ReissueWithEku),
        E::CommonNameTooLong { .. } => Some(NextStep::ShortenCommonName),
        E::CaNotReady(_) => Some(NextStep::ImportSigned),
        _ => None,
    }
}

impl Error {
    /// The usual next step after this refusal, if there is one.
    pub fn next_step(&self) -> Option<NextStep> {
        match self {
            Self::Node(e)
            | Self::Fleet(certherd_fleet::Error::Node(e))
            | Self::Monitor(certherd_monitor::Error::Node(e))
            | Self::Scan(certherd_monitor::scan::ScanError::Node(certherd_monitor::Error::Node(
                e,
            ))) => next_step(e),
            Self::Refused { next, .. } => next.clone(),
            Self::Monitor(certherd_monitor::Error::NoClientCertificate(provider)) => {
                Some(NextStep::NewKmipClientCert {
                    provider: provider.clone(),
                })
            }
            Self::Monitor(certherd_monitor::Error::NoPendingCsr(_)) => {
                Some(NextStep::KmipClientCsr)
            }
            _ => None,
        }
    }

    /// What to look at, in the domain's words, when it knows: an endpoint's finding says
    /// what to check.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Scan(certherd_monitor::scan::ScanError::Transport { finding, .. }) => {
                finding.hint.clone()
            }
            Self::Refused { hint, .. } => hint.clone(),
            _ => None,
        }
    }

    /// `got` answered where `asked` was asked.
    pub(crate) fn mismatch(asked: &'static str, got: &crate::Answer) -> Self {
        let got = format!("{got:?}");
        Self::Mismatch {
            asked,
            got: got.split(['(', ' ']).next().unwrap_or_default().to_owned(),
        }
    }

    /// The code a client decides by (and the admin API answers with).
    pub fn code(&self) -> ErrorCode {
        use certherd_fleet::Error as F;
        use certherd_monitor::Error as M;
        match self {
            Self::Request(_) => ErrorCode::InvalidRequest,
            Self::Node(e)
            | Self::Fleet(F::Node(e) | F::Monitor(M::Node(e)))
            | Self::Monitor(M::Node(e))
            | Self::Scan(certherd_monitor::scan::ScanError::Node(M::Node(e))) => node_code(e),
            // An endpoint that cannot be reached, or shows no certificate, or a watch's
            // refusal: the request cannot be carried out as the endpoint and home stand.
            Self::Scan(_) => ErrorCode::Unprocessable,
            // A watch's or a key provider's refusal: the request cannot be carried out as
            // the home stands.
            Self::Monitor(_) => ErrorCode::Unprocessable,
            Self::Fleet(e) => match e {
                F::Layout(_) | F::UnknownPeer(_) => ErrorCode::Internal,
                // A list past a cap is a request no certificate may carry out, whatever the
                // store holds.
                F::TooManyAddresses { .. } => ErrorCode::InvalidRequest,
                _ => ErrorCode::Unprocessable,
            },
            Self::NoSuchHost { .. } | Self::NoSuchEntry { .. } | Self::NoSuchStore { .. } => {
                ErrorCode::NotFound
            }
            Self::HostEnrolled { .. } | Self::HomeBusy { .. } => ErrorCode::Conflict,
            Self::NotAnAddress { .. }
            | Self::BadAddress { .. }
            | Self::TokenTtl
            | Self::BadEntry { .. }
            | Self::KeyAlgorithm(_)
            | Self::UnknownReason { .. }
            | Self::NoCertificate { .. }
            | Self::KmipIdentity(_)
            | Self::KmipServer { .. } => ErrorCode::Unprocessable,
            Self::Thresholds { .. } => ErrorCode::InvalidRequest,
            Self::Refused { code, .. } => code.unwrap_or(ErrorCode::Other),
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Unexplained { .. }
            | Self::AnswerShape { .. }
            | Self::Mismatch { .. }
            | Self::Transport(_) => ErrorCode::Internal,
        }
    }
}

/// The code of a refusal or failure of the node's context.
fn node_code(e: &certherd_authority::Error) -> ErrorCode {
    use certherd_authority::Error as E;
    match e {
        E::NoSuchEntry(_) | E::NoSuchStore(_) | E::NoSuchTrust(_) | E::NoSuchCredential(_) => {
            ErrorCode::NotFound
        }
        E::Store(certherd_store::Error::NotFound { .. }) => ErrorCode::NotFound,
        // Two CA rotations begun within one second name their new root alike: a
        // conflict to retry, not the server's failure.
        E::EntryExists(_) | E::Store(certherd_store::Error::Exists { .. }) => ErrorCode::Conflict,
        E::Store(certherd_store::Error::Unreachable { .. }) => ErrorCode::Unavailable,
        E::Store(_) | E::Config { .. } => ErrorCode::Internal,
        // A list past a cap is a request no certificate may carry out, whatever the
        // store holds.
        E::TooManyNames { .. } => ErrorCode::InvalidRequest,
        // An address where a name goes is a malformed request, not a state to resolve.
        E::HostnameIsAddress(_) => ErrorCode::InvalidRequest,
        _ => ErrorCode::Unprocessable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the caller did wrong is a 4xx; what failed in the server is a 500.
    #[test]
    fn node_errors_map_to_their_code() {
        use certherd_authority::Error as E;
        let exists = E::Store(certherd_store::Error::Exists {
            what: "entry",
            name: "ca/root-20261125163516".into(),
        });
        assert_eq!(Error::Node(exists).code(), ErrorCode::Conflict);
        let gone = E::Store(certherd_store::Error::NotFound {
            what: "host",
            name: "h".into(),
        });
        assert_eq!(Error::Node(gone).code(), ErrorCode::NotFound);
        let broken = E::Store(certherd_store::Error::Corrupt("secret detail".into()));
        assert_eq!(Error::Node(broken).code(), ErrorCode::Internal);
        assert_eq!(
            Error::from(Problem::DaysAndUntil).code(),
            ErrorCode::InvalidRequest
        );
    }
}
