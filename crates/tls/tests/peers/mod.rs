//! Real STARTTLS peers for tests: Debian's PostgreSQL and OpenLDAP slapd, each started in
//! the foreground in a temporary directory on a free 127.0.0.1 port, and stopped with its
//! whole process group (then the directory removed) when its guard drops.
//!
//! std and tempfile only, so any crate's tests can include it:
//! `#[path = "../../tls/tests/peers/mod.rs"] mod peers;`
//!
//! Install (Debian): `apt-get install postgresql slapd` (slapd's debconf prompt is skipped
//! with `DEBIAN_FRONTEND=noninteractive`). The servers are not started as services; the
//! packages only provide the binaries.
#![allow(dead_code)]

pub mod lifeline;

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether this run is CI's, where a missing peer is a failure rather than a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// For a test whose peer is not installed: panics under CI (where .ci/run installs it),
/// else prints a skip line; the caller then returns.
pub fn missing(peer: &str) {
    let msg = format!(
        "{peer} is not installed (Debian: DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql slapd)"
    );
    assert!(!under_ci(), "{msg}; CI must install it");
    eprintln!("SKIPPED: {msg}");
}

/// The directory holding PostgreSQL's `initdb` and `postgres`: the newest
/// `/usr/lib/postgresql/N/bin` (Debian), else the first such pair on `PATH`.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_both(d))
}

/// OpenLDAP's `slapd`: `/usr/sbin/slapd` (Debian), else the first one on `PATH`.
pub fn slapd_bin() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/slapd");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("slapd"))
        .find(|p| p.is_file())
}

/// A server process in its own process group, and the directory it works in.
struct Server {
    child: Child,
    /// Kills the group on drop, and if this test process dies without unwinding.
    lifeline: lifeline::Lifeline,
    /// Dropped after the process is gone.
    dir: TempDir,
    log: PathBuf,
}

impl Server {
    /// The end of the server's log, for error messages.
    fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Signals the whole process group (the server and anything it forked).
    fn signal_group(&self, signal: &str) {
        self.lifeline.signal(signal);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // INT is a fast shutdown for PostgreSQL and a clean stop for slapd; both reap
        // their children. KILL whatever is left after 10 s.
        self.signal_group("INT");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then `dir` is removed by its own drop.
    }
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or(&text).trim().to_owned()
}

/// A 127.0.0.1 port free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The user to run PostgreSQL as when we are root (it refuses to run as root):
/// `postgres`, else `nobody`, as (uid, gid).
fn unprivileged_user() -> Result<(u32, u32), String> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    let find = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&name) {
                Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
            } else {
                None
            }
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .ok_or_else(|| "neither user postgres nor nobody exists".to_owned())
}

/// Writes a file with mode 0600.
fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn chown_all(paths: &[&Path], owner: Option<(u32, u32)>) -> Result<(), String> {
    if let Some((uid, gid)) = owner {
        for p in paths {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Starts `command` in its own process group with its output in `log`, then waits until
/// `address` accepts TCP connections.
fn launch(
    mut command: Command,
    dir: TempDir,
    log: PathBuf,
    address: &str,
) -> Result<Server, String> {
    let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let lifeline = match lifeline::Lifeline::new(child.id()) {
        Ok(l) => l,
        Err(e) => {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cannot start a watchdog for {command:?}: {e}"));
        }
    };
    let mut server = Server {
        child,
        lifeline,
        dir,
        log,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "{command:?} exited with {status} before listening:\n{}",
                server.log_tail()
            ));
        }
        if TcpStream::connect_timeout(
            &address.parse().map_err(|e| format!("{address}: {e}"))?,
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{command:?} did not listen on {address} within {}s:\n{}",
                START_TIMEOUT.as_secs(),
                server.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running PostgreSQL; stopped and its directory removed on drop.
pub struct PgGuard {
    /// `127.0.0.1:PORT`.
    pub address: String,
    server: Server,
}

impl PgGuard {
    /// The temporary directory holding the cluster, the certificate and the log.
    pub fn dir(&self) -> &Path {
        self.server.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.server.log_tail()
    }
}

/// Creates a cluster in a temporary directory (initdb, trust authentication) and starts
/// PostgreSQL on a free 127.0.0.1 port with `ssl` on or off, serving `cert_pem`/`key_pem`.
/// The Unix socket is in the temporary directory too. As root, runs as the `postgres` user.
pub fn start_postgres(cert_pem: &str, key_pem: &str, ssl: bool) -> Result<PgGuard, String> {
    start_postgres_with(cert_pem, key_pem, ssl, &[])
}

/// [`start_postgres`] with `settings` (name, value) over the defaults (a benchmark's
/// `max_connections`, say).
pub fn start_postgres_with(
    cert_pem: &str,
    key_pem: &str,
    ssl: bool,
    settings: &[(&str, &str)],
) -> Result<PgGuard, String> {
    let bin = postgres_bin_dir().ok_or("PostgreSQL (initdb, postgres) not found")?;
    let dir = tempfile::Builder::new()
        .prefix("certherd-pg-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let root = dir.path().to_path_buf();
    let as_root = fs::metadata(&root).map_err(|e| e.to_string())?.uid() == 0;
    let owner = if as_root {
        Some(unprivileged_user()?)
    } else {
        None
    };
    let cert = root.join("server.crt");
    let key = root.join("server.key");
    let data = root.join("data");
    write_private(&cert, cert_pem)?;
    write_private(&key, key_pem)?;
    chown_all(&[&root, &cert, &key], owner)?;

    let as_user = |program: PathBuf| {
        let mut c = Command::new(program);
        c.current_dir(&root).env("LC_ALL", "C").env_remove("PGDATA");
        if let Some((uid, gid)) = owner {
            c.uid(uid).gid(gid);
        }
        c
    };
    let init_log = root.join("initdb.log");
    let out = fs::File::create(&init_log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let status = as_user(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !status.success() {
        return Err(format!(
            "initdb failed ({status}):\n{}",
            log_tail(&init_log)
        ));
    }

    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let setting = |name: &str, value: &str| format!("{name}={value}");
    let mut postgres = as_user(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string());
    for (name, value) in [
        ("listen_addresses", "127.0.0.1".to_owned()),
        ("unix_socket_directories", root.display().to_string()),
        ("ssl", if ssl { "on" } else { "off" }.to_owned()),
        ("ssl_cert_file", cert.display().to_string()),
        ("ssl_key_file", key.display().to_string()),
        ("fsync", "off".to_owned()),
        ("max_connections", "20".to_owned()),
        ("shared_buffers", "16MB".to_owned()),
    ] {
        postgres.arg("-c").arg(setting(name, &value));
    }
    // Given later on the command line, these win.
    for (name, value) in settings {
        postgres.arg("-c").arg(setting(name, value));
    }
    let log = root.join("postgres.log");
    let server = launch(postgres, dir, log, &address)?;
    // Listening is not ready: until recovery ends, connections are refused with "the
    // database system is starting up". pg_isready says when it accepts them.
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run pg_isready: {e}"))?;
        if ready.success() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "PostgreSQL did not accept connections within {}s:\n{}",
                START_TIMEOUT.as_secs(),
                server.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(PgGuard { address, server })
}

/// A running slapd; stopped and its directory removed on drop.
pub struct SlapdGuard {
    /// `127.0.0.1:PORT`, served as `ldap://127.0.0.1:PORT/`.
    pub address: String,
    server: Server,
}

impl SlapdGuard {
    /// The server's log so far.
    pub fn log(&self) -> String {
        self.server.log_tail()
    }
}

/// Starts OpenLDAP slapd on a free 127.0.0.1 port (`ldap://`, StartTLS available) with
/// `cert_pem`/`key_pem` as its TLS certificate and key. No database: the root DSE and
/// StartTLS are all it serves.
pub fn start_slapd(cert_pem: &str, key_pem: &str) -> Result<SlapdGuard, String> {
    start_slapd_with(Some((cert_pem, key_pem)))
}

/// Starts slapd without any TLS configuration: it answers StartTLS with an error.
pub fn start_slapd_without_tls() -> Result<SlapdGuard, String> {
    start_slapd_with(None)
}

fn start_slapd_with(tls: Option<(&str, &str)>) -> Result<SlapdGuard, String> {
    let slapd = slapd_bin().ok_or("slapd not found")?;
    let dir = tempfile::Builder::new()
        .prefix("certherd-slapd-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let root = dir.path().to_path_buf();
    let mut conf = format!(
        "pidfile {root}/slapd.pid\nargsfile {root}/slapd.args\n",
        root = root.display()
    );
    if let Some((cert_pem, key_pem)) = tls {
        let cert = root.join("server.crt");
        let key = root.join("server.key");
        write_private(&cert, cert_pem)?;
        write_private(&key, key_pem)?;
        conf.push_str(&format!(
            "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            cert.display(),
            key.display()
        ));
    }
    let conf_path = root.join("slapd.conf");
    fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut command = Command::new(slapd);
    command
        .current_dir(&root)
        .arg("-f")
        .arg(&conf_path)
        .arg("-h")
        .arg(format!("ldap://{address}/"))
        // Any -d keeps slapd in the foreground; 0 logs nothing but errors.
        .args(["-d", "0"]);
    let log = root.join("slapd.log");
    let server = launch(command, dir, log, &address)?;
    Ok(SlapdGuard { address, server })
}
