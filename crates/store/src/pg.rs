//! The PostgreSQL implementation of [`Store`]: one connection, one transaction per batch,
//! the same semantics as [`crate::SqliteStore`] (atomic batches, keys sealed with the same
//! master key, rows of a host deleted with it).

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use certherd_core::{
    Alarm, EntryKind, EntryMeta, EntryRef, Host, JoinToken, KeyProvider, KmipServer, Source,
    StoreName, Watch, WatchKind,
};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

use crate::migrations;
use crate::sqlite::{chain_pem, from_ts, key_context, ts, META_COLUMNS};
use crate::{
    AdminCredential, AdminRole, AuditRecord, Change, CredentialKind, CrlRecord, Entry, Error,
    FaultHook, HostOrder, HostState, Lease, MasterKey, Notification, RevocationRecord, Secret,
    Store, StoreInfo,
};

/// The advisory lock key that serializes schema migrations of one database ("certherd").
const MIGRATION_LOCK: i64 = 0x6365_7274_6865_7264;

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

/// Tables in the connection's current schema, by name.
pub(crate) fn tables(client: &mut impl GenericClient) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .map_err(Error::pg("listing tables"))?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(Error::pg("listing tables")))
        .collect()
}

/// The newest migration recorded, if `schema_migrations` exists.
fn recorded_version(client: &mut Client) -> Result<Option<i64>, Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .map_err(Error::pg("reading the schema version"))?;
    if !exists {
        return Ok(None);
    }
    client
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map(Some)
        .map_err(Error::pg("reading the schema version"))
}

/// Applies every migration `tx`'s database lacks, in order, inside `tx` (which the caller
/// commits). A database of a newer schema is refused before anything is written.
pub(crate) fn migrate(tx: &mut postgres::Transaction<'_>, url: &str) -> Result<(), Error> {
    let latest = migrations::latest();
    // Two servers starting on one new database: one migrates, the other waits and then
    // finds nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(Error::pg("locking the schema"))?;
    tx.batch_execute(migrations::TABLE)
        .map_err(Error::pg("creating schema_migrations"))?;
    let done: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(Error::pg("reading the schema version"))?;
    if done > latest {
        return Err(Error::SchemaTooNew {
            database: redact_url(url),
            found: done,
            supported: latest,
        });
    }
    for m in migrations::POSTGRES.iter().filter(|m| m.version > done) {
        tx.batch_execute(m.sql).map_err(|source| Error::Migration {
            version: m.version,
            name: m.name,
            source: Box::new(Error::Postgres {
                context: "applying a migration",
                source,
            }),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, EXTRACT(EPOCH FROM now())::BIGINT)",
            &[&m.version, &m.name],
        )
        .map_err(Error::pg("recording the schema version"))?;
    }
    Ok(())
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

/// Maps a write about a host's state: a missing host (the foreign key) is `NotFound`.
fn host_write<'a>(context: &'static str, host: &'a str) -> impl Fn(postgres::Error) -> Error + 'a {
    move |e| {
        if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
            Error::NotFound {
                what: "host",
                name: host.to_owned(),
            }
        } else {
            Error::pg(context)(e)
        }
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

fn row_meta(row: &Row) -> Result<EntryMeta, Error> {
    const C: &str = "reading an entry";
    let store = text(row, 0, C)?;
    let alias = text(row, 1, C)?;
    let entry = EntryRef::new(
        store.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
        alias.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
    );
    let kind = match text(row, 2, C)?.as_str() {
        "keypair" => EntryKind::KeyPair,
        _ => EntryKind::Certificate,
    };
    let source_s = text(row, 4, C)?;
    let source = Source::parse(&source_s)
        .ok_or_else(|| Error::Corrupt(format!("unknown source {source_s}")))?;
    Ok(EntryMeta {
        entry,
        kind,
        profile: opt(row, 3, C)?,
        source,
        subject: text(row, 5, C)?,
        issuer: text(row, 6, C)?,
        serial: text(row, 7, C)?,
        not_before: from_ts(int(row, 8, C)?)?,
        not_after: from_ts(int(row, 9, C)?)?,
        sha256: text(row, 10, C)?,
        issuer_sha256: opt(row, 11, C)?,
        stored_at: from_ts(int(row, 12, C)?)?,
    })
}

/// Entry columns ordered as SQLite orders them (bytewise), whatever the database's collation.
const ENTRY_ORDER: &str = "store COLLATE \"C\", alias COLLATE \"C\"";

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

    fn apply_one(
        key: &MasterKey,
        tx: &mut postgres::Transaction<'_>,
        cache: &mut HashMap<String, Statement>,
        change: &Change,
    ) -> Result<(), Error> {
        let mut exec =
            |sql: &str, params: &[&(dyn ToSql + Sync)]| -> Result<u64, postgres::Error> {
                let stmt = prepared(tx, cache, sql)?;
                tx.execute(&stmt, params)
            };
        match change {
            Change::CreateStore(name, at) => {
                exec(
                    "INSERT INTO stores (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&name.as_str(), &ts(*at)],
                )
                .map_err(Error::pg("creating a store"))?;
            }
            Change::PutEntry { entry, replace } => {
                let m = &entry.meta;
                let sealed = entry
                    .key
                    .as_ref()
                    .map(|k| key.seal(k.expose(), &key_context(&m.sha256)))
                    .transpose()?;
                let kind = match m.kind {
                    EntryKind::KeyPair => "keypair",
                    EntryKind::Certificate => "certificate",
                };
                let insert = "INSERT INTO entries (store, alias, kind, profile, source, subject, issuer, serial, not_before, not_after, sha256, issuer_sha256, stored_at, cert, chain, key_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
                let upsert = format!("{insert} ON CONFLICT (store, alias) DO UPDATE SET kind = excluded.kind, profile = excluded.profile, source = excluded.source, subject = excluded.subject, issuer = excluded.issuer, serial = excluded.serial, not_before = excluded.not_before, not_after = excluded.not_after, sha256 = excluded.sha256, issuer_sha256 = excluded.issuer_sha256, stored_at = excluded.stored_at, cert = excluded.cert, chain = excluded.chain, key_sealed = excluded.key_sealed");
                let sql = if *replace { upsert.as_str() } else { insert };
                exec(
                    sql,
                    &[
                        &m.entry.store.as_str(),
                        &m.entry.alias.as_str(),
                        &kind,
                        &m.profile,
                        &m.source.as_str(),
                        &m.subject,
                        &m.issuer,
                        &m.serial,
                        &ts(m.not_before),
                        &ts(m.not_after),
                        &m.sha256,
                        &m.issuer_sha256,
                        &ts(m.stored_at),
                        &entry.cert,
                        &chain_pem(&entry.chain),
                        &sealed,
                    ],
                )
                .map_err(|e| {
                    let constraint = e.as_db_error().and_then(|d| d.constraint());
                    match e.code() {
                        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Error::NotFound {
                            what: "store",
                            name: m.entry.store.to_string(),
                        },
                        Some(c)
                            if *c == SqlState::UNIQUE_VIOLATION
                                && constraint == Some(migrations::ISSUED_SERIAL_INDEX) =>
                        {
                            Error::DuplicateSerial {
                                issuer_sha256: m.issuer_sha256.clone().unwrap_or_default(),
                                serial: m.serial.clone(),
                            }
                        }
                        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::Exists {
                            what: "entry",
                            name: m.entry.to_string(),
                        },
                        _ => Error::pg("writing an entry")(e),
                    }
                })?;
            }
            Change::DeleteEntry(r) => {
                let n = exec(
                    "DELETE FROM entries WHERE store = $1 AND alias = $2",
                    &[&r.store.as_str(), &r.alias.as_str()],
                )
                .map_err(Error::pg("deleting an entry"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "entry",
                        name: r.to_string(),
                    });
                }
            }
            Change::MoveEntry { from, to, at } => {
                let stmt = prepared(
                    tx,
                    cache,
                    "SELECT 1 FROM entries WHERE store = $1 AND alias = $2",
                )
                .map_err(Error::pg("looking up an entry"))?;
                let taken = tx
                    .query_opt(&stmt, &[&to.store.as_str(), &to.alias.as_str()])
                    .map_err(Error::pg("looking up an entry"))?;
                if taken.is_some() {
                    return Err(Error::Exists {
                        what: "entry",
                        name: to.to_string(),
                    });
                }
                let stmt = prepared(tx, cache, "UPDATE entries SET store = $1, alias = $2, stored_at = $3 WHERE store = $4 AND alias = $5")
                    .map_err(Error::pg("moving an entry"))?;
                let n = tx
                    .execute(
                        &stmt,
                        &[
                            &to.store.as_str(),
                            &to.alias.as_str(),
                            &ts(*at),
                            &from.store.as_str(),
                            &from.alias.as_str(),
                        ],
                    )
                    .map_err(|e| match e.code() {
                        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Error::NotFound {
                            what: "store",
                            name: to.store.to_string(),
                        },
                        _ => Error::pg("moving an entry")(e),
                    })?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "entry",
                        name: from.to_string(),
                    });
                }
            }
            Change::SetMeta { key: k, value } => {
                exec("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", &[k, value])
                    .map_err(Error::pg("writing a setting"))?;
            }
            Change::DeleteMeta(k) => {
                exec("DELETE FROM meta WHERE key = $1", &[k])
                    .map_err(Error::pg("deleting a setting"))?;
            }
            Change::PutSecret { name, secret } => {
                let sealed = key.seal(secret.expose(), &format!("secret:{name}"))?;
                exec("INSERT INTO secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed", &[name, &sealed])
                    .map_err(Error::pg("writing a secret"))?;
            }
            Change::DeleteSecret(name) => {
                exec("DELETE FROM secrets WHERE name = $1", &[name])
                    .map_err(Error::pg("deleting a secret"))?;
            }
            Change::PutCrl(c) => {
                exec(
                    "INSERT INTO crls (sha256, issuer, der, this_update, added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                    &[&c.sha256, &c.issuer, &c.der, &ts(c.this_update), &ts(c.added_at)],
                )
                .map_err(Error::pg("writing a CRL"))?;
            }
            Change::PutRevocation(r) => {
                // A second revocation of one certificate is refused (primary key): the
                // first one's time and reason stand.
                exec(
                    "INSERT INTO revocations (issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[&r.issuer_sha256, &r.serial, &r.issuer, &r.subject, &r.entry, &r.reason, &ts(r.revoked_at), &r.revoked_by],
                )
                .map_err(Error::pg("recording a revocation"))?;
            }
            Change::DeleteCrl(sha) => {
                exec("DELETE FROM crls WHERE sha256 = $1", &[sha])
                    .map_err(Error::pg("deleting a CRL"))?;
            }
            Change::PutKeyProvider { provider, at } => {
                exec(
                    "INSERT INTO key_providers (name, primary_key_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET primary_key_id = excluded.primary_key_id",
                    &[&provider.name.as_str(), &provider.primary_key_id, &ts(*at)],
                )
                .map_err(Error::pg("writing a key provider"))?;
                exec(
                    "DELETE FROM key_provider_servers WHERE provider = $1",
                    &[&provider.name.as_str()],
                )
                .map_err(Error::pg("writing a key provider"))?;
                for (i, srv) in provider.servers.iter().enumerate() {
                    exec(
                        "INSERT INTO key_provider_servers (provider, position, address, proxy) VALUES ($1, $2, $3, $4)",
                        &[
                            &provider.name.as_str(),
                            &i64::try_from(i).unwrap_or(i64::MAX),
                            &srv.address.to_string(),
                            &srv.proxy.as_ref().map(ToString::to_string),
                        ],
                    )
                    .map_err(Error::pg("writing a key provider server"))?;
                }
            }
            Change::PutWatch(w) => {
                exec(
                    "DELETE FROM watches WHERE kind = $1 AND name = $2",
                    &[&w.kind.as_str(), &w.name],
                )
                .map_err(Error::pg("replacing a watch"))?;
                let findings = serde_json::to_string(&w.findings)
                    .map_err(|e| Error::Corrupt(format!("encoding findings: {e}")))?;
                let facts = serde_json::to_string(&w.facts)
                    .map_err(|e| Error::Corrupt(format!("encoding facts: {e}")))?;
                exec(
                    "INSERT INTO watches (kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        &w.kind.as_str(),
                        &w.name,
                        &w.target,
                        &w.server_name,
                        &i64::from(w.verify),
                        &ts(w.created_at),
                        &w.scanned_at.map(ts),
                        &w.starttls,
                        &w.pin,
                        &findings,
                        &facts,
                    ],
                )
                .map_err(Error::pg("writing a watch"))?;
            }
            Change::DeleteWatch(kind, name) => {
                let n = exec(
                    "DELETE FROM watches WHERE kind = $1 AND name = $2",
                    &[&kind.as_str(), name],
                )
                .map_err(Error::pg("deleting a watch"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: kind.as_str(),
                        name: name.clone(),
                    });
                }
            }
            Change::RaiseAlarm(a) => {
                exec(
                    "INSERT INTO alarms (kind, subject, raised_at, cleared_at) VALUES ($1, $2, $3, $4)",
                    &[&a.kind.name(), &a.subject, &ts(a.raised_at), &a.cleared_at.map(ts)],
                )
                .map_err(Error::pg("raising an alarm"))?;
            }
            Change::ClearAlarm { kind, subject, at } => {
                let n = exec(
                    "UPDATE alarms SET cleared_at = $3 WHERE kind = $1 AND subject = $2 AND cleared_at IS NULL",
                    &[&kind.name(), subject, &ts(*at)],
                )
                .map_err(Error::pg("clearing an alarm"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "open alarm",
                        name: format!("{kind} {subject}"),
                    });
                }
            }
            Change::PutHost(h) => {
                let ips = h
                    .ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                exec(
                    "INSERT INTO hosts (name, ips, created_at, joined_at, pool_sha256, last_seen) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (name) DO UPDATE SET ips = excluded.ips, joined_at = excluded.joined_at, pool_sha256 = excluded.pool_sha256, last_seen = excluded.last_seen",
                    &[&h.name, &ips, &ts(h.created_at), &h.joined_at.map(ts), &h.pool_sha256, &h.last_seen.map(ts)],
                )
                .map_err(Error::pg("writing a host"))?;
            }
            Change::DeleteHost(name) => {
                // Its tokens, verification, orders and roots go with it (ON DELETE CASCADE).
                let n = exec("DELETE FROM hosts WHERE name = $1", &[name])
                    .map_err(Error::pg("deleting a host"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "host",
                        name: name.clone(),
                    });
                }
            }
            Change::SetHostVerification { host, enabled } => {
                exec(
                    "INSERT INTO host_verification (host, enabled) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET enabled = excluded.enabled",
                    &[host, &i64::from(*enabled)],
                )
                .map_err(host_write("recording a host's verification", host))?;
            }
            Change::SetHostDeployError { host, error } => match error {
                Some(e) => {
                    exec(
                        "INSERT INTO host_deploy (host, error) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET error = excluded.error",
                        &[host, e],
                    )
                    .map_err(host_write("recording a host's deploy problem", host))?;
                }
                None => {
                    exec("DELETE FROM host_deploy WHERE host = $1", &[host])
                        .map_err(Error::pg("clearing a host's deploy problem"))?;
                }
            },
            Change::SetHostRoots { host, roots } => {
                exec("DELETE FROM host_roots WHERE host = $1", &[host])
                    .map_err(Error::pg("recording a host's roots"))?;
                for root in roots {
                    exec(
                        "INSERT INTO host_roots (host, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[host, root],
                    )
                    .map_err(host_write("recording a host's roots", host))?;
                }
            }
            Change::PutHostOrder { host, order, at } => {
                exec(
                    "INSERT INTO host_orders (host, kind, ordered_at) VALUES ($1, $2, $3) ON CONFLICT (host, kind) DO UPDATE SET ordered_at = excluded.ordered_at",
                    &[host, &order.as_str(), &ts(*at)],
                )
                .map_err(host_write("ordering a host", host))?;
            }
            Change::DeleteHostOrder { host, order } => {
                exec(
                    "DELETE FROM host_orders WHERE host = $1 AND kind = $2",
                    &[host, &order.as_str()],
                )
                .map_err(Error::pg("removing a host's order"))?;
            }
            Change::PutAdminCredential(c) => {
                exec(
                    "INSERT INTO admin_credentials (sha256, name, kind, role, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, kind = excluded.kind, role = excluded.role, created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at",
                    &[
                        &c.sha256,
                        &c.name,
                        &c.kind.as_str(),
                        &c.role.as_str(),
                        &c.created_at.map(ts),
                        &c.expires_at.map(ts),
                        &c.revoked_at.map(ts),
                    ],
                )
                .map_err(Error::pg("writing an admin credential"))?;
            }
            Change::RevokeAdminCredentials { name, at } => {
                let n = exec(
                    "UPDATE admin_credentials SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                    &[name, &ts(*at)],
                )
                .map_err(Error::pg("revoking an admin credential"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "admin credential",
                        name: name.clone(),
                    });
                }
            }
            Change::QueueNotification { webhook, body, at } => {
                exec(
                    "INSERT INTO outbox (webhook, body, created_at, attempts, next_attempt, last_error) VALUES ($1, $2, $3, 0, $3, NULL)",
                    &[webhook, body, &ts(*at)],
                )
                .map_err(Error::pg("queueing a notification"))?;
            }
            Change::NotificationFailed {
                id,
                error,
                next_attempt,
            } => {
                let n = exec(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt = $2, last_error = $3 WHERE id = $1",
                    &[id, &ts(*next_attempt), error],
                )
                .map_err(Error::pg("recording a delivery attempt"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "notification",
                        name: id.to_string(),
                    });
                }
            }
            Change::DeleteNotification(id) => {
                exec("DELETE FROM outbox WHERE id = $1", &[id])
                    .map_err(Error::pg("removing a notification"))?;
            }
            Change::PutToken(t) => {
                exec(
                    "INSERT INTO join_tokens (sha256, host, issued_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at",
                    &[&t.sha256, &t.host, &ts(t.issued_at), &ts(t.expires_at), &t.used_at.map(ts)],
                )
                .map_err(Error::pg("writing a join token"))?;
            }
            Change::DeleteKeyProvider(name) => {
                let n = exec(
                    "DELETE FROM key_providers WHERE name = $1",
                    &[&name.as_str()],
                )
                .map_err(Error::pg("deleting a key provider"))?;
                if n == 0 {
                    return Err(Error::NotFound {
                        what: "key provider",
                        name: name.to_string(),
                    });
                }
            }
            Change::DeleteStore(name) => {
                let stmt = prepared(tx, cache, "SELECT COUNT(*) FROM entries WHERE store = $1")
                    .map_err(Error::pg("deleting a store"))?;
                let count: i64 = tx
                    .query_one(&stmt, &[&name.as_str()])
                    .and_then(|r| r.try_get(0))
                    .map_err(Error::pg("deleting a store"))?;
                if count > 0 {
                    return Err(Error::Exists {
                        what: "entries in store",
                        name: name.to_string(),
                    });
                }
                let stmt = prepared(tx, cache, "DELETE FROM stores WHERE name = $1")
                    .map_err(Error::pg("deleting a store"))?;
                tx.execute(&stmt, &[&name.as_str()])
                    .map_err(Error::pg("deleting a store"))?;
            }
            Change::Audit(a) => {
                exec(
                    "INSERT INTO audit (at, action, subject, detail) VALUES ($1, $2, $3, $4)",
                    &[&ts(a.at), &a.action, &a.subject, &a.detail],
                )
                .map_err(Error::pg("writing the audit log"))?;
            }
        }
        Ok(())
    }
}

impl Store for PgStore {
    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.query_opt(
            "SELECT value FROM meta WHERE key = $1",
            &[&key],
            "reading a setting",
        )?
        .map(|r| text(&r, 0, "reading a setting"))
        .transpose()
    }

    fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        const C: &str = "listing stores";
        let rows = self.query(
            "SELECT s.name, s.created_at, (SELECT COUNT(*) FROM entries e WHERE e.store = s.name) FROM stores s ORDER BY s.name COLLATE \"C\"",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                Ok(StoreInfo {
                    name: text(row, 0, C)?
                        .parse()
                        .map_err(|e| Error::Corrupt(format!("{e}")))?,
                    entries: usize::try_from(int(row, 2, C)?).unwrap_or(0),
                    created_at: from_ts(int(row, 1, C)?)?,
                })
            })
            .collect()
    }

    fn entries(&self, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
        let rows = match store {
            Some(s) => self.query(
                &format!(
                    "SELECT {META_COLUMNS} FROM entries WHERE store = $1 ORDER BY {ENTRY_ORDER}"
                ),
                &[&s.as_str()],
                "listing entries",
            )?,
            None => self.query(
                &format!("SELECT {META_COLUMNS} FROM entries ORDER BY {ENTRY_ORDER}"),
                &[],
                "listing entries",
            )?,
        };
        rows.iter().map(row_meta).collect()
    }

    fn entry(&self, r: &EntryRef) -> Result<Option<Entry>, Error> {
        const C: &str = "reading an entry";
        let Some(row) = self.query_opt(
            &format!("SELECT {META_COLUMNS}, cert, chain, key_sealed FROM entries WHERE store = $1 AND alias = $2"),
            &[&r.store.as_str(), &r.alias.as_str()],
            C,
        )?
        else {
            return Ok(None);
        };
        let meta = row_meta(&row)?;
        let cert: Vec<u8> = row.try_get(13).map_err(Error::pg(C))?;
        let chain_text = text(&row, 14, C)?;
        let sealed: Option<Vec<u8>> = opt(&row, 15, C)?;
        let chain = if chain_text.is_empty() {
            Vec::new()
        } else {
            certherd_x509::parse_certificates(chain_text.as_bytes())
                .map_err(|e| Error::Corrupt(format!("chain of {r}: {e}")))?
                .into_iter()
                .map(|c| c.to_vec())
                .collect()
        };
        let key = sealed
            .map(|s| {
                self.key
                    .unseal(&s, &key_context(&meta.sha256))
                    .map_err(|_| Error::Unseal {
                        entry: r.to_string(),
                    })
            })
            .transpose()?
            .map(Secret::new);
        Ok(Some(Entry {
            meta,
            cert,
            chain,
            key,
        }))
    }

    fn secret(&self, name: &str) -> Result<Option<Secret>, Error> {
        let sealed: Option<Vec<u8>> = self
            .query_opt(
                "SELECT sealed FROM secrets WHERE name = $1",
                &[&name],
                "reading a secret",
            )?
            .map(|r| r.try_get(0).map_err(Error::pg("reading a secret")))
            .transpose()?;
        sealed
            .map(|s| {
                self.key
                    .unseal(&s, &format!("secret:{name}"))
                    .map(Secret::new)
            })
            .transpose()
    }

    fn crls(&self) -> Result<Vec<CrlRecord>, Error> {
        const C: &str = "listing CRLs";
        let rows = self.query(
            "SELECT sha256, issuer, der, this_update, added_at FROM crls ORDER BY added_at",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                Ok(CrlRecord {
                    sha256: text(row, 0, C)?,
                    issuer: text(row, 1, C)?,
                    der: row.try_get(2).map_err(Error::pg(C))?,
                    this_update: from_ts(int(row, 3, C)?)?,
                    added_at: from_ts(int(row, 4, C)?)?,
                })
            })
            .collect()
    }

    fn revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        const C: &str = "listing revocations";
        let rows = self.query(
            "SELECT issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by FROM revocations ORDER BY revoked_at, serial COLLATE \"C\"",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                Ok(RevocationRecord {
                    issuer_sha256: text(row, 0, C)?,
                    serial: text(row, 1, C)?,
                    issuer: text(row, 2, C)?,
                    subject: text(row, 3, C)?,
                    entry: text(row, 4, C)?,
                    reason: text(row, 5, C)?,
                    revoked_at: from_ts(int(row, 6, C)?)?,
                    revoked_by: text(row, 7, C)?,
                })
            })
            .collect()
    }

    fn audit_log(&self) -> Result<Vec<AuditRecord>, Error> {
        const C: &str = "reading the audit log";
        let rows = self.query(
            "SELECT at, action, subject, detail FROM audit ORDER BY id",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    at: from_ts(int(row, 0, C)?)?,
                    action: text(row, 1, C)?,
                    subject: text(row, 2, C)?,
                    detail: text(row, 3, C)?,
                })
            })
            .collect()
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
        // One round trip for the four tables: every poll reads this.
        let row = self
            .query_opt(
                "SELECT (SELECT enabled FROM host_verification WHERE host = $1), \
                 ARRAY(SELECT sha256 FROM host_roots WHERE host = $1 ORDER BY sha256 COLLATE \"C\"), \
                 ARRAY(SELECT kind FROM host_orders WHERE host = $1 ORDER BY kind COLLATE \"C\"), \
                 ARRAY(SELECT ordered_at FROM host_orders WHERE host = $1 ORDER BY kind COLLATE \"C\"), \
                 (SELECT error FROM host_deploy WHERE host = $1)",
                &[&host],
                C,
            )?
            .ok_or_else(|| Error::Corrupt(format!("no state row for host {host}")))?;
        let verification: Option<i64> = opt(&row, 0, C)?;
        let roots: Vec<String> = row.try_get(1).map_err(Error::pg(C))?;
        let kinds: Vec<String> = row.try_get(2).map_err(Error::pg(C))?;
        let ordered_at: Vec<i64> = row.try_get(3).map_err(Error::pg(C))?;
        let mut state = HostState {
            verification: verification.map(|v| v != 0),
            roots,
            deploy_error: opt(&row, 4, C)?,
            ..HostState::default()
        };
        if kinds.len() != ordered_at.len() {
            return Err(Error::Corrupt(format!(
                "host {host}: {} order kinds for {} order times",
                kinds.len(),
                ordered_at.len()
            )));
        }
        for (kind, at) in kinds.iter().zip(ordered_at) {
            let at = Some(from_ts(at)?);
            match HostOrder::parse(kind) {
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
        const C: &str = "reading the outbox";
        let rows = self.query(
            "SELECT id, webhook, body, created_at, attempts, next_attempt, last_error FROM outbox ORDER BY id",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                Ok(Notification {
                    id: int(row, 0, C)?,
                    webhook: text(row, 1, C)?,
                    body: text(row, 2, C)?,
                    created_at: from_ts(int(row, 3, C)?)?,
                    attempts: u32::try_from(int(row, 4, C)?).unwrap_or(u32::MAX),
                    next_attempt: from_ts(int(row, 5, C)?)?,
                    last_error: opt(row, 6, C)?,
                })
            })
            .collect()
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
        const C: &str = "listing alarms";
        let rows = self.query(
            "SELECT kind, subject, raised_at, cleared_at FROM alarms ORDER BY raised_at, id",
            &[],
            C,
        )?;
        rows.iter()
            .map(|row| {
                let kind = text(row, 0, C)?;
                Ok(Alarm {
                    kind: kind
                        .parse()
                        .map_err(|_| Error::Corrupt(format!("unknown alarm kind {kind}")))?,
                    subject: text(row, 1, C)?,
                    raised_at: from_ts(int(row, 2, C)?)?,
                    cleared_at: opt::<i64>(row, 3, C)?.map(from_ts).transpose()?,
                })
            })
            .collect()
    }

    fn watches(&self, kind: Option<WatchKind>) -> Result<Vec<Watch>, Error> {
        const C: &str = "listing watches";
        let rows = self.query(
            "SELECT kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts FROM watches WHERE $1::TEXT IS NULL OR kind = $1 ORDER BY kind COLLATE \"C\", name COLLATE \"C\"",
            &[&kind.map(WatchKind::as_str)],
            C,
        )?;
        rows.iter()
            .map(|row| {
                let k = text(row, 0, C)?;
                let name = text(row, 1, C)?;
                let findings = serde_json::from_str(&text(row, 9, C)?).map_err(|e| {
                    Error::Corrupt(format!("watch {name}: findings are not readable: {e}"))
                })?;
                let facts = serde_json::from_str(&text(row, 10, C)?).map_err(|e| {
                    Error::Corrupt(format!("watch {name}: facts are not readable: {e}"))
                })?;
                Ok(Watch {
                    kind: WatchKind::parse(&k)
                        .ok_or_else(|| Error::Corrupt(format!("unknown watch kind {k}")))?,
                    target: text(row, 2, C)?,
                    server_name: opt(row, 3, C)?,
                    verify: int(row, 4, C)? != 0,
                    created_at: from_ts(int(row, 5, C)?)?,
                    scanned_at: opt::<i64>(row, 6, C)?.map(from_ts).transpose()?,
                    starttls: opt(row, 7, C)?,
                    pin: opt(row, 8, C)?,
                    findings,
                    facts,
                    name,
                })
            })
            .collect()
    }

    fn key_providers(&self) -> Result<Vec<KeyProvider>, Error> {
        const C: &str = "listing key providers";
        let providers = self.query(
            "SELECT name, primary_key_id FROM key_providers ORDER BY name COLLATE \"C\"",
            &[],
            C,
        )?;
        let mut out = Vec::new();
        for p in providers {
            let name = text(&p, 0, C)?;
            let servers = self
                .query(
                    "SELECT address, proxy FROM key_provider_servers WHERE provider = $1 ORDER BY position",
                    &[&name],
                    "listing key provider servers",
                )?
                .iter()
                .map(|r| {
                    Ok(KmipServer {
                        address: text(r, 0, C)?
                            .parse()
                            .map_err(|e| Error::Corrupt(format!("{e}")))?,
                        proxy: opt::<String>(r, 1, C)?
                            .map(|p| p.parse())
                            .transpose()
                            .map_err(|e| Error::Corrupt(format!("{e}")))?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            out.push(KeyProvider {
                name: name.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
                primary_key_id: text(&p, 1, C)?,
                servers,
            });
        }
        Ok(out)
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
        for change in changes {
            Self::apply_one(&self.key, &mut tx, statements, change)?;
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
