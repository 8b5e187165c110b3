//! Trusted CRLs and the CA's revocations in SQLite.

use rusqlite::{params, Transaction};

use super::{Cached, SqliteStore};
use crate::groups::TrustChange;
use crate::model::{from_ts, ts};
use crate::{CrlRecord, Error, RevocationRecord};

pub(super) fn crls(db: &SqliteStore) -> Result<Vec<CrlRecord>, Error> {
    let mut stmt = db
        .conn
        .prepare("SELECT sha256, issuer, der, this_update, added_at FROM crls ORDER BY added_at")
        .map_err(Error::sql("listing CRLs"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(Error::sql("listing CRLs"))?;
    rows.map(|row| {
        let (sha256, issuer, der, this_update, added) = row.map_err(Error::sql("listing CRLs"))?;
        Ok(CrlRecord {
            sha256,
            issuer,
            der,
            this_update: from_ts(this_update)?,
            added_at: from_ts(added)?,
        })
    })
    .collect()
}

pub(super) fn revocations(db: &SqliteStore) -> Result<Vec<RevocationRecord>, Error> {
    let mut stmt = db
        .conn
        .prepare_cached(
            "SELECT issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by FROM revocations ORDER BY revoked_at, serial",
        )
        .map_err(Error::sql("listing revocations"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .map_err(Error::sql("listing revocations"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::sql("listing revocations"))?;
    rows.into_iter()
        .map(
            |(issuer_sha256, serial, issuer, subject, entry, reason, at, revoked_by)| {
                Ok(RevocationRecord {
                    issuer_sha256,
                    serial,
                    issuer,
                    subject,
                    entry,
                    reason,
                    revoked_at: from_ts(at)?,
                    revoked_by,
                })
            },
        )
        .collect()
}

/// Applies one change of this group inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, change: TrustChange<'_>) -> Result<(), Error> {
    match change {
        TrustChange::PutCrl(c) => {
            tx.execute_cached(
                "INSERT INTO crls (sha256, issuer, der, this_update, added_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO NOTHING",
                params![c.sha256, c.issuer, c.der, ts(c.this_update), ts(c.added_at)],
            )
            .map_err(Error::sql("writing a CRL"))?;
        }
        TrustChange::DeleteCrl(sha) => {
            tx.execute_cached("DELETE FROM crls WHERE sha256 = ?1", [sha])
                .map_err(Error::sql("deleting a CRL"))?;
        }
        TrustChange::PutRevocation(r) => {
            // A second revocation of one certificate is refused (primary key): the
            // first one's time and reason stand.
            tx.execute_cached(
                "INSERT INTO revocations (issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![r.issuer_sha256, r.serial, r.issuer, r.subject, r.entry, r.reason, ts(r.revoked_at), r.revoked_by],
            )
            .map_err(Error::sql("recording a revocation"))?;
        }
    }
    Ok(())
}
