//! The SQLite implementation of [`Store`]: one file, WAL journal, one transaction per batch.

use std::path::Path;

use certherd_core::{
    Alarm, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, OffsetDateTime, StoreName, Watch,
    WatchKind,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::groups::Grouped;
use crate::model::from_ts;
use crate::{
    AdminCredential, AdminRole, AuditRecord, Change, CredentialKind, CrlRecord, Entry, Error,
    HostOrder, HostState, Lease, MasterKey, Notification, RevocationRecord, Secret, Store,
    StoreInfo,
};

const ADMIN_CREDENTIAL_COLUMNS: &str =
    "sha256, name, kind, role, created_at, expires_at, revoked_at";

/// An `admin_credentials` row as read.
type AdminCredentialRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn admin_credential_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AdminCredentialRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn admin_credential_of(row: AdminCredentialRow) -> Result<AdminCredential, Error> {
    let (sha256, name, kind, role, created, expires, revoked) = row;
    Ok(AdminCredential {
        kind: CredentialKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown admin credential kind {kind}")))?,
        role: AdminRole::parse(&role)
            .ok_or_else(|| Error::Corrupt(format!("unknown admin role {role}")))?,
        sha256,
        name,
        created_at: created.map(from_ts).transpose()?,
        expires_at: expires.map(from_ts).transpose()?,
        revoked_at: revoked.map(from_ts).transpose()?,
    })
}

/// Statements through the connection's statement cache: a batch runs the same few
/// statements many times, and re-preparing them cost more than running them.
trait Cached {
    fn execute_cached(&self, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn query_row_cached<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn execute_cached(&self, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(p, f)
    }
}

mod alarms;
mod audit;
mod entries;
mod fleet;
mod providers;
mod schema;
mod trust;
mod watches;

/// Called with a crash-point name; tests make it abort the process.
pub type FaultHook = Box<dyn Fn(&str)>;

/// A node's inventory in one SQLite file.
pub struct SqliteStore {
    pub(crate) conn: Connection,
    path: std::path::PathBuf,
    key: MasterKey,
    pub(crate) fault: Option<FaultHook>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, sealing keys with `key`, and
    /// applies the migrations it lacks. A database of a newer schema than this binary
    /// knows is refused and left as it is.
    pub fn open(path: &Path, key: MasterKey) -> Result<Self, Error> {
        let conn = Connection::open(path).map_err(Error::sql("opening the database"))?;
        // WAL keeps readers off writers' backs; NORMAL sync never corrupts and, in WAL, loses
        // at most the last commits on power loss, which only ever rolls an entry back to its
        // previous (still stored) version.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; PRAGMA cache_size=-32768; PRAGMA mmap_size=268435456;")
            .map_err(Error::sql("configuring the database"))?;
        schema::migrate(&conn, path)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            key,
            fault: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bounds the memory this connection uses, for a bulk write (a scan of a whole disk):
    /// a smaller page cache and no memory map, so the database's pages are not all mapped
    /// in as they are written and read back. Slower for large reads; writes barely notice.
    pub fn bound_memory(&self) -> Result<(), Error> {
        self.conn
            .execute_batch("PRAGMA cache_size=-8192; PRAGMA mmap_size=0;")
            .map_err(Error::sql("configuring the database"))
    }

    /// Hosts matching `condition` (SQL with one parameter, `?1`), by name.
    fn hosts_where(&self, condition: &str, value: &str) -> Result<Vec<Host>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE {condition} ORDER BY name"))
            .map_err(Error::sql("listing hosts"))?;
        let rows = stmt
            .query_map([value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .map_err(Error::sql("listing hosts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, ips, created, joined, pool, seen) =
                row.map_err(Error::sql("listing hosts"))?;
            out.push(Host {
                name,
                ips: ips
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse()
                            .map_err(|_| Error::Corrupt(format!("host ip {s}")))
                    })
                    .collect::<Result<_, _>>()?,
                created_at: from_ts(created)?,
                joined_at: joined.map(from_ts).transpose()?,
                pool_sha256: pool,
                last_seen: seen.map(from_ts).transpose()?,
            });
        }
        Ok(out)
    }

    /// Installs a fault-injection hook, called with a point name at each crash point
    /// (`store.before-commit`). Tests use it to kill the process mid-write.
    pub fn set_fault_hook(&mut self, hook: FaultHook) {
        self.fault = Some(hook);
    }

    /// Applies one change inside `tx`, in the module of its table group.
    fn apply_one(&self, tx: &Transaction<'_>, change: &Change) -> Result<(), Error> {
        match change.grouped() {
            Grouped::Entries(c) => entries::apply(&self.key, tx, c),
            Grouped::Trust(c) => trust::apply(tx, c),
            Grouped::Fleet(c) => fleet::apply(tx, c),
            Grouped::Alarms(c) => alarms::apply(tx, c),
            Grouped::Watches(c) => watches::apply(tx, c),
            Grouped::KeyProviders(c) => providers::apply(tx, c),
            Grouped::Audit(a) => audit::apply(tx, a),
        }
    }
}

/// The lease `name` as stored.
fn read_lease(conn: &Connection, name: &str) -> Result<Option<Lease>, Error> {
    conn.query_row(
        "SELECT holder, taken_at, expires_at FROM leases WHERE name = ?1",
        [name],
        |r| {
            Ok(Lease {
                name: name.to_owned(),
                holder: r.get(0)?,
                taken_at: crate::model::from_unix_ms(r.get(1)?),
                expires_at: crate::model::from_unix_ms(r.get(2)?),
            })
        },
    )
    .optional()
    .map_err(Error::sql("reading a lease"))
}

impl Store for SqliteStore {
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
        self.hosts_where("?1 = ?1", "")
    }

    fn host(&self, name: &str) -> Result<Option<Host>, Error> {
        Ok(self.hosts_where("name = ?1", name)?.into_iter().next())
    }

    fn host_by_pool(&self, pool_sha256: &str) -> Result<Option<Host>, Error> {
        Ok(self
            .hosts_where("pool_sha256 = ?1", pool_sha256)?
            .into_iter()
            .next())
    }

    fn host_state(&self, host: &str) -> Result<HostState, Error> {
        let sql = Error::sql("reading a host's state");
        let verification: Option<i64> = self
            .conn
            .query_row_cached(
                "SELECT enabled FROM host_verification WHERE host = ?1",
                [host],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sql)?;
        let roots: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT sha256 FROM host_roots WHERE host = ?1 ORDER BY sha256")
                .map_err(&sql)?;
            let rows = stmt.query_map([host], |r| r.get(0)).map_err(&sql)?;
            rows.collect::<Result<_, _>>().map_err(&sql)?
        };
        let orders: Vec<(String, i64)> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT kind, ordered_at FROM host_orders WHERE host = ?1")
                .map_err(&sql)?;
            let rows = stmt
                .query_map([host], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&sql)?;
            rows.collect::<Result<_, _>>().map_err(&sql)?
        };
        let deploy_error: Option<String> = self
            .conn
            .query_row_cached(
                "SELECT error FROM host_deploy WHERE host = ?1",
                [host],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sql)?;
        let mut state = HostState {
            verification: verification.map(|v| v != 0),
            roots,
            deploy_error,
            ..HostState::default()
        };
        for (kind, at) in orders {
            let at = Some(from_ts(at)?);
            match HostOrder::parse(&kind) {
                Some(HostOrder::Renew) => state.renew_ordered_at = at,
                Some(HostOrder::RefreshPool) => state.refresh_pool_ordered_at = at,
                None => return Err(Error::Corrupt(format!("unknown host order {kind}"))),
            }
        }
        Ok(state)
    }

    fn admin_credential(&self, sha256: &str) -> Result<Option<AdminCredential>, Error> {
        let sql = Error::sql("reading an admin credential");
        let row = self
            .conn
            .query_row_cached(
                &format!(
                    "SELECT {ADMIN_CREDENTIAL_COLUMNS} FROM admin_credentials WHERE sha256 = ?1"
                ),
                [sha256],
                admin_credential_row,
            )
            .optional()
            .map_err(sql)?;
        row.map(admin_credential_of).transpose()
    }

    fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        let sql = Error::sql("reading the admin credentials");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ADMIN_CREDENTIAL_COLUMNS} FROM admin_credentials ORDER BY name, created_at, sha256"
            ))
            .map_err(&sql)?;
        let rows: Vec<AdminCredentialRow> = stmt
            .query_map([], admin_credential_row)
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        rows.into_iter().map(admin_credential_of).collect()
    }

    fn undelivered(&self) -> Result<Vec<Notification>, Error> {
        alarms::undelivered(self)
    }

    fn join_token(&self, sha256: &str) -> Result<Option<JoinToken>, Error> {
        let row: Option<(String, i64, i64, Option<i64>)> = self
            .conn
            .query_row_cached(
                "SELECT host, issued_at, expires_at, used_at FROM join_tokens WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(Error::sql("reading a join token"))?;
        row.map(|(host, issued, expires, used)| {
            Ok(JoinToken {
                host,
                sha256: sha256.to_owned(),
                issued_at: from_ts(issued)?,
                expires_at: from_ts(expires)?,
                used_at: used.map(from_ts).transpose()?,
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
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Lease, Error> {
        let sql = Error::sql("taking a lease");
        // IMMEDIATE: the write lock first, so that the lease read back is the one written.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(&sql)?;
        tx.prepare_cached(crate::model::TAKE_LEASE)
            .and_then(|mut st| {
                st.execute(params![
                    name,
                    holder,
                    crate::model::unix_ms(now),
                    crate::model::unix_ms(until)
                ])
            })
            .map_err(&sql)?;
        let lease = read_lease(&tx, name)?.ok_or_else(|| Error::Sqlite {
            context: "taking a lease",
            source: rusqlite::Error::QueryReturnedNoRows,
        })?;
        tx.commit().map_err(&sql)?;
        Ok(lease)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map(drop)
            .map_err(Error::sql("giving up a lease"))
    }

    fn lease(&self, name: &str) -> Result<Option<Lease>, Error> {
        read_lease(&self.conn, name)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), Error> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(Error::sql("starting a transaction"))?;
        for change in changes {
            self.apply_one(&tx, change)?;
        }
        if let Some(hook) = &self.fault {
            hook("store.before-commit");
        }
        tx.commit().map_err(Error::sql("committing"))
    }
}
