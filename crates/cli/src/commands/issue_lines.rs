//! `cert issue --from FILE`: a file of JSON lines, one `cert issue` a line, its keys the
//! command's long flag names (`{"profile": "host", "store": "bulk", "alias": "b1", "san":
//! ["b1.example.test"]}`). Every line is read and checked before anything is issued; the
//! requests then go in batches, each one transaction.

use std::collections::HashMap;

use certherd_core::{Alias, EntryRef, StoreName};
use certherd_protocol::admin as api;

/// Largest request file read (256 MiB: some millions of lines).
pub const FILE_LIMIT: u64 = 256 * 1024 * 1024;

/// The most bytes of requests one batch carries as JSON, under the server's body limit
/// (256 KiB) with room for the envelope.
pub const BATCH_BYTES: usize = 192 * 1024;

/// One line of the file: `cert issue`'s long flags as keys, nothing else.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    profile: String,
    store: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    cn: Option<String>,
    #[serde(default)]
    san: Vec<String>,
    #[serde(default, rename = "key-algo")]
    key_algo: Option<String>,
}

/// What is wrong with one request, whichever way it was given (flags or a line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestProblem {
    /// No alias, common name or SAN to name the entry by.
    #[error("give an alias, a cn or a san")]
    NoName,
    /// The store's name is not one.
    #[error("store: {0}")]
    Store(certherd_core::Error),
    /// The alias is not one.
    #[error("alias: {0}")]
    Alias(certherd_core::Error),
    /// The key algorithm is not one certherd makes.
    #[error("key-algo: {0}")]
    KeyAlgo(certherd_x509::Error),
    /// A name holds a control character.
    #[error(transparent)]
    Control(crate::input::InputError),
}

/// Why a request file was refused (nothing issued).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A line is not UTF-8.
    #[error("line {line}: not UTF-8 text")]
    NotUtf8 {
        /// The line's number, from 1.
        line: usize,
    },
    /// A line is not a JSON object of `cert issue`'s flags (an unknown key, a missing
    /// profile or store, a value of the wrong type...).
    #[error("line {line}: {detail} (a line is a JSON object whose keys are `cert issue`'s long flags: profile, store, alias, cn, san, key-algo)")]
    Json {
        /// The line's number, from 1.
        line: usize,
        /// What the JSON reader said, without its position.
        detail: String,
    },
    /// A line's request is not one `cert issue` would take.
    #[error("line {line}: {problem}")]
    Request {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong.
        problem: RequestProblem,
    },
    /// Two lines name the same entry.
    #[error("line {line}: {entry} is named on line {first} too; each line issues its own entry")]
    Duplicate {
        /// The later line's number.
        line: usize,
        /// The first line that names it.
        first: usize,
        /// The entry.
        entry: String,
    },
    /// No line holds a request.
    #[error("no request in it (one JSON object a line)")]
    Empty,
}

/// A request checked as `cert issue` checks its flags: the entry named (by the alias, else
/// the common name, else the first SAN), the key algorithm known, the names printable.
pub fn issue_request(
    profile: String,
    store: &str,
    alias: Option<String>,
    cn: Option<String>,
    sans: Vec<String>,
    key_algo: Option<String>,
) -> Result<api::IssueRequest, RequestProblem> {
    let store: StoreName = store.parse().map_err(RequestProblem::Store)?;
    let alias = alias
        .or_else(|| cn.clone())
        .or_else(|| sans.first().cloned())
        .ok_or(RequestProblem::NoName)?;
    let alias: Alias = alias.parse().map_err(RequestProblem::Alias)?;
    if let Some(k) = &key_algo {
        k.parse::<certherd_x509::KeyAlgorithm>()
            .map_err(RequestProblem::KeyAlgo)?;
    }
    if let Some(cn) = &cn {
        crate::input::printable("--cn", cn).map_err(RequestProblem::Control)?;
    }
    for name in &sans {
        crate::input::printable("--san", name).map_err(RequestProblem::Control)?;
    }
    let entry = EntryRef::new(store, alias);
    Ok(api::IssueRequest {
        store: entry.store.to_string(),
        alias: entry.alias.to_string(),
        profile,
        common_name: cn,
        names: sans,
        key_algo,
    })
}

/// One request of the file, with the number of its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    /// The line's number, from 1.
    pub line: usize,
    /// The request.
    pub request: api::IssueRequest,
}

/// Every request of the file, each line checked (blank lines skipped), no two naming the
/// same entry; the first line at fault refuses the whole file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Numbered>, LineError> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(raw).map_err(|_| LineError::NotUtf8 { line })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(text).map_err(|e| LineError::Json {
            line,
            detail: without_position(&e),
        })?;
        let request = issue_request(l.profile, &l.store, l.alias, l.cn, l.san, l.key_algo)
            .map_err(|problem| LineError::Request { line, problem })?;
        let entry = format!("{}/{}", request.store, request.alias);
        if let Some(first) = seen.get(&entry) {
            return Err(LineError::Duplicate {
                line,
                first: *first,
                entry,
            });
        }
        seen.insert(entry, line);
        out.push(Numbered { line, request });
    }
    if out.is_empty() {
        return Err(LineError::Empty);
    }
    Ok(out)
}

/// serde_json's message without the ` at line 1 column N` it appends (the line is ours
/// to name; within one line the column is of little help).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(t) => t.to_owned(),
        None => text,
    }
}

/// The requests cut into batches: at most [`api::MAX_ISSUE_BATCH`] requests and about
/// [`BATCH_BYTES`] of JSON each (one request alone may be larger), in order.
pub fn batches(requests: &[Numbered]) -> Vec<&[Numbered]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, r) in requests.iter().enumerate() {
        let size = certherd_protocol::encode(&r.request).len() + 1;
        if i > start && (i - start >= api::MAX_ISSUE_BATCH || bytes + size > BATCH_BYTES) {
            out.push(&requests[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < requests.len() {
        out.push(&requests[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_good_file_gives_each_line_its_request() {
        let file = b"{\"profile\": \"host\", \"store\": \"bulk\", \"alias\": \"b1\", \"san\": [\"b1.example.test\"]}\n\n{\"profile\":\"service\",\"store\":\"bulk\",\"cn\":\"b2\",\"key-algo\":\"rsa-2048\"}\r\n{\"profile\":\"service\",\"store\":\"bulk\",\"san\":[\"b3.example.test\",\"10.0.0.3\"]}";
        let got = parse(file).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].line, 1);
        assert_eq!(got[0].request.alias, "b1");
        assert_eq!(got[0].request.names, vec!["b1.example.test".to_owned()]);
        assert_eq!(got[1].line, 3);
        assert_eq!(got[1].request.alias, "b2");
        assert_eq!(got[1].request.common_name.as_deref(), Some("b2"));
        assert_eq!(got[1].request.key_algo.as_deref(), Some("rsa-2048"));
        assert_eq!(got[2].line, 4);
        assert_eq!(got[2].request.alias, "b3.example.test");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_its_line() {
        let file = b"{\"profile\":\"host\",\"store\":\"s\",\"alias\":\"a\"}\n{\"profile\":\"host\",\"store\":\"s\",\"alias\":\"b\",\"sans\":[]}\n";
        let e = parse(file).unwrap_err();
        assert!(matches!(e, LineError::Json { line: 2, .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with("line 2: unknown field `sans`"), "{text}");
        assert!(!text.contains("column"), "{text}");
    }

    #[test]
    fn bad_lines_are_refused_each_for_its_reason() {
        type Case<'a> = (&'a [u8], fn(&LineError) -> bool);
        let cases: &[Case<'_>] = &[
            (b"not json", |e| matches!(e, LineError::Json { line: 1, .. })),
            (b"[1,2]", |e| matches!(e, LineError::Json { line: 1, .. })),
            (b"{\"store\":\"s\",\"alias\":\"a\"}", |e| {
                matches!(e, LineError::Json { line: 1, .. })
            }),
            (b"\n{\"profile\":\"p\",\"store\":\"s\"}", |e| {
                matches!(
                    e,
                    LineError::Request {
                        line: 2,
                        problem: RequestProblem::NoName
                    }
                )
            }),
            (b"{\"profile\":\"p\",\"store\":\"s\",\"alias\":\"a\",\"key-algo\":\"dsa\"}", |e| {
                matches!(
                    e,
                    LineError::Request {
                        line: 1,
                        problem: RequestProblem::KeyAlgo(_)
                    }
                )
            }),
            (b"{\"profile\":\"p\",\"store\":\"s\",\"alias\":\"a\",\"cn\":\"a\\u0007\"}", |e| {
                matches!(
                    e,
                    LineError::Request {
                        line: 1,
                        problem: RequestProblem::Control(_)
                    }
                )
            }),
            (b"\xff\xfe", |e| matches!(e, LineError::NotUtf8 { line: 1 })),
            (b"\n \n", |e| matches!(e, LineError::Empty)),
            (
                b"{\"profile\":\"p\",\"store\":\"s\",\"alias\":\"a\"}\n{\"profile\":\"q\",\"store\":\"s\",\"cn\":\"a\"}",
                |e| {
                    matches!(
                        e,
                        LineError::Duplicate {
                            line: 2,
                            first: 1,
                            ..
                        }
                    )
                },
            ),
        ];
        for (file, expected) in cases {
            let e = parse(file).unwrap_err();
            assert!(expected(&e), "{:?}: {e:?}", String::from_utf8_lossy(file));
        }
    }

    #[test]
    fn batches_keep_the_order_and_the_bounds() {
        let one = |i: usize, names: usize| Numbered {
            line: i + 1,
            request: api::IssueRequest {
                store: "bulk".into(),
                alias: format!("b{i}"),
                profile: "service".into(),
                common_name: None,
                names: vec!["x".repeat(60); names],
                key_algo: None,
            },
        };
        let many: Vec<Numbered> = (0..2500).map(|i| one(i, 0)).collect();
        let b = batches(&many);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        assert_eq!(b[1][0].line, 1001);
        // Large requests: cut by size, each batch's body under the server's limit.
        let large: Vec<Numbered> = (0..200).map(|i| one(i, 100)).collect();
        let b = batches(&large);
        assert!(b.len() > 1);
        assert_eq!(b.iter().map(|b| b.len()).sum::<usize>(), 200);
        for batch in &b {
            let body = certherd_protocol::encode(&api::IssueBatchRequest {
                requests: batch.iter().map(|n| n.request.clone()).collect(),
            });
            assert!(body.len() < 256 * 1024, "{}", body.len());
        }
        assert!(batches(&[]).is_empty());
    }

    proptest! {
        /// No input panics: a line is a request or a refusal that names a line.
        #[test]
        fn no_line_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            match parse(&bytes) {
                Ok(v) => prop_assert!(!v.is_empty()),
                Err(e) => { let _ = e.to_string(); }
            }
        }

        /// Nor does text close to a request.
        #[test]
        fn no_near_request_panics(
            key in "(profile|store|alias|cn|san|key-algo|x)",
            value in "[ -~\\u{0}-\\u{1f}é]{0,20}",
            lines in 1usize..4,
        ) {
            let line = format!(
                "{{\"profile\":\"service\",\"store\":\"s\",{:?}:{:?}}}",
                key, value
            );
            let file = vec![line; lines].join("\n");
            let _ = parse(file.as_bytes()).map_err(|e| e.to_string());
        }
    }
}
