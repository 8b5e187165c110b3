//! `admin credential ...`: the credentials of the server's admin API.
use crate::commands::agent::random32;
use crate::instant::duration;

use crate::commands::Output;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_core::Span;
use certherd_store::Home;
use clap::Args;
use clap::Subcommand;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

/// `admin`.
pub fn run(home: &Home, c: AdminCmd) -> Result<ExitCode, Failure> {
    let AdminCmd::Credential(a) = c;
    match a.command {
        Some(CredentialCmd::List { output }) => {
            let node = open_node(home)?;
            let all = node.admin().admin_credentials()?;
            let when = |t: Option<certherd_core::OffsetDateTime>| t.map(rfc3339);
            match output {
                Output::Json => json(
                    &all.iter()
                        .map(|c| CredentialJson {
                            name: &c.name,
                            kind: c.kind.as_str(),
                            role: c.role.as_str(),
                            created_at: when(c.created_at),
                            expires_at: when(c.expires_at),
                            revoked_at: when(c.revoked_at),
                            sha256: &c.sha256,
                        })
                        .collect::<Vec<_>>(),
                ),
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
                Output::Json => json(&ClientCertJson {
                    name: &name,
                    kind: "client-cert",
                    role: role.as_str(),
                    out: out.display().to_string(),
                    sha256: &issued.credential.sha256,
                    expires_at: expires,
                }),
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
                Output::Json => json(&BearerJson {
                    name: &name,
                    kind: "bearer",
                    role: role.as_str(),
                    token: &token,
                }),
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

/// `admin credential list --output json`: one credential.
#[derive(serde::Serialize)]
struct CredentialJson<'a> {
    name: &'a str,
    kind: &'a str,
    role: &'a str,
    created_at: Option<String>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    sha256: &'a str,
}

/// `admin credential --client-cert --output json`: the certificate written.
#[derive(serde::Serialize)]
struct ClientCertJson<'a> {
    name: &'a str,
    /// Always `client-cert`.
    kind: &'a str,
    role: &'a str,
    out: String,
    sha256: &'a str,
    expires_at: Option<String>,
}

/// `admin credential --output json`: the bearer token, shown this once.
#[derive(serde::Serialize)]
struct BearerJson<'a> {
    name: &'a str,
    /// Always `bearer`.
    kind: &'a str,
    role: &'a str,
    token: &'a str,
}
