//! The command tree: one module per noun, each holding its arguments (clap), the call
//! it makes and its view of the answer, as cargo's `commands/<noun>.rs` do.
//!
//! A form of a command that is an operation ([`certherd_ops`]) goes through
//! [`operation`], the same code whether it runs on the home or against `--server`; the
//! others ([`on_home`]) run on the home only. Each noun's module says which of its forms
//! are operations.
use admin::AdminCmd;
use agent::AgentCmd;
use alarms::AlarmsArgs;
use audit::AuditArgs;
use check::CheckArgs;
use csr::CsrCmd;
use db::DbCmd;
use endpoint::EndpointCmd;
use fleet::FleetCmd;
use forecast::ForecastArgs;
use home::HomeCmd;
use init::InitArgs;
use profile::ProfileCmd;
use report::ReportArgs;
use scan::ScanCmd;
use server::ServerArgs;
use service::ServiceCmd;
use store::StoreCmd;
use verify::VerifyArgs;

use crate::Failure;
use ca::CaCmd;
use cert::CertCmd;
use certherd_ops::Operations;
use clap::Args;
use clap::Parser;
use clap::Subcommand;
use clap::ValueEnum;
use host::HostCmd;
use key_provider::KeyProviderCmd;
use pool::PoolCmd;
use std::path::PathBuf;
use std::process::ExitCode;
use trust::TrustCmd;

pub mod admin;
pub mod agent;
pub mod alarms;
pub mod audit;
pub mod ca;
pub mod cert;
pub mod check;
pub mod completions;
pub mod csr;
pub mod db;
pub mod endpoint;
pub mod fleet;
pub mod forecast;
pub mod home;
pub mod host;
pub mod init;
pub mod issue_lines;
pub mod key_provider;
pub mod man;
pub mod pool;
pub mod profile;
pub mod reference;
pub mod report;
pub mod scan;
pub mod server;
pub mod service;
pub mod status;
pub mod store;
pub mod trust;
pub mod verify;

/// What a noun's dispatch did with a command `C`: carried it out as operations, or gave it
/// back because this form of it is not an operation.
pub enum Ran<C> {
    /// It ran (or failed) as operations.
    Done(Result<ExitCode, Failure>),
    /// Not an operation (in this form): given back.
    NotAnOperation(C),
}

impl<C> Ran<C> {
    /// The same outcome, a command given back as `wrap` makes it.
    fn back<D>(self, wrap: impl FnOnce(C) -> D) -> Ran<D> {
        match self {
            Ran::Done(done) => Ran::Done(done),
            Ran::NotAnOperation(c) => Ran::NotAnOperation(wrap(c)),
        }
    }
}

/// Runs `command` through `ops` (a home's or a server's) when this form of it is an
/// operation; each noun's module decides which of its forms are.
pub fn operation(ops: &mut dyn Operations, command: Command) -> Ran<Box<Command>> {
    let boxed = |c| Box::new(c);
    match command {
        Command::Fleet(c) => Ran::Done(fleet::fleet_renew(ops, c)),
        Command::Host(c) => host::operation(ops, c).back(|c| boxed(Command::Host(c))),
        Command::Pool(c) => Ran::Done(pool::operation(ops, c)),
        Command::Cert(c) => cert::operation(ops, c).back(|c| boxed(Command::Cert(c))),
        Command::Trust(c) => trust::operation(ops, c).back(|c| boxed(Command::Trust(c))),
        Command::Audit(a) => Ran::Done(audit::audit(ops, a)),
        Command::Ca(c) => ca::operation(ops, c).back(|c| boxed(Command::Ca(c))),
        Command::Forecast(a) => Ran::Done(forecast::operation(ops, a)),
        Command::Check(a) => Ran::Done(check::operation(ops, a)),
        Command::Status(a) => Ran::Done(status::operation(ops, a)),
        Command::Store(c) => Ran::Done(store::operation(ops, c)),
        Command::Alarms(a) => Ran::Done(alarms::operation(ops, a)),
        Command::Endpoint(c) => Ran::Done(endpoint::operation(ops, c)),
        Command::Scan(c) => scan::operation(ops, c).back(|c| boxed(Command::Scan(c))),
        Command::Profile(c) => Ran::Done(profile::operation(ops, c)),
        Command::Service(c) => Ran::Done(service::operation(ops, c)),
        Command::Report(a) => Ran::Done(report::operation(ops, a)),
        Command::Verify(a) => Ran::Done(verify::operation(ops, a)),
        Command::KeyProvider(c) => {
            key_provider::operation(ops, c).back(|c| boxed(Command::KeyProvider(c)))
        }
        Command::Admin(c) => admin::operation(ops, c).back(|c| boxed(Command::Admin(c))),
        other => Ran::NotAnOperation(boxed(other)),
    }
}

/// Why a command, in the form given, is not an operation and so does not run against
/// `--server`. Decided by a match over every command (no catch-all), so a new command
/// must say which it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeOnly {
    /// It makes, moves, opens or serves the home itself: `init`, `home`, `db`, `server`,
    /// `ca import-signed` (which completes `init`).
    TheHome,
    /// It is a joined host's own: `agent`.
    TheHost,
    /// It reads or writes files of the machine it runs on: `scan files`, and the layouts
    /// `cert export --layout` writes.
    ThisMachine,
    /// It gives out a private key (`cert export --key`, PKCS#12, an admin's client
    /// certificate and key): keys never cross the admin API.
    KeyOut,
    /// It takes a private key (`key-provider client-cert upload --key`): keys never cross
    /// the admin API.
    KeyIn,
    /// It needs neither a home nor a server: `csr`, `completions`, `man`.
    Neither,
}

impl HomeOnly {
    /// Why `command` (given back by [`operation`]) is not an operation; `None` for the
    /// commands that are operations in every form.
    pub fn of(command: &Command) -> Option<Self> {
        Some(match command {
            Command::Init(_)
            | Command::Server(_)
            | Command::Home(_)
            | Command::Db(_)
            | Command::Ca(_) => Self::TheHome,
            Command::Agent(_) => Self::TheHost,
            Command::Scan(_) => Self::ThisMachine,
            Command::Cert(cert::CertCmd::Export(a)) if a.layout.is_some() => Self::ThisMachine,
            Command::KeyProvider(_) => Self::KeyIn,
            Command::Cert(_) | Command::Admin(_) => Self::KeyOut,
            Command::Csr(_) | Command::Completions(_) | Command::Man(_) | Command::Reference(_) => {
                Self::Neither
            }
            // Operations in every form: never given back.
            Command::Store(_)
            | Command::Service(_)
            | Command::Trust(_)
            | Command::Status(_)
            | Command::Check(_)
            | Command::Profile(_)
            | Command::Audit(_)
            | Command::Endpoint(_)
            | Command::Forecast(_)
            | Command::Alarms(_)
            | Command::Report(_)
            | Command::Verify(_)
            | Command::Host(_)
            | Command::Pool(_)
            | Command::Fleet(_) => return None,
        })
    }

    /// Why, in words, for the `hint:` of the refusal.
    pub fn why(self) -> &'static str {
        match self {
            Self::TheHome => "it sets up, moves or serves the home itself",
            Self::TheHost => "it is a joined host's own",
            Self::ThisMachine => "it reads or writes files of the machine it runs on",
            Self::KeyOut => "the admin API never gives out a private key",
            Self::KeyIn => "the admin API never takes a private key",
            Self::Neither => "it needs neither a home nor a server",
        }
    }
}

/// Runs on the home a command that is not an operation in the form given.
pub fn on_home(home: &certherd_store::Home, command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Init(a) => init::run(home, a),
        Command::Cert(c) => cert::run(home, c),
        Command::Csr(c) => csr::run(c),
        Command::Ca(c) => ca::run(home, c),
        Command::KeyProvider(c) => key_provider::run(home, c),
        Command::Scan(c) => scan::run(home, c),
        Command::Server(a) => server::run(home, a),
        Command::Agent(c) => agent::run(home, c),
        Command::Admin(c) => admin::run(home, c),
        Command::Home(c) => home::run(home, c),
        Command::Db(c) => db::run(home, c),
        other => Err(crate::not_carried_out(&other)),
    }
}

/// certherd keeps every X.509 certificate of a cluster valid, trusted and visible.
///
/// A built-in CA, named certificate stores, renewal that never shortens a lifetime,
/// trusted roots and CRLs, path validation, and monitoring-plugin checks; scans of TLS
/// endpoints and files, forecasts, KMIP key-server trust; and a management server with an
/// agent on every host that keeps a whole pool renewed and its trust in sync. State is one
/// SQLite file per home, and every private key is sealed at rest.
#[derive(Debug, Parser)]
#[command(
    name = "certherd",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// State directory [default: $CERTHERD_HOME, else ~/.local/share/certherd]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Keep the inventory in this PostgreSQL database instead of the home's certherd.db
    /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DB); the master key and certherd.toml stay
    /// in the home. Precedence: this flag, then $CERTHERD_DATABASE_URL, then `[database]
    /// url` in certherd.toml
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "CERTHERD_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    /// Run against this certherd server's admin API (https://HOST:PORT) instead of a home,
    /// with the same output and exit codes. Commands that work remotely: host
    /// add/list/remove/reset-server-cert/refresh-pool-cert, fleet renew, pool verification
    /// enable/disable/status, pool certificate-list,
    /// cert list/show/issue/renew/reset/revoke/export/delete/import,
    /// trust add/list/remove/add-crl, alarms, audit, ca show/rotate/export/crl, forecast,
    /// key-provider status/create/list/add-server/remove, key-provider client-cert
    /// new/export/csr/upload, key-provider server-cert get/trust, check, status, store
    /// list, profile list, endpoint list/remove/add/trust/diagnose, service add, scan tls,
    /// report, verify, admin credential, admin credential list/revoke; every other command
    /// is refused (exit 2), saying why: it sets up or serves the home, is an agent's, reads
    /// this machine's files, or moves a private key (`cert export --key`, `key-provider
    /// client-cert upload --key`, `admin credential --client-cert`); `completions`, `man`
    /// and `csr` need neither a server nor a home. Give it before the command.
    /// Default: $CERTHERD_SERVER (empty counts as unset). A home given too (--home or
    /// $CERTHERD_HOME) is refused: say which one to act on.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// The admin credential for --server: a file holding a bearer token (`certherd admin
    /// credential NAME`) or a client certificate and its key (`--client-cert --out FILE`).
    /// A `reader` credential runs only the commands that read (list, show, pool
    /// verification status, alarms, audit, ca show/export/crl, forecast, check, status, store
    /// list, profile list, pool certificate-list, key-provider status/list, key-provider
    /// client-cert export, key-provider server-cert get, admin credential list). Default:
    /// $CERTHERD_CREDENTIAL (empty counts as unset).
    #[arg(long, value_name = "FILE")]
    pub credential: Option<PathBuf>,

    /// The SHA-256 of the --server's root CA (`certherd ca show` on the server), checked
    /// and pinned at the first contact; without it, the first contact asks on a terminal
    /// and is refused without one (CI).
    #[arg(long = "ca-fingerprint", value_name = "SHA256")]
    pub ca_fingerprint: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the CA, the stores and this node's certificates in a new home.
    ///
    /// Mode `ca` (default) creates a root CA (10 years), machine-ssl/machine (2 years,
    /// serverAuth+clientAuth, SANs = hostname and IPs) and sts/sts-signing (10 years).
    /// Mode `subordinate` writes a CA CSR for your enterprise CA instead; finish with
    /// `certherd ca import-signed`. Refuses an existing home and changes nothing.
    Init(InitArgs),
    /// Named certificate stores.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Certificates: list, show, issue, renew, reset, import, export, delete.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Service identities (vSphere solution users): one store and certificate per service.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Keys and CSRs for certificates signed by another CA (hybrid and custom modes).
    #[command(subcommand)]
    Csr(CsrCmd),
    /// Trusted CA certificates and CRLs.
    #[command(subcommand)]
    Trust(TrustCmd),
    /// The built-in certificate authority.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Validate a certificate path and list every finding (exit 0 valid, 1 invalid, 2 it
    /// could not be judged: a file missing or holding no certificate, bad arguments).
    ///
    /// Builds the chain from --chain intermediates to a trusted root with RFC 5280 path
    /// validation (certval) and the TLS rules of rustls-webpki: every certificate's dates
    /// at --at, signatures, basicConstraints, keyCertSign and path length, name
    /// constraints, policies, EKU for --purpose, revocation against the home's CRLs
    /// (consulted with --trusted too, whenever the home exists), and --name against the
    /// SANs. Also weak keys and signatures (refused, as OpenSSL's default security level
    /// refuses them) and the RFC 5280 / CA/B profile. Every finding is listed, worst first.
    ///
    /// Valid means what `openssl verify` and GnuTLS mean: no critical finding other than
    /// `expiring`. Nearness to expiry (`expiring`, even within 7 days) and profile rules
    /// for publicly trusted certificates (`profile`: no extendedKeyUsage, a CN not among
    /// the SANs, a CA whose basicConstraints is not critical; `long-common-name`; `no-san`)
    /// are shown and do not fail it; --strict fails on them too. A path that RFC 5280
    /// accepts but rustls-webpki refuses (deeper than its limit, a CA certificate as leaf)
    /// is valid, with an info finding saying rustls clients refuse it. A failure is headed
    /// by the finding that decides it. Without --trusted, the home's trusted-roots are the
    /// anchors.
    Verify(VerifyArgs),
    /// Summary: the CA, entries per status, the next expiry and the next renewal.
    Status(OutputArg),
    /// Monitoring check with plugin exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    ///
    /// Prints one line per problem. --at evaluates the whole inventory at another
    /// instant, e.g. `--at +2y` to see what will have lapsed two years from now.
    Check(CheckArgs),
    /// Profiles in force (built-in, with certherd.toml overrides).
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// The append-only audit log: issuance, renewal, import, trust changes, deletion.
    ///
    /// Oldest first. The filters combine: `--action renew --since 2026-12-01` lists the
    /// renewals since December 1st (UTC).
    Audit(AuditArgs),
    /// Key providers: trust between this node and KMIP key servers (vSphere's trusted key
    /// providers), and their health.
    ///
    /// Set-up: create the provider, make the key server trust certherd (`client-cert new`
    /// and export, or `client-cert csr` and upload the signed certificate, or upload a
    /// certificate and key the key server issued), make certherd trust the key server
    /// (`server-cert get`, check the thumbprint, `server-cert trust`), then `status`.
    #[command(subcommand, name = "key-provider")]
    KeyProvider(KeyProviderCmd),
    /// Find certificates certherd did not issue: on TLS endpoints, or in files on disk.
    ///
    /// What a scan finds is kept as watched entries (stores `endpoints` and `files`) and
    /// monitored like any other certificate: `cert list`, `check`, `forecast`, `report`.
    /// Exit codes follow `check`: 0 nothing needs attention, 1 a warning, 2 a critical
    /// finding, 3 the scan could not run.
    #[command(subcommand)]
    Scan(ScanCmd),
    /// Endpoints certherd watches: appliances, key servers, backup products (the WLB model).
    #[command(subcommand)]
    Endpoint(EndpointCmd),
    /// Timeline of every expiry ahead, what each breaks, and whether renewal covers it.
    ///
    /// The headline is the first date something breaks unattended. Impacts come from the
    /// profiles, and from `[services.NAME]` in certherd.toml (impact, depends_on).
    Forecast(ForecastArgs),
    /// Write one self-contained HTML report: timeline chart, inventory, alarms, forecast.
    Report(ReportArgs),
    /// Alarms with the time each was raised and cleared.
    ///
    /// Each run evaluates the inventory now and reconciles: certificates within 30, 14 or 7
    /// days of expiry (a newer tier replaces the older alarm) or expired, and verified
    /// endpoints whose chain fails. A renewed certificate's old entry raises nothing, so
    /// its alarm clears. Run it from cron, or let `check` report without recording.
    Alarms(AlarmsArgs),
    /// Run the management server: the fleet API over HTTPS, and alarm evaluation on a timer.
    ///
    /// Serves with this node's machine-ssl certificate. Hosts join with a token from
    /// `certherd host add` and then poll with their pool-internal certificate (mutual TLS).
    /// `GET /metrics` gives Prometheus text: by default to anyone who can reach the
    /// listener, and it names every host, store and alias with its expiry. Set
    /// `[metrics] require_token = true` in certherd.toml to ask for an admin bearer token
    /// (`certherd admin credential`; Prometheus: `authorization: { credentials: TOKEN }`).
    ///
    /// Connections are bounded by `[server]` in certherd.toml: `max_connections` (512),
    /// `max_connections_per_address` (an eighth of that, at least 4; an IPv6 /64 is one
    /// address), handshake, header, body and idle timeouts; refused joins are rate-limited per
    /// address (`refusals_per_interval` over `refusal_interval`) and counted in the audit
    /// log. SIGTERM or SIGINT stops it cleanly.
    Server(ServerArgs),
    /// Hosts of the fleet (run on the server's home).
    #[command(subcommand)]
    Host(HostCmd),
    /// The host agent (run on each host, with its own --home).
    #[command(subcommand)]
    Agent(AgentCmd),
    /// The pool's certificates (XenServer's `certificate-list`).
    #[command(subcommand)]
    Pool(PoolCmd),
    /// Fleet-wide operations (run on the server's home).
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// Credentials for the server's admin API.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The home directory itself: where its master key lives.
    #[command(subcommand)]
    Home(HomeCmd),
    /// The database that holds the inventory.
    #[command(subcommand)]
    Db(DbCmd),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// The Debian package installs the bash, zsh and fish scripts. Otherwise, for bash,
    /// add `source <(certherd completions bash)` to ~/.bashrc; for zsh, run `certherd
    /// completions zsh > ~/.zfunc/_certherd` and put `fpath+=(~/.zfunc)` before
    /// `compinit` in ~/.zshrc; for fish, run `certherd completions fish >
    /// ~/.config/fish/completions/certherd.fish`. Needs no home and no server.
    Completions(completions::CompletionsArgs),
    /// Write the manual pages (one per command) into a directory, for packaging.
    #[command(hide = true)]
    Man(man::ManArgs),
    /// Write the book's reference pages (commands, certherd.toml, admin API, webhooks,
    /// metrics) into a directory, for the documentation build.
    #[command(hide = true)]
    Reference(reference::ReferenceArgs),
}

/// Just `--output`.
#[derive(Debug, Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// One entry.
#[derive(Debug, Args)]
pub struct EntryArg {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
}
