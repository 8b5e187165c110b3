//! Fleet scale, printed rather than asserted. In one run, the same fleet twice:
//!
//! - SQLite: one real `certherd server` process on the home's certherd.db;
//! - PostgreSQL: two `certherd server` processes (127.0.0.2 and 127.0.0.3) on one database
//!   of a temporary cluster, the second holding only certherd.toml and a copy of the
//!   master key, as the README's HA section sets them up.
//!
//! For N hosts: enrolment (the server's rule on the home, as `host add` does it), then
//! simulated agents in this process (threads speaking the agent protocol through
//! certherd-protocol's types, no sleeping between requests) join and renew once each;
//! with two servers, host i talks to server i mod 2, so both issue. Prints one table:
//! times, renewals per second, each server's peak RSS and the database's size, then the
//! PostgreSQL pair's time against SQLite's with the target said met or not (never
//! asserted).
//!
//! `cargo bench -p certherd-cli --bench fleet`: 10,000 hosts (release build).
//! CERTHERD_BENCH_QUICK=1: 200 hosts; CERTHERD_BENCH_HOSTS=N: N hosts. Targets (2 cores, 10,000 hosts): SQLite under
//! 5 minutes with server RSS under 200 MB; the PostgreSQL pair within 2x of SQLite's time
//! and under 2 minutes.
//!
//! PostgreSQL (Debian's `postgresql` package) runs as a temporary cluster
//! (crates/tls/tests/peers). Under CI=true a missing PostgreSQL fails the bench; elsewhere
//! the PostgreSQL half is skipped, said so, and SQLite runs alone. Every process started
//! (servers, cluster) is killed when the bench ends, however it ends: guards, and a
//! lifeline per process group that kills it even if this process is killed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench fails loudly

#[path = "../../tls/tests/peers/mod.rs"]
mod peers;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certherd_authority::{Node, SystemClock};
use certherd_fleet::FleetExt;
use certherd_protocol as proto;
use certherd_store::{DatabaseUrl, Home};
use certherd_x509::{CertSpec, Eku, KeyAlgorithm, PrivateKey, Role};

/// Simulated agents (threads), whatever the number of servers.
const WORKERS: usize = 16;

/// A `certherd server` in its own process group: killed and reaped when dropped, and by
/// its lifeline if this process dies without unwinding.
struct Server {
    child: Child,
    _lifeline: peers::lifeline::Lifeline,
    addr: String,
    log: PathBuf,
}

impl Server {
    /// Starts `certherd --home HOME server --listen ADDR EXTRA..` and waits until it listens.
    fn start(home: &Path, addr: &str, extra: &[&str], log: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_certherd"))
            .arg("--home")
            .arg(home)
            .args(["server", "--listen", addr, "--evaluate-every", "1h"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut server = Self {
            child,
            _lifeline: peers::lifeline::Lifeline::new(pid).unwrap(),
            addr: addr.to_owned(),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("server on {addr} exited ({status}):\n{}", server.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "server on {addr} did not listen:\n{}",
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Peak resident set size so far, in MB.
    fn peak_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        kib as f64 / 1024.0
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or(&text).to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("server on {} log:\n{}", self.addr, self.log_tail());
        }
        // Then the lifeline kills whatever is left of the group.
    }
}

struct Sim {
    name: String,
    pool_key: PrivateKey,
    pool_cert: Vec<u8>,
}

fn spec(name: &str, days: i64) -> CertSpec {
    let now = time::OffsetDateTime::now_utc();
    CertSpec {
        common_name: name.into(),
        organization: None,
        dns_names: vec![],
        ip_addresses: vec![],
        not_before: now,
        not_after: now + time::Duration::days(days),
        role: Role::Leaf,
        eku: vec![Eku::ServerAuth, Eku::ClientAuth],
    }
    .with_names([name])
    .unwrap()
}

fn csr(name: &str) -> String {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    certherd_x509::to_pem(
        certherd_x509::PemLabel::CertificateRequest,
        &certherd_x509::signing_request(&spec(name, 1), &key).unwrap(),
    )
}

fn pem(der: &[u8]) -> String {
    certherd_x509::to_pem(certherd_x509::PemLabel::Certificate, der)
}

/// One agent request over mutual TLS with the host's pool certificate; the grant.
fn call<T: serde::Serialize>(addr: &str, sim: &Sim, path: &str, body: &T) -> proto::Grant {
    let id = certherd_tls::Identity {
        chain: vec![certherd_x509::CertificateDer::from(sim.pool_cert.clone())],
        key: pki_types::PrivateKeyDer::try_from(sim.pool_key.secret_der().to_vec()).unwrap(),
    };
    let verifier = Arc::new(certherd_tls::RecordingVerifier::default());
    let s = certherd_tls::http::Session::open(
        &certherd_tls::Endpoint {
            address: addr.into(),
            proxy: None,
            timeout: Duration::from_secs(60),
            server_name: Some("bench.example.test".into()),
            starttls: None,
        },
        verifier,
        Some(&id),
    )
    .unwrap();
    let (status, reply) =
        certherd_agent::post_json(s, "bench.example.test", path, &proto::encode(body)).unwrap();
    assert_eq!(
        status,
        200,
        "{path} on {addr}: {}",
        String::from_utf8_lossy(&reply)
    );
    proto::decode(&reply).unwrap()
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn init(home: &Path, hostname: &str, ip: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_certherd"))
        .arg("--home")
        .arg(home)
        .args(["init", "--hostname", hostname, "--ip", ip])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Enrols `hosts` hosts on `home` with the server's rule; their one-time tokens.
fn enrol(home: &Home, hosts: usize) -> Vec<String> {
    let mut node = Node::new(
        home.open().unwrap(),
        Box::new(SystemClock),
        None,
        "certherd.toml",
    )
    .unwrap();
    (0..hosts)
        .map(|i| {
            let mut random = [0u8; 32];
            random[..8].copy_from_slice(&(i as u64).to_be_bytes());
            random[8] = 0xA5;
            node.fleet_mut()
                .host_add(
                    &format!("h{i}.fleet.example.test"),
                    &[],
                    time::Duration::hours(24),
                    random,
                )
                .unwrap()
                .1
        })
        .collect()
}

fn sims(hosts: usize) -> Vec<Sim> {
    (0..hosts)
        .map(|i| {
            let name = format!("h{i}.fleet.example.test");
            let pool_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let pool_cert = certherd_x509::self_sign(&spec(&name, 3650), &pool_key)
                .unwrap()
                .to_vec();
            Sim {
                name,
                pool_key,
                pool_cert,
            }
        })
        .collect()
}

/// Runs `f(i)` for every host on [`WORKERS`] threads; how long that took.
fn phase(hosts: usize, f: &(dyn Fn(usize) + Sync)) -> Duration {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= hosts {
                    break;
                }
                f(i);
            });
        }
    });
    start.elapsed()
}

/// One backend's figures.
struct Figures {
    label: &'static str,
    hosts: usize,
    enrol: Duration,
    join: Duration,
    renew: Duration,
    /// Each server's peak RSS, MB.
    rss: Vec<f64>,
    /// The database's size (certherd.db, or `pg_database_size`), bytes.
    db_bytes: u64,
    /// What else the database holds on disk (SQLite's write-ahead log), bytes.
    wal_bytes: Option<u64>,
}

impl Figures {
    fn total(&self) -> Duration {
        self.enrol + self.join + self.renew
    }
}

/// Enrols, then joins and renews every host through `servers` (host i through server
/// i mod n); the figures but the database size.
fn drive(label: &'static str, home: &Home, hosts: usize, servers: &[Server]) -> Figures {
    let start = Instant::now();
    let tokens = enrol(home, hosts);
    let enrol = start.elapsed();
    let sims = sims(hosts);
    let addr = |i: usize| servers[i % servers.len()].addr.as_str();
    let join = phase(hosts, &|i| {
        let s = &sims[i];
        let g = call(
            addr(i),
            s,
            proto::JOIN,
            &proto::JoinRequest {
                token: tokens[i].clone(),
                csr: csr(&s.name),
                pool_certificate: pem(&s.pool_cert),
                verification: true,
            },
        );
        assert!(g.host_chain.is_some(), "join of {} gave no chain", s.name);
    });
    let renew = phase(hosts, &|i| {
        let s = &sims[i];
        let g = call(
            addr(i),
            s,
            proto::POLL,
            &proto::PollRequest {
                renew_csr: Some(csr(&s.name)),
                verification: true,
                trusted_roots: vec![],
                deploy_error: None,
            },
        );
        assert!(
            g.host_chain.is_some(),
            "renewal of {} gave no chain",
            s.name
        );
    });
    Figures {
        label,
        hosts,
        enrol,
        join,
        renew,
        rss: servers.iter().map(Server::peak_mb).collect(),
        db_bytes: 0,
        wal_bytes: None,
    }
}

fn sqlite(hosts: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    init(&home, "bench.example.test", "127.0.0.1");
    let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let server = Server::start(&home, &addr, &[], &dir.path().join("server.log"));
    let mut f = drive("SQLite, 1 server", &Home::new(&home), hosts, &[server]);
    let size = |name: &str| std::fs::metadata(home.join(name)).map_or(0, |m| m.len());
    f.db_bytes = size("certherd.db");
    f.wal_bytes = Some(size("certherd.db-wal"));
    f
}

/// The PostgreSQL pair, or `None` when PostgreSQL is not installed (outside CI).
fn postgres(hosts: usize) -> Option<Figures> {
    if peers::postgres_bin_dir().is_none() {
        peers::missing("PostgreSQL");
        println!("PostgreSQL is not installed: the PostgreSQL pair is skipped, SQLite runs alone");
        return None;
    }
    // PostgreSQL's own defaults for these (the test clusters keep them small): each
    // server holds at most `[database] max_connections` (8 by default).
    let pg = peers::start_postgres_with(
        "",
        "",
        false,
        &[("max_connections", "100"), ("shared_buffers", "128MB")],
    )
    .unwrap();
    let admin = |db: &str| {
        postgres::Client::connect(
            &format!("postgres://postgres@{}/{db}", pg.address),
            postgres::NoTls,
        )
        .unwrap()
    };
    admin("postgres")
        .batch_execute("CREATE DATABASE fleet_bench")
        .unwrap();
    let url = format!("postgres://postgres@{}/fleet_bench", pg.address);
    let config = format!("[database]\nurl = \"{url}\"\n");
    let dir = tempfile::tempdir().unwrap();
    // Server 1 makes the fleet; server 2 has only certherd.toml and the master key.
    let (home1, home2) = (dir.path().join("srv1"), dir.path().join("srv2"));
    for h in [&home1, &home2] {
        std::fs::create_dir_all(h).unwrap();
        std::fs::write(h.join("certherd.toml"), &config).unwrap();
    }
    init(&home1, "srv1.example.test", "127.0.0.2");
    std::fs::copy(home1.join("master.key"), home2.join("master.key")).unwrap();
    let a1 = format!("127.0.0.2:{}", free_port("127.0.0.2"));
    let a2 = format!("127.0.0.3:{}", free_port("127.0.0.3"));
    let servers = [
        Server::start(&home1, &a1, &[], &dir.path().join("srv1.log")),
        Server::start(
            &home2,
            &a2,
            &["--hostname", "srv2.example.test", "--ip", "127.0.0.3"],
            &dir.path().join("srv2.log"),
        ),
    ];
    let home = Home::new(&home1).with_database(Some(DatabaseUrl::parse(&url).unwrap()));
    let mut f = drive("PostgreSQL, 2 servers", &home, hosts, &servers);
    drop(servers);
    let size: i64 = admin("postgres")
        .query_one("SELECT pg_database_size('fleet_bench')", &[])
        .unwrap()
        .get(0);
    f.db_bytes = u64::try_from(size).unwrap_or(0);
    Some(f)
    // The cluster stops (and its directory goes) as `pg` drops.
}

fn header() {
    println!(
        "{:<22} {:>6} {:>11} {:>9} {:>10} {:>10} {:>19} {:>9}",
        "backend, servers",
        "hosts",
        "enrol+join",
        "renew",
        "renewals/s",
        "total",
        "peak RSS per server",
        "db size"
    );
}

fn row(f: &Figures) {
    {
        let rss: Vec<String> = f.rss.iter().map(|m| format!("{m:.0} MB")).collect();
        println!(
            "{:<22} {:>6} {:>9.1} s {:>7.1} s {:>10.0} {:>8.1} s {:>19} {:>6.1} MB",
            f.label,
            f.hosts,
            (f.enrol + f.join).as_secs_f64(),
            f.renew.as_secs_f64(),
            f.hosts as f64 / f.renew.as_secs_f64(),
            f.total().as_secs_f64(),
            rss.join(" + "),
            f.db_bytes as f64 / 1e6
        );
    }
}

fn detail(rows: &[&Figures]) {
    for f in rows {
        println!(
            "  {}: enrolled in {:.1} s, joined in {:.1} s ({:.0}/s){}",
            f.label,
            f.enrol.as_secs_f64(),
            f.join.as_secs_f64(),
            f.hosts as f64 / f.join.as_secs_f64(),
            f.wal_bytes.map_or(String::new(), |w| format!(
                "; its write-ahead log (certherd.db-wal) is {:.1} MB more",
                w as f64 / 1e6
            ))
        );
    }
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "NOT met"
    }
}

fn main() {
    let quick = std::env::var_os("CERTHERD_BENCH_QUICK").is_some();
    let hosts = std::env::var("CERTHERD_BENCH_HOSTS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(if quick { 200 } else { 10_000 });
    println!(
        "certherd fleet benchmark ({} mode, {hosts} hosts): SQLite with one server, then \
         PostgreSQL with two; simulated agents in {WORKERS} threads",
        if hosts == 10_000 { "full" } else { "reduced" }
    );
    header();
    let lite = sqlite(hosts);
    row(&lite);
    let pg = postgres(hosts);
    if let Some(pg) = &pg {
        row(pg);
    }
    let mut rows = vec![&lite];
    rows.extend(pg.as_ref());
    detail(&rows);
    let peak = lite.rss.iter().copied().fold(0.0, f64::max);
    let note = if hosts < 10_000 {
        " (the targets are for 10,000 hosts)"
    } else {
        ""
    };
    println!(
        "SQLite: {:.1} s in all, target under 300 s: {}; peak RSS {peak:.0} MB, target under \
         200 MB: {}{note}",
        lite.total().as_secs_f64(),
        met(lite.total() < Duration::from_secs(300)),
        met(peak < 200.0)
    );
    if let Some(pg) = &pg {
        let ratio = pg.total().as_secs_f64() / lite.total().as_secs_f64();
        let renew_ratio = pg.renew.as_secs_f64() / lite.renew.as_secs_f64();
        println!(
            "PostgreSQL pair / SQLite: {ratio:.2}x in all ({renew_ratio:.2}x renewing), target \
             within 2x: {}; {:.1} s in all, target under 120 s: {}{note}",
            met(ratio <= 2.0),
            pg.total().as_secs_f64(),
            met(pg.total() < Duration::from_secs(120)),
        );
    }
}
