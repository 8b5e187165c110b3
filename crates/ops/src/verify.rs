//! `verify`: a certificate and its chain judged as `cert import` judges one, against a
//! home's trusted roots (or the anchors given) and its CRLs. Pure: the trust comes in, a
//! verdict goes out, nothing is stored; so `verify --trusted` runs with no home at all.

use certherd_core::{OffsetDateTime, Span, Thresholds};
use certherd_inspect::{ChainInput, Target, TrustPolicy};
use certherd_protocol::admin as api;
use certherd_x509::{CertInfo, CertificateDer, CertificateRevocationListDer, Purpose};

use crate::{Error, Problem};

/// Certificates, anchors, CRLs or policies one request carries at most, each: far past
/// any real path (the x509-limbo suite's longest chains included); the admin API's body
/// limit bounds a request first.
const MAX_ITEMS: usize = 10_000;

/// What a home brings to a verification: its roots, its CRLs, its thresholds and its now.
#[derive(Clone, Debug)]
pub struct HomeTrust {
    /// Its trusted roots (used when the request gives none).
    pub anchors: Vec<CertificateDer<'static>>,
    /// Its trusted CRLs (always consulted, with the request's).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// Its `expiring` thresholds (used where the request gives none).
    pub thresholds: Thresholds,
    /// Its now (used when the request gives no instant).
    pub now: OffsetDateTime,
}

impl HomeTrust {
    /// No home: no roots or CRLs of its own, the default thresholds, judged at `now`.
    pub fn none(now: OffsetDateTime) -> Self {
        Self {
            anchors: Vec::new(),
            crls: Vec::new(),
            thresholds: Thresholds::default(),
            now,
        }
    }
}

/// The verdict on `r` under `home`'s trust.
pub fn judge(r: &api::VerifyRequest, home: &HomeTrust) -> Result<api::VerifyAnswer, Error> {
    for (name, n) in [
        ("presented", r.presented.len()),
        ("trusted", r.trusted.len()),
        ("crls", r.crls.len()),
        ("policy", r.policy.len()),
    ] {
        if n > MAX_ITEMS {
            return Err(Problem::OutOfRange {
                name,
                min: 0,
                max: MAX_ITEMS as u64,
            }
            .into());
        }
    }
    let presented: Vec<CertificateDer<'static>> = r
        .presented
        .iter()
        .map(|c| der("presented", c).map(CertificateDer::from))
        .collect::<Result<_, _>>()?;
    if presented.is_empty() {
        return Err(Problem::OutOfRange {
            name: "presented",
            min: 1,
            max: MAX_ITEMS as u64,
        }
        .into());
    }
    let trusted: Vec<CertificateDer<'static>> = if r.trusted.is_empty() {
        home.anchors.clone()
    } else {
        r.trusted
            .iter()
            .map(|c| der("trusted", c).map(CertificateDer::from))
            .collect::<Result<_, _>>()?
    };
    let mut crls = home.crls.clone();
    for c in &r.crls {
        crls.push(CertificateRevocationListDer::from(der("crls", c)?));
    }
    let at = match &r.at {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| Problem::NotATime {
                name: "at",
                value: certherd_protocol::echo(t),
            })?,
        None => home.now,
    };
    let purpose = match r.purpose.as_deref() {
        None | Some("any") => Purpose::Any,
        Some("server") => Purpose::Server,
        Some("client") => Purpose::Client,
        Some(other) => {
            return Err(Problem::UnknownPurpose {
                value: certherd_protocol::echo(other),
            }
            .into())
        }
    };
    for oid in &r.policy {
        if !is_dotted_oid(oid) {
            return Err(Problem::NotAnOid {
                value: certherd_protocol::echo(oid),
            }
            .into());
        }
    }
    let span = |name: &'static str, v: &Option<String>, default: Span| {
        v.as_deref().map_or(Ok(default), |s| {
            s.parse::<Span>().map_err(|_| Problem::NotASpan {
                name,
                value: certherd_protocol::echo(s),
            })
        })
    };
    let t = Thresholds {
        warn: span("warn", &r.warn, home.thresholds.warn)?,
        crit: span("crit", &r.crit, home.thresholds.crit)?,
    };
    if t.crit > t.warn {
        return Err(Error::Thresholds {
            warn: t.warn,
            crit: t.crit,
        });
    }
    let inspection = certherd_inspect::inspect(&ChainInput {
        presented: &presented,
        name: r.name.as_deref(),
        purpose,
        at,
        trusted: &trusted,
        anchor_subjects: None,
        crls: &crls,
        pins: &[],
        thresholds: certherd_inspect::Thresholds {
            warn: t.warn.duration(),
            crit: t.crit.duration(),
        },
        policy: TrustPolicy::Required,
        ca_expected: false,
        target: Target::Files,
        rfc5280: certherd_x509::Rfc5280Options {
            initial_policy_set: r.policy.clone(),
            initial_explicit_policy: r.explicit_policy,
            initial_policy_mapping_inhibit: r.inhibit_policy_mapping,
            initial_any_policy_inhibit: r.inhibit_any_policy,
            require_revocation_status: r.crl_check_all,
        },
    });
    // Valid means RFC 5280 and the purpose accept the path now (no critical finding but
    // `expiring`); under `strict`, any warning fails it too.
    let valid = if r.strict {
        inspection.passes_strict()
    } else {
        inspection.is_valid()
    };
    Ok(api::VerifyAnswer {
        valid,
        subject: inspection
            .leaf
            .as_ref()
            .map(|i| i.subject.clone())
            .unwrap_or_default(),
        at: certherd_x509::rfc3339(at),
        trusted: inspection.trusted,
        covers_name: inspection.covers_name,
        chain: inspection
            .path
            .iter()
            .map(|c| CertInfo::from_der(c).map(|i| i.subject).unwrap_or_default())
            .collect(),
        finding: certherd_inspect::summary(&inspection.findings),
        strict: r.strict,
        failure: inspection.failure(r.strict),
        findings: inspection
            .findings
            .iter()
            .map(crate::rows::finding_row)
            .collect(),
    })
}

/// A dotted OID: digits separated by dots, at least two arcs (RFC 5280 4.2.1.4).
pub fn is_dotted_oid(oid: &str) -> bool {
    let arcs: Vec<&str> = oid.split('.').collect();
    arcs.len() >= 2
        && arcs
            .iter()
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
}

/// DER bytes from a field's standard base64.
fn der(field: &'static str, text: &str) -> Result<Vec<u8>, Problem> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Problem::NotBase64 { field })
}

/// Standard base64 of DER bytes, as a request carries them.
pub fn encode(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oids_are_dotted_digits() {
        for good in ["2.5", "2.16.840.1.101.3.2.1.48.1"] {
            assert!(is_dotted_oid(good), "{good}");
        }
        for bad in ["", "2", "2.", ".2", "2..5", "2.x", "2.5 "] {
            assert!(!is_dotted_oid(bad), "{bad}");
        }
    }

    proptest! {
        /// Whatever a caller sends, the verdict or a refusal: never a panic.
        #[test]
        fn any_request_is_judged_or_refused(
            presented in proptest::collection::vec(".{0,40}", 0..4),
            trusted in proptest::collection::vec("[A-Za-z0-9+/=]{0,40}", 0..3),
            purpose in proptest::option::of(".{0,8}"),
            at in proptest::option::of(".{0,30}"),
            warn in proptest::option::of(".{0,6}"),
            policy in proptest::collection::vec(".{0,12}", 0..3),
        ) {
            let r = api::VerifyRequest {
                presented,
                trusted,
                purpose,
                at,
                warn,
                policy,
                ..api::VerifyRequest::default()
            };
            let _ = judge(&r, &HomeTrust::none(OffsetDateTime::UNIX_EPOCH));
        }
    }
}
