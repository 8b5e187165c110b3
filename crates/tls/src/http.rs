//! One small HTTP/1.1 client: a JSON POST, `Connection: close`, its status and body back.
//! Over plain TCP or TLS (trusting given anchors, with an optional client identity), or
//! over a stream the caller already established (the agent's pinned mutual-TLS session).
//!
//! Every exchange is bounded: a connect timeout, a timeout on each read and write, a
//! deadline for the whole answer (checked after each read, so a peer trickling one byte at
//! a time is cut off), a cap on the header and on the body (a larger answer is refused,
//! never buffered).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use pki_types::CertificateDer;

use crate::Identity;

/// The largest header block accepted.
const MAX_HEAD: usize = 64 << 10;

/// How much is read at a time.
const CHUNK: usize = 16 << 10;

/// The bounds of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// For the TCP connection, and the TLS handshake.
    pub connect: Duration,
    /// For each read of the answer.
    pub read: Duration,
    /// For each write of the request.
    pub write: Duration,
    /// For the whole answer, from the request sent to the body's last byte.
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
        /// HOST:PORT, or the host of an established stream.
        address: String,
        /// "sending the request" or "reading the answer".
        phase: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A timeout ran out.
    #[error("{address}: no complete answer within {}s ({phase})", after.as_secs_f32())]
    Timeout {
        /// HOST:PORT, or the host of an established stream.
        address: String,
        /// Which bound: "read timeout", "write timeout" or "answer deadline".
        phase: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The answer's header or body is larger than accepted.
    #[error("{address}: the answer's {part} is larger than {limit} bytes")]
    TooLarge {
        /// HOST:PORT, or the host of an established stream.
        address: String,
        /// "header" or "body".
        part: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The answer is not HTTP/1.x.
    #[error("{address}: not an HTTP answer: {detail}")]
    Malformed {
        /// HOST:PORT, or the host of an established stream.
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

/// POSTs a JSON body over a stream the caller established (and whose peer it checked),
/// sent with `Host: host`. The stream's own read and write timeouts apply to each
/// operation; `limits` bounds the answer's time and size.
pub fn post_json_on<S: Read + Write>(
    stream: &mut S,
    host: &str,
    path: &str,
    body: &[u8],
    limits: &Limits,
) -> Result<Response, Error> {
    exchange(stream, host, host, path, body, limits)
}

fn tcp(address: &str, limits: &Limits) -> Result<TcpStream, Error> {
    let unreachable = |source| {
        Error::Connect(crate::Error::Unreachable {
            address: address.to_owned(),
            source,
        })
    };
    let addrs: Vec<_> = address.to_socket_addrs().map_err(unreachable)?.collect();
    let mut last = std::io::Error::new(ErrorKind::NotFound, "no address resolved");
    for a in addrs {
        match TcpStream::connect_timeout(&a, limits.connect) {
            Ok(s) => {
                s.set_read_timeout(Some(limits.read)).map_err(unreachable)?;
                s.set_write_timeout(Some(limits.write))
                    .map_err(unreachable)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
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
    fn head(&self, host: &str, path: &str) -> Result<String, Error> {
        let clean = |s: &str| !s.chars().any(|c| c.is_ascii_control());
        if !self.method.bytes().all(|b| b.is_ascii_uppercase())
            || self.method.is_empty()
            || !self
                .headers
                .iter()
                .all(|(k, v)| clean(k) && clean(v) && !k.contains(':'))
        {
            return Err(Error::Url {
                url: path.to_owned(),
                reason: "the method or a header has characters that cannot be sent",
            });
        }
        let mut extra = String::new();
        for (k, v) in self.headers {
            extra.push_str(&format!("{k}: {v}\r\n"));
        }
        Ok(format!(
            "{} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: certherd/{}\r\n{extra}Connection: close\r\n\r\n",
            self.method,
            self.body.len(),
            env!("CARGO_PKG_VERSION")
        ))
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
    let head = req.head(&url.host, &url.path)?;
    let io = |phase| {
        let address = address.clone();
        move |source| Error::Io {
            address,
            phase,
            source,
        }
    };
    if url.tls {
        let verifier = crate::anchored(anchors.to_vec()).map_err(Error::Connect)?;
        let endpoint = crate::Endpoint {
            address: address.clone(),
            proxy: None,
            timeout: limits.connect,
            server_name: Some(url.host.clone()),
            starttls: None,
        };
        let mut stream =
            crate::connect_for_request(&endpoint, verifier, identity).map_err(Error::Connect)?;
        stream
            .sock
            .set_read_timeout(Some(limits.read))
            .map_err(io("configuring the socket"))?;
        stream
            .sock
            .set_write_timeout(Some(limits.write))
            .map_err(io("configuring the socket"))?;
        send(&mut stream, &address, &head, req.body, limits)
    } else {
        let mut stream = tcp(&address, limits)?;
        send(&mut stream, &address, &head, req.body, limits)
    }
}

fn exchange<S: Read + Write>(
    stream: &mut S,
    address: &str,
    host: &str,
    path: &str,
    body: &[u8],
    limits: &Limits,
) -> Result<Response, Error> {
    let head = Request {
        method: "POST",
        headers: &[],
        body,
    }
    .head(host, path)?;
    send(stream, address, &head, body, limits)
}

fn send<S: Read + Write>(
    stream: &mut S,
    address: &str,
    head: &str,
    body: &[u8],
    limits: &Limits,
) -> Result<Response, Error> {
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
    if let Err(source) = sent {
        if is_timeout(&source) {
            return Err(Error::Timeout {
                address: address.to_owned(),
                phase: "write timeout",
                after: limits.write,
            });
        }
        return Err(Error::Io {
            address: address.to_owned(),
            phase: "sending the request",
            source,
        });
    }
    let mut r = Answer {
        stream,
        address,
        limits,
        started: Instant::now(),
        buf: Vec::new(),
        pos: 0,
        eof: false,
    };
    loop {
        let (status, length, chunked) = r.head()?;
        // An interim answer (100 Continue) is followed by the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            r.chunked()?
        } else if let Some(n) = length {
            r.exactly(n)?
        } else {
            r.until_close()?
        };
        return Ok(Response { status, body });
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// The answer as it is read: a buffer, the position parsed up to, and the bounds.
struct Answer<'a, S> {
    stream: &'a mut S,
    address: &'a str,
    limits: &'a Limits,
    started: Instant,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<S: Read> Answer<'_, S> {
    /// Reads once more into the buffer; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, Error> {
        if self.eof {
            return Ok(false);
        }
        if self.started.elapsed() > self.limits.deadline {
            return Err(self.timeout("answer deadline", self.limits.deadline));
        }
        // Drop what was parsed, so the buffer holds at most one chunk beyond the caps.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + CHUNK, 0);
        let got = loop {
            match self.stream.read(&mut self.buf[len..]) {
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        match got {
            Ok(n) => {
                self.buf.truncate(len + n);
                if n == 0 {
                    self.eof = true;
                }
            }
            Err(e) => {
                self.buf.truncate(len);
                if is_timeout(&e) {
                    return Err(self.timeout("read timeout", self.limits.read));
                }
                // A TLS peer that closes without close_notify still sent what it sent.
                if e.kind() == ErrorKind::UnexpectedEof {
                    self.eof = true;
                } else {
                    return Err(Error::Io {
                        address: self.address.to_owned(),
                        phase: "reading the answer",
                        source: e,
                    });
                }
            }
        }
        if self.started.elapsed() > self.limits.deadline {
            return Err(self.timeout("answer deadline", self.limits.deadline));
        }
        Ok(!self.eof)
    }

    fn timeout(&self, phase: &'static str, after: Duration) -> Error {
        Error::Timeout {
            address: self.address.to_owned(),
            phase,
            after,
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> Error {
        Error::Malformed {
            address: self.address.to_owned(),
            detail: detail.into(),
        }
    }

    fn too_large(&self, part: &'static str, limit: usize) -> Error {
        Error::TooLarge {
            address: self.address.to_owned(),
            part,
            limit,
        }
    }

    /// One line ending in CRLF (or LF), without it; `cap` bounds its length.
    fn line(&mut self, cap: usize) -> Result<String, Error> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let raw = &self.buf[self.pos..self.pos + i];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let line = String::from_utf8_lossy(raw).into_owned();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.buf.len() - self.pos > cap {
                return Err(self.too_large("header", cap));
            }
            if !self.fill()? {
                return Err(self.malformed("the connection closed in the middle of the header"));
            }
        }
    }

    /// The status line and headers: the status, Content-Length, and whether it is chunked.
    fn head(&mut self) -> Result<(u16, Option<usize>, bool), Error> {
        let status_line = self.line(MAX_HEAD)?;
        let mut parts = status_line.split_whitespace();
        let status = match (parts.next(), parts.next()) {
            (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
            _ => None,
        }
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| {
            let shown: String = status_line.chars().take(64).collect();
            self.malformed(format!("no status line (got {shown:?})"))
        })?;
        let mut length = None;
        let mut chunked = false;
        let mut total = status_line.len();
        loop {
            let line = self.line(MAX_HEAD)?;
            total += line.len() + 2;
            if total > MAX_HEAD {
                return Err(self.too_large("header", MAX_HEAD));
            }
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(self.malformed("a header line without a colon"));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                let n: u64 = value
                    .parse()
                    .map_err(|_| self.malformed(format!("Content-Length {value:?}")))?;
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= self.limits.max_body)
                    .ok_or_else(|| self.too_large("body", self.limits.max_body))?;
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            }
        }
        Ok((status, length, chunked))
    }

    /// Takes `n` buffered bytes (the caller made sure they are there).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        out
    }

    fn exactly(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Err(self.malformed(format!(
                    "the connection closed after {} of {n} body bytes",
                    self.buf.len() - self.pos
                )));
            }
        }
        Ok(self.take(n))
    }

    fn until_close(&mut self) -> Result<Vec<u8>, Error> {
        while self.fill()? {
            if self.buf.len() - self.pos > self.limits.max_body {
                return Err(self.too_large("body", self.limits.max_body));
            }
        }
        if self.buf.len() - self.pos > self.limits.max_body {
            return Err(self.too_large("body", self.limits.max_body));
        }
        let n = self.buf.len() - self.pos;
        Ok(self.take(n))
    }

    fn chunked(&mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        loop {
            let size_line = self.line(1024)?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| self.malformed(format!("chunk size {hex:?}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                let mut total = 0;
                loop {
                    let t = self.line(MAX_HEAD)?;
                    total += t.len();
                    if t.is_empty() {
                        return Ok(body);
                    }
                    if total > MAX_HEAD {
                        return Err(self.too_large("header", MAX_HEAD));
                    }
                }
            }
            if size > self.limits.max_body.saturating_sub(body.len()) {
                return Err(self.too_large("body", self.limits.max_body));
            }
            body.extend(self.exactly(size)?);
            if !self.line(2)?.is_empty() {
                return Err(self.malformed("a chunk not followed by CRLF"));
            }
        }
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

    /// A request's head carries its method and headers, and refuses what would split it.
    #[test]
    fn request_heads_carry_method_and_headers_and_refuse_injection() {
        let r = Request {
            method: "DELETE",
            headers: &[("Authorization", "Bearer t")],
            body: b"",
        };
        let head = r.head("h", "/v1/hosts/x").unwrap();
        assert!(
            head.starts_with("DELETE /v1/hosts/x HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nAuthorization: Bearer t\r\n"), "{head}");
        assert!(head.contains("Content-Length: 0\r\n"), "{head}");
        for (method, name, value) in [
            ("GET", "Authorization", "Bearer t\r\nX-Evil: 1"),
            ("GET", "X\r\nY", "v"),
            ("GET", "A:B", "v"),
            ("get", "A", "v"),
            ("GET /x HTTP/1.1\r\n", "A", "v"),
            ("", "A", "v"),
        ] {
            let r = Request {
                method,
                headers: &[(name, value)],
                body: b"",
            };
            assert!(r.head("h", "/").is_err(), "{method:?} {name:?} {value:?}");
        }
    }

    /// A stream that answers from a fixed text and swallows the request.
    struct Canned(std::io::Cursor<Vec<u8>>);

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn answer(text: &[u8], limits: &Limits) -> Result<Response, Error> {
        let mut s = Canned(std::io::Cursor::new(text.to_vec()));
        post_json_on(&mut s, "h", "/", b"{}", limits)
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
