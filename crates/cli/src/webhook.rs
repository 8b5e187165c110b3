//! Webhook notifications: each alarm change POSTed as JSON to the `[[webhooks]]` of
//! certherd.toml, retried with exponential backoff. HTTP/1.1 by hand over a TCP or
//! certherd-tls stream: one request, `Connection: close`, status line read back.

use std::io::{Read, Write};
use std::time::Duration;

use certherd_core::{Span, WebhookSettings};
use certherd_x509::CertificateDer;

/// A parsed webhook URL.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("webhook url '{url}': expected http:// or https://"));
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_owned(),
            p.parse::<u16>()
                .map_err(|_| format!("webhook url '{url}': bad port '{p}'"))?,
        ),
        _ => (authority.to_owned(), if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(format!("webhook url '{url}': no host"));
    }
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

fn post_once(t: &Target, body: &str, anchors: &[CertificateDer<'static>]) -> Result<u16, String> {
    let address = format!("{}:{}", t.host, t.port);
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: certherd/{}\r\nConnection: close\r\n\r\n{body}",
        t.path,
        t.host,
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    let mut response = Vec::new();
    if t.tls {
        let verifier = certherd_tls::anchored(anchors.to_vec()).map_err(|e| e.to_string())?;
        let endpoint = certherd_tls::Endpoint {
            address,
            proxy: None,
            timeout: Duration::from_secs(10),
            server_name: None,
            starttls: None,
        };
        let mut s = certherd_tls::connect(&endpoint, verifier, None).map_err(|e| e.to_string())?;
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let _ = s.read_to_end(&mut response);
    } else {
        let mut s =
            std::net::TcpStream::connect(&address).map_err(|e| format!("{address}: {e}"))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let _ = s.read_to_end(&mut response);
    }
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status in the answer: {head:?}"))
}

/// Sends `body` to one webhook, retrying failures and non-2xx answers with backoff.
pub fn send(
    hook: &WebhookSettings,
    body: &str,
    anchors: &[CertificateDer<'static>],
) -> Result<(), String> {
    let target = parse(&hook.url)?;
    let retries = hook.retries.unwrap_or(3);
    let mut wait = hook
        .backoff
        .unwrap_or(Span::seconds(1))
        .duration()
        .unsigned_abs();
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
        match post_once(&target, body, anchors) {
            Ok(code) if (200..300).contains(&code) => return Ok(()),
            Ok(code) => last = format!("HTTP {code}"),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "{}: gave up after {} attempts: {last}",
        hook.url,
        retries + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse("http://127.0.0.1:9000/hooks/certherd").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (false, "127.0.0.1", 9000, "/hooks/certherd")
        );
        let t = parse("https://alerts.example.com").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (true, 443, "/"));
        assert!(
            parse("ftp://x").is_err()
                && parse("http://:80/").is_err()
                && parse("http://h:99999/").is_err()
        );
    }
}
