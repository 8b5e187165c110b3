//! Start-up: from a home and a typed configuration to a serving server. Reads the limits
//! and database bound from certherd.toml, finds (or issues) the server's own identity,
//! starts the audit-writer thread, and serves with the lifecycle loop.

use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use certherd_authority::Node;
use certherd_core::EntryRef;
use certherd_store::{Home, HomeStore, Store};

use crate::{Error, Seam};

/// Makes a node over a store of the home (the caller's settings checks and hooks).
pub type NodeOver = Arc<dyn Fn(HomeStore) -> Result<Node<HomeStore>, Seam> + Send + Sync>;

/// How `certherd server` runs.
pub struct StartConfig {
    /// The home the server serves.
    pub home: Home,
    /// Makes a node over a store of the home.
    pub node_over: NodeOver,
    /// Where to listen.
    pub listen: SocketAddr,
    /// How often the lifecycle loop runs.
    pub evaluate_every: Duration,
    /// Where to serve the CRLs over plain HTTP, if anywhere.
    pub crl_listen: Option<SocketAddr>,
    /// The name this server presents when it is not the node's (several servers on one
    /// database).
    pub hostname: Option<String>,
    /// The addresses of that name, for its certificate.
    pub ips: Vec<IpAddr>,
}

/// What start-up tells its caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum Started<'a> {
    /// The server's own `machine-ssl/HOSTNAME` was issued from the shared CA.
    IssuedIdentity(&'a EntryRef),
    /// The server listens on this address.
    Listening(SocketAddr),
}

/// Starts the server and serves until SIGTERM or SIGINT.
pub fn start(config: StartConfig, mut say: impl FnMut(Started<'_>)) -> Result<(), Error> {
    let StartConfig {
        home,
        node_over,
        listen,
        evaluate_every,
        crl_listen,
        hostname,
        ips,
    } = config;
    let open_home = || -> Result<Node<HomeStore>, Error> {
        let store = home.open().map_err(|e| Error::Open(e.into()))?;
        node_over(store).map_err(Error::Open)
    };
    // Fail now, with the usual message, if the home is not initialized.
    let (limits, database_connections) = {
        let node = open_home()?;
        let settings = node.settings();
        let limits = settings.server.limits().map_err(Error::Settings)?;
        let postgres = matches!(node.store(), HomeStore::Postgres(_));
        let connections = settings
            .database
            .max_connections(postgres)
            .map_err(Error::Settings)?;
        (limits, connections)
    };
    let config_path = home.config_path();
    let lock_home = home.clone();
    // A DNS name in any case is one name: kept lower-case, as host names are everywhere.
    let hostname = hostname.map(|h| h.to_ascii_lowercase());
    let identity = server_identity(open_home()?, hostname.as_deref(), &ips, &mut say)?;
    // Unique among the servers on one database: the lifecycle lease's holder.
    let name = match hostname {
        Some(h) => h,
        None => open_home()?.hostname()?,
    };
    let holder = format!("{name} {listen} pid {}", std::process::id());
    let audit = audit_writer(home.clone())?;
    let server_home = home;
    let open: crate::OpenNode = Arc::new(move || {
        // `certherd-server` in pg_stat_activity: its connections are counted there.
        let store = server_home.open_as("certherd-server")?;
        let mut node = node_over(store)?;
        // What this server sends (webhook notifications) names this server.
        node.set_node_name(name.clone());
        Ok(node)
    });
    crate::serve(
        crate::Config {
            listen,
            open,
            lifecycle: Some((evaluate_every, Arc::new(crate::lifecycle::HttpDelivery))),
            limits,
            audit,
            clock: Arc::new(certherd_authority::SystemClock),
            holder,
            identity,
            settings_stamp: Some(Arc::new(move || {
                std::fs::metadata(&config_path)
                    .and_then(|m| m.modified())
                    .ok()
            })),
            crl_listen,
            home: Some(lock_home),
            database_connections: usize::try_from(database_connections).unwrap_or(1),
        },
        |bound| say(Started::Listening(bound)),
    )
}

/// The audit sink: refused joins are written by one thread on one connection kept for
/// them (opened at the first write, again after a failure), not one connection per write:
/// a burst of refusals does not multiply the server's database connections. (A store is
/// used from the thread that opened it, hence the thread.)
fn audit_writer(home: Home) -> Result<crate::AuditSink, Error> {
    type AuditJob = (Vec<certherd_store::Change>, mpsc::Sender<Result<(), Seam>>);
    let (audit_tx, audit_rx) = mpsc::channel::<AuditJob>();
    std::thread::Builder::new()
        .name("certherd-audit".into())
        .spawn(move || {
            let mut held: Option<HomeStore> = None;
            for (changes, reply) in audit_rx {
                let written = match held.take().filter(|s| !s.is_closed()) {
                    Some(s) => Ok(s),
                    None => home.open_as("certherd-server"),
                }
                .and_then(|mut store| {
                    store.apply(&changes)?;
                    held = Some(store);
                    Ok(())
                })
                .map_err(Seam::from);
                let _ = reply.send(written);
            }
        })
        .map_err(|source| Error::Thread {
            what: "audit",
            source,
        })?;
    let audit_tx = Mutex::new(audit_tx);
    Ok(Arc::new(move |records| {
        let changes: Vec<certherd_store::Change> = records
            .iter()
            .cloned()
            .map(certherd_store::Change::Audit)
            .collect();
        let (reply, answer) = mpsc::channel();
        audit_tx
            .lock()
            .map_err(|_| Seam::AuditQueuePoisoned)?
            .send((changes, reply))
            .map_err(|_| Seam::AuditThreadEnded)?;
        answer.recv().map_err(|_| Seam::AuditThreadEnded)?
    }))
}

/// The machine-ssl entry the server presents: `machine-ssl/machine`, or for `--hostname`
/// other than the node's, its own `machine-ssl/HOSTNAME`, issued from the shared CA the
/// first time (the other servers on the database have theirs).
fn server_identity(
    mut node: Node<HomeStore>,
    hostname: Option<&str>,
    ips: &[IpAddr],
    say: &mut impl FnMut(Started<'_>),
) -> Result<EntryRef, Error> {
    let machine: EntryRef = "machine-ssl/machine"
        .parse()
        .map_err(certherd_authority::Error::from)?;
    let Some(name) = hostname.filter(|h| node.hostname().is_ok_and(|n| n != *h)) else {
        return Ok(machine);
    };
    let alias = name.parse().map_err(|_| Error::Hostname(name.to_owned()))?;
    let entry = EntryRef::new(
        "machine-ssl"
            .parse()
            .map_err(certherd_authority::Error::from)?,
        alias,
    );
    if node
        .store()
        .entry(&entry)
        .map_err(certherd_authority::Error::from)?
        .is_none()
    {
        let mut names = vec![name.to_owned()];
        names.extend(ips.iter().map(ToString::to_string));
        node.issue(&certherd_authority::IssueRequest {
            profile: "machine-ssl".into(),
            entry: entry.clone(),
            common_name: Some(name.to_owned()),
            names,
            key_algo: None,
        })?;
        say(Started::IssuedIdentity(&entry));
    }
    Ok(entry)
}
