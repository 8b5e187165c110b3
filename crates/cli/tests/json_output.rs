//! The JSON outputs, byte for byte: each command's `--output json` text compared with the
//! text certherd printed when it built that JSON by hand (`serde_json::json!`), so that
//! the typed views that replaced it keep every key, null and byte. Serials, times,
//! fingerprints and random name suffixes differ from run to run, so [`mask`] replaces
//! them (and the test's directory) before the comparison.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::Env;

/// Is `b` a run of `n` ASCII digits?
fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// The length of the token at the start of `b` that [`mask`] replaces, and with what.
fn volatile(b: &[u8], prev: Option<u8>) -> Option<(usize, &'static str)> {
    // An RFC 3339 time: 2026-12-07T21:02:24Z.
    if b.len() >= 20
        && digits(&b[0..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10])
        && b[10] == b'T'
        && digits(&b[11..13])
        && b[13] == b':'
        && digits(&b[14..16])
        && b[16] == b':'
        && digits(&b[17..19])
        && b[19] == b'Z'
    {
        return Some((20, "<time>"));
    }
    // A backup's stamp: 20261207T210224Z.
    if b.len() >= 16 && digits(&b[0..8]) && b[8] == b'T' && digits(&b[9..15]) && b[15] == b'Z' {
        return Some((16, "<stamp>"));
    }
    // A thumbprint in upper-case hex with colons.
    let upper = |c: &u8| c.is_ascii_digit() || (b'A'..=b'F').contains(c);
    let mut n = 0;
    while b.len() >= n + 5
        && b[n..n + 2].iter().all(upper)
        && b[n + 2] == b':'
        && b[n + 3..n + 5].iter().all(upper)
    {
        n += 3;
    }
    if n > 0 {
        return Some((n + 2, "<hex>"));
    }
    // A serial or fingerprint in lower-case hex.
    let lower = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    let run = b.iter().take_while(|c| lower(c)).count();
    if run >= 32 && !prev.is_some_and(|p| lower(&p)) {
        return Some((run, "<hex>"));
    }
    // A random suffix of a name: -9bcafceb01.
    if b.first() == Some(&b'-') {
        let run = b[1..].iter().take_while(|c| lower(c)).count();
        let end = b
            .get(1 + run)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if (8..=10).contains(&run) && end {
            return Some((1 + run, "-<id>"));
        }
    }
    None
}

/// `text` with what differs between runs replaced by a placeholder.
fn mask(text: &str, dir: &str) -> String {
    let text = text.replace(dir, "<dir>");
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match volatile(&b[i..], i.checked_sub(1).map(|p| b[p])) {
            Some((n, with)) => {
                out.extend_from_slice(with.as_bytes());
                i += n;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn json_outputs_are_unchanged_byte_for_byte() {
    let env = Env::new();
    env.init();
    let dir = env.dir.path().to_str().unwrap().to_owned();
    let mut seen = Vec::new();
    let mut check = |name: &str, args: &[&str], want: &str| {
        let got = mask(&env.run(args).stdout, &dir);
        if got != want {
            seen.push(format!(
                "{name} ({args:?}):\n--- want\n{want}--- got\n{got}"
            ));
        }
    };
    check(
        "show",
        &["cert", "show", "machine-ssl/machine", "--output", "json"],
        SHOW,
    );
    check(
        "issue",
        &[
            "cert",
            "issue",
            "--store",
            "web",
            "--alias",
            "www",
            "--cn",
            "www.example.test",
            "--san",
            "www.example.test",
            "--profile",
            "service",
            "--output",
            "json",
        ],
        ISSUE,
    );
    check(
        "renew_one",
        &["cert", "renew", "web/www", "--output", "json"],
        RENEW_ONE,
    );
    check(
        "dry_run",
        &["cert", "renew", "--all", "--dry-run", "--output", "json"],
        DRY_RUN,
    );
    check(
        "renew_all",
        &["cert", "renew", "--all", "--output", "json"],
        RENEW_ALL,
    );
    env.ok(&[
        "key-provider",
        "create",
        "--primary-key-id",
        "k1",
        "--server",
        "127.0.0.1:1",
        "kp1",
    ]);
    env.ok(&[
        "key-provider",
        "add-server",
        "kp1",
        "127.0.0.2:1",
        "--proxy",
        "127.0.0.3:8080",
    ]);
    check(
        "providers",
        &["key-provider", "list", "--output", "json"],
        PROVIDERS,
    );
    env.ok(&["admin", "credential", "--name", "adm1", "--role", "reader"]);
    check(
        "credentials",
        &["admin", "credential", "list", "--output", "json"],
        CREDENTIALS,
    );
    env.ok(&["cert", "export", "machine-ssl/machine", "--out", "m.pem"]);
    check("verify", &["verify", "m.pem", "--output", "json"], VERIFY);
    std::fs::create_dir(env.path("files")).unwrap();
    std::fs::copy(env.path("m.pem"), env.path("files/m.pem")).unwrap();
    std::os::unix::fs::symlink("nowhere", env.path("files/dangling")).unwrap();
    check(
        "scan_files",
        &["scan", "files", "files", "--output", "json"],
        SCAN_FILES,
    );
    env.ok(&["endpoint", "add", "--address", "127.0.0.1:1", "ep1"]);
    check(
        "diagnose",
        &["endpoint", "diagnose", "ep1", "--output", "json"],
        DIAGNOSE,
    );
    check("trust", &["trust", "list", "--output", "json"], TRUST);
    assert!(seen.is_empty(), "{}", seen.join("\n"));
}

/// `show` as certherd printed it before its JSON output was typed (masked).
const SHOW: &str = r##"{
  "alias": "machine",
  "auto_renew": true,
  "chain": [
    {
      "issuer": "O=certherd, CN=certherd CA node1.example.test",
      "not_after": "<time>",
      "sha256": "<hex>",
      "subject": "O=certherd, CN=certherd CA node1.example.test"
    }
  ],
  "days_left": 729,
  "extended_key_usage": [
    "serverAuth",
    "clientAuth"
  ],
  "has_key": true,
  "is_ca": false,
  "issuer": "O=certherd, CN=certherd CA node1.example.test",
  "key_usage": [
    "digitalSignature"
  ],
  "not_after": "<time>",
  "not_before": "<time>",
  "profile": "machine-ssl",
  "public_key": "ECDSA P-256",
  "renew_after": "<time>",
  "sans": [
    "DNS:node1.example.test",
    "IP:192.0.2.10"
  ],
  "serial": "<hex>",
  "sha1": "<hex>",
  "sha256": "<hex>",
  "signature_algorithm": "ecdsa-with-SHA256",
  "source": "issued",
  "status": "ok",
  "store": "machine-ssl",
  "subject": "CN=node1.example.test"
}
"##;

/// `issue` as certherd printed it before its JSON output was typed (masked).
const ISSUE: &str = r##"{
  "alias": "www",
  "auto_renew": true,
  "days_left": 729,
  "has_key": true,
  "issuer": "O=certherd, CN=certherd CA node1.example.test",
  "not_after": "<time>",
  "not_before": "<time>",
  "profile": "service",
  "renew_after": "<time>",
  "serial": "<hex>",
  "sha256": "<hex>",
  "source": "issued",
  "status": "ok",
  "store": "web",
  "subject": "CN=www.example.test"
}
"##;

/// `renew_one` as certherd printed it before its JSON output was typed (masked).
const RENEW_ONE: &str = r##"[
{"backup":"backup/web.www.<stamp>","entry":"web/www","not_after":"<time>","ok":true,"profile":"service","serial":"<hex>","skipped":false,"warnings":[]}
]
"##;

/// `dry_run` as certherd printed it before its JSON output was typed (masked).
const DRY_RUN: &str = r##"[
  "machine-ssl/machine",
  "sts/sts-signing",
  "web/www"
]
"##;

/// `renew_all` as certherd printed it before its JSON output was typed (masked).
const RENEW_ALL: &str = r##"[
{"backup":"backup/machine-ssl.machine.<stamp>","entry":"machine-ssl/machine","not_after":"<time>","ok":true,"profile":"machine-ssl","serial":"<hex>","skipped":false,"warnings":[]}
,{"backup":"backup/sts.sts-signing.<stamp>","entry":"sts/sts-signing","not_after":"<time>","ok":true,"profile":"sts-signing","serial":"<hex>","skipped":false,"warnings":["validity capped at the issuing CA's expiry <time> (profile sts-signing asks for 10y)"]}
,{"backup":"backup/web.www.<stamp>.1","entry":"web/www","not_after":"<time>","ok":true,"profile":"service","serial":"<hex>","skipped":false,"warnings":[]}
,{"detail":"a CA certificate; `certherd ca rotate` replaces it","entry":"ca/root","ok":true,"reason":"certificate-authority","skipped":true}
]
"##;

/// `providers` as certherd printed it before its JSON output was typed (masked).
const PROVIDERS: &str = r##"[
  {
    "name": "kp1",
    "primary_key_id": "k1",
    "servers": [
      {
        "address": "127.0.0.1:1",
        "proxy": null
      },
      {
        "address": "127.0.0.2:1",
        "proxy": "127.0.0.3:8080"
      }
    ]
  }
]
"##;

/// `credentials` as certherd printed it before its JSON output was typed (masked).
const CREDENTIALS: &str = r##"[
  {
    "created_at": "<time>",
    "expires_at": null,
    "kind": "bearer",
    "name": "adm1",
    "revoked_at": null,
    "role": "reader",
    "sha256": "<hex>"
  }
]
"##;

/// `verify` as certherd printed it before its JSON output was typed (masked).
const VERIFY: &str = r##"{
  "at": "<time>",
  "chain": [
    "CN=node1.example.test",
    "O=certherd, CN=certherd CA node1.example.test"
  ],
  "covers_name": null,
  "failure": null,
  "finding": "ok",
  "findings": [],
  "strict": false,
  "subject": "CN=node1.example.test",
  "trusted": true,
  "valid": true
}
"##;

/// `scan_files` as certherd printed it before its JSON output was typed (masked).
const SCAN_FILES: &str = r##"{
  "watched": [
    {
      "facts": {
        "bundle": false,
        "certificates": 1,
        "format": "PEM",
        "keys": 0,
        "locked": false,
        "type": "file"
      },
      "finding": "ok",
      "findings": [],
      "kind": "file",
      "name": "m.pem-<id>",
      "not_after": "<time>",
      "pin_sha256": null,
      "scanned_at": "<time>",
      "server_name": null,
      "severity": "ok",
      "sha256": "<hex>",
      "starttls": null,
      "subject": "CN=node1.example.test",
      "target": "<dir>/files/m.pem",
      "verify": false
    }
  ],
  "dangling_links": [
    {
      "link": "<dir>/files/dangling",
      "loop": false,
      "target": "nowhere"
    }
  ],
  "excluded": {
    "database_sidecars": 0,
    "home": 0,
    "links_out_of_pseudo_filesystems": 0,
    "repeated_directories": 0
  },
  "files_examined": 1,
  "files_with_findings": 1,
  "links_followed": 0,
  "skipped": [],
  "stopped_at_max_files": null
}
"##;

/// `diagnose` as certherd printed it before its JSON output was typed (masked).
const DIAGNOSE: &str = r##"{
  "endpoint": "ep1",
  "facts": {
    "type": "none"
  },
  "finding": "unreachable",
  "findings": [
    {
      "hint": "check the address, the port, firewalls and that the service is running",
      "kind": "unreachable",
      "message": "cannot connect to 127.0.0.1:1: Connection refused (os error 111)",
      "severity": "critical",
      "subject": null
    }
  ],
  "name_checked": "127.0.0.1",
  "starttls": null,
  "target": "127.0.0.1:1",
  "verdict": "network"
}
"##;

/// `trust` as certherd printed it before its JSON output was typed (masked).
const TRUST: &str = r##"[
  {
    "alias": "certherd-ca-node1-example-test-<id>",
    "auto_renew": false,
    "days_left": 3649,
    "has_key": false,
    "issuer": "O=certherd, CN=certherd CA node1.example.test",
    "not_after": "<time>",
    "not_before": "<time>",
    "profile": "root-ca",
    "renew_after": null,
    "serial": "<hex>",
    "sha256": "<hex>",
    "source": "trusted",
    "status": "ok",
    "store": "trusted-roots",
    "subject": "O=certherd, CN=certherd CA node1.example.test"
  }
]
"##;
