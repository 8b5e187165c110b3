//! The web console's own endpoints (under `/console`, besides the page itself at `/`):
//! logging in with an admin bearer token for a session cookie, what the session is, and
//! logging out. Everything else the console shows and does goes through the admin API
//! ([`crate::admin::ROUTES`]) with the session cookie and its CSRF token.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET /`: the console's page.
pub const PAGE: &str = "/";
/// `POST /console/login` `{token}`: a session cookie for an admin bearer token.
pub const LOGIN: &str = "/console/login";
/// `GET /console/session`: who the console acts as (session cookie or client certificate).
pub const SESSION: &str = "/console/session";
/// `POST /console/logout`: ends the session (with its CSRF token).
pub const LOGOUT: &str = "/console/logout";
/// `GET /console/timeline.svg`: the report's expiry timeline, live.
pub const TIMELINE: &str = "/console/timeline.svg";
/// The session cookie's name.
pub const COOKIE: &str = "certherd_session";
/// The header carrying the session's CSRF token on every change.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `POST /console/login` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// An admin bearer token (`certherd admin credential NAME`).
    pub token: String,
}

/// `POST /console/login` and `GET /console/session` answer: who the console acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// The admin credential's name.
    pub name: String,
    /// `reader` or `admin`.
    pub role: String,
    /// `session` (a bearer token logged in) or `client-cert` (the browser's certificate).
    pub via: String,
    /// The token to send as `X-CSRF-Token` on every change made with the session cookie
    /// (none for a client certificate: the browser's `Origin` is checked instead).
    pub csrf_token: Option<String>,
    /// When the session ends (RFC 3339), for a session.
    pub expires_at: Option<String>,
}

/// `POST /console/logout` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoggedOut {
    /// Always true: the session is gone.
    pub logged_out: bool,
}
