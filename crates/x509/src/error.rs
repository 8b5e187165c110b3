//! The one error type of this crate.

use time::OffsetDateTime;

/// Everything that can go wrong while building, parsing or validating X.509 objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds no object of the expected kind.
    #[error("no {expected} found in the input (expected PEM or DER)")]
    NotFound {
        /// What was looked for ("certificate", "private key", ...).
        expected: &'static str,
    },
    /// The input is present but could not be decoded.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's own message.
        detail: String,
    },
    /// A key algorithm name that certherd does not know.
    #[error("unknown key algorithm '{0}' (expected one of: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519)")]
    UnknownKeyAlgorithm(String),
    /// Key generation or loading failed inside the crypto provider.
    #[error("key error: {0}")]
    Key(String),
    /// rcgen refused to build or sign the object.
    #[error("could not build {what}: {detail}")]
    Build {
        /// What was being built.
        what: &'static str,
        /// rcgen's message.
        detail: String,
    },
    /// A name given for a SAN is neither a DNS name nor an IP address.
    #[error("invalid subject alternative name '{0}': expected a DNS name or an IP address")]
    InvalidName(String),
    /// A subject name holds a control or bidi character: certherd never signs one, since
    /// every tool that shows the certificate would pass it to a terminal.
    #[error("the subject {field} '{shown}' holds a control or bidirectional-override character; certherd does not sign such names")]
    ControlCharacter {
        /// "common name" or "organization".
        field: &'static str,
        /// The value, with those characters escaped.
        shown: String,
    },
    /// The requested validity is empty or reversed.
    #[error("invalid validity: not_before {not_before} is not before not_after {not_after}")]
    InvalidValidity {
        /// Start of the validity.
        not_before: OffsetDateTime,
        /// End of the validity.
        not_after: OffsetDateTime,
    },
    /// PKCS#12 encoding or decoding failed.
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// A PKCS#12 file could not be opened with the given password.
    #[error("PKCS#12: wrong password or corrupted file")]
    Pkcs12Password,
}
