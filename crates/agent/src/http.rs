//! The agent's requests: one HTTP/1.1 POST on a mutual-TLS session opened (and its server
//! checked) beforehand, through certherd-tls's bounded client (the one webhooks use too).
//! Every read waits at most the request's timeout, the whole answer must arrive within it
//! (a server that sends a byte now and then cannot hold the agent), and an answer over
//! 4 MiB is refused unread.

use std::time::Duration;

use certherd_tls::http::{self, Limits, Session};

use crate::Error;

/// The largest answer accepted.
const MAX_ANSWER: usize = 4 << 20;

/// How long [`post`] waits for a whole answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// POSTs a JSON body on an open TLS session; returns the status and the body. The answer
/// must arrive within [`DEFAULT_TIMEOUT`].
pub fn post(session: Session, host: &str, path: &str, body: &str) -> Result<(u16, Vec<u8>), Error> {
    post_within(session, DEFAULT_TIMEOUT, host, path, body)
}

/// [`post`], each read and the whole answer within `timeout`.
pub(crate) fn post_within(
    session: Session,
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
    match session.post_json(host, path, body.as_bytes(), &limits) {
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
