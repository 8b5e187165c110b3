//! Key providers and their servers in SQLite.

use certherd_core::{KeyProvider, KmipServer};
use rusqlite::{params, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::ProviderChange;
use crate::model::ts;
use crate::Error;

pub(super) fn key_providers(db: &SqliteStore) -> Result<Vec<KeyProvider>, Error> {
    let mut stmt = db
        .conn
        .prepare_cached("SELECT name, primary_key_id FROM key_providers ORDER BY name")
        .map_err(Error::sql("listing key providers"))?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(Error::sql("listing key providers"))?
        .collect::<Result<_, _>>()
        .map_err(Error::sql("listing key providers"))?;
    let mut out = Vec::new();
    for (name, primary_key_id) in rows {
        let mut s = db
            .conn
            .prepare_cached("SELECT address, proxy FROM key_provider_servers WHERE provider = ?1 ORDER BY position")
            .map_err(Error::sql("listing key provider servers"))?;
        let servers = s
            .query_map([&name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(Error::sql("listing key provider servers"))?
            .map(|row| {
                let (address, proxy) = row.map_err(Error::sql("listing key provider servers"))?;
                Ok(KmipServer {
                    address: address
                        .parse()
                        .map_err(|e| Error::Corrupt(format!("{e}")))?,
                    proxy: proxy
                        .map(|p| p.parse())
                        .transpose()
                        .map_err(|e| Error::Corrupt(format!("{e}")))?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.push(KeyProvider {
            name: name.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
            primary_key_id,
            servers,
        });
    }
    Ok(out)
}

/// Applies one change of this group inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, change: ProviderChange<'_>) -> Result<(), Error> {
    match change {
        ProviderChange::PutKeyProvider { provider, at } => {
            tx.execute_cached(
                "INSERT INTO key_providers (name, primary_key_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET primary_key_id = excluded.primary_key_id",
                params![provider.name.as_str(), provider.primary_key_id, ts(*at)],
            )
            .map_err(Error::sql("writing a key provider"))?;
            tx.execute_cached(
                "DELETE FROM key_provider_servers WHERE provider = ?1",
                [provider.name.as_str()],
            )
            .map_err(Error::sql("writing a key provider"))?;
            for (i, srv) in provider.servers.iter().enumerate() {
                tx.execute_cached(
                    "INSERT INTO key_provider_servers (provider, position, address, proxy) VALUES (?1, ?2, ?3, ?4)",
                    params![provider.name.as_str(), i64::try_from(i).unwrap_or(i64::MAX), srv.address.to_string(), srv.proxy.as_ref().map(ToString::to_string)],
                )
                .map_err(Error::sql("writing a key provider server"))?;
            }
        }
        ProviderChange::DeleteKeyProvider(name) => {
            let n = tx
                .execute_cached("DELETE FROM key_providers WHERE name = ?1", [name.as_str()])
                .map_err(Error::sql("deleting a key provider"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "key provider",
                    name: name.to_string(),
                });
            }
        }
    }
    Ok(())
}
