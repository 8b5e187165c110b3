//! Every read of the `Store` trait, as one text: two stores that hold the same state
//! give the same text. Shared by the store's contract tests and the CLI's `db copy` test:
//! `#[path = "../../store/tests/support/reads.rs"] mod reads;`
#![allow(dead_code, clippy::unwrap_used)]

use certherd_store::Store;

/// Each read's result (`Debug`), with every entry in full (its key unsealed, shown by
/// length and bytes), every host's state, join tokens and admin credentials by the
/// given keys.
pub fn all_reads(s: &dyn Store, tokens: &[&str], admins: &[&str], metas: &[&str]) -> String {
    let mut out = String::new();
    let mut line = |name: &str, v: String| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&v);
        out.push('\n');
    };
    line("stores", format!("{:?}", s.stores().unwrap()));
    let entries = s.entries(None).unwrap();
    line("entries", format!("{entries:?}"));
    for store in s.stores().unwrap() {
        line(
            &format!("entries {}", store.name),
            format!("{:?}", s.entries(Some(&store.name)).unwrap()),
        );
    }
    for m in &entries {
        let e = s.entry(&m.entry).unwrap().unwrap();
        line(
            &format!("entry {}", m.entry),
            format!(
                "{:?} cert={:?} chain={:?} key={:?}",
                e.meta,
                e.cert,
                e.chain,
                e.key.as_ref().map(|k| k.expose().to_vec())
            ),
        );
    }
    line("crls", format!("{:?}", s.crls().unwrap()));
    line("revocations", format!("{:?}", s.revocations().unwrap()));
    line("audit", format!("{:?}", s.audit_log().unwrap()));
    let hosts = s.hosts().unwrap();
    line("hosts", format!("{hosts:?}"));
    for h in &hosts {
        line(
            &format!("host {}", h.name),
            format!("{:?}", s.host(&h.name).unwrap()),
        );
        line(
            &format!("host state {}", h.name),
            format!("{:?}", s.host_state(&h.name).unwrap()),
        );
        if let Some(p) = &h.pool_sha256 {
            line(
                &format!("host by pool {p}"),
                format!("{:?}", s.host_by_pool(p).unwrap()),
            );
        }
    }
    for t in tokens {
        line(
            &format!("token {t}"),
            format!("{:?}", s.join_token(t).unwrap()),
        );
    }
    for a in admins {
        line(
            &format!("admin {a}"),
            format!("{:?}", s.admin_credential(a).unwrap()),
        );
    }
    for k in metas {
        line(&format!("meta {k}"), format!("{:?}", s.meta(k).unwrap()));
    }
    line("outbox", format!("{:?}", s.undelivered().unwrap()));
    line("alarms", format!("{:?}", s.alarms().unwrap()));
    line("watches", format!("{:?}", s.watches(None).unwrap()));
    for k in [
        certherd_core::WatchKind::Endpoint,
        certherd_core::WatchKind::File,
    ] {
        line(
            &format!("watches {}", k.as_str()),
            format!("{:?}", s.watches(Some(k)).unwrap()),
        );
    }
    line("key providers", format!("{:?}", s.key_providers().unwrap()));
    out
}
