//! Trusted CRLs and the CA's revocations in PostgreSQL.

use super::Batch;
use crate::groups::TrustChange;
use crate::model::ts;
use crate::Error;

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
