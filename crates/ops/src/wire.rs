//! Requests and answers as the admin API carries them, both ways in one place: the
//! remote side [`encode`]s a [`Request`] into a method, a path and a body, the server
//! [`decode`]s them back, and the answer's body is read by the operation it answers
//! ([`decode_answer`]). The endpoints are [`certherd_protocol::admin::ROUTES`].

use serde::de::DeserializeOwned;

use certherd_core::{EntryRef, StoreName};
use certherd_protocol::admin::{self as api, Op, ParamType, Route};
use certherd_x509::RevocationReason;

use crate::request::{Answer, AuditFilter, CertFilter, Horizon, ImportSource, Request, Secret};
use crate::{Error, Problem};

/// Seconds each KMIP server may take when no timeout is given.
pub const DEFAULT_KMIP_TIMEOUT: u64 = 10;

/// Records per page asked for when no limit is given.
pub const DEFAULT_PAGE: u64 = 100;

use certherd_protocol::echo;

/// A call as HTTP carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path with its query, percent-encoded.
    pub path: String,
    /// The JSON body, if the endpoint takes one.
    pub body: Option<String>,
}

/// `text` percent-encoded for a path segment or a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn entry_path(entry: &EntryRef) -> String {
    format!(
        "/v1/certificates/{}/{}",
        enc(&entry.store.to_string()),
        enc(&entry.alias.to_string())
    )
}

fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// The HTTP call that carries `request`.
pub fn encode(request: &Request) -> HttpCall {
    use certherd_protocol::encode as json;
    let call = |method, path: String, body: Option<String>| HttpCall { method, path, body };
    match request {
        Request::HostList => call("GET", "/v1/hosts".into(), None),
        Request::HostAdd(r) => call("POST", "/v1/hosts".into(), Some(json(r))),
        Request::HostRemove { name } => call("DELETE", format!("/v1/hosts/{}", enc(name)), None),
        Request::HostResetServerCert { name } => call(
            "POST",
            format!("/v1/hosts/{}/reset-server-cert", enc(name)),
            None,
        ),
        Request::HostRefreshPoolCert { name } => call(
            "POST",
            format!("/v1/hosts/{}/refresh-pool-cert", enc(name)),
            None,
        ),
        Request::FleetRenew(r) => call("POST", "/v1/fleet/renew".into(), Some(json(r))),
        Request::CertList(f) => {
            let mut q = Vec::new();
            for (k, v) in [
                ("store", &f.store),
                ("profile", &f.profile),
                ("status", &f.status),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            if let Some(d) = f.expiring_within_days {
                q.push(("expiring_within_days", d.to_string()));
            }
            if let Some(t) = f.at {
                q.push(("at", certherd_x509::rfc3339(t)));
            }
            call("GET", with_query("/v1/certificates", &q), None)
        }
        Request::CertIssue(r) => call("POST", "/v1/certificates".into(), Some(json(r))),
        Request::CertIssueBatch(r) => call("POST", "/v1/certificates/batch".into(), Some(json(r))),
        Request::CertShow { entry } => call("GET", entry_path(entry), None),
        // No body without a key algorithm: a server from before the body takes the call.
        Request::CertRenew { entry, key_algo } => call(
            "POST",
            format!("{}/renew", entry_path(entry)),
            key_algo.map(|a| {
                json(&api::RenewRequest {
                    key_algo: Some(a.name().to_owned()),
                })
            }),
        ),
        Request::CertReset { entry } => call("POST", format!("{}/reset", entry_path(entry)), None),
        Request::Renewals(r) => call("POST", "/v1/renewals".into(), Some(json(r))),
        Request::ServiceAdd { name } => call(
            "POST",
            "/v1/services".into(),
            Some(json(&api::ServiceAddRequest { name: name.clone() })),
        ),
        Request::EndpointAdd(r) => call("POST", "/v1/endpoints".into(), Some(json(r))),
        Request::ScanTls(r) => call("POST", "/v1/scans/tls".into(), Some(json(r))),
        Request::Verify(r) => call("POST", "/v1/verify".into(), Some(json(r))),
        Request::Report { until } => call(
            "GET",
            with_query("/v1/report", &[("until", certherd_x509::rfc3339(*until))]),
            None,
        ),
        Request::EndpointTrust { name, probe } => call(
            "POST",
            format!("/v1/endpoints/{}/trust", enc(name)),
            Some(json(probe)),
        ),
        Request::EndpointDiagnose { name, probe } => call(
            "POST",
            format!("/v1/endpoints/{}/diagnose", enc(name)),
            Some(json(probe)),
        ),
        Request::Resets(r) => call("POST", "/v1/resets".into(), Some(json(r))),
        Request::CertImport {
            entry,
            source,
            profile,
        } => call(
            "POST",
            format!("{}/import", entry_path(entry)),
            Some(json(&import_request(source, profile.clone()))),
        ),
        Request::CertExport { entry } => call("GET", format!("{}/export", entry_path(entry)), None),
        Request::CertRevoke { entry, reason } => call(
            "POST",
            format!("{}/revoke", entry_path(entry)),
            Some(json(&api::RevokeRequest {
                reason: Some(reason.name().to_owned()),
            })),
        ),
        Request::TrustList => call("GET", "/v1/trust".into(), None),
        Request::TrustAdd { pem } => call(
            "POST",
            "/v1/trust".into(),
            Some(json(&api::PemRequest { pem: pem.clone() })),
        ),
        // Colons stay as given (a path segment may hold them): the refusal names the
        // fingerprint as the home's does.
        Request::TrustRemove { fingerprint } => call(
            "DELETE",
            format!(
                "/v1/trust/{}",
                fingerprint
                    .split(':')
                    .map(enc)
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            None,
        ),
        Request::CrlList => call("GET", "/v1/trust/crls".into(), None),
        Request::CrlAdd { pem } => call(
            "POST",
            "/v1/trust/crls".into(),
            Some(json(&api::PemRequest { pem: pem.clone() })),
        ),
        Request::Alarms { all } => {
            let q = if *all {
                vec![("all", "true".to_owned())]
            } else {
                Vec::new()
            };
            call("GET", with_query("/v1/alarms", &q), None)
        }
        Request::Audit {
            offset,
            limit,
            filter,
        } => {
            let mut q = vec![("offset", offset.to_string()), ("limit", limit.to_string())];
            for (k, v) in [("action", &filter.action), ("subject", &filter.subject)] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            for (k, t) in [("since", filter.since), ("until", filter.until)] {
                if let Some(t) = t {
                    q.push((k, certherd_x509::rfc3339(t)));
                }
            }
            call("GET", with_query("/v1/audit", &q), None)
        }
        Request::PoolVerificationGet => call("GET", "/v1/pool/verification".into(), None),
        Request::PoolVerificationSet { enabled } => call(
            "PUT",
            "/v1/pool/verification".into(),
            Some(json(&api::PoolVerification { enabled: *enabled })),
        ),
        Request::CaShow => call("GET", "/v1/ca".into(), None),
        Request::CaRotate => call("POST", "/v1/ca/rotate".into(), None),
        Request::Forecast(h) => {
            let q = match h {
                Horizon::Days(d) => ("days", d.to_string()),
                Horizon::Until(t) => ("until", certherd_x509::rfc3339(*t)),
            };
            call("GET", with_query("/v1/forecast", &[q]), None)
        }
        Request::KeyProviders {
            name,
            timeout_seconds,
        } => {
            let mut q = vec![("timeout_seconds", timeout_seconds.to_string())];
            if let Some(n) = name {
                q.push(("name", n.clone()));
            }
            call("GET", with_query("/v1/key-providers", &q), None)
        }
        Request::Check { at, warn, crit } => {
            let mut q = Vec::new();
            if let Some(t) = at {
                q.push(("at", certherd_x509::rfc3339(*t)));
            }
            for (k, s) in [("warn", warn), ("crit", crit)] {
                if let Some(s) = s {
                    q.push((k, s.to_string()));
                }
            }
            call("GET", with_query("/v1/check", &q), None)
        }
        Request::Status => call("GET", "/v1/status".into(), None),
        Request::StoreList => call("GET", "/v1/stores".into(), None),
        Request::ProfileList => call("GET", "/v1/profiles".into(), None),
        Request::PoolCertificates => call("GET", "/v1/pool/certificates".into(), None),
        Request::CaRoot => call("GET", "/v1/ca/root".into(), None),
        Request::Notifications => call("GET", "/v1/notifications".into(), None),
        Request::CaCrl => call("GET", "/v1/ca/crl".into(), None),
        Request::CertDelete { entry } => call("DELETE", entry_path(entry), None),
        Request::EndpointList => call("GET", "/v1/endpoints".into(), None),
        Request::EndpointRemove { name } => {
            call("DELETE", format!("/v1/endpoints/{}", enc(name)), None)
        }
        Request::KeyProviderCreate(r) => call("POST", "/v1/key-providers".into(), Some(json(r))),
        Request::KeyProviderList => call("GET", "/v1/key-providers/list".into(), None),
        Request::KeyProviderAddServer { name, server } => call(
            "POST",
            format!("{}/servers", provider_path(name)),
            Some(json(server)),
        ),
        Request::KeyProviderRemove { name } => call("DELETE", provider_path(name), None),
        Request::KmipClientNew { name, request } => call(
            "POST",
            format!("{}/client-cert", provider_path(name)),
            Some(json(request)),
        ),
        Request::KmipClientExport { name } => {
            call("GET", format!("{}/client-cert", provider_path(name)), None)
        }
        Request::KmipClientCsr { name, request } => call(
            "POST",
            format!("{}/client-cert/csr", provider_path(name)),
            Some(json(request)),
        ),
        Request::KmipClientUpload { name, cert } => {
            use base64::Engine as _;
            call(
                "PUT",
                format!("{}/client-cert", provider_path(name)),
                Some(json(&api::KmipClientUploadRequest {
                    cert: base64::engine::general_purpose::STANDARD.encode(cert),
                })),
            )
        }
        Request::KmipServerCerts { name } => {
            call("GET", format!("{}/server-certs", provider_path(name)), None)
        }
        Request::KmipServerTrust { name, request } => call(
            "POST",
            format!("{}/server-certs/trust", provider_path(name)),
            Some(json(request)),
        ),
        Request::CredentialAdd(r) => call("POST", "/v1/admin/credentials".into(), Some(json(r))),
        Request::CredentialList => call("GET", "/v1/admin/credentials".into(), None),
        Request::CredentialRevoke { name, reason } => call(
            "POST",
            format!("/v1/admin/credentials/{}/revoke", enc(name)),
            Some(json(&api::CredentialRevokeRequest {
                reason: Some(reason.name().to_owned()),
            })),
        ),
    }
}

/// The path of a key provider.
fn provider_path(name: &str) -> String {
    format!("/v1/key-providers/{}", enc(name))
}

/// Percent-decodes a query's piece (`+` is a space) or a path segment (`plus_is_space`
/// false); `None` when it is not valid percent-encoded UTF-8.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
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
            b'+' if plus_is_space => {
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

/// A query's parameters, each known to the endpoint, given once, of its type.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(route: &Route, query: Option<&str>) -> Result<Self, Problem> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let (k, v) = percent_decode(k, true)
                .zip(percent_decode(v, true))
                .ok_or(Problem::NotPercentEncoded)?;
            let Some(param) = route.query.iter().find(|p| p.name == k) else {
                let known: Vec<&str> = route.query.iter().map(|p| p.name).collect();
                return Err(Problem::UnknownParam {
                    name: echo(&k),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if pairs.iter().any(|(n, _)| n == &k) {
                return Err(Problem::ParamTwice { name: k });
            }
            match param.kind {
                ParamType::Integer { min, max } => match v.parse::<i64>() {
                    Ok(n) if (min..=max).contains(&n) => {}
                    _ => {
                        return Err(Problem::NotANumber {
                            name: param.name,
                            min,
                            max,
                        })
                    }
                },
                ParamType::Boolean if v != "true" && v != "false" => {
                    return Err(Problem::NotABoolean { name: param.name });
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
}

/// A JSON object of `T`'s shape (serde would also read a struct from an array of its
/// fields in order, which no documented body is).
pub fn json_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(Problem::BodyShape {
            detail: "a JSON object ({...}) is expected".into(),
        });
    }
    // serde quotes what it did not expect (an unknown field's name, a string of the wrong
    // type): cut, since a stranger decides its length.
    certherd_protocol::decode(body).map_err(|e| Problem::BodyShape {
        detail: echo(&e.to_string()),
    })
}

/// A body that may be left out ([`Route::body_optional`]): an empty one (or only
/// whitespace) is `T`'s default, anything else as [`json_object`] reads it.
fn optional_json_object<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_object(body)
}

/// The `i`th path parameter, percent-decoded.
fn param(params: &[String], i: usize) -> Result<String, Problem> {
    let raw = params.get(i).ok_or(Problem::PathParam)?;
    percent_decode(raw, false).ok_or(Problem::PathNotPercentEncoded)
}

fn entry_of(params: &[String]) -> Result<EntryRef, Error> {
    let text = format!("{}/{}", param(params, 0)?, param(params, 1)?);
    text.parse::<EntryRef>()
        .map_err(|_| Error::NoSuchEntry { entry: echo(&text) })
}

/// The request the admin endpoint `route` was called for, with its path parameters,
/// query and body.
pub fn decode(
    route: &Route,
    params: &[String],
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, Error> {
    let q = Query::parse(route, query)?;
    if route.request.is_none() && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::UnexpectedBody.into());
    }
    Ok(match route.op {
        Op::HostList => Request::HostList,
        Op::HostAdd => Request::HostAdd(json_object(body)?),
        Op::HostRemove => Request::HostRemove {
            name: param(params, 0)?,
        },
        Op::HostResetServerCert => Request::HostResetServerCert {
            name: param(params, 0)?,
        },
        Op::HostRefreshPoolCert => Request::HostRefreshPoolCert {
            name: param(params, 0)?,
        },
        Op::FleetRenew => Request::FleetRenew(json_object(body)?),
        Op::CertList => {
            let store = q.text("store").map(str::to_owned);
            if let Some(s) = &store {
                s.parse::<StoreName>()
                    .map_err(|_| Error::NoSuchStore { store: echo(s) })?;
            }
            Request::CertList(CertFilter {
                store,
                profile: q.text("profile").map(str::to_owned),
                status: q.text("status").map(str::to_owned),
                expiring_within_days: q.int("expiring_within_days"),
                at: time_param(&q, "at")?,
            })
        }
        Op::CertIssue => Request::CertIssue(json_object(body)?),
        Op::CertIssueBatch => Request::CertIssueBatch(json_object(body)?),
        Op::CertShow => Request::CertShow {
            entry: entry_of(params)?,
        },
        Op::CertRenew => {
            let entry = entry_of(params)?;
            let req: api::RenewRequest = optional_json_object(body)?;
            Request::CertRenew {
                entry,
                key_algo: crate::request::key_algo(req.key_algo.as_deref())?,
            }
        }
        Op::CertExport => Request::CertExport {
            entry: entry_of(params)?,
        },
        Op::CertRevoke => {
            let entry = entry_of(params)?;
            let req: api::RevokeRequest = json_object(body)?;
            let reason = match req.reason.as_deref() {
                None => RevocationReason::Unspecified,
                Some(name) => RevocationReason::parse(name)
                    .ok_or_else(|| Error::UnknownReason { name: echo(name) })?,
            };
            Request::CertRevoke { entry, reason }
        }
        Op::TrustList => Request::TrustList,
        Op::TrustAdd => Request::TrustAdd {
            pem: json_object::<api::PemRequest>(body)?.pem,
        },
        Op::TrustRemove => Request::TrustRemove {
            fingerprint: param(params, 0)?,
        },
        Op::CrlList => Request::CrlList,
        Op::CrlAdd => Request::CrlAdd {
            pem: json_object::<api::PemRequest>(body)?.pem,
        },
        Op::Alarms => Request::Alarms {
            all: q.text("all") == Some("true"),
        },
        Op::Audit => Request::Audit {
            offset: q
                .int("offset")
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            limit: q
                .int("limit")
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(DEFAULT_PAGE),
            filter: audit_filter(&q)?,
        },
        Op::PoolVerificationGet => Request::PoolVerificationGet,
        Op::PoolVerificationSet => Request::PoolVerificationSet {
            enabled: json_object::<api::PoolVerification>(body)?.enabled,
        },
        Op::CaShow => Request::CaShow,
        Op::CaRotate => Request::CaRotate,
        Op::Forecast => Request::Forecast(match (q.text("until"), q.int("days")) {
            (Some(_), Some(_)) => return Err(Problem::DaysAndUntil.into()),
            (Some(t), None) => Horizon::Until(
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| Problem::UntilNotATime { value: echo(t) })?,
            ),
            (None, days) => Horizon::Days(days.unwrap_or(365)),
        }),
        Op::KeyProviders => Request::KeyProviders {
            name: q.text("name").map(str::to_owned),
            timeout_seconds: q
                .int("timeout_seconds")
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(DEFAULT_KMIP_TIMEOUT),
        },
        Op::Check => {
            let span = |name: &'static str| {
                q.text(name)
                    .map(|v| {
                        v.parse::<certherd_core::Span>()
                            .map_err(|_| Problem::NotASpan {
                                name,
                                value: echo(v),
                            })
                    })
                    .transpose()
            };
            Request::Check {
                at: time_param(&q, "at")?,
                warn: span("warn")?,
                crit: span("crit")?,
            }
        }
        Op::Status => Request::Status,
        Op::StoreList => Request::StoreList,
        Op::ProfileList => Request::ProfileList,
        Op::PoolCertificates => Request::PoolCertificates,
        Op::CaRoot => Request::CaRoot,
        Op::Notifications => Request::Notifications,
        Op::CaCrl => Request::CaCrl,
        Op::CertDelete => Request::CertDelete {
            entry: entry_of(params)?,
        },
        Op::EndpointList => Request::EndpointList,
        Op::CertReset => Request::CertReset {
            entry: entry_of(params)?,
        },
        Op::EndpointRemove => Request::EndpointRemove {
            name: param(params, 0)?,
        },
        Op::Renewals => Request::Renewals(json_object(body)?),
        Op::Resets => Request::Resets(json_object(body)?),
        Op::ServiceAdd => Request::ServiceAdd {
            name: json_object::<api::ServiceAddRequest>(body)?.name,
        },
        Op::EndpointAdd => Request::EndpointAdd(json_object(body)?),
        Op::ScanTls => Request::ScanTls(json_object(body)?),
        Op::Verify => Request::Verify(json_object(body)?),
        Op::Report => Request::Report {
            until: match q.text("until") {
                Some(t) => {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| Problem::UntilNotATime { value: echo(t) })?
                }
                None => return Err(Problem::UntilMissing.into()),
            },
        },
        Op::EndpointTrust => Request::EndpointTrust {
            name: param(params, 0)?,
            probe: json_object(body)?,
        },
        Op::EndpointDiagnose => Request::EndpointDiagnose {
            name: param(params, 0)?,
            probe: json_object(body)?,
        },
        Op::CertImport => {
            let entry = entry_of(params)?;
            let req: api::ImportRequest = json_object(body)?;
            Request::CertImport {
                entry,
                source: import_source(&req)?,
                profile: req.profile,
            }
        }
        Op::KeyProviderCreate => Request::KeyProviderCreate(json_object(body)?),
        Op::KeyProviderList => Request::KeyProviderList,
        Op::KeyProviderAddServer => Request::KeyProviderAddServer {
            name: param(params, 0)?,
            server: json_object(body)?,
        },
        Op::KeyProviderRemove => Request::KeyProviderRemove {
            name: param(params, 0)?,
        },
        Op::KmipClientNew => Request::KmipClientNew {
            name: param(params, 0)?,
            request: json_object(body)?,
        },
        Op::KmipClientExport => Request::KmipClientExport {
            name: param(params, 0)?,
        },
        Op::KmipClientCsr => Request::KmipClientCsr {
            name: param(params, 0)?,
            request: json_object(body)?,
        },
        Op::KmipClientUpload => {
            use base64::Engine as _;
            let name = param(params, 0)?;
            let req: api::KmipClientUploadRequest = json_object(body)?;
            Request::KmipClientUpload {
                name,
                cert: base64::engine::general_purpose::STANDARD
                    .decode(&req.cert)
                    .map_err(|_| Problem::NotBase64 { field: "cert" })?,
            }
        }
        Op::KmipServerCerts => Request::KmipServerCerts {
            name: param(params, 0)?,
        },
        Op::KmipServerTrust => Request::KmipServerTrust {
            name: param(params, 0)?,
            request: json_object(body)?,
        },
        Op::CredentialAdd => Request::CredentialAdd(json_object(body)?),
        Op::CredentialList => Request::CredentialList,
        Op::CredentialRevoke => {
            let name = param(params, 0)?;
            let req: api::CredentialRevokeRequest = json_object(body)?;
            let reason = match req.reason {
                None => RevocationReason::CessationOfOperation,
                Some(r) => {
                    RevocationReason::parse(&r).ok_or(Error::UnknownReason { name: echo(&r) })?
                }
            };
            Request::CredentialRevoke { name, reason }
        }
        // An endpoint of a newer table this build does not carry out.
        _ => {
            return Err(Error::Refused {
                code: Some(certherd_protocol::ErrorCode::NotFound),
                status: 404,
                message: format!(
                    "{} {} is not served by this server",
                    route.method, route.path
                ),
                next: None,
                hint: None,
            })
        }
    })
}

/// `cert import`'s files as the admin API carries them: each in standard base64.
fn import_request(source: &ImportSource, profile: Option<String>) -> api::ImportRequest {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match source {
        ImportSource::Files { cert, chain, key } => api::ImportRequest {
            cert: Some(b64(cert)),
            chain: chain.iter().map(|c| b64(c)).collect(),
            key: key.as_ref().map(|k| b64(&k.0)),
            profile,
            ..api::ImportRequest::default()
        },
        ImportSource::Pkcs12 { data, password } => api::ImportRequest {
            pkcs12: Some(b64(&data.0)),
            password: Some(String::from_utf8_lossy(&password.0).into_owned()),
            profile,
            ..api::ImportRequest::default()
        },
    }
}

/// `cert import`'s files from the admin API's request: `cert` or `pkcs12`, base64.
fn import_source(req: &api::ImportRequest) -> Result<ImportSource, Problem> {
    use base64::Engine as _;
    let bytes = |field: &'static str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| Problem::NotBase64 { field })
    };
    match (&req.cert, &req.pkcs12) {
        (Some(cert), None) if req.password.is_none() => Ok(ImportSource::Files {
            cert: bytes("cert", cert)?,
            chain: req
                .chain
                .iter()
                .map(|c| bytes("chain", c))
                .collect::<Result<_, _>>()?,
            key: req
                .key
                .as_deref()
                .map(|k| bytes("key", k).map(Secret))
                .transpose()?,
        }),
        (None, Some(p12)) if req.key.is_none() && req.chain.is_empty() => {
            Ok(ImportSource::Pkcs12 {
                data: Secret(bytes("pkcs12", p12)?),
                password: Secret(req.password.clone().unwrap_or_default().into_bytes()),
            })
        }
        _ => Err(Problem::ImportFields),
    }
}

/// The RFC 3339 time a query parameter gives, if it is there.
fn time_param(q: &Query, name: &'static str) -> Result<Option<time::OffsetDateTime>, Problem> {
    q.text(name)
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).map_err(
                |_| Problem::NotATime {
                    name,
                    value: echo(t),
                },
            )
        })
        .transpose()
}

/// The audit log's filter from the query: `since` and `until` RFC 3339 times, `since`
/// before `until`.
fn audit_filter(q: &Query) -> Result<AuditFilter, Problem> {
    let (since, until) = (time_param(q, "since")?, time_param(q, "until")?);
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(Problem::EmptyPeriod {
                since: certherd_x509::rfc3339(s),
                until: certherd_x509::rfc3339(u),
            });
        }
    }
    Ok(AuditFilter {
        action: q.text("action").map(str::to_owned),
        subject: q.text("subject").map(str::to_owned),
        since,
        until,
    })
}

/// The answer to `request` read from the body of a successful call.
pub fn decode_answer(request: &Request, body: &[u8]) -> Result<Answer, serde_json::Error> {
    use certherd_protocol::decode as d;
    Ok(match request {
        Request::HostList => Answer::Hosts(d(body)?),
        Request::HostAdd(_) => Answer::HostAdded(d(body)?),
        Request::HostRemove { .. } => Answer::HostRemoved(d(body)?),
        Request::HostResetServerCert { .. }
        | Request::HostRefreshPoolCert { .. }
        | Request::FleetRenew(_) => Answer::Ordered(d(body)?),
        Request::CertList(_) => Answer::Certs(d(body)?),
        Request::CertIssue(_) | Request::CertRenew { .. } | Request::CertReset { .. } => {
            Answer::Issued(d(body)?)
        }
        Request::CertIssueBatch(_) => Answer::IssuedBatch(d(body)?),
        Request::CertShow { .. } => Answer::Cert(d(body)?),
        Request::CertExport { .. } => Answer::Exported(d(body)?),
        Request::CertRevoke { .. } => Answer::Revoked(d(body)?),
        Request::TrustList => Answer::Trusted(d(body)?),
        Request::TrustAdd { .. } => Answer::TrustAdded(d(body)?),
        Request::TrustRemove { .. } => Answer::TrustRemoved(d(body)?),
        Request::CrlList => Answer::Crls(d(body)?),
        Request::CrlAdd { .. } => Answer::CrlAdded(d(body)?),
        Request::Alarms { .. } => Answer::Alarms(d(body)?),
        Request::Audit { .. } => Answer::Audit(d(body)?),
        Request::PoolVerificationGet | Request::PoolVerificationSet { .. } => {
            Answer::Verification(d(body)?)
        }
        Request::CaShow => Answer::Ca(d(body)?),
        Request::CaRotate => Answer::Rotation(d(body)?),
        Request::Forecast(_) => Answer::Forecast(d(body)?),
        Request::KeyProviders { .. } => Answer::KeyProviders(d(body)?),
        Request::Check { .. } => Answer::Check(d(body)?),
        Request::Status => Answer::Status(Box::new(d(body)?)),
        Request::StoreList => Answer::Stores(d(body)?),
        Request::ProfileList => Answer::Profiles(d(body)?),
        Request::PoolCertificates => Answer::PoolCertificates(d(body)?),
        Request::CaRoot => Answer::CaRoot(d(body)?),
        Request::Notifications => Answer::Notifications(d(body)?),
        Request::CaCrl => Answer::CaCrl(d(body)?),
        Request::CertDelete { .. } => Answer::Deleted(d(body)?),
        Request::Renewals(_) | Request::Resets(_) => Answer::Run(d(body)?),
        Request::CertImport { .. } => Answer::Imported(d(body)?),
        Request::ServiceAdd { .. } => Answer::Issued(d(body)?),
        Request::EndpointAdd(_) => Answer::EndpointAdded(d(body)?),
        Request::ScanTls(_) => Answer::TlsScanned(d(body)?),
        Request::Verify(_) => Answer::Verified(d(body)?),
        Request::Report { .. } => Answer::Report(d(body)?),
        Request::EndpointTrust { .. } => Answer::EndpointTrusted(d(body)?),
        Request::EndpointDiagnose { .. } => Answer::Diagnosis(d(body)?),
        Request::EndpointList => Answer::Endpoints(d(body)?),
        Request::EndpointRemove { .. } => Answer::EndpointRemoved(d(body)?),
        Request::KeyProviderCreate(_) => Answer::KeyProviderCreated(d(body)?),
        Request::KeyProviderList => Answer::KeyProviderRows(d(body)?),
        Request::KeyProviderAddServer { .. } => Answer::KeyProviderRow(d(body)?),
        Request::KeyProviderRemove { .. } => Answer::KeyProviderRemoved(d(body)?),
        Request::KmipClientNew { .. } | Request::KmipClientUpload { .. } => {
            Answer::KmipClient(d(body)?)
        }
        Request::KmipClientExport { .. } | Request::KmipClientCsr { .. } => {
            Answer::KmipPem(d(body)?)
        }
        Request::KmipServerCerts { .. } => Answer::KmipPresented(d(body)?),
        Request::KmipServerTrust { .. } => Answer::KmipTrusted(d(body)?),
        Request::CredentialAdd(_) => Answer::CredentialIssued(d(body)?),
        Request::CredentialList => Answer::Credentials(d(body)?),
        Request::CredentialRevoke { .. } => Answer::CredentialsRevoked(d(body)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use certherd_protocol::admin::{route, Matched, ROUTES};
    use proptest::prelude::*;

    /// Every request the remote side encodes is decoded by the server into the same
    /// request, through the route table: the two sides cannot drift apart.
    #[test]
    fn every_request_round_trips_through_the_route_table() {
        let entry: EntryRef = "machine-ssl/vc01.example.test".parse().unwrap();
        let until = time::macros::datetime!(2027-03-01 12:00 UTC);
        let requests = vec![
            Request::HostList,
            Request::HostAdd(api::HostAddRequest {
                name: "kvm1.example.test".into(),
                ips: vec!["10.0.0.1".into()],
                token_ttl_hours: Some(2),
                token_ttl_seconds: None,
            }),
            Request::HostAdd(api::HostAddRequest {
                name: "kvm2.example.test".into(),
                ips: vec![],
                token_ttl_hours: None,
                token_ttl_seconds: Some(5400),
            }),
            Request::HostRemove {
                name: "kvm 1/x".into(),
            },
            Request::HostResetServerCert { name: "a".into() },
            Request::HostRefreshPoolCert { name: "a".into() },
            Request::FleetRenew(api::FleetRenewRequest {
                hosts: vec!["a".into()],
            }),
            Request::CertList(CertFilter::default()),
            Request::CertList(CertFilter {
                store: Some("trusted-roots".into()),
                profile: Some("a b&c".into()),
                status: Some("ok".into()),
                expiring_within_days: Some(30),
                at: Some(until),
            }),
            Request::CertIssueBatch(api::IssueBatchRequest {
                requests: vec![
                    api::IssueRequest {
                        store: "bulk".into(),
                        alias: "b1".into(),
                        profile: "host".into(),
                        common_name: None,
                        names: vec!["b1.example.test".into()],
                        key_algo: None,
                    },
                    api::IssueRequest {
                        store: "bulk".into(),
                        alias: "b 2/é".into(),
                        profile: "service".into(),
                        common_name: Some("b2".into()),
                        names: vec![],
                        key_algo: Some("rsa-2048".into()),
                    },
                ],
            }),
            Request::CertShow {
                entry: entry.clone(),
            },
            Request::CertRenew {
                entry: entry.clone(),
                key_algo: None,
            },
            Request::CertRenew {
                entry: entry.clone(),
                key_algo: Some(certherd_x509::KeyAlgorithm::Rsa2048),
            },
            Request::CertExport {
                entry: entry.clone(),
            },
            Request::CertRevoke {
                entry: entry.clone(),
                reason: RevocationReason::KeyCompromise,
            },
            Request::TrustList,
            Request::TrustAdd { pem: "x".into() },
            Request::TrustRemove {
                fingerprint: "AB:CD:EF:01:23:45:67:89".into(),
            },
            Request::CrlList,
            Request::CrlAdd { pem: "y".into() },
            Request::Alarms { all: true },
            Request::Alarms { all: false },
            Request::Audit {
                offset: 5,
                limit: 1000,
                filter: AuditFilter::default(),
            },
            Request::Audit {
                offset: 0,
                limit: 20,
                filter: AuditFilter {
                    action: Some("admin-api".into()),
                    subject: Some("ops & co/é".into()),
                    since: Some(until - time::Duration::days(3)),
                    until: Some(until),
                },
            },
            Request::PoolVerificationGet,
            Request::PoolVerificationSet { enabled: false },
            Request::CaShow,
            Request::CaRotate,
            Request::Forecast(Horizon::Days(30)),
            Request::Forecast(Horizon::Until(until)),
            Request::Status,
            Request::StoreList,
            Request::ProfileList,
            Request::PoolCertificates,
            Request::CaRoot,
            Request::Notifications,
            Request::CaCrl,
            Request::CertDelete { entry },
            Request::EndpointList,
            Request::CertReset {
                entry: "web/imported".parse().unwrap(),
            },
            Request::EndpointRemove {
                name: "kms 1/a?b".into(),
            },
            Request::Renewals(api::RenewalsRequest {
                select: api::RenewSelect::Due,
                dry_run: false,
            }),
            Request::Renewals(api::RenewalsRequest {
                select: api::RenewSelect::ExpiringWithin { span: "30d".into() },
                dry_run: true,
            }),
            Request::Renewals(api::RenewalsRequest {
                select: api::RenewSelect::One {
                    entry: "web/www".into(),
                },
                dry_run: true,
            }),
            Request::Resets(api::ResetsRequest { dry_run: true }),
            Request::ServiceAdd {
                name: "vpxd".into(),
            },
            Request::ScanTls(api::ScanTlsRequest {
                targets: vec!["127.0.0.1:443".into(), "[::1]:8443".into()],
                sni: Some("www".into()),
                starttls: Some("smtp".into()),
                concurrency: 8,
                timeout_ms: 5000,
            }),
            Request::EndpointTrust {
                name: "wlb 1".into(),
                probe: api::ProbeRequest {
                    thumbprint: Some("AB:CD".into()),
                    timeout_ms: 1000,
                },
            },
            Request::Report { until },
            Request::Verify(api::VerifyRequest {
                presented: vec!["MIIB".into()],
                purpose: Some("server".into()),
                policy: vec!["2.5.29.32.0".into()],
                strict: true,
                ..api::VerifyRequest::default()
            }),
            Request::EndpointDiagnose {
                name: "kms".into(),
                probe: api::ProbeRequest {
                    thumbprint: None,
                    timeout_ms: 250,
                },
            },
            Request::EndpointAdd(api::EndpointAddRequest {
                name: "wlb".into(),
                address: "wlb.example.test:8012".into(),
                server_name: Some("wlb".into()),
                verify: true,
                starttls: None,
            }),
            Request::CertImport {
                entry: "web/imported".parse().unwrap(),
                source: ImportSource::Files {
                    cert: b"-----BEGIN CERTIFICATE-----\n".to_vec(),
                    chain: vec![vec![0x30, 0x82], vec![]],
                    key: Some(Secret(vec![1, 2, 3])),
                },
                profile: Some("service".into()),
            },
            Request::CertImport {
                entry: "web/p12".parse().unwrap(),
                source: ImportSource::Pkcs12 {
                    data: Secret(vec![0x30, 0, 0xff]),
                    password: Secret("pässword".into()),
                },
                profile: None,
            },
            Request::Check {
                at: None,
                warn: None,
                crit: None,
            },
            Request::Check {
                at: Some(until),
                warn: Some(certherd_core::Span::days(30)),
                crit: Some("12h".parse().unwrap()),
            },
            Request::KeyProviders {
                name: None,
                timeout_seconds: 10,
            },
            Request::KeyProviders {
                name: Some("kms".into()),
                timeout_seconds: 300,
            },
            Request::KeyProviderCreate(api::KeyProviderCreateRequest {
                name: "kms".into(),
                primary_key_id: "4f1c".into(),
                server: "kmip.example.test:5696".into(),
                proxy: Some("proxy.example.test:3128".into()),
            }),
            Request::KeyProviderList,
            Request::KeyProviderAddServer {
                name: "kms 2".into(),
                server: api::KmipServerAddRequest {
                    address: "10.0.0.9:5696".into(),
                    proxy: None,
                },
            },
            Request::KeyProviderRemove { name: "kms".into() },
            Request::KmipClientNew {
                name: "kms".into(),
                request: api::KmipClientNewRequest {
                    self_signed: true,
                    key_algo: Some("rsa-3072".into()),
                },
            },
            Request::KmipClientExport { name: "kms".into() },
            Request::KmipClientCsr {
                name: "kms".into(),
                request: api::KmipClientCsrRequest::default(),
            },
            Request::KmipClientUpload {
                name: "kms".into(),
                cert: vec![0x30, 0x82, 0xff],
            },
            Request::KmipServerCerts { name: "kms".into() },
            Request::KmipServerTrust {
                name: "kms".into(),
                request: api::KmipTrustRequest {
                    thumbprint: Some("ab:cd".into()),
                    server: Some("10.0.0.9:5696".into()),
                },
            },
            Request::CredentialAdd(api::CredentialAddRequest {
                name: "ops".into(),
                role: api::CredentialRole::Admin,
                valid_for: Some("90d".into()),
            }),
            Request::CredentialList,
            Request::CredentialRevoke {
                name: "ops".into(),
                reason: RevocationReason::KeyCompromise,
            },
        ];
        for r in requests {
            let call = encode(&r);
            let (path, query) = match call.path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (call.path.as_str(), None),
            };
            let (route, params) = match route(call.method, path) {
                Matched::Route(route, params) => (route, params),
                other => panic!("{r:?}: {other:?}"),
            };
            assert_eq!(route.op, r.op(), "{r:?}");
            let body = call.body.unwrap_or_default();
            let back = decode(route, &params, query, body.as_bytes())
                .unwrap_or_else(|e| panic!("{r:?}: {e}"));
            assert_eq!(back, r);
        }
    }

    /// `POST .../renew` takes `{key_algo}`, and no body at all from a client that sends
    /// none (one from before the body).
    #[test]
    fn a_renewal_body_may_be_left_out() {
        let (route, params) = match route("POST", "/v1/certificates/web/www/renew") {
            Matched::Route(r, p) => (r, p),
            other => panic!("{other:?}"),
        };
        assert!(route.body_optional());
        let entry: EntryRef = "web/www".parse().unwrap();
        for (body, key_algo) in [
            ("", None),
            (" \n", None),
            ("{}", None),
            (
                r#"{"key_algo":"rsa-2048"}"#,
                Some(certherd_x509::KeyAlgorithm::Rsa2048),
            ),
        ] {
            let r = decode(route, &params, None, body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                r,
                Request::CertRenew {
                    entry: entry.clone(),
                    key_algo
                },
                "{body:?}"
            );
        }
        for bad in [r#"{"key_algo":"rsa-1024"}"#, r#"{"key":"rsa-2048"}"#, "[]"] {
            assert!(
                decode(route, &params, None, bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        // Only this route's body may be left out.
        assert!(ROUTES
            .iter()
            .filter(|r| r.body_optional())
            .all(|r| r.op == Op::CertRenew));
    }

    #[test]
    fn query_parameters_are_checked_against_the_endpoint() {
        let route = match route("GET", "/v1/audit") {
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
            assert!(Query::parse(route, Some(bad)).is_err(), "{bad}");
        }
        // The audit log's times: RFC 3339, since before until.
        for bad in [
            "since=yesterday",
            "until=2027-13-01T00:00:00Z",
            "since=2027-03-02T00:00:00Z&until=2027-03-01T00:00:00Z",
            "since=2027-03-01T00:00:00Z&until=2027-03-01T00:00:00Z",
        ] {
            assert!(decode(route, &[], Some(bad), b"").is_err(), "{bad}");
        }
        let ok = decode(
            route,
            &[],
            Some("action=issue&subject=web&since=2027-03-01T00:00:00Z"),
            b"",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Request::Audit { filter, .. } = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(
            (filter.action.as_deref(), filter.subject.as_deref()),
            (Some("issue"), Some("web"))
        );
        assert!(filter.passes(
            time::macros::datetime!(2027-03-01 00:00 UTC),
            "issue",
            "WEB/portal"
        ));
        assert!(!filter.passes(
            time::macros::datetime!(2027-02-28 23:59 UTC),
            "issue",
            "web/portal"
        ));
        assert!(!filter.passes(
            time::macros::datetime!(2027-03-02 00:00 UTC),
            "renew",
            "web/portal"
        ));
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%e2%82", true), None);
    }

    /// An answer's body is its inner value alone, and reads back as the same answer.
    #[test]
    fn an_answer_is_sent_as_its_value_and_read_back() {
        let answer = Answer::Verification(api::PoolVerification { enabled: true });
        assert_eq!(answer.to_json(), r#"{"enabled":true}"#);
        let request = Request::PoolVerificationGet;
        assert_eq!(
            decode_answer(&request, answer.to_json().as_bytes()).unwrap(),
            answer
        );
        let hosts = Answer::Hosts(Vec::new());
        assert_eq!(hosts.to_json(), "[]");
    }

    proptest! {
        /// Any path parameters, query and body for any endpoint: a request or a refusal,
        /// never a panic.
        #[test]
        fn arbitrary_calls_never_panic(
            i in 0usize..64,
            params in proptest::collection::vec(".{0,20}", 0..3),
            query in proptest::option::of(".{0,40}"),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let routes = api::ROUTES;
            let route = &routes[i % routes.len()];
            let _ = decode(route, &params, query.as_deref(), &body);
        }
    }
}
