//! The commands that are operations ([`certherd_ops`]): one code path whether they run on
//! the home or against `--server`, through [`Operations`], with one view of the answer.
//! The CLI parses the arguments and reads the files here; what is done is the operation's.

use std::path::Path;
use std::process::ExitCode;

use certherd_core::{EntryRef, StoreName};
use certherd_ops::{CertFilter, Horizon, Operations, Request};
use certherd_protocol::admin::ROUTES;

use crate::args::{
    CaCmd, CertCmd, Command, HostCmd, KeyProviderCmd, OutputArg, PoolCmd, TrustCmd,
    VerificationAction,
};
use crate::Failure;

/// A transport failure, already worded by the CLI (with its hint), carried through the
/// operation's error and taken back out unchanged.
#[derive(Debug)]
pub struct TransportFailure(pub Failure);

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for TransportFailure {}

impl From<certherd_ops::Error> for Failure {
    fn from(e: certherd_ops::Error) -> Self {
        use certherd_ops::Error as E;
        match e {
            E::Node(e) => e.into(),
            E::Refused {
                code,
                status,
                message,
            } => {
                let mut f = Failure::msg(message);
                if let Some(code) = code {
                    f.hint = Some(format!("the server refused it: {} ({status})", code.name()));
                }
                f
            }
            E::Transport(boxed) => match boxed.downcast::<TransportFailure>() {
                Ok(t) => t.0,
                Err(other) => Failure::msg(other.to_string()),
            },
            other => Failure::msg(other.to_string()),
        }
    }
}

/// The commands that run against `--server`, read from the admin API's route table (each
/// route names its command in its summary), grouped by noun: `host list/add/...`.
pub fn remote_commands() -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in ROUTES {
        let mut rest = r.summary;
        while let Some(start) = rest.find('`') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else { break };
            let name = &after[..end];
            rest = &after[end + 1..];
            let (noun, verb) = name.rsplit_once(' ').unwrap_or((name, ""));
            let verb = verb.replace('|', "/");
            match groups.iter_mut().find(|(n, _)| n == noun) {
                Some((_, verbs)) if !verb.is_empty() && !verbs.contains(&verb) => verbs.push(verb),
                Some(_) => {}
                None => groups.push((
                    noun.to_owned(),
                    if verb.is_empty() {
                        Vec::new()
                    } else {
                        vec![verb]
                    },
                )),
            }
        }
    }
    groups
        .iter()
        .map(|(noun, verbs)| {
            if verbs.is_empty() {
                noun.clone()
            } else {
                format!("{noun} {}", verbs.join("/"))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `FILE: reason`, as a refusal about a file the user named reads.
fn about(path: &Path) -> impl Fn(certherd_ops::Error) -> Failure + '_ {
    move |e| {
        let f = Failure::from(e);
        Failure {
            message: format!("{}: {}", path.display(), f.message),
            ..f
        }
    }
}

/// The operations on a home, opened at the first call (a command that is not an
/// operation never opens it here).
pub struct HomeOps<'h> {
    home: &'h certherd_store::Home,
    node: Option<crate::LocalNode>,
    actor: String,
}

impl<'h> HomeOps<'h> {
    /// The operations on `home`, on behalf of the local user (what a revocation records).
    pub fn new(home: &'h certherd_store::Home) -> Self {
        Self {
            home,
            node: None,
            actor: format!(
                "local:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
        }
    }
}

impl Operations for HomeOps<'_> {
    fn call(&mut self, request: Request) -> Result<certherd_ops::Answer, certherd_ops::Error> {
        let node = match &mut self.node {
            Some(n) => n,
            empty => empty.insert(
                crate::open_node(self.home)
                    .map_err(|f| certherd_ops::Error::Transport(Box::new(TransportFailure(f))))?,
            ),
        };
        certherd_ops::Local::new(node, self.actor.clone()).call(request)
    }
}

/// What a command is, for [`run`]: an operation it carried out, or not one of them.
pub enum Ran {
    /// It ran (or failed) as operations.
    Done(Result<ExitCode, Failure>),
    /// Not an operation (in this form): given back.
    NotAnOperation(Box<Command>),
}

/// Runs `command` through `ops` if every form of it given is an operation.
pub fn run(ops: &mut dyn Operations, command: Command) -> Ran {
    let done = match command {
        Command::Host(HostCmd::List(o)) => {
            host_list(ops, o).map(|()| ExitCode::SUCCESS)
        }
        Command::Host(HostCmd::Remove { name }) => ops
            .host_remove(&name)
            .map(|r| crate::views::host_removed(&r))
            .map(|()| ExitCode::SUCCESS)
            .map_err(Failure::from),
        Command::Host(HostCmd::ResetServerCert { name }) => ops
            .order(Request::HostResetServerCert { name: name.clone() })
            .map(|_| {
                outln!("ordered: {name} makes a new key and gets a new server certificate at its next poll");
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        Command::Host(HostCmd::RefreshPoolCert { name }) => ops
            .order(Request::HostRefreshPoolCert { name: name.clone() })
            .map(|_| {
                outln!("ordered: {name} makes a new pool-internal certificate at its next poll, and the server pins it");
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        Command::Pool(PoolCmd::Verification { action, output }) => {
            pool_verification(ops, action, output).map(|()| ExitCode::SUCCESS)
        }
        Command::Cert(CertCmd::List(a)) if a.at.is_none() => cert_list(ops, a.store, a.output),
        Command::Cert(CertCmd::Show(a)) => a
            .entry
            .parse::<EntryRef>()
            .map_err(Failure::from)
            .and_then(|e| ops.cert_show(e).map_err(Failure::from))
            .map(|d| {
                crate::views::cert_detail(&d, a.output);
                ExitCode::SUCCESS
            }),
        Command::Cert(CertCmd::Revoke(a)) => crate::cert_cmd::revocation_reason(&a.reason)
            .and_then(|reason| {
                let entry: EntryRef = a.entry.parse()?;
                Ok(ops.cert_revoke(entry, reason)?)
            })
            .map(|done| {
                crate::views::revoked(&done, a.output);
                ExitCode::SUCCESS
            }),
        Command::Trust(c) => trust(ops, c).map(|()| ExitCode::SUCCESS),
        Command::Audit(o) => ops
            .audit_all()
            .map(|rows| {
                crate::views::audit(&rows, o.output);
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        Command::Ca(CaCmd::Show(o)) => ops
            .ca_show()
            .map(|s| {
                crate::views::ca_show(&s, o.output);
                ExitCode::SUCCESS
            })
            .map_err(Failure::from),
        Command::Ca(CaCmd::Rotate(o)) => ops
            .ca_rotate()
            .map(|step| crate::views::rotation(&step, o.output))
            .map_err(Failure::from),
        Command::Forecast(a) => {
            use certherd_core::Clock;
            crate::forecast_cmd::until_from(certherd_ca::SystemClock.now(), a.until.as_deref())
                .and_then(|until| Ok(ops.forecast(Horizon::Until(until))?))
                .map(|f| {
                    crate::views::forecast(&f, a.output);
                    ExitCode::SUCCESS
                })
        }
        Command::KeyProvider(KeyProviderCmd::Status {
            name,
            timeout,
            output,
        }) => key_provider_status(ops, name, &timeout, output),
        other => return Ran::NotAnOperation(Box::new(other)),
    };
    Ran::Done(done)
}

/// `key-provider status NAME`: exit 0 only when every server is healthy.
fn key_provider_status(
    ops: &mut dyn Operations,
    name: String,
    timeout: &str,
    output: crate::args::Output,
) -> Result<ExitCode, Failure> {
    let span: certherd_core::Span = timeout.parse()?;
    // Whole seconds, at least one: what the operation takes.
    let seconds = u64::try_from(span.duration().whole_seconds().clamp(1, 300)).unwrap_or(10);
    let checked = ops.key_providers(Some(name.clone()), seconds)?;
    let p = checked
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            Failure::msg(format!(
                "the answer does not name the key provider '{name}'"
            ))
        })?;
    let healthy = p.health == "OK";
    // Without a client certificate every server fails for that reason: say what makes one.
    let detail = |s: &certherd_protocol::admin::KmipServerHealth| {
        if p.client_certificate {
            format!("{}{}", s.detail, crate::hints::kmip_check(&s.status))
        } else {
            format!(
                "{}: run `key-provider client-cert new {}`",
                s.detail, p.name
            )
        }
    };
    match output {
        crate::args::Output::Json => crate::render::json(&serde_json::json!({
            "provider": p.name,
            "primary_key_id": p.primary_key_id,
            "health": p.health,
            "servers": p.servers.iter().map(|s| serde_json::json!({"address": s.address, "status": s.status, "detail": detail(s)})).collect::<Vec<_>>(),
        })),
        crate::args::Output::Table => {
            outln!("Key provider {}: health {}", p.name, p.health);
            for s in &p.servers {
                outln!("  {}  {}", s.address, detail(s));
            }
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn host_list(ops: &mut dyn Operations, o: OutputArg) -> Result<(), Failure> {
    let hosts = ops.host_list()?;
    crate::views::host_list(&hosts, o.output);
    Ok(())
}

fn pool_verification(
    ops: &mut dyn Operations,
    action: VerificationAction,
    output: crate::args::Output,
) -> Result<(), Failure> {
    if action == VerificationAction::Status {
        let enabled = ops.pool_verification(None)?;
        let hosts: Vec<(String, Option<bool>)> = ops
            .host_list()?
            .into_iter()
            .map(|h| (h.name, h.verification))
            .collect();
        crate::views::pool_verification(enabled, &hosts, output);
        return Ok(());
    }
    let enabled = ops.pool_verification(Some(action == VerificationAction::Enable))?;
    outln!(
        "pool certificate verification {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn cert_list(
    ops: &mut dyn Operations,
    store: Option<String>,
    output: crate::args::Output,
) -> Result<ExitCode, Failure> {
    if let Some(s) = &store {
        s.parse::<StoreName>()?;
    }
    let all = store.is_none();
    let rows = ops.cert_list(CertFilter {
        store,
        ..CertFilter::default()
    })?;
    crate::views::cert_list(&rows, all, output);
    Ok(ExitCode::SUCCESS)
}

fn trust(ops: &mut dyn Operations, c: TrustCmd) -> Result<(), Failure> {
    match c {
        TrustCmd::Add { file } => {
            let bytes = crate::failure::read_input(&file)?;
            // The operation takes PEM text: certificates in DER are sent as PEM.
            let pem: String = certherd_x509::parse_certificates(&bytes)
                .map_err(|e| Failure::file(&file, e))?
                .iter()
                .map(|c| certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, c))
                .collect();
            let added = ops.trust_add(pem).map_err(about(&file))?;
            crate::views::trust_added(&added);
        }
        TrustCmd::List(o) => {
            let rows = ops.cert_list(CertFilter {
                store: Some(StoreName::TRUSTED_ROOTS.to_owned()),
                ..CertFilter::default()
            })?;
            crate::views::trust_list(&rows, o.output);
        }
        TrustCmd::Remove { fingerprint } => {
            let removed = ops.trust_remove(fingerprint)?;
            crate::views::trust_removed(&removed);
        }
        TrustCmd::AddCrl { file } => {
            let bytes = crate::failure::read_input(&file)?;
            // The operation takes PEM text: a DER CRL is sent as PEM.
            let pem = match std::str::from_utf8(&bytes) {
                Ok(text) if text.contains("-----BEGIN") => text.to_owned(),
                _ => certherd_x509::to_pem(certherd_x509::PemLabel::Crl, &bytes),
            };
            let added = ops.crl_add(pem).map_err(about(&file))?;
            crate::views::crl_added(&added);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `noun verb/verb, noun` as (noun, sorted verbs), sorted.
    fn groups(list: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = list
            .split(", ")
            .map(|g| {
                let (noun, verbs) = match g.rsplit_once(' ') {
                    Some((n, v))
                        if v.contains('/') || !["alarms", "audit", "forecast"].contains(&g) =>
                    {
                        (n, v)
                    }
                    _ => (g, ""),
                };
                let mut verbs: Vec<String> = verbs
                    .split('/')
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                verbs.sort_unstable();
                (noun.to_owned(), verbs)
            })
            .collect();
        out.sort();
        out
    }

    /// The list comes from the route table, and `--help` names the same commands.
    #[test]
    fn the_remote_commands_are_those_the_routes_and_the_help_name() {
        use clap::CommandFactory;
        let list = remote_commands();
        let help = crate::args::Cli::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = help
            .split("Commands that work remotely: ")
            .nth(1)
            .and_then(|s| s.split("; every other").next())
            .unwrap_or_default();
        assert_eq!(
            groups(&list),
            groups(shown),
            "routes: {list}\nhelp: {shown}"
        );
    }
}
