-- An admin client certificate is kept with its credential (DER), so that revoking the
-- credential can put the certificate on the CA's CRL. Bearer tokens have none.
ALTER TABLE admin_credentials ADD COLUMN cert BLOB;
