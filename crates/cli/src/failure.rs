//! The CLI's error: one line, an optional hint, an exit code.

use std::path::Path;

/// A failed command, ready to print.
#[derive(Debug)]
pub struct Failure {
    /// The one-line message.
    pub message: String,
    /// What to do next, when there is a usual next step.
    pub hint: Option<String>,
    /// Exit code override (otherwise 1, or 3 for `check`).
    pub code: Option<u8>,
    /// Where the refusal came from, when not from this process (the server's code and
    /// status): said on standard error after the hint, never part of the command's output.
    pub note: Option<String>,
}

impl Failure {
    /// A usage problem (exit 2, as clap's own errors).
    pub fn usage(msg: impl Into<String>) -> Self {
        Self {
            message: msg.into(),
            hint: None,
            code: Some(2),
            note: None,
        }
    }

    /// A plain failure.
    pub fn msg(msg: impl Into<String>) -> Self {
        Self {
            message: msg.into(),
            hint: None,
            code: None,
            note: None,
        }
    }

    /// A failure about a file, naming it.
    pub fn file(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        Self::msg(format!("{}: {e}", path.display()))
    }
}

impl From<certherd_authority::Error> for Failure {
    fn from(e: certherd_authority::Error) -> Self {
        crate::hints::ca_error(&e)
    }
}

impl From<certherd_fleet::Error> for Failure {
    fn from(e: certherd_fleet::Error) -> Self {
        crate::hints::fleet_error(&e)
    }
}

impl From<certherd_monitor::Error> for Failure {
    fn from(e: certherd_monitor::Error) -> Self {
        crate::hints::monitor_error(&e)
    }
}

impl From<certherd_core::Error> for Failure {
    fn from(e: certherd_core::Error) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<certherd_tls::HostPortError> for Failure {
    fn from(e: certherd_tls::HostPortError) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<certherd_x509::Error> for Failure {
    fn from(e: certherd_x509::Error) -> Self {
        Self::msg(e.to_string())
    }
}

impl From<certherd_store::Error> for Failure {
    fn from(e: certherd_store::Error) -> Self {
        certherd_authority::Error::from(e).into()
    }
}

/// Reads a certificate, key, bundle or list file the user named: a regular file of at most
/// [`crate::input::FILE_LIMIT`] bytes, with an error that names it.
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    crate::input::read(path, crate::input::Kind::Material).map_err(|e| Failure::msg(e.to_string()))
}

/// Reads a password file the user named: a regular file of at most
/// [`crate::input::SECRET_LIMIT`] bytes, with an error that names it.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    crate::input::read(path, crate::input::Kind::Secret).map_err(|e| Failure::msg(e.to_string()))
}

/// Reads a file that must hold certificates, naming it in any error.
pub fn read_certificates(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let bytes = read_input(path)?;
    certherd_x509::parse_certificates(&bytes).map_err(|e| Failure::file(path, e))?;
    Ok(bytes)
}

/// The message alone (the hint and the exit code are the caller's to print).
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A failure is an error (it travels through seams that take any error, and comes back).
impl std::error::Error for Failure {}

impl From<certherd_ops::Error> for Failure {
    fn from(e: certherd_ops::Error) -> Self {
        use certherd_ops::Error as E;
        match e {
            E::Node(e) => e.into(),
            E::Fleet(e) => e.into(),
            E::Monitor(e) => e.into(),
            E::Scan(certherd_monitor::scan::ScanError::Node(e)) => e.into(),
            // Why the endpoint could not be reached, with what its finding says to do.
            E::Scan(certherd_monitor::scan::ScanError::Transport {
                name,
                target,
                finding,
            }) => Failure {
                message: format!("{name} ({target}): {}", finding.message),
                hint: finding.hint,
                code: None,
                note: None,
            },
            // The server's fact, worded with the CLI's words for the step it names, as the
            // same refusal reads on a home.
            E::Refused {
                code,
                status,
                message,
                next,
                hint,
            } => {
                let mut f = crate::hints::refusal(message, next.as_ref());
                f.hint = f.hint.or(hint);
                if let Some(code) = code {
                    f.note = Some(format!("the server refused it: {} ({status})", code.name()));
                }
                f
            }
            E::Transport(boxed) => match boxed.downcast::<TransportFailure>() {
                Ok(t) => t.0,
                Err(other) => Failure::msg(other.to_string()),
            },
            other => Failure::msg(other.to_string()),
        }
    }
}

/// `FILE: reason`, as a refusal about a file the user named reads.
pub(crate) fn about(path: &Path) -> impl Fn(certherd_ops::Error) -> Failure + '_ {
    move |e| {
        let f = Failure::from(e);
        Failure {
            message: format!("{}: {}", path.display(), f.message),
            ..f
        }
    }
}

/// A transport failure, already worded by the CLI (with its hint), carried through the
/// operation's error and taken back out unchanged.
#[derive(Debug)]
pub struct TransportFailure(pub Failure);

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for TransportFailure {}
