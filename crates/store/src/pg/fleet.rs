//! The fleet in PostgreSQL: hosts and the rows that go with them (join tokens, reported
//! verification, held roots, orders, deploy problems), admin credentials, and leases.

use certherd_core::{Host, JoinToken};
use postgres::error::SqlState;
use postgres::Row;

use super::{int, opt, prepared, text, Batch, Conn, PgStore};
use crate::groups::FleetChange;
use crate::model::{from_ts, ts};
use crate::{AdminCredential, AdminRole, CredentialKind, Error, HostOrder, HostState, Lease};

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
        cert: opt::<Vec<u8>>(row, 7, context)?,
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

pub(super) fn hosts(db: &PgStore) -> Result<Vec<Host>, Error> {
    hosts_from(db.query(
        "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts ORDER BY name COLLATE \"C\"",
        &[],
        "listing hosts",
    )?)
}

pub(super) fn host(db: &PgStore, name: &str) -> Result<Option<Host>, Error> {
    Ok(hosts_from(db.query(
        "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE name = $1",
        &[&name],
        "listing hosts",
    )?)?
    .into_iter()
    .next())
}

pub(super) fn host_any_case(db: &PgStore, name: &str) -> Result<Option<Host>, Error> {
    // `lower(name)` is what index hosts_lower_name (migration 7) holds.
    Ok(hosts_from(db.query(
        "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE lower(name) = lower($1) ORDER BY name COLLATE \"C\" LIMIT 1",
        &[&name],
        "listing hosts",
    )?)?
    .into_iter()
    .next())
}

pub(super) fn host_by_pool(db: &PgStore, pool_sha256: &str) -> Result<Option<Host>, Error> {
    Ok(hosts_from(db.query(
        "SELECT name, ips, created_at, joined_at, pool_sha256, last_seen FROM hosts WHERE pool_sha256 = $1 ORDER BY name COLLATE \"C\"",
        &[&pool_sha256],
        "listing hosts",
    )?)?
    .into_iter()
    .next())
}

pub(super) fn host_state(db: &PgStore, host: &str) -> Result<HostState, Error> {
    const C: &str = "reading a host's state";
    // One round trip for the four tables: every poll reads this.
    let row = db
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

pub(super) fn admin_credential(
    db: &PgStore,
    sha256: &str,
) -> Result<Option<AdminCredential>, Error> {
    const C: &str = "reading an admin credential";
    db.query_opt(
        "SELECT sha256, name, kind, role, created_at, expires_at, revoked_at, cert FROM admin_credentials WHERE sha256 = $1",
        &[&sha256],
        C,
    )?
    .map(|r| admin_credential_of(&r, C))
    .transpose()
}

pub(super) fn admin_credentials(db: &PgStore) -> Result<Vec<AdminCredential>, Error> {
    const C: &str = "reading the admin credentials";
    db.query(
        "SELECT sha256, name, kind, role, created_at, expires_at, revoked_at, cert FROM admin_credentials ORDER BY name COLLATE \"C\", created_at NULLS FIRST, sha256 COLLATE \"C\"",
        &[],
        C,
    )?
    .iter()
    .map(|r| admin_credential_of(r, C))
    .collect()
}

pub(super) fn join_token(db: &PgStore, sha256: &str) -> Result<Option<JoinToken>, Error> {
    const C: &str = "reading a join token";
    db.query_opt(
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

pub(super) fn take_lease(
    db: &mut PgStore,
    name: &str,
    holder: &str,
    now: certherd_core::OffsetDateTime,
    until: certherd_core::OffsetDateTime,
) -> Result<Lease, Error> {
    const C: &str = "taking a lease";
    let (now, until) = (crate::model::unix_ms(now), crate::model::unix_ms(until));
    let mut guard = db.conn()?;
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

pub(super) fn release_lease(db: &mut PgStore, name: &str, holder: &str) -> Result<(), Error> {
    const C: &str = "giving up a lease";
    let mut guard = db.conn()?;
    guard
        .client
        .execute(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .map(drop)
        .map_err(Error::pg(C))
}

pub(super) fn lease(db: &PgStore, name: &str) -> Result<Option<Lease>, Error> {
    const C: &str = "reading a lease";
    db.query_opt(
        "SELECT holder, taken_at, expires_at FROM leases WHERE name = $1",
        &[&name],
        C,
    )?
    .map(|row| lease_of(name, &row, C))
    .transpose()
}

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, change: FleetChange<'_>) -> Result<(), Error> {
    match change {
        FleetChange::PutHost(h) => {
            let ips = h
                .ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            b.exec(
                "INSERT INTO hosts (name, ips, created_at, joined_at, pool_sha256, last_seen) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET ips = excluded.ips, joined_at = excluded.joined_at, pool_sha256 = excluded.pool_sha256, last_seen = excluded.last_seen",
                &[&h.name, &ips, &ts(h.created_at), &h.joined_at.map(ts), &h.pool_sha256, &h.last_seen.map(ts)],
            )
            .map_err(Error::pg("writing a host"))?;
        }
        FleetChange::DeleteHost(name) => {
            // Its tokens, verification, orders and roots go with it (ON DELETE CASCADE).
            let n = b
                .exec("DELETE FROM hosts WHERE name = $1", &[name])
                .map_err(Error::pg("deleting a host"))?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: "host",
                    name: name.clone(),
                });
            }
        }
        FleetChange::PutToken(t) => {
            b.exec(
                "INSERT INTO join_tokens (sha256, host, issued_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at",
                &[&t.sha256, &t.host, &ts(t.issued_at), &ts(t.expires_at), &t.used_at.map(ts)],
            )
            .map_err(Error::pg("writing a join token"))?;
        }
        FleetChange::SetHostVerification { host, enabled } => {
            b.exec(
                "INSERT INTO host_verification (host, enabled) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET enabled = excluded.enabled",
                &[host, &i64::from(*enabled)],
            )
            .map_err(host_write("recording a host's verification", host))?;
        }
        FleetChange::SetHostDeployError { host, error } => match error {
            Some(e) => {
                b.exec(
                    "INSERT INTO host_deploy (host, error) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET error = excluded.error",
                    &[host, e],
                )
                .map_err(host_write("recording a host's deploy problem", host))?;
            }
            None => {
                b.exec("DELETE FROM host_deploy WHERE host = $1", &[host])
                    .map_err(Error::pg("clearing a host's deploy problem"))?;
            }
        },
        FleetChange::SetHostRoots { host, roots } => {
            b.exec("DELETE FROM host_roots WHERE host = $1", &[host])
                .map_err(Error::pg("recording a host's roots"))?;
            for root in roots {
                b.exec(
                    "INSERT INTO host_roots (host, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[host, root],
                )
                .map_err(host_write("recording a host's roots", host))?;
            }
        }
        FleetChange::PutHostOrder { host, order, at } => {
            b.exec(
                "INSERT INTO host_orders (host, kind, ordered_at) VALUES ($1, $2, $3) ON CONFLICT (host, kind) DO UPDATE SET ordered_at = excluded.ordered_at",
                &[host, &order.as_str(), &ts(*at)],
            )
            .map_err(host_write("ordering a host", host))?;
        }
        FleetChange::DeleteHostOrder { host, order } => {
            b.exec(
                "DELETE FROM host_orders WHERE host = $1 AND kind = $2",
                &[host, &order.as_str()],
            )
            .map_err(Error::pg("removing a host's order"))?;
        }
        FleetChange::PutAdminCredential(c) => {
            b.exec(
                "INSERT INTO admin_credentials (sha256, name, kind, role, created_at, expires_at, revoked_at, cert) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, kind = excluded.kind, role = excluded.role, created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at, cert = excluded.cert",
                &[
                    &c.sha256,
                    &c.name,
                    &c.kind.as_str(),
                    &c.role.as_str(),
                    &c.created_at.map(ts),
                    &c.expires_at.map(ts),
                    &c.revoked_at.map(ts),
                    &c.cert,
                ],
            )
            .map_err(Error::pg("writing an admin credential"))?;
        }
        FleetChange::RevokeAdminCredentials { name, at } => {
            let n = b.exec(
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
    }
    Ok(())
}
