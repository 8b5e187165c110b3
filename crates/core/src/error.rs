//! The one error type of the core crate.

/// Invalid domain values, found while parsing user input into core types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry reference is not of the form `STORE/ALIAS`.
    #[error("invalid entry '{input}': expected STORE/ALIAS, e.g. machine-ssl/machine")]
    EntryRef {
        /// What was given.
        input: String,
    },
    /// A store or alias name has a character or length we do not accept.
    #[error("invalid {what} '{input}': use 1-64 of a-z, A-Z, 0-9, '.', '_', '-', starting with a letter or digit")]
    Name {
        /// "store name", "alias" or "credential name".
        what: &'static str,
        /// What was given.
        input: String,
    },
    /// A duration is not of the form `30d`, `2y`, `12h`.
    #[error("invalid duration '{input}': expected a number and a unit (s, m, h, d, w, y), e.g. 30d or 2y")]
    Span {
        /// What was given.
        input: String,
    },
    /// A duration longer than [`crate::Span::MAX`], which no setting or option needs and
    /// which would carry dates past what certificates and clocks can hold.
    #[error("duration '{input}' is too long: at most {max} is accepted")]
    SpanTooLong {
        /// What was given.
        input: String,
        /// The longest span accepted, as written, e.g. `100y`.
        max: String,
    },
    /// A profile name that does not exist.
    #[error("unknown profile '{name}' (known: {known})")]
    UnknownProfile {
        /// What was given.
        name: String,
        /// The profiles that exist, comma-separated.
        known: String,
    },
    /// A network address is not HOST:PORT.
    #[error(transparent)]
    Address(#[from] certherd_protocol::HostPortError),
    /// A setting has a value outside its range.
    #[error("invalid setting {field}: {expected}")]
    Setting {
        /// The setting's name, e.g. `renewal.at`.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A profile's setting has a value outside its range.
    #[error("invalid setting profiles.{profile}.{field} = '{value}': expected {expected}")]
    ProfileSetting {
        /// The profile.
        profile: String,
        /// The setting within it, e.g. `key_algo`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}
