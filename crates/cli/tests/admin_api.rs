//! The admin API against the real server: every endpoint once with an admin credential
//! (bearer token and client certificate), a reader limited to reads, a revoked
//! credential, and bad input refused with a code, changing nothing, audited with the
//! credential's name.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use common::Env;
use serde_json::{json, Value};

/// How a call authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cert(&'a certherd_tls::Identity),
}

struct Api {
    _server: common::Killed,
    addr: String,
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Api {
    fn start(env: &Env) -> Self {
        let addr = format!("127.0.0.1:{}", common::free_port());
        let server = common::start_server(env, &addr);
        Self {
            _server: server,
            addr,
        }
    }

    /// One request over its own TLS connection; the answer's status and JSON body.
    fn call(&self, auth: Auth<'_>, method: &str, path: &str, body: Option<&[u8]>) -> Answer {
        let identity = match auth {
            Auth::Cert(i) => Some(i),
            _ => None,
        };
        let mut s = certherd_tls::connect(
            &certherd_tls::Endpoint {
                address: self.addr.clone(),
                proxy: None,
                timeout: Duration::from_secs(10),
                server_name: None,
                starttls: None,
            },
            Arc::new(certherd_tls::RecordingVerifier::default()),
            identity,
        )
        .unwrap();
        let bearer = match auth {
            Auth::Bearer(t) => format!("Authorization: Bearer {t}\r\n"),
            _ => String::new(),
        };
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{bearer}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A refused body may be cut short by the server: what it answered still counts.
        let _ = s.write_all(body);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:?}"));
        let payload = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        let body = serde_json::from_str(payload).unwrap_or(Value::Null);
        Answer { status, body, text }
    }

    fn json(&self, auth: Auth<'_>, method: &str, path: &str, body: Value) -> Answer {
        self.call(auth, method, path, Some(body.to_string().as_bytes()))
    }

    /// A call that must succeed; its body.
    fn ok(&self, auth: Auth<'_>, method: &str, path: &str, body: Option<Value>) -> Value {
        let a = match body {
            Some(b) => self.json(auth, method, path, b),
            None => self.call(auth, method, path, None),
        };
        assert_eq!(a.status, 200, "{method} {path}: {}", a.text);
        a.body
    }
}

fn init(env: &Env) {
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
}

fn token(env: &Env, name: &str, role: &str) -> String {
    env.json(&[
        "admin",
        "credential",
        name,
        "--role",
        role,
        "--output",
        "json",
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An admin client certificate written by the CLI, read back as a TLS identity.
fn client_cert(env: &Env, name: &str, role: &str) -> certherd_tls::Identity {
    let out = env.path(&format!("{name}.pem"));
    env.ok(&[
        "admin",
        "credential",
        name,
        "--role",
        role,
        "--client-cert",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(common::mode(&out), 0o600);
    let pem = std::fs::read(&out).unwrap();
    let key = certherd_x509::parse_private_key(&pem).unwrap();
    let chain = certherd_x509::parse_certificates(&pem).unwrap();
    let leaf = certherd_x509::CertInfo::from_der(&chain[0]).unwrap();
    assert_eq!(leaf.subject, format!("O=certherd-admin, CN={name}"));
    assert_eq!(leaf.extended_key_usage, vec!["clientAuth".to_owned()]);
    certherd_tls::Identity {
        chain,
        key: pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
    }
}

/// The audit log's `admin-api` records, as `subject: detail`.
fn api_audit(env: &Env) -> Vec<String> {
    env.json(&["audit", "--output", "json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "admin-api")
        .map(|r| {
            format!(
                "{}: {}",
                r["subject"].as_str().unwrap(),
                r["detail"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_endpoint_answers_an_admin_and_a_reader_may_only_read() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let reader = token(&env, "dashboard", "reader");
    let cert = client_cert(&env, "alice", "admin");
    let api = Api::start(&env);
    let a = Auth::Bearer(&admin);
    let c = Auth::Cert(&cert);

    // The document needs no credential and describes every route, with the 503 every
    // route answers while the database does not.
    let doc = api.ok(Auth::None, "GET", "/v1/openapi.json", None);
    for r in certherd_protocol::admin::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {}", r.method, r.path);
        assert!(
            op["responses"]["503"].is_object(),
            "{} {}",
            r.method,
            r.path
        );
    }

    // Hosts: add (the token shown once), list, a second add is a conflict.
    let added = api.ok(
        a,
        "POST",
        "/v1/hosts",
        Some(json!({"name": "esx1.example.test", "ips": ["127.0.0.2"]})),
    );
    let join_token = added["token"].as_str().unwrap().to_owned();
    let fp = added["ca_fingerprint"].as_str().unwrap().to_owned();
    let again = api.json(a, "POST", "/v1/hosts", json!({"name": "esx1.example.test"}));
    assert_eq!(
        (again.status, again.code()),
        (409, "conflict"),
        "{}",
        again.text
    );
    // The host joins, so orders can be given to it.
    let joined = common::run_at(
        &env.path("agent-esx1"),
        &[
            "agent",
            "join",
            "--server",
            &format!("https://{}", api.addr),
            "--token",
            &join_token,
            "--ca-fingerprint",
            &fp,
            "--hostname",
            "esx1.example.test",
            "--ip",
            "127.0.0.2",
        ],
    );
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    let hosts = api.ok(c, "GET", "/v1/hosts", None);
    assert_eq!(hosts[0]["name"], "esx1.example.test");
    assert!(hosts[0]["joined_at"].is_string());
    let ordered = api.ok(
        c,
        "POST",
        "/v1/hosts/esx1.example.test/reset-server-cert",
        None,
    );
    assert_eq!(ordered["hosts"], json!(["esx1.example.test"]));
    api.ok(
        a,
        "POST",
        "/v1/hosts/esx1.example.test/refresh-pool-cert",
        None,
    );
    let renew = api.ok(a, "POST", "/v1/fleet/renew", Some(json!({})));
    assert_eq!(renew["hosts"], json!(["esx1.example.test"]));
    let gone = api.call(
        a,
        "POST",
        "/v1/hosts/nope.example.test/reset-server-cert",
        None,
    );
    assert_eq!((gone.status, gone.code()), (404, "not_found"));

    // Certificates: issue, conflict, list with filters, show, renew, export without a key.
    let issued = api.ok(
        a,
        "POST",
        "/v1/certificates",
        Some(json!({"store": "web", "alias": "site", "profile": "service", "names": ["site.example.test"]})),
    );
    assert_eq!(issued["certificate"]["alias"], "site");
    assert_eq!(issued["certificate"]["has_key"], true);
    let dup = api.json(
        a,
        "POST",
        "/v1/certificates",
        json!({"store": "web", "alias": "site", "profile": "service"}),
    );
    assert_eq!((dup.status, dup.code()), (409, "conflict"));
    let listed = api.ok(c, "GET", "/v1/certificates?store=web&profile=service", None);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let none = api.ok(c, "GET", "/v1/certificates?store=web&status=expired", None);
    assert_eq!(none, json!([]));
    let shown = api.ok(c, "GET", "/v1/certificates/web/site", None);
    assert!(shown["sans"].to_string().contains("site.example.test"));
    let renewed = api.ok(a, "POST", "/v1/certificates/web/site/renew", None);
    assert!(renewed["backup"].as_str().unwrap().contains("web.site"));
    assert_ne!(
        renewed["certificate"]["sha256"],
        issued["certificate"]["sha256"]
    );
    let export = api.call(a, "GET", "/v1/certificates/web/site/export", None);
    assert_eq!(export.status, 200);
    assert!(export.body["certificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!export.text.contains("PRIVATE KEY"), "{}", export.text);
    let missing = api.call(a, "GET", "/v1/certificates/web/nothing", None);
    assert_eq!((missing.status, missing.code()), (404, "not_found"));

    // Revoke: recorded with the credential's name and a new CRL; again changes nothing; an
    // unknown reason and the CA's own certificate are refused 422.
    let revoked = api.ok(
        a,
        "POST",
        "/v1/certificates/web/site/revoke",
        Some(json!({"reason": "keyCompromise"})),
    );
    assert_eq!(
        (&revoked["reason"], &revoked["revoked_now"]),
        (&json!("keyCompromise"), &json!(true))
    );
    assert!(
        revoked["revoked_by"]
            .as_str()
            .unwrap()
            .starts_with("admin:"),
        "{revoked}"
    );
    assert!(revoked["crl_number"].as_u64().is_some(), "{revoked}");
    let again = api.ok(
        a,
        "POST",
        "/v1/certificates/web/site/revoke",
        Some(json!({})),
    );
    assert_eq!(again["revoked_now"], false);
    let bad_reason = api.json(
        a,
        "POST",
        "/v1/certificates/web/site/revoke",
        json!({"reason": "certificateHold"}),
    );
    assert_eq!(
        (bad_reason.status, bad_reason.code()),
        (422, "unprocessable")
    );
    let root = api.json(a, "POST", "/v1/certificates/ca/root/revoke", json!({}));
    assert_eq!(
        (root.status, root.code()),
        (422, "unprocessable"),
        "{}",
        root.text
    );

    // Trust: add a CA and its CRL, list both, remove the CA.
    let (ca_pem, crl_pem) = common::ca_and_crl("Example Partner CA");
    let trusted = api.ok(a, "POST", "/v1/trust", Some(json!({"pem": ca_pem})));
    let sha = trusted["added"][0]["sha256"].as_str().unwrap().to_owned();
    assert!(api
        .ok(c, "GET", "/v1/trust", None)
        .to_string()
        .contains(&sha));
    let crl = api.ok(a, "POST", "/v1/trust/crls", Some(json!({"pem": crl_pem})));
    assert_eq!(crl["issuer"], "CN=Example Partner CA");
    // Beside the CA's own CRL (published at the first revocation or tick).
    assert!(api
        .ok(c, "GET", "/v1/trust/crls", None)
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["sha256"] == crl["sha256"]));
    let removed = api.ok(a, "DELETE", &format!("/v1/trust/{sha}"), None);
    assert_eq!(removed["sha256"], sha.as_str());

    // Alarms, audit (paginated), pool verification, CA, forecast.
    assert!(api.ok(c, "GET", "/v1/alarms?all=true", None).is_array());
    let page = api.ok(c, "GET", "/v1/audit?offset=1&limit=2", None);
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
    assert_eq!(page["offset"], 1);
    assert!(page["total"].as_u64().unwrap() > 2);
    assert_eq!(
        api.ok(c, "GET", "/v1/pool/verification", None),
        json!({"enabled": true})
    );
    assert_eq!(
        api.ok(
            a,
            "PUT",
            "/v1/pool/verification",
            Some(json!({"enabled": false}))
        ),
        json!({"enabled": false})
    );
    let ca = api.ok(c, "GET", "/v1/ca", None);
    assert_eq!(ca["root_sha256"], fp.as_str());
    let forecast = api.ok(c, "GET", "/v1/forecast?days=4000", None);
    assert!(forecast["items"].as_array().unwrap().len() >= 3);
    // To a given end (`forecast --until`), which the answer names.
    let until = api.ok(c, "GET", "/v1/forecast?until=2099-01-01T00:00:00Z", None);
    assert_eq!(until["until"], "2099-01-01T00:00:00Z");
    // One rotation step: the new root first goes to the fleet, whose host has not
    // confirmed it yet.
    let rotated = api.ok(a, "POST", "/v1/ca/rotate", None);
    assert_eq!(rotated["waiting_for"], json!(["esx1.example.test"]));
    // The old root anchors the retiring CA until the rotation retires it: its removal is
    // refused (422) and changes nothing.
    let trust_before = api.ok(c, "GET", "/v1/trust", None);
    let kept = api.call(a, "DELETE", &format!("/v1/trust/{fp}"), None);
    assert_eq!(
        (kept.status, kept.code()),
        (422, "unprocessable"),
        "{}",
        kept.text
    );
    assert!(
        kept.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("anchors the retiring CA")),
        "{}",
        kept.text
    );
    assert_eq!(api.ok(c, "GET", "/v1/trust", None), trust_before);

    // A reader reads, and is refused every change (403 reader_only), audited by name.
    let r = Auth::Bearer(&reader);
    api.ok(r, "GET", "/v1/certificates", None);
    let state = || {
        ["cert", "host", "trust"]
            .iter()
            .map(|c| env.ok(&[c, "list", "--output", "json"]))
            .collect::<String>()
    };
    let before = state();
    for route in certherd_protocol::admin::ROUTES
        .iter()
        .filter(|r| r.changes())
    {
        let path = route
            .path
            .replace("{name}", "esx1.example.test")
            .replace("{store}", "web")
            .replace("{alias}", "site")
            .replace("{sha256}", &sha);
        let refused = api.call(r, route.method, &path, Some(b"{}"));
        assert_eq!(
            (refused.status, refused.code()),
            (403, "reader_only"),
            "{} {path}: {}",
            route.method,
            refused.text
        );
    }
    let audit = api_audit(&env);
    assert!(
        audit
            .iter()
            .any(|l| l.starts_with("dashboard: POST /v1/ca/rotate -> 403 reader_only")),
        "{audit:#?}"
    );
    // Nothing changed but the audit records of the refusals.
    let after_log = env.json(&["audit", "--output", "json"]);
    let refusals = after_log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take_while(|r| r["detail"].as_str().unwrap().contains("reader_only"))
        .count();
    assert_eq!(
        refusals,
        certherd_protocol::admin::ROUTES
            .iter()
            .filter(|r| r.changes())
            .count()
    );
    assert_eq!(state(), before);
    // Every call above is in the audit log with its credential's name.
    assert!(audit
        .iter()
        .any(|l| l.starts_with("ops: POST /v1/hosts -> 200")));
    assert!(audit
        .iter()
        .any(|l| l.starts_with("alice: GET /v1/hosts -> 200; via client-cert")));
    assert!(audit
        .iter()
        .any(|l| l.starts_with("ops: POST /v1/hosts -> 409 conflict")));
}

#[test]
fn bad_input_is_refused_with_a_code_changes_nothing_and_is_audited() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let api = Api::start(&env);
    let a = Auth::Bearer(&admin);
    let content = || {
        format!(
            "{}{}",
            env.ok(&["cert", "list", "--output", "json"]),
            env.ok(&["host", "list", "--output", "json"])
        )
    };
    let before = content();
    let audited_before = api_audit(&env).len();
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/v1/hosts",
            b"{not json".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/hosts",
            br#"{"name":"esx9.example.test","extra":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/hosts",
            br#"{"name":42}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/v1/pool/verification",
            br#"{"enabled":"no"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/certificates",
            vec![b' '; 300 * 1024],
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/hosts",
            br#"{"name":"not a host name"}"#.to_vec(),
            422,
            "unprocessable",
        ),
        (
            "POST",
            "/v1/certificates",
            br#"{"store":"web","alias":"x","profile":"no-such-profile"}"#.to_vec(),
            422,
            "unprocessable",
        ),
        (
            "POST",
            "/v1/trust",
            br#"{"pem":"garbage"}"#.to_vec(),
            422,
            "unprocessable",
        ),
        (
            "GET",
            "/v1/audit?limit=0",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/audit?colour=red",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/forecast?until=soon",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/forecast?until=2001-01-01T00:00:00Z",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/forecast?until=9999-01-01T00:00:00Z",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/forecast?days=10&until=2099-01-01T00:00:00Z",
            Vec::new(),
            400,
            "invalid_request",
        ),
        // Past the caps: 10,000 addresses for a host, 101 names for a certificate.
        (
            "POST",
            "/v1/hosts",
            json!({
                "name": "many.example.test",
                "ips": (0..10_000u32)
                    .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
                    .collect::<Vec<_>>(),
            })
            .to_string()
            .into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/certificates",
            json!({
                "store": "web",
                "alias": "many",
                "profile": "service",
                "names": (0..101).map(|i| format!("n{i}.example.test")).collect::<Vec<_>>(),
            })
            .to_string()
            .into_bytes(),
            400,
            "invalid_request",
        ),
        ("PATCH", "/v1/hosts", Vec::new(), 405, "method_not_allowed"),
        ("GET", "/v1/no-such-thing", Vec::new(), 404, "not_found"),
        (
            "DELETE",
            "/v1/hosts/nope.example.test",
            Vec::new(),
            404,
            "not_found",
        ),
    ];
    let mut messages = Vec::new();
    for (method, path, body, status, code) in &cases {
        let r = api.call(a, method, path, Some(body));
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{method} {path}: {}",
            r.text
        );
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        messages.push(r.body["message"].as_str().unwrap_or_default().to_owned());
    }
    for said in [
        "10000 IP addresses given for one host: at most 64 are accepted",
        "101 names given for one certificate: at most 100 subject alternative names",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(said)),
            "{said}: {messages:#?}"
        );
    }
    // No credential, an unknown one, a revoked one.
    let none = api.call(Auth::None, "GET", "/v1/hosts", None);
    assert_eq!((none.status, none.code()), (401, "unauthenticated"));
    let forged = format!("cha1_{}", "ab".repeat(32));
    let unknown = api.call(Auth::Bearer(&forged), "GET", "/v1/hosts", None);
    assert_eq!((unknown.status, unknown.code()), (403, "forbidden"));
    let doomed = token(&env, "leaver", "admin");
    let cert = client_cert(&env, "leaver", "admin");
    api.ok(Auth::Bearer(&doomed), "GET", "/v1/hosts", None);
    api.ok(Auth::Cert(&cert), "GET", "/v1/hosts", None);
    env.ok(&["admin", "credential", "revoke", "leaver"]);
    let listed = env.json(&["admin", "credential", "list", "--output", "json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "leaver")
        .all(|c| c["revoked_at"].is_string()));
    for auth in [Auth::Bearer(&doomed), Auth::Cert(&cert)] {
        let r = api.json(
            auth,
            "POST",
            "/v1/hosts",
            json!({"name": "esx9.example.test"}),
        );
        assert_eq!(
            (r.status, r.code()),
            (401, "credential_revoked"),
            "{}",
            r.text
        );
    }
    // Nothing changed...
    assert_eq!(content(), before);
    // ...and every refusal is audited, with the name of the credential presented.
    let audit = api_audit(&env);
    assert_eq!(
        audit.len() - audited_before,
        // The cases (but the path outside the admin API), no and an unknown credential,
        // two calls before revoking and two after.
        cases.len() - 1 + 2 + 2 + 2,
        "{audit:#?}"
    );
    assert!(audit
        .iter()
        .any(|l| l.starts_with("ops: POST /v1/certificates -> 413 body_too_large")));
    assert!(audit
        .iter()
        .any(|l| l.starts_with("ops: POST /v1/hosts -> 400 invalid_request")));
    assert!(audit
        .iter()
        .any(|l| l.starts_with("-: GET /v1/hosts -> 401 unauthenticated")));
    assert!(audit
        .iter()
        .any(|l| l.starts_with("-: GET /v1/hosts -> 403 forbidden; via bearer")));
    assert!(audit.iter().any(
        |l| l.starts_with("leaver: POST /v1/hosts -> 401 credential_revoked; via client-cert")
    ));
    // Revoking a name with nothing live is refused.
    let r = env.run(&["admin", "credential", "revoke", "leaver"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("no live admin credential"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_admin_client_certificate_of_a_retired_root_is_refused() {
    let env = Env::new();
    init(&env);
    let old = client_cert(&env, "ops-tls", "admin");
    let api = Api::start(&env);
    api.ok(Auth::Cert(&old), "GET", "/v1/hosts", None);
    // No host waits for the new root: one step rotates and retires the old root.
    let out = env.ok(&["ca", "rotate"]);
    assert!(out.contains("retired"), "{out}");
    let trusted = env.json(&["trust", "list", "--output", "json"]);
    assert_eq!(trusted.as_array().unwrap().len(), 1, "{trusted}");
    // Still in the credential table, neither revoked nor expired: refused all the same.
    let listed = env.json(&["admin", "credential", "list", "--output", "json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "ops-tls" && c["revoked_at"].is_null()));
    for (method, path) in [("GET", "/v1/hosts"), ("GET", "/v1/ca")] {
        let r = api.call(Auth::Cert(&old), method, path, None);
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
        assert!(
            r.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("no longer trusts")),
            "{}",
            r.text
        );
    }
    // One issued by the new root is accepted.
    let new = client_cert(&env, "ops-tls2", "admin");
    api.ok(Auth::Cert(&new), "GET", "/v1/hosts", None);
    assert!(api_audit(&env)
        .iter()
        .any(|l| l.starts_with("ops-tls: GET /v1/hosts -> 403 forbidden; via client-cert")));
}

#[test]
fn failed_authentications_are_rate_limited_per_address_and_valid_credentials_never() {
    let env = Env::new();
    init(&env);
    let ops = token(&env, "ops", "admin");
    let api = Api::start(&env);
    let forged = format!("cha1_{}", "cd".repeat(32));
    // Ten failures within a minute are answered as they are...
    for i in 0..10 {
        let path = if i % 2 == 0 {
            "/v1/hosts"
        } else {
            "/v1/alarms"
        };
        let r = api.call(Auth::Bearer(&forged), "GET", path, None);
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{i}: {}", r.text);
    }
    // ...the next ones 429 with a code, a message and Retry-After, a login's too.
    let r = api.call(Auth::Bearer(&forged), "GET", "/v1/hosts", None);
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_refusals"),
        "{}",
        r.text
    );
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let retry: u64 = r
        .text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Retry-After: {}", r.text))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let login = api.json(
        Auth::None,
        "POST",
        "/console/login",
        json!({ "token": forged }),
    );
    assert_eq!(
        (login.status, login.code()),
        (429, "too_many_refusals"),
        "{}",
        login.text
    );
    assert!(!login.text.to_ascii_lowercase().contains("set-cookie"));
    // A valid credential from the same address is never refused for them...
    for _ in 0..20 {
        api.ok(Auth::Bearer(&ops), "GET", "/v1/hosts", None);
    }
    let login = api.json(
        Auth::None,
        "POST",
        "/console/login",
        json!({ "token": ops }),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    // ...while no credential at all counts as a failure too: 429.
    let r = api.call(Auth::None, "GET", "/v1/hosts", None);
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_refusals"),
        "{}",
        r.text
    );
    // The first refusals have a row each; the rest are counted, to be written as one row
    // when the interval closes (see server_limits.rs), not a row per request.
    let refused = api_audit(&env)
        .iter()
        .filter(|l| l.starts_with("-: "))
        .count();
    assert_eq!(refused, 5, "{:#?}", api_audit(&env));
}

/// Bodies and requests the black-box tester found accepted or answered wrongly: each is
/// refused with a status and a `{code, message}` body, and changes nothing.
#[test]
fn request_shapes_the_openapi_document_does_not_allow_are_refused() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let api = Api::start(&env);
    let a = Auth::Bearer(&admin);

    // A common name over RFC 5280's 64 characters: 422 unprocessable, naming the limit.
    let long = api.json(
        a,
        "POST",
        "/v1/certificates",
        serde_json::json!({"store": "web", "alias": "x", "profile": "service",
            "common_name": "c".repeat(5000), "names": ["x.example.test"]}),
    );
    assert_eq!(
        (long.status, long.code()),
        (422, "unprocessable"),
        "{}",
        long.text
    );
    assert!(
        long.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("5000 characters") && m.contains("64")),
        "{}",
        long.text
    );
    // An empty common name: 422 too (RFC 5280's common name is 1 to 64 characters).
    let empty = api.json(
        a,
        "POST",
        "/v1/certificates",
        serde_json::json!({"store": "web", "alias": "x", "profile": "service",
            "common_name": "", "names": ["x.example.test"]}),
    );
    assert_eq!(
        (empty.status, empty.code()),
        (422, "unprocessable"),
        "{}",
        empty.text
    );
    assert!(
        empty.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("empty") && m.contains("1 to 64")),
        "{}",
        empty.text
    );
    // Nothing was issued: the store was not even made.
    let listed = api.call(a, "GET", "/v1/certificates?store=web", None);
    assert_eq!(listed.status, 404, "{}", listed.text);

    // A top-level array (serde's sequence form of the struct): refused like any shape.
    let arr = api.call(a, "POST", "/v1/hosts", Some(br#"["arr.example.com"]"#));
    assert_eq!(
        (arr.status, arr.code()),
        (400, "invalid_request"),
        "{}",
        arr.text
    );
    // The same host twice in its addresses: refused, not stored twice.
    let dup = api.json(
        a,
        "POST",
        "/v1/hosts",
        serde_json::json!({"name": "dup.example.com", "ips": ["1.2.3.4", "::1", "1.2.3.4"]}),
    );
    assert_eq!(
        (dup.status, dup.code()),
        (422, "unprocessable"),
        "{}",
        dup.text
    );
    assert!(dup.text.contains("1.2.3.4 is given twice"), "{}", dup.text);
    // An IP address is not a host name: refused 400, and by the CLI with one line.
    let ip_name = api.json(
        a,
        "POST",
        "/v1/hosts",
        serde_json::json!({"name": "127.0.0.9", "ips": ["127.0.0.9"]}),
    );
    assert_eq!(
        (ip_name.status, ip_name.code()),
        (400, "invalid_request"),
        "{}",
        ip_name.text
    );
    assert!(
        ip_name.text.contains("is an IP address, not a host name"),
        "{}",
        ip_name.text
    );
    let cli = env.run(&["host", "add", "127.0.0.9", "--ip", "127.0.0.9"]);
    assert_ne!(cli.code, 0);
    assert_eq!(cli.stderr.trim().lines().count(), 1, "{}", cli.stderr);
    assert!(
        cli.stderr.contains("is an IP address, not a host name"),
        "{}",
        cli.stderr
    );
    // A body not sent as JSON: 415 with a code, whatever it holds.
    let body = r#"{"name":"form.example.com"}"#;
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        None,
    ] {
        let header = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        let text = common::raw(
            &api.addr,
            &format!(
                "POST /v1/hosts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(
            text.starts_with("HTTP/1.1 415") && text.contains(r#""code":"unsupported_media_type""#),
            "{content_type:?}: {text}"
        );
    }
    // The console's login likewise, even with a valid token: 415, no session.
    let login = format!(r#"{{"token":"{admin}"}}"#);
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let text = common::raw(
            &api.addr,
            &format!(
                "POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}",
                login.len()
            ),
        );
        assert!(
            text.starts_with("HTTP/1.1 415") && text.contains(r#""code":"unsupported_media_type""#),
            "{content_type}: {text}"
        );
        assert!(!text.to_ascii_lowercase().contains("set-cookie"), "{text}");
    }
    // With a charset, JSON it is.
    let text = common::raw(
        &api.addr,
        &format!(
            "POST /v1/hosts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let hosts = api.ok(a, "GET", "/v1/hosts", None);
    let names: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["form.example.com"], "{hosts}");
    // The OpenAPI document says so where a body is taken.
    let doc = api.ok(Auth::None, "GET", "/v1/openapi.json", None);
    assert!(doc["paths"]["/v1/hosts"]["post"]["responses"]["415"].is_object());
}

/// HTTP details: the bearer scheme in any case; HEAD wherever GET is served (the admin
/// API, the CRL on both listeners); another method on the CRL's path is 405, not 404.
#[test]
fn head_is_get_without_a_body_and_the_bearer_scheme_has_no_case() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let crl_addr = format!("127.0.0.1:{}", common::free_port());
    let _server = common::Killed::new(
        env.cmd(&[
            "server",
            "--listen",
            &addr,
            "--crl-listen",
            &crl_addr,
            "--evaluate-every",
            "1h",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err()
        || std::net::TcpStream::connect(&crl_addr).is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let request = |method: &str, path: &str, auth: &str| {
        common::raw(
            &addr,
            &format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    let plain = |request: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&crl_addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = request(
            "GET",
            "/v1/hosts",
            &format!("Authorization: {scheme} {admin}\r\n"),
        );
        assert!(r.starts_with("HTTP/1.1 200"), "{scheme}: {r}");
    }
    let head = request(
        "HEAD",
        "/v1/hosts",
        &format!("Authorization: Bearer {admin}\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {head:?}"
    );
    // HEAD is a read: it needs a credential like GET.
    let r = request("HEAD", "/v1/hosts", "");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    // The OpenAPI document and the console's files answer HEAD too.
    for path in ["/v1/openapi.json", "/", "/console/console.js"] {
        let r = request("HEAD", path, "");
        assert!(r.starts_with("HTTP/1.1 200"), "{path}: {r}");
        assert!(r.ends_with("\r\n\r\n"), "{path}: {r:?}");
    }
    let r = request(
        "PATCH",
        "/v1/hosts",
        &format!("Authorization: Bearer {admin}\r\n"),
    );
    assert!(
        r.starts_with("HTTP/1.1 405") && r.contains("GET, HEAD, POST"),
        "{r}"
    );

    for (what, r) in [
        ("TLS", request("HEAD", "/crl/ca.crl", "")),
        (
            "plain",
            plain("HEAD /crl/ca.crl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ),
    ] {
        assert!(r.starts_with("HTTP/1.1 200"), "{what}: {r}");
        assert!(
            r.to_ascii_lowercase().contains("application/pkix-crl"),
            "{what}: {r}"
        );
        assert!(
            r.ends_with("\r\n\r\n"),
            "{what}: a HEAD answer has no body: {r:?}"
        );
    }
    for (what, r) in [
        ("TLS", request("POST", "/crl/ca.crl", "Content-Length: 0\r\n")),
        (
            "plain",
            plain("POST /crl/ca.crl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        ),
    ] {
        assert!(
            r.starts_with("HTTP/1.1 405")
                && r.to_ascii_lowercase().contains("allow: get, head")
                && r.contains(r#""code":"method_not_allowed""#),
            "{what}: {r}"
        );
    }
    // Elsewhere on the plain listener: still not found.
    let r = plain("GET /v1/hosts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

/// `GET /v1/key-providers`: each provider with the health of each KMIP server, as
/// `key-provider status` checks it: no client certificate yet, then no server
/// certificate trusted yet; a reader may read it.
#[test]
fn key_providers_report_the_health_of_each_server() {
    let env = Env::new();
    init(&env);
    let reader = token(&env, "dashboard", "reader");
    let api = Api::start(&env);
    let r = Auth::Bearer(&reader);
    assert_eq!(api.ok(r, "GET", "/v1/key-providers", None), json!([]));
    let kms = format!("127.0.0.1:{}", common::free_port());
    env.ok(&[
        "key-provider",
        "create",
        "kms",
        "--primary-key-id",
        "4f1c",
        "--server",
        &kms,
    ]);
    let answer = api.ok(r, "GET", "/v1/key-providers", None);
    assert_eq!(answer[0]["name"], "kms");
    assert_eq!(answer[0]["primary_key_id"], "4f1c");
    assert_eq!(answer[0]["health"], "ERROR");
    assert_eq!(answer[0]["servers"][0]["address"], kms.as_str());
    assert_eq!(answer[0]["servers"][0]["status"], "failed");
    assert_eq!(
        answer[0]["servers"][0]["detail"],
        "failed: no client certificate yet"
    );
    env.ok(&["key-provider", "client-cert", "new", "kms"]);
    let answer = api.ok(r, "GET", "/v1/key-providers", None);
    assert_eq!(answer[0]["health"], "ERROR");
    assert_eq!(
        answer[0]["servers"][0]["status"],
        "server-certificate-not-trusted"
    );
}

/// The admin API's renew takes the home's renewal lock as `cert renew` does: while a run
/// on the home holds it, the call is refused 409 naming the holder and changes nothing;
/// once it is free, the same call renews.
#[test]
fn the_admin_renew_takes_the_homes_lock_and_is_refused_while_a_run_holds_it() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let a = Auth::Bearer(&admin);
    let api = Api::start(&env);
    let issued = api.ok(
        a,
        "POST",
        "/v1/certificates",
        Some(json!({"store": "web", "alias": "site", "profile": "service", "names": ["site.example.test"]})),
    );
    let serial = issued["certificate"]["serial"].clone();

    // A bulk run on the home, as `certherd cert renew --all` holds the lock.
    let path = env.home().join("certherd.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.lock().unwrap();
    (&file)
        .write_all(b"4242 1800000000 cert renew --all\n")
        .unwrap();
    let busy = api.call(a, "POST", "/v1/certificates/web/site/renew", None);
    assert_eq!(
        (busy.status, busy.code()),
        (409, "conflict"),
        "{}",
        busy.text
    );
    assert!(
        busy.body["message"]
            .as_str()
            .unwrap()
            .contains("`certherd cert renew --all` (pid 4242)"),
        "{}",
        busy.text
    );
    let shown = api.ok(a, "GET", "/v1/certificates/web/site", None);
    assert_eq!(shown["certificate"]["serial"], serial, "nothing changed");

    drop(file);
    let renewed = api.ok(a, "POST", "/v1/certificates/web/site/renew", None);
    assert_ne!(renewed["certificate"]["serial"], serial);
}

/// `POST /v1/certificates/batch`: the certificates issued in the order asked; past 1,000
/// requests, or with an entry that exists, refused whole in one line and nothing issued.
#[test]
fn a_batch_is_issued_whole_or_not_at_all_and_bounded() {
    let env = Env::new();
    init(&env);
    let admin = token(&env, "ops", "admin");
    let api = Api::start(&env);
    let a = Auth::Bearer(&admin);
    let req = |alias: &str| json!({"store": "bulk", "alias": alias, "profile": "service"});
    let done = api.ok(
        a,
        "POST",
        "/v1/certificates/batch",
        Some(json!({"requests": [req("b1"), req("b2")]})),
    );
    let issued = done["issued"].as_array().unwrap();
    assert_eq!(issued.len(), 2, "{done}");
    assert_eq!(issued[0]["certificate"]["alias"], "b1");
    assert_eq!(issued[1]["certificate"]["alias"], "b2");
    let count = || {
        env.json(&["cert", "list", "--store", "bulk", "--output", "json"])
            .as_array()
            .unwrap()
            .len()
    };
    // b2 exists: b3 is not issued either.
    let r = api.json(
        a,
        "POST",
        "/v1/certificates/batch",
        json!({"requests": [req("b3"), req("b2")]}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"), "{}", r.text);
    assert_eq!(count(), 2);
    // Past the bound (short aliases, under the body limit), and none at all.
    let many: Vec<Value> = (0..1001).map(|i| req(&format!("m{i}"))).collect();
    for requests in [many, vec![]] {
        let r = api.json(
            a,
            "POST",
            "/v1/certificates/batch",
            json!({ "requests": requests }),
        );
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.text);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("'requests' must be from 1 to 1000"),
            "{}",
            r.text
        );
    }
    assert_eq!(count(), 2);
}
