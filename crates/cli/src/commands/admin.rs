//! `admin credential ...`: the credentials of the server's admin API.
use crate::instant::duration;

use crate::commands::Output;
use crate::commands::Ran;
use crate::instant::rfc3339;
use crate::open_node;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_core::Span;
use certherd_ops::Operations;
use certherd_protocol::admin as api;
use certherd_store::Home;
use clap::Args;
use clap::Subcommand;
use clap::ValueEnum;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

/// The forms of `admin credential` that are operations: a bearer token issued, the list,
/// a revocation. A client certificate (`--client-cert --out FILE`) is given back: its key
/// is made and written on the home ([`run`]), never sent over the admin API.
pub fn operation(ops: &mut dyn Operations, c: AdminCmd) -> Ran<AdminCmd> {
    let AdminCmd::Credential(a) = c;
    Ran::Done(match a.command {
        Some(CredentialCmd::List { output }) => list(ops, output),
        Some(CredentialCmd::Revoke { name, reason }) => revoke(ops, name, &reason),
        None if !a.client_cert => bearer(ops, a),
        None => return Ran::NotAnOperation(AdminCmd::Credential(a)),
    })
}

/// `admin credential list`.
fn list(ops: &mut dyn Operations, output: Output) -> Result<ExitCode, Failure> {
    let all = ops.credential_list()?;
    match output {
        Output::Json => json(&all),
        Output::Table => {
            let dash = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.kind.clone(),
                        c.role.clone(),
                        dash(&c.created_at),
                        dash(&c.expires_at),
                        dash(&c.revoked_at),
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

/// `admin credential revoke NAME`.
fn revoke(ops: &mut dyn Operations, name: String, reason: &str) -> Result<ExitCode, Failure> {
    let reason = certherd_x509::RevocationReason::parse(reason).ok_or_else(|| {
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
    let r = ops.credential_revoke(name, reason)?;
    errln!(
        "revoked {} credential(s) of {}; the server refuses them from the next call on",
        r.revoked,
        r.name
    );
    Ok(ExitCode::SUCCESS)
}

/// The credential's name and role as given.
fn name_and_role(a: &CredentialArgs) -> (String, certherd_store::AdminRole) {
    let name = a
        .name
        .clone()
        .or_else(|| a.name_flag.clone())
        .unwrap_or_else(|| "admin".to_owned());
    let role = match a.role {
        RoleArg::Reader => certherd_store::AdminRole::Reader,
        RoleArg::Admin => certherd_store::AdminRole::Admin,
    };
    (name, role)
}

/// `--valid-for`, checked as the home checks it (exit 2).
fn valid_for(a: &CredentialArgs) -> Result<Option<Span>, Failure> {
    match a.valid_for.as_deref() {
        Some(s) => {
            duration(s, "--valid-for")?;
            Ok(Some(s.parse::<Span>()?))
        }
        None => Ok(None),
    }
}

/// `admin credential NAME`: a bearer token, printed once on standard output.
fn bearer(ops: &mut dyn Operations, a: CredentialArgs) -> Result<ExitCode, Failure> {
    let (name, _) = name_and_role(&a);
    valid_for(&a)?;
    let issued = ops.credential_add(api::CredentialAddRequest {
        name,
        role: match a.role {
            RoleArg::Reader => api::CredentialRole::Reader,
            RoleArg::Admin => api::CredentialRole::Admin,
        },
        valid_for: a.valid_for.clone(),
    })?;
    match a.output {
        Output::Json => json(&BearerJson {
            name: &issued.name,
            kind: &issued.kind,
            role: &issued.role,
            token: &issued.token,
        }),
        Output::Table => {
            outln!("{}", issued.token);
            // The token goes to stdout only: stderr often lands in logs and
            // terminals' scrollback, where a secret must not.
            errln!("bearer token for {}, role {}, printed once on stdout: send it as `Authorization: Bearer TOKEN`; it is not shown again", issued.name, issued.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `admin credential NAME --client-cert --out FILE`: the certificate and its key, made on
/// the home and written to FILE (0600); the forms that are operations go through
/// [`operation`].
pub fn run(home: &Home, c: AdminCmd) -> Result<ExitCode, Failure> {
    let AdminCmd::Credential(a) = c;
    match (&a.command, a.client_cert, &a.out) {
        (None, true, Some(out)) => client_cert(home, &a, out),
        _ => Err(crate::not_carried_out(&AdminCmd::Credential(a))),
    }
}

/// `admin credential NAME --client-cert --out FILE`.
fn client_cert(home: &Home, a: &CredentialArgs, out: &Path) -> Result<ExitCode, Failure> {
    let (name, role) = name_and_role(a);
    let valid_for = valid_for(a)?;
    if out.exists() || out.is_dir() {
        return Err(Failure::usage(format!(
            "--out {}: the file exists; give a new file (it will hold a private key)",
            out.display()
        )));
    }
    let mut node = open_node(home)?;
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
    certherd_store::write_out(out, pem.as_bytes(), 0o600)?;
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
