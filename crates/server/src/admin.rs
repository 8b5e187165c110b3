//! The admin API: every endpoint of [`certherd_protocol::admin::ROUTES`], each calling the
//! same [`Node`] operation the CLI calls.
//!
//! A call is authenticated first (an admin client certificate over mutual TLS, else an
//! `Authorization: Bearer` token), then routed, then checked against the credential's role
//! (`reader`: GET only), and only then is its body read (at most [`super::MAX_BODY`]
//! bytes) and parsed. Every call, answered or refused, is written to the audit log
//! (`admin-api`) with the credential's name; calls no credential authenticates only the
//! first few per source and interval, the rest counted into one `admin-api-refused` row. A refusal is `{code, message}`; the cause of
//! a 500 goes to the server's log, never to the caller.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use certherd_ca::{AdminAuth, Node};
use certherd_core::{EntryRef, StoreName};
use certherd_protocol as proto;
use certherd_store::{AdminCredential, AdminRole, HomeStore, Store};
use http_body_util::Full;
use hyper::Response;
use proto::admin::{self as api, Matched, Op, ParamType, Route};
use proto::ErrorCode;

use crate::{blocking, cached, ok, refuse, Refused, Shared};

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
    let internal = |e: certherd_ca::Error| {
        eprintln!("certherd server: reading an admin credential: {e}");
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
        eprintln!(
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
    blocking(&open, move || {
        let mut node = cached()?;
        // A body is JSON and says so (a form post processed as JSON is refused).
        let answer = if route.request.is_some()
            && !body.is_empty()
            && !is_json(call.content_type.as_deref())
        {
            Err((
                ErrorCode::UnsupportedMediaType,
                format!(
                    "the request body must be sent as Content-Type: application/json, not {}",
                    crate::refusals::echo(call.content_type.as_deref().unwrap_or("(none)"))
                ),
            ))
        } else {
            operate(
                &mut node,
                route,
                &params,
                call.query.as_deref(),
                &body,
                &caller.name,
            )
        };
        let outcome = answer.as_ref().map(|_| ()).map_err(Clone::clone);
        audit(&mut node, &call, &caller, &outcome);
        answer
    })
    .await
    .unwrap_or_else(|(code, message)| refuse(code, message))
}

/// Maps a node's refusal to a code and a message safe to show; the cause of an internal
/// failure goes to the server's log.
fn refusal(e: &certherd_ca::Error) -> Refused {
    use certherd_ca::Error as E;
    let code = match e {
        E::NoSuchEntry(_) | E::NoSuchStore(_) | E::NoSuchTrust(_) | E::NoSuchCredential(_) => {
            ErrorCode::NotFound
        }
        E::Store(certherd_store::Error::NotFound { .. }) => ErrorCode::NotFound,
        // Two CA rotations begun within one second name their new root alike: a
        // conflict to retry, not the server's failure.
        E::EntryExists(_) | E::Store(certherd_store::Error::Exists { .. }) => ErrorCode::Conflict,
        E::Store(_) | E::Config { .. } | E::Layout(_) | E::UnknownPeer(_) => ErrorCode::Internal,
        // A list past a cap is a request no certificate may carry out, whatever the store holds.
        E::TooManyAddresses { .. } | E::TooManyNames { .. } => ErrorCode::InvalidRequest,
        // An address where a name goes is a malformed request, not a state to resolve.
        E::HostnameIsAddress(_) => ErrorCode::InvalidRequest,
        _ => ErrorCode::Unprocessable,
    };
    if code == ErrorCode::Internal {
        eprintln!("certherd server: admin call failed: {e}");
        return (code, crate::INTERNAL.to_owned());
    }
    (code, e.to_string())
}

fn bad(message: impl Into<String>) -> Refused {
    (ErrorCode::InvalidRequest, message.into())
}

fn unprocessable(message: impl Into<String>) -> Refused {
    (ErrorCode::Unprocessable, message.into())
}

/// A query's parameters, each known to the endpoint, given once, of its type.
struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Query {
    fn parse(route: &Route, query: Option<&str>) -> Result<Self, Refused> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let (k, v) = percent_decode(k)
                .zip(percent_decode(v))
                .ok_or_else(|| bad("the query is not valid percent-encoded UTF-8"))?;
            let Some(param) = route.query.iter().find(|p| p.name == k) else {
                let known: Vec<&str> = route.query.iter().map(|p| p.name).collect();
                return Err(bad(format!(
                    "unknown query parameter '{k}' (this endpoint takes: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if pairs.iter().any(|(n, _)| n == &k) {
                return Err(bad(format!("query parameter '{k}' given twice")));
            }
            match param.kind {
                ParamType::Integer { min, max } => match v.parse::<i64>() {
                    Ok(n) if (min..=max).contains(&n) => {}
                    _ => {
                        return Err(bad(format!(
                            "query parameter '{k}' must be a whole number from {min} to {max}"
                        )))
                    }
                },
                ParamType::Boolean if v != "true" && v != "false" => {
                    return Err(bad(format!("query parameter '{k}' must be true or false")));
                }
                _ => {}
            }
            pairs.push((k, v));
        }
        Ok(Self(pairs))
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.text(name).and_then(|v| v.parse().ok())
    }

    fn flag(&self, name: &str) -> bool {
        self.text(name) == Some("true")
    }
}

/// The body of an endpoint that takes none must be empty (or `{}`-less whitespace).
fn no_body(body: &[u8]) -> Result<(), Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err(bad("this endpoint takes no request body"))
    }
}

fn entry_ref(params: &[String]) -> Result<EntryRef, Refused> {
    let (Some(store), Some(alias)) = (params.first(), params.get(1)) else {
        return Err(bad("the path lacks STORE/ALIAS"));
    };
    let text = format!("{store}/{alias}");
    text.parse::<EntryRef>()
        .map_err(|_| (ErrorCode::NotFound, format!("entry {text} does not exist")))
}

fn param(params: &[String]) -> Result<&str, Refused> {
    params
        .first()
        .map(String::as_str)
        .ok_or_else(|| bad("the path lacks its parameter"))
}

fn rfc(t: certherd_core::OffsetDateTime) -> String {
    certherd_x509::rfc3339(t)
}

use crate::rows::{cert_row, trust_row};

fn host_row(node: &Node<HomeStore>, h: &certherd_core::Host) -> Result<proto::HostRow, Refused> {
    crate::rows::host_row(node, h).map_err(|e| refusal(&e))
}

/// The named host, which must exist (404), and must have joined when `joined`.
/// The host named `name`, whatever its case (404 when there is none).
fn known_host(node: &Node<HomeStore>, name: &str) -> Result<certherd_core::Host, Refused> {
    let stored = node.fleet().stored_name(name).map_err(|e| refusal(&e))?;
    stored
        .map(|n| node.store().host(&n))
        .transpose()
        .map_err(|e| refusal(&certherd_ca::Error::Store(e)))?
        .flatten()
        .ok_or_else(|| (ErrorCode::NotFound, format!("no host named '{name}'")))
}

fn random32() -> Result<[u8; 32], Refused> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| {
        eprintln!("certherd server: no randomness available");
        (ErrorCode::Internal, crate::INTERNAL.to_owned())
    })?;
    Ok(b)
}

/// Carries out one admin operation.
fn operate(
    node: &mut Node<HomeStore>,
    route: &Route,
    params: &[String],
    query: Option<&str>,
    body: &[u8],
    caller: &str,
) -> Result<Response<Full<Bytes>>, Refused> {
    let q = Query::parse(route, query)?;
    if route.request.is_none() {
        no_body(body)?;
    }
    let r = |e: certherd_ca::Error| refusal(&e);
    Ok(match route.op {
        Op::HostList => {
            let hosts = node.fleet().hosts().map_err(r)?;
            let rows = hosts
                .iter()
                .map(|h| host_row(node, h))
                .collect::<Result<Vec<_>, _>>()?;
            ok(&rows)
        }
        Op::HostAdd => {
            let req: api::HostAddRequest = crate::body_of(body)?;
            // Counted before any address is parsed: thousands are refused unread.
            if req.ips.len() > certherd_ca::MAX_HOST_IPS {
                return Err(refusal(&certherd_ca::Error::TooManyAddresses {
                    given: req.ips.len(),
                    max: certherd_ca::MAX_HOST_IPS,
                }));
            }
            let ips = req
                .ips
                .iter()
                .map(|s| {
                    IpAddr::from_str(s)
                        .map_err(|_| unprocessable(format!("'{s}' is not an IP address")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let hours = req.token_ttl_hours.unwrap_or(24);
            if !(1..=720).contains(&hours) {
                return Err(unprocessable("token_ttl_hours must be from 1 to 720"));
            }
            if node
                .fleet()
                .stored_name(&req.name)
                .map_err(|e| refusal(&e))?
                .is_some()
            {
                return Err((
                    ErrorCode::Conflict,
                    format!("host '{}' is already enrolled (DELETE /v1/hosts/{} first to enroll it again)", req.name, req.name),
                ));
            }
            let ttl = time::Duration::hours(i64::from(hours));
            let (host, token, ca) = node
                .fleet_mut()
                .host_add(&req.name, &ips, ttl, random32()?)
                .map_err(r)?;
            ok(&api::HostAdded {
                token_expires_at: rfc(host.created_at + ttl),
                host: host_row(node, &host)?,
                token,
                ca_fingerprint: ca,
            })
        }
        Op::HostRemove => {
            let name = param(params)?;
            known_host(node, name)?;
            let revoked = node.fleet_mut().host_remove(name).map_err(r)?;
            ok(&crate::rows::host_removed(name, &revoked))
        }
        Op::HostResetServerCert => {
            let name = param(params)?;
            known_host(node, name)?;
            let hosts = node
                .fleet_mut()
                .order_renewal(&[name.to_owned()])
                .map_err(r)?;
            ok(&api::HostsAnswer { hosts })
        }
        Op::HostRefreshPoolCert => {
            let name = param(params)?;
            known_host(node, name)?;
            node.fleet_mut().order_pool_refresh(name).map_err(r)?;
            ok(&api::HostsAnswer {
                hosts: vec![name.to_owned()],
            })
        }
        Op::FleetRenew => {
            let req: api::FleetRenewRequest = crate::body_of(body)?;
            for h in &req.hosts {
                known_host(node, h)?;
            }
            let hosts = node.fleet_mut().order_renewal(&req.hosts).map_err(r)?;
            ok(&api::HostsAnswer { hosts })
        }
        Op::CertList => {
            let store =
                match q.text("store") {
                    Some(s) => Some(s.parse::<StoreName>().map_err(|_| {
                        (ErrorCode::NotFound, format!("store '{s}' does not exist"))
                    })?),
                    None => None,
                };
            let now = node.now();
            let within = q.int("expiring_within_days");
            let mut views = node.list(store.as_ref(), now).map_err(r)?;
            // One certificate, one row, as `cert list` shows it: scanned copies are named
            // under it (a store's own listing shows every entry).
            let folded = certherd_core::fold_copies(
                &views.iter().map(|v| v.meta.clone()).collect::<Vec<_>>(),
            );
            if store.is_none() {
                views.retain(|v| folded.items.iter().any(|m| m.entry == v.meta.entry));
            }
            let rows: Vec<api::CertRow> = views
                .iter()
                .filter(|v| {
                    q.text("profile")
                        .is_none_or(|p| v.meta.profile.as_deref() == Some(p))
                })
                .filter(|v| q.text("status").is_none_or(|s| v.status.as_str() == s))
                .filter(|v| within.is_none_or(|d| v.days_left <= d))
                .map(|v| crate::rows::listed_row(v, &folded))
                .collect();
            ok(&rows)
        }
        Op::CertShow => {
            let e = entry_ref(params)?;
            let (view, info, chain) = node.show(&e).map_err(r)?;
            ok(&crate::rows::cert_detail(&view, &info, &chain))
        }
        Op::CertIssue => {
            let req: api::IssueRequest = crate::body_of(body)?;
            let text = format!("{}/{}", req.store, req.alias);
            let entry: EntryRef = text
                .parse()
                .map_err(|e: certherd_core::Error| unprocessable(format!("{text}: {e}")))?;
            let key_algo = match req.key_algo.as_deref() {
                Some(a) => Some(
                    a.parse::<certherd_x509::KeyAlgorithm>()
                        .map_err(|e| unprocessable(e.to_string()))?,
                ),
                None => None,
            };
            let issued = node
                .issue(&certherd_ca::IssueRequest {
                    profile: req.profile,
                    entry,
                    common_name: req.common_name,
                    names: req.names,
                    key_algo,
                })
                .map_err(r)?;
            let now = node.now();
            ok(&api::IssuedAnswer {
                certificate: cert_row(&node.view(issued.meta, now)),
                backup: None,
                warnings: issued.warnings,
            })
        }
        Op::CertRenew => {
            let e = entry_ref(params)?;
            let (issued, backup) = node.renew(&e).map_err(r)?;
            let now = node.now();
            ok(&api::IssuedAnswer {
                certificate: cert_row(&node.view(issued.meta, now)),
                backup: Some(backup.to_string()),
                warnings: issued.warnings,
            })
        }
        Op::CertRevoke => {
            let e = entry_ref(params)?;
            let req: api::RevokeRequest = crate::body_of(body)?;
            let reason = match req.reason.as_deref() {
                None => certherd_x509::RevocationReason::Unspecified,
                Some(name) => certherd_x509::RevocationReason::parse(name).ok_or_else(|| {
                    unprocessable(format!(
                        "unknown reason '{name}': expected unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn"
                    ))
                })?,
            };
            let by = format!("admin:{caller}");
            let outcome = node.revocations_mut().revoke(&e, reason, &by).map_err(r)?;
            ok(&crate::rows::revoke_answer(&outcome))
        }
        Op::CertExport => {
            let e = entry_ref(params)?;
            // The certificate and its chain only: the API never gives out a key.
            let pem = node
                .export_with(
                    &e,
                    &certherd_ca::ExportOptions {
                        format: certherd_ca::ExportFormat::Pem,
                        content: certherd_ca::ExportContent::Certificate,
                        with_root: true,
                        password: None,
                    },
                )
                .map_err(r)?;
            let certs = certherd_x509::parse_certificates(&pem)
                .map_err(|e| refusal(&certherd_ca::Error::X509(e)))?;
            let mut pems = certs.iter().map(|c| crate::pem(c));
            let certificate = pems
                .next()
                .ok_or_else(|| unprocessable(format!("{e} holds no certificate")))?;
            ok(&api::ExportAnswer {
                certificate,
                chain: pems.collect(),
            })
        }
        Op::TrustList => {
            let rows: Vec<api::TrustRow> = node
                .trust_list()
                .map_err(r)?
                .iter()
                .map(trust_row)
                .collect();
            ok(&rows)
        }
        Op::TrustAdd => {
            let req: api::PemRequest = crate::body_of(body)?;
            let added = node.trust_add_checked(req.pem.as_bytes()).map_err(r)?;
            ok(&crate::rows::trust_added(&added))
        }
        Op::TrustRemove => {
            let fp = param(params)?;
            let removed = node.trust_remove(fp).map_err(r)?;
            ok(&trust_row(&removed))
        }
        Op::CrlList => {
            let crls = node
                .store()
                .crls()
                .map_err(|e| refusal(&certherd_ca::Error::Store(e)))?;
            // A stored CRL that no longer decodes is the server's problem, not the
            // caller's: logged and left out, the others listed.
            let rows: Vec<_> = crls
                .iter()
                .filter_map(|c| match certherd_x509::CrlInfo::from_der(&c.der) {
                    Ok(info) => Some(crate::rows::crl_row(&info, c.added_at)),
                    Err(e) => {
                        eprintln!("certherd server: a stored CRL does not decode, not listed: {e}");
                        None
                    }
                })
                .collect();
            ok(&rows)
        }
        Op::CrlAdd => {
            let req: api::PemRequest = crate::body_of(body)?;
            let info = node.trust_add_crl(req.pem.as_bytes()).map_err(r)?;
            ok(&crate::rows::crl_row(&info, node.now()))
        }
        Op::Alarms => {
            let all = q.flag("all");
            let mut rows: Vec<proto::AlarmRow> = Vec::new();
            for a in node.alarms().alarm_history().map_err(r)? {
                if all || a.is_open() {
                    let detail = node.alarms().alarm_detail(&a).map_err(r)?;
                    rows.push(crate::rows::alarm_row(&a, detail));
                }
            }
            ok(&rows)
        }
        Op::Audit => {
            let log = node
                .store()
                .audit_log()
                .map_err(|e| refusal(&certherd_ca::Error::Store(e)))?;
            let offset = usize::try_from(q.int("offset").unwrap_or(0)).unwrap_or(usize::MAX);
            let limit = usize::try_from(q.int("limit").unwrap_or(100)).unwrap_or(100);
            let records = log
                .iter()
                .skip(offset)
                .take(limit)
                .map(crate::rows::audit_row)
                .collect();
            ok(&api::AuditPage {
                total: log.len() as u64,
                offset: offset as u64,
                records,
            })
        }
        Op::PoolVerificationGet => ok(&api::PoolVerification {
            enabled: node.fleet().pool_verification().map_err(r)?,
        }),
        Op::PoolVerificationSet => {
            let req: api::PoolVerification = crate::body_of(body)?;
            node.fleet_mut()
                .set_pool_verification(req.enabled)
                .map_err(r)?;
            ok(&api::PoolVerification {
                enabled: node.fleet().pool_verification().map_err(r)?,
            })
        }
        Op::CaShow => ok(&crate::rows::ca_answer(&node.ca_summary().map_err(r)?)),
        Op::CaRotate => ok(&crate::rows::rotation_answer(&node.ca_rotate().map_err(r)?)),
        Op::Forecast => {
            let now = node.now();
            let until = match (q.text("until"), q.int("days")) {
                (Some(_), Some(_)) => return Err(bad("give days or until, not both")),
                (Some(t), None) => {
                    let t = time::OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| bad(format!("until '{t}' is not an RFC 3339 time")))?;
                    if t < now {
                        return Err(bad(format!("until {} is in the past", rfc(t))));
                    }
                    // As far as `--until` reaches on a home, and no further.
                    let max = certherd_core::Span::MAX;
                    if t > now + max.duration() {
                        return Err(bad(format!("until {} is more than {max} ahead", rfc(t))));
                    }
                    t
                }
                (None, days) => now + time::Duration::days(days.unwrap_or(365)),
            };
            let f = node.forecast(until).map_err(r)?;
            ok(&crate::rows::forecast_answer(&f))
        }
        Op::KeyProviders => ok(&crate::key_providers::health(node).map_err(r)?),
        _ => {
            return Err((
                ErrorCode::NotFound,
                format!(
                    "{} {} is not served by this server",
                    route.method, route.path
                ),
            ))
        }
    })
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
    fn node_errors_map_to_their_status_and_an_internal_cause_is_not_shown() {
        use certherd_ca::Error as E;
        let exists = E::Store(certherd_store::Error::Exists {
            what: "entry",
            name: "ca/root-20261125163516".into(),
        });
        assert_eq!(refusal(&exists).0, ErrorCode::Conflict);
        let gone = E::Store(certherd_store::Error::NotFound {
            what: "host",
            name: "h".into(),
        });
        assert_eq!(refusal(&gone).0, ErrorCode::NotFound);
        assert_eq!(
            refusal(&E::Invalid("no".into())).0,
            ErrorCode::Unprocessable
        );
        let broken = E::Store(certherd_store::Error::Corrupt("secret detail".into()));
        let (code, message) = refusal(&broken);
        assert_eq!(code, ErrorCode::Internal);
        assert!(!message.contains("secret detail"), "{message}");
    }

    #[test]
    fn query_parameters_are_checked_against_the_endpoint() {
        let route = match api::route("GET", "/v1/audit") {
            Matched::Route(r, _) => r,
            other => panic!("{other:?}"),
        };
        let q = Query::parse(route, Some("offset=5&limit=10")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((q.int("offset"), q.int("limit")), (Some(5), Some(10)));
        for bad in [
            "limit=0",
            "limit=x",
            "offset=-1",
            "colour=red",
            "limit=1&limit=2",
            "limit=%zz",
        ] {
            let refused = Query::parse(route, Some(bad)).err().map(|e| e.0);
            assert_eq!(refused, Some(ErrorCode::InvalidRequest), "{bad}");
        }
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%e2%82"), None);
    }
}
