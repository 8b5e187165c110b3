//! The admin API: every endpoint of [`certherd_protocol::admin::ROUTES`], each calling the
//! same operation the CLI calls ([`certherd_ops::Local`]).
//!
//! A call is authenticated first (an admin client certificate over mutual TLS, else an
//! `Authorization: Bearer` token), then routed, then checked against the credential's role
//! (`reader`: GET only), and only then is its body read (at most [`super::MAX_BODY`]
//! bytes) and parsed. Every call, answered or refused, is written to the audit log
//! (`admin-api`) with the credential's name; calls no credential authenticates only the
//! first few per source and interval, the rest counted into one `admin-api-refused` row. A refusal is `{code, message}`; the cause of
//! a 500 goes to the server's log, never to the caller.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use certherd_authority::{AdminAuth, Node};
use certherd_protocol as proto;
use certherd_store::{AdminCredential, AdminRole, HomeStore};
use http_body_util::Full;
use hyper::Response;
use proto::admin::{self as api, Matched, Route};
use proto::ErrorCode;

use crate::{blocking, cached, refuse, Refused, Shared};

/// Who is calling: the credential's name and role, or nobody yet.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    name: String,
    role: Option<AdminRole>,
    via: &'static str,
    expires_at: Option<time::OffsetDateTime>,
}

impl Caller {
    /// The credential's name (`-` for nobody).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The credential's role, once authenticated.
    pub(crate) fn role(&self) -> Option<AdminRole> {
        self.role
    }

    /// When the credential expires, if it does.
    pub(crate) fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.expires_at
    }

    pub(crate) fn anonymous() -> Self {
        Self {
            name: "-".into(),
            role: None,
            via: "none",
            expires_at: None,
        }
    }

    fn of(c: &AdminCredential) -> Self {
        Self {
            name: c.name.clone(),
            role: Some(c.role),
            via: c.kind.as_str(),
            expires_at: c.expires_at,
        }
    }
}

/// The credential a request presents: an admin client certificate (mutual TLS) wins over
/// a bearer token; a host's pool-internal certificate is not an admin credential and is
/// passed over.
pub(crate) fn authenticate(
    node: &Node<HomeStore>,
    peer: Option<&[u8]>,
    bearer: Option<&str>,
) -> Result<Caller, (Caller, Refused)> {
    let internal = |e: certherd_authority::Error| {
        tracing::error!("certherd server: reading an admin credential: {e}");
        (
            Caller::anonymous(),
            (ErrorCode::Internal, crate::INTERNAL.to_owned()),
        )
    };
    let by_cert = match peer {
        Some(der) => node.admin().admin_by_client_cert(der).map_err(internal)?,
        None => AdminAuth::Unknown,
    };
    let auth = match (by_cert, bearer) {
        (AdminAuth::Unknown, Some(token)) => node.admin().admin_by_token(token).map_err(internal)?,
        (AdminAuth::Unknown, None) => {
            return Err((
                Caller::anonymous(),
                (
                    ErrorCode::Unauthenticated,
                    "an admin credential is required: a client certificate or `Authorization: Bearer TOKEN` from `certherd admin credential`".into(),
                ),
            ))
        }
        (known, _) => known,
    };
    match auth {
        AdminAuth::Accepted(c) => Ok(Caller::of(&c)),
        AdminAuth::Revoked(c) => Err((
            Caller::of(&c),
            (
                ErrorCode::CredentialRevoked,
                format!("the admin credential '{}' was revoked", c.name),
            ),
        )),
        AdminAuth::Expired(c) => Err((
            Caller::of(&c),
            (
                ErrorCode::CredentialExpired,
                format!(
                    "the admin credential '{}' expired at {}",
                    c.name,
                    c.expires_at
                        .map_or_else(|| "?".to_owned(), certherd_x509::rfc3339)
                ),
            ),
        )),
        AdminAuth::UntrustedIssuer(c) => Err((
            Caller::of(&c),
            (
                ErrorCode::Forbidden,
                format!(
                    "the admin client certificate '{}' was issued by a CA this server no longer trusts (its root was retired by a CA rotation); issue a new one with `certherd admin credential {} --client-cert`",
                    c.name, c.name
                ),
            ),
        )),
        _ => Err((
            Caller {
                via: if bearer.is_some() {
                    "bearer"
                } else {
                    "client-cert"
                },
                ..Caller::anonymous()
            },
            (
                ErrorCode::Forbidden,
                "that admin credential is not valid".into(),
            ),
        )),
    }
}

/// A request to the admin API, its body not read yet.
pub(crate) struct Call {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub peer: Option<Vec<u8>>,
    pub bearer: Option<String>,
    pub source: IpAddr,
    /// The bearer token came from a console session (audited as such).
    pub session: bool,
    /// Refused before authentication (a console session gone, a change without its CSRF
    /// token, a change from another site): audited and answered as it stands.
    pub refused: Option<Refused>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

/// Whether a `Content-Type` says JSON: `application/json`, parameters (a charset) allowed.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The audit detail of a call: what was asked (method and path cut to
/// [`crate::refusals::MAX_ECHO`] bytes each), the outcome, how and from where.
fn detail(call: &Call, caller: &Caller, answer: &Result<(), Refused>) -> String {
    let outcome = match answer {
        Ok(()) => "200".to_owned(),
        Err((code, _)) => format!("{} {}", code.status(), code.name()),
    };
    format!(
        "{} {} -> {outcome}; via {} from {}",
        crate::refusals::echo(&call.method),
        crate::refusals::echo(&call.path),
        caller.via,
        call.source
    )
}

/// Audits a call refused to a caller no credential authenticated: its own row for the
/// first few of its source's interval, then counted into one aggregated
/// `admin-api-refused` row (see [`Shared::denied`]), so that strangers cannot grow the
/// audit log by a row per request.
pub(crate) fn audit_denied(
    shared: &Shared,
    node: &mut Node<HomeStore>,
    call: &Call,
    caller: &Caller,
    answer: &Result<(), Refused>,
) {
    if shared.denied(call.source, &detail(call, caller, answer)) {
        audit(node, call, caller, answer);
    }
}

/// Writes the call to the audit log (a failure to is logged: the answer stands).
pub(crate) fn audit(
    node: &mut Node<HomeStore>,
    call: &Call,
    caller: &Caller,
    answer: &Result<(), Refused>,
) {
    let detail = detail(call, caller, answer);
    if let Err(e) = node.admin_mut().audit_admin_call(&caller.name, &detail) {
        tracing::error!(
            caller = %caller.name,
            "certherd server: NOT in the audit log: admin call by {}: {detail}: {e}",
            caller.name
        );
    }
}

/// A call that may go ahead: who makes it, and which endpoint with which parameters.
struct Admitted {
    caller: Caller,
    route: &'static Route,
    params: Vec<String>,
}

/// Who calls, where, and may they (the store is read: on a blocking thread). A refusal
/// is audited and answered.
fn admit(shared: &Shared, c: &Call) -> Result<Admitted, Box<Response<Full<Bytes>>>> {
    let mut node = cached().map_err(|(code, m)| Box::new(refuse(code, m)))?;
    let authenticated = authenticate(&node, c.peer.as_deref(), c.bearer.as_deref());
    // Nobody authenticated: the call is counted with its source's other refusals.
    let denied = authenticated.is_err();
    let mut refused = |caller: &Caller, r: Refused| {
        if denied {
            audit_denied(shared, &mut node, c, caller, &Err(r.clone()));
        } else {
            audit(&mut node, c, caller, &Err(r.clone()));
        }
        Box::new(refuse(r.0, r.1))
    };
    // A session cookie no session answers to (ended by a logout, a restart, its
    // credential withdrawn) is what a browser keeps sending: not a guess, so not counted
    // towards the rate, though audited with the other refusals.
    if let Some(r) = c.refused.clone() {
        let caller = authenticated.unwrap_or_else(|(caller, _)| caller);
        let caller = Caller {
            via: if c.session {
                "console-session"
            } else {
                caller.via
            },
            ..caller
        };
        return Err(refused(&caller, r));
    }
    let caller = match authenticated {
        Ok(caller) if c.session => Caller {
            via: "console-session",
            ..caller
        },
        Ok(caller) => caller,
        // A call no credential authenticates (none presented, or a bearer token refused)
        // counts towards its source's rate of failures (a console session's credential
        // withdrawn since the login does not).
        Err((caller, r)) if !c.session => {
            let r = shared.auth_refused(c.source, r);
            return Err(refused(&caller, r));
        }
        Err((caller, r)) => return Err(refused(&caller, r)),
    };
    let (route, params) = match api::route(&c.method, &c.path) {
        Matched::Route(r, p) => (r, p),
        Matched::MethodNotAllowed(allowed) => {
            let r = (
                ErrorCode::MethodNotAllowed,
                format!(
                    "{} {} is not an endpoint; allowed: {}",
                    crate::refusals::echo(&c.method),
                    crate::refusals::echo(&c.path),
                    allowed.join(", ")
                ),
            );
            let mut resp = refused(&caller, r);
            if let Ok(v) = hyper::header::HeaderValue::from_str(&allowed.join(", ")) {
                resp.headers_mut().insert(hyper::header::ALLOW, v);
            }
            return Err(resp);
        }
        Matched::NotFound => {
            let r = (
                ErrorCode::NotFound,
                format!(
                    "no such endpoint: {} {}",
                    crate::refusals::echo(&c.method),
                    crate::refusals::echo(&c.path)
                ),
            );
            return Err(refused(&caller, r));
        }
    };
    if route.changes() && caller.role != Some(AdminRole::Admin) {
        let r = (
            ErrorCode::ReaderOnly,
            format!(
                "the credential '{}' is a reader's: {} {} changes something and needs an admin credential",
                caller.name, c.method, c.path
            ),
        );
        return Err(refused(&caller, r));
    }
    Ok(Admitted {
        caller,
        route,
        params,
    })
}

/// Serves an admin call: authentication, routing and role, then the body (read by
/// `read_body` only once all of those passed), then the operation.
pub(crate) async fn serve<F, Fut>(
    shared: Arc<Shared>,
    call: Call,
    read_body: F,
) -> Response<Full<Bytes>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, Response<Full<Bytes>>>>,
{
    let call = Arc::new(call);
    // Who, where, and may they: on a blocking thread (the store is read).
    let c = call.clone();
    let s = shared.clone();
    let open = shared.open.clone();
    let gate = open.run(move || Ok(admit(&s, &c))).await;
    let Admitted {
        caller,
        route,
        params,
    } = match gate {
        Ok(Ok(g)) => g,
        Ok(Err(resp)) => return *resp,
        Err((code, message)) => return refuse(code, message),
    };
    let body = match read_body().await {
        Ok(b) => b,
        Err(resp) => {
            // Too large or too slow: refused, and audited.
            let code = match resp.status().as_u16() {
                413 => ErrorCode::BodyTooLarge,
                _ => ErrorCode::BodyTimeout,
            };
            let open = shared.open.clone();
            let c = call.clone();
            let who = caller.clone();
            let _ = open
                .run(move || {
                    if let Ok(mut node) = cached() {
                        audit(&mut node, &c, &who, &Err((code, String::new())));
                    }
                    Ok(())
                })
                .await;
            return resp;
        }
    };
    let open = shared.open.clone();
    let home = shared.home.clone();
    blocking(&open, move || {
        let mut node = cached()?;
        // A body is JSON and says so (a form post processed as JSON is refused).
        let answer = if route.request.is_some()
            && !body.is_empty()
            && !is_json(call.content_type.as_deref())
        {
            Err(Refusal {
                code: ErrorCode::UnsupportedMediaType,
                message: format!(
                    "the request body must be sent as Content-Type: application/json, not {}",
                    crate::refusals::echo(call.content_type.as_deref().unwrap_or("(none)"))
                ),
                next: None,
                hint: None,
            })
        } else {
            operate(
                &mut node,
                route,
                &params,
                call.query.as_deref(),
                &body,
                &caller.name,
                home.as_ref(),
            )
        };
        let outcome = answer
            .as_ref()
            .map(|_| ())
            .map_err(|r| (r.code, r.message.clone()));
        audit(&mut node, &call, &caller, &outcome);
        Ok(answer.unwrap_or_else(|r| {
            let status = hyper::StatusCode::from_u16(r.code.status())
                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
            crate::reply(
                status,
                proto::encode(
                    &proto::ErrorBody::new(r.code, r.message)
                        .with_next(r.next)
                        .with_hint(r.hint),
                ),
            )
        }))
    })
    .await
    .unwrap_or_else(|(code, message)| refuse(code, message))
}

/// An operation's refusal as the admin API answers it.
struct Refusal {
    /// What the caller decides by.
    code: ErrorCode,
    /// For people, safe to show.
    message: String,
    /// The usual next step, for the caller to word.
    next: Option<proto::NextStep>,
    /// What to look at, in the domain's words.
    hint: Option<String>,
}

/// Maps an operation's refusal to its code, a message safe to show and its usual next
/// step; the cause of an internal failure goes to the server's log.
fn refusal(e: &certherd_ops::Error) -> Refusal {
    let code = e.code();
    if code == ErrorCode::Internal {
        tracing::error!("certherd server: admin call failed: {e}");
        return Refusal {
            code,
            message: crate::INTERNAL.to_owned(),
            next: None,
            hint: None,
        };
    }
    Refusal {
        code,
        message: e.to_string(),
        next: e.next_step(),
        hint: e.hint(),
    }
}

/// The home's renewal lock, taken without waiting: a request is refused 409 while a
/// `cert renew` run on the home holds it.
struct TryHomeLock<'p>(&'p std::path::Path);

impl certherd_ops::RenewalLock for TryHomeLock<'_> {
    fn hold(&self, what: &str) -> Result<Box<dyn std::any::Any>, certherd_ops::Error> {
        let me = certherd_store::LockHolder {
            pid: std::process::id(),
            started: time::OffsetDateTime::now_utc(),
            what: format!("server: {what}"),
        };
        match certherd_store::HomeLock::try_acquire(self.0, &me) {
            Ok(Ok(lock)) => Ok(Box::new(lock)),
            Ok(Err(holder)) => Err(certherd_ops::Error::HomeBusy {
                holder: holder.map(|h| format!("`certherd {}` (pid {})", h.what, h.pid)),
            }),
            Err(e) => Err(certherd_authority::Error::Store(e).into()),
        }
    }
}

/// Carries out one admin call: its request read from the path, query and body, then the
/// operation on this server's home, as `certherd CMD` runs it there.
fn operate(
    node: &mut Node<HomeStore>,
    route: &Route,
    params: &[String],
    query: Option<&str>,
    body: &[u8],
    caller: &str,
    home: Option<&certherd_store::Home>,
) -> Result<Response<Full<Bytes>>, Refusal> {
    use certherd_ops::Operations;
    let request =
        certherd_ops::wire::decode(route, params, query, body).map_err(|e| refusal(&e))?;
    let lock_path = home.map(certherd_store::Home::lock_path);
    let held = lock_path.as_deref().map(TryHomeLock);
    let mut ops = certherd_ops::Local::new(node, format!("admin:{caller}"));
    if let Some(l) = &held {
        ops = ops.with_lock(l);
    }
    if let Some(h) = home {
        ops = ops.with_home(h);
    }
    let answer = ops.call(request).map_err(|e| refusal(&e))?;
    Ok(crate::reply(hyper::StatusCode::OK, answer.to_json()))
}

/// The OpenAPI document, built once.
pub(crate) fn openapi_text() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| proto::encode(&api::openapi(env!("CARGO_PKG_VERSION"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the caller did wrong is a 4xx with the node's words; what failed in the
    /// server is a 500 that says only `internal`.
    #[test]
    fn an_internal_cause_is_not_shown() {
        let broken = certherd_authority::Error::Store(certherd_store::Error::Corrupt(
            "secret detail".into(),
        ));
        let r = refusal(&certherd_ops::Error::Node(broken));
        assert_eq!((r.code, r.next), (ErrorCode::Internal, None));
        assert!(!r.message.contains("secret detail"), "{}", r.message);
        let gone = refusal(&certherd_ops::Error::NoSuchHost { name: "h".into() });
        assert_eq!(
            (gone.code, gone.message.as_str()),
            (ErrorCode::NotFound, "no host named 'h'")
        );
        // The usual next step goes along, for the client to word.
        let missing = certherd_core::EntryRef::new("web".parse().unwrap(), "nope".parse().unwrap());
        let r = refusal(&certherd_ops::Error::Node(
            certherd_authority::Error::NoSuchEntry(missing),
        ));
        assert_eq!(
            (r.code, r.next),
            (ErrorCode::NotFound, Some(proto::NextStep::ListEntries))
        );
    }
}
