//! One HTTP/1.1 request over an established TLS stream, `Connection: close`, and its
//! answer: the status and the body (by Content-Length, else to the end of the stream).
//! Every read waits at most the socket's read timeout (set when the stream was opened),
//! and the whole answer must arrive within the request's timeout: a server that sends a
//! byte now and then cannot hold the agent.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::Error;

/// The largest answer accepted.
const MAX_ANSWER: usize = 4 << 20;

/// How long [`post`] waits for a whole answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// POSTs a JSON body over an established TLS stream; returns the status and the body. The
/// answer must arrive within [`DEFAULT_TIMEOUT`].
pub fn post(
    stream: &mut certherd_tls::TlsStream,
    host: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), Error> {
    post_within(stream, DEFAULT_TIMEOUT, host, path, body)
}

/// [`post`], the whole answer within `timeout`.
pub(crate) fn post_within(
    stream: &mut certherd_tls::TlsStream,
    timeout: Duration,
    host: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), Error> {
    let io = |e: std::io::Error| Error::Tls(certherd_tls::Error::from_io(e));
    let deadline = Instant::now() + timeout;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: certherd-agent/{}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(io)?;
    let raw = read_answer(stream, deadline).map_err(io)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Protocol("no HTTP header in the answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("no HTTP status in {head:?}")))?;
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = content_length(&raw[..split + 4]) {
        body.truncate(n);
    }
    Ok((status, body))
}

/// Reads to the end of the stream (or to the end of the body Content-Length announces), at
/// most [`MAX_ANSWER`] bytes, until `deadline`.
fn read_answer(stream: &mut impl Read, deadline: Instant) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // The end of the header and the whole answer's length, once known.
    let mut header_end: Option<usize> = None;
    let mut total: Option<usize> = None;
    loop {
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server did not finish its answer in time",
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => {
                let from = raw.len().saturating_sub(3);
                raw.extend_from_slice(&buf[..n]);
                if header_end.is_none() {
                    header_end = raw[from..]
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|p| from + p + 4);
                    total = header_end.and_then(|h| content_length(&raw[..h]).map(|n| h + n));
                }
                if total.is_some_and(|t| raw.len() >= t) {
                    return Ok(raw);
                }
                if raw.len() > MAX_ANSWER {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the server's answer is over {MAX_ANSWER} bytes"),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A peer that closes without close_notify still delivered what it sent.
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(raw)
            }
            Err(e) => return Err(e),
        }
    }
}

/// The Content-Length of a header, if it has one.
fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that sends one byte per read, forever.
    struct Drip;

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_dripping_or_endless_answer_is_cut_off() {
        let past = Instant::now();
        let e = read_answer(&mut Drip, past).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        let far = Instant::now() + Duration::from_secs(3600);
        let e = read_answer(&mut std::io::repeat(b'x'), far).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let ok = read_answer(&mut &b"HTTP/1.1 200 OK\r\n\r\n{}"[..], far).unwrap();
        assert_eq!(ok.len(), 21);
        // A complete answer by Content-Length ends the read without waiting for the close.
        let mut long = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".chain(Drip);
        assert_eq!(read_answer(&mut long, far).unwrap().len(), 40);
    }
}
