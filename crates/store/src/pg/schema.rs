//! The PostgreSQL schema: the migration files applied once each and recorded, under an
//! advisory lock so that servers starting together migrate once.

use postgres::{Client, GenericClient};

use super::redact_url;
use crate::migrations;
use crate::Error;

/// The advisory lock key that serializes schema migrations of one database ("certherd").
const MIGRATION_LOCK: i64 = 0x6365_7274_6865_7264;

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
pub(super) fn recorded_version(client: &mut Client) -> Result<Option<i64>, Error> {
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
