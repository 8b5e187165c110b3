//! Helpers shared by the CLI tests: run the real binary against a temporary home.
#![allow(
    dead_code,
    missing_docs,
    clippy::new_without_default,
    clippy::unwrap_used
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};

pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_certherd"));
        c.arg("--home")
            .arg(self.home())
            .args(args)
            .env_remove("CERTHERD_FAULT_POINT")
            .current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        finish(self.cmd(args).output().unwrap())
    }

    /// Runs and insists on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "certherd {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    pub fn init(&self) {
        self.ok(&[
            "init",
            "--hostname",
            "node1.example.test",
            "--ip",
            "192.0.2.10",
        ]);
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Runs a scan, which exits as `check` does (0 ok, 1 warning, 2 critical), and insists
    /// that it ran: stdout.
    pub fn scan_ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            (0..=2).contains(&r.code),
            "certherd {args:?} failed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// [`Self::scan_ok`], parsed as JSON.
    pub fn scan_json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.scan_ok(args)).unwrap()
    }

    /// A digest of the home's logical content (keys, entries, trust, stores, audit log), to
    /// prove a refused command changed nothing. Raw SQLite bytes are not compared: a WAL
    /// checkpoint rewrites the file without changing its content.
    pub fn snapshot(&self) -> String {
        let mut all = std::fs::read(self.home().join("master.key")).unwrap_or_default();
        for args in [
            ["cert", "list"],
            ["trust", "list"],
            ["store", "list"],
            ["audit", "--output"],
        ] {
            let mut a: Vec<&str> = args.to_vec();
            if a[1] != "--output" {
                a.push("--output");
            }
            a.push("json");
            all.extend(self.ok(&a).into_bytes());
        }
        certherd_x509::hex(&certherd_x509::sha256(&all))
    }
}

pub fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// An "enterprise CA" made by code in this repository, standing in for the CA an admin's
/// organisation runs.
pub struct EnterpriseCa {
    pub cert: Vec<u8>,
    pub key: PrivateKey,
}

fn spec(cn: &str, role: Role, days: i64) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: cn.into(),
        organization: Some("Example Corp".into()),
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now - time::Duration::hours(1),
        not_after: now + time::Duration::days(days),
        role,
        eku: vec![],
    }
}

impl EnterpriseCa {
    pub fn new() -> Self {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = certherd_x509::self_sign(
            &spec("Example Corp Root", Role::Ca { path_len: None }, 3650),
            &key,
        )
        .unwrap()
        .to_vec();
        Self { cert, key }
    }

    pub fn pem(&self) -> String {
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &self.cert)
    }

    /// Signs the CSR in `csr_pem` for `names`, with the EKUs given, as a leaf or a CA.
    pub fn sign(
        &self,
        csr_pem: &[u8],
        names: &[&str],
        eku: Vec<Eku>,
        role: Role,
        days: i64,
    ) -> String {
        let der = certherd_x509::parse_signing_request(csr_pem).unwrap();
        let info = certherd_x509::CsrInfo::from_der(&der).unwrap();
        assert!(info.signature_valid);
        let mut s = spec(info.subject_cn.as_deref().unwrap_or("x"), role, days)
            .with_names(names.iter().copied())
            .unwrap();
        s.organization = None;
        s.eku = eku;
        let cert = certherd_x509::issue(
            &s,
            &info.spki_der,
            &certherd_x509::Issuer {
                cert: &self.cert,
                key: &self.key,
            },
        )
        .unwrap();
        certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, &cert)
    }
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A child process that is killed and reaped when the guard drops, however the test ends
/// (a failed assertion unwinds through it).
pub struct Killed(Option<std::process::Child>);

impl Killed {
    /// Guards `child`.
    pub fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    /// The process.
    pub fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("guarded child")
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }

    /// Kills and reaps it now.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for it to exit on its own and collects its output (the guard is spent).
    pub fn wait_with_output(mut self) -> Output {
        self.0
            .take()
            .expect("guarded child")
            .wait_with_output()
            .unwrap()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A 127.0.0.1 port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `certherd server` on `addr` for `env`'s home (alarms evaluated hourly), guarded, once it
/// accepts connections.
pub fn start_server(env: &Env, addr: &str) -> Killed {
    let child = Killed::new(
        env.cmd(&["server", "--listen", addr, "--evaluate-every", "1h"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not listen on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// certherd on another home (a host's), as CI runs it: `CI=true`, no stdin, and no
/// master key from the environment.
pub fn cmd_at(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certherd"));
    c.arg("--home")
        .arg(home)
        .args(args)
        .env("CI", "true")
        .env_remove("CERTHERD_MASTER_KEY_FILE")
        .stdin(std::process::Stdio::null());
    c
}

/// [`cmd_at`], run to the end.
pub fn run_at(home: &Path, args: &[&str]) -> Run {
    finish(cmd_at(home, args).output().unwrap())
}

/// One HTTP request over TLS to `addr` (the server's certificate recorded, not checked);
/// everything the server answered.
pub fn raw(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let verifier = std::sync::Arc::new(certherd_tls::RecordingVerifier::default());
    let mut s = certherd_tls::connect(
        &certherd_tls::Endpoint {
            address: addr.into(),
            proxy: None,
            timeout: std::time::Duration::from_secs(5),
            server_name: None,
            starttls: None,
        },
        verifier,
        None,
    )
    .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A CA and a CRL it signed, as PEM, made with rcgen.
pub fn ca_and_crl(cn: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).unwrap();
    let issuer = rcgen::Issuer::new(params, key);
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap();
    (cert.pem(), crl.pem().unwrap())
}
