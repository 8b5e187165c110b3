//! The SQLite schema: the migration files applied once each and recorded, and the upgrade
//! of homes from before migration files (schema versions 1 to 4).

use std::path::Path;

use rusqlite::{params, Connection, Transaction};

use crate::migrations;
use crate::{Error, HostOrder};

/// The last `PRAGMA user_version` of the time before migration files: a home at this
/// version has exactly the schema of migration 1.
const LEGACY_VERSION: i64 = 4;

/// Legacy schema versions this release upgrades in place (to version 4, then migration 1
/// is recorded as applied): version 2 only added tables, which the idempotent migration 1
/// creates; version 3 replaced the watches' one problem and `k=v` detail with every
/// finding and typed facts (JSON), and added STARTTLS and pins; version 4 moved the
/// fleet's state (verification, orders, held roots, admin credentials) from `meta` keys
/// into tables whose rows go with their host, and added the webhook outbox.
const UPGRADABLE: &[i64] = &[1, 2, 3, 4];

/// `PRAGMA user_version` once migration `version` is applied: 3 + `version`, so that a
/// certherd from before migration files (which knew 4 at most) refuses a newer file.
fn user_version(version: i64) -> i64 {
    LEGACY_VERSION - 1 + version
}

/// The `meta` key prefixes version 3 kept fleet state under.
const V3_VERIFICATION: &str = "fleet.host.verification.";
const V3_REFRESH: &str = "fleet.order.refresh-pool.";
const V3_RENEW: &str = "fleet.order.renew.";
const V3_ROOTS: &str = "fleet.host.roots.";
const V3_ADMIN: &str = "admin.credential.";

/// The highest migration recorded in `schema_migrations`, if that table exists.
fn recorded_version(conn: &Connection) -> Result<Option<i64>, Error> {
    let sql = Error::sql("reading the schema version");
    let has_table: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |r| r.get(0),
        )
        .map_err(&sql)?;
    if has_table == 0 {
        return Ok(None);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map(Some)
    .map_err(&sql)
}

/// Brings the database at `path` to the newest schema: a home from before migration files
/// (schema versions 1 to 4) is upgraded to version 4 and recorded as at migration 1; then
/// every migration not recorded is applied, in order, in one transaction.
pub(super) fn migrate(conn: &Connection, path: &Path) -> Result<(), Error> {
    let latest = migrations::latest();
    let too_new = |found: i64| Error::SchemaTooNew {
        database: path.display().to_string(),
        found,
        supported: latest,
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::sql("reading the schema version"))?;
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(Error::sql("reading the schema"))?;
    match recorded_version(conn)? {
        Some(found) if found > latest => return Err(too_new(found)),
        Some(found) if found == latest => return Ok(()),
        Some(_) => {}
        None if tables > 0 => {
            if version > LEGACY_VERSION {
                return Err(too_new(version - (LEGACY_VERSION - 1)));
            }
            if !UPGRADABLE.contains(&version) {
                return Err(Error::Corrupt(format!(
                    "{} has schema version {version}, which no certherd release made",
                    path.display()
                )));
            }
            legacy_upgrade(conn)?;
        }
        None => {}
    }
    // Another process may be migrating the same file: the write lock first, then the
    // recorded version again.
    let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(Error::sql("starting the schema migration"))?;
    tx.execute_batch(migrations::TABLE)
        .map_err(Error::sql("creating schema_migrations"))?;
    let mut done = recorded_version(&tx)?.unwrap_or(0);
    if done > latest {
        return Err(too_new(done));
    }
    if done == 0 && tables > 0 {
        // A legacy home, now at version 4: the schema of migration 1.
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?1, CAST(strftime('%s', 'now') AS INTEGER))",
            [migrations::SQLITE[0].name],
        )
        .map_err(Error::sql("recording the schema version"))?;
        done = 1;
    }
    let recorded = done;
    for m in migrations::SQLITE.iter().filter(|m| m.version > recorded) {
        tx.execute_batch(m.sql).map_err(|source| Error::Migration {
            version: m.version,
            name: m.name,
            source: Box::new(Error::Sqlite {
                context: "applying a migration",
                source,
            }),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
            params![m.version, m.name],
        )
        .map_err(Error::sql("recording the schema version"))?;
        done = m.version;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {};", user_version(done)))
        .map_err(Error::sql("writing the schema version"))?;
    tx.commit()
        .map_err(Error::sql("committing the schema migration"))
}

/// The upgrade of a home of schema version 1 to 3 to version 4, as releases before
/// migration files did it.
fn legacy_upgrade(conn: &Connection) -> Result<(), Error> {
    let old_watches: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('watches') WHERE name = 'detail'",
            [],
            |r| r.get(0),
        )
        .map_err(Error::sql("reading the schema"))?;
    if old_watches > 0 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {} COMMIT;",
            watches_v3_migration()
        ))
        .map_err(Error::sql("upgrading the watches table"))?;
    }
    let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(Error::sql("starting the upgrade"))?;
    let now_version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::sql("reading the schema version"))?;
    // Migration 1 is idempotent: it adds what versions 1 to 3 lack.
    tx.execute_batch(migrations::SQLITE[0].sql)
        .map_err(Error::sql("creating the schema"))?;
    if now_version < LEGACY_VERSION {
        fleet_v4_migration(&tx)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {LEGACY_VERSION};"))
        .map_err(Error::sql("writing the schema version"))?;
    tx.commit().map_err(Error::sql("committing the upgrade"))
}

/// Moves version 3's fleet `meta` keys into their tables, inside `tx`: state of a host that
/// no longer exists (left behind by `host remove`) is dropped; join tokens get their host
/// as parent.
fn fleet_v4_migration(tx: &Transaction<'_>) -> Result<(), Error> {
    let sql = Error::sql("moving fleet state into its tables");
    tx.execute_batch(
        "CREATE TABLE join_tokens_v4 (
            sha256 TEXT PRIMARY KEY,
            host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
            issued_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            used_at BIGINT
        );
        INSERT INTO join_tokens_v4 (sha256, host, issued_at, expires_at, used_at)
            SELECT sha256, host, issued_at, expires_at, used_at FROM join_tokens
            WHERE host IN (SELECT name FROM hosts);
        DROP TABLE join_tokens;
        ALTER TABLE join_tokens_v4 RENAME TO join_tokens;
        CREATE INDEX IF NOT EXISTS join_tokens_by_host ON join_tokens (host);",
    )
    .map_err(&sql)?;
    let rows: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT key, value FROM meta WHERE substr(key, 1, 6) IN ('fleet.', 'admin.')")
            .map_err(&sql)?;
        let mapped = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&sql)?;
        mapped.collect::<Result<_, _>>().map_err(&sql)?
    };
    for (key, value) in rows {
        let host_exists = |host: &str| -> Result<bool, Error> {
            tx.query_row("SELECT COUNT(*) FROM hosts WHERE name = ?1", [host], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(&sql)
        };
        if let Some(host) = key.strip_prefix(V3_VERIFICATION) {
            if host_exists(host)? {
                tx.execute(
                    "INSERT OR REPLACE INTO host_verification (host, enabled) VALUES (?1, ?2)",
                    params![host, i64::from(value == "enabled")],
                )
                .map_err(&sql)?;
            }
        } else if let Some((host, kind)) = key
            .strip_prefix(V3_RENEW)
            .map(|h| (h, HostOrder::Renew))
            .or_else(|| {
                key.strip_prefix(V3_REFRESH)
                    .map(|h| (h, HostOrder::RefreshPool))
            })
        {
            if host_exists(host)? {
                tx.execute(
                    "INSERT OR REPLACE INTO host_orders (host, kind, ordered_at) VALUES (?1, ?2, ?3)",
                    params![host, kind.as_str(), value.parse::<i64>().unwrap_or(0)],
                )
                .map_err(&sql)?;
            }
        } else if let Some(host) = key.strip_prefix(V3_ROOTS) {
            if host_exists(host)? {
                for root in value.split(',').filter(|r| !r.is_empty()) {
                    tx.execute(
                        "INSERT OR IGNORE INTO host_roots (host, sha256) VALUES (?1, ?2)",
                        [host, root],
                    )
                    .map_err(&sql)?;
                }
            }
        } else if let Some(sha) = key.strip_prefix(V3_ADMIN) {
            tx.execute(
                "INSERT OR REPLACE INTO admin_credentials (sha256, name) VALUES (?1, ?2)",
                [sha, value.as_str()],
            )
            .map_err(&sql)?;
        } else {
            continue;
        }
        tx.execute("DELETE FROM meta WHERE key = ?1", [&key])
            .map_err(&sql)?;
    }
    Ok(())
}

/// The watches table's columns: endpoints and files with their last scan's findings and
/// facts (JSON).
const WATCHES_COLUMNS: &str = "kind TEXT NOT NULL, name TEXT NOT NULL, target TEXT NOT NULL, server_name TEXT, verify INTEGER NOT NULL, created_at BIGINT NOT NULL, scanned_at BIGINT, starttls TEXT, pin TEXT, findings TEXT NOT NULL, facts TEXT NOT NULL, PRIMARY KEY (kind, name)";

/// Version 2's watches keep their definitions; their findings come back at the next scan.
fn watches_v3_migration() -> String {
    format!(
        "CREATE TABLE watches_v3 ({WATCHES_COLUMNS});
INSERT INTO watches_v3 (kind, name, target, server_name, verify, created_at, scanned_at, starttls, pin, findings, facts)
    SELECT kind, name, target, server_name, verify, created_at, NULL, NULL, NULL, '[]', '{{\"type\":\"none\"}}' FROM watches;
DROP TABLE watches;
ALTER TABLE watches_v3 RENAME TO watches;"
    )
}
