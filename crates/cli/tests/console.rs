//! The web console against the real server: its page and files with a strict content
//! security policy; a bearer token logging in for a session cookie; the admin API taking
//! the cookie, refusing a change without the session's CSRF token or from another site,
//! and forgetting the session at logout; and, in headless Chromium (driven over the
//! DevTools protocol on a pipe), a user logging in, seeing a host, renewing a
//! certificate, revoking the host's certificate and seeing the alarm, with screenshots
//! (`CERTHERD_CONSOLE_SHOTS=docs` writes them into docs/src/images/console-*.png, which the
//! book's console page shows; otherwise into a temporary directory, leaving the checkout as it was).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "../../tls/tests/peers/lifeline.rs"]
mod lifeline;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Killed};
use serde_json::{json, Value};

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// One request over its own TLS connection, with `headers` and an optional JSON body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    http_as(None, addr, method, path, headers, body)
}

/// [`http`], presenting `identity` as the client certificate.
fn http_as(
    identity: Option<&certherd_tls::Identity>,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut tls = certherd_tls::connect(
        &certherd_tls::Endpoint {
            address: addr.into(),
            proxy: None,
            timeout: Duration::from_secs(10),
            server_name: None,
            starttls: None,
        },
        std::sync::Arc::new(certherd_tls::RecordingVerifier::default()),
        identity,
    )
    .unwrap();
    tls.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tls, &mut out);
    let raw = String::from_utf8_lossy(&out).into_owned();
    let (top, text) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = top.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: serde_json::from_str(text).unwrap_or(Value::Null),
        text: text.to_owned(),
    }
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

/// Logs in with `token`: the cookie header to send and the CSRF token.
fn login(addr: &str, token: &str) -> (String, String) {
    let a = http(
        addr,
        "POST",
        "/console/login",
        &[],
        Some(json!({ "token": token })),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    let set = a.header("set-cookie").unwrap().to_owned();
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(
        cookie.starts_with("certherd_session=") && cookie.len() > 60,
        "{cookie}"
    );
    (cookie, a.body["csrf_token"].as_str().unwrap().to_owned())
}

/// The cookie header with `extra` headers.
fn with<'a>(cookie: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Cookie", cookie)];
    h.extend_from_slice(extra);
    h
}

#[test]
fn console_sessions_need_their_csrf_token_and_end_at_logout() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let ops = token(&env, "ops", "admin");
    let auditor = token(&env, "auditor", "reader");
    let leaver = token(&env, "leaver", "admin");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = common::start_server(&env, &addr);

    // The page and its files, under a policy that loads nothing from elsewhere.
    let page = http(&addr, "GET", "/", &[], None);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(page
        .text
        .contains("<script src=\"/console/console.js\"></script>"));
    for (path, kind) in [
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let f = http(&addr, "GET", path, &[], None);
        assert_eq!(f.status, 200, "{path}");
        assert!(
            f.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
    }

    // No cookie: 401, for the API and the console alike.
    for path in ["/v1/hosts", "/console/session", "/console/timeline.svg"] {
        let a = http(&addr, "GET", path, &[], None);
        assert_eq!(
            (a.status, a.code()),
            (401, "unauthenticated"),
            "{path}: {}",
            a.text
        );
    }
    // A wrong token opens nothing.
    let a = http(
        &addr,
        "POST",
        "/console/login",
        &[],
        Some(json!({"token": "certherd-admin-00"})),
    );
    assert!(a.status == 401 || a.status == 403, "{}", a.text);
    assert!(a.header("set-cookie").is_none());

    let (cookie, csrf) = login(&addr, &ops);
    let who = http(&addr, "GET", "/console/session", &with(&cookie, &[]), None);
    assert_eq!(who.status, 200, "{}", who.text);
    assert_eq!(
        (
            who.body["name"].as_str(),
            who.body["role"].as_str(),
            who.body["via"].as_str()
        ),
        (Some("ops"), Some("admin"), Some("session"))
    );
    assert_eq!(who.body["csrf_token"].as_str(), Some(csrf.as_str()));
    // Reads need only the cookie.
    let list = http(&addr, "GET", "/v1/certificates", &with(&cookie, &[]), None);
    assert_eq!(list.status, 200, "{}", list.text);
    let svg = http(
        &addr,
        "GET",
        "/console/timeline.svg",
        &with(&cookie, &[]),
        None,
    );
    assert_eq!(svg.status, 200);
    assert!(svg.text.starts_with("<svg id=\"timeline\""), "{}", svg.text);

    // A change with the cookie but without its CSRF token, or another's, or from another
    // site: 403 csrf_refused, and nothing changes.
    let add = |name: &str| json!({ "name": name, "ips": ["10.0.0.9"] });
    let other_site = [
        ("X-CSRF-Token", csrf.as_str()),
        ("Origin", "https://evil.example"),
    ];
    for (headers, why) in [
        (with(&cookie, &[]), "no token"),
        (with(&cookie, &[("X-CSRF-Token", "0123")]), "a wrong token"),
        (with(&cookie, &other_site), "another site"),
        (
            with(
                &cookie,
                &[
                    ("X-CSRF-Token", csrf.as_str()),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
            ),
            "cross-site fetch",
        ),
    ] {
        let a = http(
            &addr,
            "POST",
            "/v1/hosts",
            &headers,
            Some(add("esx9.example.test")),
        );
        assert_eq!(
            (a.status, a.code()),
            (403, "csrf_refused"),
            "{why}: {}",
            a.text
        );
    }
    let hosts = http(&addr, "GET", "/v1/hosts", &with(&cookie, &[]), None);
    assert_eq!(hosts.body, json!([]), "nothing was added");
    // With it: done, in the audit log as the credential that logged in, via the session.
    let a = http(
        &addr,
        "POST",
        "/v1/hosts",
        &with(
            &cookie,
            &[
                ("X-CSRF-Token", csrf.as_str()),
                ("Origin", &format!("https://{addr}")),
            ],
        ),
        Some(add("esx9.example.test")),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body["token"].as_str().is_some());
    let audit = http(
        &addr,
        "GET",
        "/v1/audit?limit=1000",
        &[("Authorization", &format!("Bearer {ops}"))],
        None,
    );
    let details: Vec<String> = audit.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["subject"].as_str().unwrap_or(""),
                r["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    let seen = |needle: &str| details.iter().any(|d| d.contains(needle));
    assert!(
        seen("POST /v1/hosts -> 200; via console-session"),
        "{details:#?}"
    );
    assert!(
        seen("POST /v1/hosts -> 403 csrf_refused; via console-session"),
        "{details:#?}"
    );
    assert!(seen("POST /console/login -> 200"), "{details:#?}");

    // A reader's session reads, and its changes are refused reader_only.
    let (rc, rcsrf) = login(&addr, &auditor);
    let a = http(&addr, "GET", "/v1/hosts", &[("Cookie", &rc)], None);
    assert_eq!(a.status, 200);
    let a = http(
        &addr,
        "POST",
        "/v1/hosts",
        &[("Cookie", &rc), ("X-CSRF-Token", &rcsrf)],
        Some(add("esx8.example.test")),
    );
    assert_eq!((a.status, a.code()), (403, "reader_only"), "{}", a.text);

    // A session's credential revoked: the session is refused at once, by the console's
    // own endpoints too, and ended.
    let (lc, _) = login(&addr, &leaver);
    let a = http(&addr, "GET", "/console/session", &[("Cookie", &lc)], None);
    assert_eq!(a.status, 200, "{}", a.text);
    env.ok(&["admin", "credential", "revoke", "leaver"]);
    let a = http(&addr, "GET", "/console/session", &[("Cookie", &lc)], None);
    assert_eq!(
        (a.status, a.code()),
        (401, "credential_revoked"),
        "{}",
        a.text
    );
    assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));
    // Ended: the cookie names no session any more.
    for path in ["/console/session", "/console/timeline.svg", "/v1/hosts"] {
        let a = http(&addr, "GET", path, &[("Cookie", &lc)], None);
        assert_eq!(
            (a.status, a.code()),
            (401, "unauthenticated"),
            "{path}: {}",
            a.text
        );
    }
    // The API with the cookie of a second session of the revoked credential: refused
    // by name, audited, and that session ended too.
    let (lc2, _) = {
        let leaver2 = token(&env, "leaver2", "admin");
        let opened = login(&addr, &leaver2);
        env.ok(&["admin", "credential", "revoke", "leaver2"]);
        opened
    };
    let a = http(&addr, "GET", "/v1/hosts", &[("Cookie", &lc2)], None);
    assert_eq!(
        (a.status, a.code()),
        (401, "credential_revoked"),
        "{}",
        a.text
    );
    let a = http(&addr, "GET", "/console/session", &[("Cookie", &lc2)], None);
    assert_eq!((a.status, a.code()), (401, "unauthenticated"), "{}", a.text);

    // Logout needs the CSRF token, clears the cookie and ends the session.
    let a = http(&addr, "POST", "/console/logout", &with(&cookie, &[]), None);
    assert_eq!((a.status, a.code()), (403, "csrf_refused"), "{}", a.text);
    let a = http(
        &addr,
        "POST",
        "/console/logout",
        &with(&cookie, &[("X-CSRF-Token", csrf.as_str())]),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));
    for path in ["/v1/hosts", "/console/session"] {
        let a = http(&addr, "GET", path, &with(&cookie, &[]), None);
        assert_eq!(
            (a.status, a.code()),
            (401, "unauthenticated"),
            "{path}: {}",
            a.text
        );
    }
    let a = http(
        &addr,
        "POST",
        "/v1/hosts",
        &with(&cookie, &[("X-CSRF-Token", csrf.as_str())]),
        Some(add("esx7.example.test")),
    );
    assert_eq!((a.status, a.code()), (401, "unauthenticated"), "{}", a.text);
    // A bearer token is no cookie: it needs no CSRF token (it cannot be sent by another site).
    let a = http(
        &addr,
        "GET",
        "/v1/hosts",
        &[("Authorization", &format!("Bearer {ops}"))],
        None,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.text);
}

/// An admin client certificate written by the CLI, as a TLS identity.
fn client_cert(env: &Env, name: &str, role: &str) -> certherd_tls::Identity {
    let out = env.path(&format!("{name}.pem"));
    let path = out.to_str().unwrap();
    env.ok(&[
        "admin",
        "credential",
        name,
        "--role",
        role,
        "--client-cert",
        "--out",
        path,
    ]);
    let pem = std::fs::read(&out).unwrap();
    let key = certherd_x509::parse_private_key(&pem).unwrap();
    certherd_tls::Identity {
        chain: certherd_x509::parse_certificates(&pem).unwrap(),
        key: pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
    }
}

#[test]
fn a_browsers_client_certificate_is_the_consoles_credential_and_other_sites_cannot_use_it() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let admin = client_cert(&env, "desk", "admin");
    let reader = client_cert(&env, "viewer", "reader");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _server = common::start_server(&env, &addr);
    // The console asks who it is: the certificate's credential, no session, no CSRF token.
    let who = http_as(Some(&admin), &addr, "GET", "/console/session", &[], None);
    assert_eq!(who.status, 200, "{}", who.text);
    assert_eq!(
        (
            who.body["name"].as_str(),
            who.body["role"].as_str(),
            who.body["via"].as_str()
        ),
        (Some("desk"), Some("admin"), Some("client-cert"))
    );
    assert_eq!(who.body["csrf_token"], Value::Null);
    let who = http_as(Some(&reader), &addr, "GET", "/console/session", &[], None);
    assert_eq!(who.body["role"].as_str(), Some("reader"), "{}", who.text);
    // The browser sends the certificate along with a forged request from another site:
    // refused by its Origin or Sec-Fetch-Site; from the console's own page, done.
    let body = || Some(json!({"name": "esx5.example.test"}));
    for forged in [
        [
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        [("Origin", "null"), ("X-Other", "1")],
    ] {
        let a = http_as(Some(&admin), &addr, "POST", "/v1/hosts", &forged, body());
        assert_eq!((a.status, a.code()), (403, "csrf_refused"), "{}", a.text);
    }
    let own = format!("https://{addr}");
    let a = http_as(
        Some(&admin),
        &addr,
        "POST",
        "/v1/hosts",
        &[("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
        body(),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    // Clients other than browsers (the remote CLI) send neither header.
    let a = http_as(
        Some(&admin),
        &addr,
        "DELETE",
        "/v1/hosts/esx5.example.test",
        &[],
        None,
    );
    assert_eq!(a.status, 200, "{}", a.text);
}

// ---------------------------------------------------------------------------------------
// Headless Chromium over the DevTools protocol (`--remote-debugging-pipe`: JSON messages
// separated by NUL on file descriptors 3 and 4, no WebSocket, nothing to install).

fn chromium() -> std::path::PathBuf {
    std::env::var_os("CERTHERD_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), Into::into)
}

/// A headless Chromium and the page it is attached to; the whole process group is killed
/// when it drops (and by the lifeline if the test process dies).
struct Browser {
    child: std::process::Child,
    lifeline: lifeline::Lifeline,
    to: std::process::ChildStdin,
    from: std::sync::mpsc::Receiver<Value>,
    next: u64,
    session: Option<String>,
    /// Events seen (console messages, log entries).
    events: Vec<Value>,
    log: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.lifeline.signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start(env: &Env) -> Self {
        let log = env.path("chromium.log");
        let profile = env.path("chromium-profile");
        let mut child = Command::new("sh")
            .arg("-c")
            // The protocol on fds 3 (to Chromium) and 4 (from it): our stdin and stdout.
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>/dev/null")
            .arg(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (.ci/run installs Debian's chromium)",
                    chromium().display()
                )
            });
        let lifeline = lifeline::Lifeline::new(child.id()).unwrap();
        let to = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, from) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            loop {
                let mut msg = Vec::new();
                match r.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        msg.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&msg) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut b = Self {
            child,
            lifeline,
            to,
            from,
            next: 0,
            session: None,
            events: Vec::new(),
            log,
        };
        let _ = b.call(
            "Security.setIgnoreCertificateErrors",
            json!({"ignore": true}),
        );
        let target =
            b.call("Target.createTarget", json!({"url": "about:blank"}))["targetId"].clone();
        let session = b.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        b.session = Some(session);
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            b.call(m, json!({}));
        }
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// One command; its result (events arriving meanwhile are kept).
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        self.to.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "Chromium did not answer {method}; its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            });
            if v["id"] == json!(id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
            self.events.push(v);
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params.clone())
            .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits (up to 30s) until `expr` is true in the page.
    fn wait(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.eval(expr) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "{what}: never true: {expr}; the page shows: {}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// A PNG of the page, checked, written to the screenshot directory as NAME.
    fn screenshot(&mut self, name: &str) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64(r["data"].as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        assert!(
            png.len() > 10_000,
            "{name}: {} bytes looks blank",
            png.len()
        );
        // docs/src/images/ (what the book shows) only when asked, so that a test run leaves the
        // checkout as it was: CERTHERD_CONSOLE_SHOTS=docs, or any other directory.
        let dir = match std::env::var_os("CERTHERD_CONSOLE_SHOTS") {
            Some(d) if d == "docs" => {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/images")
            }
            Some(d) => std::path::PathBuf::from(d),
            None => std::env::temp_dir().join(format!("certherd-console-{}", std::process::id())),
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

fn base64(text: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for chunk in clean.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= if c == b'=' { 0 } else { val(c) } << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// JavaScript: the `title` (full notAfter) of an inventory row's NOT AFTER cell.
fn not_after_of(entry: &str) -> String {
    format!("(document.querySelector('#inventory tr[data-entry=\"{entry}\"] td.not-after') || {{}}).title || ''")
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_in_headless_chromium() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "vc01.example.test",
        "--ip",
        "127.0.0.1",
    ]);
    let ops = token(&env, "ops", "admin");
    let auditor = token(&env, "auditor", "reader");
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "host",
        "--store",
        "web",
        "--alias",
        "portal",
        "--cn",
        "portal.example.test",
    ]);
    let addr = format!("127.0.0.1:{}", common::free_port());
    // Alarms evaluated every second, so that a revocation's alarm shows at once.
    let server = Killed::new(
        env.cmd(&["server", "--listen", &addr, "--evaluate-every", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "server did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A host joins (an agent home of its own).
    let host = "esx1.example.test";
    let v = env.json(&["host", "add", host, "--ip", "127.0.0.1", "--output", "json"]);
    let agent = env.path("agent-esx1");
    let r = common::run_at(
        &agent,
        &[
            "agent",
            "join",
            "--server",
            &format!("https://{addr}"),
            "--token",
            v["token"].as_str().unwrap(),
            "--ca-fingerprint",
            v["ca_fingerprint"].as_str().unwrap(),
            "--hostname",
            host,
            "--ip",
            "127.0.0.1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut b = Browser::start(&env);
    let url = format!("https://{addr}/");
    // 1. The login form.
    b.navigate(&url);
    b.wait(
        "the login form",
        "!!document.getElementById('login') && !document.getElementById('login').hidden",
    );
    b.screenshot("console-login.png");
    // 2. Log in with the bearer token: the inventory.
    b.eval(&format!(
        "document.getElementById('token').value = '{ops}'; document.getElementById('login-form').requestSubmit(); true"
    ));
    b.wait(
        "the inventory",
        "document.querySelectorAll('#inventory tbody tr[data-entry=\"web/portal\"]').length === 1",
    );
    assert_eq!(
        b.eval("document.getElementById('who-role').textContent"),
        json!("admin")
    );
    assert_eq!(
        b.eval("document.cookie"),
        json!(""),
        "the session cookie is HttpOnly"
    );
    b.screenshot("console-inventory.png");
    // 3. The host, with its server and pool certificates.
    b.eval("document.querySelector('#tabs [data-tab=hosts]').click(); true");
    b.wait(
        "the host",
        &format!("!!document.querySelector('#hosts tr[data-host=\"{host}\"]')"),
    );
    let row = b.eval(&format!(
        "document.querySelector('#hosts tr[data-host=\"{host}\"]').innerText"
    ));
    let row = row.as_str().unwrap();
    assert!(
        row.contains(" d)"),
        "server and pool certificates with days left: {row}"
    );
    b.screenshot("console-hosts.png");
    // 4. Renew web/portal: the new expiry shows.
    b.eval("document.querySelector('#tabs [data-tab=inventory]').click(); true");
    b.wait(
        "the inventory again",
        &format!("({}) !== ''", not_after_of("web/portal")),
    );
    let before = b.eval(&not_after_of("web/portal"));
    // A renewal in the same second as the issue would show the same notAfter.
    std::thread::sleep(Duration::from_millis(1100));
    b.eval("document.querySelector('button.renew[data-entry=\"web/portal\"]').click(); true");
    b.wait(
        "the renewal",
        "document.getElementById('banner').textContent.startsWith('Renewed web/portal')",
    );
    let after = b.eval(&not_after_of("web/portal"));
    assert!(
        after.as_str().unwrap() > before.as_str().unwrap(),
        "{before} -> {after}"
    );
    let listed = env.json(&["cert", "list", "--store", "web", "--output", "json"]);
    assert_eq!(
        listed[0]["not_after"], after,
        "the page shows what the home holds"
    );
    b.screenshot("console-renewed.png");
    // 5. Revoke the host's certificate (keyCompromise): the alarm follows.
    let hosts_entry = format!("fleet-hosts/{host}");
    b.eval(&format!(
        "document.querySelector('button.revoke[data-entry=\"{hosts_entry}\"]').click(); true"
    ));
    b.wait(
        "the revoke form",
        "!document.getElementById('revoke-form').hidden",
    );
    b.eval("document.getElementById('revoke-reason').value = 'keyCompromise'; document.getElementById('revoke-form').requestSubmit(); true");
    b.wait(
        "the revocation",
        &format!(
            "document.getElementById('banner').textContent.startsWith('Revoked {hosts_entry}')"
        ),
    );
    b.eval("document.querySelector('#tabs [data-tab=alarms]').click(); true");
    let deadline = Instant::now() + Duration::from_secs(30);
    let alarm = format!("!!document.querySelector('#alarms tr[data-kind=\"revoked\"][data-subject=\"{hosts_entry}\"]')");
    while b.eval(&alarm) != json!(true) {
        assert!(
            Instant::now() < deadline,
            "no alarm: {}",
            b.eval("document.body.innerText")
        );
        std::thread::sleep(Duration::from_millis(500));
        b.eval("document.querySelector('#tabs [data-tab=alarms]').click(); true");
    }
    b.screenshot("console-alarms.png");
    // 6. The forecast: the report's timeline, live.
    b.eval("document.querySelector('#tabs [data-tab=forecast]').click(); true");
    b.wait(
        "the timeline",
        "document.querySelectorAll('#timeline-box svg#timeline circle').length > 0",
    );
    b.screenshot("console-forecast.png");
    // 7. Add a host: its join token is shown once.
    b.eval("document.querySelector('#tabs [data-tab=hosts]').click(); true");
    b.eval("document.getElementById('host-name').value = 'esx2.example.test'; document.getElementById('host-ips').value = '127.0.0.2'; document.getElementById('host-add-form').requestSubmit(); true");
    b.wait("the join token", "!document.getElementById('host-token').hidden && document.getElementById('host-token-command').textContent.includes('--token chj1_')");
    b.wait(
        "the new host listed",
        "!!document.querySelector('#hosts tr[data-host=\"esx2.example.test\"]')",
    );
    b.screenshot("console-host-add.png");
    b.eval("document.getElementById('host-token-done').click(); true");
    assert_eq!(
        b.eval("document.body.innerText.includes('--token')"),
        json!(false),
        "the token is gone"
    );
    // 8. Trust an enterprise root pasted as PEM.
    let enterprise = common::EnterpriseCa::new().pem();
    b.eval("document.querySelector('#tabs [data-tab=trust]').click(); true");
    b.wait(
        "the trust list",
        "document.querySelectorAll('#trust tbody tr').length === 1",
    );
    b.eval(&format!(
        "document.getElementById('trust-pem').value = {}; document.getElementById('trust-add-form').requestSubmit(); true",
        json!(enterprise)
    ));
    b.wait("the root trusted", "document.getElementById('banner').textContent.startsWith('Trusted: ') && document.querySelectorAll('#trust tbody tr').length === 2");
    b.screenshot("console-trust.png");
    // 9. Log out; a reader logs in: the actions are disabled.
    b.eval("document.getElementById('logout').click(); true");
    b.wait("logged out", "!document.getElementById('login').hidden");
    b.eval(&format!(
        "document.getElementById('token').value = '{auditor}'; document.getElementById('login-form').requestSubmit(); true"
    ));
    b.wait("the reader's inventory", "document.querySelectorAll('#inventory tbody tr').length > 0 && document.getElementById('who-role').textContent === 'reader' && [...document.querySelectorAll('button.action')].every(x => x.disabled)");
    assert_eq!(
        b.eval("[...document.querySelectorAll('button.action')].every(x => x.disabled)"),
        json!(true)
    );
    assert_eq!(
        b.eval("document.getElementById('readonly').hidden"),
        json!(false)
    );
    // Were a reader's change sent anyway, the server refuses it, and the page says so.
    b.eval("api('POST', '/v1/certificates/web/portal/renew').catch(e => banner(e.toString())).then(() => true)");
    b.wait(
        "the refusal shown",
        "document.getElementById('banner').textContent.includes('403 reader_only')",
    );
    b.screenshot("console-reader.png");
    // Nothing was refused by the content security policy.
    let csp: Vec<&Value> = b
        .events
        .iter()
        .filter(|e| {
            let t = e.to_string();
            t.contains("Content Security Policy") || t.contains("Refused to")
        })
        .collect();
    assert!(csp.is_empty(), "{csp:#?}");
    drop(b);
    drop(server);
}

// ---------------------------------------------------------------------------------------
// The pages on the admin API's other operations, one test each: audit, CRLs, CA rotation,
// fleet renew and the host actions.

/// A home with an admin (`ops`) and a reader (`auditor`), a server, and, with `host`,
/// one host joined from the agent home `agent-esx1`.
struct Stage {
    env: Env,
    _server: Killed,
    addr: String,
    ops: String,
    auditor: String,
}

const HOST: &str = "esx1.example.test";

impl Stage {
    fn new(host: bool) -> Self {
        let env = Env::new();
        env.ok(&[
            "init",
            "--hostname",
            "vc01.example.test",
            "--ip",
            "127.0.0.1",
        ]);
        let ops = token(&env, "ops", "admin");
        let auditor = token(&env, "auditor", "reader");
        let addr = format!("127.0.0.1:{}", common::free_port());
        let server = common::start_server(&env, &addr);
        let stage = Self {
            env,
            _server: server,
            addr,
            ops,
            auditor,
        };
        if host {
            let v = stage
                .env
                .json(&["host", "add", HOST, "--ip", "127.0.0.1", "--output", "json"]);
            let r = common::run_at(
                &stage.env.path("agent-esx1"),
                &[
                    "agent",
                    "join",
                    "--server",
                    &format!("https://{}", stage.addr),
                    "--token",
                    v["token"].as_str().unwrap(),
                    "--ca-fingerprint",
                    v["ca_fingerprint"].as_str().unwrap(),
                    "--hostname",
                    HOST,
                    "--ip",
                    "127.0.0.1",
                ],
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        stage
    }

    /// The host polls once.
    fn poll(&self) {
        let r = common::run_at(&self.env.path("agent-esx1"), &["agent", "run", "--once"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// A browser logged in with `token`, on `tab`.
    fn browser(&self, token: &str, tab: &str) -> Browser {
        let mut b = Browser::start(&self.env);
        b.navigate(&format!("https://{}/", self.addr));
        b.wait(
            "the login form",
            "!!document.getElementById('login') && !document.getElementById('login').hidden",
        );
        b.eval(&format!(
            "document.getElementById('token').value = '{token}'; document.getElementById('login-form').requestSubmit(); true"
        ));
        b.wait(
            "logged in",
            "!document.getElementById('app').hidden && document.getElementById('who-role').textContent !== ''",
        );
        b.tab(tab);
        b
    }
}

impl Browser {
    fn tab(&mut self, tab: &str) {
        self.eval(&format!(
            "document.querySelector('#tabs [data-tab={tab}]').click(); true"
        ));
        self.wait(
            &format!("the {tab} page"),
            &format!("!document.getElementById('page-{tab}').hidden"),
        );
    }

    fn text(&mut self, expr: &str) -> String {
        self.eval(expr).as_str().unwrap_or_default().to_owned()
    }

    fn banner_starts(&mut self, what: &str, prefix: &str) {
        self.wait(
            what,
            &format!(
                "document.getElementById('banner').textContent.startsWith({})",
                json!(prefix)
            ),
        );
    }

    /// Nothing was refused by the content security policy, and no script failed.
    fn clean(&self) {
        let bad: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| {
                let t = e.to_string();
                t.contains("Content Security Policy")
                    || t.contains("Refused to")
                    || t.contains("Runtime.exceptionThrown")
            })
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_audit_page_filters_and_pages() {
    let s = Stage::new(false);
    for alias in ["portal", "intranet"] {
        s.env.ok(&[
            "cert",
            "issue",
            "--profile",
            "host",
            "--store",
            "web",
            "--alias",
            alias,
            "--cn",
            &format!("{alias}.example.test"),
        ]);
    }
    // The server filters: by action, subject text and period, and refuses a bad period.
    let bearer = format!("Bearer {}", s.ops);
    let auth = [("Authorization", bearer.as_str())];
    let a = http(&s.addr, "GET", "/v1/audit?action=issue", &auth, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let records = a.body["records"].as_array().unwrap();
    assert!(records.len() >= 2, "{}", a.text);
    assert!(records.iter().all(|r| r["action"] == "issue"), "{}", a.text);
    assert_eq!(a.body["total"].as_u64(), Some(records.len() as u64));
    let a = http(
        &s.addr,
        "GET",
        "/v1/audit?action=issue&subject=PORTAL",
        &auth,
        None,
    );
    assert_eq!(a.body["records"].as_array().unwrap().len(), 1, "{}", a.text);
    let a = http(
        &s.addr,
        "GET",
        "/v1/audit?since=2999-01-01T00:00:00Z",
        &auth,
        None,
    );
    assert_eq!(a.body["total"].as_u64(), Some(0), "{}", a.text);
    for bad in [
        "since=yesterday",
        "since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z",
    ] {
        let a = http(&s.addr, "GET", &format!("/v1/audit?{bad}"), &auth, None);
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{bad}: {}",
            a.text
        );
    }

    let mut b = s.browser(&s.ops, "audit");
    // The newest page first.
    b.wait(
        "the audit log",
        "document.querySelectorAll('#audit tbody tr[data-action]').length > 0",
    );
    assert!(b
        .text("document.getElementById('audit-range').textContent")
        .starts_with("records "));
    // By action.
    b.eval("document.getElementById('a-action').value = 'issue'; document.getElementById('audit-filters').requestSubmit(); true");
    b.wait("the issue records", "document.querySelectorAll('#audit tbody tr[data-action]').length === 2 && [...document.querySelectorAll('#audit tbody tr[data-action]')].every(r => r.dataset.action === 'issue')");
    assert_eq!(
        b.text("document.getElementById('audit-range').textContent"),
        "records 1–2 of 2"
    );
    // And by subject text.
    b.eval("document.getElementById('a-subject').value = 'intranet'; document.getElementById('audit-filters').requestSubmit(); true");
    b.wait(
        "one record",
        "document.querySelectorAll('#audit tbody tr[data-action]').length === 1",
    );
    assert!(b
        .text("document.querySelector('#audit tbody tr').innerText")
        .contains("web/intranet"));
    b.screenshot("console-audit.png");
    // By period: nothing after a future time, everything before it.
    b.eval("document.getElementById('a-subject').value = ''; document.getElementById('a-since').value = '2999-01-01T00:00:00'; document.getElementById('audit-filters').requestSubmit(); true");
    b.wait(
        "nothing matches",
        "document.querySelector('#audit tbody tr.empty') !== null",
    );
    b.eval("document.getElementById('a-since').value = ''; document.getElementById('a-until').value = '2999-01-01T00:00:00'; document.getElementById('audit-filters').requestSubmit(); true");
    b.wait(
        "the issues before",
        "document.querySelectorAll('#audit tbody tr[data-action]').length === 2",
    );
    // Paging: 20 a page over the whole log (the console's own calls are in it; 25 more
    // calls make sure there is a second page, whatever the console has called so far).
    for _ in 0..25 {
        http(&s.addr, "GET", "/v1/hosts", &auth, None);
    }
    b.eval("document.getElementById('a-action').value = ''; document.getElementById('a-until').value = ''; document.getElementById('a-limit').value = '20'; document.getElementById('a-limit').dispatchEvent(new Event('change')); true");
    b.wait(
        "a full page",
        "document.querySelectorAll('#audit tbody tr[data-action]').length === 20",
    );
    b.eval("document.getElementById('audit-first').click(); true");
    b.wait(
        "the oldest page",
        "document.getElementById('audit-range').textContent.startsWith('records 1–20 of ')",
    );
    assert_eq!(
        b.eval("document.getElementById('audit-prev').disabled"),
        json!(true)
    );
    b.eval("document.getElementById('audit-next').click(); true");
    b.wait(
        "the second page",
        "document.getElementById('audit-range').textContent.startsWith('records 21–')",
    );
    b.clean();
    drop(b);
    // A reader reads the log.
    let mut b = s.browser(&s.auditor, "audit");
    b.wait(
        "the reader's audit log",
        "document.querySelectorAll('#audit tbody tr[data-action]').length > 0",
    );
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_crls_page_lists_and_adds() {
    let s = Stage::new(false);
    // An enterprise CA, trusted, and its CRL revoking one serial.
    let ca = common::EnterpriseCa::new();
    let ca_file = s.env.write("enterprise.pem", ca.pem());
    s.env.ok(&["trust", "add", ca_file.to_str().unwrap()]);
    let now = time::OffsetDateTime::now_utc();
    let crl = certherd_x509::crl(
        &certherd_x509::Issuer {
            cert: &ca.cert,
            key: &ca.key,
        },
        &["0badc0de"],
        1,
        now - time::Duration::minutes(5),
        now + time::Duration::days(7),
    )
    .unwrap();
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Crl, &crl);

    // The built-in CA's own CRL is trusted once published: here by `ca crl`, which
    // publishes the current one, and by the server's lifecycle loop at its first tick,
    // whenever that comes on a busy machine (a second CRL of the same CA may then be
    // listed beside it). The page reads the list when it opens: it is opened once the API
    // lists one.
    s.env
        .ok(&["ca", "crl", "--out", s.env.path("ca.crl").to_str().unwrap()]);
    let bearer = format!("Bearer {}", s.ops);
    let crls = || {
        http(
            &s.addr,
            "GET",
            "/v1/trust/crls",
            &[("Authorization", bearer.as_str())],
            None,
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while crls().body.as_array().is_none_or(Vec::is_empty) {
        assert!(
            Instant::now() < deadline,
            "the CA's own CRL is never published: {}",
            crls().text
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut b = s.browser(&s.ops, "crls");
    b.wait(
        "the CA's own CRL",
        "[...document.querySelectorAll('#crls tbody tr[data-sha256]')].some(r => r.innerText.includes('certherd CA vc01.example.test'))",
    );
    b.eval(&format!(
        "document.getElementById('crl-pem').value = {}; document.getElementById('crl-add-form').requestSubmit(); true",
        json!(pem)
    ));
    b.banner_starts("the CRL added", "Added the CRL of ");
    let row = "[...document.querySelectorAll('#crls tbody tr[data-sha256]')].find(r => r.innerText.includes('Example Corp Root'))";
    b.wait("the CRL listed", &format!("{row} !== undefined"));
    assert_eq!(
        b.text(&format!(
            "{row}.querySelector('td.revoked-count').textContent"
        )),
        "1"
    );
    // The page lists what the API lists: the CA's own CRL(s) and the one added.
    let listed = crls();
    let all = listed.body.as_array().unwrap();
    assert!(
        all.iter().any(|c| c["issuer"]
            .as_str()
            .unwrap_or("")
            .contains("Example Corp Root")),
        "{}",
        listed.text
    );
    assert!(all.len() >= 2, "{}", listed.text);
    b.screenshot("console-crls.png");
    // Garbage is refused, and the refusal shown.
    b.eval("document.getElementById('crl-pem').value = 'not a CRL'; document.getElementById('crl-add-form').requestSubmit(); true");
    b.banner_starts("the refusal", "Refused: 4");
    b.clean();
    drop(b);
    // A reader sees the list; the add button is disabled.
    let mut b = s.browser(&s.auditor, "crls");
    b.wait(
        "the reader's CRLs",
        "document.querySelectorAll('#crls tbody tr[data-sha256]').length >= 2 && [...document.querySelectorAll('#crls tbody tr[data-sha256]')].some(r => r.innerText.includes('Example Corp Root'))",
    );
    assert_eq!(
        b.eval("document.getElementById('crl-add').disabled"),
        json!(true)
    );
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_ca_rotation_page_steps_through_the_stages() {
    let s = Stage::new(true);
    let before = s.env.json(&["ca", "show", "--output", "json"]);
    let mut b = s.browser(&s.ops, "ca");
    b.wait(
        "the CA",
        "(document.querySelector('#ca tr[data-key=retiring] td') || {}).textContent === 'no rotation in progress'",
    );
    assert_eq!(
        b.text("document.querySelector('#ca tr[data-key=sha256] td').textContent"),
        before["sha256"].as_str().unwrap()
    );
    assert_eq!(
        b.text("document.getElementById('ca-rotate').textContent"),
        "Rotate: start"
    );
    // Step 1: a new CA; the host is waited for.
    b.eval("document.getElementById('ca-rotate').click(); true");
    b.banner_starts("the first step", "Rotation under way: waiting for ");
    assert!(b
        .text("document.querySelector('#ca-result tr[data-key=waiting_for] td').textContent")
        .contains(HOST));
    assert_eq!(
        b.text("document.querySelector('#ca-result tr[data-key=retired] td').textContent"),
        "no"
    );
    b.wait(
        "the rotation in progress",
        "document.querySelector('#ca-stages li.current').dataset.stage === 'waiting'",
    );
    b.screenshot("console-ca-rotation-waiting.png");
    // The host polls (fetching the new root, then renewing under it); a further step
    // reissues what the old CA issued (the host renews at its poll), and once nothing of
    // it remains, retires the old root.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        s.poll();
        b.eval("document.getElementById('banner').textContent = ''; document.getElementById('ca-rotate').click(); true");
        b.wait(
            "a step",
            "document.getElementById('banner').textContent.startsWith('Rotation ')",
        );
        if b.text("document.getElementById('banner').textContent")
            .starts_with("Rotation done")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never retired: {}",
            b.eval("document.body.innerText")
        );
    }
    assert_eq!(
        b.text("document.querySelector('#ca-result tr[data-key=retired] td').textContent"),
        "yes"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#ca-stages li.done').length"),
        json!(4)
    );
    let after = s.env.json(&["ca", "show", "--output", "json"]);
    assert_ne!(after["sha256"], before["sha256"]);
    assert_eq!(
        b.text("document.querySelector('#ca tr[data-key=sha256] td').textContent"),
        after["sha256"].as_str().unwrap()
    );
    b.screenshot("console-ca-rotation.png");
    b.clean();
    drop(b);
    // A reader sees the CA; the rotate button is disabled.
    let mut b = s.browser(&s.auditor, "ca");
    b.wait(
        "the reader's CA",
        "!!document.querySelector('#ca tr[data-key=sha256]')",
    );
    assert_eq!(
        b.eval("document.getElementById('ca-rotate').disabled"),
        json!(true)
    );
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_fleet_renew_page_follows_the_hosts() {
    let s = Stage::new(true);
    let mut b = s.browser(&s.ops, "fleet");
    b.wait(
        "the host",
        &format!("!!document.querySelector('#fleet tr[data-host=\"{HOST}\"]')"),
    );
    b.eval("document.getElementById('fleet-form').requestSubmit(); true");
    b.banner_starts(
        "the order",
        &format!("Ordered new host certificates for {HOST}"),
    );
    b.wait(
        "waiting for the host",
        &format!("document.getElementById('fleet-progress').textContent === 'Renewed 0 of 1; waiting for {HOST}.'"),
    );
    assert_eq!(
        b.text(&format!(
            "document.querySelector('#fleet tr[data-host=\"{HOST}\"] td.renewal').dataset.state"
        )),
        "waiting"
    );
    // The host polls and fetches its certificate: the page sees it without a click.
    s.poll();
    b.wait(
        "the renewal done",
        "document.getElementById('fleet-progress').textContent === 'Fleet renewal done: 1 of 1 hosts renewed.'",
    );
    assert_eq!(
        b.text(&format!(
            "document.querySelector('#fleet tr[data-host=\"{HOST}\"] td.renewal').textContent"
        )),
        "renewed"
    );
    let hosts = s.env.json(&["host", "list", "--output", "json"]);
    assert_ne!(hosts[0]["renew_pending"], json!(true), "{hosts}");
    // Following the hosts kept the order's answer shown.
    assert!(b
        .text("document.getElementById('banner').textContent")
        .starts_with("Ordered new host certificates"));
    b.screenshot("console-fleet-renew.png");
    b.clean();
    drop(b);
    let mut b = s.browser(&s.auditor, "fleet");
    b.wait(
        "the reader's hosts",
        &format!("!!document.querySelector('#fleet tr[data-host=\"{HOST}\"]')"),
    );
    assert_eq!(
        b.eval("document.getElementById('fleet-renew').disabled"),
        json!(true)
    );
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn console_host_actions_reset_refresh_and_remove_with_confirmation() {
    let s = Stage::new(true);
    let mut b = s.browser(&s.auditor, "hosts");
    b.wait(
        "the reader's host",
        &format!("!!document.querySelector('#hosts tr[data-host=\"{HOST}\"]')"),
    );
    assert_eq!(
        b.eval(&format!("[...document.querySelectorAll('#hosts button[data-host=\"{HOST}\"]')].map(x => x.disabled)")),
        json!([true, true, true]),
        "a reader's host actions are disabled"
    );
    drop(b);
    let mut b = s.browser(&s.ops, "hosts");
    let button = |cls: &str| {
        format!("document.querySelector('#hosts button.{cls}[data-host=\"{HOST}\"]').click(); true")
    };
    b.wait(
        "the host",
        &format!("!!document.querySelector('#hosts tr[data-host=\"{HOST}\"]')"),
    );
    b.eval(&button("host-reset"));
    b.banner_starts(
        "the reset ordered",
        &format!("Ordered {HOST} to reset its server certificate"),
    );
    b.eval(&button("host-refresh"));
    b.banner_starts(
        "the refresh ordered",
        &format!("Ordered {HOST} to refresh its pool-internal certificate"),
    );
    // Remove asks first; cancelling keeps the host.
    b.eval(&button("host-remove"));
    b.wait(
        "the confirmation",
        "!document.getElementById('host-remove-form').hidden",
    );
    assert_eq!(
        b.text("document.getElementById('host-remove-name').textContent"),
        HOST
    );
    b.screenshot("console-host-actions.png");
    b.eval("document.getElementById('host-remove-cancel').click(); true");
    assert_eq!(
        b.eval("document.getElementById('host-remove-form').hidden"),
        json!(true)
    );
    assert_eq!(
        s.env
            .json(&["host", "list", "--output", "json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    b.eval(&button("host-remove"));
    b.wait(
        "the confirmation again",
        "!document.getElementById('host-remove-form').hidden",
    );
    b.eval("document.getElementById('host-remove-form').requestSubmit(); true");
    b.banner_starts(
        "the removal",
        &format!("Removed {HOST}; revoked: fleet-hosts/{HOST}"),
    );
    b.wait(
        "the host gone",
        &format!("!document.querySelector('#hosts tr[data-host=\"{HOST}\"]')"),
    );
    assert_eq!(s.env.json(&["host", "list", "--output", "json"]), json!([]));
    b.clean();
}
