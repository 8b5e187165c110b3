//! Command-line arguments: the command tree and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// enable/disable/status, cert list/show/issue/renew/revoke/export, trust
    /// add/list/remove/add-crl, alarms, audit, ca show/rotate, forecast, key-provider
    /// status; every other
    /// command runs on the server's home only and is refused (exit 2). Give it before the
    /// command. Default: $CERTHERD_SERVER (empty counts as unset). A home given too
    /// (--home or $CERTHERD_HOME) is refused: say which one to act on.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// The admin credential for --server: a file holding a bearer token (`certherd admin
    /// credential NAME`) or a client certificate and its key (`--client-cert --out FILE`).
    /// A `reader` credential runs only the commands that read (list, show, pool
    /// verification status, alarms, audit, ca show, forecast). Default:
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
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Copy the home's SQLite inventory (every table: entries with their sealed keys,
    /// the audit log, fleet state, alarms, the outbox, watches, key providers, CRLs) into
    /// an empty PostgreSQL database, in one transaction, and check each table's row count
    /// before committing. Then run `certherd --home HOME server --database URL` (or set
    /// `[database] url`). A target that holds any table is refused, and so is a home whose
    /// store is already PostgreSQL (--database, $CERTHERD_DATABASE_URL or `[database] url`).
    Copy {
        /// The empty PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Output format (JSON: `target`, `tables` [{`table`, `rows`}]).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `home` subcommands.
#[derive(Debug, Subcommand)]
pub enum HomeCmd {
    /// The master key that seals every private key of the home.
    #[command(subcommand, name = "seal-key")]
    SealKey(SealKeyCmd),
}

/// `home seal-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum SealKeyCmd {
    /// Move the master key out of the home (or to another place), so that a backup of the
    /// home alone cannot unseal any private key.
    ///
    /// The key is written 0600 at PATH (which must not exist), checked to open a sealed
    /// key of this home, and only then removed from where it was. Afterwards every
    /// certherd command on this home needs CERTHERD_MASTER_KEY_FILE=PATH (or the systemd
    /// credential `certherd-master-key`).
    Move {
        /// Where the key goes: a file that does not exist yet, on a path outside the home.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Issue a credential for the server's admin API (every endpoint under /v1, see
    /// `GET /v1/openapi.json`, and `/metrics` with `[metrics] require_token`): a bearer
    /// token (shown once; only its hash is kept), or with --client-cert a client
    /// certificate and key for mutual TLS. `list` shows them; `revoke NAME` ends them.
    ///
    /// Roles: `reader` may only read (GET); `admin` may do everything. Every call is
    /// written to the audit log with the credential's name.
    #[command(args_conflicts_with_subcommands = true)]
    Credential(CredentialArgs),
}

/// `admin credential` arguments.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// `list` or `revoke`.
    #[command(subcommand)]
    pub command: Option<CredentialCmd>,
    /// Whose it is (recorded in the audit log with every call); default `admin`.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// The same as NAME.
    #[arg(long = "name", value_name = "NAME", conflicts_with = "name")]
    pub name_flag: Option<String>,
    /// What it may do: `reader` (GET only) or `admin` (everything).
    #[arg(long, value_enum, default_value_t)]
    pub role: RoleArg,
    /// Issue a client certificate (CN=NAME, O=certherd-admin, clientAuth, signed by the
    /// CA) instead of a bearer token; certificate, chain and key go to --out.
    #[arg(long, requires = "out")]
    pub client_cert: bool,
    /// Where the client certificate and its key go (one PEM file, written 0600; must not
    /// exist).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub out: Option<PathBuf>,
    /// How long it is valid (e.g. 90d, 1y); a bearer token: forever by default, a client
    /// certificate: a year (never past the CA).
    #[arg(long, value_name = "SPAN")]
    pub valid_for: Option<String>,
    /// Output format (JSON: `name`, `role`, `kind`, `token` or `out`, `expires_at`).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// The role of an admin credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RoleArg {
    /// Reads only (GET).
    #[default]
    Reader,
    /// Everything.
    Admin,
}

/// `admin credential` subcommands.
#[derive(Debug, Subcommand)]
pub enum CredentialCmd {
    /// Every admin credential: name, kind, role, created, expires, revoked.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Revoke every credential of NAME: the server refuses them (401
    /// `credential_revoked`) from the next call on, and its client certificates are put
    /// on the CA's CRL (a new CRL is published) so that other relying parties refuse
    /// them too.
    Revoke {
        /// The credential's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// RFC 5280 reason the CRL gives for its client certificates: unspecified,
        /// keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, privilegeWithdrawn.
        #[arg(long, value_name = "REASON", default_value = "cessationOfOperation")]
        reason: String,
    },
}

/// `fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCmd {
    /// Order new host certificates (new keys, made on the hosts) and wait for the hosts.
    ///
    /// Each selected host renews at its next poll; a progress bar follows them and a table
    /// gives each host's result. Exit 0 when every host renewed within --wait.
    Renew {
        /// The profile to renew; the fleet renews `host` certificates.
        #[arg(long, value_name = "PROFILE", default_value = "host")]
        profile: String,
        /// Only these hosts (repeatable) [default: every joined host].
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// How long to wait for the hosts to poll.
        #[arg(long, value_name = "DURATION", default_value = "5m")]
        wait: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `pool` subcommands.
#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Every host's pool-internal and server identity certificates: host, kind,
    /// thumbprint, expiry.
    #[command(name = "certificate-list")]
    CertificateList(OutputArg),
    /// The pool's certificate verification: `enable`, `disable` or `status`.
    ///
    /// A host whose setting differs from the pool's cannot join. `status` lists each
    /// host's setting as it last reported it.
    Verification {
        /// enable, disable or status.
        #[arg(value_enum)]
        action: VerificationAction,
        /// Output format (status).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// What `pool verification` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerificationAction {
    /// Turn verification on for the pool.
    Enable,
    /// Turn it off.
    Disable,
    /// Show the pool's and each host's setting.
    Status,
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
}

/// `host` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Enroll a host: prints its single-use join token and the root CA fingerprint to pin.
    Add {
        /// The host's FQDN (its host certificate's CN and first SAN).
        name: String,
        /// An IP address the host certificate may carry; repeatable.
        #[arg(long = "ip", value_name = "ADDR")]
        ips: Vec<std::net::IpAddr>,
        /// How long the token stays valid: from 1h to 720h (30 days), as through the
        /// admin API.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        ttl: String,
        /// Output format (JSON: `token`, `ca_fingerprint`, `expires_at`).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// List hosts: joined or not, last heard from.
    List(OutputArg),
    /// Give a host a fresh server identity certificate (a new key made on the host) at its
    /// next poll (XenServer's `host-reset-server-certificate`).
    #[command(name = "reset-server-cert")]
    ResetServerCert {
        /// The host's name.
        name: String,
    },
    /// Have a host replace its pool-internal identity at its next poll; the server pins the
    /// new certificate (XenServer's `host-refresh-server-certificate` for the pool side).
    #[command(name = "refresh-pool-cert")]
    RefreshPoolCert {
        /// The host's name.
        name: String,
    },
    /// Forget a host: its certificate and its pinned pool-internal certificate; it can no
    /// longer authenticate.
    Remove {
        /// The host's name.
        name: String,
    },
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
    },
    /// This agent's servers (the order a poll tries them in), which one answered last,
    /// the last poll and the last error.
    Status(OutputArg),
}

/// `audit` arguments.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records of this action (issue, renew, import, host-add, admin-api...), exactly.
    #[arg(long)]
    pub action: Option<String>,
    /// Only records whose subject contains this text (any case).
    #[arg(long)]
    pub subject: Option<String>,
    /// Only records written at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records written before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `alarms` arguments.
#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// Show cleared alarms too (the history), not only open ones.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `scan` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScanCmd {
    /// Connect to each HOST:PORT and judge the chain it presents.
    ///
    /// Every finding of the inspection (expired, untrusted-issuer, incomplete-chain,
    /// name-mismatch, self-signed, weak keys...) with the facts: TLS version, cipher suite,
    /// key and signature algorithms, whether the chain reaches a trusted root, whether the
    /// certificate covers the name used. PostgreSQL, LDAP and SMTP ports are reached with
    /// STARTTLS. An unreachable target, or one that does not speak TLS, is a finding, not
    /// an error.
    ///
    /// A target seen for the first time becomes a watched endpoint (stderr names it; stop
    /// watching with `certherd endpoint remove NAME`). A target an endpoint already watches
    /// is recorded only when scanned as the endpoint scans it: with another --starttls the
    /// result is shown, and the endpoint's recorded state is left as it was.
    /// Exit 0 ok, 1 warning, 2 critical, 3 the scan could not run.
    Tls(ScanTlsArgs),
    /// Walk files and directories for PEM, DER and PKCS#12 certificates.
    ///
    /// Reports bundles, orphaned keys (no certificate in the scan matches them), keys
    /// readable by group or others (wider than 0600), and PKCS#12 files the password does
    /// not open. Every certificate is judged like an endpoint's chain (expiry, weak keys and
    /// signatures, the file's bundle as its chain). Symbolic links are followed (each
    /// target read once); certherd's own home is skipped, and /proc, /sys and /dev are
    /// walked only when named (then no link out of them is followed). PKCS#12 files are
    /// read as openssl reads them: unencrypted or with an empty password without
    /// --password-file, and their keys count for key permissions. Exit 0 ok, 1 warning,
    /// 2 critical, 3 the scan could not run.
    Files(ScanFilesArgs),
}

/// `scan tls` arguments.
#[derive(Debug, Args)]
pub struct ScanTlsArgs {
    /// Targets as HOST:PORT.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read more targets from FILE, one HOST:PORT per line (# comments allowed). A regular file of at most 4 MiB.
    #[arg(long = "targets", value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// The name to send as SNI and to check the certificate against [default: the host].
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Speak PROTO before the TLS handshake: postgres, ldap or smtp [default: by the port:
    /// 5432 postgres, 389 ldap, 25 and 587 smtp; none otherwise].
    #[arg(long, value_name = "PROTO")]
    pub starttls: Option<String>,
    /// How many targets to scan at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Connect and handshake timeout per target.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `scan files` arguments.
#[derive(Debug, Args)]
pub struct ScanFilesArgs {
    /// Files or directories (walked recursively).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// File holding the password for encrypted PKCS#12 files (first line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Stop after listing N files: the scan says so, and what it found up to there is
    /// recorded.
    #[arg(long, value_name = "N", default_value_t = certherd_monitor::walk::MAX_FILES)]
    pub max_files: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `endpoint` subcommands.
#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Watch HOST:PORT under NAME.
    Add {
        /// A name for it (letters, digits, `.`, `_`, `-`).
        name: String,
        /// Where it listens.
        #[arg(long, value_name = "HOST:PORT")]
        address: String,
        /// The name its certificate must cover and the SNI sent [default: the host].
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        /// Its chain must reach a trusted root (or its pin) and cover the name, or it is a
        /// CRITICAL alarm (XenServer's `wlb-verify-cert=true`).
        #[arg(long)]
        verify: bool,
        /// Speak PROTO before TLS: postgres, ldap or smtp [default: by the port: 5432,
        /// 389, 25 and 587].
        #[arg(long, value_name = "PROTO")]
        starttls: Option<String>,
    },
    /// Pin the certificate the endpoint presents now (self-signed appliances).
    ///
    /// As `key-provider server-cert trust` does: an appliance with a self-signed
    /// certificate (a WLB or backup appliance) then verifies while it presents that
    /// certificate; its name is still checked. When the certificate changes, the finding
    /// is `pin-mismatch` with both thumbprints.
    Trust {
        /// Its name.
        name: String,
        /// The SHA-256 thumbprint you checked on the appliance's console (64 hex digits,
        /// colons allowed); a certificate with another thumbprint is refused.
        #[arg(long, value_name = "SHA256")]
        thumbprint: Option<String>,
        /// Connect and handshake timeout.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: String,
    },
    /// List watched endpoints with their last scan.
    List(OutputArg),
    /// Stop watching an endpoint and forget its certificate.
    Remove {
        /// Its name.
        name: String,
    },
    /// Certificate problem or network problem? Every finding, with a hint.
    ///
    /// Seed 004's rule: a TLS session that opens without verification but that a
    /// verifying client refuses is a certificate problem; no session at all is the network
    /// or credentials. Exit 0 only when a verifying client accepts the endpoint.
    Diagnose {
        /// Its name.
        name: String,
        /// Connect and handshake timeout.
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `forecast` arguments.
#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// End of the period: RFC 3339, YYYY-MM-DD, or +DURATION [default: +12y, past the root's 10 years].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the HTML report to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// Forecast period: RFC 3339, YYYY-MM-DD, or +DURATION [default: +12y].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// `key-provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyProviderCmd {
    /// Create a key provider with its first KMIP server.
    Create {
        /// Provider name, unique on this node.
        name: String,
        /// The primary key's id on the key server (a UUID there).
        #[arg(long, value_name = "ID")]
        primary_key_id: String,
        /// The KMIP server, HOST:PORT (KMIP's port is 5696).
        #[arg(long, value_name = "HOST:PORT")]
        server: String,
        /// An HTTP CONNECT proxy to reach it through.
        #[arg(long, value_name = "HOST:PORT")]
        proxy: Option<String>,
    },
    /// Add another KMIP server (a cluster member) to a provider.
    AddServer {
        /// Provider name.
        name: String,
        /// HOST:PORT.
        address: String,
        /// An HTTP CONNECT proxy to reach it through.
        #[arg(long, value_name = "HOST:PORT")]
        proxy: Option<String>,
    },
    /// List providers and their servers.
    List(OutputArg),
    /// Remove a provider (its certificates are kept in backup for the retention period).
    Remove {
        /// Provider name.
        name: String,
    },
    /// The client certificate the key server must trust.
    #[command(subcommand)]
    ClientCert(ClientCertCmd),
    /// The key server's certificate, which certherd must trust.
    #[command(subcommand)]
    ServerCert(ServerCertCmd),
    /// Health: OK only when, for every server, mutual TLS opens and KMIP answers.
    ///
    /// Exit 0 only when healthy. Each failing server gets its precise reason: unreachable,
    /// our client certificate refused, its certificate not trusted (or changed since it
    /// was trusted), or a KMIP error.
    Status {
        /// Provider name.
        name: String,
        /// Per-server connect and response timeout.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `key-provider client-cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCertCmd {
    /// Make a `kmip-client` certificate (CA-issued by default) for the key server to trust.
    New {
        /// Provider name.
        name: String,
        /// Self-signed instead of issued by certherd's CA.
        #[arg(long)]
        self_signed: bool,
        /// Key algorithm [default: the node's].
        #[arg(long, value_name = "ALG")]
        key_algo: Option<String>,
    },
    /// Write the client certificate (PEM, with its chain) for the key server's admin.
    Export {
        /// Provider name.
        name: String,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write a CSR for the key server vendor to sign; the key stays sealed in certherd.
    Csr {
        /// Provider name.
        name: String,
        /// Where to write the CSR.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Key algorithm [default: the node's].
        #[arg(long, value_name = "ALG")]
        key_algo: Option<String>,
    },
    /// Upload the certificate signed from the CSR, or a certificate and key the key server issued.
    Upload {
        /// Provider name.
        name: String,
        /// The certificate (PEM or DER, may include its chain). A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Its private key, when the key server generated it. A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
}

/// `key-provider server-cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServerCertCmd {
    /// Connect to each server and show the certificate it presents (not trusted yet).
    Get {
        /// Provider name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Trust the certificate each server presents (or only those matching --thumbprint).
    Trust {
        /// Provider name.
        name: String,
        /// The SHA-256 or SHA-1 thumbprint you checked (colons optional); a server
        /// presenting anything else is refused.
        #[arg(long, value_name = "T")]
        thumbprint: Option<String>,
        /// Only this server (HOST:PORT) [default: every server of the provider].
        #[arg(long, value_name = "HOST:PORT")]
        server: Option<String>,
    },
}

/// Just `--output`.
#[derive(Debug, Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// This node's fully qualified domain name (CN and first SAN of machine-ssl).
    #[arg(long, value_name = "FQDN")]
    pub hostname: String,
    /// An IP address of this node (a SAN of machine-ssl); repeatable.
    #[arg(long = "ip", value_name = "ADDR")]
    pub ips: Vec<std::net::IpAddr>,
    /// Key algorithm: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519.
    #[arg(long, value_name = "ALG", default_value = "ecdsa-p256")]
    pub key_algo: String,
    /// `ca`: certherd's own root. `subordinate`: a CA signed by your enterprise CA.
    #[arg(long, value_enum, default_value = "ca")]
    pub mode: ModeArg,
    /// Where to write the CA CSR in subordinate mode [default: HOME/ca.csr].
    #[arg(long, value_name = "FILE")]
    pub csr_out: Option<PathBuf>,
}

/// CA modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// certherd's own root CA.
    Ca,
    /// A CA signed by an enterprise CA.
    Subordinate,
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// List stores and how many entries each holds.
    List(OutputArg),
}

/// `cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// List entries: STORE/ALIAS, SUBJECT, ISSUER, NOT AFTER, DAYS LEFT, STATUS.
    List(CertListArgs),
    /// Show one entry: subject, issuer, serial, validity, SANs, key usage, EKU, thumbprints, chain.
    Show(EntryOutputArgs),
    /// Issue a new certificate and key under a profile.
    Issue(IssueArgs),
    /// Renew: a new key and certificate with the profile's full lifetime.
    ///
    /// The replaced entry moves to the `backup` store under a timestamped alias (kept for
    /// the backup retention, 30 days by default). Imported certificates are not renewed:
    /// a bulk run lists them as skipped (`certherd cert reset` replaces one with a
    /// CA-issued certificate).
    ///
    /// Each result line is printed as soon as its renewal is committed, so a run that is
    /// interrupted shows exactly what it did; on a terminal a progress bar runs on
    /// standard error. Renewals hold the home's lock (HOME/certherd.lock): a second run
    /// waits for the first, then skips every entry the first one renewed. Backups past
    /// the retention are pruned once per run.
    Renew(RenewArgs),
    /// Replace an imported (custom) certificate with a certherd-issued one.
    ///
    /// The way back from custom mode, as certificate-manager's option 8 ("reset all
    /// certificates"): a new key and a certificate from certherd's CA for the same names
    /// (the imported certificate's subject CN, DNS and IP SANs), under the profile the
    /// entry was imported with; else the store's name if that is a profile (machine-ssl,
    /// service, host, ...); else `service` for a clientAuth-only certificate and
    /// `machine-ssl` (serverAuth + clientAuth) for any other. The imported certificate
    /// moves to the backup store and the audit log records the reset; from then on the
    /// entry renews automatically.
    ///
    /// Whoever trusted the imported certificate's issuer must now trust certherd's CA
    /// (`certherd ca export`).
    ///
    /// Examples:
    ///   certherd cert reset machine-ssl/machine --dry-run
    ///   certherd cert reset machine-ssl/machine
    ///   certherd cert reset --all --output json
    #[command(verbatim_doc_comment)]
    Reset(ResetArgs),
    /// Import a certificate issued elsewhere, with its chain and key.
    ///
    /// Accepts PEM or DER, and bundles in any order. Refused, with nothing changed, when
    /// the key does not match, the chain does not reach a trusted root, the certificate
    /// is expired or not yet valid, a machine-ssl certificate does not cover the node's
    /// hostname, or its EKU does not fit the profile. Imported certificates are monitored
    /// but not renewed automatically (`certherd cert reset` goes back to a CA-issued
    /// one). Importing the certificate and key that are already the live entry changes
    /// nothing and says so.
    Import(ImportArgs),
    /// Export a certificate (PEM with chain, DER, or PKCS#12), or a libvirt or QEMU layout.
    /// Keys only with --key or --key-only.
    Export(ExportArgs),
    /// Delete an entry (the signing CA and its root are protected).
    Delete(EntryArg),
    /// Revoke a certificate certherd's CA issued, and publish a new CRL listing it.
    ///
    /// The revocation (serial, issuer, reason, time, who) is recorded and audited; the
    /// CA's CRL (`certherd ca crl`, the server's /crl/ca.crl) lists it from now on, and
    /// `certherd verify`, the agents and the server refuse the certificate. The entry stays
    /// in place: renew it (a new serial) or delete it. Self-signed certificates, those of
    /// another CA and certherd's own CA are refused; revoking again changes nothing.
    ///
    /// Examples:
    ///   certherd cert revoke machine-ssl/machine --reason keyCompromise
    ///   certherd cert revoke service/backup --reason superseded --output json
    #[command(verbatim_doc_comment)]
    Revoke(RevokeArgs),
}

/// `cert revoke` arguments.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// RFC 5280 reason: unspecified (no reason code in the CRL), keyCompromise,
    /// cACompromise, affiliationChanged, superseded, cessationOfOperation,
    /// privilegeWithdrawn.
    #[arg(long, value_name = "REASON", default_value = "unspecified")]
    pub reason: String,
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

/// One entry and an output format.
#[derive(Debug, Args)]
pub struct EntryOutputArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert list` arguments.
#[derive(Debug, Args)]
pub struct CertListArgs {
    /// Only this store.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
    /// Evaluate status at another instant: RFC 3339, YYYY-MM-DD, or ±DURATION (e.g. +2y, -1y).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert issue` arguments.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Profile: machine-ssl, service, host, sts-signing, pool-internal, kmip-client.
    #[arg(long)]
    pub profile: String,
    /// Target store (created if missing).
    #[arg(long)]
    pub store: String,
    /// Alias in the store [default: the CN].
    #[arg(long)]
    pub alias: Option<String>,
    /// Subject common name [default: the first --san, else the alias].
    #[arg(long)]
    pub cn: Option<String>,
    /// A DNS name or IP address for the SAN extension; repeatable.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Key algorithm [default: the profile's, else the node's].
    #[arg(long, value_name = "ALG")]
    pub key_algo: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert renew` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["entry", "profile", "all", "expiring_within", "due"])))]
pub struct RenewArgs {
    /// One entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: Option<String>,
    /// Every certherd-issued entry of this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Every certherd-issued entry.
    #[arg(long)]
    pub all: bool,
    /// Every certherd-issued entry expiring within this span (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub expiring_within: Option<String>,
    /// Every entry whose renewal time has come (2/3 of its lifetime, with jitter).
    #[arg(long)]
    pub due: bool,
    /// Show what would be renewed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert reset` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["entry", "all"])))]
pub struct ResetArgs {
    /// One imported entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: Option<String>,
    /// Every imported entry.
    #[arg(long)]
    pub all: bool,
    /// Show what would be reset, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format (JSON: the same objects as `cert renew`).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `cert import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Target entry, as STORE/ALIAS (an existing entry moves to backup).
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// The certificate (PEM or DER; may be a bundle with its chain). A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Intermediate/root certificates; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub chain: Vec<PathBuf>,
    /// The private key (PEM or DER; PKCS#8, PKCS#1 or SEC1). A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Profile [default: the existing entry's, else the store's name if it is a profile].
    #[arg(long)]
    pub profile: Option<String>,
    /// Read --cert as a PKCS#12 (.p12/.pfx) bundle, with the password in FILE (first
    /// line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Output format (JSON: the entry, with `unchanged` true when the certificate and key
    /// were already the live entry).
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// Export encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FormatArg {
    /// Certificate and chain (and key with --key), PEM.
    #[default]
    Pem,
    /// Certificate only, DER.
    Der,
    /// PKCS#12 with key and chain; needs --key and --password-file.
    P12,
}

/// `cert export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The entry, as STORE/ALIAS.
    #[arg(value_name = "STORE/ALIAS")]
    pub entry: String,
    /// Include the private key (written 0600 with --out).
    #[arg(long, conflicts_with = "key_only")]
    pub key: bool,
    /// Only the private key, PEM (written 0600 with --out).
    #[arg(long, conflicts_with = "with_root")]
    pub key_only: bool,
    /// Keep the root in the chain (by default the chain stops below it, as a TLS server
    /// sends it).
    #[arg(long)]
    pub with_root: bool,
    /// Encoding.
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
    /// Write the files a daemon reads into the directory given with --out: libvirt (the
    /// tree under /etc/pki) or qemu (a tls-creds-x509 directory). Needs an RSA key for
    /// libvirt, and serverAuth and clientAuth (machine-ssl or host profile).
    #[arg(long, value_enum, value_name = "LAYOUT", requires = "out",
          conflicts_with_all = ["key", "key_only", "with_root", "format", "password_file"])]
    pub layout: Option<LayoutArg>,
    /// Write to FILE (atomically) instead of standard output; with --layout, the
    /// directory the layout goes in.
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    /// File holding the PKCS#12 password (first line). A regular file of at most 64 KiB.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// File layouts of `cert export --layout`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// /etc/pki: CA/cacert.pem, libvirt/servercert.pem, libvirt/clientcert.pem,
    /// libvirt/private/serverkey.pem, libvirt/private/clientkey.pem.
    Libvirt,
    /// QEMU tls-creds-x509: ca-cert.pem, server-cert.pem, server-key.pem,
    /// client-cert.pem, client-key.pem.
    Qemu,
}

/// `service` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Create store NAME with a `service` certificate (CN = NAME, clientAuth, 2 years).
    Add {
        /// Service name (e.g. vpxd, wcp, machine).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `csr` subcommands.
#[derive(Debug, Subcommand)]
pub enum CsrCmd {
    /// Write key.pem (0600) and csr.pem for another CA to sign. CN is the FQDN; IPs only as SANs.
    Create(CsrArgs),
}

/// `csr create` arguments.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The FQDN clients use (must be a DNS name, not an IP).
    #[arg(long, value_name = "FQDN")]
    pub cn: String,
    /// Extra DNS names or IP addresses; the CN is always the first SAN.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Key algorithm.
    #[arg(long, value_name = "ALG", default_value = "ecdsa-p256")]
    pub key_algo: String,
    /// Directory for key.pem and csr.pem (created if missing; existing files are refused).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// Trust the CA certificates in FILE (roots and intermediates; CA certificates only).
    Add {
        /// PEM or DER file. A regular file of at most 4 MiB.
        file: PathBuf,
    },
    /// List trusted certificates.
    List(OutputArg),
    /// Stop trusting a certificate, by SHA-256 fingerprint (a unique 8+ digit prefix will do).
    Remove {
        /// SHA-256 fingerprint, hex, colons allowed.
        fingerprint: String,
    },
    /// Add a CRL signed by a trusted CA; verify and import consult it.
    AddCrl {
        /// PEM or DER CRL. A regular file of at most 4 MiB.
        file: PathBuf,
    },
}

/// `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Show the signing CA, its root and any rotation in progress.
    Show(OutputArg),
    /// Write the root certificate clients should trust (PEM).
    Export {
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Replace the root: trust the new one, reissue everything, retire the old when unused.
    ///
    /// The new root is added to trusted-roots first, every certificate the old root issued
    /// is reissued by the new one, and the old root stays trusted until none remains. An
    /// interrupted rotation resumes when run again.
    Rotate(OutputArg),
    /// Write the CA's current CRL (published first when none is current).
    ///
    /// The CRL of the signing CA: every certificate it revoked, with a CRL number that only
    /// grows, thisUpdate and nextUpdate (`[crl] next_update`, default 7 days).
    Crl {
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
    },
    /// Complete subordinate mode with the certificate your enterprise CA signed.
    ImportSigned {
        /// The signed CA certificate (PEM or DER; may include the chain). A regular file of at most 4 MiB.
        cert: PathBuf,
        /// The enterprise intermediates and root; repeatable. A regular file of at most 4 MiB.
        #[arg(long, value_name = "FILE")]
        chain: Vec<PathBuf>,
    },
}

/// Purposes for verify.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PurposeArg {
    /// TLS server (serverAuth).
    Server,
    /// TLS client (clientAuth).
    Client,
    /// Any purpose (EKU not checked).
    Any,
}

/// `verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to validate (PEM or DER; the first certificate of a bundle,
    /// the rest are used as intermediates). A regular file of at most 4 MiB.
    pub cert: PathBuf,
    /// Untrusted intermediates; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub chain: Vec<PathBuf>,
    /// Trust anchors instead of the home's trusted-roots; repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub trusted: Vec<PathBuf>,
    /// CRLs to consult besides the home's (PEM or DER, e.g. an intermediate's, as
    /// `openssl verify -CRLfile`); repeatable. A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// A DNS name or IP address the certificate must cover.
    #[arg(long, value_name = "DNS-OR-IP")]
    pub name: Option<String>,
    /// Validate at this instant: RFC 3339, YYYY-MM-DD, or ±DURATION (+2y, -1y) [default: now].
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Required purpose.
    #[arg(long, value_enum, default_value = "any")]
    pub purpose: PurposeArg,
    /// `expiring` is a warning when a certificate of the path expires within this span
    /// [default: certherd.toml, else 30d]; 0s reports no nearness to expiry.
    #[arg(long, value_name = "DURATION")]
    pub warn: Option<String>,
    /// `expiring` is critical within this span [default: certherd.toml, else 7d]; it never
    /// fails `verify` without --strict.
    #[arg(long, value_name = "DURATION")]
    pub crit: Option<String>,
    /// Require the revocation status of every certificate of the path to be known from the
    /// CRLs (the home's and --crl), as `openssl verify -crl_check_all`: a certificate whose
    /// issuer has no CRL fails the path.
    #[arg(long)]
    pub crl_check_all: bool,
    /// An acceptable certificate policy (dotted OID; repeatable): the
    /// user-initial-policy-set of RFC 5280 6.1.1, as `openssl verify -policy` [default:
    /// anyPolicy].
    #[arg(long, value_name = "OID")]
    pub policy: Vec<String>,
    /// The path must be valid for a policy of --policy (RFC 5280 initial-explicit-policy,
    /// `openssl verify -explicit_policy`).
    #[arg(long)]
    pub explicit_policy: bool,
    /// Policy mapping is not allowed (initial-policy-mapping-inhibit, `-inhibit_map`).
    #[arg(long)]
    pub inhibit_policy_mapping: bool,
    /// anyPolicy is not accepted in the path (initial-any-policy-inhibit, `-inhibit_any`).
    #[arg(long)]
    pub inhibit_any_policy: bool,
    /// Fail on every warning too: expiry within the warning threshold, the RFC 5280
    /// profile (critical basicConstraints, key identifiers), a long common name, and with
    /// --purpose server the CA/Browser Forum rules for a TLS server certificate (an EKU, the
    /// CN among the SANs); like `openssl verify -x509_strict`, stricter.
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// WARNING when a certificate expires within this span [default: certherd.toml, else 30d].
    #[arg(long, value_name = "DURATION")]
    pub warn: Option<String>,
    /// CRITICAL when a certificate expires within this span [default: certherd.toml, else 7d].
    #[arg(long, value_name = "DURATION")]
    pub crit: Option<String>,
    /// Evaluate at this instant: RFC 3339, YYYY-MM-DD, or ±DURATION (e.g. +2y, -1y).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// List profiles with lifetime, usage and impact.
    List(OutputArg),
}
