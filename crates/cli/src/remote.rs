//! `certherd --server URL --credential FILE ...`: the fleet and certificate commands run
//! against a server's admin API instead of a local home, with the same output and exit
//! codes.
//!
//! The first contact pins the server's CA as `agent join` does: its root must match
//! `--ca-fingerprint`, or be confirmed on a terminal (never under CI). The pinned root is
//! kept in `$CERTHERD_CONFIG_DIR` (else `$XDG_CONFIG_HOME/certherd`, else
//! `~/.config/certherd`) as `servers/HOST_PORT.pem`, and every later call verifies the
//! server against it. The credential file holds a bearer token (`certherd admin
//! credential NAME`) or a client certificate with its key (`--client-cert --out FILE`).
//!
//! Which commands run here is read from the admin API's route table
//! ([`remote_commands`]), never from a list kept by hand.

use crate::commands::Cli;
use crate::commands::Command;
use crate::commands::Ran;
use crate::failure::TransportFailure;
use crate::render::colon_hex;
use crate::Failure;
use certherd_ops::wire::HttpCall;
use certherd_ops::Transport;
use certherd_protocol::admin::ROUTES;
use certherd_x509::CertificateDer;
use std::io::IsTerminal;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

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

/// Where a remote command goes and how it authenticates.
pub struct Remote {
    /// `https://HOST:PORT`.
    pub server: String,
    /// The credential file.
    pub credential: PathBuf,
    /// The SHA-256 of the root CA to pin at the first contact.
    pub ca_fingerprint: Option<String>,
}

/// The credential a file holds.
enum Credential {
    Bearer(String),
    Cert(certherd_tls::Identity),
}

fn read_credential(path: &Path) -> Result<Credential, Failure> {
    let bytes = crate::input::read(path, crate::input::Kind::Material)
        .map_err(|e| Failure::msg(e.to_string()))?;
    parse_credential(&bytes).map_err(|detail| {
        // Neither form: say what the file should hold, not only what one parser missed.
        let mut f = Failure::msg(format!(
            "{}: holds neither an admin bearer token nor a client certificate with its key ({detail})",
            path.display()
        ));
        f.hint = Some("save the output of `certherd admin credential NAME` on the server to the file, or use the file `certherd admin credential NAME --client-cert --out FILE` wrote".into());
        f
    })
}

/// A credential file's content: a `cha1_` bearer token, or PEM holding a client
/// certificate and its key; else why it is neither (the detail of the refusal).
fn parse_credential(bytes: &[u8]) -> Result<Credential, String> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.starts_with("cha1_") && !trimmed.contains(char::is_whitespace) {
        return Ok(Credential::Bearer(trimmed.to_owned()));
    }
    if trimmed.is_empty() {
        return Err("it is empty".into());
    }
    // A certificate and its key come as PEM (DER holds one object): text without a PEM
    // block is neither, whatever a key parser would make of its bytes.
    if !text.contains("-----BEGIN ") {
        return Err("it holds no `cha1_` token and no PEM block".into());
    }
    let key = certherd_x509::parse_private_key(bytes).map_err(|e| e.to_string())?;
    let chain = certherd_x509::parse_certificates(bytes).map_err(|e| e.to_string())?;
    let key =
        pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec()).map_err(|e| e.to_string())?;
    Ok(Credential::Cert(certherd_tls::Identity { chain, key }))
}

/// The directory remote pins live in.
fn config_dir() -> Result<PathBuf, Failure> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("CERTHERD_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("certherd")))
        .or_else(|| var("HOME").map(|d| d.join(".config").join("certherd")))
        .ok_or_else(|| {
            Failure::msg("no place for the server's pinned CA: set CERTHERD_CONFIG_DIR or HOME")
        })
}

fn normalized(fp: &str) -> String {
    fp.chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A connection to the admin API.
struct Client {
    url: certherd_tls::http::Url,
    anchors: Vec<CertificateDer<'static>>,
    credential: Credential,
    /// Where the server's CA is pinned.
    pin: std::path::PathBuf,
    /// At the first contact, the pin to write once a call has succeeded.
    pending_pin: std::cell::RefCell<Option<PendingPin>>,
}

/// A CA the first contact checked, to pin only once a call has gone through with it.
struct PendingPin {
    /// The root, PEM.
    pem: String,
    /// Its SHA-256.
    sha256: String,
}

impl Client {
    fn open(r: &Remote) -> Result<Self, Failure> {
        let url = certherd_tls::http::Url::parse(&r.server)
            .map_err(|e| Failure::usage(format!("--server: {e}")))?;
        if !url.tls {
            return Err(Failure::usage("--server must be https://HOST:PORT"));
        }
        let credential = read_credential(&r.credential)?;
        let (anchors, pending) = pinned(&url, r.ca_fingerprint.as_deref())?;
        let pin = pin_file(&url)?;
        Ok(Self {
            url,
            anchors,
            credential,
            pin,
            pending_pin: std::cell::RefCell::new(pending),
        })
    }

    /// Writes the first contact's pin, now that a call went through with it (a handshake
    /// that failed, or a refused call, leaves nothing pinned).
    fn keep_pin(&self) -> Result<(), Failure> {
        let Some(p) = self.pending_pin.borrow_mut().take() else {
            return Ok(());
        };
        if let Some(dir) = self.pin.parent() {
            private_dir(dir).map_err(|e| Failure::msg(format!("{}: {e}", dir.display())))?;
        }
        // A public certificate: readable by all, and no more, whatever the umask.
        certherd_store::write_atomic(&self.pin, p.pem.as_bytes(), 0o644)?;
        errln!(
            "pinned {}'s CA (SHA-256 {}) in {}",
            self.url.address(),
            colon_hex(&p.sha256),
            self.pin.display()
        );
        Ok(())
    }

    /// One call; the answer's status and body (a refusal's body is the operation's to
    /// read). A connection that fails is worded here, with the hint its cause calls for.
    fn send(&self, call: &HttpCall) -> Result<(u16, Vec<u8>), Failure> {
        let mut url = self.url.clone();
        url.path = call.path.clone();
        let bearer;
        let headers: Vec<(&str, &str)> = match &self.credential {
            Credential::Bearer(t) => {
                bearer = format!("Bearer {t}");
                vec![("Authorization", bearer.as_str())]
            }
            Credential::Cert(_) => Vec::new(),
        };
        let identity = match &self.credential {
            Credential::Cert(i) => Some(i),
            Credential::Bearer(_) => None,
        };
        let answer = certherd_tls::http::request(
            &url,
            &certherd_tls::http::Request {
                method: call.method,
                headers: &headers,
                body: call.body.as_deref().unwrap_or_default().as_bytes(),
            },
            &self.anchors,
            identity,
            &certherd_tls::http::Limits::default(),
        )
        .map_err(|e| self.connect_failure(e))?;
        if answer.is_success() {
            self.keep_pin()?;
        }
        Ok((answer.status, answer.body))
    }
}

impl Client {
    /// A failed connection as one line, with the hint its cause calls for.
    fn connect_failure(&self, e: certherd_tls::http::Error) -> Failure {
        use certherd_tls::http::Error as H;
        let first_contact = self.pending_pin.borrow().is_some();
        match e {
            H::Connect(e @ certherd_tls::Error::NameMismatch { .. }) => {
                let mut f = Failure::msg(e.to_string());
                f.hint = Some(format!(
                    "reach the server by a name its certificate holds: --server https://NAME:{}{}",
                    self.url.port,
                    if first_contact {
                        "; nothing was pinned"
                    } else {
                        ""
                    }
                ));
                f
            }
            H::Connect(e @ certherd_tls::Error::ServerNotTrusted(_)) => {
                let mut f = Failure::msg(format!("{}: {e}", self.url.address()));
                f.hint = Some(if first_contact {
                    "the server's certificate does not validate to the CA it presented; check its chain (`certherd verify` on the server); nothing was pinned".to_owned()
                } else {
                    // The usual cause: the server's CA was rotated since it was pinned.
                    format!(
                        "the server no longer presents a certificate of the CA pinned in {} (after a `ca rotate`?): check the new root with `certherd ca show` on the server, remove that file and pass its --ca-fingerprint",
                        self.pin.display()
                    )
                });
                f
            }
            e => Failure::msg(format!("{}: {e}", self.url.address())),
        }
    }
}

/// Creates `dir` (the pin directory) and every missing parent with mode 0700, set
/// explicitly whatever the umask, and sets `dir` itself to 0700: what a user trusts is
/// theirs alone to change. Parents that exist are left as they are (they may be shared).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(p);
        d = p.parent();
    }
    for p in missing.iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(p) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))?,
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Where the CA of the server at `url` is pinned.
fn pin_file(url: &certherd_tls::http::Url) -> Result<std::path::PathBuf, Failure> {
    Ok(config_dir()?.join("servers").join(format!(
        "{}_{}.pem",
        url.host.replace(':', "_"),
        url.port
    )))
}

/// The root this server was pinned to; at the first contact, the root it presents, once it
/// matches `fingerprint` or was confirmed on a terminal, with the pin to write once a call
/// has gone through with it.
fn pinned(
    url: &certherd_tls::http::Url,
    fingerprint: Option<&str>,
) -> Result<(Vec<CertificateDer<'static>>, Option<PendingPin>), Failure> {
    let file = pin_file(url)?;
    if file.exists() {
        let pem = crate::input::read(&file, crate::input::Kind::Material)
            .map_err(|e| Failure::msg(e.to_string()))?;
        let roots = certherd_x509::parse_certificates(&pem).map_err(|e| Failure::file(&file, e))?;
        if let Some(fp) = fingerprint {
            let held: Vec<String> = roots
                .iter()
                .map(|r| certherd_x509::hex(&certherd_x509::sha256(r)))
                .collect();
            if !held.contains(&normalized(fp)) {
                let mut f = Failure::msg(format!(
                    "{} is pinned to another CA (SHA-256 {}) than --ca-fingerprint says",
                    url.address(),
                    held.iter()
                        .map(|h| colon_hex(h))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                f.hint = Some(format!(
                    "if the server's CA really changed, remove {} and pin it again",
                    file.display()
                ));
                return Err(f);
            }
        }
        return Ok((roots, None));
    }
    let chain = certherd_tls::fetch_chain(
        &certherd_tls::Endpoint {
            address: url.address(),
            proxy: None,
            timeout: std::time::Duration::from_secs(10),
            server_name: Some(url.host.clone()),
            starttls: None,
        },
        None,
    )
    .map_err(|e| Failure::msg(e.to_string()))?;
    let root = chain
        .last()
        .ok_or_else(|| Failure::msg("the server presented no certificate"))?;
    let info = certherd_x509::CertInfo::from_der(root)?;
    match fingerprint {
        Some(fp) if normalized(fp) == info.sha256 => {}
        Some(_) => {
            return Err(Failure::msg(format!(
            "the server's CA {} has SHA-256 {}, not the --ca-fingerprint given; nothing was sent",
            info.subject,
            colon_hex(&info.sha256)
        )))
        }
        None => {
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
                    "compare it with `certherd ca show` on the server, then pass --ca-fingerprint"
                        .into(),
                );
                return Err(f);
            }
            eprint!("{shown}\nIs this the fingerprint of the server's CA? [y/N] ");
            let mut answer = String::new();
            std::io::stdin()
                .read_line(&mut answer)
                .map_err(|e| Failure::msg(e.to_string()))?;
            if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                return Err(Failure::msg("not confirmed; nothing was sent"));
            }
        }
    }
    let pem = certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, root);
    Ok((
        vec![root.clone()],
        Some(PendingPin {
            pem,
            sha256: info.sha256,
        }),
    ))
}

/// The command the user typed (`status`, `ca export`...), read from the command line.
fn command_words() -> String {
    use clap::CommandFactory;
    let cli = Cli::command();
    let mut words = Vec::new();
    let mut at = &cli;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let takes_value = at.get_arguments().any(|x| {
            x.get_long().is_some_and(|l| a == format!("--{l}")) && x.get_action().takes_values()
        });
        if takes_value {
            args.next();
        } else if !a.starts_with('-') {
            match at.find_subcommand(&a) {
                Some(sub) => {
                    words.push(a);
                    at = sub;
                }
                None => break,
            }
        }
    }
    if words.is_empty() {
        "this command".into()
    } else {
        format!("`certherd {}`", words.join(" "))
    }
}

/// The refusal of a command that is not an operation (exit 2), with why.
fn not_remote(why: crate::commands::HomeOnly) -> Failure {
    use crate::commands::HomeOnly;
    let mut f = Failure::usage(match why {
        HomeOnly::Neither => format!(
            "{} needs no server: run it without --server",
            command_words()
        ),
        HomeOnly::KeyOut | HomeOnly::KeyIn => format!(
            "{}: run {} on the server's home",
            why.why(),
            command_words()
        ),
        _ => format!("{} runs on a home, not against --server", command_words()),
    });
    f.hint = Some(format!(
        "run it on the server's home (without --server): {}; against --server: {}",
        why.why(),
        crate::remote::remote_commands()
    ));
    f
}

/// The admin API as the operations' transport: the connection is opened (the credential
/// read, the CA pinned at the first contact) at the first call, so a command that is not
/// an operation is refused without contacting the server.
struct Lazy<'r> {
    remote: &'r Remote,
    client: std::cell::RefCell<Option<Client>>,
}

impl Transport for Lazy<'_> {
    fn send(
        &self,
        call: &HttpCall,
    ) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error + Send + Sync>> {
        let failed = |f: Failure| -> Box<dyn std::error::Error + Send + Sync> {
            Box::new(TransportFailure(f))
        };
        let mut slot = self.client.borrow_mut();
        let client = match &mut *slot {
            Some(c) => c,
            empty => empty.insert(Client::open(self.remote).map_err(failed)?),
        };
        client.send(call).map_err(failed)
    }
}

/// Runs `command` against the server; a command that only runs on a home is refused.
pub fn run(r: &Remote, command: Command) -> Result<ExitCode, Failure> {
    let mut ops = certherd_ops::Remote::new(Lazy {
        remote: r,
        client: std::cell::RefCell::new(None),
    });
    let command = match crate::commands::operation(&mut ops, command) {
        Ran::Done(done) => return done,
        Ran::NotAnOperation(c) => *c,
    };
    Err(match crate::commands::HomeOnly::of(&command) {
        Some(why) => not_remote(why),
        None => crate::not_carried_out(&command),
    })
}

#[cfg(test)]
mod help_tests {
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
        let help = crate::commands::Cli::command()
            .render_long_help()
            .to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of random text is neither credential, said as such (not as a malformed key).
    #[test]
    fn a_credential_file_of_random_text_is_said_to_be_neither() {
        let detail = |b: &[u8]| match parse_credential(b) {
            Err(d) => d,
            Ok(_) => panic!("{} was taken for a credential", String::from_utf8_lossy(b)),
        };
        assert_eq!(
            detail(b"q8Zr3 lorem ipsum\nnot a credential at all\n"),
            "it holds no `cha1_` token and no PEM block"
        );
        assert_eq!(
            detail(b"\x8f\x01\xffbinary"),
            "it holds no `cha1_` token and no PEM block"
        );
        assert_eq!(detail(b" \n"), "it is empty");
        assert!(matches!(
            parse_credential(b"cha1_abc\n"),
            Ok(Credential::Bearer(t)) if t == "cha1_abc"
        ));
        // PEM without a key still names what the parser missed.
        let d = detail(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(!d.is_empty());
    }
}
