//! `server`: the management server, started by `certherd_server::start`.
use crate::instant::duration;

use crate::node_over;
use crate::Failure;
use certherd_store::Home;
use clap::Args;
use std::process::ExitCode;

/// `server`.
pub fn run(home: &Home, a: ServerArgs) -> Result<ExitCode, Failure> {
    crate::logging::install(&a.log)?;
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
                tracing::info!(%entry, "certherd server: issued {entry} for this server from the shared CA");
            }
            certherd_server::Started::Listening(bound) => {
                tracing::info!(listen = %bound, "certherd server listening on https://{bound}");
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

/// `server` arguments.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// How often to evaluate alarms (and send webhooks).
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub evaluate_every: String,
    /// Also serve the CA's CRLs over plain HTTP on ADDR:PORT: each live CA's (during a
    /// rotation the retiring one's too) at /crl/ALIAS.crl, the signing CA's also at
    /// /crl/ca.crl (RFC 5280 distribution points are plain HTTP; nothing else is served
    /// there). Set `[crl] url` to this address for issued certificates to name their
    /// issuer's CRL.
    #[arg(long, value_name = "ADDR:PORT")]
    pub crl_listen: Option<String>,
    /// This server's own name, for a second (third...) server on one PostgreSQL database:
    /// it presents `machine-ssl/HOSTNAME`, issued from the shared CA at its first start
    /// (default: the node's hostname and `machine-ssl/machine`).
    #[arg(long, value_name = "FQDN")]
    pub hostname: Option<String>,
    /// An IP address this server's own certificate carries (with --hostname); repeatable.
    #[arg(long = "ip", value_name = "ADDR", requires = "hostname")]
    pub ips: Vec<std::net::IpAddr>,
    /// The log's format.
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
}
