//! The agent's requests: one HTTP/1.1 POST over an established mutual-TLS stream, through
//! certherd-tls's bounded client (the one webhooks use too). Every read waits at most the
//! request's timeout, the whole answer must arrive within it (a server that sends a byte
//! now and then cannot hold the agent), and an answer over 4 MiB is refused unread.

use std::time::Duration;

use certherd_tls::http::{self, Limits};

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

/// [`post`], each read and the whole answer within `timeout`.
pub(crate) fn post_within(
    stream: &mut certherd_tls::TlsStream,
    timeout: Duration,
    host: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), Error> {
    let limits = Limits {
        read: timeout,
        write: timeout,
        deadline: timeout,
        max_body: MAX_ANSWER,
        ..Limits::default()
    };
    match http::post_json_on(stream, host, path, body.as_bytes(), &limits) {
        Ok(r) => Ok((r.status, r.body)),
        // A TLS 1.3 server refuses a client certificate with an alert that arrives on the
        // first read: classified by the TLS crate (ClientRejected and the like).
        Err(http::Error::Io { source, .. }) => {
            Err(Error::Tls(certherd_tls::Error::from_io(source)))
        }
        Err(http::Error::Connect(e)) => Err(Error::Tls(e)),
        Err(e) => Err(Error::Http(e)),
    }
}
