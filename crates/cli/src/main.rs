//! The `certherd` binary: parses arguments, calls the node operations, prints results.

#![forbid(unsafe_code)]

#[macro_use]
mod output;

mod commands;
mod failure;
mod hints;
mod input;
mod instant;
mod local;
mod logging;
mod remote;
mod render;

use crate::commands::Cli;
use crate::commands::Command;
use certherd_authority::Node;
use certherd_authority::SystemClock;
use certherd_store::DatabaseUrl;
use certherd_store::Home;
use certherd_store::HomeStore;
use clap::Parser;
pub(crate) use failure::Failure;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

/// The node type the CLI works with.
pub(crate) type LocalNode = Node<HomeStore>;

fn home_dir(arg: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(h) = arg {
        return Ok(h);
    }
    if let Some(h) = std::env::var_os("CERTHERD_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(d).join("certherd"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/certherd")),
        None => Err(Failure::usage(
            "no home directory: pass --home DIR or set CERTHERD_HOME",
        )),
    }
}

/// Fault injection for crash tests: `CERTHERD_FAULT_POINT=NAME` aborts the process at the
/// named point (`renew.issued`, `store.before-commit`, `renew.committed`, `rotate.new-root`),
/// exactly as a crash or a kill -9 would.
fn fault_hook() -> Option<certherd_authority::FaultHook> {
    let point = std::env::var("CERTHERD_FAULT_POINT")
        .ok()
        .filter(|p| !p.is_empty())?;
    Some(Rc::new(move |at: &str| {
        if at == point {
            errln!("certherd: fault injected at {at}");
            std::process::abort();
        }
    }))
}

pub(crate) fn node_over(home: &Home, mut store: HomeStore) -> Result<LocalNode, Failure> {
    let hook = fault_hook();
    if let Some(h) = hook.clone() {
        store.set_fault_hook(Box::new(move |p| h(p)));
    }
    let config = home
        .read_config()
        .map_err(certherd_authority::Error::from)?;
    let path = home.config_path().display().to_string();
    let mut node = Node::new(store, Box::new(SystemClock), config.as_deref(), &path)?;
    // A webhook that can never be reached is a configuration error now, not a notification
    // stuck in the outbox later.
    for (i, w) in node.settings().webhooks.iter().enumerate() {
        if let Err(e) = certherd_tls::http::Url::parse(&w.url) {
            return Err(Failure::msg(format!(
                "{path}: [[webhooks]] #{}: {e}",
                i + 1
            )));
        }
    }
    if let Some(h) = hook {
        node.set_fault_hook(h);
    }
    Ok(node)
}

/// Opens an initialized home.
pub(crate) fn open_node(home: &Home) -> Result<LocalNode, Failure> {
    let store = home.open().map_err(certherd_authority::Error::from)?;
    node_over(home, store)
}

/// An environment variable's value; empty counts as unset.
fn env_value(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Where the command acts: the server (`--server`, else $CERTHERD_SERVER) or the home. A
/// home given explicitly (`--home`, $CERTHERD_HOME) together with a server is refused in
/// one line naming both, never settled silently for one of them.
fn chosen_server(cli: &Cli) -> Result<Option<String>, Failure> {
    let server = match cli.server.clone().filter(|s| !s.is_empty()) {
        Some(s) => Some((s.clone(), format!("--server {s}"))),
        None => env_value("CERTHERD_SERVER").map(|s| {
            let s = s.to_string_lossy().into_owned();
            (s.clone(), format!("CERTHERD_SERVER={s}"))
        }),
    };
    let home = match &cli.home {
        Some(h) => Some(format!("--home {}", h.display())),
        None => env_value("CERTHERD_HOME")
            .map(|h| format!("CERTHERD_HOME={}", PathBuf::from(h).display())),
    };
    match (server, home) {
        (Some((_, server)), Some(home)) => {
            let (drop_server, drop_home) = (
                if server.starts_with("--") {
                    "drop --server".to_owned()
                } else {
                    "unset CERTHERD_SERVER".to_owned()
                },
                if home.starts_with("--") {
                    "drop --home".to_owned()
                } else {
                    "unset CERTHERD_HOME".to_owned()
                },
            );
            Err(Failure::usage(format!(
                "both a home ({home}) and a server ({server}) are given: {drop_server} to act on the home, or {drop_home} to act on the server's fleet"
            )))
        }
        (Some((url, _)), None) => Ok(Some(url)),
        (None, _) => {
            if cli.ca_fingerprint.is_some() {
                return Err(Failure::usage(
                    "--ca-fingerprint needs --server URL (or CERTHERD_SERVER)",
                ));
            }
            Ok(None)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    // Read the command tree only: no home, no database, no server, so they work for any
    // user (the packaging step, a shell's rc file) whatever --home or --server says.
    match cli.command {
        Command::Completions(a) => return crate::commands::completions::run(a),
        Command::Man(a) => return crate::commands::man::run(a),
        Command::Reference(a) => return crate::commands::reference::run(a),
        _ => {}
    }
    if let Some(server) = chosen_server(&cli)? {
        let credential = cli
            .credential
            .or_else(|| env_value("CERTHERD_CREDENTIAL").map(PathBuf::from))
            .ok_or_else(|| {
                Failure::usage("--server needs --credential FILE (or CERTHERD_CREDENTIAL)")
            })?;
        return crate::remote::run(
            &crate::remote::Remote {
                server,
                credential,
                ca_fingerprint: cli.ca_fingerprint,
            },
            cli.command,
        );
    }
    let dir = home_dir(cli.home)?;
    let key = certherd_store::KeyLocation::choose(
        &dir,
        std::env::var_os(certherd_store::MASTER_KEY_ENV).as_deref(),
        std::env::var_os("CREDENTIALS_DIRECTORY").as_deref(),
    );
    let home = Home::new(dir).with_master_key(key);
    let database = database_url(&home, cli.database).inspect_err(|f| {
        // `check` is a monitoring plugin: a certherd.toml it cannot use is its UNKNOWN.
        if let Command::Check(a) = &cli.command {
            crate::commands::check::unknown(a.output, &f.message, f.hint.as_deref());
        }
    })?;
    let home = home.with_database(database);
    // `verify` with anchors of its own needs no home; where there is none, it runs here.
    if let Command::Verify(a) = &cli.command {
        if home.database().is_none() && !home.db_path().exists() {
            return crate::commands::verify::without_home(&home, a);
        }
    }
    let mut ops = crate::local::HomeOps::new(&home);
    // On a home, `alarms` and `report` evaluate first, as the server's loop does on its
    // timer.
    if let Command::Alarms(_) | Command::Report(_) = &cli.command {
        ops.evaluate_alarms()?;
    }
    let command = match commands::operation(&mut ops, cli.command) {
        commands::Ran::Done(done) => return done,
        commands::Ran::NotAnOperation(c) => *c,
    };
    drop(ops);
    commands::on_home(&home, command)
}

/// A command [`commands::operation`] carries out in every form came back to the home's
/// dispatch: a bug, said in one line rather than a panic.
pub(crate) fn not_carried_out(command: &impl std::fmt::Debug) -> Failure {
    let name = format!("{command:?}");
    Failure::msg(format!(
        "internal error: `{}` was not carried out",
        name.split(['(', ' ', '{']).next().unwrap_or_default()
    ))
}

/// The PostgreSQL database the home uses: `--database`, else `CERTHERD_DATABASE_URL`
/// (both through clap), else `[database] url` in certherd.toml; none: its certherd.db.
/// certherd.toml is read whole first: a setting it gets wrong (`max_connections = -1`, a
/// misspelt field) is said as such, naming the file and the field, rather than taken for
/// an absent URL and reported as the store it then does not find.
fn database_url(home: &Home, flag: Option<String>) -> Result<Option<DatabaseUrl>, Failure> {
    let url = match flag.filter(|u| !u.is_empty()) {
        Some(u) => Some(u),
        None => match home
            .read_config()
            .map_err(certherd_authority::Error::from)?
        {
            Some(text) => configured_database(&text, &home.config_path().display().to_string())?,
            None => None,
        },
    };
    url.map(|u| DatabaseUrl::parse(&u))
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))
}

/// `[database] url` of certherd.toml's `text`, the whole file checked as the node checks
/// it (`path` names it in the error).
fn configured_database(
    text: &str,
    path: &str,
) -> Result<Option<String>, certherd_authority::Error> {
    let settings: certherd_core::Settings =
        toml::from_str(text).map_err(|e| certherd_authority::Error::Config {
            path: path.to_owned(),
            detail: e.to_string().trim().replace('\n', " "),
        })?;
    Ok(settings.database.url.filter(|u| !u.is_empty()))
}

/// The first word of the command line that is not an option or --home's value.
fn subcommand_name() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if ["--home", "--server", "--credential", "--ca-fingerprint"].contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// The output format a `check` command line asks for, read without clap (which refused it).
fn check_output_asked() -> crate::commands::Output {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().enumerate().any(|(i, a)| {
        a == "--output=json" || (a == "--output" && args.get(i + 1).is_some_and(|v| v == "json"))
    });
    if json {
        crate::commands::Output::Json
    } else {
        crate::commands::Output::Table
    }
}

/// Clap's error as one line, without its `error: ` prefix, usage and help.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `check` speaks the monitoring-plugin protocol even for bad arguments: UNKNOWN.
            // The scans exit as `check` does (2 is critical), so their errors are 3 too.
            let name = subcommand_name();
            let is_check = name.as_deref() == Some("check");
            let is_scan = name.as_deref() == Some("scan");
            if is_check && e.use_stderr() {
                // A monitoring plugin prints its status on stdout, whatever went wrong.
                crate::commands::check::unknown(check_output_asked(), &clap_message(&e), None);
            }
            return ExitCode::from(match (e.use_stderr(), is_check || is_scan) {
                (false, _) => 0,
                (true, true) => 3,
                (true, false) => 2,
            });
        }
    };
    // `check` speaks the monitoring-plugin protocol: its errors are UNKNOWN (3).
    // The scans exit as `check` does (0 ok, 1 warning, 2 critical): a scan that could not
    // run is 3, never mistaken for a verdict.
    let error_code = if matches!(cli.command, Command::Check(_) | Command::Scan(_)) {
        3
    } else if matches!(cli.command, Command::Verify(_)) {
        // `verify` says 1 for an invalid path: one it could not judge is 2, as for `grep`.
        2
    } else {
        1
    };
    match run(cli) {
        Ok(code) => code,
        Err(f) => {
            errln!("error: {}", output::escape(&f.message));
            if let Some(h) = f.hint {
                errln!("hint: {}", output::escape(&h));
            }
            if let Some(n) = f.note {
                errln!("note: {}", output::escape(&n));
            }
            ExitCode::from(if error_code == 1 {
                f.code.unwrap_or(error_code)
            } else {
                error_code
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::configured_database;

    /// A bad `[database]` setting is the TOML error (file, field, what was expected),
    /// never read as "no URL".
    #[test]
    fn a_bad_database_setting_is_said_as_the_toml_error() {
        for (text, field, expected) in [
            (
                "[database]\nmax_connections = -1\n",
                "max_connections",
                "u32",
            ),
            (
                "[database]\nmax_connections = \"5\"\n",
                "max_connections",
                "u32",
            ),
            (
                "[database]\nmax_conections = 5\n",
                "max_conections",
                "expected `url` or `max_connections`",
            ),
        ] {
            let e = configured_database(text, "/h/certherd.toml").unwrap_err();
            let m = e.to_string();
            assert!(matches!(e, certherd_authority::Error::Config { .. }), "{m}");
            assert!(
                m.starts_with("/h/certherd.toml: ") && m.contains(field) && m.contains(expected),
                "{text}: {m}"
            );
        }
        assert_eq!(
            configured_database("[database]\nurl = \"postgres://h/db\"\n", "c").unwrap(),
            Some("postgres://h/db".into())
        );
        assert_eq!(
            configured_database("[database]\nurl = \"\"\n", "c").unwrap(),
            None
        );
        assert_eq!(configured_database("", "c").unwrap(), None);
    }
}
