//! The HTTP client against real loopback peers: mutual TLS, and peers that never answer,
//! trickle, or answer 100 MB — each bounded by the client's timeouts and size limit.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certherd_tls::http::{post_json, Error, Limits, Session, Url};
use certherd_tls::{Endpoint, Identity, PinnedServer};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};
use pki_types::{CertificateDer, PrivateKeyDer};

struct Ca {
    cert: Vec<u8>,
    key: PrivateKey,
}

fn spec(cn: &str, role: Role, eku: Vec<Eku>, names: &[&str]) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: cn.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(30),
        role,
        eku,
    }
    .with_names(names.iter().copied())
    .unwrap()
}

impl Ca {
    fn new(cn: &str) -> Self {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert =
            certherd_x509::self_sign(&spec(cn, Role::Ca { path_len: None }, vec![], &[]), &key)
                .unwrap()
                .to_vec();
        Self { cert, key }
    }

    fn leaf(
        &self,
        cn: &str,
        eku: Eku,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = certherd_x509::issue(
            &spec(cn, Role::Leaf, vec![eku], names),
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &self.cert,
                key: &self.key,
            },
        )
        .unwrap();
        (
            cert,
            PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
        )
    }
}

/// Reads one request (head and Content-Length body) and returns its body.
fn read_request(r: &mut impl BufRead) -> String {
    let mut len = 0;
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        line.clear();
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

/// A plain listener whose one connection is handled by `f`.
fn plain(f: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((sock, _)) = listener.accept() {
            f(sock);
        }
    });
    url
}

fn short() -> Limits {
    Limits {
        connect: Duration::from_secs(2),
        read: Duration::from_millis(300),
        write: Duration::from_millis(300),
        deadline: Duration::from_secs(1),
        max_body: 1 << 20,
    }
}

/// The process's peak resident set, in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `post_json` of `{}` to `url` with the [`short`] limits, on a thread: its error, and how
/// long it took (printed by the caller, not asserted: on a loaded machine any bound on
/// it is flaky). Fails if it has not returned within 30 s, a bound that only stops a
/// wait for a client that never gives up.
fn post_err_within_30s(url: &str) -> (Error, Duration) {
    let url = Url::parse(url).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let r = post_json(&url, b"{}", &[], None, &short());
        let _ = tx.send((r, started.elapsed()));
    });
    let (r, took) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the client did not give up within 30 s");
    (r.unwrap_err(), took)
}

#[test]
fn a_peer_that_never_answers_times_out() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let url = plain(move |sock| {
        // Holds the connection open, silent, until the test is done.
        let _ = rx.recv();
        drop(sock);
    });
    let (e, took) = post_err_within_30s(&url);
    eprintln!("a silent peer: {e} after {took:?}");
    assert!(
        matches!(
            e,
            Error::Timeout {
                phase: "read timeout",
                ..
            }
        ),
        "{e}"
    );
    drop(tx);
}

#[test]
fn a_trickling_peer_is_cut_off_at_the_deadline() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let url = plain(move |mut sock| {
        let _ = read_request(&mut BufReader::new(sock.try_clone().unwrap()));
        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        // One byte every 50 ms: each read is quick, the whole answer never is.
        while rx.recv_timeout(Duration::from_millis(50)).is_err() {
            if sock.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let (e, took) = post_err_within_30s(&url);
    eprintln!("a trickling peer: {e} after {took:?}");
    assert!(
        matches!(
            e,
            Error::Timeout {
                phase: "answer deadline",
                ..
            }
        ),
        "{e}"
    );
    drop(tx);
}

#[test]
fn a_100_mb_answer_is_refused_without_buffering_it() {
    let before = peak_rss_kb();
    for announced in [true, false] {
        let url = plain(move |mut sock| {
            let _ = read_request(&mut BufReader::new(sock.try_clone().unwrap()));
            let head = if announced {
                "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
            };
            let _ = sock.write_all(head.as_bytes());
            let block = vec![b'a'; 1 << 20];
            for _ in 0..100 {
                if sock.write_all(&block).is_err() {
                    break;
                }
            }
        });
        let (e, took) = post_err_within_30s(&url);
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    part: "body",
                    limit: 1048576,
                    ..
                }
            ),
            "announced={announced}: {e}"
        );
        eprintln!("announced={announced}: refused after {took:?}");
    }
    let grown = peak_rss_kb().saturating_sub(before);
    eprintln!("peak RSS grew by {grown} kB for two 100 MB answers");
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} kB");
}

#[test]
fn a_refused_port_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let e = post_json(&Url::parse(&url).unwrap(), b"{}", &[], None, &short()).unwrap_err();
    assert!(
        matches!(e, Error::Connect(certherd_tls::Error::Unreachable { .. })),
        "{e}"
    );
}

/// An HTTPS server requiring a client certificate from `client_ca`, answering each
/// request with 200 and `{"echo": BODY}`.
fn https(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>, client_ca: &Ca) -> String {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(client_ca.cert.clone()))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for sock in listener.incoming().take(2) {
            let Ok(mut sock) = sock else { continue };
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            let body = read_request(&mut BufReader::new(&mut tls));
            let answer = format!("{{\"echo\": {body}}}");
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            let _ = tls.flush();
        }
    });
    addr
}

#[test]
fn json_over_mutual_tls_by_url_and_over_an_established_stream() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let (scert, skey) = server_ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
    let (ccert, ckey) = client_ca.leaf("client", Eku::ClientAuth, &[]);
    let id = Identity {
        chain: vec![ccert],
        key: ckey,
    };
    let addr = https(scert.clone(), skey, &client_ca);
    // By URL, trusting the server's CA.
    let url = Url::parse(&format!("https://{addr}/v1/x")).unwrap();
    let anchors = [CertificateDer::from(server_ca.cert.clone())];
    let r = post_json(&url, br#"{"a":1}"#, &anchors, Some(&id), &short()).unwrap();
    assert!(r.is_success());
    assert_eq!(r.body, br#"{"echo": {"a":1}}"#);
    // Over a session the caller opened with its own (pinned) verifier, as the agent does.
    let endpoint = Endpoint {
        address: addr.clone(),
        proxy: None,
        timeout: Duration::from_secs(2),
        server_name: None,
        starttls: None,
    };
    let s = Session::open(&endpoint, PinnedServer::new(vec![scert]), Some(&id)).unwrap();
    let r = s
        .post_json("127.0.0.1", "/v1/y", b"[2]", &Limits::default())
        .unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &br#"{"echo": [2]}"#[..])
    );
}

#[test]
fn an_untrusted_https_server_is_refused() {
    let server_ca = Ca::new("server CA");
    let other = Ca::new("other CA");
    let (scert, skey) = server_ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
    let addr = https(scert, skey, &server_ca);
    let url = Url::parse(&format!("https://{addr}/")).unwrap();
    let e = post_json(
        &url,
        b"{}",
        &[CertificateDer::from(other.cert.clone())],
        None,
        &short(),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Connect(certherd_tls::Error::ServerNotTrusted(_))),
        "{e}"
    );
}

/// A server reached by a name its certificate does not hold: a name mismatch naming the
/// address, the names it holds as written, and the name asked for, with no Debug text.
#[test]
fn a_name_mismatch_reads_plainly() {
    let server_ca = Ca::new("server CA");
    let (scert, skey) = server_ca.leaf(
        "srv1.example.com",
        Eku::ServerAuth,
        &["srv1.example.com", "127.0.0.1"],
    );
    let addr = https(scert, skey, &server_ca);
    let port = addr.rsplit(':').next().unwrap();
    let url = Url::parse(&format!("https://localhost:{port}/")).unwrap();
    let e = post_json(
        &url,
        b"{}",
        &[CertificateDer::from(server_ca.cert.clone())],
        None,
        &short(),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Connect(certherd_tls::Error::NameMismatch { .. })),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!(
            "localhost:{port} presents a certificate for srv1.example.com, 127.0.0.1, not localhost"
        )),
        "{e}"
    );
}

/// A client certificate the server does not accept: TLS 1.3 refuses it after the
/// client's side of the handshake ended, so the refusal comes with the answer, as an I/O
/// error the TLS crate classifies (the agent relies on it to tell a refused host).
#[test]
fn a_refused_client_certificate_is_told_apart() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let other = Ca::new("other CA");
    let (scert, skey) = server_ca.leaf("127.0.0.1", Eku::ServerAuth, &["127.0.0.1"]);
    let (ccert, ckey) = other.leaf("intruder", Eku::ClientAuth, &[]);
    let id = Identity {
        chain: vec![ccert],
        key: ckey,
    };
    let addr = https(scert.clone(), skey, &client_ca);
    let endpoint = Endpoint {
        address: addr,
        proxy: None,
        timeout: Duration::from_secs(2),
        server_name: None,
        starttls: None,
    };
    let e = match Session::open(&endpoint, PinnedServer::new(vec![scert]), Some(&id)) {
        // TLS 1.2 refuses within the handshake.
        Err(e) => e,
        Ok(s) => match s.post_json("127.0.0.1", "/v1/y", b"[]", &short()) {
            Err(Error::Io { source, .. }) => certherd_tls::Error::from_io(source),
            other => panic!("{other:?}"),
        },
    };
    assert!(matches!(e, certherd_tls::Error::ClientRejected(_)), "{e:?}");
}

/// Called from an async task, the blocking client refuses rather than stall (or panic in)
/// the caller's runtime.
#[test]
fn the_blocking_client_refuses_to_run_inside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let url = Url::parse("http://127.0.0.1:9/").unwrap();
    let r = rt.block_on(async { post_json(&url, b"{}", &[], None, &short()) });
    assert!(
        matches!(
            r,
            Err(Error::Io {
                phase: "starting",
                ..
            })
        ),
        "{r:?}"
    );
}
