//! The PostgreSQL implementation of [`Store`]: one connection, one transaction per batch,
//! the same semantics as [`crate::SqliteStore`] (atomic batches, keys sealed with the same
//! master key, rows of a host deleted with it).
//!
//! This module holds the connection, its statement cache and the transaction of a batch;
//! the schema's migration is in `schema`, and each table group (see `crate::groups`) has
//! its reads and writes in a module of its own: `entries`, `trust`, `fleet`, `alarms`,
//! `watches`, `providers`, `audit`. [`Store`]'s methods hand over to them.

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use certherd_core::{
    Alarm, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, StoreName, Watch, WatchKind,
};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

use crate::groups::Grouped;
use crate::migrations;
use crate::{
    AdminCredential, AuditRecord, Change, CrlRecord, Entry, Error, FaultHook, HostState, Lease,
    MasterKey, Notification, RevocationRecord, Secret, Store, StoreInfo,
};

mod alarms;
mod audit;
mod entries;
mod fleet;
mod providers;
mod schema;
mod tls;
mod trust;
mod watches;

pub(crate) use entries::holds_sealed_secrets;
use schema::recorded_version;
pub(crate) use schema::{migrate, tables};

/// The `application_name` of certherd's connections unless said otherwise.
pub(crate) const APPLICATION: &str = "certherd";

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `url` with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        // The last `@` before any query ends the user information: a password with an
        // unencoded `@` or `/` (an invalid URL, said so with this very text) is still
        // masked whole.
        let before_query = &rest[..rest.find('?').unwrap_or(rest.len())];
        if let Some(at) = before_query.rfind('@') {
            let userinfo = &before_query[..at];
            if let Some(colon) = userinfo.find(':') {
                let start = scheme_end + 3 + colon + 1;
                let end = scheme_end + 3 + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    // `password=...` as a query parameter or a key=value setting.
    let mut redacted = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("password=") {
        let value_start = i + "password=".len();
        redacted.push_str(&rest[..value_start]);
        redacted.push_str("***");
        let tail = &rest[value_start..];
        let value_end = tail.find(['&', ' ']).unwrap_or(tail.len());
        rest = &tail[value_end..];
    }
    redacted.push_str(rest);
    redacted
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Whether the database at `url` already holds an initialized certherd home (its `meta`
/// says so); an empty database, or one without certherd's tables, does not. Reads only.
pub(crate) fn holds_home(url: &str) -> Result<bool, Error> {
    holds_home_on(&mut connect(url, "certherd")?)
}

/// [`holds_home`] over a connection already made.
fn holds_home_on(client: &mut Client) -> Result<bool, Error> {
    const C: &str = "looking for a certherd home in the database";
    let has_meta: bool = client
        .query_one("SELECT to_regclass('public.meta') IS NOT NULL", &[])
        .map_err(Error::pg(C))?
        .try_get(0)
        .map_err(Error::pg(C))?;
    if !has_meta {
        return Ok(false);
    }
    Ok(client
        .query_opt(
            "SELECT 1 FROM meta WHERE key = $1",
            &[&crate::home::INITIALIZED],
        )
        .map_err(Error::pg(C))?
        .is_some())
}

/// Connects to `url` as `application`, with a bounded connection timeout.
pub(crate) fn connect(url: &str, application: &str) -> Result<Client, Error> {
    let (rest, mode, root) = tls::split(url)?;
    let mut config = postgres::Config::from_str(&rest).map_err(|e| Error::BadUrl {
        url: redact_url(url),
        detail: e.to_string(),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    let unreachable = |source| Error::Unreachable {
        url: redact_url(url),
        source,
    };
    if mode == tls::Mode::Off {
        return config.connect(NoTls).map_err(unreachable);
    }
    let client = tls::client_config(url, &mode, root.as_deref())?;
    config.ssl_mode(postgres::config::SslMode::Require);
    config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(client))
        .map_err(|e| {
            let address = host_and_port(&config);
            match tls::name_mismatch(&e, &address) {
                Some(source) => Error::ServerName {
                    url: redact_url(url),
                    source: Box::new(source),
                },
                None => unreachable(e),
            }
        })
}

/// The first host of `config` and its port (5432 unless given), as `HOST:PORT`.
fn host_and_port(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// Prepares `sql` once per connection.
fn prepared(
    client: &mut impl GenericClient,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql)?;
    cache.insert(sql.to_owned(), s.clone());
    Ok(s)
}

/// A batch's transaction, with the connection's statement cache.
struct Batch<'a, 't> {
    tx: &'a mut postgres::Transaction<'t>,
    cache: &'a mut HashMap<String, Statement>,
}

impl Batch<'_, '_> {
    /// Runs `sql` through the statement cache; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let stmt = prepared(&mut *self.tx, self.cache, sql)?;
        self.tx.execute(&stmt, params)
    }

    /// The row of `sql`, if any, through the statement cache.
    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let stmt = prepared(&mut *self.tx, self.cache, sql)?;
        self.tx.query_opt(&stmt, params)
    }

    /// The one row of `sql`, through the statement cache.
    fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let stmt = prepared(&mut *self.tx, self.cache, sql)?;
        self.tx.query_one(&stmt, params)
    }
}

/// A node's inventory in a PostgreSQL database.
pub struct PgStore {
    conn: RefCell<Conn>,
    key: MasterKey,
    url: String,
    fault: Option<FaultHook>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// Column `i` as text.
fn text(row: &Row, i: usize, context: &'static str) -> Result<String, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

/// Column `i` as an integer.
fn int(row: &Row, i: usize, context: &'static str) -> Result<i64, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

/// Column `i`, which may be NULL.
fn opt<'a, T: postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
    context: &'static str,
) -> Result<Option<T>, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

impl PgStore {
    /// Whether the connection to the database is gone (the server restarted, the backend
    /// was terminated, the network dropped): a store in that state only fails, so its
    /// owner opens a new one. Asks nothing of the database.
    pub fn is_closed(&self) -> bool {
        self.conn
            .try_borrow()
            .map(|c| c.client.is_closed())
            .unwrap_or(false)
    }

    /// Whether the database answers on this connection: one `SELECT 1`, for a health
    /// check. A server-side `statement_timeout` of `timeout` bounds a stuck database (a
    /// lost network is bounded by the caller).
    pub fn ping(&self, timeout: Duration) -> Result<(), Error> {
        const C: &str = "checking that the database answers";
        let mut conn = self.conn()?;
        let ms = timeout.as_millis().clamp(1, 3_600_000);
        conn.client
            .batch_execute(&format!(
                "SET statement_timeout = {ms}; SELECT 1; RESET statement_timeout"
            ))
            .map_err(Error::pg(C))
    }

    /// Connects to the database at `url`, sealing keys with `key`, and applies the
    /// migrations it lacks (creating the schema in an empty database). A database of a
    /// newer schema than this binary knows is refused and left as it is.
    pub fn connect(url: &str, key: MasterKey) -> Result<Self, Error> {
        Self::over(connect(url, "certherd")?, url, key)
    }

    /// [`PgStore::connect`] to a database that holds an initialized home; `None`, with
    /// nothing written to the database, when it holds none. One connection for both.
    pub fn connect_home(url: &str, key: MasterKey) -> Result<Option<Self>, Error> {
        Self::connect_home_as(url, key, APPLICATION)
    }

    /// [`PgStore::connect_home`] naming the connection `application` in
    /// `pg_stat_activity` (unless the URL sets `application_name`).
    pub fn connect_home_as(
        url: &str,
        key: MasterKey,
        application: &str,
    ) -> Result<Option<Self>, Error> {
        let mut client = connect(url, application)?;
        if !holds_home_on(&mut client)? {
            return Ok(None);
        }
        Self::over(client, url, key).map(Some)
    }

    /// The store over `client`, migrated to this binary's schema.
    fn over(mut client: Client, url: &str, key: MasterKey) -> Result<Self, Error> {
        // The usual case, a database at the newest version, takes no lock and no write.
        let current = recorded_version(&mut client)?;
        if current != Some(migrations::latest()) {
            let mut tx = client
                .transaction()
                .map_err(Error::pg("starting the schema migration"))?;
            migrate(&mut tx, url)?;
            tx.commit()
                .map_err(Error::pg("committing the schema migration"))?;
        }
        Ok(Self {
            conn: RefCell::new(Conn {
                client,
                statements: HashMap::new(),
            }),
            key,
            url: url.to_owned(),
            fault: None,
        })
    }

    /// The database's URL, password redacted.
    pub fn url(&self) -> String {
        redact_url(&self.url)
    }

    /// Installs a fault-injection hook, called with a point name at each crash point
    /// (`store.before-commit`). Tests use it to kill the process mid-write.
    pub fn set_fault_hook(&mut self, hook: FaultHook) {
        self.fault = Some(hook);
    }

    fn conn(&self) -> Result<RefMut<'_, Conn>, Error> {
        self.conn
            .try_borrow_mut()
            .map_err(|_| Error::ConnectionInUse)
    }

    /// Rows of `sql` with `params`, through the statement cache.
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        context: &'static str,
    ) -> Result<Vec<Row>, Error> {
        let mut guard = self.conn()?;
        let conn = &mut *guard;
        let stmt =
            prepared(&mut conn.client, &mut conn.statements, sql).map_err(Error::pg(context))?;
        conn.client.query(&stmt, params).map_err(Error::pg(context))
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        context: &'static str,
    ) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params, context)?.into_iter().next())
    }

    /// Applies one change in the batch's transaction, in the module of its table group.
    fn apply_one(key: &MasterKey, b: &mut Batch<'_, '_>, change: &Change) -> Result<(), Error> {
        match change.grouped() {
            Grouped::Entries(c) => entries::apply(key, b, c),
            Grouped::Trust(c) => trust::apply(b, c),
            Grouped::Fleet(c) => fleet::apply(b, c),
            Grouped::Alarms(c) => alarms::apply(b, c),
            Grouped::Watches(c) => watches::apply(b, c),
            Grouped::KeyProviders(c) => providers::apply(b, c),
            Grouped::Audit(a) => audit::apply(b, a),
        }
    }
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.url()
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        entries::meta(self, key)
    }

    fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        entries::stores(self)
    }

    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
        entries::entries(self, store)
    }

    fn entry(&self, r: &EntryRef) -> Result<Option<Entry>, Error> {
        entries::entry(self, r)
    }

    fn secret(&self, name: &str) -> Result<Option<Secret>, Error> {
        entries::secret(self, name)
    }

    fn crls(&self) -> Result<Vec<CrlRecord>, Error> {
        trust::crls(self)
    }

    fn revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        trust::revocations(self)
    }

    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error> {
        audit::audit_log(self)
    }

    fn hosts(&self) -> Result<Vec<Host>, Error> {
        fleet::hosts(self)
    }

    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        fleet::host(self, name)
    }

    fn host_any_case(&self, name: &str) -> Result<Option<Host>, Error> {
        fleet::host_any_case(self, name)
    }

    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        fleet::host_by_pool(self, pool_sha256)
    }

    fn host_state(&self, host: &str) -> Result<HostState, Error> {
        fleet::host_state(self, host)
    }

    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error> {
        fleet::admin_credential(self, sha256)
    }

    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        fleet::admin_credentials(self)
    }

    fn undelivered(&self) -> Result<Vec<Notification>, Error> {
        alarms::undelivered(self)
    }

    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        fleet::join_token(self, sha256)
    }

    fn alarms(&self) -> Result<Vec<Alarm>, Error> {
        alarms::alarms(self)
    }

    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        watches::watches(self, kind)
    }

    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error> {
        providers::key_providers(self)
    }

    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: certherd_core::OffsetDateTime,
        until: certherd_core::OffsetDateTime,
    ) -> Result<Lease, Error> {
        fleet::take_lease(self, name, holder, now, until)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        fleet::release_lease(self, name, holder)
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>, Error> {
        fleet::lease(self, name)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        let mut guard = self
            .conn
            .try_borrow_mut()
            .map_err(|_| Error::ConnectionInUse)?;
        let Conn { client, statements } = &mut *guard;
        let mut tx = client
            .transaction()
            .map_err(Error::pg("starting a transaction"))?;
        let mut batch = Batch {
            tx: &mut tx,
            cache: statements,
        };
        for change in changes {
            Self::apply_one(&self.key, &mut batch, change)?;
        }
        if let Some(hook) = &self.fault {
            hook("store.before-commit");
        }
        tx.commit().map_err(Error::pg("committing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_urls_and_settings() {
        assert_eq!(
            redact_url("postgres://certherd:s3cret@db.example:5432/ch?sslmode=disable"),
            "postgres://certherd:***@db.example:5432/ch?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://u@127.0.0.1/x?password=abc&application_name=y"),
            "postgres://u@127.0.0.1/x?password=***&application_name=y"
        );
        assert_eq!(
            redact_url("host=/run/pg user=u password=abc dbname=x"),
            "host=/run/pg user=u password=*** dbname=x"
        );
        assert_eq!(redact_url("postgres:///ch"), "postgres:///ch");
        assert_eq!(
            redact_url("postgres://weird:p@ss:w/rd%x@127.0.0.1:55432/dbw"),
            "postgres://weird:***@127.0.0.1:55432/dbw"
        );
    }
}
