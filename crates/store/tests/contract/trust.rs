//! The trust group: CRLs and revocations.

use certherd_store::{Change, CrlRecord, Store};

use super::at;

/// CRLs, and revocations recorded once each.
pub fn trust(s: &mut dyn Store) {
    // CRLs: an identical one is kept as is.
    let crl = |sha: &str, added: i64| CrlRecord {
        sha256: sha.into(),
        issuer: "CN=ca".into(),
        der: vec![0x30, 0x00, sha.len() as u8],
        this_update: at(3),
        added_at: at(added),
    };
    s.apply(&[
        Change::PutCrl(crl("c2", 20)),
        Change::PutCrl(crl("c1", 10)),
        Change::PutCrl(crl("c1", 99)),
        Change::PutCrl(crl("c3", 30)),
        Change::DeleteCrl("c3".into()),
    ])
    .unwrap();
    assert_eq!(s.crls().unwrap(), vec![crl("c1", 10), crl("c2", 20)]);

    // Revocations: oldest first; a certificate is revoked once (the first stands, and a
    // batch with a second one changes nothing).
    let revoked = |serial: &str, t: i64, reason: &str| certherd_store::RevocationRecord {
        issuer_sha256: "ca1".into(),
        serial: serial.into(),
        issuer: "CN=CA".into(),
        subject: format!("CN={serial}"),
        entry: format!("svc/{serial}"),
        reason: reason.into(),
        revoked_at: at(t),
        revoked_by: "local:root".into(),
    };
    s.apply(&[
        Change::PutRevocation(revoked("0b", 12, "superseded")),
        Change::PutRevocation(revoked("0a", 11, "keyCompromise")),
    ])
    .unwrap();
    let before = s.revocations().unwrap();
    assert_eq!(
        before,
        vec![
            revoked("0a", 11, "keyCompromise"),
            revoked("0b", 12, "superseded")
        ]
    );
    s.apply(&[
        Change::PutRevocation(revoked("0c", 13, "unspecified")),
        Change::PutRevocation(revoked("0a", 14, "unspecified")),
    ])
    .unwrap_err();
    assert_eq!(s.revocations().unwrap(), before, "all or nothing");
}
