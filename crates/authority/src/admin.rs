//! Credentials of the server's admin API: bearer tokens for scripts, client certificates
//! issued by the CA for mutual TLS, each with a role (`reader`: reads only; `admin`:
//! everything), listed and revoked by name. A token is kept as its SHA-256; a client certificate as its SHA-256 and its DER (to put it on the CRL when revoked).

use certherd_core::{OffsetDateTime, Span};
use certherd_store::{AdminCredential, AdminRole, Change, CredentialKind, Store};
use certherd_x509::{CertSpec, Eku, PrivateKey, RevocationReason, Role};

use std::ops::{Deref, DerefMut};

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
    /// A client certificate issued by a CA this home no longer trusts (a root retired by
    /// a CA rotation): refused, whatever the credential table says.
    UntrustedIssuer(AdminCredential),
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

/// The admin credentials over a node's context: tokens and client certificates for the server's admin API, their checks and their audit. Reached by
/// [`Node::admin`] (reads) and [`Node::admin_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct Admin<N> {
    node: N,
}

impl<N> Admin<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> Admin<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        self.node.commit(changes)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Admin<N> {
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
            created_at: Some(self.node.now()),
            expires_at,
            revoked_at: None,
            cert: None,
        })
    }

    fn credential_audit(&self, c: &AdminCredential) -> Change {
        let expires = c
            .expires_at
            .map_or_else(|| "never".to_owned(), certherd_x509::rfc3339);
        self.node.audit(
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
    ) -> Result<String, Error>
    where
        N: DerefMut,
    {
        let token = format!("{ADMIN_PREFIX}{}", certherd_x509::hex(&random));
        let sha = certherd_x509::hex(&certherd_x509::sha256(token.as_bytes()));
        let expires = valid_for.map(|s| s.after(self.node.now()));
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
    /// the certificate (its SHA-256 to recognise it, its DER to revoke it) is kept.
    pub fn admin_client_cert_add(
        &mut self,
        name: &str,
        role: AdminRole,
        valid_for: Option<Span>,
    ) -> Result<AdminClientCert, Error>
    where
        N: DerefMut,
    {
        credential_name(name)?;
        let ca = self.node.signing_ca()?;
        let now = self.node.now();
        let key = PrivateKey::generate(self.node.default_key_algo())?;
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
        let c = AdminCredential {
            cert: Some(cert.clone()),
            ..self.credential(
                name,
                sha,
                CredentialKind::ClientCert,
                role,
                Some(spec.not_after),
            )?
        };
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
        Ok(self.node.store().admin_credentials()?)
    }

    /// `admin credential revoke NAME`: [`Admin::admin_credential_revoke_for`] with the
    /// reason `cessationOfOperation`, by `local`.
    pub fn admin_credential_revoke(&mut self, name: &str) -> Result<usize, Error>
    where
        N: DerefMut,
    {
        self.admin_credential_revoke_for(name, RevocationReason::CessationOfOperation, "local")
    }

    /// `admin credential revoke NAME --reason REASON`: every credential of NAME stops
    /// being accepted, and each of its client certificates is put on the CRL of the CA
    /// that issued it (for `reason`, on behalf of `by`; a new CRL is published in the
    /// same transaction), so that other relying parties refuse it too. Returns how many
    /// credentials were revoked.
    pub fn admin_credential_revoke_for(
        &mut self,
        name: &str,
        reason: RevocationReason,
        by: &str,
    ) -> Result<usize, Error>
    where
        N: DerefMut,
    {
        let live: Vec<AdminCredential> = self
            .node
            .store()
            .admin_credentials()?
            .into_iter()
            .filter(|c| c.name == name && c.revoked_at.is_none())
            .collect();
        if live.is_empty() {
            return Err(Error::NoSuchCredential(name.to_owned()));
        }
        let mut records = Vec::new();
        for c in live.iter().filter(|c| c.kind == CredentialKind::ClientCert) {
            // Certificates issued before they were kept cannot be listed: only refused.
            if let Some(der) = &c.cert {
                records.extend(
                    self.node
                        .revocations()
                        .admin_cert_revocation(name, der, reason, by)?,
                );
            }
        }
        let mut changes = vec![
            Change::RevokeAdminCredentials {
                name: name.to_owned(),
                at: self.node.now(),
            },
            self.node.audit(
                "admin-credential-revoke",
                name,
                format!(
                    "{} credential(s) revoked, {} client certificate(s) put on the CRL, reason {}",
                    live.len(),
                    records.len(),
                    reason.name()
                ),
            ),
        ];
        if !records.is_empty() {
            changes.extend(records.iter().cloned().map(Change::PutRevocation));
            changes.extend(self.node.revocations().crl_changes(&records)?.0);
        }
        self.commit(&changes)?;
        Ok(live.len())
    }

    fn judge_credential(&self, sha256: &str) -> Result<AdminAuth, Error> {
        let Some(c) = self.node.store().admin_credential(sha256)? else {
            return Ok(AdminAuth::Unknown);
        };
        if c.revoked_at.is_some() {
            return Ok(AdminAuth::Revoked(c));
        }
        if c.expires_at.is_some_and(|t| t <= self.node.now()) {
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
    /// It must also still chain to a CA of this home that is trusted: after a CA
    /// rotation retired its root, it is [`AdminAuth::UntrustedIssuer`].
    pub fn admin_by_client_cert(&self, der: &[u8]) -> Result<AdminAuth, Error> {
        let sha = certherd_x509::hex(&certherd_x509::sha256(der));
        Ok(match self.judge_credential(&sha)? {
            AdminAuth::Accepted(c) | AdminAuth::Revoked(c) | AdminAuth::Expired(c)
                if c.kind != CredentialKind::ClientCert =>
            {
                AdminAuth::Unknown
            }
            AdminAuth::Accepted(c) if !self.issued_by_trusted_ca(der)? => {
                AdminAuth::UntrustedIssuer(c)
            }
            other => other,
        })
    }

    /// Whether `der` is signed by a CA of this home that is trusted now: the signing CA,
    /// or the retiring one while a rotation is in progress (a retired root is neither).
    fn issued_by_trusted_ca(&self, der: &[u8]) -> Result<bool, Error> {
        let signing = match self.node.signing_ca() {
            Ok(ca) => ca,
            Err(Error::CaNotReady(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if certherd_x509::CertInfo::is_signed_by(der, &signing.cert) {
            return Ok(true);
        }
        let Some(alias) = self.node.store().meta(crate::node::keys::CA_RETIRING)? else {
            return Ok(false);
        };
        let retiring: certherd_core::EntryRef =
            format!("{}/{alias}", certherd_core::StoreName::CA).parse()?;
        Ok(self
            .node
            .store()
            .entry(&retiring)?
            .is_some_and(|e| certherd_x509::CertInfo::is_signed_by(der, &e.cert)))
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> Admin<N> {
    /// Writes one call of the admin API to the audit log: `admin-api`, the credential's
    /// name (`-` when none was presented) and what was asked and answered.
    pub fn audit_admin_call(&mut self, credential: &str, detail: &str) -> Result<(), Error>
    where
        N: DerefMut,
    {
        self.commit(&[self.node.audit("admin-api", credential, detail)])
    }
}
