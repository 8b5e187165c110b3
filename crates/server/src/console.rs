//! The web console: a one-page application served at `/` (HTML, CSS and JavaScript
//! built into the binary, nothing loaded from elsewhere, a `default-src 'self'` content
//! security policy and no inline script) that calls the admin API as the user.
//!
//! The user's credential is the browser's admin client certificate (mutual TLS), or an
//! admin bearer token posted to `POST /console/login`, which opens a session: a random
//! id in an `HttpOnly; Secure; SameSite=Strict` cookie, held in this server's memory
//! (not the database) until it expires ([`SESSION_HOURS`]) or `POST /console/logout`.
//! The admin API takes the cookie as the token that logged in (its role, its name in the
//! audit log, refused once that credential is revoked). Every change made with the
//! cookie carries the session's CSRF token as `X-CSRF-Token`; a change a browser sends
//! from another site (`Sec-Fetch-Site`, `Origin`) is refused whatever its credential.

use std::collections::HashMap;

use aws_lc_rs::rand::SecureRandom;
use bytes::Bytes;
use certherd_protocol::console as api;
use certherd_protocol::ErrorCode;
use certherd_store::AdminRole;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Response;
use time::OffsetDateTime;

/// How long a console session lasts.
pub const SESSION_HOURS: i64 = 8;

/// At most this many sessions are held; a new login past it ends the one ending soonest.
const MAX_SESSIONS: usize = 4096;

/// One logged-in console.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The bearer token that logged in (each call is authenticated with it afresh).
    pub token: String,
    /// The credential's name.
    pub name: String,
    /// Its role at login (the admin API checks the role again on every call).
    pub role: AdminRole,
    /// The token every change must carry as `X-CSRF-Token`.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
    /// When the credential that opened it expires, if it does: a session that ends then
    /// is refused as the credential is (`credential_expired`), not as a lapsed session.
    pub credential_expires: Option<OffsetDateTime>,
}

/// Why a session's request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such session: never opened, ended, or expired. 401.
    NoSession,
    /// A change without the session's CSRF token. 403.
    Csrf,
    /// The credential that opened the session no longer authenticates (revoked, expired
    /// or gone since the login, with the code the admin API refuses it with): the
    /// session is ended. 401.
    Withdrawn(ErrorCode),
    /// Whether the session's credential still holds could not be read (the database did
    /// not answer, or failed): the session is kept. 503, as every request the database
    /// cannot serve.
    Unavailable,
}

impl Refusal {
    /// The refusal's code and message.
    pub fn answer(self) -> crate::Refused {
        match self {
            Self::NoSession => (
                ErrorCode::Unauthenticated,
                "the console session has expired or was ended; log in again".into(),
            ),
            Self::Csrf => (
                ErrorCode::CsrfRefused,
                format!(
                    "a change made with the console's session cookie needs the session's {} header",
                    "X-CSRF-Token"
                ),
            ),
            Self::Withdrawn(code) => (
                match code {
                    ErrorCode::CredentialRevoked | ErrorCode::CredentialExpired => code,
                    _ => ErrorCode::Unauthenticated,
                },
                "the admin credential that opened this console session was revoked or has expired; the session is ended: log in again with a valid one".into(),
            ),
            Self::Unavailable => (
                ErrorCode::Unavailable,
                "the console session's credential cannot be checked now (the database does not answer); try again".into(),
            ),
        }
    }
}

/// The sessions of this server process, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    held: HashMap<String, Session>,
}

/// 32 random bytes, hex.
fn secret() -> Option<String> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Whether two secrets are equal, in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

impl Sessions {
    /// Opens a session for a credential that logged in at `now` and expires at
    /// `credential_expires` (if it does): its id and the session, which ends after
    /// [`SESSION_HOURS`] or when the credential expires, whichever comes first. `None`
    /// when the system's random source fails.
    pub fn open(
        &mut self,
        token: String,
        name: String,
        role: AdminRole,
        credential_expires: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<(String, Session)> {
        self.held.retain(|_, s| s.expires_at > now);
        while self.held.len() >= MAX_SESSIONS {
            let soonest = self
                .held
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(id, _)| id.clone())?;
            self.held.remove(&soonest);
        }
        let (id, csrf) = (secret()?, secret()?);
        let session = Session {
            token,
            name,
            role,
            csrf,
            expires_at: credential_expires
                .map_or(now + time::Duration::hours(SESSION_HOURS), |c| {
                    c.min(now + time::Duration::hours(SESSION_HOURS))
                }),
            credential_expires,
        };
        self.held.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The session `id` at `now`, for a request that changes something (`change`) or
    /// not; a change must carry the session's CSRF token. An expired session is forgotten.
    pub fn check(
        &mut self,
        id: &str,
        change: bool,
        csrf: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Session, Refusal> {
        let Some(s) = self.held.get(id) else {
            return Err(Refusal::NoSession);
        };
        if s.expires_at <= now {
            let expired = s.credential_expires.is_some_and(|c| c <= now);
            self.held.remove(id);
            return Err(if expired {
                Refusal::Withdrawn(ErrorCode::CredentialExpired)
            } else {
                Refusal::NoSession
            });
        }
        if change && !csrf.is_some_and(|c| same(c, &s.csrf)) {
            return Err(Refusal::Csrf);
        }
        Ok(s.clone())
    }

    /// Ends the session `id` (a logout, with its CSRF token): whether it was open.
    pub fn close(
        &mut self,
        id: &str,
        csrf: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        self.check(id, true, csrf, now)?;
        self.held.remove(id);
        Ok(())
    }

    /// Judges the open session `id` by whether its credential still authenticates
    /// (`verdict`: `Ok`, or the code the admin API refuses it with; `None` when that could
    /// not be read). A withdrawn credential ends the session at once.
    pub fn vet(&mut self, id: &str, verdict: Option<Result<(), ErrorCode>>) -> Result<(), Refusal> {
        match verdict {
            Some(Ok(())) => Ok(()),
            // The server's failure, not the credential's: the session is kept.
            Some(Err(ErrorCode::Internal | ErrorCode::Unavailable)) | None => {
                Err(Refusal::Unavailable)
            }
            Some(Err(code)) => {
                self.held.remove(id);
                Err(Refusal::Withdrawn(code))
            }
        }
    }

    /// How many sessions are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.len()
    }
}

/// The session id a request's `Cookie` headers carry, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == api::COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The request's `X-CSRF-Token`, if any.
pub(crate) fn csrf(headers: &HeaderMap) -> Option<&str> {
    headers.get(api::CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// Whether a browser sent the request from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed by the user), or an `Origin` not this server's
/// (`https://` and the `Host` header). Clients other than browsers send neither.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match headers.get(hyper::header::ORIGIN) {
        None => false,
        Some(origin) => {
            let host = headers
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok());
            match (origin.to_str().ok(), host) {
                (Some(o), Some(h)) => o != format!("https://{h}"),
                _ => true,
            }
        }
    }
}

/// The `Set-Cookie` value opening session `id` (or, with `None`, clearing the cookie).
pub(crate) fn set_cookie(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(
            "{}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
            api::COOKIE,
            SESSION_HOURS * 3600
        ),
        None => format!(
            "{}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
            api::COOKIE
        ),
    }
}

/// What a session or a client certificate acts as, for `GET /console/session`.
pub(crate) fn info(
    name: &str,
    role: Option<AdminRole>,
    session: Option<&Session>,
) -> api::SessionInfo {
    api::SessionInfo {
        name: name.to_owned(),
        role: role.map_or("none", AdminRole::as_str).to_owned(),
        via: if session.is_some() {
            "session"
        } else {
            "client-cert"
        }
        .to_owned(),
        csrf_token: session.map(|s| s.csrf.clone()),
        expires_at: session.map(|s| certherd_x509::rfc3339(s.expires_at)),
    }
}

/// The console's files, built into the binary.
const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// The content security policy of every answer: nothing from elsewhere, no inline
/// script or style, no framing.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A static file of the console, if `path` names one.
pub(crate) fn file(path: &str) -> Option<Response<Full<Bytes>>> {
    let (body, kind) = match path {
        api::PAGE | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/console/console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/console/console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Some(r)
}

/// Adds the security headers every answer of the HTTPS listener carries.
pub(crate) fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-06-01 9:00 UTC);

    fn login(s: &mut Sessions, at: OffsetDateTime) -> (String, Session) {
        s.open("tok".into(), "alice".into(), AdminRole::Admin, None, at)
            .unwrap_or_else(|| panic!("no randomness"))
    }

    /// A session ends when its credential expires, if that comes before its eight hours:
    /// its `expires_at` says so, and it is refused from then.
    #[test]
    fn a_session_ends_no_later_than_its_credential() {
        let mut s = Sessions::default();
        let soon = T0 + time::Duration::seconds(8);
        let (id, opened) = s
            .open(
                "tok".into(),
                "alice".into(),
                AdminRole::Admin,
                Some(soon),
                T0,
            )
            .unwrap_or_else(|| panic!("no randomness"));
        assert_eq!(opened.expires_at, soon);
        assert!(s
            .check(&id, false, None, soon - time::Duration::seconds(1))
            .is_ok());
        // Refused as the credential is (documented `credential_expired`), then forgotten.
        assert_eq!(
            s.check(&id, false, None, soon).err(),
            Some(Refusal::Withdrawn(ErrorCode::CredentialExpired))
        );
        assert_eq!(
            Refusal::Withdrawn(ErrorCode::CredentialExpired).answer().0,
            ErrorCode::CredentialExpired
        );
        assert_eq!(
            s.check(&id, false, None, soon).err(),
            Some(Refusal::NoSession)
        );
        // A credential that outlives the eight hours does not lengthen the session.
        let (_, opened) = s
            .open(
                "tok".into(),
                "alice".into(),
                AdminRole::Admin,
                Some(T0 + time::Duration::days(30)),
                T0,
            )
            .unwrap_or_else(|| panic!("no randomness"));
        assert_eq!(opened.expires_at, datetime!(2026-06-01 17:00 UTC));
    }

    #[test]
    fn a_session_lasts_eight_hours_to_the_second() {
        let mut s = Sessions::default();
        let (id, opened) = login(&mut s, T0);
        assert_eq!(opened.expires_at, datetime!(2026-06-01 17:00 UTC));
        let last = datetime!(2026-06-01 16:59:59 UTC);
        assert_eq!(
            s.check(&id, false, None, last).map(|x| x.name),
            Ok("alice".into())
        );
        assert_eq!(
            s.check(&id, false, None, datetime!(2026-06-01 17:00 UTC))
                .err(),
            Some(Refusal::NoSession)
        );
        // Forgotten once seen expired, even by an earlier clock.
        assert_eq!(
            s.check(&id, false, None, T0).err(),
            Some(Refusal::NoSession)
        );
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_change_needs_the_sessions_own_csrf_token() {
        let mut s = Sessions::default();
        let (id, a) = login(&mut s, T0);
        let (other, b) = login(&mut s, T0);
        assert_ne!(id, other);
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(id.len(), 64);
        // Reads need no token; changes need this session's.
        assert!(s.check(&id, false, None, T0).is_ok());
        assert_eq!(s.check(&id, true, None, T0).err(), Some(Refusal::Csrf));
        assert_eq!(
            s.check(&id, true, Some(&b.csrf), T0).err(),
            Some(Refusal::Csrf)
        );
        assert_eq!(s.check(&id, true, Some(""), T0).err(), Some(Refusal::Csrf));
        assert_eq!(
            s.check(&id, true, Some(&a.csrf), T0).map(|x| x.token),
            Ok("tok".into())
        );
        assert_eq!(
            s.check("nope", false, None, T0).err(),
            Some(Refusal::NoSession)
        );
        assert_eq!(Refusal::Csrf.answer().0.status(), 403);
        assert_eq!(Refusal::NoSession.answer().0.status(), 401);
    }

    #[test]
    fn a_session_whose_credential_is_revoked_or_expired_is_ended_at_once() {
        let mut s = Sessions::default();
        for code in [
            ErrorCode::CredentialRevoked,
            ErrorCode::CredentialExpired,
            ErrorCode::Forbidden,
        ] {
            let (id, _) = login(&mut s, T0);
            assert_eq!(s.vet(&id, Some(Ok(()))), Ok(()));
            // The store could not be read: refused, the session kept.
            assert_eq!(s.vet(&id, None), Err(Refusal::Unavailable));
            for failure in [ErrorCode::Internal, ErrorCode::Unavailable] {
                assert_eq!(s.vet(&id, Some(Err(failure))), Err(Refusal::Unavailable));
            }
            assert_eq!(Refusal::Unavailable.answer().0, ErrorCode::Unavailable);
            assert!(s.check(&id, false, None, T0).is_ok());
            let refused = s.vet(&id, Some(Err(code)));
            assert_eq!(refused, Err(Refusal::Withdrawn(code)));
            assert_eq!(
                s.check(&id, false, None, T0).err(),
                Some(Refusal::NoSession)
            );
            let answer = Refusal::Withdrawn(code).answer().0;
            assert_eq!(answer.status(), 401, "{code:?}");
        }
        assert_eq!(s.len(), 0);
        assert_eq!(Refusal::Unavailable.answer().0.status(), 503);
    }

    #[test]
    fn logout_needs_the_csrf_token_and_ends_the_session() {
        let mut s = Sessions::default();
        let (id, a) = login(&mut s, T0);
        assert_eq!(s.close(&id, None, T0), Err(Refusal::Csrf));
        assert!(s.check(&id, false, None, T0).is_ok());
        assert_eq!(s.close(&id, Some(&a.csrf), T0), Ok(()));
        assert_eq!(
            s.check(&id, false, None, T0).err(),
            Some(Refusal::NoSession)
        );
        assert_eq!(s.close(&id, Some(&a.csrf), T0), Err(Refusal::NoSession));
    }

    #[test]
    fn expired_sessions_are_dropped_at_login_and_the_table_is_bounded() {
        let mut s = Sessions::default();
        let _ = login(&mut s, T0);
        let _ = login(&mut s, T0 + time::Duration::hours(9));
        assert_eq!(s.len(), 1);
        for i in 0..MAX_SESSIONS + 3 {
            let _ = login(
                &mut s,
                T0 + time::Duration::hours(9) + time::Duration::seconds(i as i64),
            );
        }
        assert_eq!(s.len(), MAX_SESSIONS);
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_browsers_from_elsewhere_are_refused() {
        let mut h = HeaderMap::new();
        h.append(
            hyper::header::COOKIE,
            HeaderValue::from_static("a=1; certherd_session=abc; b=2"),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        let empty = {
            let mut e = HeaderMap::new();
            e.insert(
                hyper::header::COOKIE,
                HeaderValue::from_static("certherd_session="),
            );
            e
        };
        assert_eq!(cookie(&empty), None);
        // Clients other than browsers say nothing: not cross-site.
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h));
        h.insert(hyper::header::HOST, HeaderValue::from_static("vc01:8443"));
        h.insert(
            hyper::header::ORIGIN,
            HeaderValue::from_static("https://vc01:8443"),
        );
        assert!(!cross_site(&h));
        h.insert(
            hyper::header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(cross_site(&h));
        let c = set_cookie(Some("abc"));
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=28800",
        ] {
            assert!(c.contains(part), "{c}");
        }
    }

    #[test]
    fn the_console_loads_nothing_from_elsewhere_and_runs_no_inline_script() {
        for text in [INDEX, SCRIPT, STYLE] {
            for bad in ["http://", "https://", "//cdn", "@import", "eval("] {
                assert!(!text.contains(bad), "{bad}");
            }
        }
        // Every <script> names a file of this server and has no body; no handler attributes.
        assert_eq!(INDEX.matches("<script").count(), 1);
        assert!(INDEX.contains("<script src=\"/console/console.js\"></script>"));
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            " onchange=",
        ] {
            assert!(!INDEX.to_lowercase().contains(handler), "{handler}");
        }
        assert!(!INDEX.contains("style=\""));
        assert!(CSP.starts_with("default-src 'self'"));
        assert!(file("/").is_some() && file("/console/console.js").is_some());
        assert!(file("/console/other.js").is_none());
    }

    #[test]
    fn the_console_cuts_what_it_shows() {
        // Every piece of data goes through el(), which cuts it; a subject of hundreds of
        // attributes is shown as 120 characters and "…".
        assert!(SCRIPT.contains("const SHOWN_MAX = 120;"));
        assert!(SCRIPT.contains("e.textContent = cut(text);"));
        assert!(SCRIPT.contains("${cut(row.subject)}"));
    }
}
