//! One small HTTP/1.1 client: a JSON POST (or another method), `Connection: close`, its
//! status and body back. Over plain TCP or TLS (trusting given anchors, with an optional
//! client identity), or over a [`Session`] the caller opened with its own verifier and
//! checked before sending anything (the agent's pinned mutual-TLS session).
//!
//! The HTTP itself is hyper's (`hyper::client::conn::http1`), the TLS tokio-rustls's over
//! the same aws-lc-rs configuration the blocking handshake uses, both driven by a
//! current-thread tokio runtime inside this blocking API. Every exchange is bounded: a
//! connect timeout, a timeout on each read and write, a deadline for the whole answer (so
//! a peer trickling one byte at a time is cut off), a cap on the header (hyper's) and on
//! the body (`http_body_util::Limited`: a larger answer is refused, never buffered).

use std::future::Future;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use pki_types::CertificateDer;
use rustls::client::danger::ServerCertVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Endpoint, Identity};

/// The largest header block accepted.
const MAX_HEAD: usize = 64 << 10;

/// The bounds of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// For the TCP connection, and the TLS handshake.
    pub connect: Duration,
    /// For each read of the answer.
    pub read: Duration,
    /// For each write of the request.
    pub write: Duration,
    /// For the whole exchange, from the first byte of the request to the answer's last.
    pub deadline: Duration,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
}

impl Default for Limits {
    /// 10 s to connect, 10 s per read or write, 30 s for the answer, 1 MiB of body.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(10),
            write: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            max_body: 1 << 20,
        }
    }
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, decoded from chunks when it came chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http://HOST[:PORT][/PATH]` or `https://...`.
    #[error("invalid URL '{url}': {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No connection (TCP or TLS) could be made.
    #[error("{0}")]
    Connect(crate::Error),
    /// The request could not be sent, or the answer read.
    #[error("{address}: {phase}: {source}")]
    Io {
        /// HOST:PORT.
        address: String,
        /// "sending the request", "reading the answer", or "starting" (the runtime or
        /// the socket could not be set up).
        phase: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A timeout ran out.
    #[error("{address}: no complete answer within {}s ({phase})", after.as_secs_f32())]
    Timeout {
        /// HOST:PORT.
        address: String,
        /// Which bound: "read timeout", "write timeout" or "answer deadline".
        phase: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The answer's header or body is larger than accepted.
    #[error("{address}: the answer's {part} is larger than {limit} bytes")]
    TooLarge {
        /// HOST:PORT.
        address: String,
        /// "header" or "body".
        part: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The answer is not HTTP/1.x.
    #[error("{address}: not an HTTP answer: {detail}")]
    Malformed {
        /// HOST:PORT.
        address: String,
        /// What was wrong.
        detail: String,
    },
}

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Whether it is `https://`.
    pub tls: bool,
    /// The host (a name, an IPv4 address, or an IPv6 address without brackets).
    pub host: String,
    /// The port (80 or 443 unless given).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://HOST[:PORT][/PATH]` or `https://...`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |reason| Error::Url {
            url: url.to_owned(),
            reason,
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("expected http:// or https://"));
        };
        let (authority, path) = rest.find(['/', '?']).map_or((rest, "/".to_owned()), |i| {
            let p = &rest[i..];
            (
                &rest[..i],
                if p.starts_with('/') {
                    p.to_owned()
                } else {
                    format!("/{p}")
                },
            )
        });
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if path.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(bad("the path has spaces or control characters"));
        }
        // Refused here, where the URL is given, rather than at the first request.
        if path.parse::<hyper::Uri>().is_err() {
            return Err(bad("the path has characters a request cannot carry"));
        }
        let default = if tls { 443 } else { 80 };
        let address = certherd_protocol::HostPort::parse_with_default(authority, default)
            .map_err(|e| bad(e.problem.as_str()))?;
        let (host, port) = (address.host().to_owned(), address.port());
        Ok(Self {
            tls,
            host,
            port,
            path,
        })
    }

    /// HOST:PORT, with an IPv6 host in brackets.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// POSTs a JSON body to `url`: over TLS for `https://` (the server must chain to one of
/// `anchors`; `identity` is presented when it asks for a client certificate), over plain
/// TCP for `http://`. Returns the status and the body, whatever the status.
pub fn post_json(
    url: &Url,
    body: &[u8],
    anchors: &[CertificateDer<'static>],
    identity: Option<&Identity>,
    limits: &Limits,
) -> Result<Response, Error> {
    let post = Request {
        method: "POST",
        headers: &[],
        body,
    };
    request(url, &post, anchors, identity, limits)
}

/// What to send: the method, extra header lines and the body.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, `PUT`, `DELETE`...
    pub method: &'a str,
    /// Extra headers, e.g. `("Authorization", "Bearer ...")`; neither may hold a control
    /// character.
    pub headers: &'a [(&'a str, &'a str)],
    /// The JSON body (sent with its length; empty for none).
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The request hyper sends: `Host: host`, the JSON content type and length, who sends
    /// it, the extra headers, and `Connection: close` (one request a connection).
    fn build(&self, host: &str, path: &str) -> Result<hyper::Request<Full<Bytes>>, Error> {
        let refused = || Error::Url {
            url: path.to_owned(),
            reason: "the method or a header has characters that cannot be sent",
        };
        // Stricter than hyper's own checks: a header value is sent as given, so nothing
        // may end it early, and a method is a plain upper-case token.
        let clean = |s: &str| !s.chars().any(|c| c.is_ascii_control());
        if !self.method.bytes().all(|b| b.is_ascii_uppercase())
            || self.method.is_empty()
            || !self
                .headers
                .iter()
                .all(|(k, v)| clean(k) && clean(v) && !k.contains(':'))
        {
            return Err(refused());
        }
        let uri: hyper::Uri = path.parse().map_err(|_| Error::Url {
            url: path.to_owned(),
            reason: "the path cannot be sent",
        })?;
        let mut b = hyper::Request::builder()
            .method(self.method)
            .uri(uri)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONTENT_LENGTH, self.body.len())
            .header(
                hyper::header::USER_AGENT,
                concat!("certherd/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in self.headers {
            b = b.header(*k, *v);
        }
        b.header(hyper::header::CONNECTION, "close")
            .body(Full::new(Bytes::copy_from_slice(self.body)))
            .map_err(|_| refused())
    }
}

/// Sends `req` to `url` as [`post_json`] does (TLS trusting `anchors`, `identity` presented
/// when asked for one; plain TCP for `http://`), with its method and headers. Returns the
/// status and the body, whatever the status.
pub fn request(
    url: &Url,
    req: &Request<'_>,
    anchors: &[CertificateDer<'static>],
    identity: Option<&Identity>,
    limits: &Limits,
) -> Result<Response, Error> {
    let address = url.address();
    let request = req.build(&url.host, &url.path)?;
    let runtime = runtime().map_err(|e| io_error(&address, "starting", e))?;
    if url.tls {
        let verifier = crate::anchored(anchors.to_vec()).map_err(Error::Connect)?;
        let endpoint = Endpoint {
            address,
            proxy: None,
            timeout: limits.connect,
            server_name: Some(url.host.clone()),
            starttls: None,
        };
        Session::open_on(runtime, &endpoint, verifier, identity)
            .map_err(Error::Connect)?
            .send(request, limits)
    } else {
        let target: crate::HostPort = address
            .parse()
            .map_err(|e: crate::HostPortError| Error::Connect(e.into()))?;
        let sock = crate::connect::tcp(&target, limits.connect).map_err(Error::Connect)?;
        runtime.block_on(async {
            let sock = nonblocking(sock).map_err(|e| io_error(&address, "starting", e))?;
            exchange(sock, &address, request, limits).await
        })
    }
}

/// A TLS session opened for one request: the handshake is done, nothing is sent yet, so
/// the caller can check the server (by the chain its verifier recorded) before
/// [`Session::post_json`] sends anything.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    /// HOST:PORT, for errors.
    address: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to `endpoint` and completes the handshake, within its timeout, as
    /// [`crate::connect_for_request`] does (the same configuration, failures classified
    /// alike): `verifier` decides whether the server is trusted, `identity` is presented
    /// when it asks for a client certificate. A TLS 1.3 server's refusal of the client
    /// certificate arrives with the answer, as [`Error::Io`] (see
    /// [`crate::Error::from_io`]).
    pub fn open(
        endpoint: &Endpoint,
        verifier: Arc<dyn ServerCertVerifier>,
        identity: Option<&Identity>,
    ) -> Result<Self, crate::Error> {
        Self::open_on(
            runtime().map_err(crate::Error::Io)?,
            endpoint,
            verifier,
            identity,
        )
    }

    /// [`Session::open`], on `runtime`.
    fn open_on(
        runtime: tokio::runtime::Runtime,
        endpoint: &Endpoint,
        verifier: Arc<dyn ServerCertVerifier>,
        identity: Option<&Identity>,
    ) -> Result<Self, crate::Error> {
        let prepared = crate::connect::Prepared::new(endpoint, verifier, identity)?;
        let sock = prepared.socket(endpoint)?;
        let stream = runtime.block_on(async {
            let sock = nonblocking(sock).map_err(crate::Error::Io)?;
            let connector = tokio_rustls::TlsConnector::from(prepared.config.clone());
            let handshake = connector.connect(prepared.name.clone(), sock);
            match tokio::time::timeout(endpoint.timeout, handshake).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(prepared.failure(e, endpoint)),
                Err(_) => Err(prepared.failure(ErrorKind::TimedOut.into(), endpoint)),
            }
        })?;
        Ok(Self {
            runtime,
            stream,
            address: endpoint.address.clone(),
        })
    }

    /// POSTs a JSON body on this session, sent with `Host: host`; `limits` bounds each read
    /// and write, the answer's time and its size (its `connect` is the session's, spent).
    pub fn post_json(
        self,
        host: &str,
        path: &str,
        body: &[u8],
        limits: &Limits,
    ) -> Result<Response, Error> {
        let post = Request {
            method: "POST",
            headers: &[],
            body,
        };
        let request = post.build(host, path)?;
        self.send(request, limits)
    }

    fn send(
        self,
        request: hyper::Request<Full<Bytes>>,
        limits: &Limits,
    ) -> Result<Response, Error> {
        let Self {
            runtime,
            stream,
            address,
        } = self;
        runtime.block_on(exchange(stream, &address, request, limits))
    }
}

/// A runtime for one exchange: one thread (this one), I/O and timers.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // Blocking inside an async task would stall (or panic in) the caller's runtime.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(std::io::Error::other(
            "the blocking HTTP client was called from an async task",
        ));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

/// A connected socket handed to the runtime (called within it).
fn nonblocking(sock: std::net::TcpStream) -> std::io::Result<tokio::net::TcpStream> {
    sock.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(sock)
}

fn io_error(address: &str, phase: &'static str, source: std::io::Error) -> Error {
    Error::Io {
        address: address.to_owned(),
        phase,
        source,
    }
}

/// One request and its answer over `io`, within `limits`.
async fn exchange<S>(
    io: S,
    address: &str,
    request: hyper::Request<Full<Bytes>>,
    limits: &Limits,
) -> Result<Response, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = Arc::new(Mutex::new(None));
    let io = Bounded {
        inner: io,
        limits: *limits,
        read_timer: None,
        write_timer: None,
        failed: failed.clone(),
    };
    let answer = async {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_header_size(MAX_HEAD)
            .handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await?;
        // The connection runs beside the request; its failures reach the answer through
        // hyper (and the original I/O error through `failed`).
        tokio::spawn(conn);
        let answer = sender.send_request(request).await?;
        let status = answer.status().as_u16();
        // An announced length over the cap is refused before a byte of the body is read.
        if answer.body().size_hint().lower() > limits.max_body as u64 {
            return Ok(Err(TooLarge));
        }
        match Limited::new(answer.into_body(), limits.max_body)
            .collect()
            .await
        {
            Ok(body) => Ok(Ok(Response {
                status,
                body: body.to_bytes().to_vec(),
            })),
            Err(e) => match e.downcast::<hyper::Error>() {
                Ok(e) => Err(*e),
                Err(_) => Ok(Err(TooLarge)),
            },
        }
    };
    let too_large = || Error::TooLarge {
        address: address.to_owned(),
        part: "body",
        limit: limits.max_body,
    };
    match tokio::time::timeout(limits.deadline, answer).await {
        Ok(Ok(Ok(r))) => Ok(r),
        Ok(Ok(Err(TooLarge))) => Err(too_large()),
        Ok(Err(e)) => Err(failure(e, address, &failed)),
        Err(_) => Err(Error::Timeout {
            address: address.to_owned(),
            phase: "answer deadline",
            after: limits.deadline,
        }),
    }
}

/// The body is larger than the cap.
struct TooLarge;

/// Why hyper gave up: the I/O failure [`Bounded`] recorded if there was one (it is the
/// cause, whatever hyper made of it), else what hyper saw in the answer.
fn failure(e: hyper::Error, address: &str, failed: &Mutex<Option<Failure>>) -> Error {
    let recorded = failed.lock().ok().and_then(|mut f| f.take());
    let address = address.to_owned();
    match recorded {
        Some(Failure::Timeout { phase, after }) => Error::Timeout {
            address,
            phase,
            after,
        },
        Some(Failure::Io { phase, source }) => Error::Io {
            address,
            phase,
            source,
        },
        None if e.is_parse_too_large() => Error::TooLarge {
            address,
            part: "header",
            limit: MAX_HEAD,
        },
        None => {
            // hyper's words, with its cause's ("connection closed before message
            // completed", "invalid HTTP version parsed", "unexpected end of file"...).
            let mut detail = e.to_string();
            if let Some(cause) = std::error::Error::source(&e) {
                detail.push_str(&format!(": {cause}"));
            }
            Error::Malformed { address, detail }
        }
    }
}

/// An I/O failure under hyper, kept as it happened (hyper keeps only its text).
#[derive(Debug)]
enum Failure {
    /// A read or write timeout ran out.
    Timeout {
        phase: &'static str,
        after: Duration,
    },
    /// The stream failed (a TLS alert among others, which the agent classifies).
    Io {
        phase: &'static str,
        source: std::io::Error,
    },
}

/// A stream with a timeout on each read and write, which records its first failure for
/// [`failure`], and reads a TLS peer's close without close_notify as the end of the
/// stream (what it sent before stands; a truncated body is still caught by its framing).
struct Bounded<S> {
    inner: S,
    limits: Limits,
    /// Running while a read waits, reset when one completes.
    read_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Likewise for writes.
    write_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    failed: Arc<Mutex<Option<Failure>>>,
}

impl<S> Bounded<S> {
    /// Records `f` (unless a failure was already) and returns what hyper is told.
    fn fail(&self, f: Failure) -> std::io::Error {
        let told = match &f {
            Failure::Timeout { phase, .. } => std::io::Error::new(ErrorKind::TimedOut, *phase),
            Failure::Io { source, .. } => std::io::Error::new(source.kind(), source.to_string()),
        };
        if let Ok(mut slot) = self.failed.lock() {
            slot.get_or_insert(f);
        }
        told
    }

    /// Whether the timer (started now if it is not running) has run out.
    fn expired(
        timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
        after: Duration,
        cx: &mut Context<'_>,
    ) -> bool {
        timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }

    /// A write's outcome, timed and recorded.
    fn written<T>(
        &mut self,
        r: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r.map_err(|source| {
                    self.fail(Failure::Io {
                        phase: "sending the request",
                        source,
                    })
                }))
            }
            Poll::Pending if Self::expired(&mut self.write_timer, self.limits.write, cx) => {
                Poll::Ready(Err(self.fail(Failure::Timeout {
                    phase: "write timeout",
                    after: self.limits.write,
                })))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_timer = None;
                Poll::Ready(match r {
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(()),
                    Err(source) => Err(this.fail(Failure::Io {
                        phase: "reading the answer",
                        source,
                    })),
                    Ok(()) => Ok(()),
                })
            }
            Poll::Pending if Self::expired(&mut this.read_timer, this.limits.read, cx) => {
                Poll::Ready(Err(this.fail(Failure::Timeout {
                    phase: "read timeout",
                    after: this.limits.read,
                })))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(r, cx)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.written(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // After the answer: nothing to bound or record.
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:9000/hooks/certherd?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 9000, "/hooks/certherd?x=1")
        );
        assert_eq!(u.address(), "127.0.0.1:9000");
        let u = Url::parse("https://alerts.example.com").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/"));
        let u = Url::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
        assert_eq!(u.address(), "[::1]:8443");
        assert_eq!(Url::parse("http://h?q").unwrap().path, "/?q");
        for bad in [
            "ftp://x",
            "http://:80/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://h/\r\nX: y",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    /// A request carries its method and headers, and refuses what would split it.
    #[test]
    fn requests_carry_method_and_headers_and_refuse_injection() {
        let r = Request {
            method: "DELETE",
            headers: &[("Authorization", "Bearer t")],
            body: b"",
        };
        let built = r.build("h", "/v1/hosts/x").unwrap();
        assert_eq!(built.method(), "DELETE");
        assert_eq!(built.uri(), "/v1/hosts/x");
        let h = built.headers();
        assert_eq!(h["authorization"], "Bearer t");
        assert_eq!(h["host"], "h");
        assert_eq!(h["content-length"], "0");
        assert_eq!(h["connection"], "close");
        for (method, name, value) in [
            ("GET", "Authorization", "Bearer t\r\nX-Evil: 1"),
            ("GET", "X\r\nY", "v"),
            ("GET", "A:B", "v"),
            ("get", "A", "v"),
            ("GET /x HTTP/1.1\r\n", "A", "v"),
            ("", "A", "v"),
            ("GET", "A B", "v"),
        ] {
            let r = Request {
                method,
                headers: &[(name, value)],
                body: b"",
            };
            assert!(r.build("h", "/").is_err(), "{method:?} {name:?} {value:?}");
        }
    }

    /// A stream that swallows the request and, once it is flushed, answers from a fixed
    /// text (as a server does: hyper refuses an answer to a request not yet sent).
    struct Canned {
        text: std::io::Cursor<Vec<u8>>,
        sent: bool,
        reader: Option<std::task::Waker>,
    }

    impl AsyncRead for Canned {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            if !this.sent {
                this.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let c = &mut this.text;
            let rest = &c.get_ref()[c.position() as usize..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            c.set_position(c.position() + n as u64);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Canned {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            this.sent = true;
            if let Some(w) = this.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn answer(text: &[u8], limits: &Limits) -> Result<Response, Error> {
        let s = Canned {
            text: std::io::Cursor::new(text.to_vec()),
            sent: false,
            reader: None,
        };
        let post = Request {
            method: "POST",
            headers: &[],
            body: b"{}",
        };
        let request = post.build("h", "/").unwrap();
        runtime()
            .unwrap()
            .block_on(exchange(s, "h", request, limits))
    }

    #[test]
    fn bodies_by_length_chunks_or_close() {
        let l = Limits::default();
        let r = answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more",
            &l,
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = answer(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
            &l,
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"hello!"[..]));
        let r = answer(b"HTTP/1.0 500 Oops\nX: y\n\nto the end", &l).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"to the end"[..]));
        let r = answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            &l,
        )
        .unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert!(!r.is_success() || r.status == 204);
    }

    proptest::proptest! {
        /// Any answer, garbage included, gives a response or an error, never a panic.
        #[test]
        fn any_answer_is_parsed_without_panicking(
            head in proptest::sample::select(vec![
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"",
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut text = head.to_vec();
            text.extend(tail);
            let _ = answer(&text, &Limits { max_body: 64, ..Limits::default() });
        }
    }

    #[test]
    fn garbage_and_oversize_answers_are_refused() {
        let l = Limits {
            max_body: 8,
            ..Limits::default()
        };
        for (text, want) in [
            (&b"SSH-2.0-OpenSSH\r\n\r\n"[..], "malformed"),
            (b"", "malformed"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789",
                "large",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                "malformed",
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n123456789", "large"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n",
                "large",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n12",
                "malformed",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "malformed",
            ),
        ] {
            let e = answer(text, &l).unwrap_err();
            let ok = match want {
                "large" => matches!(e, Error::TooLarge { part: "body", .. }),
                _ => matches!(e, Error::Malformed { .. }),
            };
            assert!(ok, "{:?}: {e}", String::from_utf8_lossy(text));
        }
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(matches!(
            answer(&huge, &l).unwrap_err(),
            Error::TooLarge { part: "header", .. }
        ));
    }
}
