//! STARTTLS: protocols whose TLS starts after a plaintext exchange (PostgreSQL, LDAP,
//! SMTP), so a scan sees the certificate of a database or directory server.
//!
//! Each exchange is small and fixed: certherd sends its request and reads the answer with
//! every read bounded in size and the whole exchange bounded by the endpoint's timeout.
//! Answers are classified: the server speaks the protocol but declines TLS
//! ([`Error::StartTlsRefused`]), or the port speaks something else
//! ([`Error::StartTlsUnexpected`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::time::{Duration, Instant};

use asn1_rs::{Any, Class, Enumerated, FromBer, Header, Length, Tag};

use crate::Error;

/// A protocol that upgrades a plaintext connection to TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartTls {
    /// PostgreSQL's SSLRequest (port 5432).
    Postgres,
    /// LDAP's StartTLS extended operation (port 389).
    Ldap,
    /// SMTP's STARTTLS command (ports 25 and 587).
    Smtp,
}

impl StartTls {
    /// Every protocol, for help texts and errors.
    pub const ALL: [Self; 3] = [Self::Postgres, Self::Ldap, Self::Smtp];

    /// The protocol a well-known port speaks, when it is a STARTTLS one.
    pub fn for_port(port: u16) -> Option<Self> {
        match port {
            5432 => Some(Self::Postgres),
            389 => Some(Self::Ldap),
            25 | 587 => Some(Self::Smtp),
            _ => None,
        }
    }

    /// The name used on the command line and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Ldap => "ldap",
            Self::Smtp => "smtp",
        }
    }

    /// The protocol's proper name, for messages: `PostgreSQL`, `LDAP`, `SMTP`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Ldap => "LDAP",
            Self::Smtp => "SMTP",
        }
    }
}

impl fmt::Display for StartTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STARTTLS protocol name that certherd does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown STARTTLS protocol '{0}': expected postgres, ldap or smtp")]
pub struct UnknownStartTls(pub String);

impl FromStr for StartTls {
    type Err = UnknownStartTls;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "ldap" => Ok(Self::Ldap),
            "smtp" => Ok(Self::Smtp),
            _ => Err(UnknownStartTls(s.to_owned())),
        }
    }
}

/// The largest LDAP message accepted as the answer to StartTLS (a real one is ~50 bytes).
const MAX_LDAP_MESSAGE: usize = 16 * 1024;
/// The longest SMTP reply line accepted (RFC 5321 allows 512 octets).
const MAX_SMTP_LINE: usize = 4096;
/// The most lines accepted in one SMTP reply.
const MAX_SMTP_LINES: usize = 200;
/// The most bytes read from an SMTP server before TLS starts.
const MAX_SMTP_TOTAL: usize = 64 * 1024;

/// PostgreSQL's SSLRequest: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// LDAPMessage { messageID 1, ExtendedRequest { requestName 1.3.6.1.4.1.1466.20037 } }.
const LDAP_STARTTLS: [u8; 31] = [
    0x30, 0x1d, // LDAPMessage, SEQUENCE of 29 bytes
    0x02, 0x01, 0x01, // messageID INTEGER 1
    0x77, 0x18, // [APPLICATION 23] ExtendedRequest, 24 bytes
    0x80, 0x16, // [0] requestName, 22 bytes:
    b'1', b'.', b'3', b'.', b'6', b'.', b'1', b'.', b'4', b'.', b'1', b'.', b'1', b'4', b'6', b'6',
    b'.', b'2', b'0', b'0', b'3', b'7',
];

/// Runs `protocol`'s plaintext upgrade on `sock`, the whole exchange within `timeout`. On
/// success the next bytes on the socket belong to the TLS handshake.
pub(crate) fn upgrade(
    protocol: StartTls,
    sock: &TcpStream,
    timeout: Duration,
) -> Result<(), Error> {
    let now = Instant::now();
    let mut peer = Deadline {
        sock,
        until: now.checked_add(timeout).unwrap_or(now),
    };
    let outcome = negotiate(protocol, &mut peer);
    // Back to per-read timeouts for the handshake.
    sock.set_read_timeout(Some(timeout)).map_err(Error::Io)?;
    sock.set_write_timeout(Some(timeout)).map_err(Error::Io)?;
    outcome.map_err(|f| f.into_error(protocol, timeout))
}

/// Runs the exchange over any byte stream (a socket, or a script in tests).
fn negotiate<S: Read + Write>(protocol: StartTls, peer: &mut S) -> Result<(), Fail> {
    match protocol {
        StartTls::Postgres => postgres(peer),
        StartTls::Ldap => ldap(peer),
        StartTls::Smtp => smtp(peer),
    }
}

/// A socket whose reads and writes all end by one instant.
struct Deadline<'a> {
    sock: &'a TcpStream,
    until: Instant,
}

impl Deadline<'_> {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "STARTTLS deadline passed",
            ))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_read_timeout(Some(self.remaining()?))?;
        let mut s = self.sock;
        s.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(Some(self.remaining()?))?;
        let mut s = self.sock;
        s.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut s = self.sock;
        s.flush()
    }
}

/// How an exchange failed, before the protocol is attached.
#[derive(Debug)]
enum Fail {
    /// The peer does not answer as the protocol does: what it did.
    Unexpected(String),
    /// The peer speaks the protocol and declines TLS: what it said.
    Refused(String),
    /// Reading failed while waiting for `awaited` (a noun phrase: "greeting").
    Read {
        awaited: &'static str,
        source: io::Error,
    },
}

impl Fail {
    fn into_error(self, protocol: StartTls, timeout: Duration) -> Error {
        let detail = match self {
            Self::Refused(detail) => return Error::StartTlsRefused { protocol, detail },
            Self::Unexpected(detail) => detail,
            Self::Read { awaited, source } => match source.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    format!("no {awaited} within {}s", timeout.as_secs_f32())
                }
                io::ErrorKind::UnexpectedEof => {
                    format!("the connection closed before the {awaited}")
                }
                _ => format!("{source} while waiting for the {awaited}"),
            },
        };
        Error::StartTlsUnexpected { protocol, detail }
    }
}

fn send<S: Write>(peer: &mut S, bytes: &[u8], what: &str) -> Result<(), Fail> {
    peer.write_all(bytes)
        .and_then(|()| peer.flush())
        .map_err(|e| Fail::Unexpected(format!("could not send {what}: {e}")))
}

fn receive<S: Read>(peer: &mut S, buf: &mut [u8], awaited: &'static str) -> Result<(), Fail> {
    peer.read_exact(buf)
        .map_err(|source| Fail::Read { awaited, source })
}

/// Bytes as printable ASCII, quoted and cut to a readable length.
fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let cut = bytes.get(..MAX).unwrap_or(bytes);
    let more = if cut.len() < bytes.len() { "..." } else { "" };
    format!("\"{}{more}\"", cut.escape_ascii())
}

/// One byte for a message: `0x48 ('H')`.
fn byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("0x{b:02x} ('{}')", char::from(b))
    } else {
        format!("0x{b:02x}")
    }
}

fn postgres<S: Read + Write>(peer: &mut S) -> Result<(), Fail> {
    send(peer, &SSL_REQUEST, "the SSLRequest")?;
    let mut answer = [0u8; 1];
    receive(peer, &mut answer, "answer to the SSLRequest")?;
    match answer {
        [b'S'] => Ok(()),
        [b'N'] => Err(Fail::Refused(
            "it answered 'N' to the SSLRequest: ssl is off".into(),
        )),
        // Only servers older than SSL support do this. The message itself is not shown:
        // it comes from a server not yet authenticated (CVE-2024-10977).
        [b'E'] => Err(Fail::Refused(
            "it answered the SSLRequest with an error message (a server without SSL support)"
                .into(),
        )),
        [other] => Err(Fail::Unexpected(format!(
            "it answered {} to the SSLRequest, not 'S' or 'N'",
            byte(other)
        ))),
    }
}

/// How much of a BER-framed LDAP message is at hand.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// This many more bytes are needed to know more.
    Need(usize),
    /// The message is complete and this long (header included).
    Complete(usize),
}

/// Frames an LDAPMessage (a SEQUENCE with a definite length) from the bytes read so far;
/// the BER header is read by asn1-rs.
fn ber_frame(buf: &[u8]) -> Result<Frame, String> {
    if buf.len() < 2 {
        return Ok(Frame::Need(2 - buf.len()));
    }
    let (rest, header) = match Header::from_ber(buf) {
        Ok(h) => h,
        Err(asn1_rs::Err::Incomplete(asn1_rs::Needed::Size(n))) => return Ok(Frame::Need(n.get())),
        Err(asn1_rs::Err::Incomplete(asn1_rs::Needed::Unknown)) => return Ok(Frame::Need(1)),
        Err(e) => {
            return Err(format!(
                "it answered {}, not an LDAP message ({e})",
                shown(buf.get(..buf.len().min(16)).unwrap_or(buf))
            ))
        }
    };
    if header.class() != Class::Universal || header.tag() != Tag::Sequence {
        return Err(format!(
            "it answered {}, not an LDAP message",
            byte(buf.first().copied().unwrap_or(0))
        ));
    }
    let Length::Definite(len) = header.length() else {
        return Err("it answered a message of indefinite length, not an LDAP message".into());
    };
    if len > MAX_LDAP_MESSAGE {
        return Err(format!(
            "it announced a message of {len} bytes, more than the {MAX_LDAP_MESSAGE} an answer to StartTLS may take"
        ));
    }
    let total = (buf.len() - rest.len()).saturating_add(len);
    Ok(if buf.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Need(total - buf.len())
    })
}

/// The next BER element of `rest`, which must be universal `tag`, by asn1-rs.
fn element<'a>(rest: &mut &'a [u8], tag: Tag, what: &str) -> Result<Any<'a>, String> {
    let (after, any) =
        Any::from_ber(rest).map_err(|e| format!("the {what} does not decode ({e})"))?;
    if any.class() != Class::Universal || any.tag() != tag {
        return Err(format!("the {what} has tag {}, not {tag}", any.tag()));
    }
    *rest = after;
    Ok(any)
}

/// What an LDAP server answered to StartTLS.
#[derive(Debug, PartialEq, Eq)]
struct LdapAnswer {
    result_code: u32,
    diagnostic: String,
}

/// Parses a complete LDAPMessage (as framed by [`ber_frame`]) holding an ExtendedResponse
/// (RFC 4511 4.12), with asn1-rs.
fn parse_ldap_answer(message: &[u8]) -> Result<LdapAnswer, String> {
    let mut outer = message;
    let msg = element(&mut outer, Tag::Sequence, "LDAP message")?;
    let mut body = msg.data;
    let id = i64::try_from(&element(&mut body, Tag::Integer, "message ID")?)
        .map_err(|e| format!("the message ID does not decode ({e})"))?;
    // 0 is an unsolicited notification, e.g. a Notice of Disconnection.
    if id != 1 && id != 0 {
        return Err(format!("it answered with message ID {id}, not 1"));
    }
    let (_, op) =
        Any::from_ber(body).map_err(|e| format!("the LDAP operation does not decode ({e})"))?;
    // ExtendedResponse ::= [APPLICATION 24] SEQUENCE { COMPONENTS OF LDAPResult, ... }
    if op.class() != Class::Application || op.tag() != Tag(24) {
        return Err(format!(
            "it answered with LDAP operation [{:?} {}], not an ExtendedResponse",
            op.class(),
            op.tag().0
        ));
    }
    let mut resp = op.data;
    let code = Enumerated::try_from(&element(&mut resp, Tag::Enumerated, "result code")?)
        .map_err(|e| format!("the result code does not decode ({e})"))?;
    element(&mut resp, Tag::OctetString, "matched DN")?;
    let diagnostic = element(&mut resp, Tag::OctetString, "diagnostic message")?.data;
    let cut = diagnostic.get(..200).unwrap_or(diagnostic);
    Ok(LdapAnswer {
        result_code: code.0,
        diagnostic: cut.escape_ascii().to_string(),
    })
}

/// The name of an LDAP result code a StartTLS answer may carry (RFC 4511 appendix A).
fn ldap_result_name(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        48 => "inappropriateAuthentication",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => return None,
    })
}

fn ldap<S: Read + Write>(peer: &mut S) -> Result<(), Fail> {
    send(peer, &LDAP_STARTTLS, "the StartTLS extended request")?;
    let mut buf = Vec::with_capacity(64);
    let total = loop {
        let need = match ber_frame(&buf).map_err(Fail::Unexpected)? {
            Frame::Complete(total) => break total,
            Frame::Need(n) => n,
        };
        let start = buf.len();
        buf.resize(start + need, 0);
        if let Some(tail) = buf.get_mut(start..) {
            receive(peer, tail, "answer to the StartTLS request")?;
        }
    };
    let message = buf.get(..total).unwrap_or(&buf);
    let answer = parse_ldap_answer(message).map_err(Fail::Unexpected)?;
    if answer.result_code == 0 {
        return Ok(());
    }
    let name = ldap_result_name(answer.result_code)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let diagnostic = if answer.diagnostic.is_empty() {
        String::new()
    } else {
        format!(": \"{}\"", answer.diagnostic)
    };
    Err(Fail::Refused(format!(
        "it answered StartTLS with result code {}{name}{diagnostic}",
        answer.result_code
    )))
}

/// An SMTP reply: its code and the text of each line.
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<Vec<u8>>,
}

impl Reply {
    /// The reply for a message: `554 "no service"`.
    fn shown(&self) -> String {
        let text: Vec<u8> = self.lines.join(&b' ');
        format!("{} {}", self.code, shown(&text))
    }
}

/// One SMTP reply line: its code, whether more lines follow, its text.
fn smtp_line(line: &[u8]) -> Option<(u16, bool, &[u8])> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(digits.first()?) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    let text = line.get(4..).unwrap_or_default();
    match line.get(3) {
        None | Some(b' ') => Some((code, false, text)),
        Some(b'-') => Some((code, true, text)),
        Some(_) => None,
    }
}

/// Reads SMTP replies line by line, every read bounded.
struct Lines<'s, S> {
    peer: &'s mut S,
    buf: Vec<u8>,
    total: usize,
}

impl<S: Read> Lines<'_, S> {
    fn line(&mut self, awaited: &'static str) -> Result<Vec<u8>, Fail> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_SMTP_LINE {
                return Err(Fail::Unexpected(format!(
                    "it sent {} with no line end in {MAX_SMTP_LINE} bytes",
                    shown(&self.buf)
                )));
            }
            if self.total > MAX_SMTP_TOTAL {
                return Err(Fail::Unexpected(format!(
                    "it sent more than {MAX_SMTP_TOTAL} bytes without finishing its {awaited}"
                )));
            }
            let mut chunk = [0u8; 512];
            let n = loop {
                match self.peer.read(&mut chunk) {
                    Ok(0) => {
                        return Err(Fail::Read {
                            awaited,
                            source: io::ErrorKind::UnexpectedEof.into(),
                        })
                    }
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => return Err(Fail::Read { awaited, source }),
                }
            };
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
            self.total += n;
        }
    }

    fn reply(&mut self, awaited: &'static str) -> Result<Reply, Fail> {
        let mut reply = Reply {
            code: 0,
            lines: Vec::new(),
        };
        loop {
            let line = self.line(awaited)?;
            let Some((code, more, text)) = smtp_line(&line) else {
                return Err(Fail::Unexpected(format!(
                    "it answered {} instead of an SMTP {awaited}",
                    shown(&line)
                )));
            };
            if !reply.lines.is_empty() && code != reply.code {
                return Err(Fail::Unexpected(format!(
                    "its {awaited} mixes reply codes {} and {code}",
                    reply.code
                )));
            }
            if reply.lines.len() >= MAX_SMTP_LINES {
                return Err(Fail::Unexpected(format!(
                    "its {awaited} has more than {MAX_SMTP_LINES} lines"
                )));
            }
            reply.code = code;
            reply.lines.push(text.to_vec());
            if !more {
                return Ok(reply);
            }
        }
    }
}

fn smtp<S: Read + Write>(peer: &mut S) -> Result<(), Fail> {
    let outcome = smtp_exchange(peer);
    if matches!(outcome, Err(Fail::Refused(_))) {
        // Courtesy only: the refusal is reported whether or not this arrives.
        let _ = peer.write_all(b"QUIT\r\n");
    }
    outcome
}

fn smtp_exchange<S: Read + Write>(peer: &mut S) -> Result<(), Fail> {
    let mut lines = Lines {
        peer,
        buf: Vec::new(),
        total: 0,
    };
    let greeting = lines.reply("greeting")?;
    if greeting.code != 220 {
        return Err(Fail::Refused(format!(
            "it greeted with {}",
            greeting.shown()
        )));
    }
    send(lines.peer, b"EHLO certherd.invalid\r\n", "EHLO")?;
    let ehlo = lines.reply("answer to EHLO")?;
    if ehlo.code != 250 {
        return Err(Fail::Refused(format!(
            "it answered EHLO with {}",
            ehlo.shown()
        )));
    }
    let offers = ehlo.lines.iter().skip(1).any(|l| {
        l.split(|b| b.is_ascii_whitespace())
            .next()
            .is_some_and(|kw| kw.eq_ignore_ascii_case(b"STARTTLS"))
    });
    if !offers {
        return Err(Fail::Refused("the server does not offer STARTTLS".into()));
    }
    send(lines.peer, b"STARTTLS\r\n", "STARTTLS")?;
    let answer = lines.reply("answer to STARTTLS")?;
    if answer.code != 220 {
        return Err(Fail::Refused(format!(
            "it answered STARTTLS with {}",
            answer.shown()
        )));
    }
    // Bytes sent before the handshake would be taken as the start of TLS, or, once
    // buffered, as answers inside the session (STARTTLS response injection): refuse them.
    if !lines.buf.is_empty() {
        return Err(Fail::Unexpected(format!(
            "it sent {} after its 220 to STARTTLS, before TLS started",
            shown(&lines.buf)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use pki_types::{CertificateDer, PrivateKeyDer};
    use proptest::prelude::*;

    use crate::{probe, Endpoint};

    #[test]
    fn names_and_ports() {
        for p in StartTls::ALL {
            assert_eq!(p.as_str().parse::<StartTls>(), Ok(p));
        }
        assert_eq!(StartTls::for_port(5432), Some(StartTls::Postgres));
        assert_eq!(StartTls::for_port(587), Some(StartTls::Smtp));
        assert_eq!(StartTls::for_port(443), None);
        assert!("imap".parse::<StartTls>().is_err());
    }

    // ---- The exchanges over scripted byte streams ----

    /// A peer that answers with fixed bytes (then end of stream) and records what it got.
    struct Script<'a> {
        input: &'a [u8],
        sent: Vec<u8>,
    }

    impl Read for Script<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(protocol: StartTls, input: &[u8]) -> (Result<(), Error>, Vec<u8>) {
        let mut peer = Script {
            input,
            sent: Vec::new(),
        };
        let r = negotiate(protocol, &mut peer)
            .map_err(|f| f.into_error(protocol, Duration::from_secs(5)));
        (r, peer.sent)
    }

    fn refused(r: Result<(), Error>) -> String {
        match r {
            Err(e @ Error::StartTlsRefused { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn unexpected(r: Result<(), Error>) -> String {
        match r {
            Err(e @ Error::StartTlsUnexpected { .. }) => e.to_string(),
            other => panic!("expected 'does not speak', got {other:?}"),
        }
    }

    /// One BER TLV, with a long-form length when needed.
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(value);
        out
    }

    /// An LDAPMessage holding an ExtendedResponse.
    fn ldap_response(id: u8, code: u8, diagnostic: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut resp = tlv(0x0a, &[code]);
        resp.extend(tlv(0x04, b""));
        resp.extend(tlv(0x04, diagnostic));
        resp.extend_from_slice(extra);
        let mut body = tlv(0x02, &[id]);
        body.extend(tlv(0x78, &resp));
        tlv(0x30, &body)
    }

    #[test]
    fn the_requests_are_the_protocols_own() {
        let (_, sent) = run(StartTls::Postgres, b"S");
        assert_eq!(sent, [0, 0, 0, 8, 4, 210, 22, 47]);
        assert_eq!(
            u32::from_be_bytes([sent[4], sent[5], sent[6], sent[7]]),
            80_877_103
        );
        let (_, sent) = run(StartTls::Ldap, &ldap_response(1, 0, b"", b""));
        // The request parses (asn1-rs) as an LDAPMessage with message ID 1 and the StartTLS OID.
        let (rest, msg) = Any::from_ber(&sent).unwrap();
        assert!(rest.is_empty() && msg.tag() == Tag::Sequence);
        let (body, id) = Any::from_ber(msg.data).unwrap();
        assert_eq!(i64::try_from(&id).unwrap(), 1);
        let (rest, req) = Any::from_ber(body).unwrap();
        assert!(rest.is_empty());
        assert_eq!((req.class(), req.tag()), (Class::Application, Tag(23)));
        let (rest, name) = Any::from_ber(req.data).unwrap();
        assert!(rest.is_empty());
        assert_eq!((name.class(), name.tag()), (Class::ContextSpecific, Tag(0)));
        assert_eq!(name.data, b"1.3.6.1.4.1.1466.20037");
    }

    #[test]
    fn postgres_answers() {
        assert!(run(StartTls::Postgres, b"S").0.is_ok());
        let e = refused(run(StartTls::Postgres, b"N").0);
        assert_eq!(
            e,
            "STARTTLS: the PostgreSQL server refuses TLS: it answered 'N' to the SSLRequest: ssl is off"
        );
        assert!(refused(run(StartTls::Postgres, b"E\0\0\0\x08SFATAL\0\0").0).contains("error"));
        let e = unexpected(run(StartTls::Postgres, b"HTTP/1.1 400 Bad Request\r\n").0);
        assert_eq!(
            e,
            "STARTTLS: the port does not speak PostgreSQL: it answered 0x48 ('H') to the SSLRequest, not 'S' or 'N'"
        );
        let e = unexpected(run(StartTls::Postgres, b"").0);
        assert!(
            e.contains("closed before the answer to the SSLRequest"),
            "{e}"
        );
    }

    #[test]
    fn ldap_answers() {
        let ok = ldap_response(1, 0, b"", &tlv(0x8a, b"1.3.6.1.4.1.1466.20037"));
        assert!(run(StartTls::Ldap, &ok).0.is_ok());
        let e = refused(run(StartTls::Ldap, &ldap_response(1, 2, b"bad request", b"")).0);
        assert_eq!(
            e,
            "STARTTLS: the LDAP server refuses TLS: it answered StartTLS with result code 2 (protocolError): \"bad request\""
        );
        // A Notice of Disconnection (message ID 0) is an answer too.
        let e = refused(run(StartTls::Ldap, &ldap_response(0, 52, b"", b"")).0);
        assert!(e.ends_with("result code 52 (unavailable)"), "{e}");
        let e = unexpected(run(StartTls::Ldap, b"220 smtp.example ESMTP\r\n").0);
        assert!(
            e.ends_with("it answered 0x32 ('2'), not an LDAP message"),
            "{e}"
        );
        let e = unexpected(run(StartTls::Ldap, &ldap_response(7, 0, b"", b"")).0);
        assert!(e.contains("message ID 7"), "{e}");
        let e = unexpected(run(StartTls::Ldap, &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).0);
        assert!(e.contains("announced a message of"), "{e}");
        let e = unexpected(run(StartTls::Ldap, &[0x30, 0x05, 0x02, 0x01]).0);
        assert!(e.contains("closed before the answer"), "{e}");
        // A search result where the ExtendedResponse belongs.
        let mut body = tlv(0x02, &[1]);
        body.extend(tlv(0x65, &tlv(0x0a, &[0])));
        let e = unexpected(run(StartTls::Ldap, &tlv(0x30, &body)).0);
        assert!(e.contains("not an ExtendedResponse"), "{e}");
    }

    const EHLO_OK: &[u8] =
        b"250-mail.test greets you\r\n250-PIPELINING\r\n250-starttls\r\n250 8BITMIME\r\n";

    #[test]
    fn smtp_answers() {
        let input = [
            b"220-mail.test ESMTP\r\n220 ready\r\n".as_slice(),
            EHLO_OK,
            b"220 go ahead\r\n",
        ]
        .concat();
        let (r, sent) = run(StartTls::Smtp, &input);
        r.unwrap();
        assert_eq!(sent, b"EHLO certherd.invalid\r\nSTARTTLS\r\n");

        let without = b"220 mail.test\r\n250-mail.test\r\n250-STARTTLSX\r\n250 SIZE 10\r\n";
        let (r, sent) = run(StartTls::Smtp, without);
        assert_eq!(
            refused(r),
            "STARTTLS: the SMTP server refuses TLS: the server does not offer STARTTLS"
        );
        assert!(sent.ends_with(b"QUIT\r\n"));

        let e = refused(run(StartTls::Smtp, b"554 no service for you\r\n").0);
        assert!(
            e.ends_with("it greeted with 554 \"no service for you\""),
            "{e}"
        );
        let e = refused(
            run(
                StartTls::Smtp,
                &[
                    b"220 x\r\n".as_slice(),
                    EHLO_OK,
                    b"454 TLS not available\r\n",
                ]
                .concat(),
            )
            .0,
        );
        assert!(
            e.ends_with("it answered STARTTLS with 454 \"TLS not available\""),
            "{e}"
        );

        let e = unexpected(run(StartTls::Smtp, b"SSH-2.0-OpenSSH_9.2\r\n").0);
        assert_eq!(
            e,
            "STARTTLS: the port does not speak SMTP: it answered \"SSH-2.0-OpenSSH_9.2\" instead of an SMTP greeting"
        );
        let e = unexpected(run(StartTls::Smtp, b"220-a\r\n250 b\r\n").0);
        assert!(e.contains("mixes reply codes"), "{e}");
        let e = unexpected(
            run(
                StartTls::Smtp,
                &[b"220 x\r\n".as_slice(), EHLO_OK, b"220 go\r\n\x16injected"].concat(),
            )
            .0,
        );
        assert!(e.contains("before TLS started"), "{e}");
        let e = unexpected(run(StartTls::Smtp, &vec![b'2'; MAX_SMTP_LINE + 600]).0);
        assert!(e.contains("no line end"), "{e}");
        let e = unexpected(run(StartTls::Smtp, &b"220-x\r\n".repeat(MAX_SMTP_LINES + 1)).0);
        assert!(e.contains("more than 200 lines"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_ldap_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ber_frame(&bytes);
            let _ = parse_ldap_answer(&bytes);
            let mut framed = vec![0x30];
            framed.extend_from_slice(&bytes);
            let _ = ber_frame(&framed);
            let _ = parse_ldap_answer(&framed);
        }

        #[test]
        fn no_answer_makes_an_exchange_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            lead in prop_oneof![Just(&b""[..]), Just(&b"\x30"[..]), Just(&b"220 x\r\n"[..])],
        ) {
            let input = [lead, &bytes].concat();
            for p in StartTls::ALL {
                let _ = run(p, &input);
            }
        }

        #[test]
        fn ldap_answers_round_trip(
            code in 0u8..128,
            id in 0u8..2,
            diagnostic in proptest::collection::vec(0x20u8..0x7f, 0..400),
        ) {
            let msg = ldap_response(id, code, &diagnostic, b"");
            prop_assert_eq!(ber_frame(&msg), Ok(Frame::Complete(msg.len())));
            let answer = parse_ldap_answer(&msg).unwrap();
            prop_assert_eq!(answer.result_code, u32::from(code));
            let cut = diagnostic.get(..200).unwrap_or(&diagnostic);
            prop_assert_eq!(answer.diagnostic, cut.escape_ascii().to_string());
        }
    }

    // ---- Probes against small servers on 127.0.0.1 ----

    fn tls_server() -> (Arc<rustls::ServerConfig>, CertificateDer<'static>) {
        use certherd_x509::{CertSpec, KeyAlgorithm, PrivateKey, Role};
        let now = time::OffsetDateTime::now_utc();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "mail.test".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(1),
            role: Role::Leaf,
            eku: vec![certherd_x509::Eku::ServerAuth],
        }
        .with_names(["127.0.0.1"])
        .unwrap();
        let cert = certherd_x509::self_sign(&spec, &key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.clone()],
                PrivateKeyDer::try_from(key.secret_der().to_vec()).unwrap(),
            )
            .unwrap();
        (Arc::new(config), cert)
    }

    /// Reads one line (through "\n") a byte at a time, so nothing past it is consumed.
    fn read_line(s: &mut TcpStream) -> Vec<u8> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).unwrap_or(0) == 1 {
            line.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
        line
    }

    /// A one-connection server: `script` speaks the plaintext part; when it returns true
    /// and `tls` is given, a TLS handshake follows.
    fn serve(
        script: impl FnOnce(&mut TcpStream) -> bool + Send + 'static,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> (String, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let Ok((mut sock, _)) = listener.accept() else {
                return;
            };
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            if script(&mut sock) {
                if let Some(config) = tls {
                    let mut conn = rustls::ServerConnection::new(config).unwrap();
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut sock).is_err() {
                            return;
                        }
                    }
                    // Until the client closes.
                    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
                    let mut buf = [0u8; 64];
                    while matches!(tls.read(&mut buf), Ok(n) if n > 0) {}
                }
            }
        });
        (addr, handle)
    }

    fn endpoint(addr: &str, starttls: Option<StartTls>, timeout: Duration) -> Endpoint {
        Endpoint {
            address: addr.to_owned(),
            proxy: None,
            timeout,
            server_name: None,
            starttls,
        }
    }

    #[test]
    fn smtp_starttls_then_the_chain() {
        let (config, cert) = tls_server();
        let (addr, server) = serve(
            |s| {
                s.write_all(b"220-mail.test ESMTP\r\n220 hello\r\n")
                    .unwrap();
                assert_eq!(read_line(s), b"EHLO certherd.invalid\r\n");
                s.write_all(b"250-mail.test\r\n250-SIZE 100\r\n250 STARTTLS\r\n")
                    .unwrap();
                assert_eq!(read_line(s), b"STARTTLS\r\n");
                s.write_all(b"220 2.0.0 Ready to start TLS\r\n").unwrap();
                true
            },
            Some(config),
        );
        let p = probe(&endpoint(
            &addr,
            Some(StartTls::Smtp),
            Duration::from_secs(5),
        ))
        .unwrap();
        assert_eq!(p.chain, vec![cert]);
        server.join().unwrap();
    }

    #[test]
    fn postgres_and_ldap_starttls_then_the_chain() {
        let (config, cert) = tls_server();
        let (addr, server) = serve(
            |s| {
                let mut req = [0u8; 8];
                s.read_exact(&mut req).unwrap();
                assert_eq!(req, SSL_REQUEST);
                s.write_all(b"S").unwrap();
                true
            },
            Some(config.clone()),
        );
        let p = probe(&endpoint(
            &addr,
            Some(StartTls::Postgres),
            Duration::from_secs(5),
        ))
        .unwrap();
        assert_eq!(p.chain, vec![cert.clone()]);
        server.join().unwrap();

        let (addr, server) = serve(
            |s| {
                let mut req = [0u8; LDAP_STARTTLS.len()];
                s.read_exact(&mut req).unwrap();
                assert_eq!(req, LDAP_STARTTLS);
                s.write_all(&ldap_response(1, 0, b"", b"")).unwrap();
                true
            },
            Some(config),
        );
        let p = probe(&endpoint(
            &addr,
            Some(StartTls::Ldap),
            Duration::from_secs(5),
        ))
        .unwrap();
        assert_eq!(p.chain, vec![cert]);
        server.join().unwrap();
    }

    #[test]
    fn refusals_are_reported_as_such() {
        let (addr, _) = serve(
            |s| {
                s.write_all(b"220 mail.test ESMTP\r\n").unwrap();
                read_line(s);
                s.write_all(b"250-mail.test\r\n250 SIZE 100\r\n").unwrap();
                read_line(s);
                false
            },
            None,
        );
        let e = probe(&endpoint(
            &addr,
            Some(StartTls::Smtp),
            Duration::from_secs(5),
        ))
        .unwrap_err();
        assert!(
            matches!(&e, Error::StartTlsRefused { protocol: StartTls::Smtp, detail } if detail == "the server does not offer STARTTLS"),
            "{e}"
        );

        let (addr, _) = serve(
            |s| {
                let mut req = [0u8; LDAP_STARTTLS.len()];
                s.read_exact(&mut req).unwrap();
                s.write_all(&ldap_response(1, 2, b"unsupported extended operation", b""))
                    .unwrap();
                false
            },
            None,
        );
        let e = probe(&endpoint(
            &addr,
            Some(StartTls::Ldap),
            Duration::from_secs(5),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "STARTTLS: the LDAP server refuses TLS: it answered StartTLS with result code 2 (protocolError): \"unsupported extended operation\""
        );
        assert!(matches!(
            e,
            Error::StartTlsRefused {
                protocol: StartTls::Ldap,
                ..
            }
        ));

        let (addr, _) = serve(
            |s| {
                let mut req = [0u8; 8];
                s.read_exact(&mut req).unwrap();
                s.write_all(b"N").unwrap();
                false
            },
            None,
        );
        let e = probe(&endpoint(
            &addr,
            Some(StartTls::Postgres),
            Duration::from_secs(5),
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::StartTlsRefused {
                    protocol: StartTls::Postgres,
                    ..
                }
            ),
            "{e}"
        );
    }

    /// A plain HTTP server: it answers 400 to whatever arrives.
    fn http_server() -> String {
        serve(
            |s| {
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                let _ = s.read(&mut buf);
                false
            },
            None,
        )
        .0
    }

    #[test]
    fn another_protocol_on_the_port_is_reported_as_such() {
        let expect = |protocol: StartTls, answer: &str| {
            let e = probe(&endpoint(
                &http_server(),
                Some(protocol),
                Duration::from_secs(1),
            ))
            .unwrap_err();
            assert!(
                matches!(&e, Error::StartTlsUnexpected { protocol: p, detail } if *p == protocol && detail == answer),
                "{e}"
            );
        };
        expect(
            StartTls::Postgres,
            "it answered 0x48 ('H') to the SSLRequest, not 'S' or 'N'",
        );
        expect(
            StartTls::Ldap,
            "it answered 0x48 ('H'), not an LDAP message",
        );
        // An HTTP server waits for a request as an SMTP client waits for a greeting.
        expect(StartTls::Smtp, "no greeting within 1s");

        // Without STARTTLS the same server is simply not TLS.
        let e = probe(&endpoint(&http_server(), None, Duration::from_secs(5))).unwrap_err();
        assert!(matches!(e, Error::NotTls { .. }), "{e}");
        eprintln!("{e}");
    }

    #[test]
    fn silence_is_unexpected_not_unreachable() {
        // Accepts and says nothing (an SMTP client waiting for a greeting, a TLS server...).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        for protocol in StartTls::ALL {
            let started = Instant::now();
            let e =
                probe(&endpoint(&addr, Some(protocol), Duration::from_millis(300))).unwrap_err();
            assert!(
                matches!(&e, Error::StartTlsUnexpected { protocol: p, detail } if *p == protocol && detail.contains("within 0.3s")),
                "{e}"
            );
            // The message names the timeout; how soon it came is printed (flaky under load).
            eprintln!(
                "{protocol:?}: silence refused after {:?}",
                started.elapsed()
            );
        }
        let e = probe(&endpoint(&addr, None, Duration::from_millis(300))).unwrap_err();
        assert!(matches!(e, Error::NotTls { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("{addr} does not speak TLS: no TLS answer within 0.3s")
        );
    }

    #[test]
    fn a_slow_drip_is_cut_at_the_timeout() {
        // One byte of greeting every 100 ms never completes within 500 ms.
        let (addr, _) = serve(
            |s| {
                for _ in 0..30 {
                    if s.write_all(b"2").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                false
            },
            None,
        );
        let started = Instant::now();
        let e = probe(&endpoint(
            &addr,
            Some(StartTls::Smtp),
            Duration::from_millis(500),
        ))
        .unwrap_err();
        // Cut at the timeout, not at the end of the 3 s drip: the message says so. How
        // soon is printed, not asserted (flaky under load).
        eprintln!("a slow drip: {e} after {:?}", started.elapsed());
        assert!(
            matches!(&e, Error::StartTlsUnexpected { detail, .. } if detail.contains("within 0.5s")),
            "{e}"
        );
    }
}
