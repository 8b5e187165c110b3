//! One libvirt node with the real daemon: `cert export --layout libvirt` feeds a libvirtd
//! this test starts (`listen_tls` on a free loopback port, its own config, sockets and
//! pid file), and `virsh -c qemu+tls://localhost:PORT/system?pkipath=...` connects with
//! the client certificate of the layout. A client of another CA fails; an ECDSA
//! certificate is refused by the layout with the reason, and by libvirtd itself.
//!
//! Needs Debian's libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients, root
//! (the daemon serves qemu:///system), and the user `libvirt-qemu` and group `kvm` (without
//! them the QEMU driver does not initialize). `.ci/run` installs and creates them and runs
//! this test; locally: `cargo test -p certherd-cli --test libvirt -- --ignored`. Outside CI
//! a machine without libvirtd skips it with a line; under CI (`CI=true`) that fails.
//!
//! libvirt 9 keeps per-driver lock files under /run/libvirt, so only one libvirtd runs at
//! a time on a machine: a libvirtd already running makes this test fail with that reason.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "../../tls/tests/peers/lifeline.rs"]
mod lifeline;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;

const LIBVIRTD: &str = "/usr/sbin/libvirtd";
const VIRSH: &str = "/usr/bin/virsh";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().next().map(|u| u == "0"))
        .unwrap_or(false)
}

/// Whether the machine can run this test; if not, why. Under CI a missing piece fails.
fn missing() -> Option<String> {
    let mut why = Vec::new();
    for p in [LIBVIRTD, VIRSH] {
        if !Path::new(p).exists() {
            why.push(format!(
                "{p} not found (apt-get install --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
            ));
        }
    }
    if !is_root() {
        why.push("not root: libvirtd serves qemu:///system only as root".into());
    }
    for (db, name) in [("passwd", "libvirt-qemu"), ("group", "kvm")] {
        let found = Command::new("getent")
            .args([db, name])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            why.push(format!(
                "no {db} entry {name}: libvirt's QEMU driver needs it (.ci/run creates it)"
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn libvirtd_running() -> bool {
    Command::new("pgrep")
        .args(["-x", "libvirtd"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A libvirtd started by this test, in its own process group: stopped on drop, and
/// killed by the lifeline if this test process dies without unwinding.
struct Libvirtd {
    child: Option<Child>,
    lifeline: lifeline::Lifeline,
    log: PathBuf,
}

impl Libvirtd {
    /// Starts `libvirtd --listen` with a config in `run` (a short directory: it holds the
    /// unix sockets) serving TLS on `port` from the libvirt layout at `pki`.
    fn start(run: &Path, pki: &Path, port: u16, name: &str) -> Self {
        let conf = run.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "listen_tls = 1\nlisten_tcp = 0\nlisten_addr = \"127.0.0.1\"\ntls_port = \"{port}\"\n\
                 unix_sock_dir = \"{sock}\"\n\
                 key_file = \"{pki}/libvirt/private/serverkey.pem\"\n\
                 cert_file = \"{pki}/libvirt/servercert.pem\"\n\
                 ca_file = \"{pki}/CA/cacert.pem\"\n\
                 auth_tls = \"none\"\n",
                sock = run.display(),
                pki = pki.display(),
            ),
        )
        .unwrap();
        let log = run.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(LIBVIRTD)
            .arg("--listen")
            .arg("-f")
            .arg(&conf)
            // Not /run/libvirtd.pid: nothing of the machine's own libvirt is touched.
            .arg("-p")
            .arg(run.join(format!("{name}.pid")))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {LIBVIRTD}: {e}"));
        // Guarded before waiting, so that a daemon that never listens is stopped too.
        let lifeline = lifeline::Lifeline::new(child.id()).unwrap();
        Self {
            child: Some(child),
            lifeline,
            log,
        }
    }

    /// What the daemon printed so far.
    fn printed(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the TLS port accepts connections; panics with the log if the daemon
    /// exits first or takes longer than 30 s.
    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = self.printed();
                let hint = if log.contains("Failed to acquire pid file") {
                    "\n(another libvirtd holds /run/libvirt's driver locks: stop it first)"
                } else {
                    ""
                };
                panic!("libvirtd exited ({status}) before listening on {port}:\n{log}{hint}");
            }
            assert!(
                Instant::now() < deadline,
                "libvirtd did not listen on {port} in 30 s:\n{}",
                self.printed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 30 s) for the daemon to exit on its own; its exit status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "libvirtd kept running:\n{}",
                self.printed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the daemon: SIGTERM to its group, then SIGKILL after 10 s; reaped.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.lifeline.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.lifeline.signal("KILL");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `virsh -c qemu+tls://localhost:PORT/system?pkipath=DIR uri`: success and what it printed.
fn virsh_uri(port: u16, pkipath: &Path) -> (bool, String, String) {
    let uri = format!("qemu+tls://localhost:{port}/system?pkipath={}", s(pkipath));
    let o = Command::new(VIRSH)
        .args(["-c", &uri, "uri"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "$ virsh -c '{uri}' uri\n  exit {:?}\n{}",
        o.status.code(),
        text.trim_end()
    );
    (o.status.success(), text, uri)
}

/// A virsh pkipath directory: `cacert` (the trusted roots), and the layout's client
/// certificate and key.
fn client_dir(at: &Path, cacert: &str, layout: &Path) -> PathBuf {
    std::fs::create_dir_all(at).unwrap();
    std::fs::write(at.join("cacert.pem"), cacert).unwrap();
    std::fs::copy(
        layout.join("libvirt/clientcert.pem"),
        at.join("clientcert.pem"),
    )
    .unwrap();
    std::fs::copy(
        layout.join("libvirt/private/clientkey.pem"),
        at.join("clientkey.pem"),
    )
    .unwrap();
    at.to_owned()
}

/// A home with a certificate `kvm/ALIAS` for localhost and 127.0.0.1 (machine-ssl: serverAuth
/// and clientAuth), exported as a libvirt layout at `out`, or the refusal.
fn issue_and_export(env: &Env, alias: &str, key_algo: &str, out: &Path) -> common::Run {
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "machine-ssl",
        "--store",
        "kvm",
        "--alias",
        alias,
        "--cn",
        "localhost",
        "--san",
        "localhost",
        "--san",
        "127.0.0.1",
        "--key-algo",
        key_algo,
    ]);
    let r = env.run(&[
        "cert",
        "export",
        &format!("kvm/{alias}"),
        "--layout",
        "libvirt",
        "--out",
        s(out),
    ]);
    eprintln!(
        "$ certherd cert export kvm/{alias} --layout libvirt --out {}\n  exit {}\n{}{}",
        out.display(),
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

#[test]
#[ignore = "needs libvirtd (Debian libvirt-daemon); .ci/run installs it"]
fn libvirtd_serves_the_libvirt_layout_to_virsh_over_tls() {
    if let Some(why) = missing() {
        assert!(!in_ci(), "under CI this test must run: {why}");
        eprintln!("skipped: {why}");
        return;
    }
    assert!(
        !libvirtd_running(),
        "a libvirtd is already running; libvirt's driver locks under /run/libvirt allow one per machine: stop it first"
    );

    let env = Env::new();
    env.init();
    let pki = env.path("pki");
    let r = issue_and_export(&env, "host", "rsa-2048", &pki);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The root of certherd's CA; the server certificate is the leaf alone.
    assert_eq!(
        std::fs::read_to_string(pki.join("CA/cacert.pem")).unwrap(),
        env.ok(&["ca", "export"])
    );

    // Another home, another CA, the same names.
    let other = Env::new();
    other.init();
    let other_pki = other.path("pki");
    let r = issue_and_export(&other, "host", "rsa-2048", &other_pki);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The ECDSA refusal, with the reason, and nothing written.
    let ec_pki = env.path("pki-ec");
    let r = issue_and_export(&env, "ec", "ecdsa-p256", &ec_pki);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("libvirt requires keyEncipherment, which an ECDSA key cannot carry; issue the certificate with an RSA key (`--key-algo rsa-2048`)"),
        "{}",
        r.stderr
    );
    assert!(!ec_pki.exists(), "nothing written");

    // Unix socket paths are limited to 108 bytes: the daemon's directory is short.
    let run = tempfile::Builder::new()
        .prefix("lv")
        .tempdir_in("/tmp")
        .unwrap();
    let root = std::fs::read_to_string(pki.join("CA/cacert.pem")).unwrap();
    let other_root = std::fs::read_to_string(other_pki.join("CA/cacert.pem")).unwrap();
    let good = client_dir(&env.path("client"), &root, &pki);
    // Trusts only the other CA: the client refuses the server.
    let foreign = client_dir(&env.path("foreign"), &other_root, &other_pki);
    // Trusts both CAs, presents the other CA's client certificate: the server refuses it.
    let mixed = client_dir(
        &env.path("mixed"),
        &format!("{root}{other_root}"),
        &other_pki,
    );

    let port = common::free_port();
    let mut daemon = Libvirtd::start(run.path(), &pki, port, "libvirtd");
    daemon.wait_listening(port);

    let (ok, text, uri) = virsh_uri(port, &good);
    assert!(ok, "virsh with the layout's client certificate: {text}");
    assert_eq!(text.trim(), uri, "virsh prints the URI it is connected to");

    let (ok, text, _) = virsh_uri(port, &foreign);
    assert!(!ok, "a client trusting another CA must fail: {text}");
    assert!(
        text.contains("Failed to verify peer's certificate"),
        "{text}"
    );

    let refusals = |log: &str| log.matches("Failed to verify peer's certificate").count();
    let before = refusals(&daemon.printed());
    let (ok, text, _) = virsh_uri(port, &mixed);
    assert!(
        !ok,
        "a client certificate of another CA must be refused by libvirtd: {text}"
    );
    // The refusal is libvirtd's: its log gains a line (written as it refuses; the
    // daemon's stderr is unbuffered, so a short wait suffices).
    let deadline = Instant::now() + Duration::from_secs(5);
    while refusals(&daemon.printed()) == before {
        assert!(
            Instant::now() < deadline,
            "libvirtd did not log refusing the other CA's client certificate:\n{}",
            daemon.printed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Still serving the right client after the refusals.
    let (ok, text, _) = virsh_uri(port, &good);
    assert!(ok, "{text}");

    daemon.stop();
    let printed = daemon.printed();
    eprintln!("libvirtd printed:\n{printed}");
    assert!(
        printed.contains("The certificate hasn't got a known issuer"),
        "libvirtd says why: {printed}"
    );

    // Why the layout refuses ECDSA: libvirtd itself refuses such a certificate at start.
    // The layout would not write it, so the files are laid out by hand here.
    let ec_dir = env.path("ec-by-hand");
    std::fs::create_dir_all(ec_dir.join("CA")).unwrap();
    std::fs::create_dir_all(ec_dir.join("libvirt/private")).unwrap();
    std::fs::write(ec_dir.join("CA/cacert.pem"), &root).unwrap();
    std::fs::write(
        ec_dir.join("libvirt/servercert.pem"),
        env.ok(&["cert", "export", "kvm/ec"]),
    )
    .unwrap();
    std::fs::write(
        ec_dir.join("libvirt/private/serverkey.pem"),
        env.ok(&["cert", "export", "kvm/ec", "--key-only"]),
    )
    .unwrap();
    let ec_port = common::free_port();
    let mut ec_daemon = Libvirtd::start(run.path(), &ec_dir, ec_port, "libvirtd-ec");
    let status = ec_daemon.wait_exit();
    let printed = ec_daemon.printed();
    eprintln!("libvirtd with an ECDSA certificate: {status}\n{printed}");
    assert!(!status.success());
    assert!(
        printed.contains("usage does not permit key encipherment"),
        "{printed}"
    );
    drop(ec_daemon);
    drop(daemon);

    assert!(!libvirtd_running(), "no libvirtd left running");
}
