//! Key providers and their servers in PostgreSQL.

use certherd_core::{KeyProvider, KmipServer};

use super::{opt, text, Batch, PgStore};
use crate::groups::ProviderChange;
use crate::model::ts;
use crate::Error;

pub(super) fn key_providers(db: &PgStore) -> Result<Vec<KeyProvider>, Error> {
    const C: &str = "listing key providers";
    let providers = db.query(
        "SELECT name, primary_key_id FROM key_providers ORDER BY name COLLATE \"C\"",
        &[],
        C,
    )?;
    let mut out = Vec::new();
    for p in providers {
        let name = text(&p, 0, C)?;
        let servers = db
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

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, change: ProviderChange<'_>) -> Result<(), Error> {
    match change {
        ProviderChange::PutKeyProvider { provider, at } => {
            b.exec(
                "INSERT INTO key_providers (name, primary_key_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET primary_key_id = excluded.primary_key_id",
                &[&provider.name.as_str(), &provider.primary_key_id, &ts(*at)],
            )
            .map_err(Error::pg("writing a key provider"))?;
            b.exec(
                "DELETE FROM key_provider_servers WHERE provider = $1",
                &[&provider.name.as_str()],
            )
            .map_err(Error::pg("writing a key provider"))?;
            for (i, srv) in provider.servers.iter().enumerate() {
                b.exec(
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
        ProviderChange::DeleteKeyProvider(name) => {
            let n = b
                .exec(
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
    }
    Ok(())
}
