//! The CLI's words for the next step. The domain crates state facts, with typed variants
//! and fields for what an admin does next; the certherd commands that do it are named
//! here, as the CLI is the only one that knows them (the admin API states the fact alone).
//!
//! Where a refusal's line used to name the command inline, it is composed here to read as
//! it always did; the usual next step of a refusal that had none inline is the `hint:` line.

use certherd_authority::Error as E;
use certherd_protocol::NextStep;

use crate::Failure;

/// A refusal of the home's operations, with the command that usually follows: the fact,
/// and the words for its usual next step ([`certherd_ops::next_step`], the step the admin
/// API sends along, so a refusal from a server reads as it does on a home).
pub fn ca_error(e: &E) -> Failure {
    if let E::Store(s) = e {
        if let Some(message) = store_message(s) {
            return Failure::msg(message);
        }
        if let Some(hint) = store_hint(s) {
            return Failure {
                hint: Some(hint.to_owned()),
                ..Failure::msg(e.to_string())
            };
        }
    }
    refusal(e.to_string(), certherd_ops::next_step(e).as_ref())
}

/// A refusal stated as `fact`, worded with the CLI's words for `next`.
pub fn refusal(fact: String, next: Option<&NextStep>) -> Failure {
    match next.and_then(words) {
        Some(Words::After(w)) => Failure::msg(format!("{fact}{w}")),
        Some(Words::Instead(w)) => Failure::msg(w),
        Some(Words::Hint(h)) => Failure {
            hint: Some(h.to_owned()),
            ..Failure::msg(fact)
        },
        None => Failure::msg(fact),
    }
}

/// How the CLI says a next step: after the fact on its line (as the line has always read),
/// instead of it, or on a `hint:` line of its own.
enum Words {
    /// Appended to the fact.
    After(String),
    /// The whole line.
    Instead(String),
    /// The `hint:` line.
    Hint(&'static str),
}

/// The CLI's words for `next`, naming its commands.
fn words(next: &NextStep) -> Option<Words> {
    use NextStep as N;
    let after = |w: &str| Some(Words::After(w.to_owned()));
    match next {
        N::RotateCaToReplace => after("; use `certherd ca rotate` to replace it"),
        N::RotateCa => after("; use `certherd ca rotate`"),
        N::ReplaceByRotation => after("; replace it with `certherd ca rotate`"),
        N::FinishRotation => after("; finish the rotation with `certherd ca rotate` (a running `certherd server` finishes it once every host has renewed)"),
        N::Renew => after("; `certherd cert renew` gives it a new key and certificate"),
        N::ManageTrust => after("; `certherd trust` manages it"),
        N::AddTrust => after(" (use `certherd trust add` for CA certificates)"),
        N::ManageCa => after("; CAs are managed with `certherd ca`"),
        N::AgentRun => after(" (`certherd agent run`)"),
        N::ImportRenewed => after(" and `certherd cert import` the new one"),
        N::ListTrust => after(", as `certherd trust list` shows it"),
        N::NewSubordinateHome => after(
            "; run `certherd init --mode subordinate` in a new home for a new CA request",
        ),
        N::AddTrustNotImport => Some(Words::Instead(
            "CA certificates are added with `certherd trust add`, not imported as entries".into(),
        )),
        N::TrustCrlIssuer => after("; add the CA with `certherd trust add` first"),
        N::ListCredentials => after(" (see `certherd admin credential list`)"),
        N::ListHosts => after(" (see `certherd host list`)"),
        N::ListEndpoints => after(" (see `certherd endpoint list`)"),
        N::ListKeyProviders => after(" (see `certherd key-provider list`)"),
        N::RemoveHostFirst { host } => Some(Words::After(format!(
            " (`certherd host remove {host}` first to enroll it again)"
        ))),
        N::ListEntries => Some(Words::Hint("`certherd cert list` shows the entries")),
        N::ListStores => Some(Words::Hint("`certherd store list` shows the stores")),
        N::TrustIssuer => Some(Words::Hint("add the issuing CA with `certherd trust add CA.pem`, or pass the intermediates with --chain")),
        N::ReissueWithEku => Some(Words::Hint("issue the certificate with the EKUs the profile needs, or import it under another profile with --profile")),
        N::ShortenCommonName => Some(Words::Hint("give a common name of at most 64 characters (--cn; common_name in the API); longer DNS names belong in the SANs only")),
        N::ImportSigned => Some(Words::Hint(
            "complete subordinate mode with `certherd ca import-signed CERT --chain ROOT.pem`",
        )),
        N::NewKmipClientCert { provider } => Some(Words::After(format!(
            ": run `key-provider client-cert new {provider}`"
        ))),
        N::KmipClientCsr => {
            after(": create one with `client-cert csr`, or pass the key with --key")
        }
        _ => None,
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

/// A refusal of `cert export ENTRY --layout`: a key the layout's reader refuses names the
/// renewal that gives the entry an RSA key (the old entry kept in backup); the rest reads
/// as [`fleet_error`] says.
pub fn layout_export_error(e: &certherd_fleet::Error, entry: &certherd_core::EntryRef) -> Failure {
    use certherd_fleet::{Error as F, LayoutError as L};
    match e {
        F::Layout(L::KeyCannotEncipher { .. }) => Failure {
            hint: Some(format!(
                "`certherd cert renew {entry} --key-algo rsa-2048` renews it with an RSA key (the old entry is kept in backup)"
            )),
            ..Failure::msg(e.to_string())
        },
        _ => fleet_error(e),
    }
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

/// The `hint:` line of a storage refusal: a home that is not there, or is there already.
fn store_hint(e: &certherd_store::Error) -> Option<&'static str> {
    Some(match e {
        certherd_store::Error::NotInitialized { .. } => {
            "run `certherd init --hostname FQDN` first, or pass --home"
        }
        certherd_store::Error::AlreadyInitialized { .. } => {
            "use another --home, or remove the old home if you really mean to start over"
        }
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
    use certherd_authority::{Instead, ObjectKind};

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
            skip_reason(s.reason.code(), &s.entry.to_string(), &s.to_string()),
            "imported; `certherd cert reset machine-ssl/machine` to replace it with a CA-issued one"
        );
        let e = E::NoSuchEntry("web/nope".parse().unwrap());
        assert_eq!(
            ca_error(&e).hint.as_deref(),
            Some("`certherd cert list` shows the entries")
        );
    }
}
