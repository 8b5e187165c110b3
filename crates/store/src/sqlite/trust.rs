//! Trusted CRLs and the CA's revocations in SQLite.

use rusqlite::{params, Transaction};

use super::Cached;
use crate::groups::TrustChange;
use crate::model::ts;
use crate::Error;

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
