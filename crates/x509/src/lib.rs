//! X.509 for certherd, without I/O: keys, certificate building (rcgen), parsing
//! (x509-parser), path validation (certval authoritative for RFC 5280, rustls-webpki for the TLS rules), profile lints, PEM/DER and PKCS#12 encodings.
//!
//! Every function here takes bytes and returns bytes or values; nothing reads a file,
//! a socket or the wall clock. Time always arrives as an argument.
#![forbid(unsafe_code)]

mod build;
mod constraints;
mod decode;
mod discover;
mod error;
mod fingerprint;
mod info;
mod key;
mod lint;
mod pkcs12;
mod revocation;
mod rfc5280;
mod timefmt;
mod verify;

pub use build::{
    crl, is_control_or_bidi, issue, issue_with_crl_url, random32, random_serial, self_sign,
    signing_request, spki_key_algorithm, CertSpec, Eku, Issuer, Role,
};
pub use constraints::{constraint_breach, ConstraintBreach};
pub use decode::{
    parse_certificates, parse_crl, parse_private_key, parse_signing_request, to_pem, PemLabel,
};
pub use discover::{discover, Found, FoundKey};
pub use error::Error;
pub use fingerprint::{hex, hex_colon, sha1, sha256, thumbprint};
pub use info::{certificate_spki, CertInfo, CrlInfo, CsrInfo};
pub use key::{KeyAlgorithm, PrivateKey};
pub use lint::{lint, lint_crl, Lint, LintRole};
pub use pkcs12::{pkcs12_decode, pkcs12_encode, Pkcs12Contents};
pub use revocation::{
    crl_number, crl_revoked_serials, crl_with, find_revoked, RevocationReason, Revoked,
    RevokedEntry,
};
pub use rfc5280::{weaknesses, Rfc5280Options};
pub use timefmt::{rfc3339, short_time};
pub use verify::{
    presented_names, verify, verify_all, verify_all_with, Purpose, Reason, VerifiedChain,
    VerifyInput,
};

/// Re-exported DER wrappers, so callers need not depend on pki-types themselves.
pub use pki_types::{CertificateDer, CertificateRevocationListDer};
/// Re-exported time type used for every instant in this crate.
pub use time::OffsetDateTime;

/// The longest common name RFC 5280 allows, in characters: `ub-common-name INTEGER ::= 64`
/// (Appendix A.1). certherd refuses to issue a longer one, and `verify` flags one.
pub const UB_COMMON_NAME: usize = 64;
