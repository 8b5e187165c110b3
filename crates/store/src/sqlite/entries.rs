//! Stores, entries, secrets and settings (`meta`) in SQLite.

use certherd_core::{EntryKind, EntryMeta, EntryRef, Source, StoreName};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::EntryChange;
use crate::model::{chain_pem, from_ts, key_context, ts, META_COLUMNS};
use crate::{Entry, Error, MasterKey, Secret, StoreInfo};

/// Writes a new entry; fails on the primary key if it exists, on the foreign key if its
/// store does not.
const INSERT_ENTRY: &str = "INSERT INTO entries (store, alias, kind, profile, source, subject, issuer, serial, not_before, not_after, sha256, issuer_sha256, stored_at, cert, chain, key_sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Writes an entry, replacing every column of one that exists under the same alias.
const UPSERT_ENTRY: &str = "INSERT INTO entries (store, alias, kind, profile, source, subject, issuer, serial, not_before, not_after, sha256, issuer_sha256, stored_at, cert, chain, key_sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
    ON CONFLICT (store, alias) DO UPDATE SET kind = excluded.kind, profile = excluded.profile, source = excluded.source, subject = excluded.subject, issuer = excluded.issuer, serial = excluded.serial, not_before = excluded.not_before, not_after = excluded.not_after, sha256 = excluded.sha256, issuer_sha256 = excluded.issuer_sha256, stored_at = excluded.stored_at, cert = excluded.cert, chain = excluded.chain, key_sealed = excluded.key_sealed";

fn row_meta(row: &rusqlite::Row<'_>) -> Result<EntryMeta, Error> {
    let get_s = |i: usize| {
        row.get::<_, String>(i)
            .map_err(Error::sql("reading an entry"))
    };
    let store: String = get_s(0)?;
    let alias: String = get_s(1)?;
    let entry = EntryRef::new(
        store.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
        alias.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
    );
    let kind = match get_s(2)?.as_str() {
        "keypair" => EntryKind::KeyPair,
        _ => EntryKind::Certificate,
    };
    let source_s = get_s(4)?;
    let source = Source::parse(&source_s)
        .ok_or_else(|| Error::Corrupt(format!("unknown source {source_s}")))?;
    let int = |i: usize| row.get::<_, i64>(i).map_err(Error::sql("reading an entry"));
    Ok(EntryMeta {
        entry,
        kind,
        profile: row.get(3).map_err(Error::sql("reading an entry"))?,
        source,
        subject: get_s(5)?,
        issuer: get_s(6)?,
        serial: get_s(7)?,
        not_before: from_ts(int(8)?)?,
        not_after: from_ts(int(9)?)?,
        sha256: get_s(10)?,
        issuer_sha256: row.get(11).map_err(Error::sql("reading an entry"))?,
        stored_at: from_ts(int(12)?)?,
    })
}

pub(super) fn meta(db: &SqliteStore, key: &str) -> Result<Option<String>, Error> {
    db.conn
        .query_row_cached("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(Error::sql("reading a setting"))
}

pub(super) fn stores(db: &SqliteStore) -> Result<Vec<StoreInfo>, Error> {
    let mut stmt = db
        .conn
        .prepare("SELECT s.name, s.created_at, (SELECT COUNT(*) FROM entries e WHERE e.store = s.name) FROM stores s ORDER BY s.name")
        .map_err(Error::sql("listing stores"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(Error::sql("listing stores"))?;
    rows.map(|row| {
        let (name, created, count) = row.map_err(Error::sql("listing stores"))?;
        Ok(StoreInfo {
            name: name.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
            entries: usize::try_from(count).unwrap_or(0),
            created_at: from_ts(created)?,
        })
    })
    .collect()
}

pub(super) fn entries(
    db: &SqliteStore,
    store: Option<&StoreName>,
) -> Result<Vec<EntryMeta>, Error> {
    let sql = match store {
        Some(_) => {
            format!("SELECT {META_COLUMNS} FROM entries WHERE store = ?1 ORDER BY store, alias")
        }
        None => format!("SELECT {META_COLUMNS} FROM entries ORDER BY store, alias"),
    };
    let mut stmt = db
        .conn
        .prepare_cached(&sql)
        .map_err(Error::sql("listing entries"))?;
    let mut rows = match store {
        Some(s) => stmt.query([s.as_str()]),
        None => stmt.query([]),
    }
    .map_err(Error::sql("listing entries"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(Error::sql("listing entries"))? {
        out.push(row_meta(row)?);
    }
    Ok(out)
}

pub(super) fn entry(db: &SqliteStore, r: &EntryRef) -> Result<Option<Entry>, Error> {
    let mut stmt = db
        .conn
        .prepare_cached(&format!("SELECT {META_COLUMNS}, cert, chain, key_sealed FROM entries WHERE store = ?1 AND alias = ?2"))
        .map_err(Error::sql("reading an entry"))?;
    let mut rows = stmt
        .query([r.store.as_str(), r.alias.as_str()])
        .map_err(Error::sql("reading an entry"))?;
    let Some(row) = rows.next().map_err(Error::sql("reading an entry"))? else {
        return Ok(None);
    };
    let meta = row_meta(row)?;
    let cert: Vec<u8> = row.get(13).map_err(Error::sql("reading an entry"))?;
    let chain_text: String = row.get(14).map_err(Error::sql("reading an entry"))?;
    let sealed: Option<Vec<u8>> = row.get(15).map_err(Error::sql("reading an entry"))?;
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
            db.key
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

pub(super) fn secret(db: &SqliteStore, name: &str) -> Result<Option<Secret>, Error> {
    let sealed: Option<Vec<u8>> = db
        .conn
        .query_row("SELECT sealed FROM secrets WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(Error::sql("reading a secret"))?;
    sealed
        .map(|s| {
            db.key
                .unseal(&s, &format!("secret:{name}"))
                .map(Secret::new)
        })
        .transpose()
}

/// Applies one change of this group inside `tx`.
pub(super) fn apply(
    key: &MasterKey,
    tx: &Transaction<'_>,
    change: EntryChange<'_>,
) -> Result<(), Error> {
    match change {
        EntryChange::CreateStore(name, at) => {
            tx.execute_cached("INSERT INTO stores (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING", params![name.as_str(), ts(*at)])
                .map_err(Error::sql("creating a store"))?;
        }
        EntryChange::DeleteStore(name) => {
            let count: i64 = tx
                .query_row_cached(
                    "SELECT COUNT(*) FROM entries WHERE store = ?1",
                    [name.as_str()],
                    |r| r.get(0),
                )
                .map_err(Error::sql("deleting a store"))?;
            if count > 0 {
                return Err(Error::Exists {
                    what: "entries in store",
                    name: name.to_string(),
                });
            }
            tx.execute_cached("DELETE FROM stores WHERE name = ?1", [name.as_str()])
                .map_err(Error::sql("deleting a store"))?;
        }
        EntryChange::PutEntry { entry, replace } => {
            // One statement per entry: the primary key says whether it exists and the
            // foreign key whether its store does, so a bulk write (a scan of a whole
            // disk) costs no lookups of its own.
            let m = &entry.meta;
            let sealed = entry
                .key
                .as_ref()
                .map(|k| key.seal(k.expose(), &key_context(&m.sha256)))
                .transpose()?;
            let sql = if *replace { UPSERT_ENTRY } else { INSERT_ENTRY };
            tx.execute_cached(
                sql,
                params![
                    m.entry.store.as_str(),
                    m.entry.alias.as_str(),
                    match m.kind {
                        EntryKind::KeyPair => "keypair",
                        EntryKind::Certificate => "certificate",
                    },
                    m.profile,
                    m.source.as_str(),
                    m.subject,
                    m.issuer,
                    m.serial,
                    ts(m.not_before),
                    ts(m.not_after),
                    m.sha256,
                    m.issuer_sha256,
                    ts(m.stored_at),
                    entry.cert,
                    chain_pem(&entry.chain),
                    sealed,
                ],
            )
            .map_err(|e| match e.sqlite_error().map(|f| f.extended_code) {
                Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => Error::NotFound {
                    what: "store",
                    name: m.entry.store.to_string(),
                },
                // Only the index of issued serials is a UNIQUE constraint of entries.
                Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) => Error::DuplicateSerial {
                    issuer_sha256: m.issuer_sha256.clone().unwrap_or_default(),
                    serial: m.serial.clone(),
                },
                Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => Error::Exists {
                    what: "entry",
                    name: m.entry.to_string(),
                },
                _ => Error::sql("writing an entry")(e),
            })?;
        }
        EntryChange::DeleteEntry(r) => {
            let n = tx
                .execute(
                    "DELETE FROM entries WHERE store = ?1 AND alias = ?2",
                    [r.store.as_str(), r.alias.as_str()],
                )
                .map_err(Error::sql("deleting an entry"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "entry",
                    name: r.to_string(),
                });
            }
        }
        EntryChange::MoveEntry { from, to, at } => {
            let taken: Option<i64> = tx
                .query_row_cached(
                    "SELECT 1 FROM entries WHERE store = ?1 AND alias = ?2",
                    [to.store.as_str(), to.alias.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sql("looking up an entry"))?;
            if taken.is_some() {
                return Err(Error::Exists {
                    what: "entry",
                    name: to.to_string(),
                });
            }
            let n = tx
                .execute(
                    "UPDATE entries SET store = ?1, alias = ?2, stored_at = ?3 WHERE store = ?4 AND alias = ?5",
                    params![to.store.as_str(), to.alias.as_str(), ts(*at), from.store.as_str(), from.alias.as_str()],
                )
                .map_err(Error::sql("moving an entry"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "entry",
                    name: from.to_string(),
                });
            }
        }
        EntryChange::SetMeta { key, value } => {
            tx.execute_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
                .map_err(Error::sql("writing a setting"))?;
        }
        EntryChange::DeleteMeta(key) => {
            tx.execute_cached("DELETE FROM meta WHERE key = ?1", [key])
                .map_err(Error::sql("deleting a setting"))?;
        }
        EntryChange::PutSecret { name, secret } => {
            let sealed = key.seal(secret.expose(), &format!("secret:{name}"))?;
            tx.execute_cached("INSERT INTO secrets (name, sealed) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed", params![name, sealed])
                .map_err(Error::sql("writing a secret"))?;
        }
        EntryChange::DeleteSecret(name) => {
            tx.execute_cached("DELETE FROM secrets WHERE name = ?1", [name])
                .map_err(Error::sql("deleting a secret"))?;
        }
    }
    Ok(())
}
