//! The CLI's words for the next step. The domain crates state facts, with typed variants
//! and fields for what an admin does next; the certherd commands that do it are named
//! here, as the CLI is the only one that knows them (the admin API states the fact alone).
//!
//! Where a refusal's line used to name the command inline, it is composed here to read as
//! it always did; the usual next step of a refusal that had none inline is the `hint:` line.

use certherd_authority::{Error as E, Instead, NotRevocable, ObjectKind};

use crate::Failure;

/// A refusal of the home's operations, with the command that usually follows.
pub fn ca_error(e: &E) -> Failure {
    Failure {
        message: ca_message(e),
        hint: ca_hint(e).map(str::to_owned),
        code: None,
        note: None,
    }
}

/// The error line: the fact, and the command where the line has always named it.
fn ca_message(e: &E) -> String {
    let fact = e.to_string();
    match e {
        E::FingerprintNotHex { .. } => format!("{fact}, as `certherd trust list` shows it"),
        E::SubordinateCa => format!(
            "{fact}; run `certherd init --mode subordinate` in a new home for a new CA request"
        ),
        E::CaProfile(_) => format!("{fact}; CAs are managed with `certherd ca`"),
        E::CaCertificateImport => {
            "CA certificates are added with `certherd trust add`, not imported as entries".into()
        }
        E::CrlUntrusted { .. } => format!("{fact}; add the CA with `certherd trust add` first"),
        E::NoSuchCredential(_) => format!("{fact} (see `certherd admin credential list`)"),
        E::NotFound { what, .. } => match what {
            ObjectKind::Host => format!("{fact} (see `certherd host list`)"),
            ObjectKind::Endpoint => format!("{fact} (see `certherd endpoint list`)"),
            ObjectKind::KeyProvider => format!("{fact} (see `certherd key-provider list`)"),
            _ => fact,
        },
        E::AlreadyExists {
            what: ObjectKind::Host,
            name,
        } => format!("{fact} (`certherd host remove {name}` first to enroll it again)"),
        E::NotRenewable {
            instead: Some(i), ..
        } => format!("{fact}{}", instead(*i, false)),
        E::Protected {
            instead: Some(i), ..
        } => format!("{fact}{}", instead(*i, true)),
        E::NotRevocable {
            why: NotRevocable::OwnCa,
            ..
        } => format!("{fact}; replace it with `certherd ca rotate`"),
        E::Store(s) => store_message(s).unwrap_or(fact),
        _ => fact,
    }
}

/// A refusal of the fleet's operations (or the agent's own state), with the command that
/// usually follows; the node's own refusals read as [`ca_error`] says.
pub fn fleet_error(e: &certherd_fleet::Error) -> Failure {
    use certherd_fleet::Error as F;
    let fact = e.to_string();
    let message = match e {
        F::Node(e) | F::Monitor(certherd_monitor::Error::Node(e)) => return ca_error(e),
        F::NotJoined => format!("{fact}: run `certherd agent join` first"),
        F::Layout(certherd_fleet::LayoutError::NotAnchored { .. }) => {
            format!("{fact}; add the root with `certherd trust add`")
        }
        F::Token(certherd_core::TokenError::Expired { .. }) => {
            format!("{fact}; ask for a new one with `certherd host add`")
        }
        _ => fact,
    };
    Failure::msg(message)
}

/// A refusal of the alarms or the outbox; the node's own refusals read as [`ca_error`]
/// says.
pub fn monitor_error(e: &certherd_monitor::Error) -> Failure {
    use certherd_monitor::Error as M;
    let fact = e.to_string();
    Failure::msg(match e {
        M::Node(e) => return ca_error(e),
        M::NoClientCertificate(name) => {
            format!("{fact}: run `key-provider client-cert new {name}`")
        }
        M::NoPendingCsr(_) => {
            format!("{fact}: create one with `client-cert csr`, or pass the key with --key")
        }
        _ => fact,
    })
}

/// The error line of a storage refusal that has always named a command.
fn store_message(e: &certherd_store::Error) -> Option<String> {
    use certherd_store::Error as S;
    Some(match e {
        S::DatabaseEmpty {
            url,
            sqlite_here: true,
        } => format!("the database {url} holds no certherd home (this home's inventory is in its certherd.db: `certherd db copy --to URL` moves it there)"),
        S::DatabaseEmpty { .. } => format!("{e} (`certherd init --database URL` makes one)"),
        S::TargetNotEmpty { .. } => format!("{e}; `db copy` fills only an empty database"),
        _ => return None,
    })
}

/// The words after a refused entry's reason that name the way instead (`protected`: a
/// refusal to change or delete it, rather than to renew it).
fn instead(i: Instead, protected: bool) -> &'static str {
    match i {
        Instead::RotateCa if protected => "; use `certherd ca rotate` to replace it",
        Instead::RotateCa => "; use `certherd ca rotate`",
        Instead::FinishRotation => "; finish the rotation with `certherd ca rotate` (a running `certherd server` finishes it once every host has renewed)",
        Instead::Renew => "; `certherd cert renew` gives it a new key and certificate",
        Instead::ManageTrust => "; `certherd trust` manages it",
        Instead::AddTrust => " (use `certherd trust add` for CA certificates)",
        Instead::ManageCa => "; CAs are managed with `certherd ca`",
        Instead::AgentRun => " (`certherd agent run`)",
        Instead::ImportRenewed => " and `certherd cert import` the new one",
        _ => "",
    }
}

/// The `hint:` line: the usual next step after a refusal whose line names none.
fn ca_hint(e: &E) -> Option<&'static str> {
    Some(match e {
        E::Store(certherd_store::Error::NotInitialized { .. }) => "run `certherd init --hostname FQDN` first, or pass --home",
        E::Store(certherd_store::Error::AlreadyInitialized { .. }) => "use another --home, or remove the old home if you really mean to start over",
        E::NoSuchEntry(_) => "`certherd cert list` shows the entries",
        E::NoSuchStore(_) => "`certherd store list` shows the stores",
        E::Untrusted(_) => "add the issuing CA with `certherd trust add CA.pem`, or pass the intermediates with --chain",
        E::EkuMismatch { .. } => "issue the certificate with the EKUs the profile needs, or import it under another profile with --profile",
        E::CommonNameTooLong { .. } => "give a common name of at most 64 characters (--cn; common_name in the API); longer DNS names belong in the SANs only",
        E::CaNotReady(_) => "complete subordinate mode with `certherd ca import-signed CERT --chain ROOT.pem`",
        _ => return None,
    })
}

/// A failure of the agent's side of the fleet, with the command that usually follows.
pub fn agent_error(e: &certherd_agent::Error) -> Failure {
    use certherd_agent::Error as A;
    match e {
        A::Node(e) => fleet_error(e),
        A::NotJoined => Failure::msg(format!("{e}: run `certherd agent join` first")),
        A::Refused {
            code: Some(certherd_protocol::ErrorCode::TokenRefused),
            ..
        } => Failure {
            hint: Some("a new join token comes from `certherd host add` on the server".into()),
            ..Failure::msg(e.to_string())
        },
        _ => Failure::msg(e.to_string()),
    }
}

/// A failed round of `agent run`, with the command that usually follows.
pub fn round_failure(e: &certherd_agent::RoundError<Failure>) -> Failure {
    use certherd_agent::RoundError as R;
    match e {
        R::Node(e) => fleet_error(e),
        R::Poll(e) => agent_error(e),
        _ => Failure::msg(e.to_string()),
    }
}

/// The line the agent logs when the server removed this host.
pub fn host_removed(e: &certherd_agent::Error) -> String {
    match e {
        certherd_agent::Error::HostRemoved { .. } => format!(
            "{e}: add it again with `certherd host add` on the server and join with the new token"
        ),
        _ => e.to_string(),
    }
}

/// Why a bulk run skipped an entry, with the command that takes it when there is one.
pub fn skipped(s: &certherd_authority::Skipped) -> String {
    skip_reason(s.reason.code(), &s.entry.to_string(), &s.to_string())
}

/// A skip's words from its stable code (as the admin API carries it), its entry and the
/// fact the domain states.
pub fn skip_reason(code: &str, entry: &str, fact: &str) -> String {
    match code {
        "imported" => {
            format!("{fact}; `certherd cert reset {entry}` to replace it with a CA-issued one")
        }
        "certificate-authority" => format!("{fact}; `certherd ca rotate` replaces it"),
        "not-imported" => format!("{fact}; `certherd cert renew {entry}` renews it"),
        "revoked" => format!("{fact}: `certherd cert renew {entry}` (a new key and serial) or `certherd cert delete {entry}`"),
        _ => fact.to_owned(),
    }
}

/// The words after a KMIP server's check, by its stable status (as the admin API carries
/// it), that name the command which fixes it.
pub fn kmip_check(status: &str) -> &'static str {
    match status {
        "client-certificate-refused" => {
            "; give it the certificate from `key-provider client-cert export`"
        }
        "server-certificate-changed" => "; check it, then `key-provider server-cert trust`",
        "server-certificate-not-trusted" => {
            "; run `key-provider server-cert get` and `server-cert trust`"
        }
        _ => "",
    }
}

/// The `hint:` after an entry was renewed (or reset from an imported certificate), when
/// the new certificate must be handed to someone: a key provider's client certificate to
/// the key server, certherd's CA to whoever trusted the imported one's issuer.
pub fn after_renewal(reset: bool, profile: Option<&str>) -> Option<&'static str> {
    if reset {
        Some(RESET_TRUST)
    } else if profile == Some("kmip-client") {
        Some("`certherd key-provider client-cert export` writes it for the key server")
    } else {
        None
    }
}

/// After `key-provider client-cert new`: what to do with the certificate.
pub const KMIP_CLIENT_NEW: &str =
    "give this certificate to the key server's admin: `certherd key-provider client-cert export`";

/// After a reset: how those who trusted the old issuer get certherd's CA.
const RESET_TRUST: &str = "`certherd ca export` writes certherd's CA for them";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The domain states the fact; the CLI's line reads as it always did (README, tests).
    #[test]
    fn lines_read_as_before() {
        let e = E::NotFound {
            what: ObjectKind::Host,
            name: "h".into(),
        };
        assert_eq!(e.to_string(), "no host named 'h'");
        assert_eq!(
            ca_error(&e).message,
            "no host named 'h' (see `certherd host list`)"
        );
        let e = E::Protected {
            entry: "trusted-roots/x".into(),
            why: "this root anchors the retiring CA until the rotation retires it",
            instead: Some(Instead::FinishRotation),
        };
        assert!(!e.to_string().contains('`'));
        assert_eq!(ca_error(&e).message, "trusted-roots/x: this root anchors the retiring CA until the rotation retires it; finish the rotation with `certherd ca rotate` (a running `certherd server` finishes it once every host has renewed)");
        let s = certherd_authority::Skipped {
            entry: "machine-ssl/machine".parse().unwrap(),
            reason: certherd_authority::SkipReason::Imported,
        };
        assert_eq!(
            skipped(&s),
            "imported; `certherd cert reset machine-ssl/machine` to replace it with a CA-issued one"
        );
        let e = E::NoSuchEntry("web/nope".parse().unwrap());
        assert_eq!(
            ca_error(&e).hint.as_deref(),
            Some("`certherd cert list` shows the entries")
        );
    }
}
