//! Stores, entries, secrets and settings (`meta`) in PostgreSQL.

use certherd_core::EntryKind;
use postgres::error::SqlState;

use super::Batch;
use crate::groups::EntryChange;
use crate::model::{chain_pem, key_context, ts};
use crate::{migrations, Error, MasterKey};

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
