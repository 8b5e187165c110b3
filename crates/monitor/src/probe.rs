//! Probing TLS endpoints: many at once, each failure classified as a finding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use certherd_inspect::{Finding, FindingKind, Severity};
use certherd_tls::{Endpoint, Probe, StartTls};

/// One endpoint to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeJob {
    /// `HOST:PORT`.
    pub target: String,
    /// The SNI to send and the name to check, when it is not the host.
    pub server_name: Option<String>,
    /// The STARTTLS protocol to speak first, if any.
    pub starttls: Option<StartTls>,
}

/// The STARTTLS protocol for a target: the one asked for, else the one its well-known port
/// speaks (5432 PostgreSQL, 389 LDAP, 25 and 587 SMTP), else none.
pub fn starttls_for(target: &str, asked: Option<StartTls>) -> Option<StartTls> {
    asked.or_else(|| {
        target
            .parse::<certherd_tls::HostPort>()
            .ok()
            .and_then(|a| StartTls::for_port(a.port()))
    })
}

/// A transport failure as a finding: no TLS session. The verdict is the network's (or the
/// server's), never the certificate's: a chain shown before the failure
/// ([`certherd_tls::Error::AfterCertificate`]) is the caller's to judge.
pub fn transport_finding(e: &certherd_tls::Error) -> Finding {
    use certherd_tls::Error as E;
    let e = e.cause();
    let kind = match e {
        E::Unreachable { .. } | E::Proxy { .. } | E::Address(_) | E::ServerName(_) => {
            FindingKind::Unreachable
        }
        E::ClientRejected(_) | E::ClientCertificateRequired(_) => {
            FindingKind::ClientCertificateRequired
        }
        E::ObsoleteProtocol { .. } => FindingKind::ObsoleteProtocol,
        E::StartTlsRefused { .. } => FindingKind::StarttlsRefused,
        E::StartTlsUnexpected { .. } | E::NotTls { .. } => FindingKind::NotTls,
        _ => FindingKind::TlsHandshake,
    };
    let hint = match kind {
        FindingKind::Unreachable => {
            "check the address, the port, firewalls and that the service is running"
        }
        // Asked to speak a STARTTLS protocol the port does not speak: the protocol or the
        // port is wrong, not the lack of one.
        FindingKind::NotTls if matches!(e, E::StartTlsUnexpected { .. }) => {
            "the port does not speak that STARTTLS protocol: check the port, or scan it with another --starttls (or none)"
        }
        FindingKind::NotTls => {
            "the port answered without TLS: check the port, or give --starttls postgres|ldap|smtp"
        }
        FindingKind::StarttlsRefused => "turn TLS on in the service's configuration",
        FindingKind::ClientCertificateRequired => {
            "the server admits only clients with a certificate it trusts (mutual TLS): a client needs one issued by a CA the server trusts"
        }
        FindingKind::ObsoleteProtocol => {
            "enable TLS 1.2 and TLS 1.3 in the server's configuration; clients refuse TLS 1.0 and 1.1"
        }
        _ => "compare with `openssl s_client -connect HOST:PORT`",
    };
    // The kind already says "unreachable": the message gives the address and the cause,
    // not the word again.
    let message = match e {
        E::Unreachable { address, source } => format!("cannot connect to {address}: {source}"),
        other => other.to_string(),
    };
    Finding::new(kind, Severity::Critical, message).with_hint(hint)
}

/// Probes every job, `concurrency` at a time; results come back in job order. `tick` is
/// called after each probe (a progress bar).
pub fn probe_all(
    jobs: &[ProbeJob],
    concurrency: usize,
    timeout: Duration,
    tick: &(dyn Fn() + Sync),
) -> Vec<Result<Probe, certherd_tls::Error>> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Probe, certherd_tls::Error>>> =
        (0..jobs.len()).map(|_| None).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, 256).min(jobs.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = certherd_tls::probe(&Endpoint {
                    address: job.target.clone(),
                    proxy: None,
                    timeout,
                    server_name: job.server_name.clone(),
                    starttls: job.starttls,
                });
                tick();
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(certherd_tls::Error::Handshake(
                    "the probe thread ended before this target".into(),
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_by_port_unless_asked() {
        assert_eq!(starttls_for("db:5432", None), Some(StartTls::Postgres));
        assert_eq!(starttls_for("ldap.example:389", None), Some(StartTls::Ldap));
        assert_eq!(starttls_for("[::1]:587", None), Some(StartTls::Smtp));
        assert_eq!(starttls_for("web:443", None), None);
        assert_eq!(
            starttls_for("web:443", Some(StartTls::Smtp)),
            Some(StartTls::Smtp)
        );
    }

    #[test]
    fn a_closed_port_is_a_network_finding() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap().to_string();
        drop(l);
        let r = probe_all(
            &[ProbeJob {
                target,
                server_name: None,
                starttls: None,
            }],
            4,
            Duration::from_secs(2),
            &|| {},
        );
        let f = transport_finding(r[0].as_ref().unwrap_err());
        assert_eq!(f.kind, FindingKind::Unreachable);
    }
}
