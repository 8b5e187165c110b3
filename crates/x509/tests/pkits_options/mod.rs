//! The RFC 5280 inputs a NIST PKITS case of pkits.json sets (pyhanko-certvalidator's
//! layout), for the library harness (`pkits.rs`) and the one through the `certherd verify`
//! binary (`crates/cli/tests/suites_cli.rs`) alike.

use certherd_x509::Rfc5280Options;
use serde_json::Value;

/// The case's user-initial-policy-set, the three policy indicators, and whether the
/// revocation status of every certificate must be determined (`revocation` absent means it
/// must, as pyhanko's "require").
pub fn options(case: &Value) -> Rfc5280Options {
    let p = &case["params"];
    Rfc5280Options {
        initial_policy_set: p["user_initial_policy_set"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        initial_explicit_policy: p["initial_explicit_policy"].as_bool().unwrap_or(false),
        initial_policy_mapping_inhibit: p["initial_policy_mapping_inhibit"]
            .as_bool()
            .unwrap_or(false),
        initial_any_policy_inhibit: p["initial_any_policy_inhibit"].as_bool().unwrap_or(false),
        require_revocation_status: case["revocation"].as_bool().unwrap_or(true),
    }
}
