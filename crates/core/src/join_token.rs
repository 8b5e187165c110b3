//! Join tokens: how a host proves, once, that an admin invited it.
//!
//! The admin sees the token once; the server keeps only its SHA-256. A token names one
//! host, expires (24 hours by default), and is spent by its first use. Randomness is the
//! caller's (the core does no I/O), so every rule is tested with chosen bytes and dates.

use time::OffsetDateTime;

/// How long a token lives unless the admin says otherwise.
pub const DEFAULT_TOKEN_TTL: time::Duration = time::Duration::hours(24);

/// The shortest lifetime a token may be given (`host add --ttl`, `token_ttl_hours`).
pub const MIN_TOKEN_TTL: time::Duration = time::Duration::hours(1);

/// The longest lifetime a token may be given: 720 hours (30 days); a join secret is not
/// meant to lie around for longer.
pub const MAX_TOKEN_TTL: time::Duration = time::Duration::hours(720);

const PREFIX: &str = "chj1_";

/// An instant in a message: RFC 3339, UTC, whole seconds (`2026-11-25T19:13:44Z`).
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Why a presented token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not of the form certherd prints.
    #[error("not a certherd join token (expected chj1_ followed by 64 hex digits)")]
    Malformed,
    /// No token with that value was issued (or it was for another host).
    #[error("unknown join token: it was never issued, or was issued for another host")]
    Unknown,
    /// The token expired before it was used.
    #[error("the join token expired at {} (now {})", rfc3339(*expires_at), rfc3339(*now))]
    Expired {
        /// When it expired.
        expires_at: OffsetDateTime,
        /// The instant of the attempt.
        now: OffsetDateTime,
    },
    /// The token was already used.
    #[error("the join token was already used at {}; a token joins one host once", rfc3339(*used_at))]
    AlreadyUsed {
        /// When it was spent.
        used_at: OffsetDateTime,
    },
}

/// A host of the fleet as the server knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Its name (also its certificate's CN and first SAN).
    pub name: String,
    /// Its enrolled IP addresses (SANs of its host certificate).
    pub ips: Vec<std::net::IpAddr>,
    /// When `host add` enrolled it.
    pub created_at: OffsetDateTime,
    /// When it joined, if it has.
    pub joined_at: Option<OffsetDateTime>,
    /// SHA-256 of its pinned pool-internal certificate, once joined.
    pub pool_sha256: Option<String>,
    /// When it was last heard from.
    pub last_seen: Option<OffsetDateTime>,
}

impl Host {
    /// The names its host certificate may carry: its name and its IP addresses.
    pub fn enrolled_names(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.ips.iter().map(ToString::to_string))
            .collect()
    }
}

/// A join token as the server keeps it: its hash, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    /// The host it admits.
    pub host: String,
    /// SHA-256 of the token text, hex.
    pub sha256: String,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
    /// When it was spent, if it was.
    pub used_at: Option<OffsetDateTime>,
}

fn digest(text: &str) -> String {
    certherd_x509::hex(&certherd_x509::sha256(text.as_bytes()))
}

impl JoinToken {
    /// Issues a token for `host` from 32 random bytes; returns what the server keeps and the
    /// text shown to the admin once.
    pub fn issue(
        host: &str,
        random: [u8; 32],
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> (Self, String) {
        let text = format!("{PREFIX}{}", certherd_x509::hex(&random));
        let kept = Self {
            host: host.to_owned(),
            sha256: digest(&text),
            issued_at: now,
            expires_at: now.saturating_add(ttl),
            used_at: None,
        };
        (kept, text)
    }

    /// The hash under which a presented token is looked up; refuses text of the wrong shape
    /// before any lookup.
    pub fn lookup_key(presented: &str) -> Result<String, TokenError> {
        let hex = presented
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(TokenError::Malformed)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed);
        }
        Ok(digest(presented.trim()))
    }

    /// Spends the token for `host` at `now`, or says why not.
    pub fn redeem(&mut self, host: &str, now: OffsetDateTime) -> Result<(), TokenError> {
        if self.host != host {
            return Err(TokenError::Unknown);
        }
        if let Some(used_at) = self.used_at {
            return Err(TokenError::AlreadyUsed { used_at });
        }
        if now > self.expires_at {
            return Err(TokenError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        self.used_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-24 9:00 UTC);

    #[test]
    fn a_token_joins_its_host_once_before_it_expires() {
        let (mut kept, text) = JoinToken::issue("esx1", [7; 32], T0, DEFAULT_TOKEN_TTL);
        assert!(text.starts_with("chj1_") && text.len() == 5 + 64);
        assert!(
            !kept.sha256.contains(&text[5..]),
            "the server keeps only a hash"
        );
        assert_eq!(JoinToken::lookup_key(&text).unwrap(), kept.sha256);
        assert_eq!(
            kept.redeem("esx2", T0),
            Err(TokenError::Unknown),
            "another host's token"
        );
        assert_eq!(kept.redeem("esx1", T0 + time::Duration::hours(1)), Ok(()));
        assert_eq!(
            kept.redeem("esx1", T0 + time::Duration::hours(2)),
            Err(TokenError::AlreadyUsed {
                used_at: T0 + time::Duration::hours(1)
            })
        );
        // Instants in the messages are RFC 3339, as everywhere else.
        assert_eq!(
            TokenError::AlreadyUsed {
                used_at: T0 + time::Duration::hours(1)
            }
            .to_string(),
            "the join token was already used at 2026-11-24T10:00:00Z; a token joins one host once"
        );
        assert!(TokenError::Expired {
            expires_at: T0,
            now: T0 + time::Duration::hours(1)
        }
        .to_string()
        .contains("expired at 2026-11-24T09:00:00Z (now 2026-11-24T10:00:00Z)"));
    }

    #[test]
    fn expired_and_malformed_tokens_are_refused() {
        let (mut kept, _) = JoinToken::issue("esx1", [1; 32], T0, DEFAULT_TOKEN_TTL);
        let late = T0 + time::Duration::hours(25);
        assert_eq!(
            kept.redeem("esx1", late),
            Err(TokenError::Expired {
                expires_at: T0 + time::Duration::hours(24),
                now: late
            })
        );
        assert_eq!(kept.used_at, None, "a refused token is not spent");
        for bad in [
            "",
            "chj1_",
            "chj1_zz",
            "abc",
            &format!("chj1_{}", "g".repeat(64)),
        ] {
            assert_eq!(
                JoinToken::lookup_key(bad),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }
}
