//! The fleet in SQLite: hosts and the rows that go with them (join tokens, reported
//! verification, held roots, orders, deploy problems), admin credentials, and leases.

use rusqlite::{params, Transaction};

use super::Cached;
use crate::groups::FleetChange;
use crate::model::ts;
use crate::Error;

/// Maps a write about a host's state: a missing host (the foreign key) is `NotFound`.
fn host_write<'a>(context: &'static str, host: &'a str) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |e| match e.sqlite_error().map(|f| f.extended_code) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => Error::NotFound {
            what: "host",
            name: host.to_owned(),
        },
        _ => Error::sql(context)(e),
    }
}

/// Applies one change of this group inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, change: FleetChange<'_>) -> Result<(), Error> {
    match change {
        FleetChange::PutHost(h) => {
            let ips = h
                .ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            tx.execute_cached(
                "INSERT INTO hosts (name, ips, created_at, joined_at, pool_sha256, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (name) DO UPDATE SET ips = excluded.ips, joined_at = excluded.joined_at, pool_sha256 = excluded.pool_sha256, last_seen = excluded.last_seen",
                params![h.name, ips, ts(h.created_at), h.joined_at.map(ts), h.pool_sha256, h.last_seen.map(ts)],
            )
            .map_err(Error::sql("writing a host"))?;
        }
        FleetChange::DeleteHost(name) => {
            // Its tokens, verification, orders and roots go with it (ON DELETE CASCADE).
            let n = tx
                .execute_cached("DELETE FROM hosts WHERE name = ?1", [name])
                .map_err(Error::sql("deleting a host"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "host",
                    name: name.clone(),
                });
            }
        }
        FleetChange::PutToken(t) => {
            tx.execute_cached(
                "INSERT INTO join_tokens (sha256, host, issued_at, expires_at, used_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at",
                params![t.sha256, t.host, ts(t.issued_at), ts(t.expires_at), t.used_at.map(ts)],
            )
            .map_err(Error::sql("writing a join token"))?;
        }
        FleetChange::SetHostVerification { host, enabled } => {
            tx.execute_cached(
                "INSERT INTO host_verification (host, enabled) VALUES (?1, ?2) ON CONFLICT (host) DO UPDATE SET enabled = excluded.enabled",
                params![host, i64::from(*enabled)],
            )
            .map_err(host_write("recording a host's verification", host))?;
        }
        FleetChange::SetHostDeployError { host, error } => match error {
            Some(e) => {
                tx.execute_cached(
                    "INSERT INTO host_deploy (host, error) VALUES (?1, ?2) ON CONFLICT (host) DO UPDATE SET error = excluded.error",
                    params![host, e],
                )
                .map_err(host_write("recording a host's deploy problem", host))?;
            }
            None => {
                tx.execute_cached("DELETE FROM host_deploy WHERE host = ?1", [host])
                    .map_err(Error::sql("clearing a host's deploy problem"))?;
            }
        },
        FleetChange::SetHostRoots { host, roots } => {
            tx.execute_cached("DELETE FROM host_roots WHERE host = ?1", [host])
                .map_err(Error::sql("recording a host's roots"))?;
            for root in roots {
                tx.execute_cached(
                    "INSERT INTO host_roots (host, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    [host, root],
                )
                .map_err(host_write("recording a host's roots", host))?;
            }
        }
        FleetChange::PutHostOrder { host, order, at } => {
            tx.execute_cached(
                "INSERT INTO host_orders (host, kind, ordered_at) VALUES (?1, ?2, ?3) ON CONFLICT (host, kind) DO UPDATE SET ordered_at = excluded.ordered_at",
                params![host, order.as_str(), ts(*at)],
            )
            .map_err(host_write("ordering a host", host))?;
        }
        FleetChange::DeleteHostOrder { host, order } => {
            tx.execute_cached(
                "DELETE FROM host_orders WHERE host = ?1 AND kind = ?2",
                [host.as_str(), order.as_str()],
            )
            .map_err(Error::sql("removing a host's order"))?;
        }
        FleetChange::PutAdminCredential(c) => {
            tx.execute_cached(
                "INSERT INTO admin_credentials (sha256, name, kind, role, created_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, kind = excluded.kind, role = excluded.role, created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at",
                params![
                    c.sha256,
                    c.name,
                    c.kind.as_str(),
                    c.role.as_str(),
                    c.created_at.map(ts),
                    c.expires_at.map(ts),
                    c.revoked_at.map(ts)
                ],
            )
            .map_err(Error::sql("writing an admin credential"))?;
        }
        FleetChange::RevokeAdminCredentials { name, at } => {
            let n = tx
                .execute_cached(
                    "UPDATE admin_credentials SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                    params![name, ts(*at)],
                )
                .map_err(Error::sql("revoking an admin credential"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "admin credential",
                    name: name.clone(),
                });
            }
        }
    }
    Ok(())
}
