//! A crash mid-renewal loses nothing: the process is killed (abort, as kill -9 would) at
//! injected points, and the store is checked afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{finish, Env};

fn sha_of(env: &Env, entry: &str) -> String {
    env.json(&["cert", "show", entry, "--output", "json"])["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn backups(env: &Env) -> Vec<String> {
    env.json(&["cert", "list", "--store", "backup", "--output", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sha256"].as_str().unwrap().to_owned())
        .collect()
}

/// The entry is whole: its key unseals and matches, and its chain verifies.
fn entry_is_usable(env: &Env, entry: &str) {
    let pem = env.path("usable.pem");
    env.ok(&[
        "cert",
        "export",
        entry,
        "--key",
        "--out",
        pem.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&pem).unwrap();
    let key = certherd_x509::parse_private_key(&bytes).unwrap();
    let cert = certherd_x509::parse_certificates(&bytes).unwrap();
    assert_eq!(
        certherd_x509::CertInfo::from_der(&cert[0])
            .unwrap()
            .spki_der,
        key.public_key_spki(),
        "key and certificate belong together"
    );
    env.ok(&["verify", pem.to_str().unwrap()]);
}

fn crash_renewal_at(point: &str) -> (Env, String, String) {
    let env = Env::new();
    env.init();
    let before = sha_of(&env, "machine-ssl/machine");
    let out = finish(
        env.cmd(&["cert", "renew", "machine-ssl/machine"])
            .env("CERTHERD_FAULT_POINT", point)
            .output()
            .unwrap(),
    );
    assert_ne!(out.code, 0, "the process was killed at {point}");
    assert!(
        out.stderr.contains(&format!("fault injected at {point}")),
        "{}",
        out.stderr
    );
    let after = sha_of(&env, "machine-ssl/machine");
    (env, before, after)
}

#[test]
fn killed_after_issuing_before_writing_keeps_the_old_entry() {
    let (env, before, after) = crash_renewal_at("renew.issued");
    assert_eq!(before, after);
    assert!(backups(&env).is_empty());
    entry_is_usable(&env, "machine-ssl/machine");
    env.ok(&["cert", "renew", "machine-ssl/machine"]);
    assert_ne!(
        sha_of(&env, "machine-ssl/machine"),
        before,
        "a later renewal succeeds"
    );
}

#[test]
fn killed_inside_the_transaction_rolls_back_to_the_old_entry() {
    let (env, before, after) = crash_renewal_at("store.before-commit");
    assert_eq!(
        before, after,
        "the uncommitted move and insert are rolled back"
    );
    assert!(backups(&env).is_empty());
    entry_is_usable(&env, "machine-ssl/machine");
    assert_eq!(env.run(&["check"]).code, 0);
}

#[test]
fn killed_after_commit_has_the_new_entry_and_the_old_in_backup() {
    let (env, before, after) = crash_renewal_at("renew.committed");
    assert_ne!(before, after);
    assert_eq!(backups(&env), [before]);
    entry_is_usable(&env, "machine-ssl/machine");
}

#[test]
fn killed_mid_rotation_resumes_without_an_untrusted_signer() {
    let env = Env::new();
    env.init();
    env.ok(&["service", "add", "vpxd"]);
    let out = finish(
        env.cmd(&["ca", "rotate"])
            .env("CERTHERD_FAULT_POINT", "rotate.new-root")
            .output()
            .unwrap(),
    );
    assert_ne!(out.code, 0);
    // The new root is trusted before it signs anything; the old one is still trusted too.
    assert_eq!(
        env.json(&["trust", "list", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for e in ["machine-ssl/machine", "vpxd/vpxd"] {
        entry_is_usable(&env, e);
    }
    assert!(env.ok(&["ca", "show"]).contains("in progress"));
    // A second kill while reissuing, inside a transaction.
    let out = finish(
        env.cmd(&["ca", "rotate"])
            .env("CERTHERD_FAULT_POINT", "store.before-commit")
            .output()
            .unwrap(),
    );
    assert_ne!(out.code, 0);
    let out = env.ok(&["ca", "rotate"]);
    assert!(out.contains("retired"), "{out}");
    assert_eq!(
        env.json(&["trust", "list", "--output", "json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for e in ["machine-ssl/machine", "sts/sts-signing", "vpxd/vpxd"] {
        entry_is_usable(&env, e);
    }
}
