//! `cert export --layout libvirt|qemu`, `--key-only` and `--with-root`, through the real
//! binary; and the QEMU layout fed to Debian's qemu-nbd and qemu-img (qemu-utils, which
//! `.ci/run` installs) over NBD with TLS and verify-peer=on.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Killed};

/// A home with an RSA machine-ssl-profile certificate `kvm/host` for localhost and
/// 127.0.0.1, and an ECDSA one `kvm/ec`.
fn home() -> Env {
    let env = Env::new();
    env.init();
    issue(&env, "host", Some("rsa-2048"));
    issue(&env, "ec", None);
    env
}

fn issue(env: &Env, alias: &str, key_algo: Option<&str>) {
    let mut args = vec![
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
    ];
    if let Some(k) = key_algo {
        args.extend(["--key-algo", k]);
    }
    env.ok(&args);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `dir`, with its content (or `<dir>`) and mode.
fn tree(dir: &Path) -> BTreeMap<String, (String, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(rel, ("<dir>".into(), mode(&p)));
                stack.push(p);
            } else {
                out.insert(rel, (std::fs::read_to_string(&p).unwrap(), mode(&p)));
            }
        }
    }
    out
}

fn pem_count(s: &str) -> usize {
    s.matches("-----BEGIN CERTIFICATE-----").count()
}

#[test]
fn libvirt_layout_is_the_pki_tree_with_modes_and_no_root_in_the_chain() {
    let env = home();
    let dir = env.path("pki");
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = tree(&dir);
    let names: Vec<_> = t.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "CA",
            "CA/cacert.pem",
            "libvirt",
            "libvirt/clientcert.pem",
            "libvirt/private",
            "libvirt/private/clientkey.pem",
            "libvirt/private/serverkey.pem",
            "libvirt/servercert.pem",
        ]
    );
    assert_eq!(t["libvirt/private"].1, 0o700);
    assert_eq!(t["libvirt/private/serverkey.pem"].1, 0o600);
    assert_eq!(t["libvirt/private/clientkey.pem"].1, 0o600);
    assert_eq!(t["libvirt/servercert.pem"].1, 0o644);
    assert_eq!(t["CA/cacert.pem"].1, 0o644);
    let root = env.ok(&["ca", "export"]);
    assert_eq!(t["CA/cacert.pem"].0, root, "the trusted roots");
    let cert = env.ok(&["cert", "export", "kvm/host"]);
    assert_eq!(t["libvirt/servercert.pem"].0, cert);
    assert_eq!(t["libvirt/clientcert.pem"].0, cert);
    assert_eq!(pem_count(&cert), 1, "leaf only: the CA is the root");
    assert!(!cert.contains(root.trim()), "never the root");
    let key = env.ok(&["cert", "export", "kvm/host", "--key-only"]);
    assert_eq!(t["libvirt/private/serverkey.pem"].0, key);
    assert_eq!(t["libvirt/private/clientkey.pem"].0, key);
    assert!(
        r.stderr.contains("libvirt/private/serverkey.pem (0600)"),
        "{}",
        r.stderr
    );

    let audit = env.ok(&["audit"]);
    assert!(audit.contains("layout libvirt in"), "{audit}");

    // A second export after a renewal replaces the files in place.
    env.ok(&["cert", "renew", "kvm/host"]);
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    let after = tree(&dir);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        t.keys().collect::<Vec<_>>(),
        "no leftovers"
    );
    assert_ne!(after["libvirt/servercert.pem"], t["libvirt/servercert.pem"]);
    assert_eq!(after["libvirt/private/serverkey.pem"].1, 0o600);
}

#[test]
fn qemu_layout_has_the_five_files() {
    let env = home();
    let dir = env.path("qemu");
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--out",
        s(&dir),
    ]);
    let t = tree(&dir);
    let got: Vec<_> = t.iter().map(|(k, v)| (k.as_str(), v.1)).collect();
    assert_eq!(
        got,
        [
            ("ca-cert.pem", 0o644),
            ("client-cert.pem", 0o644),
            ("client-key.pem", 0o600),
            ("server-cert.pem", 0o644),
            ("server-key.pem", 0o600),
        ]
    );
    assert_eq!(t["ca-cert.pem"].0, env.ok(&["ca", "export"]));
    assert_eq!(pem_count(&t["server-cert.pem"].0), 1);
}

#[test]
fn ecdsa_is_refused_for_libvirt_and_qemu_with_the_reason_and_nothing_written() {
    let env = home();
    let dir = env.path("pki");
    let r = env.run(&[
        "cert",
        "export",
        "kvm/ec",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("libvirt requires keyEncipherment, which an ECDSA key cannot carry; the certificate needs an RSA key"),
        "{}",
        r.stderr
    );
    // The hint names a command that works on the existing entry.
    assert!(
        r.stderr.contains(
            "hint: `certherd cert renew kvm/ec --key-algo rsa-2048` renews it with an RSA key"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.exists(), "nothing written");
    // An existing layout stays as it was.
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    let before = tree(&dir);
    let r = env.run(&[
        "cert",
        "export",
        "kvm/ec",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    assert_ne!(r.code, 0);
    assert_eq!(tree(&dir), before);
    // QEMU before 10.0.7 (and Debian 12's 7.2 before +deb12u18) refuses it too (keyUsage
    // is critical), newer QEMU does not: the verdict follows the qemu-img on PATH, here a
    // stand-in printing each version (the real one is checked against qemu-nbd below).
    let fake = FakeQemuImg::new(&env);
    let q = env.path("q");
    let (code, err) = fake.export(
        &env,
        "kvm/ec",
        &q,
        Some("qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("QEMU 10.0.2 (qemu-img here, Debian 1:10.0.2+ds-2+deb13u1~bpo12+1) requires keyEncipherment, which an ECDSA key cannot carry; the certificate needs an RSA key; QEMU 10.0.7, 10.1.3, 10.2.0 and later"),
        "{err}"
    );
    assert!(!q.exists(), "nothing written");
    let (code, err) = fake.export(&env, "kvm/ec", &q, None);
    assert_ne!(code, 0);
    assert!(
        err.contains("QEMU (version unknown: no qemu-img found here; taken as before 10.0.7) requires keyEncipherment"),
        "{err}"
    );
    assert!(!q.exists(), "nothing written");
    let (code, err) = fake.export(
        &env,
        "kvm/ec",
        &q,
        Some("qemu-img version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18+b2)"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(tree(&q).len(), 5, "{:?}", tree(&q).keys());
    let (code, err) = fake.export(
        &env,
        "kvm/ec",
        &env.path("q10"),
        Some("qemu-img version 10.2.0"),
    );
    assert_eq!(code, 0, "{err}");
}

/// A stand-in `qemu-img` alone on `PATH`, printing what `CERTHERD_TEST_QEMU_IMG_SAYS`
/// holds: written once, before any run (an executable being written cannot be run).
struct FakeQemuImg {
    bin: PathBuf,
    empty: PathBuf,
}

impl FakeQemuImg {
    fn new(env: &Env) -> Self {
        let bin = env.path("fake-bin");
        let empty = env.path("empty-bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::create_dir(&empty).unwrap();
        let script = bin.join("qemu-img");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '%s\\n' \"$CERTHERD_TEST_QEMU_IMG_SAYS\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { bin, empty }
    }

    /// `cert export ENTRY --layout qemu --out DIR` with a `qemu-img` that prints
    /// `version` (`None`: no `qemu-img` at all): the exit code and stderr.
    fn export(&self, env: &Env, entry: &str, dir: &Path, version: Option<&str>) -> (i32, String) {
        let mut c = env.cmd(&["cert", "export", entry, "--layout", "qemu", "--out", s(dir)]);
        match version {
            Some(v) => c
                .env("PATH", &self.bin)
                .env("CERTHERD_TEST_QEMU_IMG_SAYS", v),
            None => c.env("PATH", &self.empty),
        };
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

#[test]
fn a_certificate_without_server_and_client_auth_is_refused() {
    let env = home();
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "service",
        "--store",
        "svc",
        "--alias",
        "s",
        "--key-algo",
        "rsa-2048",
    ]);
    let dir = env.path("q");
    let r = env.run(&[
        "cert",
        "export",
        "svc/s",
        "--layout",
        "qemu",
        "--out",
        s(&dir),
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("must include serverAuth and clientAuth; it has: clientAuth"),
        "{}",
        r.stderr
    );
    assert!(!dir.exists());
}

#[test]
fn a_dir_that_is_a_file_or_cannot_be_written_gets_a_clear_error_and_nothing_written() {
    let env = home();
    let file = env.write("pki", "not a directory\n");
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&file),
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("is a regular file, not a directory"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory\n");
    // sysfs refuses new entries even to root: one line naming the path, nothing written.
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--out",
        "/sys/kernel",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("cannot write /sys/kernel/ca-cert.pem")
            && r.stderr.contains("nothing was replaced"),
        "{}",
        r.stderr
    );
    assert!(!Path::new("/sys/kernel/ca-cert.pem").exists());
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        "/sys/certherd-test",
    ]);
    assert!(
        r.stderr
            .contains("cannot create directory /sys/certherd-test"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_target_in_the_way_keeps_the_previous_layout_whole() {
    let env = home();
    let dir = env.path("pki");
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    let key = dir.join("libvirt/private/clientkey.pem");
    std::fs::remove_file(&key).unwrap();
    std::fs::create_dir(&key).unwrap();
    let before = tree(&dir);
    // After a renewal every file would change; the last one cannot be replaced.
    env.ok(&["cert", "renew", "kvm/host"]);
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("clientkey.pem: is a directory where the layout needs a regular file"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(&dir), before, "old certificate files, no temporaries");
}

#[test]
fn key_only_is_the_key_alone_and_0600() {
    let env = home();
    let out = env.ok(&["cert", "export", "kvm/host", "--key-only"]);
    assert!(
        out.starts_with("-----BEGIN PRIVATE KEY-----")
            || out.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{out}"
    );
    assert_eq!(pem_count(&out), 0);
    assert_eq!(out.matches("-----BEGIN").count(), 1);
    let with_key = env.ok(&["cert", "export", "kvm/host", "--key"]);
    assert!(with_key.ends_with(&out), "the same key as --key");
    let f = env.path("k.pem");
    env.ok(&["cert", "export", "kvm/host", "--key-only", "--out", s(&f)]);
    assert_eq!(mode(&f), 0o600);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), out);
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--key-only",
        "--format",
        "der",
    ]);
    assert!(
        r.stderr.contains("--key-only writes the key as PEM"),
        "{}",
        r.stderr
    );
    let r = env.run(&["cert", "export", "kvm/host", "--key-only", "--key"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Recorded like any key export.
    let audit = env.ok(&["audit"]);
    assert!(audit.contains("key only"), "{audit}");
}

#[test]
fn the_root_is_in_a_chain_only_with_with_root() {
    let env = home();
    let root = env.ok(&["ca", "export"]);
    let plain = env.ok(&["cert", "export", "kvm/host"]);
    assert_eq!(pem_count(&plain), 1);
    let full = env.ok(&["cert", "export", "kvm/host", "--with-root"]);
    assert_eq!(pem_count(&full), 2);
    assert_eq!(full, format!("{plain}{root}"));
    let with_key = env.ok(&["cert", "export", "kvm/host", "--key"]);
    assert_eq!(pem_count(&with_key), 1);
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--format",
        "der",
        "--with-root",
    ]);
    assert!(r.stderr.contains("--with-root applies to"), "{}", r.stderr);
    let r = env.run(&["cert", "export", "kvm/host", "--key-only", "--with-root"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = env.run(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--with-root",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

// ---- the real programs -------------------------------------------------------------

fn program(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install Debian's qemu-utils (`.ci/run` does)");
}

/// `qemu-img info` over NBD with TLS, with the client credentials in `dir`.
fn qemu_img_info(port: u16, dir: &Path) -> (bool, String) {
    let o = Command::new(program("qemu-img"))
        .arg("info")
        .arg("--image-opts")
        .arg(format!(
            "driver=nbd,host=127.0.0.1,port={port},tls-creds=tls0"
        ))
        .arg("--object")
        .arg(format!(
            "tls-creds-x509,id=tls0,dir={},endpoint=client",
            dir.display()
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "qemu-img info (client {}): exit {:?}\n{text}",
        dir.display(),
        o.status.code()
    );
    (o.status.success(), text)
}

/// A 16 MiB qcow2 image made by `qemu-img create` in `env`'s directory.
fn disk_image(env: &Env) -> PathBuf {
    let img = env.path("disk.qcow2");
    let o = Command::new(program("qemu-img"))
        .args(["create", "-f", "qcow2"])
        .arg(&img)
        .arg("16M")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    img
}

/// qemu-nbd serving `img` with the server credentials in `dir`, verify-peer=on.
fn qemu_nbd(dir: &Path, img: &Path, port: u16) -> Killed {
    Killed::new(
        Command::new(program("qemu-nbd"))
            .arg("--object")
            .arg(format!(
                "tls-creds-x509,id=tls0,dir={},endpoint=server,verify-peer=on",
                dir.display()
            ))
            .args(["--tls-creds", "tls0", "-b", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-t", "-f", "qcow2"])
            .arg(img)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn wait_listening(server: &mut Killed, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = server.child().try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = server.child().stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).unwrap();
            }
            panic!("qemu-nbd exited ({status}) before listening:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "qemu-nbd did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn qemu_nbd_serves_the_qemu_layout_and_verifies_the_peer() {
    let env = home();
    // A second certificate of the same CA for the client.
    env.ok(&[
        "cert",
        "issue",
        "--profile",
        "machine-ssl",
        "--store",
        "kvm",
        "--alias",
        "client",
        "--cn",
        "client.example.test",
        "--san",
        "client.example.test",
        "--key-algo",
        "rsa-2048",
    ]);
    let server_dir = env.path("server");
    let client_dir = env.path("client");
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--out",
        s(&server_dir),
    ]);
    env.ok(&[
        "cert",
        "export",
        "kvm/client",
        "--layout",
        "qemu",
        "--out",
        s(&client_dir),
    ]);
    // Another home, another CA.
    let other = Env::new();
    other.init();
    issue(&other, "host", Some("rsa-2048"));
    let other_dir = env.path("other");
    other.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--out",
        s(&other_dir),
    ]);
    // Trusts both CAs (so QEMU's own check of its client certificate passes and the
    // server certificate verifies), but presents a client certificate of the other CA:
    // the server's verify-peer=on must refuse it.
    let mixed_dir = env.path("mixed");
    std::fs::create_dir(&mixed_dir).unwrap();
    let both = format!(
        "{}{}",
        std::fs::read_to_string(server_dir.join("ca-cert.pem")).unwrap(),
        std::fs::read_to_string(other_dir.join("ca-cert.pem")).unwrap()
    );
    std::fs::write(mixed_dir.join("ca-cert.pem"), both).unwrap();
    for f in ["client-cert.pem", "client-key.pem"] {
        std::fs::copy(other_dir.join(f), mixed_dir.join(f)).unwrap();
    }

    let img = disk_image(&env);

    let port = common::free_port();
    let mut server = qemu_nbd(&server_dir, &img, port);
    wait_listening(&mut server, port);

    let (ok, text) = qemu_img_info(port, &client_dir);
    assert!(ok, "same CA: {text}");
    assert!(text.contains("virtual size: 16 MiB"), "{text}");
    let (ok, text) = qemu_img_info(port, &other_dir);
    assert!(!ok, "another CA must fail: {text}");
    let (ok, text) = qemu_img_info(port, &mixed_dir);
    assert!(
        !ok,
        "a client certificate of another CA must fail (verify-peer=on): {text}"
    );
    // Still serving the right client after the refusals.
    let (ok, text) = qemu_img_info(port, &client_dir);
    assert!(ok, "{text}");

    server.child().kill().unwrap();
    let out = server.wait_with_output();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // How the refusals are logged differs by QEMU version; they are asserted above by
    // the clients' failures (the mixed client trusts the server, so only the server's
    // verify-peer=on can have refused it).
    eprintln!(
        "{}: qemu-nbd printed ({} \"option negotiation failed\"):\n{printed}",
        qemu_img_version(),
        printed.matches("option negotiation failed").count()
    );
}

/// The first line of `qemu-img --version` of the installed QEMU.
fn qemu_img_version() -> String {
    let o = Command::new(program("qemu-img"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// An ECDSA certificate (critical keyUsage digitalSignature only) in a QEMU directory:
/// the installed QEMU refuses it before 10.0.7 (and Debian 12's 7.2 before +deb12u18) and
/// accepts it from then on. certherd's qemu layout accepts it exactly when qemu-nbd does.
#[test]
fn the_qemu_layout_accepts_an_ecdsa_certificate_exactly_when_qemu_does() {
    let version = qemu_img_version();
    eprintln!("installed: {version}");
    let env = home();
    let dir = env.path("ec");
    std::fs::create_dir(&dir).unwrap();
    let cert = env.ok(&["cert", "export", "kvm/ec"]);
    let key = env.ok(&["cert", "export", "kvm/ec", "--key-only"]);
    std::fs::write(dir.join("ca-cert.pem"), env.ok(&["ca", "export"])).unwrap();
    for (c, k) in [
        ("server-cert.pem", "server-key.pem"),
        ("client-cert.pem", "client-key.pem"),
    ] {
        std::fs::write(dir.join(c), &cert).unwrap();
        std::fs::write(dir.join(k), &key).unwrap();
    }
    let img = disk_image(&env);
    let port = common::free_port();
    let mut server = qemu_nbd(&dir, &img, port);
    // qemu-nbd checks its credentials at start: it exits, or it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listening = loop {
        if server.child().try_wait().unwrap().is_some() {
            break false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        assert!(
            Instant::now() < deadline,
            "qemu-nbd neither listened on {port} nor exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Accepted: it serves a client that presents the same certificate.
    let qemu_accepts = listening && qemu_img_info(port, &dir).0;
    if !listening {
        let out = server.wait_with_output();
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("qemu-nbd printed:\n{err}");
        assert!(!out.status.success());
        assert!(
            err.contains("usage does not permit key encipherment"),
            "qemu-nbd refused for another reason: {err}"
        );
    }
    eprintln!(
        "{version}: qemu-nbd {} the ECDSA certificate",
        if qemu_accepts { "accepts" } else { "refuses" }
    );

    // certherd, finding the same qemu-img on PATH, gives the same verdict.
    let q = env.path("q");
    let r = env.run(&[
        "cert",
        "export",
        "kvm/ec",
        "--layout",
        "qemu",
        "--out",
        s(&q),
    ]);
    eprintln!("certherd: exit {}\n{}", r.code, r.stderr);
    assert_eq!(
        r.code == 0,
        qemu_accepts,
        "{version}: certherd and qemu-nbd disagree: {}",
        r.stderr
    );
    if qemu_accepts {
        assert_eq!(tree(&q).len(), 5, "{:?}", tree(&q).keys());
    } else {
        assert!(!q.exists(), "nothing written");
        let upstream = version.split_whitespace().nth(2).unwrap();
        assert!(
            r.stderr
                .contains(&format!("QEMU {upstream} (qemu-img here"))
                && r.stderr
                    .contains("requires keyEncipherment, which an ECDSA key cannot carry"),
            "{}",
            r.stderr
        );
    }
}

/// A CA that is an intermediate (subordinate mode): libvirt and QEMU check their own
/// certificate against the CA file alone, so the layout puts the intermediate there too;
/// qemu-nbd then starts, and serves a client of the same layout.
#[test]
fn a_layout_under_an_intermediate_ca_is_accepted_by_qemu() {
    use certherd_x509::Role;
    let env = Env::new();
    env.ok(&[
        "init",
        "--hostname",
        "node2.example.test",
        "--mode",
        "subordinate",
    ]);
    let ent = common::EnterpriseCa::new();
    let csr = std::fs::read(env.home().join("ca.csr")).unwrap();
    let sub = env.write(
        "sub.pem",
        ent.sign(&csr, &[], vec![], Role::Ca { path_len: Some(0) }, 1825),
    );
    let root = env.write("root.pem", ent.pem());
    env.ok(&["ca", "import-signed", s(&sub), "--chain", s(&root)]);
    issue(&env, "host", Some("rsa-2048"));
    let dir = env.path("q");
    env.ok(&[
        "cert",
        "export",
        "kvm/host",
        "--layout",
        "qemu",
        "--out",
        s(&dir),
    ]);
    let ca = std::fs::read_to_string(dir.join("ca-cert.pem")).unwrap();
    let cert = std::fs::read_to_string(dir.join("server-cert.pem")).unwrap();
    assert_eq!(pem_count(&ca), 2, "the root, then the intermediate: {ca}");
    assert!(ca.starts_with(&ent.pem()), "{ca}");
    assert_eq!(pem_count(&cert), 2, "the leaf and the intermediate: {cert}");
    assert!(!cert.contains(&ent.pem()), "never the root");

    let img = disk_image(&env);
    let port = common::free_port();
    let mut server = qemu_nbd(&dir, &img, port);
    wait_listening(&mut server, port);
    let (ok, text) = qemu_img_info(port, &dir);
    assert!(ok, "{text}");
}

/// What libvirt and QEMU accept, the layout accepts: a certificate without an
/// extendedKeyUsage (any purpose), and one whose keyUsage is not critical and lacks
/// keyEncipherment (they only warn). Made with openssl, signed by a root the home trusts.
#[test]
fn what_the_daemons_accept_the_layout_accepts() {
    let env = Env::new();
    env.init();
    let sh = |script: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(env.path(""))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
        -subj /CN=Other-Root -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
    );
    env.ok(&["trust", "add", s(&env.path("root.pem"))]);
    for (name, ext) in [
        (
            "noeku",
            "keyUsage=critical,digitalSignature,keyEncipherment",
        ),
        (
            "softku",
            "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth",
        ),
    ] {
        std::fs::write(
            env.path(&format!("{name}.ext")),
            format!("subjectAltName=DNS:node1.example.test\n{ext}\n"),
        )
        .unwrap();
        sh(&format!(
            "openssl req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr \
             -subj /CN=node1.example.test 2>/dev/null && \
             openssl x509 -req -in {name}.csr -CA root.pem -CAkey root.key -CAcreateserial \
             -days 20 -extfile {name}.ext -out {name}.pem 2>/dev/null"
        ));
        env.ok(&[
            "cert",
            "import",
            &format!("kvm/{name}"),
            "--profile",
            "host",
            "--cert",
            s(&env.path(&format!("{name}.pem"))),
            "--key",
            s(&env.path(&format!("{name}.key"))),
        ]);
        let dir = env.path(&format!("{name}-q"));
        let r = env.run(&[
            "cert",
            "export",
            &format!("kvm/{name}"),
            "--layout",
            "qemu",
            "--out",
            s(&dir),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
}

/// The newcomer's path: an ECDSA certificate refused by the libvirt layout names a
/// command in its hint, and that command, run as it reads, gives the existing entry an
/// RSA key (the old one kept in backup) that the layout then takes.
#[test]
fn the_refusals_hint_is_a_command_that_works() {
    let env = home();
    let dir = env.path("pki");
    let export = [
        "cert",
        "export",
        "kvm/ec",
        "--layout",
        "libvirt",
        "--out",
        s(&dir),
    ];
    let r = env.run(&export);
    assert_ne!(r.code, 0);
    let hint = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: `certherd "))
        .unwrap_or_else(|| panic!("no hint naming a command: {}", r.stderr));
    let command = hint.split('`').next().unwrap();
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args, ["cert", "renew", "kvm/ec", "--key-algo", "rsa-2048"]);
    let renewed = env.run(&args);
    assert_eq!(renewed.code, 0, "{}", renewed.stderr);
    assert!(
        renewed.stdout.starts_with("renewed kvm/ec  serial "),
        "{}",
        renewed.stdout
    );
    env.ok(&export);
    assert!(dir.join("libvirt/private/serverkey.pem").exists());
    let backups = env.json(&["cert", "list", "--store", "backup", "--output", "json"]);
    assert_eq!(backups.as_array().unwrap().len(), 1, "{backups}");
}

/// `cert issue` says when the key will not fit a layout: a `host` certificate with an
/// ECDSA key names libvirt (no layout configured), an RSA one nothing; with a
/// `[[agent.targets]]` layout configured, only the entries it takes, naming it.
#[test]
fn issue_warns_when_the_key_will_not_fit_the_layouts() {
    let env = Env::new();
    env.init();
    let issue = |profile: &str, alias: &str, algo: Option<&str>| {
        let mut args = vec![
            "cert",
            "issue",
            "--profile",
            profile,
            "--store",
            "kvm",
            "--alias",
            alias,
        ];
        if let Some(a) = algo {
            args.extend(["--key-algo", a]);
        }
        let r = env.run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stderr
    };
    let err = issue("host", "ec", None);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: for a KVM host: a libvirt layout refuses this certificate")
            && err.contains("an ECDSA key cannot carry")
            && err.contains("--key-algo rsa-2048"),
        "{err}"
    );
    assert!(issue("host", "ed", Some("ed25519")).contains("an Ed25519 key"));
    assert_eq!(issue("host", "rsa", Some("rsa-2048")), "");
    assert_eq!(issue("service", "svc", None), "");
    let toml = env.home().join("certherd.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap_or_default();
    text.push_str("\n[[agent.targets]]\nlayout = \"qemu\"\nentry = \"kvm/vnc\"\n");
    std::fs::write(&toml, text).unwrap();
    let err = issue("machine-ssl", "vnc", None);
    assert!(
        err.starts_with("warning: the qemu layout configured in [[agent.targets]] will refuse this certificate: QEMU before 10.0.7"),
        "{err}"
    );
    // A layout is configured, and it does not take this host certificate.
    assert_eq!(issue("host", "other", None), "");
}
