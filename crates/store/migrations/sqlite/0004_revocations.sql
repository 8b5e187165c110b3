-- Certificates the CA revoked: its CRLs are built from them. One row per certificate (a
-- second revocation is refused by the key: the first one's time and reason stand).
CREATE TABLE revocations (
    issuer_sha256 TEXT NOT NULL,
    serial TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    entry TEXT NOT NULL,
    reason TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    revoked_by TEXT NOT NULL,
    PRIMARY KEY (issuer_sha256, serial)
);
