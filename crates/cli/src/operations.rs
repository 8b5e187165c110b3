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
            E::Fleet(e) => e.into(),
            E::Monitor(e) => e.into(),
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
    for name in ROUTES.iter().flat_map(|r| r.commands()) {
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
        let node =
            match &mut self.node {
                Some(n) => n,
                empty => {
                    let store = match self.home.open() {
                        Ok(s) => s,
                        // A database out of reach now may answer later.
                        Err(e @ certherd_store::Error::Unreachable { .. }) => {
                            return Err(certherd_ops::Error::Unavailable(Box::new(e)))
                        }
                        Err(e) => return Err(certherd_ca::Error::from(e).into()),
                    };
                    empty.insert(crate::node_over(self.home, store).map_err(|f| {
                        certherd_ops::Error::Transport(Box::new(TransportFailure(f)))
                    })?)
                }
            };
        let lock = WaitingLock(self.home);
        let answer = certherd_ops::Local::new(node, self.actor.clone())
            .with_lock(&lock)
            .call(request);
        // A connection the database closed (a restart, a failover) is opened afresh at the
        // next call.
        match answer {
            Err(e) if node.store().is_closed() => {
                self.node = None;
                Err(certherd_ops::Error::Unavailable(Box::new(e)))
            }
            other => other,
        }
    }
}

/// The home's renewal lock as the CLI takes it: waiting for a run that holds it, said on
/// standard error.
struct WaitingLock<'h>(&'h certherd_store::Home);

impl certherd_ops::RenewalLock for WaitingLock<'_> {
    fn hold(&self, what: &str) -> Result<Box<dyn std::any::Any>, certherd_ops::Error> {
        use certherd_core::Clock;
        crate::cert_cmd::lock_home(self.0, certherd_ca::SystemClock.now(), what)
            .map(|l| Box::new(l) as Box<dyn std::any::Any>)
            .map_err(|f| certherd_ops::Error::Transport(Box::new(TransportFailure(f))))
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
        Command::Fleet(c) => fleet_renew(ops, c),
        Command::Host(HostCmd::Add {
            name,
            ips,
            ttl,
            output,
        }) => host_add(ops, name, &ips, &ttl, output),
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
        Command::Cert(CertCmd::Issue(a)) => cert_issue(ops, a),
        // One named entry; a selection (--all, --profile...) is the home's bulk run.
        Command::Cert(CertCmd::Renew(a))
            if a.profile.is_none()
                && !a.all
                && a.expiring_within.is_none()
                && !a.due
                && !a.dry_run
                && a.entry.is_some() =>
        {
            cert_renew(ops, a)
        }
        // The certificate and its chain as PEM: what an operation gives (never a key).
        Command::Cert(CertCmd::Export(a))
            if !a.key
                && !a.key_only
                && a.layout.is_none()
                && a.format == crate::args::FormatArg::Pem =>
        {
            cert_export(ops, a)
        }
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
        Command::Audit(a) => audit(ops, a),
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

/// `key-provider status --output json`.
#[derive(serde::Serialize)]
struct ProviderJson<'a> {
    provider: &'a str,
    primary_key_id: &'a str,
    health: &'a str,
    servers: Vec<KmipServerJson<'a>>,
}

/// One server of [`ProviderJson`].
#[derive(serde::Serialize)]
struct KmipServerJson<'a> {
    address: &'a str,
    status: &'a str,
    detail: String,
}

/// `host add --output json`: the token is shown this once.
#[derive(serde::Serialize)]
struct HostAddedJson<'a> {
    host: &'a str,
    token: &'a str,
    ca_fingerprint: &'a str,
    expires_at: &'a str,
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
        crate::args::Output::Json => crate::render::json(&ProviderJson {
            provider: &p.name,
            primary_key_id: &p.primary_key_id,
            health: &p.health,
            servers: p
                .servers
                .iter()
                .map(|s| KmipServerJson {
                    address: &s.address,
                    status: &s.status,
                    detail: detail(s),
                })
                .collect(),
        }),
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

/// `cert renew STORE/ALIAS`: a new key and certificate, the old one kept in backup.
fn cert_renew(ops: &mut dyn Operations, a: crate::args::RenewArgs) -> Result<ExitCode, Failure> {
    let entry: EntryRef = a.entry.as_deref().unwrap_or_default().parse()?;
    let renewed = ops.cert_renew(entry)?;
    let c = &renewed.certificate;
    let name = format!("{}/{}", c.store, c.alias);
    let not_after = crate::views::time_of(&c.not_after)
        .map_or_else(|| c.not_after.clone(), crate::instant::rfc3339);
    // As `cert renew` reports one entry on the home.
    match a.output {
        crate::args::Output::Json => {
            let v = serde_json::json!({"entry": name, "ok": true, "skipped": false, "serial": c.serial, "not_after": not_after, "profile": c.profile, "backup": renewed.backup, "warnings": renewed.warnings});
            outln!("[");
            outln!(
                "{}",
                serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
            );
            outln!("]");
        }
        crate::args::Output::Table => {
            for w in &renewed.warnings {
                errln!("warning: {name}: {w}");
            }
            if let Some(h) = crate::hints::after_renewal(false, c.profile.as_deref()) {
                errln!("hint: {name}: {h}");
            }
            outln!(
                "renewed {name}  serial {}  not after {not_after}  (previous kept as {})",
                c.serial,
                renewed.backup.clone().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cert issue`: the arguments checked here (a usage error exits 2), the issuing the
/// operation's.
fn cert_issue(ops: &mut dyn Operations, a: crate::args::IssueArgs) -> Result<ExitCode, Failure> {
    let store: StoreName = a.store.parse()?;
    let alias = a
        .alias
        .clone()
        .or_else(|| a.cn.clone())
        .or_else(|| a.sans.first().cloned())
        .ok_or_else(|| Failure::usage("give --alias, --cn or --san"))?;
    if let Some(algo) = &a.key_algo {
        algo.parse::<certherd_x509::KeyAlgorithm>()
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    if let Some(cn) = &a.cn {
        crate::input::printable("--cn", cn).map_err(|e| Failure::usage(e.to_string()))?;
    }
    for name in &a.sans {
        crate::input::printable("--san", name).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let entry = EntryRef::new(store, alias.parse()?);
    let issued = ops
        .cert_issue(certherd_protocol::admin::IssueRequest {
            store: entry.store.to_string(),
            alias: entry.alias.to_string(),
            profile: a.profile,
            common_name: a.cn,
            names: a.sans,
            key_algo: a.key_algo,
        })
        .map_err(|e| match e {
            // The common name's rules, worded by the flags that set it.
            certherd_ops::Error::Node(certherd_ca::Error::CommonNameTooLong { length, from_name }) => Failure::usage(
                if from_name {
                    format!("the first --san, the common name without --cn, is {length} characters; RFC 5280 allows a common name of at most {} (ub-common-name): give a shorter --cn", certherd_x509::UB_COMMON_NAME)
                } else {
                    format!("--cn is {length} characters; RFC 5280 allows at most {} (ub-common-name)", certherd_x509::UB_COMMON_NAME)
                },
            ),
            certherd_ops::Error::Node(certherd_ca::Error::CommonNameEmpty { from_name }) => Failure::usage(
                if from_name {
                    "the first --san, the common name without --cn, is empty; give a --cn of 1 to 64 characters".to_owned()
                } else {
                    format!("--cn is empty or only spaces; RFC 5280 requires a common name of 1 to {} characters", certherd_x509::UB_COMMON_NAME)
                },
            ),
            e => e.into(),
        })?;
    use certherd_core::Clock;
    crate::views::issued(
        &issued.certificate,
        &issued.warnings,
        "issued",
        certherd_ca::SystemClock.now(),
        a.output,
    );
    Ok(ExitCode::SUCCESS)
}

/// `cert export ENTRY` as PEM: the certificate and its chain, the root only with
/// `--with-root`, to standard output or `--out FILE`.
fn cert_export(ops: &mut dyn Operations, a: crate::args::ExportArgs) -> Result<ExitCode, Failure> {
    let entry: EntryRef = a.entry.parse()?;
    if let Some(path) = a.out.as_ref().filter(|p| p.is_dir()) {
        return Err(Failure::msg(format!(
            "--out {}: the output path is a directory; give a file name in it",
            path.display()
        )));
    }
    let e = ops.cert_export(entry)?;
    let mut pem = e.certificate;
    let n = e.chain.len();
    for (i, c) in e.chain.iter().enumerate() {
        let root = i + 1 == n
            && certherd_x509::parse_certificates(c.as_bytes())
                .ok()
                .and_then(|d| d.first().cloned())
                .and_then(|d| certherd_x509::CertInfo::from_der(&d).ok())
                .is_some_and(|info| info.self_issued);
        if a.with_root || !root {
            pem.push_str(c);
        }
    }
    match &a.out {
        Some(path) => {
            certherd_store::write_atomic(path, pem.as_bytes(), 0o644)?;
            errln!("wrote {}", path.display());
        }
        None => out!("{pem}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `fleet renew`: new host certificates ordered, then watched until each host has renewed
/// or `--wait` runs out. The orders are saved: a database out of reach while waiting (a
/// PostgreSQL restart or failover) is waited through, said once.
fn fleet_renew(ops: &mut dyn Operations, c: crate::args::FleetCmd) -> Result<ExitCode, Failure> {
    let crate::args::FleetCmd::Renew {
        profile,
        hosts,
        wait,
        output,
    } = c;
    if profile != "host" {
        return Err(Failure::usage(format!("the fleet renews `host` certificates; '{profile}' is renewed on its node with `certherd cert renew`")));
    }
    let wait = crate::fleet_cmd::duration(&wait, "--wait")?;
    let ordered = ops
        .order(Request::FleetRenew(
            certherd_protocol::admin::FleetRenewRequest { hosts },
        ))?
        .hosts;
    if ordered.is_empty() {
        return Err(Failure::msg(
            "no joined host to renew (see `certherd host list`)",
        ));
    }
    let bar = indicatif::ProgressBar::new(ordered.len() as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} hosts renewed {elapsed}")
    {
        bar.set_style(style);
    }
    let deadline = std::time::Instant::now() + wait;
    let mut done = vec![false; ordered.len()];
    let mut said_unreachable = false;
    while std::time::Instant::now() < deadline && done.iter().any(|d| !d) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = match ops.host_list() {
            Ok(now) => now,
            Err(e) if e.code() == certherd_protocol::ErrorCode::Unavailable => {
                if !said_unreachable {
                    errln!("the database is out of reach ({e}); the orders are saved, waiting for it until --wait runs out");
                    said_unreachable = true;
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (i, h) in ordered.iter().enumerate() {
            if !done[i] && now.iter().any(|n| &n.name == h && !n.renew_pending) {
                done[i] = true;
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    let certs = ops.cert_list(CertFilter {
        store: Some(certherd_ca::HOSTS_STORE.to_owned()),
        ..CertFilter::default()
    })?;
    let rows: Vec<(String, bool, Option<String>)> = ordered
        .iter()
        .zip(&done)
        .map(|(h, d)| {
            let na = certs
                .iter()
                .find(|c| &c.alias == h)
                .map(|c| c.not_after.clone());
            (h.clone(), *d, na)
        })
        .collect();
    Ok(crate::views::fleet_renew_results(&rows, output))
}

/// `host add`: the host enrolled, its one-time join token shown once.
fn host_add(
    ops: &mut dyn Operations,
    name: String,
    ips: &[std::net::IpAddr],
    ttl: &str,
    output: crate::args::Output,
) -> Result<ExitCode, Failure> {
    let span: certherd_core::Span = ttl.parse()?;
    if !(certherd_core::MIN_TOKEN_TTL..=certherd_core::MAX_TOKEN_TTL).contains(&span.duration()) {
        return Err(Failure::usage(format!(
            "--ttl {ttl}: a join token is valid from 1h to 720h (30 days)"
        )));
    }
    let added = ops.host_add(certherd_protocol::admin::HostAddRequest {
        name,
        ips: ips.iter().map(ToString::to_string).collect(),
        token_ttl_hours: None,
        token_ttl_seconds: u32::try_from(span.duration().whole_seconds()).ok(),
    })?;
    if added.metrics_open {
        errln!("warning: the server's /metrics is readable without a credential and lists every host, store and alias; set `[metrics] require_token = true` in certherd.toml (see `certherd server --help`)");
    }
    let fingerprint = crate::render::colon_hex(&added.ca_fingerprint);
    match output {
        crate::args::Output::Json => crate::render::json(&HostAddedJson {
            host: &added.host.name,
            token: &added.token,
            ca_fingerprint: &added.ca_fingerprint,
            expires_at: &added.token_expires_at,
        }),
        crate::args::Output::Table => {
            outln!("Host            {}", added.host.name);
            outln!("Token           {}", added.token);
            outln!("CA fingerprint  {fingerprint}");
            outln!("Expires         {}", added.token_expires_at);
            errln!("on the host: certherd agent join --server https://SERVER:PORT --token {} --ca-fingerprint {fingerprint} --hostname {}", added.token, added.host.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit`: the records that pass the filters, oldest first.
fn audit(ops: &mut dyn Operations, a: crate::args::AuditArgs) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let now = certherd_ca::SystemClock.now();
    let time = |flag: &str, t: &Option<String>| {
        t.as_deref()
            .map(|s| {
                crate::instant::parse_at(s, now).map_err(|f| Failure {
                    message: format!("{flag}: {}", f.message),
                    ..f
                })
            })
            .transpose()
    };
    let filter = certherd_ops::AuditFilter {
        action: a.action,
        subject: a.subject,
        since: time("--since", &a.since)?,
        until: time("--until", &a.until)?,
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s >= u {
            return Err(Failure::usage("--since must be before --until"));
        }
    }
    let rows = ops.audit_all(filter)?;
    crate::views::audit(&rows, a.output);
    Ok(ExitCode::SUCCESS)
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
