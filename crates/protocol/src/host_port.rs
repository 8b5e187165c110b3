//! `HOST:PORT`, parsed by one set of rules for every address certherd reads: KMIP servers,
//! scan targets, watched endpoints, fleet server URLs, webhook and admin URLs.
//!
//! It lives here, in the lowest crate (a leaf with no I/O), because the fleet protocol's
//! server URL needs it as much as the TLS edge and the core vocabulary do, and both of
//! those may depend on this crate without an arrow running up.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A TCP address: a DNS name or an IP address (IPv6 written in brackets), and a port from
/// 1 to 65535. A name is kept in lower case (DNS names are case-insensitive) and an IP
/// address in its canonical form, so two spellings of one address compare equal and
/// [`Display`](fmt::Display) writes what [`FromStr`] reads back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// What is wrong with an address, each said in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPortProblem {
    /// Nothing was given.
    Empty,
    /// There is no `:PORT` (and no default applies).
    NoPort,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// There is no host before the port.
    NoHost,
    /// A `[` without its `]`.
    UnclosedBracket,
    /// Text after `[...]` that is not `:PORT`.
    TextAfterBracket,
    /// Brackets around something that is not an IPv6 address.
    NotIpv6InBrackets,
    /// An IPv6 address without brackets (its colons cannot be told from the port's).
    Ipv6WithoutBrackets,
    /// The host is longer than a DNS name may be (253 characters).
    HostTooLong,
    /// The host is neither a DNS name (letters, digits, hyphens, dots) nor an IP address.
    BadHost,
}

impl HostPortProblem {
    /// The problem in words, as a static string (for errors that carry one).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "it is empty",
            Self::NoPort => "no port",
            Self::BadPort => "the port is not a number from 1 to 65535",
            Self::NoHost => "no host",
            Self::UnclosedBracket => "unclosed [ in the host",
            Self::TextAfterBracket => "unexpected text after the host",
            Self::NotIpv6InBrackets => "only an IPv6 address goes in brackets",
            Self::Ipv6WithoutBrackets => "an IPv6 address must be in brackets, e.g. [::1]:443",
            Self::HostTooLong => "the host is longer than 253 characters",
            Self::BadHost => "the host is neither a DNS name nor an IP address",
        }
    }
}

impl fmt::Display for HostPortProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address that is not `HOST:PORT`: what was given and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPortError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub problem: HostPortProblem,
}

impl fmt::Display for HostPortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // escape_debug: a control character in the input must not break the one line.
        write!(
            f,
            "invalid address '{}': {}; expected HOST:PORT",
            self.input.escape_debug(),
            self.problem
        )
    }
}

impl std::error::Error for HostPortError {}

impl HostPort {
    /// An address from a host (a DNS name, an IPv4 address, or an IPv6 address with or
    /// without brackets) and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, HostPortError> {
        let err = |problem| HostPortError {
            input: format!("{host}:{port}"),
            problem,
        };
        if port == 0 {
            return Err(err(HostPortProblem::BadPort));
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map_or(Ok(host), |h| {
                h.parse::<Ipv6Addr>()
                    .map(|_| h)
                    .map_err(|_| HostPortProblem::NotIpv6InBrackets)
            })
            .map_err(err)?;
        let host = if let Ok(ip) = bare.parse::<IpAddr>() {
            ip.to_string()
        } else {
            dns_name(bare).map_err(err)?
        };
        Ok(Self { host, port })
    }

    /// Parses `HOST:PORT`, or `HOST` alone with `default` as its port (a URL's scheme
    /// port, a protocol's well-known port).
    pub fn parse_with_default(s: &str, default: u16) -> Result<Self, HostPortError> {
        parse(s, Some(default))
    }

    /// The host: a lower-case DNS name or an IP address, without brackets (the name a
    /// certificate must hold, and the SNI).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, 1 to 65535.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// A DNS name as certherd accepts one: at most 253 characters, labels of 1 to 63 letters,
/// digits and hyphens (not at either end), a last label that is not all digits (so a
/// mistyped IPv4 address is not taken for a name), in lower case.
fn dns_name(h: &str) -> Result<String, HostPortProblem> {
    if h.is_empty() {
        return Err(HostPortProblem::NoHost);
    }
    if h.contains(':') {
        return Err(if h.parse::<Ipv6Addr>().is_ok() {
            HostPortProblem::Ipv6WithoutBrackets
        } else {
            HostPortProblem::BadHost
        });
    }
    if h.len() > 253 {
        return Err(HostPortProblem::HostTooLong);
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let last_numeric = h
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if !h.split('.').all(label_ok) || last_numeric || h.parse::<Ipv4Addr>().is_ok() {
        return Err(HostPortProblem::BadHost);
    }
    Ok(h.to_ascii_lowercase())
}

fn parse(s: &str, default: Option<u16>) -> Result<HostPort, HostPortError> {
    let err = |problem| HostPortError {
        input: s.to_owned(),
        problem,
    };
    if s.is_empty() {
        return Err(err(HostPortProblem::Empty));
    }
    // The host, and the port text if one was written.
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or(err(HostPortProblem::UnclosedBracket))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(err(HostPortProblem::TextAfterBracket)),
        };
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(err(HostPortProblem::NotIpv6InBrackets));
        }
        (h, port)
    } else {
        match s.rsplit_once(':') {
            // More than one colon and no brackets: an IPv6 address (with or without a
            // port), never a name.
            Some((h, _)) if h.contains(':') => {
                let v6 = s.parse::<Ipv6Addr>().is_ok() || h.parse::<Ipv6Addr>().is_ok();
                return Err(err(if v6 {
                    HostPortProblem::Ipv6WithoutBrackets
                } else {
                    HostPortProblem::BadHost
                }));
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match (port, default) {
        // Digits only: `u16::from_str` would take a leading `+`.
        (Some(p), _) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(err(HostPortProblem::BadPort)),
        },
        (None, Some(d)) if d > 0 => d,
        (None, _) => return Err(err(HostPortProblem::NoPort)),
    };
    if host.is_empty() {
        return Err(err(HostPortProblem::NoHost));
    }
    let host = if let Ok(ip) = host.parse::<IpAddr>() {
        ip.to_string()
    } else {
        dns_name(host).map_err(err)?
    };
    Ok(HostPort { host, port })
}

impl FromStr for HostPort {
    type Err = HostPortError;

    /// Parses `HOST:PORT`: a DNS name, an IPv4 address or a bracketed IPv6 address, then a
    /// port from 1 to 65535.
    fn from_str(s: &str) -> Result<Self, HostPortError> {
        parse(s, None)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_forms_accepted() {
        for (s, host, port) in [
            ("kms1.example.com:5696", "kms1.example.com", 5696),
            ("KMS1.Example.COM:5696", "kms1.example.com", 5696),
            ("127.0.0.1:8443", "127.0.0.1", 8443),
            ("[::1]:443", "::1", 443),
            ("[0:0::1]:443", "::1", 443),
            ("localhost:1", "localhost", 1),
            ("db:65535", "db", 65535),
            ("xn--bcher-kva.example:443", "xn--bcher-kva.example", 443),
        ] {
            let a: HostPort = s.parse().unwrap();
            assert_eq!((a.host(), a.port()), (host, port), "{s}");
        }
        assert_eq!(
            "[::1]:443".parse::<HostPort>().unwrap().to_string(),
            "[::1]:443"
        );
        assert_eq!(
            HostPort::parse_with_default("alerts.example.com", 443)
                .unwrap()
                .to_string(),
            "alerts.example.com:443"
        );
        assert_eq!(
            HostPort::parse_with_default("[::1]", 80)
                .unwrap()
                .to_string(),
            "[::1]:80"
        );
        assert_eq!(HostPort::new("[::1]", 5).unwrap().to_string(), "[::1]:5");
        assert_eq!(HostPort::new("::1", 5).unwrap().to_string(), "[::1]:5");
    }

    #[test]
    fn each_wrong_form_is_named() {
        use HostPortProblem as P;
        for (s, problem) in [
            ("", P::Empty),
            ("kms", P::NoPort),
            (":5696", P::NoHost),
            ("kms:", P::BadPort),
            ("kms:0", P::BadPort),
            ("kms:99999", P::BadPort),
            ("kms:+80", P::BadPort),
            ("kms:8o", P::BadPort),
            ("[::1:5696", P::UnclosedBracket),
            ("[::1]x:5696", P::TextAfterBracket),
            ("[kms]:5696", P::NotIpv6InBrackets),
            ("[127.0.0.1]:5696", P::NotIpv6InBrackets),
            ("::1:5696", P::Ipv6WithoutBrackets),
            ("fe80::1", P::Ipv6WithoutBrackets),
            ("a:b:80", P::BadHost),
            ("kms_1:80", P::BadHost),
            ("kms 1:80", P::BadHost),
            ("-kms:80", P::BadHost),
            ("kms..example:80", P::BadHost),
            ("kms.example.:80", P::BadHost),
            ("256.1.1.1:80", P::BadHost),
            ("u@kms:80", P::BadHost),
        ] {
            let e = s.parse::<HostPort>().unwrap_err();
            assert_eq!(e.problem, problem, "{s}");
            assert_eq!(e.input, s);
        }
        let long = format!("{}:80", ["a"; 128].join("."));
        assert_eq!(
            long.parse::<HostPort>().unwrap_err().problem,
            P::HostTooLong
        );
        assert_eq!(
            "kms".parse::<HostPort>().unwrap_err().to_string(),
            "invalid address 'kms': no port; expected HOST:PORT"
        );
        assert!(HostPort::new("kms", 0).is_err());
        assert!(HostPort::new("[kms]", 1).is_err());
    }

    fn host_port() -> impl Strategy<Value = HostPort> {
        let name = proptest::string::string_regex(
            "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]{1,8}){0,3}",
        )
        .unwrap()
        .prop_filter("a last label of digits is not a name", |n| {
            !n.rsplit('.')
                .next()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        });
        let v4 = any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_string());
        let v6 = any::<[u8; 16]>().prop_map(|b| Ipv6Addr::from(b).to_string());
        (prop_oneof![name, v4, v6], 1..=u16::MAX).prop_map(|(h, p)| HostPort::new(&h, p).unwrap())
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in any::<String>(), d in any::<u16>()) {
            let _ = s.parse::<HostPort>();
            let _ = HostPort::parse_with_default(&s, d);
        }

        #[test]
        fn address_like_text_never_panics(s in "[\\[\\]:0-9a-fA-F.x-]{0,24}") {
            if let Ok(a) = s.parse::<HostPort>() {
                // What parses once parses again to itself from its written form.
                prop_assert_eq!(a.to_string().parse::<HostPort>().unwrap(), a);
            }
        }

        #[test]
        fn display_round_trips(a in host_port()) {
            prop_assert_eq!(a.to_string().parse::<HostPort>().unwrap(), a);
        }
    }
}
