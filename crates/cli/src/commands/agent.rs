//! `agent ...`: a host joins the fleet, runs its agent, and says how it stands.
use crate::commands::OutputArg;
use crate::instant::duration;

use crate::commands::Output;
use crate::instant::rfc3339;
use crate::node_over;
use crate::open_node;
use crate::render::colon_hex;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_fleet::FleetExt;
use certherd_store::Home;
use clap::Subcommand;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) fn random32() -> Result<[u8; 32], Failure> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Failure::msg("no randomness available"))?;
    Ok(b)
}

fn agent_error(e: certherd_agent::Error) -> Failure {
    crate::hints::agent_error(&e)
}

/// `agent`.
pub fn run(home: &Home, c: AgentCmd) -> Result<ExitCode, Failure> {
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
            let store = home.create().map_err(certherd_authority::Error::from)?;
            crate::commands::home::warn_modes(home);
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
            log,
        } => {
            crate::logging::install(&log)?;
            return agent_run(home, &poll, once, &timeout, &retry_max);
        }
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
        Output::Json => json(&AgentStatusJson {
            host: &host,
            servers: &g.servers,
            last_server: g.last_server.as_deref(),
            last_poll: g.last_poll.map(rfc3339),
            last_error: g.last_error.as_ref().map(|(at, m)| LastErrorJson {
                at: rfc3339(*at),
                message: m,
            }),
            verification: g.verification,
        }),
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

/// One line of the agent's log at `level`, with the host as a field (the subscriber
/// installed by `crate::logging` writes it).
macro_rules! log {
    ($level:ident, $host:expr, $($arg:tt)+) => {
        tracing::$level!(host = %$host, "certherd agent: {}", format_args!($($arg)+))
    };
}

/// Why the run stopped, as the log says it.
fn removed_message(r: &certherd_agent::Removed) -> String {
    match r {
        certherd_agent::Removed::ByServer(e) => crate::hints::host_removed(e),
        _ => "this home no longer has a server (it was removed): join again with `certherd agent join`".into(),
    }
}

/// Writes one event of the agent's run as its log line: failures the run goes on from
/// are warnings, the end of the run (removed from the server) an error.
fn log_event(host: &str, event: certherd_agent::Event<'_, Failure>) {
    use certherd_agent::Event as E;
    match event {
        E::Serving(addr) => tracing::info!(
            host = %host,
            listen = %addr,
            "certherd agent: serving the host certificate on {addr}"
        ),
        E::StartDeployFailed(e) => log!(warn, host, "deploy failed: {e}"),
        E::Wrote(p) => tracing::info!(
            host = %host,
            path = %p.display(),
            "certherd agent: wrote {}",
            p.display()
        ),
        E::Ran { command, said } => {
            log!(info, host, "ran `{command}`{}", said_suffix(said))
        }
        E::ReloadFailed(e) => log!(warn, host, "warning: {e}"),
        E::WroteLayout { layout, dir, files } => tracing::info!(
            host = %host,
            layout = %layout,
            files,
            "certherd agent: wrote the {layout} layout in {} ({files} files)",
            dir.display()
        ),
        E::RecordingDeployFailed(e) => {
            tracing::warn!(host = %host, "warning: recording the deploy result: {e}")
        }
        E::ReportingDeployFailed(e) => log!(warn, host, "reporting the deploy: {e}"),
        E::Polled {
            polled: p,
            after_failures,
        } => {
            for (server, why) in &p.skipped {
                tracing::warn!(
                    host = %host,
                    server = %server,
                    "certherd agent: passed over {server}: {why}"
                );
            }
            if !p.skipped.is_empty() {
                tracing::info!(
                    host = %host,
                    server = %p.server,
                    "certherd agent: polled through {}",
                    p.server
                );
            }
            if p.pool_refreshed {
                log!(info, host, "polled: pool-internal identity replaced");
            }
            if p.renewed || p.trust_added > 0 || p.trust_removed > 0 {
                tracing::info!(
                    host = %host,
                    renewed = p.renewed,
                    trust_added = p.trust_added,
                    trust_removed = p.trust_removed,
                    "certherd agent: polled: renewed {}, trusted roots +{} -{}",
                    p.renewed,
                    p.trust_added,
                    p.trust_removed
                );
            }
            if after_failures > 0 {
                log!(info, host, "polled again after {after_failures} failure(s)");
            }
        }
        E::PollFailed {
            failures,
            retry_in,
            error,
        } => tracing::warn!(
            host = %host,
            failures,
            "certherd agent: poll failed ({failures} in a row), retrying in {:.1}s: {}",
            retry_in.as_secs_f64(),
            crate::hints::round_failure(error).message
        ),
        E::Stopped(r) => log!(error, host, "stopped: {}", removed_message(r)),
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

/// `agent` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Stop verifying the server while troubleshooting; the server holds an alarm for this
    /// host until verification is back on.
    #[command(name = "emergency-disable-verification")]
    EmergencyDisableVerification,
    /// Verify the server again; the alarm clears at the next poll.
    #[command(name = "emergency-reenable-verification")]
    EmergencyReenableVerification,
    /// Join a server: make this host's keys, pin the server's CA, get the host certificate.
    ///
    /// Without --ca-fingerprint the server's CA fingerprint is shown and you are asked to
    /// confirm it; with CI=true or no terminal, join refuses instead.
    Join {
        /// The server, https://HOST:PORT; repeatable: the first is joined, every one is
        /// recorded for `agent run` to fail over to (with those the server advertises in
        /// `[fleet] servers`), each one trusted only with the pool's CA.
        #[arg(long = "server", value_name = "URL", required = true)]
        servers: Vec<String>,
        /// The token from `certherd host add`.
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// SHA-256 of the server's root CA, as `host add` printed it.
        #[arg(long, value_name = "SHA256")]
        ca_fingerprint: Option<String>,
        /// This host's FQDN [default: the name `host add` enrolled for this token].
        #[arg(long, value_name = "FQDN")]
        hostname: Option<String>,
        /// An IP address of this host; repeatable [default: the enrolled ones].
        #[arg(long = "ip", value_name = "ADDR")]
        ips: Vec<std::net::IpAddr>,
        /// Where `agent run` serves the host certificate (the host's server identity).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// Join with certificate verification off (only a pool whose verification is off
        /// accepts this; both sides must agree).
        #[arg(long)]
        no_verification: bool,
        /// This host's key algorithm (its host certificate's key, at join and at every
        /// renewal): ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519. When the
        /// server's `[profiles.host] key_algo` sets one, that one is used and another is
        /// refused [default: the server's host profile's, else ecdsa-p256].
        #[arg(long, value_name = "ALG")]
        key_algo: Option<String>,
        /// Connect timeout.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: String,
    },
    /// Keep this host in step with the server: heartbeat, trust sync, renewal when due.
    ///
    /// After each change it writes the `[[agent.targets]]` files of certherd.toml (atomic
    /// replace, keys 0600) and runs `[agent] reload`; a target with `layout = "libvirt"` or
    /// `"qemu"` gets the whole tree (replaced whole or not at all) and its own `reload`,
    /// killed after `reload_timeout`; a failure is reported to the server (`deploy-failed`).
    /// With a listen address from `join`, it serves the host certificate there.
    ///
    /// A failed poll (server down, network, a deploy that failed) is logged and retried
    /// after 1s, 2s, 4s... (with jitter) up to --retry-max; the first success goes back to
    /// --poll. Each log line starts with the time and the host name. When the server
    /// answers that it no longer knows this host (`certherd host remove`), the agent
    /// forgets the server, says so and exits with status 3 (for systemd:
    /// RestartPreventExitStatus=3).
    ///
    /// With several servers (`agent join --server` repeated, and the server's `[fleet]
    /// servers`), a poll goes to the one that answered last, passing over one that does
    /// not answer (no connection, --timeout, a 5xx) for the next, and refusing one whose
    /// certificate is not of the pool's CA; `agent status` shows which answered last.
    Run {
        /// Time between polls.
        #[arg(long, value_name = "DURATION", default_value = "60s")]
        poll: String,
        /// Poll once and exit (for cron, or to check the set-up).
        #[arg(long)]
        once: bool,
        /// Connect timeout, and the longest wait for each answer.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: String,
        /// The longest wait between retries after failed polls.
        #[arg(long, value_name = "DURATION", default_value = "5m")]
        retry_max: String,
        /// The log's format.
        #[command(flatten)]
        log: crate::logging::LogArgs,
    },
    /// This agent's servers (the order a poll tries them in), which one answered last,
    /// the last poll and the last error.
    Status(OutputArg),
}

/// `agent status --output json`.
#[derive(serde::Serialize)]
struct AgentStatusJson<'a> {
    host: &'a str,
    servers: &'a [String],
    last_server: Option<&'a str>,
    last_poll: Option<String>,
    last_error: Option<LastErrorJson<'a>>,
    verification: bool,
}

/// The last poll error of `agent status --output json`.
#[derive(serde::Serialize)]
struct LastErrorJson<'a> {
    at: String,
    message: &'a str,
}

#[cfg(test)]
mod json_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The typed status prints as the `json!` object it replaced did: with and without a
    /// poll and an error.
    #[test]
    fn status_json_is_the_object_it_replaced() {
        let at = certherd_core::OffsetDateTime::UNIX_EPOCH;
        let servers = vec!["https://a:8443".to_owned(), "https://b:8443".to_owned()];
        for (last_server, last_poll, last_error) in [
            (None, None, None),
            (
                Some("https://b:8443"),
                Some(at),
                Some((at, "connection refused".to_owned())),
            ),
        ] {
            let typed = AgentStatusJson {
                host: "esx1.example.test",
                servers: &servers,
                last_server,
                last_poll: last_poll.map(rfc3339),
                last_error: last_error.as_ref().map(|(at, m)| LastErrorJson {
                    at: rfc3339(*at),
                    message: m,
                }),
                verification: true,
            };
            let by_hand = serde_json::json!({
                "host": "esx1.example.test",
                "servers": servers,
                "last_server": last_server,
                "last_poll": last_poll.map(rfc3339),
                "last_error": last_error.as_ref().map(|(at, m)| serde_json::json!({"at": rfc3339(*at), "message": m})),
                "verification": true,
            });
            assert_eq!(serde_json::to_value(&typed).unwrap(), by_hand);
        }
    }
}
