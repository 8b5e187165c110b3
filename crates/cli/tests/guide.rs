//! The guide's examples are tests: every ```` ```console ```` block of a page under
//! docs/src/guide/ is run by trycmd against the built `certherd`, and its output (standard
//! output and standard error together) must match the lines written under each `$`
//! command, `[..]` standing for any text within a line and a line `...` for any lines.
//! A changed flag, message or column fails here instead of misleading a reader.
//!
//! Each page is one session: its blocks run in order, in a fresh home (`CERTHERD_HOME`)
//! and a fresh working directory (for the files an example writes), both removed after.
//! After an intended change of output: `TRYCMD=overwrite cargo test -p certherd-cli
//! --test guide`, then check that the `[..]` elisions are still there.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

/// Every markdown page of the guide, sorted: a page with no console block is skipped.
fn guide_pages() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/guide");
    let dir = dir.canonicalize().unwrap();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    assert!(
        pages.len() > 10,
        "the guide's pages are not in {}",
        dir.display()
    );
    pages
}

#[test]
fn the_guides_console_examples_print_what_the_guide_shows() {
    // Whatever the caller's environment names must not reach the examples: a home, a
    // server, a credential, a database or a master key of the machine running the tests.
    for var in [
        "CERTHERD_HOME",
        "CERTHERD_SERVER",
        "CERTHERD_CREDENTIAL",
        "CERTHERD_DATABASE_URL",
        "CERTHERD_MASTER_KEY_FILE",
        "CERTHERD_CONFIG_DIR",
        "CERTHERD_LOG",
        "CERTHERD_LOG_FORMAT",
        "CREDENTIALS_DIRECTORY",
    ] {
        std::env::remove_var(var);
    }
    let bin = env!("CARGO_BIN_EXE_certherd");
    // One page at a time, each in its own directory: trycmd runs a page's commands in the
    // test process's working directory, and this is the only test of this binary.
    let mut failed = Vec::new();
    for page in guide_pages() {
        let scratch = tempfile::tempdir().unwrap();
        let work = scratch.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::env::set_current_dir(&work).unwrap();
        let cases = trycmd::TestCases::new();
        cases
            .register_bin("certherd", Path::new(bin))
            .env(
                "CERTHERD_HOME",
                scratch.path().join("home").display().to_string(),
            )
            .env(
                "CERTHERD_CONFIG_DIR",
                scratch.path().join("config").display().to_string(),
            )
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(120))
            .case(&page);
        // trycmd reports each failing step on stderr and then panics; go on with the
        // other pages so one run shows every page that drifted.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cases.run())).is_err() {
            failed.push(page.display().to_string());
        }
        std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    }
    assert!(
        failed.is_empty(),
        "the guide shows what certherd no longer prints (each step's difference is above): {}",
        failed.join(", ")
    );
}
