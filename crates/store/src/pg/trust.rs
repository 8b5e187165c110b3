//! Trusted CRLs and the CA's revocations in PostgreSQL.

use super::{int, text, Batch, PgStore};
use crate::groups::TrustChange;
use crate::model::{from_ts, ts};
use crate::{CrlRecord, Error, RevocationRecord};

pub(super) fn crls(db: &PgStore) -> Result<Vec<CrlRecord>, Error> {
    const C: &str = "listing CRLs";
    let rows = db.query(
        "SELECT sha256, issuer, der, this_update, added_at FROM crls ORDER BY added_at",
        &[],
        C,
    )?;
    rows.iter()
        .map(|row| {
            Ok(CrlRecord {
                sha256: text(row, 0, C)?,
                issuer: text(row, 1, C)?,
                der: row.try_get(2).map_err(Error::pg(C))?,
                this_update: from_ts(int(row, 3, C)?)?,
                added_at: from_ts(int(row, 4, C)?)?,
            })
        })
        .collect()
}

pub(super) fn revocations(db: &PgStore) -> Result<Vec<RevocationRecord>, Error> {
    const C: &str = "listing revocations";
    let rows = db.query(
        "SELECT issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by FROM revocations ORDER BY revoked_at, serial COLLATE \"C\"",
        &[],
        C,
    )?;
    rows.iter()
        .map(|row| {
            Ok(RevocationRecord {
                issuer_sha256: text(row, 0, C)?,
                serial: text(row, 1, C)?,
                issuer: text(row, 2, C)?,
                subject: text(row, 3, C)?,
                entry: text(row, 4, C)?,
                reason: text(row, 5, C)?,
                revoked_at: from_ts(int(row, 6, C)?)?,
                revoked_by: text(row, 7, C)?,
            })
        })
        .collect()
}

/// Applies one change of this group in the batch's transaction.
pub(super) fn apply(b: &mut Batch<'_, '_>, change: TrustChange<'_>) -> Result<(), Error> {
    match change {
        TrustChange::PutCrl(c) => {
            b.exec(
                "INSERT INTO crls (sha256, issuer, der, this_update, added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                &[&c.sha256, &c.issuer, &c.der, &ts(c.this_update), &ts(c.added_at)],
            )
            .map_err(Error::pg("writing a CRL"))?;
        }
        TrustChange::DeleteCrl(sha) => {
            b.exec("DELETE FROM crls WHERE sha256 = $1", &[sha])
                .map_err(Error::pg("deleting a CRL"))?;
        }
        TrustChange::PutRevocation(r) => {
            // A second revocation of one certificate is refused (primary key): the
            // first one's time and reason stand.
            b.exec(
                "INSERT INTO revocations (issuer_sha256, serial, issuer, subject, entry, reason, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&r.issuer_sha256, &r.serial, &r.issuer, &r.subject, &r.entry, &r.reason, &ts(r.revoked_at), &r.revoked_by],
            )
            .map_err(Error::pg("recording a revocation"))?;
        }
    }
    Ok(())
}
