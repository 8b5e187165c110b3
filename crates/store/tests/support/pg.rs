//! A PostgreSQL cluster for the store's tests: the shared starter of
//! crates/tls/tests/peers (a temporary cluster as an unprivileged user, killed with the
//! test), and a fresh database per use.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../tls/tests/peers/mod.rs"]
mod peers;

pub use peers::PgGuard;

/// Starts a cluster, or returns `None` after printing a skip line when PostgreSQL is not
/// installed (a failure under CI=true, where .ci/run installs it).
pub fn start() -> Option<PgGuard> {
    if peers::postgres_bin_dir().is_none() {
        peers::missing("PostgreSQL");
        return None;
    }
    // TLS is off: the certificate and key files are written but never read.
    Some(peers::start_postgres("", "", false).unwrap())
}

/// The URL of database `name` on `pg`, created empty.
pub fn database(pg: &PgGuard, name: &str) -> String {
    let admin = format!("postgres://postgres@{}/postgres", pg.address);
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    format!("postgres://postgres@{}/{name}", pg.address)
}
