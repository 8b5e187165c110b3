//! The fleet in SQLite: hosts and the rows that go with them (join tokens, reported
//! verification, held roots, orders, deploy problems), admin credentials, and leases.

use certherd_core::{Host, JoinToken, OffsetDateTime};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::FleetChange;
use crate::model::{from_ts, ts};
use crate::{AdminCredential, AdminRole, CredentialKind, Error, HostOrder, HostState, Lease};

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

/// Hosts matching `condition` (SQL with one parameter, `?1`), by name.
fn hosts_where(db: &SqliteStore, condition: &str, value: &str) -> Result<Vec<Host>, Error> {
    let mut stmt = db
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
        let (name, ips, created, joined, pool, seen) = row.map_err(Error::sql("listing hosts"))?;
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

const ADMIN_CREDENTIAL_COLUMNS: &str =
    "sha256, name, kind, role, created_at, expires_at, revoked_at, cert";

/// An `admin_credentials` row as read.
type AdminCredentialRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<u8>>,
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
        r.get(7)?,
    ))
}

fn admin_credential_of(row: AdminCredentialRow) -> Result<AdminCredential, Error> {
    let (sha256, name, kind, role, created, expires, revoked, cert) = row;
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
        cert,
    })
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

pub(super) fn hosts(db: &SqliteStore) -> Result<Vec<Host>, Error> {
    hosts_where(db, "?1 = ?1", "")
}

pub(super) fn host(db: &SqliteStore, name: &str) -> Result<Option<Host>, Error> {
    Ok(hosts_where(db, "name = ?1", name)?.into_iter().next())
}

pub(super) fn host_any_case(db: &SqliteStore, name: &str) -> Result<Option<Host>, Error> {
    // `lower(name)` is what index hosts_lower_name (migration 7) holds.
    Ok(hosts_where(db, "lower(name) = lower(?1)", name)?
        .into_iter()
        .next())
}

pub(super) fn host_by_pool(db: &SqliteStore, pool_sha256: &str) -> Result<Option<Host>, Error> {
    Ok(hosts_where(db, "pool_sha256 = ?1", pool_sha256)?
        .into_iter()
        .next())
}

pub(super) fn host_state(db: &SqliteStore, host: &str) -> Result<HostState, Error> {
    let sql = Error::sql("reading a host's state");
    let verification: Option<i64> = db
        .conn
        .query_row_cached(
            "SELECT enabled FROM host_verification WHERE host = ?1",
            [host],
            |r| r.get(0),
        )
        .optional()
        .map_err(&sql)?;
    let roots: Vec<String> = {
        let mut stmt = db
            .conn
            .prepare_cached("SELECT sha256 FROM host_roots WHERE host = ?1 ORDER BY sha256")
            .map_err(&sql)?;
        let rows = stmt.query_map([host], |r| r.get(0)).map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(&sql)?
    };
    let orders: Vec<(String, i64)> = {
        let mut stmt = db
            .conn
            .prepare_cached("SELECT kind, ordered_at FROM host_orders WHERE host = ?1")
            .map_err(&sql)?;
        let rows = stmt
            .query_map([host], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(&sql)?
    };
    let deploy_error: Option<String> = db
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

pub(super) fn admin_credential(
    db: &SqliteStore,
    sha256: &str,
) -> Result<Option<AdminCredential>, Error> {
    let sql = Error::sql("reading an admin credential");
    let row = db
        .conn
        .query_row_cached(
            &format!("SELECT {ADMIN_CREDENTIAL_COLUMNS} FROM admin_credentials WHERE sha256 = ?1"),
            [sha256],
            admin_credential_row,
        )
        .optional()
        .map_err(sql)?;
    row.map(admin_credential_of).transpose()
}

pub(super) fn admin_credentials(db: &SqliteStore) -> Result<Vec<AdminCredential>, Error> {
    let sql = Error::sql("reading the admin credentials");
    let mut stmt = db
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

pub(super) fn join_token(db: &SqliteStore, sha256: &str) -> Result<Option<JoinToken>, Error> {
    let row: Option<(String, i64, i64, Option<i64>)> = db
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

pub(super) fn take_lease(
    db: &mut SqliteStore,
    name: &str,
    holder: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Lease, Error> {
    let sql = Error::sql("taking a lease");
    // IMMEDIATE: the write lock first, so that the lease read back is the one written.
    let tx =
        rusqlite::Transaction::new_unchecked(&db.conn, rusqlite::TransactionBehavior::Immediate)
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

pub(super) fn release_lease(db: &mut SqliteStore, name: &str, holder: &str) -> Result<(), Error> {
    db.conn
        .execute(
            "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        )
        .map(drop)
        .map_err(Error::sql("giving up a lease"))
}

pub(super) fn lease(db: &SqliteStore, name: &str) -> Result<Option<Lease>, Error> {
    read_lease(&db.conn, name)
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
                "INSERT INTO admin_credentials (sha256, name, kind, role, created_at, expires_at, revoked_at, cert) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, kind = excluded.kind, role = excluded.role, created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at, cert = excluded.cert",
                params![
                    c.sha256,
                    c.name,
                    c.kind.as_str(),
                    c.role.as_str(),
                    c.created_at.map(ts),
                    c.expires_at.map(ts),
                    c.revoked_at.map(ts),
                    c.cert
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
