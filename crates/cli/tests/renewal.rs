//! Bulk renewal with the real binary: two runs at once, a run killed partway, re-imports
//! that change nothing, and `cert reset` back from a custom certificate.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};

use certherd_authority::{IssueRequest, Node, SystemClock};
use certherd_store::Home;
use certherd_x509::{Eku, Role};
use common::{EnterpriseCa, Env};

/// Kills and reaps the child whatever happens to the test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` service certificates in store `svc`, issued in one transaction.
fn many_entries(env: &Env, n: usize) {
    let store = Home::new(env.home()).open().unwrap();
    let mut node = Node::new(store, Box::new(SystemClock), None, "certherd.toml").unwrap();
    let reqs: Vec<IssueRequest> = (0..n)
        .map(|i| IssueRequest {
            profile: "service".into(),
            entry: format!("svc/s{i:05}").parse().unwrap(),
            common_name: None,
            names: vec![],
            key_algo: None,
        })
        .collect();
    node.issue_batch(&reqs).unwrap();
}

fn audit_subjects(env: &Env, action: &str) -> Vec<String> {
    env.json(&["audit", "--output", "json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == action)
        .map(|a| a["subject"].as_str().unwrap().to_owned())
        .collect()
}

fn renewed_entries(out: &serde_json::Value) -> Vec<String> {
    out.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ok"] == true && e["skipped"] == false)
        .map(|e| e["entry"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_bulk_runs_at_once_renew_nothing_twice() {
    let env = Env::new();
    env.init();
    many_entries(&env, 60);
    let spawn = || {
        Reaped(
            env.cmd(&["cert", "renew", "--all", "--output", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };
    let (mut a, mut b) = (spawn(), spawn());
    let collect = |c: &mut Reaped| {
        let mut out = String::new();
        let mut err = String::new();
        c.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        c.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let code = c.0.wait().unwrap().code();
        (code, out, err)
    };
    let (ca, oa, ea) = collect(&mut a);
    let (cb, ob, eb) = collect(&mut b);
    assert_eq!((ca, cb), (Some(0), Some(0)), "{ea}\n{eb}");
    let (ja, jb): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&oa).unwrap(),
        serde_json::from_str(&ob).unwrap(),
    );
    let (ra, rb) = (renewed_entries(&ja), renewed_entries(&jb));
    // One run did the work; the other waited, said so, and renewed nothing it renewed.
    let waited = if ea.contains("waiting") { &ea } else { &eb };
    assert!(
        waited.contains("waiting: `certherd cert renew --all` (pid"),
        "{ea}\n{eb}"
    );
    let mut all: Vec<String> = ra.iter().chain(rb.iter()).cloned().collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an entry was renewed twice");
    assert_eq!(n, 62, "60 services, machine-ssl and sts, each once");
    let renews = audit_subjects(&env, "renew");
    assert_eq!(renews.len(), 62);
    let backups = env.json(&["cert", "list", "--store", "backup", "--output", "json"]);
    assert_eq!(backups.as_array().unwrap().len(), 62);
    // The waiting run reports each entry the other one renewed as skipped, with why.
    assert!(ra.is_empty() != rb.is_empty(), "{ra:?} {rb:?}");
    let skipped = if ra.is_empty() { &ja } else { &jb };
    let already = skipped
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "already-done")
        .count();
    assert_eq!(already, 62, "{skipped}");
}

#[test]
fn a_killed_bulk_run_has_printed_what_it_committed() {
    let env = Env::new();
    env.init();
    many_entries(&env, 300);
    let mut child = Reaped(
        env.cmd(&["cert", "renew", "--all"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut printed = BTreeSet::new();
    while printed.len() < 5 {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("renewed ") {
            printed.insert(rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Whatever was written before the kill is still in the pipe.
    for line in lines {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("renewed ") {
            printed.insert(rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    let committed: BTreeSet<String> = audit_subjects(&env, "renew").into_iter().collect();
    assert!(
        committed.len() < 302,
        "killed partway, not after the end: {}",
        committed.len()
    );
    assert!(
        printed.is_subset(&committed),
        "{printed:?} vs {committed:?}"
    );
    // Only the renewal committed in the instant of the kill may lack its line.
    assert!(
        committed.len() - printed.len() <= 1,
        "{} committed, {} printed",
        committed.len(),
        printed.len()
    );
    // What was committed is whole: the next run takes the rest, once each.
    env.ok(&["cert", "renew", "--all"]);
    assert_eq!(audit_subjects(&env, "renew").len(), committed.len() + 302);
}

/// A home whose machine-ssl certificate was replaced by one from an enterprise CA.
fn custom_mode() -> (Env, EnterpriseCa, std::path::PathBuf, std::path::PathBuf) {
    let env = Env::new();
    env.init();
    let csr_dir = env.path("csr");
    env.ok(&[
        "csr",
        "create",
        "--cn",
        "node1.example.test",
        "--san",
        "192.0.2.10",
        "--out",
        csr_dir.to_str().unwrap(),
    ]);
    let ent = EnterpriseCa::new();
    env.ok(&[
        "trust",
        "add",
        env.write("ent-root.pem", ent.pem()).to_str().unwrap(),
    ]);
    let csr = std::fs::read(csr_dir.join("csr.pem")).unwrap();
    let cert = env.write(
        "custom.pem",
        ent.sign(
            &csr,
            &["node1.example.test", "192.0.2.10"],
            vec![Eku::ServerAuth, Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    let key = csr_dir.join("key.pem");
    (env, ent, cert, key)
}

fn import_args<'a>(cert: &'a std::path::Path, key: &'a std::path::Path) -> Vec<&'a str> {
    vec![
        "cert",
        "import",
        "machine-ssl/machine",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]
}

fn backup_count(env: &Env) -> usize {
    env.json(&["cert", "list", "--store", "backup", "--output", "json"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn importing_the_live_certificate_again_changes_nothing_and_says_so() {
    let (env, _ent, cert, key) = custom_mode();
    env.ok(&import_args(&cert, &key));
    assert_eq!(backup_count(&env), 1, "the CA-issued one is kept");
    let before = env.snapshot();
    let out = env.ok(&import_args(&cert, &key));
    assert!(
        out.starts_with("unchanged machine-ssl/machine: this certificate (SHA-256 "),
        "{out}"
    );
    let mut args = import_args(&cert, &key);
    args.extend(["--output", "json"]);
    let j = env.json(&args);
    assert_eq!(j["unchanged"], true);
    assert_eq!(j["source"], "imported");
    assert_eq!(before, env.snapshot(), "no backup, no audit row");
    assert_eq!(audit_subjects(&env, "import").len(), 1);
}

#[test]
fn reset_goes_back_from_a_custom_certificate_to_a_ca_issued_one() {
    let (env, _ent, cert, key) = custom_mode();
    env.ok(&import_args(&cert, &key));
    let imported = env.json(&["cert", "show", "machine-ssl/machine", "--output", "json"]);

    let help = env.ok(&["cert", "reset", "--help"]);
    for needle in [
        "option 8",
        "certherd cert reset --all",
        "backup store",
        "machine-ssl",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    // renew --all says what it skipped and why; --due too when the entry is due.
    let out = env.ok(&["cert", "renew", "--all"]);
    assert!(
        out.contains("skipped machine-ssl/machine: imported; `certherd cert reset machine-ssl/machine` to replace it with a CA-issued one"),
        "{out}"
    );
    let j = env.json(&["cert", "renew", "--all", "--output", "json"]);
    assert!(j
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["entry"] == "machine-ssl/machine" && e["reason"] == "imported"));

    let before = env.snapshot();
    let dry = env.ok(&["cert", "reset", "--all", "--dry-run"]);
    assert!(
        dry.contains("would reset 1 entry") && dry.contains("  machine-ssl/machine"),
        "{dry}"
    );
    assert_eq!(before, env.snapshot());

    let backups_before = backup_count(&env);
    let j = env.json(&["cert", "reset", "machine-ssl/machine", "--output", "json"]);
    let one = &j.as_array().unwrap()[0];
    assert_eq!(one["ok"], true);
    assert_eq!(one["profile"], "machine-ssl");
    assert!(one["backup"]
        .as_str()
        .unwrap()
        .starts_with("backup/machine-ssl.machine."));
    let now = env.json(&["cert", "show", "machine-ssl/machine", "--output", "json"]);
    assert_eq!(now["source"], "issued");
    assert_eq!(now["auto_renew"], true);
    assert!(
        now["issuer"].as_str().unwrap().contains("certherd"),
        "{now}"
    );
    assert_eq!(now["sans"], imported["sans"]);
    assert_eq!(backup_count(&env), backups_before + 1);
    let kept = env.json(&["cert", "list", "--store", "backup", "--output", "json"]);
    assert!(kept
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["sha256"] == imported["sha256"]));
    assert_eq!(audit_subjects(&env, "reset"), ["machine-ssl/machine"]);

    // Again: nothing imported any more; a clear refusal, nothing changed.
    let before = env.snapshot();
    let r = env.run(&["cert", "reset", "machine-ssl/machine"]);
    assert!(
        r.code == 1 && r.stderr.contains("already issued by certherd's CA"),
        "{}",
        r.stderr
    );
    assert_eq!(before, env.snapshot());
    assert!(env
        .ok(&["cert", "reset", "--all"])
        .contains("nothing to reset"));
    let r = env.run(&["cert", "reset", "machine-ssl/machine", "--dry-run"]);
    assert!(
        r.code == 1 && r.stderr.contains("is not an imported entry"),
        "{}",
        r.stderr
    );
}

#[test]
fn reset_all_resets_every_imported_entry() {
    let (env, ent, cert, key) = custom_mode();
    env.ok(&import_args(&cert, &key));
    // A client-only certificate in a store that names no profile.
    let csr_dir = env.path("csr-client");
    env.ok(&[
        "csr",
        "create",
        "--cn",
        "backup-agent.example.test",
        "--out",
        csr_dir.to_str().unwrap(),
    ]);
    let client = env.write(
        "client.pem",
        ent.sign(
            &std::fs::read(csr_dir.join("csr.pem")).unwrap(),
            &["backup-agent.example.test"],
            vec![Eku::ClientAuth],
            Role::Leaf,
            365,
        ),
    );
    env.ok(&[
        "cert",
        "import",
        "integrations/backup-agent",
        "--cert",
        client.to_str().unwrap(),
        "--key",
        csr_dir.join("key.pem").to_str().unwrap(),
    ]);
    let j = env.json(&["cert", "reset", "--all", "--output", "json"]);
    let got: Vec<(String, String)> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["ok"], true, "{e}");
            (
                e["entry"].as_str().unwrap().to_owned(),
                e["profile"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("integrations/backup-agent".to_owned(), "service".to_owned()),
            ("machine-ssl/machine".to_owned(), "machine-ssl".to_owned()),
        ]
    );
    assert_eq!(audit_subjects(&env, "reset").len(), 2);
    assert!(!env.ok(&["cert", "renew", "--all"]).contains("imported;"));
}

/// Runs `certherd ARGS` on a pseudo-terminal (`script` from util-linux/bsdutils, in every
/// Debian), returning what the terminal showed.
fn on_terminal(env: &Env, args: &str, ci: bool) -> String {
    let bin = env!("CARGO_BIN_EXE_certherd");
    let home = env.home();
    let mut c = std::process::Command::new("script");
    c.args([
        "-qec",
        &format!("{bin} --home {} {args}", home.display()),
        "/dev/null",
    ])
    .env("TERM", "xterm")
    .env_remove("CERTHERD_FAULT_POINT")
    .stdin(Stdio::null());
    if ci {
        c.env("CI", "true");
    } else {
        c.env_remove("CI");
    }
    let out = c.output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_progress_bar_only_on_a_terminal_and_never_under_ci() {
    let env = Env::new();
    env.init();
    many_entries(&env, 200);
    let tty = on_terminal(&env, "cert renew --all", false);
    assert!(tty.contains("/202 renewed"), "{tty}");
    assert!(tty.contains("renewed svc/s00199  serial"), "{tty}");
    let ci = on_terminal(&env, "cert renew --all", true);
    assert!(!ci.contains("/202 renewed"), "{ci}");
    assert!(ci.contains("renewed svc/s00199  serial"), "{ci}");
    // Piped: lines only.
    let piped = env.ok(&["cert", "renew", "--all"]);
    assert!(!piped.contains("/202 renewed") && !piped.contains('\u{1b}'));
}
