//! The exceptions-file contract of the suite harnesses (x509-limbo in `certherd-inspect`,
//! NIST PKITS here): a case whose result differs from the suite must be listed with
//! expected, actual and a reason; a listed case that agrees again is stale; both fail the
//! harness, as webpki's limbo harness does. Included by path from both crates' tests.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// The exceptions file at `path`, keyed by each entry's `key` field (`id` or `name`);
/// every entry must carry a reason and be listed once.
pub fn load(path: &Path, key: &str) -> BTreeMap<String, Value> {
    let entries: Vec<Value> = serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let mut listed = BTreeMap::new();
    for e in entries {
        let k = e[key]
            .as_str()
            .unwrap_or_else(|| panic!("an exception without {key}"))
            .to_owned();
        assert!(
            e["reason"].as_str().is_some_and(|r| r.len() > 10),
            "exception {k} needs a reason"
        );
        assert!(
            listed.insert(k.clone(), e).is_none(),
            "exception {k} listed twice"
        );
    }
    listed
}

/// How one case compares with the suite, given the exception listed for it.
pub enum Compared {
    /// The result is the suite's, and nothing is listed.
    Agrees,
    /// The result differs exactly as listed.
    Known,
    /// An unlisted difference, a stale entry, or one listed otherwise: what to print.
    Problem(String),
}

/// Compares `actual` with `expected` for the case `label`; `context` says why the result
/// is what it is, `detail` what the suite says of an unlisted difference.
pub fn compare(
    label: &str,
    expected: &str,
    actual: &str,
    context: &str,
    listed: Option<&Value>,
    detail: &str,
) -> Compared {
    match (actual == expected, listed) {
        (true, None) => Compared::Agrees,
        (false, Some(e)) if e["expected"] == expected && e["actual"] == actual => Compared::Known,
        (false, Some(e)) => Compared::Problem(format!(
            "{label}: listed as {} -> {}, now {expected} -> {actual} ({context})",
            e["expected"], e["actual"]
        )),
        (true, Some(_)) => Compared::Problem(format!(
            "{label}: listed as an exception but now matches ({expected}); remove the stale entry"
        )),
        (false, None) => Compared::Problem(format!(
            "{label}: expected {expected}, got {actual} ({context}); {detail}"
        )),
    }
}
