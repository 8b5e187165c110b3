//! The fleet: hosts with their state and join tokens, admin credentials, leases.

use certherd_core::{Host, JoinToken};
use certherd_store::{Change, Error, HostOrder, HostState, Store};

use super::at;

fn host(name: &str) -> Host {
    Host {
        name: name.into(),
        ips: vec!["10.0.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
        created_at: at(0),
        joined_at: Some(at(5)),
        pool_sha256: Some(format!("pool-{name}")),
        last_seen: None,
    }
}

/// Hosts, their state and tokens, admin credentials. Returns the SHA-256 of the join
/// tokens written, for reading them back.
pub fn hosts_and_admins(s: &mut dyn Store) -> Vec<String> {
    // Hosts and their state; removing a host removes every row of it.
    let ttl = certherd_core::Span::seconds(3600).duration();
    let (t1, _) = JoinToken::issue("esx01", [1; 32], at(0), ttl);
    let (t2, _) = JoinToken::issue("esx02", [2; 32], at(0), ttl);
    let mut used = t1.clone();
    used.used_at = Some(at(7));
    s.apply(&[
        Change::PutHost(Box::new(host("esx01"))),
        Change::PutHost(Box::new(host("esx02"))),
        Change::PutToken(t1.clone()),
        Change::PutToken(t2.clone()),
        Change::PutToken(used.clone()),
        Change::SetHostVerification {
            host: "esx01".into(),
            enabled: false,
        },
        Change::SetHostRoots {
            host: "esx01".into(),
            roots: vec!["r2".into(), "r1".into(), "r2".into()],
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::Renew,
            at: at(10),
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::RefreshPool,
            at: at(11),
        },
        Change::PutHostOrder {
            host: "esx01".into(),
            order: HostOrder::Renew,
            at: at(12),
        },
        Change::SetHostDeployError {
            host: "esx01".into(),
            error: Some("reload failed".into()),
        },
        Change::SetHostVerification {
            host: "esx02".into(),
            enabled: true,
        },
        Change::SetHostDeployError {
            host: "esx02".into(),
            error: Some("x".into()),
        },
        Change::SetHostDeployError {
            host: "esx02".into(),
            error: None,
        },
    ])
    .unwrap();
    assert_eq!(
        s.host_state("esx01").unwrap(),
        HostState {
            verification: Some(false),
            roots: vec!["r1".into(), "r2".into()],
            renew_ordered_at: Some(at(12)),
            refresh_pool_ordered_at: Some(at(11)),
            deploy_error: Some("reload failed".into()),
        }
    );
    assert_eq!(s.join_token(&t1.sha256).unwrap(), Some(used));
    assert_eq!(
        s.host_by_pool("pool-esx02").unwrap().map(|h| h.name),
        Some("esx02".into())
    );
    assert_eq!(s.host("esx01").unwrap(), Some(host("esx01")));
    // In any case, by the index of lower-cased names; a name no host has in any case: none.
    assert_eq!(s.host_any_case("ESX01").unwrap(), Some(host("esx01")));
    assert_eq!(s.host("ESX01").unwrap(), None);
    assert_eq!(s.host_any_case("esx99").unwrap(), None);
    let err = s
        .apply(&[Change::SetHostVerification {
            host: "nohost".into(),
            enabled: true,
        }])
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what: "host", name } if name == "nohost"),
        "{err}"
    );
    let err = s
        .apply(&[Change::PutHostOrder {
            host: "nohost".into(),
            order: HostOrder::Renew,
            at: at(1),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "host", .. }), "{err}");
    s.apply(&[
        Change::DeleteHostOrder {
            host: "esx01".into(),
            order: HostOrder::RefreshPool,
        },
        Change::DeleteHost("esx02".into()),
    ])
    .unwrap();
    assert_eq!(s.host_state("esx02").unwrap(), HostState::default());
    assert_eq!(s.join_token(&t2.sha256).unwrap(), None);
    assert_eq!(s.host("esx02").unwrap(), None);
    let err = s.apply(&[Change::DeleteHost("esx02".into())]).unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "host", .. }), "{err}");

    // Admin credentials: written (a second write of one hash replaces it), listed by
    // name, revoked by name once.
    let cred =
        |sha: &str, name: &str, role, kind, created: Option<i64>| certherd_store::AdminCredential {
            sha256: sha.into(),
            name: name.into(),
            kind,
            role,
            created_at: created.map(at),
            expires_at: created.map(|t| at(t + 1000)),
            revoked_at: None,
            cert: (kind == CredentialKind::ClientCert)
                .then(|| format!("der of {sha}").into_bytes()),
        };
    use certherd_store::{AdminRole, CredentialKind};
    s.apply(&[
        Change::PutAdminCredential(cred(
            "adm1",
            "alice",
            AdminRole::Reader,
            CredentialKind::Bearer,
            None,
        )),
        Change::PutAdminCredential(cred(
            "adm1",
            "alice2",
            AdminRole::Admin,
            CredentialKind::Bearer,
            Some(5),
        )),
        Change::PutAdminCredential(cred(
            "adm2",
            "bob",
            AdminRole::Reader,
            CredentialKind::ClientCert,
            Some(6),
        )),
        Change::PutAdminCredential(cred(
            "adm3",
            "bob",
            AdminRole::Admin,
            CredentialKind::Bearer,
            None,
        )),
    ])
    .unwrap();
    assert_eq!(
        s.admin_credential("adm1").unwrap(),
        Some(cred(
            "adm1",
            "alice2",
            AdminRole::Admin,
            CredentialKind::Bearer,
            Some(5)
        ))
    );
    assert_eq!(s.admin_credential("nope").unwrap(), None);
    let names: Vec<(String, String)> = s
        .admin_credentials()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.sha256))
        .collect();
    assert_eq!(
        names,
        [("alice2", "adm1"), ("bob", "adm3"), ("bob", "adm2")]
            .map(|(n, h)| (n.to_owned(), h.to_owned()))
    );
    s.apply(&[Change::RevokeAdminCredentials {
        name: "bob".into(),
        at: at(7),
    }])
    .unwrap();
    let bob = s.admin_credential("adm2").unwrap().unwrap();
    assert_eq!(bob.revoked_at, Some(at(7)));
    // A client certificate's DER is kept with it, through the revocation.
    assert_eq!(bob.cert.as_deref(), Some(&b"der of adm2"[..]));
    let err = s
        .apply(&[Change::RevokeAdminCredentials {
            name: "bob".into(),
            at: at(8),
        }])
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    vec![t1.sha256, t2.sha256]
}

/// Leases: one holder at a time, taken over once expired.
pub fn leases(s: &mut dyn Store) {
    // Leases: one holder at a time; renewed by its holder (keeping when it was taken);
    // taken over only once expired; given up only by its holder.
    assert_eq!(s.lease("lifecycle").unwrap(), None);
    let l = s
        .take_lease("lifecycle", "srv-a", at(100), at(115))
        .unwrap();
    assert!(l.held_by("srv-a", at(100)) && !l.held_by("srv-a", at(115)));
    assert_eq!((l.taken_at, l.expires_at), (at(100), at(115)));
    let l = s
        .take_lease("lifecycle", "srv-b", at(110), at(125))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.expires_at),
        ("srv-a", at(115)),
        "still a's"
    );
    let l = s
        .take_lease("lifecycle", "srv-a", at(112), at(127))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.taken_at, l.expires_at),
        ("srv-a", at(100), at(127))
    );
    let l = s
        .take_lease("lifecycle", "srv-b", at(127), at(142))
        .unwrap();
    assert_eq!(
        (l.holder.as_str(), l.taken_at),
        ("srv-b", at(127)),
        "a's expired at 127"
    );
    s.release_lease("lifecycle", "srv-a").unwrap();
    assert_eq!(s.lease("lifecycle").unwrap().unwrap().holder, "srv-b");
    let other = s.take_lease("other", "srv-a", at(1), at(2)).unwrap();
    assert_eq!(other.holder, "srv-a", "leases are by name");
    s.release_lease("lifecycle", "srv-b").unwrap();
    assert_eq!(s.lease("lifecycle").unwrap(), None);
    let l = s
        .take_lease("lifecycle", "srv-a", at(130), at(145))
        .unwrap();
    assert!(
        l.held_by("srv-a", at(130)),
        "a released lease is free at once"
    );
}
