-- Admin credentials gain how they are presented (a bearer token or a client certificate,
-- by its SHA-256), a role, and their creation, expiry and revocation times. Credentials of
-- before keep the reads they were limited to: role `reader`.
ALTER TABLE admin_credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'bearer';
ALTER TABLE admin_credentials ADD COLUMN role TEXT NOT NULL DEFAULT 'reader';
ALTER TABLE admin_credentials ADD COLUMN created_at BIGINT;
ALTER TABLE admin_credentials ADD COLUMN expires_at BIGINT;
ALTER TABLE admin_credentials ADD COLUMN revoked_at BIGINT;
