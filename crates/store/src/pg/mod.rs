//! The PostgreSQL implementation of [`Store`]: one connection, one transaction per batch,
//! the same semantics as [`crate::SqliteStore`] (atomic batches, keys sealed with the same
//! master key, rows of a host deleted with it).

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
use crate::model::from_ts;
use crate::{
    AdminCredential, AdminRole, AuditRecord, Change, CredentialKind, CrlRecord, Entry, Error,
    FaultHook, HostOrder, HostState, Lease, MasterKey, Notification, RevocationRecord, Secret,
    Store, StoreInfo,
};

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `url` with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
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

/// Connects to `url` as `application`, with a bounded connection timeout.
pub(crate) fn connect(url: &str, application: &str) -> Result<Client, Error> {
    let mut config = postgres::Config::from_str(url).map_err(|e| Error::BadUrl {
        url: redact_url(url),
        detail: e.to_string(),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    config.connect(NoTls).map_err(|source| Error::Unreachable {
        url: redact_url(url),
        source,
    })
}

/// Whether the database at `url` holds a sealed private key or secret (read without the
/// master key); an empty database does not.
pub(crate) fn holds_sealed_secrets(url: &str) -> Result<bool, Error> {
    let mut client = connect(url, "certherd")?;
    if !tables(&mut client)?.iter().any(|t| t == "entries") {
        return Ok(false);
    }
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM entries WHERE key_sealed IS NOT NULL) OR EXISTS (SELECT 1 FROM secrets)",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(Error::pg("looking for sealed keys"))
}

mod alarms;
mod audit;
mod entries;
mod fleet;
mod providers;
mod schema;
mod trust;
mod watches;

use schema::recorded_version;
pub(crate) use schema::{migrate, tables};

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

fn text(row: &Row, i: usize, context: &'static str) -> Result<String, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

fn int(row: &Row, i: usize, context: &'static str) -> Result<i64, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

/// An admin credential from a row of (sha256, name, kind, role, created_at, expires_at,
/// revoked_at).
fn admin_credential_of(row: &Row, context: &'static str) -> Result<AdminCredential, Error> {
    let kind = text(row, 2, context)?;
    let role = text(row, 3, context)?;
    let at = |i: usize| -> Result<Option<certherd_core::OffsetDateTime>, Error> {
        opt::<i64>(row, i, context)?.map(from_ts).transpose()
    };
    Ok(AdminCredential {
        sha256: text(row, 0, context)?,
        name: text(row, 1, context)?,
        kind: CredentialKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown admin credential kind {kind}")))?,
        role: AdminRole::parse(&role)
            .ok_or_else(|| Error::Corrupt(format!("unknown admin role {role}")))?,
        created_at: at(4)?,
        expires_at: at(5)?,
        revoked_at: at(6)?,
    })
}

/// A lease from a row of (holder, taken_at, expires_at).
fn lease_of(name: &str, row: &Row, context: &'static str) -> Result<Lease, Error> {
    Ok(Lease {
        name: name.to_owned(),
        holder: text(row, 0, context)?,
        taken_at: crate::model::from_unix_ms(int(row, 1, context)?),
        expires_at: crate::model::from_unix_ms(int(row, 2, context)?),
    })
}

fn opt<'a, T: postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
    context: &'static str,
) -> Result<Option<T>, Error> {
    row.try_get(i).map_err(Error::pg(context))
}

impl PgStore {
    /// Connects to the database at `url`, sealing keys with `key`, and applies the
    /// migrations it lacks (creating the schema in an empty database). A database of a
    /// newer schema than this binary knows is refused and left as it is.
    pub fn connect(url: &str, key: MasterKey) -> Result<Self, Error> {
        let mut client = connect(url, "certherd")?;
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

    fn hosts_from(rows: Vec<Row>) -> Result<Vec<Host>, Error> {
        const C: &str = "listing hosts";
        let mut out = Vec::new();
        for row in rows {
            let ips = text(&row, 1, C)?;
            out.push(Host {
                name: text(&row, 0, C)?,
                ips: ips
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse()
                            .map_err(|_| Error::Corrupt(format!("host ip {s}")))
                    })
                    .collect::<Result<_, _>>()?,
                created_at: from_ts(int(&row, 2, C)?)?,
                joined_at: opt::<i64>(&row, 3, C)?.map(from_ts).transpose()?,
                pool_sha256: opt(&row, 4, C)?,
                last_seen: opt::<i64>(&row, 5, C)?.map(from_ts).transpose()?,
            });
        }
        Ok(out)
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
        Self::hosts_from(self.query(
            "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts ORDER BY name COLLATE \"C\"",
            &[],
            "listing hosts",
        )?)
    }

    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        Ok(Self::hosts_from(self.query(
            "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE name = $1",
            &[&name],
            "listing hosts",
        )?)?
        .into_iter()
        .next())
    }

    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        Ok(Self::hosts_from(self.query(
            "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE pool_sha256 = $1 ORDER BY name COLLATE \"C\"",
            &[&pool_sha256],
            "listing hosts",
        )?)?
        .into_iter()
        .next())
    }

    fn host_state(&self, host: &str) -> Result<HostState, Error> {
        const C: &str = "reading a host's state";
        let verification: Option<i64> = self
            .query_opt(
                "SELECT enabled FROM host_verification WHERE host = $1",
                &[&host],
                C,
            )?
            .map(|r| int(&r, 0, C))
            .transpose()?;
        let roots = self
            .query(
                "SELECT sha256 FROM host_roots WHERE host = $1 ORDER BY sha256 COLLATE \"C\"",
                &[&host],
                C,
            )?
            .iter()
            .map(|r| text(r, 0, C))
            .collect::<Result<Vec<_>, _>>()?;
        let orders = self.query(
            "SELECT kind, ordered_at FROM host_orders WHERE host = $1",
            &[&host],
            C,
        )?;
        let deploy_error = self
            .query_opt("SELECT error FROM host_deploy WHERE host = $1", &[&host], C)?
            .map(|r| text(&r, 0, C))
            .transpose()?;
        let mut state = HostState {
            verification: verification.map(|v| v != 0),
            roots,
            deploy_error,
            ..HostState::default()
        };
        for row in orders {
            let kind = text(&row, 0, C)?;
            let at = Some(from_ts(int(&row, 1, C)?)?);
            match HostOrder::parse(&kind) {
                Some(HostOrder::Renew) => state.renew_ordered_at = at,
                Some(HostOrder::RefreshPool) => state.refresh_pool_ordered_at = at,
                None => return Err(Error::Corrupt(format!("unknown host order {kind}"))),
            }
        }
        Ok(state)
    }

    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error> {
        const C: &str = "reading an admin credential";
        self.query_opt(
            "SELECT sha256, name, kind, role, created_at, expires_at, revoked_at FROM admin_credentials WHERE sha256 = $1",
            &[&sha256],
            C,
        )?
        .map(|r| admin_credential_of(&r, C))
        .transpose()
    }

    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        const C: &str = "reading the admin credentials";
        self.query(
            "SELECT sha256, name, kind, role, created_at, expires_at, revoked_at FROM admin_credentials ORDER BY name COLLATE \"C\", created_at NULLS FIRST, sha256 COLLATE \"C\"",
            &[],
            C,
        )?
        .iter()
        .map(|r| admin_credential_of(r, C))
        .collect()
    }

    fn undelivered(&self) -> Result<Vec<Notification>, Error> {
        alarms::undelivered(self)
    }

    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        const C: &str = "reading a join token";
        self.query_opt(
            "SELECT host, issued_at, expires_at, used_at FROM join_tokens WHERE sha256 = $1",
            &[&sha256],
            C,
        )?
        .map(|row| {
            Ok(JoinToken {
                host: text(&row, 0, C)?,
                sha256: sha256.to_owned(),
                issued_at: from_ts(int(&row, 1, C)?)?,
                expires_at: from_ts(int(&row, 2, C)?)?,
                used_at: opt::<i64>(&row, 3, C)?.map(from_ts).transpose()?,
            })
        })
        .transpose()
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
        const C: &str = "taking a lease";
        let (now, until) = (crate::model::unix_ms(now), crate::model::unix_ms(until));
        let mut guard = self.conn()?;
        let Conn { client, statements } = &mut *guard;
        let mut tx = client.transaction().map_err(Error::pg(C))?;
        // The upsert locks the row; what is read back in the same transaction is what
        // it left, whichever server won.
        let take = prepared(&mut tx, statements, crate::model::TAKE_LEASE).map_err(Error::pg(C))?;
        tx.execute(&take, &[&name, &holder, &now, &until])
            .map_err(Error::pg(C))?;
        let row = tx
            .query_one(
                "SELECT holder, taken_at, expires_at FROM leases WHERE name = $1",
                &[&name],
            )
            .map_err(Error::pg(C))?;
        let lease = lease_of(name, &row, C)?;
        tx.commit().map_err(Error::pg(C))?;
        Ok(lease)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        const C: &str = "giving up a lease";
        let mut guard = self.conn()?;
        guard
            .client
            .execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .map(drop)
            .map_err(Error::pg(C))
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>, Error> {
        const C: &str = "reading a lease";
        self.query_opt(
            "SELECT holder, taken_at, expires_at FROM leases WHERE name = $1",
            &[&name],
            C,
        )?
        .map(|row| lease_of(name, &row, C))
        .transpose()
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
    }
}
