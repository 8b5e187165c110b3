//! The book's reference (docs/src/reference) is what `certherd reference` writes: the
//! binary run as the documentation build runs it (no home, no server), its pages compared
//! with the ones checked in. `.ci/book` checks the same with git; this test fails first, in
//! `cargo test`, with the command that fixes it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every file under `dir`, by its path relative to `dir`.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_checked_in_reference_is_what_the_binary_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reference");
    let home = dir.path().join("no-home");
    // Like `man`: the command tree only, whatever --server or the home say.
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_certherd"))
        .args(["--server", "https://127.0.0.1:1", "reference", "--out"])
        .arg(&out)
        .env("CERTHERD_HOME", &home)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!home.exists(), "a home was made");
    let listed = String::from_utf8(r.stdout).unwrap();
    assert!(
        listed.lines().any(|l| l.ends_with("commands/cert.md")),
        "{listed}"
    );

    let written = files(&out);
    let checked_in = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/reference"));
    let differ: BTreeSet<&String> = written
        .keys()
        .chain(checked_in.keys())
        .filter(|k| written.get(*k) != checked_in.get(*k))
        .collect();
    assert!(
        differ.is_empty(),
        "docs/src/reference is not what the code generates ({differ:?}); regenerate it:\n  \
         cargo run -p certherd-cli -- reference --out docs/src/reference"
    );

    // Hidden from the help an admin reads.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_certherd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("  reference "));
}
