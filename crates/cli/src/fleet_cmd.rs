//! `server`, `host` and `agent`: the fleet commands.

use certherd_fleet::FleetExt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use certherd_core::Span;
use certherd_store::Home;
use serde_json::json;

use crate::args::{
    AdminCmd, AgentCmd, CredentialArgs, CredentialCmd, Output, PoolCmd, RoleArg, ServerArgs,
};
use crate::instant::rfc3339;
use crate::render::{colon_hex, json, table};
use crate::{node_over, open_node, Failure};

pub(crate) fn duration(s: &str, what: &str) -> Result<Duration, Failure> {
    let d = s.parse::<Span>()?.duration().unsigned_abs();
    if d.is_zero() {
        return Err(Failure::usage(format!("{what} must be longer than 0s")));
    }
    Ok(d)
}

fn random32() -> Result<[u8; 32], Failure> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Failure::msg("no randomness available"))?;
    Ok(b)
}

/// `server`.
pub fn server(home: &Home, a: ServerArgs) -> Result<ExitCode, Failure> {
    let listen: std::net::SocketAddr = a.listen.parse().map_err(|_| {
        Failure::usage(format!(
            "invalid --listen '{}': expected ADDR:PORT, e.g. 0.0.0.0:8443",
            a.listen
        ))
    })?;
    let evaluate_every = duration(&a.evaluate_every, "--evaluate-every")?;
    let crl_listen: Option<std::net::SocketAddr> = a
        .crl_listen
        .as_deref()
        .map(|l| {
            l.parse().map_err(|_| {
                Failure::usage(format!(
                    "invalid --crl-listen '{l}': expected ADDR:PORT, e.g. 0.0.0.0:8080"
                ))
            })
        })
        .transpose()?;
    let over_home = home.clone();
    let node_over: certherd_server::NodeOver = std::sync::Arc::new(move |store| {
        node_over(&over_home, store).map_err(|f| certherd_server::Seam::Open(Box::new(f)))
    });
    certherd_server::start(
        certherd_server::StartConfig {
            home: home.clone(),
            node_over,
            listen,
            evaluate_every,
            crl_listen,
            hostname: a.hostname,
            ips: a.ips,
        },
        |said| match said {
            certherd_server::Started::IssuedIdentity(entry) => {
                errln!("certherd server: issued {entry} for this server from the shared CA");
            }
            certherd_server::Started::Listening(bound) => {
                errln!("certherd server listening on https://{bound}");
            }
            _ => {}
        },
    )
    .map_err(server_failure)?;
    Ok(ExitCode::SUCCESS)
}

/// A server that could not start, with the hint of the node's error when it has one.
fn server_failure(e: certherd_server::Error) -> Failure {
    use certherd_server::{Error as E, Seam};
    match e {
        E::Open(Seam::Open(b)) => match b.downcast::<Failure>() {
            Ok(f) => *f,
            Err(b) => Failure::msg(b.to_string()),
        },
        E::Open(Seam::Store(e)) => e.into(),
        E::Open(Seam::Node(e)) | E::Node(e) => e.into(),
        e @ E::Hostname(_) => Failure::usage(e.to_string()),
        e => Failure::msg(e.to_string()),
    }
}

fn agent_error(e: certherd_agent::Error) -> Failure {
    crate::hints::agent_error(&e)
}

/// `agent`.
pub fn agent(home: &Home, c: AgentCmd) -> Result<ExitCode, Failure> {
    match c {
        AgentCmd::EmergencyDisableVerification => {
            let mut node = open_node(home)?;
            node.agent_mut().agent_set_verification(false)?;
            outln!("verification of the server is OFF for this host; the server raises an alarm at the next poll");
            errln!("turn it back on with `certherd agent emergency-reenable-verification`");
        }
        AgentCmd::EmergencyReenableVerification => {
            let mut node = open_node(home)?;
            node.agent_mut().agent_set_verification(true)?;
            outln!("verification of the server is on again; the alarm clears at the next poll");
        }
        AgentCmd::Join {
            servers,
            token,
            ca_fingerprint,
            hostname,
            ips,
            listen,
            no_verification,
            key_algo,
            timeout,
        } => {
            let key_algo = key_algo
                .as_deref()
                .map(|k| {
                    k.parse::<certherd_x509::KeyAlgorithm>().map_err(|_| {
                        Failure::usage(format!(
                            "invalid --key-algo '{k}': expected one of {}",
                            certherd_x509::KeyAlgorithm::ALL
                                .map(|a| a.name())
                                .join(", ")
                        ))
                    })
                })
                .transpose()?;
            if let Some(l) = &listen {
                l.parse::<std::net::SocketAddr>().map_err(|_| {
                    Failure::usage(format!("invalid --listen '{l}': expected ADDR:PORT"))
                })?;
            }
            let timeout = duration(&timeout, "--timeout")?;
            let (server, more_servers) = servers
                .split_first()
                .ok_or_else(|| Failure::usage("--server is required"))?;
            for s in &servers {
                certherd_protocol::ServerUrl::parse(s)
                    .map_err(|e| Failure::usage(format!("--server: {e}")))?;
            }
            let server = server.clone();
            let fingerprint = match ca_fingerprint {
                Some(f) => f,
                None => confirm_fingerprint(&server, timeout)?,
            };
            let store = home.create().map_err(certherd_ca::Error::from)?;
            crate::home_cmd::warn_modes(home);
            let mut node = node_over(home, store)?;
            let joined = certherd_agent::join(
                &mut node,
                &certherd_agent::JoinOptions {
                    server: &server,
                    more_servers,
                    token: &token,
                    ca_fingerprint: &fingerprint,
                    hostname: hostname.as_deref(),
                    ips: &ips,
                    verification: !no_verification,
                    key_algo,
                    timeout,
                },
            )
            .map_err(agent_error)?;
            if no_verification {
                node.agent_mut().agent_set_verification(false)?;
            }
            if let Some(l) = &listen {
                node.agent_mut().agent_set_listen(l)?;
            }
            outln!(
                "joined {server} as {} ({} trusted roots; host key {})",
                joined.host,
                joined.trusted_roots,
                node.agent().agent_host_key_algo()?
            );
            if joined.servers.len() > 1 {
                errln!(
                    "servers to fail over to, in order: {}",
                    joined.servers.join(", ")
                );
            }
            errln!("next: certherd --home {} agent run", home.dir().display());
        }
        AgentCmd::Status(o) => return agent_status(home, o.output),
        AgentCmd::Run {
            poll,
            once,
            timeout,
            retry_max,
        } => return agent_run(home, &poll, once, &timeout, &retry_max),
    }
    Ok(ExitCode::SUCCESS)
}

/// `agent status`: the servers, which one answered last, the last poll and error.
fn agent_status(home: &Home, output: Output) -> Result<ExitCode, Failure> {
    let node = open_node(home)?;
    if !node.agent().is_agent()? {
        return Err(Failure::msg(
            "this home is not an agent's: run `certherd agent join` first",
        ));
    }
    let g = node.agent().agent_summary()?;
    let host = node.hostname()?;
    match output {
        Output::Json => json(&json!({
            "host": host,
            "servers": g.servers,
            "last_server": g.last_server,
            "last_poll": g.last_poll.map(rfc3339),
            "last_error": g.last_error.as_ref().map(|(at, m)| json!({"at": rfc3339(*at), "message": m})),
            "verification": g.verification,
        })),
        Output::Table => {
            outln!("Host            {host}");
            outln!(
                "Verification    {}",
                if g.verification { "on" } else { "OFF" }
            );
            match &g.last_server {
                Some(s) => outln!("Answered last   {s}"),
                None => outln!("Answered last   none yet"),
            }
            match g.last_poll {
                Some(t) => outln!("Last poll       {}", rfc3339(t)),
                None => outln!("Last poll       never: start `certherd agent run`"),
            }
            if let Some((at, m)) = &g.last_error {
                outln!("Last error      {}: {m}", rfc3339(*at));
            }
            if g.servers.is_empty() {
                outln!("Servers         none: the server removed this host; join again with `certherd agent join`");
            } else {
                table(
                    &["SERVER", "LAST ANSWER"],
                    &g.servers
                        .iter()
                        .map(|s| {
                            vec![
                                s.clone(),
                                if g.last_server.as_ref() == Some(s) {
                                    "answered last".into()
                                } else {
                                    "-".into()
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit status of `agent run` when the server removed this host (or the home has no
/// server): a service manager should not restart it.
const EXIT_REMOVED: u8 = 3;

/// One line of the agent's log: the time, the host name, the message.
fn log(host: &str, message: impl std::fmt::Display) {
    errln!(
        "{} {host} certherd agent: {message}",
        rfc3339(time::OffsetDateTime::now_utc())
    );
}

/// Why the run stopped, as the log says it.
fn removed_message(r: &certherd_agent::Removed) -> String {
    match r {
        certherd_agent::Removed::ByServer(e) => crate::hints::host_removed(e),
        _ => "this home no longer has a server (it was removed): join again with `certherd agent join`".into(),
    }
}

/// Writes one event of the agent's run as its log line.
fn log_event(host: &str, event: certherd_agent::Event<'_, Failure>) {
    use certherd_agent::Event as E;
    match event {
        E::Serving(addr) => log(host, format_args!("serving the host certificate on {addr}")),
        E::StartDeployFailed(e) => log(host, format_args!("deploy failed: {e}")),
        E::Wrote(p) => log(host, format_args!("wrote {}", p.display())),
        E::Ran { command, said } => log(host, format_args!("ran `{command}`{}", said_suffix(said))),
        E::ReloadFailed(e) => log(host, format_args!("warning: {e}")),
        E::WroteLayout { layout, dir, files } => log(
            host,
            format_args!(
                "wrote the {layout} layout in {} ({files} files)",
                dir.display()
            ),
        ),
        E::RecordingDeployFailed(e) => errln!("warning: recording the deploy result: {e}"),
        E::ReportingDeployFailed(e) => log(host, format_args!("reporting the deploy: {e}")),
        E::Polled {
            polled: p,
            after_failures,
        } => {
            for (server, why) in &p.skipped {
                log(host, format_args!("passed over {server}: {why}"));
            }
            if !p.skipped.is_empty() {
                log(host, format_args!("polled through {}", p.server));
            }
            if p.pool_refreshed {
                log(host, "polled: pool-internal identity replaced");
            }
            if p.renewed || p.trust_added > 0 || p.trust_removed > 0 {
                log(
                    host,
                    format_args!(
                        "polled: renewed {}, trusted roots +{} -{}",
                        p.renewed, p.trust_added, p.trust_removed
                    ),
                );
            }
            if after_failures > 0 {
                log(
                    host,
                    format_args!("polled again after {after_failures} failure(s)"),
                );
            }
        }
        E::PollFailed {
            failures,
            retry_in,
            error,
        } => log(
            host,
            format_args!(
                "poll failed ({failures} in a row), retrying in {:.1}s: {}",
                retry_in.as_secs_f64(),
                crate::hints::round_failure(error).message
            ),
        ),
        E::Stopped(r) => log(host, format_args!("stopped: {}", removed_message(r))),
        _ => {}
    }
}

/// `agent run`: polls until the server removes this host; failures are retried with
/// backoff, never fatal.
fn agent_run(
    home: &Home,
    poll: &str,
    once: bool,
    timeout: &str,
    retry_max: &str,
) -> Result<ExitCode, Failure> {
    let config = certherd_agent::RunConfig {
        every: duration(poll, "--poll")?,
        timeout: duration(timeout, "--timeout")?,
        retry_max: duration(retry_max, "--retry-max")?,
        once,
        seed: u64::from_le_bytes(random32()?[..8].try_into().unwrap_or_default()),
    };
    let ended = certherd_agent::run(&config, || open_node(home), log_event).map_err(|e| match e {
        certherd_agent::StartError::Open(f) => f,
        certherd_agent::StartError::Agent(certherd_agent::Error::NotJoined) => {
            let mut f = Failure::msg(
                "this home has not joined a server (or the server removed it): run `certherd agent join` first",
            );
            f.code = Some(EXIT_REMOVED);
            f
        }
        certherd_agent::StartError::Agent(certherd_agent::Error::Node(e)) => e.into(),
        certherd_agent::StartError::Agent(e) => agent_error(e),
        e => Failure::msg(e.to_string()),
    })?;
    match ended {
        certherd_agent::Ended::Removed(_) => Ok(ExitCode::from(EXIT_REMOVED)),
        certherd_agent::Ended::Failed(e) => Err(crate::hints::round_failure(&e)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `: OUTPUT` for a reload that printed something, on one line.
fn said_suffix(said: &str) -> String {
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

/// Shows the server's CA fingerprint and asks; refuses without a terminal or in CI.
fn confirm_fingerprint(server: &str, timeout: Duration) -> Result<String, Failure> {
    let address = server
        .strip_prefix("https://")
        .unwrap_or(server)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let chain = certherd_tls::fetch_chain(
        &certherd_tls::Endpoint {
            address,
            proxy: None,
            timeout,
            server_name: None,
            starttls: None,
        },
        None,
    )
    .map_err(|e| Failure::msg(e.to_string()))?;
    let root = chain
        .last()
        .ok_or_else(|| Failure::msg("the server presented no certificate"))?;
    let info = certherd_x509::CertInfo::from_der(root)?;
    let shown = format!(
        "the server's CA is {} with SHA-256 {}",
        info.subject,
        colon_hex(&info.sha256)
    );
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci || !std::io::stdin().is_terminal() {
        let mut f = Failure::msg(format!(
            "{shown}; not trusted without --ca-fingerprint (no terminal to confirm on)"
        ));
        f.hint = Some(
            "compare it with `certherd host add` on the server, then pass --ca-fingerprint".into(),
        );
        return Err(f);
    }
    eprint!("{shown}\nIs this the fingerprint `certherd host add` printed? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::msg(e.to_string()))?;
    if answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes") {
        Ok(info.sha256)
    } else {
        Err(Failure::msg("not confirmed; nothing was sent"))
    }
}

/// `pool`.
pub fn pool(home: &Home, c: PoolCmd) -> Result<ExitCode, Failure> {
    let o = match c {
        PoolCmd::CertificateList(o) => o,
        other => return Err(crate::not_carried_out(&other)),
    };
    let node = open_node(home)?;
    let rows = node.fleet().pool_certificates()?;
    match o.output {
        Output::Json => json(&json!(rows
            .iter()
            .map(|r| json!({
                "host": r.host,
                "kind": r.kind,
                "subject": r.meta.subject,
                "sha256": r.meta.sha256,
                "not_after": rfc3339(r.meta.not_after),
            }))
            .collect::<Vec<_>>())),
        Output::Table => table(
            &["HOST", "KIND", "SHA-256", "NOT AFTER"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        r.kind.to_owned(),
                        colon_hex(&r.meta.sha256),
                        rfc3339(r.meta.not_after),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `admin`.
pub fn admin(home: &Home, c: AdminCmd) -> Result<ExitCode, Failure> {
    let AdminCmd::Credential(a) = c;
    match a.command {
        Some(CredentialCmd::List { output }) => {
            let node = open_node(home)?;
            let all = node.admin().admin_credentials()?;
            let when = |t: Option<certherd_core::OffsetDateTime>| t.map(rfc3339);
            match output {
                Output::Json => json(&json!(all
                    .iter()
                    .map(|c| json!({
                        "name": c.name,
                        "kind": c.kind.as_str(),
                        "role": c.role.as_str(),
                        "created_at": when(c.created_at),
                        "expires_at": when(c.expires_at),
                        "revoked_at": when(c.revoked_at),
                        "sha256": c.sha256,
                    }))
                    .collect::<Vec<_>>())),
                Output::Table => {
                    let dash = |t: Option<certherd_core::OffsetDateTime>| {
                        when(t).unwrap_or_else(|| "-".into())
                    };
                    let rows: Vec<Vec<String>> = all
                        .iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                c.kind.as_str().to_owned(),
                                c.role.as_str().to_owned(),
                                dash(c.created_at),
                                dash(c.expires_at),
                                dash(c.revoked_at),
                            ]
                        })
                        .collect();
                    table(
                        &["NAME", "KIND", "ROLE", "CREATED", "EXPIRES", "REVOKED"],
                        &rows,
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(CredentialCmd::Revoke { name, reason }) => {
            let reason = certherd_x509::RevocationReason::parse(&reason).ok_or_else(|| {
                Failure::usage(format!(
                    "unknown revocation reason '{}' (expected one of: {})",
                    reason.escape_debug(),
                    certherd_x509::RevocationReason::ALL
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let by = format!(
                "local:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let mut node = open_node(home)?;
            let n = node
                .admin_mut()
                .admin_credential_revoke_for(&name, reason, &by)?;
            errln!("revoked {n} credential(s) of {name}; the server refuses them from the next call on");
            Ok(ExitCode::SUCCESS)
        }
        None => credential_add(home, a),
    }
}

/// `admin credential NAME`: a bearer token, or a client certificate with --client-cert.
fn credential_add(home: &Home, a: CredentialArgs) -> Result<ExitCode, Failure> {
    let name = a.name.or(a.name_flag).unwrap_or_else(|| "admin".to_owned());
    let role = match a.role {
        RoleArg::Reader => certherd_store::AdminRole::Reader,
        RoleArg::Admin => certherd_store::AdminRole::Admin,
    };
    let valid_for = match a.valid_for.as_deref() {
        Some(s) => {
            duration(s, "--valid-for")?;
            Some(s.parse::<Span>()?)
        }
        None => None,
    };
    let mut node = open_node(home)?;
    match (a.client_cert, a.out) {
        (true, Some(out)) => {
            if out.exists() || out.is_dir() {
                return Err(Failure::usage(format!(
                    "--out {}: the file exists; give a new file (it will hold a private key)",
                    out.display()
                )));
            }
            let issued = node
                .admin_mut()
                .admin_client_cert_add(&name, role, valid_for)?;
            let mut pem = issued.key.to_pem();
            pem.push_str(&certherd_x509::to_pem(
                certherd_x509::PemLabel::Certificate,
                &issued.cert,
            ));
            for c in &issued.chain {
                pem.push_str(&certherd_x509::to_pem(
                    certherd_x509::PemLabel::Certificate,
                    c,
                ));
            }
            certherd_store::write_atomic(&out, pem.as_bytes(), 0o600)?;
            let expires = issued.credential.expires_at.map(rfc3339);
            match a.output {
                Output::Json => json(&json!({
                    "name": name,
                    "kind": "client-cert",
                    "role": role.as_str(),
                    "out": out.display().to_string(),
                    "sha256": issued.credential.sha256,
                    "expires_at": expires,
                })),
                Output::Table => errln!(
                    "wrote {} (0600: key, certificate and CA chain): client certificate for {name}, role {}, expires {}; present it over mutual TLS (curl --cert {} --cacert CA.pem)",
                    out.display(),
                    role.as_str(),
                    expires.unwrap_or_default(),
                    out.display()
                ),
            }
        }
        _ => {
            let token =
                node.admin_mut()
                    .admin_credential_add(&name, role, valid_for, random32()?)?;
            match a.output {
                Output::Json => json(&json!({
                    "name": name,
                    "kind": "bearer",
                    "role": role.as_str(),
                    "token": token,
                })),
                Output::Table => {
                    outln!("{token}");
                    // The token goes to stdout only: stderr often lands in logs and
                    // terminals' scrollback, where a secret must not.
                    errln!("bearer token for {name}, role {}, printed once on stdout: send it as `Authorization: Bearer TOKEN`; it is not shown again", role.as_str());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
