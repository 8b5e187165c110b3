//! Credentials of the server's admin API: bearer tokens for scripts, client certificates
//! issued by the CA for mutual TLS, each with a role (`reader`: reads only; `admin`:
//! everything), listed and revoked by name. Only a SHA-256 of each is kept.

use certherd_core::{OffsetDateTime, Span};
use certherd_store::{AdminCredential, AdminRole, Change, CredentialKind, Store};
use certherd_x509::{CertSpec, Eku, PrivateKey, Role};

use crate::{Error, Node};

/// The prefix of every admin bearer token (`cha1_` and 64 hex digits).
const ADMIN_PREFIX: &str = "cha1_";

/// The organization of every admin client certificate's subject, which marks it as one.
pub const ADMIN_CERT_ORGANIZATION: &str = "certherd-admin";

/// How long an admin client certificate is valid unless told otherwise.
pub const ADMIN_CERT_LIFETIME: Span = Span::years(1);

/// An admin client certificate just issued, with its key (given once, never kept).
#[derive(Debug)]
pub struct AdminClientCert {
    /// The credential recorded.
    pub credential: AdminCredential,
    /// The certificate, DER.
    pub cert: Vec<u8>,
    /// The CA chain above it, DER each.
    pub chain: Vec<Vec<u8>>,
    /// Its private key.
    pub key: PrivateKey,
}

/// What a presented admin credential turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminAuth {
    /// Valid: calls are made in its name, within its role.
    Accepted(AdminCredential),
    /// Not one certherd issued (or not of the shape of one).
    Unknown,
    /// Revoked with `admin credential revoke`.
    Revoked(AdminCredential),
    /// Past its expiry.
    Expired(AdminCredential),
}

/// A credential's name follows the rules of an alias, and a refusal calls it what it is.
fn credential_name(name: &str) -> Result<(), certherd_core::Error> {
    match name.parse::<certherd_core::Alias>() {
        Ok(_) => Ok(()),
        Err(_) => Err(certherd_core::Error::Name {
            what: "credential name",
            input: name.to_owned(),
        }),
    }
}

impl<S: Store> Node<S> {
    fn credential(
        &self,
        name: &str,
        sha256: String,
        kind: CredentialKind,
        role: AdminRole,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<AdminCredential, Error> {
        credential_name(name)?;
        Ok(AdminCredential {
            sha256,
            name: name.to_owned(),
            kind,
            role,
            created_at: Some(self.now()),
            expires_at,
            revoked_at: None,
        })
    }

    fn credential_audit(&self, c: &AdminCredential) -> Change {
        let expires = c
            .expires_at
            .map_or_else(|| "never".to_owned(), certherd_x509::rfc3339);
        self.audit(
            "admin-credential",
            &c.name,
            format!(
                "{} issued, role {}, expires {expires}, sha256 {}",
                c.kind.as_str(),
                c.role.as_str(),
                c.sha256
            ),
        )
    }

    /// `admin credential NAME`: a bearer token for the server's admin API with `role`,
    /// valid for `valid_for` (forever: `None`). Shown once; only its SHA-256 is kept.
    pub fn admin_credential_add(
        &mut self,
        name: &str,
        role: AdminRole,
        valid_for: Option<Span>,
        random: [u8; 32],
    ) -> Result<String, Error> {
        let token = format!("{ADMIN_PREFIX}{}", certherd_x509::hex(&random));
        let sha = certherd_x509::hex(&certherd_x509::sha256(token.as_bytes()));
        let expires = valid_for.map(|s| s.after(self.now()));
        let c = self.credential(name, sha, CredentialKind::Bearer, role, expires)?;
        self.commit(&[
            self.credential_audit(&c),
            Change::PutAdminCredential(c.clone()),
        ])?;
        Ok(token)
    }

    /// `admin credential NAME --client-cert`: a client certificate issued by the CA
    /// (`CN=NAME, O=certherd-admin`, clientAuth only) for mutual TLS, valid for
    /// `valid_for` (a year by default, never past the CA). The key is returned once; only
    /// the certificate's SHA-256 is kept.
    pub fn admin_client_cert_add(
        &mut self,
        name: &str,
        role: AdminRole,
        valid_for: Option<Span>,
    ) -> Result<AdminClientCert, Error> {
        credential_name(name)?;
        let ca = self.signing_ca()?;
        let now = self.now();
        let key = PrivateKey::generate(self.default_key_algo())?;
        let wanted = valid_for.unwrap_or(ADMIN_CERT_LIFETIME).after(now);
        let spec = CertSpec {
            common_name: name.to_owned(),
            organization: Some(ADMIN_CERT_ORGANIZATION.to_owned()),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            not_before: now - time::Duration::minutes(1),
            not_after: wanted.min(ca.info.not_after),
            role: Role::Leaf,
            eku: vec![Eku::ClientAuth],
        };
        let cert = certherd_x509::issue(
            &spec,
            &key.public_key_spki(),
            &certherd_x509::Issuer {
                cert: &ca.cert,
                key: &ca.key,
            },
        )?
        .to_vec();
        let mut chain = vec![ca.cert.clone()];
        chain.extend(ca.chain.iter().cloned());
        let sha = certherd_x509::hex(&certherd_x509::sha256(&cert));
        let c = self.credential(
            name,
            sha,
            CredentialKind::ClientCert,
            role,
            Some(spec.not_after),
        )?;
        self.commit(&[
            self.credential_audit(&c),
            Change::PutAdminCredential(c.clone()),
        ])?;
        Ok(AdminClientCert {
            credential: c,
            cert,
            chain,
            key,
        })
    }

    /// `admin credential list`: every admin credential, revoked and expired ones too.
    pub fn admin_credentials(&self) -> Result<Vec<AdminCredential>, Error> {
        Ok(self.store.admin_credentials()?)
    }

    /// `admin credential revoke NAME`: every credential of NAME stops being accepted.
    /// Returns how many were revoked.
    pub fn admin_credential_revoke(&mut self, name: &str) -> Result<usize, Error> {
        let live = self
            .store
            .admin_credentials()?
            .into_iter()
            .filter(|c| c.name == name && c.revoked_at.is_none())
            .count();
        if live == 0 {
            return Err(Error::NoSuchCredential(name.to_owned()));
        }
        self.commit(&[
            Change::RevokeAdminCredentials {
                name: name.to_owned(),
                at: self.now(),
            },
            self.audit(
                "admin-credential-revoke",
                name,
                format!("{live} credential(s) revoked"),
            ),
        ])?;
        Ok(live)
    }

    fn judge_credential(&self, sha256: &str) -> Result<AdminAuth, Error> {
        let Some(c) = self.store.admin_credential(sha256)? else {
            return Ok(AdminAuth::Unknown);
        };
        if c.revoked_at.is_some() {
            return Ok(AdminAuth::Revoked(c));
        }
        if c.expires_at.is_some_and(|t| t <= self.now()) {
            return Ok(AdminAuth::Expired(c));
        }
        Ok(AdminAuth::Accepted(c))
    }

    /// The admin credential a bearer token is, if it is one certherd issued.
    pub fn admin_by_token(&self, token: &str) -> Result<AdminAuth, Error> {
        let token = token.trim();
        let Some(hex) = token.strip_prefix(ADMIN_PREFIX) else {
            return Ok(AdminAuth::Unknown);
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(AdminAuth::Unknown);
        }
        let sha = certherd_x509::hex(&certherd_x509::sha256(token.as_bytes()));
        self.judge_credential(&sha)
    }

    /// The admin credential a client certificate (DER) is, if it is an admin client
    /// certificate certherd issued. A bearer token's hash never matches: the kind is
    /// checked.
    pub fn admin_by_client_cert(&self, der: &[u8]) -> Result<AdminAuth, Error> {
        let sha = certherd_x509::hex(&certherd_x509::sha256(der));
        Ok(match self.judge_credential(&sha)? {
            AdminAuth::Accepted(c) | AdminAuth::Revoked(c) | AdminAuth::Expired(c)
                if c.kind != CredentialKind::ClientCert =>
            {
                AdminAuth::Unknown
            }
            other => other,
        })
    }
}

impl<S: Store> Node<S> {
    /// Writes one call of the admin API to the audit log: `admin-api`, the credential's
    /// name (`-` when none was presented) and what was asked and answered.
    pub fn audit_admin_call(&mut self, credential: &str, detail: &str) -> Result<(), Error> {
        self.commit(&[self.audit("admin-api", credential, detail)])
    }
}
