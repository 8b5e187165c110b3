//! The admin API's credentials as operations: bearer tokens issued (`admin credential
//! NAME`), listed and revoked. A client certificate's key is never made for the API:
//! client-certificate credentials are issued on the server's home.

use certherd_authority::Node;
use certherd_protocol::admin as api;
use certherd_store::{AdminRole, Store};

use crate::{Error, Problem};

/// `admin credential NAME`: a bearer token, shown this once.
pub(crate) fn add<S: Store>(
    node: &mut Node<S>,
    r: &api::CredentialAddRequest,
) -> Result<api::CredentialIssued, Error> {
    let role = match r.role {
        api::CredentialRole::Reader => AdminRole::Reader,
        api::CredentialRole::Admin => AdminRole::Admin,
    };
    let valid_for = r
        .valid_for
        .as_deref()
        .map(|text| {
            text.parse::<certherd_core::Span>()
                .ok()
                .filter(|s| s.duration().is_positive())
                .ok_or_else(|| Problem::BadSpan {
                    value: certherd_protocol::echo(text),
                })
        })
        .transpose()?;
    let random = certherd_x509::random32().map_err(certherd_authority::Error::from)?;
    let token = node
        .admin_mut()
        .admin_credential_add(&r.name, role, valid_for, random)?;
    let sha256 = certherd_x509::hex(&certherd_x509::sha256(token.as_bytes()));
    let kept = node
        .store()
        .admin_credential(&sha256)
        .map_err(certherd_authority::Error::from)?;
    Ok(api::CredentialIssued {
        name: r.name.clone(),
        kind: "bearer".to_owned(),
        role: role.as_str().to_owned(),
        token,
        expires_at: kept.and_then(|c| c.expires_at).map(certherd_x509::rfc3339),
    })
}

/// `admin credential list`: every credential, revoked and expired ones too.
pub(crate) fn list<S: Store>(node: &Node<S>) -> Result<Vec<api::CredentialRow>, Error> {
    let when = |t: Option<certherd_core::OffsetDateTime>| t.map(certherd_x509::rfc3339);
    Ok(node
        .admin()
        .admin_credentials()?
        .iter()
        .map(|c| api::CredentialRow {
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
            role: c.role.as_str().to_owned(),
            created_at: when(c.created_at),
            expires_at: when(c.expires_at),
            revoked_at: when(c.revoked_at),
            sha256: c.sha256.clone(),
        })
        .collect())
}

/// `admin credential revoke NAME`: on behalf of `by`.
pub(crate) fn revoke<S: Store>(
    node: &mut Node<S>,
    name: &str,
    reason: certherd_x509::RevocationReason,
    by: &str,
) -> Result<api::CredentialsRevoked, Error> {
    let n = node
        .admin_mut()
        .admin_credential_revoke_for(name, reason, by)?;
    Ok(api::CredentialsRevoked {
        name: name.to_owned(),
        revoked: n as u64,
    })
}
