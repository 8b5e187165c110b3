//! Stores, entries, secrets and settings (`meta`) in PostgreSQL.

use certherd_core::{EntryKind, EntryMeta, EntryRef, Source, StoreName};
use postgres::error::SqlState;
use postgres::Row;

use super::{int, opt, text, Batch, PgStore};
use crate::groups::EntryChange;
use crate::model::{chain_pem, from_ts, key_context, ts, META_COLUMNS};
use crate::{migrations, Entry, Error, MasterKey, Secret, StoreInfo};

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

pub(super) fn meta(db: &PgStore, key: &str) -> Result<Option<String>, Error> {
    db.query_opt(
        "SELECT value FROM meta WHERE key = $1",
        &[&key],
        "reading a setting",
    )?
    .map(|r| text(&r, 0, "reading a setting"))
    .transpose()
}

pub(super) fn stores(db: &PgStore) -> Result<Vec<StoreInfo>, Error> {
    const C: &str = "listing stores";
    let rows = db.query(
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

pub(super) fn entries(db: &PgStore, store: Option<&StoreName>) -> Result<Vec<EntryMeta>, Error> {
    let rows = match store {
        Some(s) => db.query(
            &format!("SELECT {META_COLUMNS} FROM entries WHERE store = $1 ORDER BY {ENTRY_ORDER}"),
            &[&s.as_str()],
            "listing entries",
        )?,
        None => db.query(
            &format!("SELECT {META_COLUMNS} FROM entries ORDER BY {ENTRY_ORDER}"),
            &[],
            "listing entries",
        )?,
    };
    rows.iter().map(row_meta).collect()
}

pub(super) fn entry(db: &PgStore, r: &EntryRef) -> Result<Option<Entry>, Error> {
    const C: &str = "reading an entry";
    let Some(row) = db.query_opt(
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

pub(super) fn secret(db: &PgStore, name: &str) -> Result<Option<Secret>, Error> {
    let sealed: Option<Vec<u8>> = db
        .query_opt(
            "SELECT sealed FROM secrets WHERE name = $1",
            &[&name],
            "reading a secret",
        )?
        .map(|r| r.try_get(0).map_err(Error::pg("reading a secret")))
        .transpose()?;
    sealed
        .map(|s| {
            db.key
                .unseal(&s, &format!("secret:{name}"))
                .map(Secret::new)
        })
        .transpose()
}

/// Whether the database at `url` holds a sealed private key or secret (read without the
/// master key); an empty database does not.
pub(crate) fn holds_sealed_secrets(url: &str) -> Result<bool, Error> {
    let mut client = super::connect(url, "certherd")?;
    if !super::tables(&mut client)?.iter().any(|t| t == "entries") {
        return Ok(false);
    }
    client
        .query_one(crate::model::HOLDS_SEALED_SECRETS, &[])
        .and_then(|r| r.try_get(0))
        .map_err(Error::pg("looking for sealed keys"))
}

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(
    key: &MasterKey,
    b: &mut Batch<'_, '_>,
    change: EntryChange<'_>,
) -> Result<(), Error> {
    match change {
        EntryChange::CreateStore(name, at) => {
            b.exec(
                "INSERT INTO stores (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name.as_str(), &ts(*at)],
            )
            .map_err(Error::pg("creating a store"))?;
        }
        EntryChange::DeleteStore(name) => {
            let count: i64 = b
                .query_one(
                    "SELECT COUNT(*) FROM entries WHERE store = $1",
                    &[&name.as_str()],
                )
                .and_then(|r| r.try_get(0))
                .map_err(Error::pg("deleting a store"))?;
            if count > 0 {
                return Err(Error::Exists {
                    what: "entries in store",
                    name: name.to_string(),
                });
            }
            b.exec("DELETE FROM stores WHERE name = $1", &[&name.as_str()])
                .map_err(Error::pg("deleting a store"))?;
        }
        EntryChange::PutEntry { entry, replace } => {
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
            b.exec(
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
        EntryChange::DeleteEntry(r) => {
            let n = b
                .exec(
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
        EntryChange::MoveEntry { from, to, at } => {
            let taken = b
                .query_opt(
                    "SELECT 1 FROM entries WHERE store = $1 AND alias = $2",
                    &[&to.store.as_str(), &to.alias.as_str()],
                )
                .map_err(Error::pg("looking up an entry"))?;
            if taken.is_some() {
                return Err(Error::Exists {
                    what: "entry",
                    name: to.to_string(),
                });
            }
            let n = b
                .exec(
                    "UPDATE entries SET store = $1, alias = $2, stored_at = $3 WHERE store = $4 AND alias = $5",
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
        EntryChange::SetMeta { key: k, value } => {
            b.exec("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", &[k, value])
                .map_err(Error::pg("writing a setting"))?;
        }
        EntryChange::DeleteMeta(k) => {
            b.exec("DELETE FROM meta WHERE key = $1", &[k])
                .map_err(Error::pg("deleting a setting"))?;
        }
        EntryChange::PutSecret { name, secret } => {
            let sealed = key.seal(secret.expose(), &format!("secret:{name}"))?;
            b.exec("INSERT INTO secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed", &[name, &sealed])
                .map_err(Error::pg("writing a secret"))?;
        }
        EntryChange::DeleteSecret(name) => {
            b.exec("DELETE FROM secrets WHERE name = $1", &[name])
                .map_err(Error::pg("deleting a secret"))?;
        }
    }
    Ok(())
}
