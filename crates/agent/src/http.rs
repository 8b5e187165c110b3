//! One HTTP/1.1 request over an established TLS stream, `Connection: close`, and its
//! answer: the status and the body (by Content-Length, else to the end of the stream).

use std::io::{Read, Write};

use crate::Error;

/// The largest answer accepted.
const MAX_ANSWER: u64 = 4 << 20;

/// POSTs a JSON body over an established TLS stream; returns the status and the body.
pub fn post(
    stream: &mut certherd_tls::TlsStream,
    host: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), Error> {
    let io = |e: std::io::Error| Error::Tls(certherd_tls::Error::from_io(e));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: certherd-agent/{}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(io)?;
    let mut raw = Vec::new();
    // A peer that closes without close_notify still delivered what it sent.
    if let Err(e) = stream.take(MAX_ANSWER).read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(io(e));
        }
    }
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
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    if let Some(n) = length {
        body.truncate(n);
    }
    Ok((status, body))
}
