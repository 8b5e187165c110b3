//! The inspection of one presented chain: every finding, each independent of the others.
//!
//! Trust is judged at an instant inside every presented certificate's validity (when one
//! exists), so an expired leaf under a trusted root is `expired` and still trusted; dates
//! are judged separately, certificate by certificate. A self-signed leaf is never run
//! through path building, so trusting unrelated certificates with the same name cannot
//! change its verdict. The name is matched against the SANs alone, as TLS clients do.

use certherd_x509::{
    CertInfo, CertificateDer, CertificateRevocationListDer, LintRole, OffsetDateTime, Purpose,
    Reason, VerifyInput,
};
use time::Duration;

use crate::finding::{sort, Finding, FindingKind as K, Severity};
use crate::wording;

/// Warning and critical distances before a notAfter (vCenter warns at 30 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Within this of notAfter: a warning.
    pub warn: Duration,
    /// Within this of notAfter: critical.
    pub crit: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warn: Duration::days(30),
            crit: Duration::days(7),
        }
    }
}

/// How much trust matters where the chain was found; it sets the severity of the trust
/// and name findings, never whether they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustPolicy {
    /// Clients verify (a verified endpoint, `verify`, `cert import`): failures are critical.
    Required,
    /// Clients probably verify (a scanned endpoint): failures are warnings.
    Expected,
    /// Nothing verifies it here (a file on disk): trust findings are information.
    Informational,
}

impl TrustPolicy {
    fn severity(self) -> Severity {
        match self {
            Self::Required => Severity::Critical,
            Self::Expected => Severity::Warning,
            Self::Informational => Severity::Info,
        }
    }
}

/// Where the chain was found, so hints name commands that work there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A watched endpoint, by its name and `HOST:PORT`.
    Endpoint {
        /// The endpoint's name (`certherd endpoint list`).
        name: &'a str,
        /// `HOST:PORT`.
        address: &'a str,
    },
    /// A file on disk.
    File {
        /// Its path.
        path: &'a str,
    },
    /// An inventory entry, `STORE/ALIAS`; `renewable` when certherd issued it.
    Entry {
        /// `STORE/ALIAS`.
        entry: &'a str,
        /// Whether `certherd cert renew` applies.
        renewable: bool,
    },
    /// Certificates given on the command line (`verify`, `cert import`, `trust add`).
    Files,
}

/// Everything an inspection needs; the instant is an argument, never the wall clock.
#[derive(Clone, Debug)]
pub struct ChainInput<'a> {
    /// The certificates as presented, leaf first (a server's chain, a file's bundle).
    pub presented: &'a [CertificateDer<'a>],
    /// The name used to reach the certificate (DNS name or IP address), if any.
    pub name: Option<&'a str>,
    /// What the leaf must be good for.
    pub purpose: Purpose,
    /// The instant judged.
    pub at: OffsetDateTime,
    /// The trusted roots.
    pub trusted: &'a [CertificateDer<'a>],
    /// The trusted roots' subjects as [`subject_key`] gives them, when the caller judges
    /// many chains against the same roots; `None` computes them for this call.
    pub anchor_subjects: Option<&'a [String]>,
    /// CRLs to consult.
    pub crls: &'a [CertificateRevocationListDer<'a>],
    /// SHA-256 thumbprints (lower-case hex) the leaf is pinned to; empty when not pinned.
    pub pins: &'a [String],
    /// Expiry thresholds.
    pub thresholds: Thresholds,
    /// How much trust matters here.
    pub policy: TrustPolicy,
    /// Whether a CA certificate is expected on its own (a CA file on disk, a root being
    /// trusted): it is then judged as a CA, not as a server's leaf.
    pub ca_expected: bool,
    /// Where it was found, for hints.
    pub target: Target<'a>,
    /// The RFC 5280 inputs beyond the defaults (a user-initial-policy-set, the policy
    /// indicators, whether every certificate's revocation status must be known), as
    /// `verify --policy`, `--explicit-policy` and `--crl-check-all` set them.
    pub rfc5280: certherd_x509::Rfc5280Options,
}

/// The result: every finding, worst first, and the facts that scans record.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// Every finding, critical first.
    pub findings: Vec<Finding>,
    /// The chain reaches a trusted root, or the leaf matches its pin (dates aside).
    pub trusted: bool,
    /// The leaf matches a pin.
    pub pinned: bool,
    /// Whether the SANs cover the name asked for; `None` when no name was given.
    pub covers_name: Option<bool>,
    /// The validated path, leaf first and anchor last, when one was built.
    pub path: Vec<CertificateDer<'static>>,
    /// The leaf, parsed (absent only when it does not decode).
    pub leaf: Option<CertInfo>,
}

impl Inspection {
    /// Whether nothing needs attention (no warning or critical finding).
    pub fn is_ok(&self) -> bool {
        !self.findings.iter().any(Finding::is_problem)
    }

    /// Whether the path is valid, as `certherd verify`, `cert import` and `trust add` decide
    /// it (and as `openssl verify` and GnuTLS do): no critical finding other than
    /// `expiring`. A chain that lapses within the critical threshold is still valid today;
    /// warnings (the CA/Browser Forum profile, a missing key identifier, a long common name)
    /// and information never fail it. Nearness to expiry and the profile fail only a
    /// [`Self::passes_strict`] verification.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(fails_validity)
    }

    /// Whether the chain passes a strict verification (`certherd verify --strict`): valid,
    /// and no warning or critical finding of any kind, `expiring` and `profile` included.
    pub fn passes_strict(&self) -> bool {
        !self.findings.iter().any(Finding::is_problem)
    }

    /// The findings that fail validity ([`Self::is_valid`]): what refuses an import or a trust.
    pub fn invalidating(&self) -> Vec<Finding> {
        self.findings
            .iter()
            .filter(|f| fails_validity(f))
            .cloned()
            .collect()
    }

    /// The headline of a failed verification: the finding that fails it (the worst and
    /// most telling of those that do, as [`crate::summary`] orders them) and how many more
    /// need attention, e.g. `revoked (+2)`; `None` when the chain passes. `strict` judges as
    /// [`Self::passes_strict`], else as [`Self::is_valid`]. A finding that does not fail it
    /// (`expiring` unless strict) is counted, never named.
    pub fn failure(&self, strict: bool) -> Option<String> {
        let fails = |f: &Finding| {
            if strict {
                f.is_problem()
            } else {
                fails_validity(f)
            }
        };
        let mut failing: Vec<Finding> =
            self.findings.iter().filter(|f| fails(f)).cloned().collect();
        sort(&mut failing);
        let first = failing.first()?;
        let more = self
            .findings
            .iter()
            .filter(|f| f.is_problem())
            .count()
            .saturating_sub(1);
        Some(if more > 0 {
            format!("{} (+{more})", first.kind)
        } else {
            first.kind.to_string()
        })
    }

    /// The worst severity found among problems, if any.
    pub fn worst(&self) -> Option<Severity> {
        crate::finding::worst(&self.findings)
    }

    /// The critical findings: what refuses an import or a trust.
    pub fn critical(&self) -> Vec<Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .cloned()
            .collect()
    }

    /// Findings of one kind.
    pub fn has(&self, kind: K) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }
}

/// Whether a finding makes the path invalid: any critical finding but `expiring` (valid
/// now, however close its end).
fn fails_validity(f: &Finding) -> bool {
    f.severity == Severity::Critical && f.kind != K::Expiring
}

/// Whether the leaf's SANs (never its CN) cover `name`, as a TLS client checks it: a DNS
/// name or IP address against those SANs, an e-mail address against the rfc822Name SANs.
pub fn san_covers(info: &CertInfo, name: &str) -> bool {
    if name.contains('@') {
        return info
            .other_names
            .iter()
            .filter_map(|n| n.strip_prefix("email:"))
            .any(|e| e.eq_ignore_ascii_case(name));
    }
    let has_san = !(info.dns_names.is_empty() && info.ip_addresses.is_empty());
    has_san && info.covers_name(name)
}

/// A distinguished name in a form for matching issuers to subjects: lower-case, white
/// space collapsed (RFC 5280 7.1 compares names case-insensitively after folding).
pub fn subject_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The subjects of `trusted`, for [`ChainInput::anchor_subjects`].
pub fn anchor_subjects(trusted: &[CertificateDer<'_>]) -> Vec<String> {
    trusted
        .iter()
        .filter_map(|t| CertInfo::from_der(t).ok())
        .map(|i| subject_key(&i.subject))
        .collect()
}

/// Whether the certificate has any subjectAltName entry (of any type).
fn has_any_san(info: &CertInfo) -> bool {
    !(info.dns_names.is_empty() && info.ip_addresses.is_empty() && info.other_names.is_empty())
}

fn short(s: &str) -> String {
    if s.is_empty() {
        "(empty subject)".into()
    } else {
        s.to_owned()
    }
}

/// An instant inside every certificate's validity, closest to `at`; `at` when none exists.
fn neutral_instant(infos: &[&CertInfo], at: OffsetDateTime) -> OffsetDateTime {
    let (Some(start), Some(end)) = (
        infos.iter().map(|i| i.not_before).max(),
        infos.iter().map(|i| i.not_after).min(),
    ) else {
        return at;
    };
    if start > end {
        at
    } else if at < start {
        start
    } else if at > end {
        end
    } else {
        at
    }
}

struct Ctx<'a, 'b> {
    input: &'b ChainInput<'a>,
    out: Vec<Finding>,
}

impl Ctx<'_, '_> {
    fn push(&mut self, kind: K, severity: Severity, subject: Option<&str>, message: String) {
        // One finding per kind and certificate: two validators saying the same thing is one
        // fact. A finding about the chain as a whole (no subject) and one about a named
        // certificate of the same kind are the same fact too: the named one is kept.
        if let Some(same) = self.out.iter_mut().find(|f| {
            f.kind == kind
                && (f.subject.as_deref() == subject || f.subject.is_none() || subject.is_none())
        }) {
            if same.subject.is_none() && subject.is_some() {
                same.subject = subject.map(str::to_owned);
                same.message = message;
                same.severity = same.severity.max(severity);
            }
            return;
        }
        let hint = hint(kind, &self.input.target, self.input.ca_expected);
        self.out.push(Finding {
            kind,
            severity,
            message,
            hint,
            subject: subject.map(str::to_owned),
        });
    }
}

/// The next step for a finding where it was found, as a command where one applies.
fn hint(kind: K, target: &Target<'_>, ca_expected: bool) -> Option<String> {
    let endpoint = |f: &dyn Fn(&str, &str) -> String| match target {
        Target::Endpoint { name, address } => Some(f(name, address)),
        _ => None,
    };
    match kind {
        K::Expired | K::Expiring | K::NotYetValid => match target {
            Target::Entry {
                entry,
                renewable: true,
            } => Some(format!("certherd cert renew {entry}")),
            Target::Entry { entry, .. } => Some(format!(
                "replace it: certherd cert import {entry} --cert NEW.pem --key KEY.pem"
            )),
            Target::Endpoint { name, .. } => Some(format!(
                "install a new certificate on the server, then: certherd endpoint diagnose {name}"
            )),
            Target::File { path } => Some(format!(
                "replace {path} with a renewed certificate (certherd cert issue … then certherd cert export … --out {path})"
            )),
            Target::Files => None,
        },
        K::SelfSigned => endpoint(&|name, _| {
            format!("check its thumbprint with the appliance's console, then pin it: certherd endpoint trust {name}")
        })
        .or_else(|| {
            (!ca_expected).then(|| {
                "a self-signed leaf cannot be a trusted root; issue one from a CA (certherd cert issue) or pin the endpoint (certherd endpoint trust NAME)".to_owned()
            })
        }),
        K::UntrustedIssuer => Some(
            "if you trust that root, add it: certherd trust add ROOT.pem (certherd trust list shows what is trusted)".into(),
        ),
        K::IncompleteChain => Some(match target {
            Target::Endpoint { .. } => {
                "configure the server to send its intermediate certificates after the leaf (server.pem = leaf + intermediates)".into()
            }
            _ => "give the intermediate certificates too (certherd verify CERT --chain INTERMEDIATES.pem)".into(),
        }),
        K::NameMismatch => endpoint(&|name, address| {
            format!("reissue the certificate with that name as a SAN, or watch it by a name it covers: certherd endpoint remove {name} && certherd endpoint add {name} --address {address} --server-name NAME")
        })
        .or_else(|| Some("reissue it with the name as a SAN: certherd cert issue --profile machine-ssl --store STORE --san NAME".into())),
        K::NoSan => Some(
            "reissue it with subjectAltName entries: certherd csr create --cn FQDN --san FQDN --san IP --out DIR".into(),
        ),
        K::CaAsLeaf => Some(
            "issue a server certificate (CA:FALSE) from a CA: certherd cert issue --profile machine-ssl …".into(),
        ),
        K::WeakKey => Some("reissue it with a stronger key: certherd csr create --cn FQDN --key-algo ecdsa-p256 --out DIR (or rsa-3072)".into()),
        K::WeakSignature => Some("reissue it from a CA that signs with SHA-256 or better".into()),
        K::PinMismatch => endpoint(&|name, _| {
            format!("if the appliance's certificate was replaced on purpose, check the new thumbprint and pin it: certherd endpoint trust {name} --thumbprint SHA256")
        }),
        K::Revoked => Some("replace the certificate; a revoked one is never trusted again".into()),
        K::RevocationUnknown => Some("give the CRL of its issuer (certherd verify --crl FILE, or certherd trust add-crl FILE)".into()),
        K::IssuerLacksKeycertsign | K::IssuerNotCa | K::PathLength | K::NameConstraints | K::Policy => {
            Some("the issuing CA's certificate does not allow this path; reissue from a CA whose certificate does".into())
        }
        K::EkuUnfit => Some("reissue it with the extended key usage the service needs (serverAuth for a TLS server)".into()),
        K::LongCommonName => Some("reissue it with a common name of at most 64 characters; the names clients check belong in the subjectAltName (--san)".into()),
        _ => None,
    }
}

fn reason_kind(r: &Reason) -> K {
    match r {
        Reason::UnknownIssuer => K::UntrustedIssuer,
        Reason::Expired { .. } => K::Expired,
        Reason::NotYetValid { .. } => K::NotYetValid,
        Reason::NameMismatch { .. } | Reason::InvalidName(_) => K::NameMismatch,
        Reason::WrongPurpose { .. } => K::EkuUnfit,
        Reason::Revoked => K::Revoked,
        Reason::BadSignature => K::BadSignature,
        Reason::CaUsedAsEndEntity => K::CaAsLeaf,
        Reason::EndEntityUsedAsCa => K::IssuerNotCa,
        Reason::PathLenExceeded => K::PathLength,
        Reason::NameConstraintViolation => K::NameConstraints,
        Reason::Malformed(_) => K::Malformed,
        _ => K::InvalidChain,
    }
}

/// Inspects a presented chain and returns every finding.
pub fn inspect(input: &ChainInput<'_>) -> Inspection {
    // Certificate times have one-second precision: an instant is judged by its second, so
    // a certificate is valid through the whole second of its notAfter (RFC 5280 4.1.2.5).
    let at = input.at.replace_nanosecond(0).unwrap_or(input.at);
    let mut cx = Ctx {
        input,
        out: Vec::new(),
    };
    let Some(leaf_der) = input.presented.first() else {
        cx.push(
            K::NoCertificate,
            Severity::Critical,
            None,
            "no certificate was presented".into(),
        );
        return finish(cx, false, false, None, Vec::new(), None);
    };
    let leaf = match CertInfo::from_der(leaf_der) {
        Ok(l) => l,
        Err(e) => {
            cx.push(
                K::Malformed,
                Severity::Critical,
                None,
                format!("the certificate does not decode: {e}"),
            );
            return finish(cx, false, false, None, Vec::new(), None);
        }
    };
    let mut others: Vec<(CertificateDer<'_>, CertInfo)> = Vec::new();
    for c in &input.presented[1..] {
        match CertInfo::from_der(c) {
            Ok(i) => others.push((c.clone(), i)),
            Err(e) => cx.push(
                K::Malformed,
                Severity::Warning,
                None,
                format!("a certificate after the leaf does not decode and was ignored: {e}"),
            ),
        }
    }
    let trust_sev = input.policy.severity();
    let leaf_is_ca_file = input.ca_expected && leaf.is_ca;

    // Pins first: a pinned leaf is trusted as itself; another leaf is a pin mismatch.
    let pinned = !input.pins.is_empty()
        && input
            .pins
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&leaf.sha256));
    if !input.pins.is_empty() && !pinned {
        cx.push(
            K::PinMismatch,
            Severity::Critical,
            Some(&leaf.subject),
            format!(
                "the endpoint presents SHA-256 {} but {} is pinned",
                certherd_x509::thumbprint(&leaf.sha256),
                input
                    .pins
                    .iter()
                    .map(|p| certherd_x509::thumbprint(p))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        );
    }
    let anchored_self = input
        .trusted
        .iter()
        .any(|t| t.as_ref() == leaf_der.as_ref());
    let self_signed = leaf.self_issued && CertInfo::is_signed_by(leaf_der, leaf_der);

    // Trust, judged apart from the dates.
    let mut trusted = pinned || anchored_self;
    let mut path: Vec<CertificateDer<'static>> = Vec::new();
    if anchored_self || pinned {
        path.push(leaf_der.clone().into_owned());
    } else if self_signed {
        if input.pins.is_empty() && !leaf_is_ca_file {
            cx.push(
                K::SelfSigned,
                trust_sev,
                Some(&leaf.subject),
                format!(
                    "{} is self-signed and neither trusted nor pinned",
                    short(&leaf.subject)
                ),
            );
        } else if leaf_is_ca_file {
            cx.push(
                K::UntrustedIssuer,
                Severity::Info,
                Some(&leaf.subject),
                format!("the root {} is not in trusted-roots", short(&leaf.subject)),
            );
        }
    } else if !could_chain(input, &leaf, &others) {
        // No certificate here names a trusted root as its issuer: no path can be built, so
        // the validators are not asked (a disk of certificates from unknown CAs is judged
        // at the speed of parsing).
        untrusted(&mut cx, &leaf, &others, trust_sev);
    } else {
        let mut dated: Vec<&CertInfo> = vec![&leaf];
        dated.extend(others.iter().map(|(_, i)| i));
        let t0 = neutral_instant(&dated, at);
        let intermediates: Vec<CertificateDer<'_>> =
            others.iter().map(|(d, _)| d.clone()).collect();
        let v = VerifyInput {
            end_entity: leaf_der.as_ref(),
            intermediates: &intermediates,
            trusted: input.trusted,
            crls: input.crls,
            at: t0,
            name: None,
            purpose: if leaf_is_ca_file {
                Purpose::Any
            } else {
                input.purpose
            },
        };
        match certherd_x509::verify_all_with(&v, &input.rfc5280) {
            Ok(chain) => {
                trusted = true;
                path = chain.chain;
                if let Some(r) = chain.webpki_refused {
                    cx.push(
                        K::InvalidChain,
                        Severity::Info,
                        None,
                        format!(
                            "RFC 5280 accepts this path but rustls-webpki (used by rustls clients) refuses it: {r}"
                        ),
                    );
                }
            }
            Err(reasons) => {
                // Every reason is a finding of its own; a path that fails only on dates is
                // still trusted (the dates are findings below).
                trusted = reasons.iter().all(|r| {
                    matches!(
                        r,
                        Reason::AnchorExpired { .. }
                            | Reason::Expired { .. }
                            | Reason::NotYetValid { .. }
                    )
                });
                for r in reasons {
                    path_reason(&mut cx, r, &leaf, &others, trust_sev, leaf_is_ca_file, at);
                }
            }
        }
    }
    if !input.pins.is_empty() && !pinned {
        trusted = false;
    }

    // Dates: every certificate of the path (or, without one, of what was presented).
    let judged: Vec<(CertificateDer<'_>, CertInfo)> = if path.len() > 1 {
        // What was presented is parsed already; only the anchor is new.
        path.iter()
            .filter_map(|c| {
                let known = if c.as_ref() == leaf_der.as_ref() {
                    Some(leaf.clone())
                } else {
                    others
                        .iter()
                        .find(|(d, _)| d.as_ref() == c.as_ref())
                        .map(|(_, i)| i.clone())
                };
                Some((c.clone(), known.or_else(|| CertInfo::from_der(c).ok())?))
            })
            .collect()
    } else {
        std::iter::once((leaf_der.clone(), leaf.clone()))
            .chain(others.iter().cloned())
            .collect()
    };
    for (i, (_, c)) in judged.iter().enumerate() {
        let role = if i == 0 {
            "the certificate".to_owned()
        } else if c.self_issued {
            format!("the root {}", short(&c.subject))
        } else {
            format!("the intermediate {}", short(&c.subject))
        };
        let subject = Some(c.subject.as_str());
        if at > c.not_after {
            cx.push(
                K::Expired,
                Severity::Critical,
                subject,
                format!(
                    "{role} {} (not after {})",
                    wording::expiry(c.not_after, at),
                    certherd_x509::rfc3339(c.not_after)
                ),
            );
        } else if at < c.not_before {
            cx.push(
                K::NotYetValid,
                Severity::Critical,
                subject,
                format!(
                    "{role} is not valid for another {} (not before {})",
                    wording::duration(c.not_before - at),
                    certherd_x509::rfc3339(c.not_before)
                ),
            );
        } else {
            let left = c.not_after - at;
            // A zero (or negative) threshold is off: `verify --warn 0s` reports no
            // nearness to expiry, even at the last second of a validity.
            let on = |t: Duration| t > Duration::ZERO && left <= t;
            let sev = if on(input.thresholds.crit) {
                Some(Severity::Critical)
            } else if on(input.thresholds.warn) {
                Some(Severity::Warning)
            } else {
                None
            };
            if let Some(sev) = sev {
                cx.push(
                    K::Expiring,
                    sev,
                    subject,
                    format!(
                        "{role} {} (not after {})",
                        wording::expiry(c.not_after, at),
                        certherd_x509::rfc3339(c.not_after)
                    ),
                );
            }
        }
    }

    // The name, against the SANs alone.
    let covers_name = input.name.map(|name| san_covers(&leaf, name));
    // A leaf with only e-mail or directory-name SANs is an identity of another kind, not a
    // TLS certificate missing its SAN.
    // Only a server is reached by name: a client or signing certificate needs no SAN.
    let named = input.name.is_some() || input.purpose == Purpose::Server;
    if named && !leaf_is_ca_file && !has_any_san(&leaf) {
        cx.push(
            K::NoSan,
            if input.name.is_some() {
                trust_sev.max(Severity::Warning)
            } else {
                Severity::Warning
            },
            Some(&leaf.subject),
            format!(
                "{} has no subjectAltName; TLS clients ignore the CN{}",
                short(&leaf.subject),
                leaf.subject_cn
                    .as_deref()
                    .map(|cn| format!(" ({cn})"))
                    .unwrap_or_default()
            ),
        );
    }
    if let (Some(name), Some(false)) = (input.name, covers_name) {
        let mut names = leaf.subject_alt_names();
        if names.is_empty() {
            names = leaf
                .subject_cn
                .iter()
                .map(|cn| format!("CN={cn} (no SANs)"))
                .collect();
        }
        cx.push(
            K::NameMismatch,
            trust_sev.max(Severity::Warning),
            Some(&leaf.subject),
            format!(
                "reached as {name}, but the certificate names {}",
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
    }

    // The leaf's own profile.
    if leaf.is_ca && !input.ca_expected && !anchored_self {
        // RFC 5280 and OpenSSL accept a CA certificate as the end entity; rustls and Go
        // refuse it. For an endpoint, whose clients may be either, that is a warning; for a
        // chain judged on its own (verify, import) it is information.
        let sev = if matches!(input.target, Target::Endpoint { .. }) {
            Severity::Warning
        } else {
            Severity::Info
        };
        cx.push(
            K::CaAsLeaf,
            sev,
            Some(&leaf.subject),
            format!(
                "{} is a CA certificate (basicConstraints CA:TRUE) used as the end entity: RFC 5280 and OpenSSL allow it, rustls and Go clients refuse it",
                short(&leaf.subject)
            ),
        );
    }
    if !leaf_is_ca_file
        && leaf
            .extended_key_usage
            .iter()
            .all(|e| e != "anyExtendedKeyUsage")
        && !leaf.extended_key_usage.is_empty()
    {
        let needed = match input.purpose {
            Purpose::Server => Some("serverAuth"),
            Purpose::Client => Some("clientAuth"),
            _ => None,
        };
        if let Some(needed) = needed {
            if !leaf.extended_key_usage.iter().any(|e| e == needed) {
                cx.push(
                    K::EkuUnfit,
                    trust_sev.max(Severity::Warning),
                    Some(&leaf.subject),
                    format!(
                        "its extended key usage ({}) does not include {needed}",
                        leaf.extended_key_usage.join(", ")
                    ),
                );
            }
        }
    }

    // Keys and signatures of every certificate judged, by the rules path validation uses.
    // A root's self-signature is never relied on; a self-signed leaf's matters less.
    for (i, (der, c)) in judged.iter().enumerate() {
        for r in certherd_x509::weaknesses(der) {
            match r {
                Reason::WeakKey { .. } => {
                    cx.push(
                        K::WeakKey,
                        Severity::Critical,
                        Some(&c.subject),
                        r.to_string(),
                    );
                }
                Reason::WeakSignature { .. } if !(c.self_issued && i > 0) => {
                    let sev = if c.self_issued {
                        Severity::Warning
                    } else {
                        Severity::Critical
                    };
                    cx.push(K::WeakSignature, sev, Some(&c.subject), r.to_string());
                }
                _ => {}
            }
        }
    }

    // The certificate profile (RFC 5280 section 4, and the CA/Browser Forum rules for a
    // TLS leaf): one finding per certificate listing every rule it breaks.
    let anchor_at = (path.len() > 1).then(|| path.len() - 1);
    for (i, (der, c)) in judged.iter().enumerate() {
        let role = if i == 0 && !leaf_is_ca_file {
            // The CA/Browser Forum's subscriber rules (EKU, CN among the SANs) bind TLS
            // server certificates; a client certificate or a CA certificate at the end of a
            // path is not one.
            LintRole::Leaf {
                tls: input.purpose == Purpose::Server && !c.is_ca,
            }
        } else if anchor_at == Some(i) || (anchor_at.is_none() && c.self_issued) {
            LintRole::Root
        } else {
            LintRole::Intermediate
        };
        let lints = certherd_x509::lint(der, role);
        if !lints.is_empty() {
            cx.push(
                K::Profile,
                Severity::Warning,
                Some(&c.subject),
                format!(
                    "{} breaks the certificate profile: {}",
                    short(&c.subject),
                    lints
                        .iter()
                        .map(|l| format!("{} ({})", l.message, l.rule))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
        }
    }

    // A common name over ub-common-name: non-conforming (RFC 5280 Appendix A.1), and
    // OpenSSL refuses to make such a request, yet every path validator accepts the
    // certificate, so it is a warning that does not fail `verify` (see passes_strict).
    for (_, c) in &judged {
        if let Some(cn) = &c.subject_cn {
            let length = cn.chars().count();
            if length > certherd_x509::UB_COMMON_NAME {
                cx.push(
                    K::LongCommonName,
                    Severity::Warning,
                    Some(&c.subject),
                    format!(
                        "the common name '{}…' is {length} characters, longer than the {} RFC 5280 allows (ub-common-name, Appendix A.1); validators accept it, but tools that parse it strictly may not",
                        cn.chars().take(40).collect::<String>(),
                        certherd_x509::UB_COMMON_NAME
                    ),
                );
            }
        }
    }

    // CRLs issued by a certificate of the path: their own profile (RFC 5280 5.2.3
    // CRLNumber; the issuer's cRLSign).
    for crl in input.crls {
        let Ok(ci) = certherd_x509::CrlInfo::from_der(crl) else {
            continue;
        };
        let issuer = judged.iter().find(|(_, c)| c.subject_raw == ci.issuer_raw);
        if let Some((issuer_der, _)) = issuer {
            let lints = certherd_x509::lint_crl(crl, Some(issuer_der));
            if !lints.is_empty() {
                let subject = format!("CRL from {}", short(&ci.issuer));
                cx.push(
                    K::Profile,
                    Severity::Warning,
                    Some(&subject),
                    format!(
                        "the {subject} breaks the CRL profile: {}",
                        lints
                            .iter()
                            .map(|l| format!("{} ({})", l.message, l.rule))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                );
            }
        }
    }

    // The server sends a root: harmless, worth knowing.
    for (_, c) in &others {
        if c.self_issued {
            cx.push(
                K::AnchorSent,
                Severity::Info,
                Some(&c.subject),
                format!(
                    "the chain includes the root {}; clients use their own copy",
                    short(&c.subject)
                ),
            );
        }
    }
    finish(cx, trusted, pinned, covers_name, path, Some(leaf))
}

/// Whether any presented certificate names a trusted root as its issuer, or is one.
fn could_chain(
    input: &ChainInput<'_>,
    leaf: &CertInfo,
    others: &[(CertificateDer<'_>, CertInfo)],
) -> bool {
    let anchors = anchors_of(input);
    std::iter::once(leaf)
        .chain(others.iter().map(|(_, i)| i))
        .any(|c| {
            let issuer = subject_key(&c.issuer);
            let subject = subject_key(&c.subject);
            anchors.iter().any(|a| *a == issuer || *a == subject)
        })
}

/// One reason the path validators gave, as a finding.
fn path_reason(
    cx: &mut Ctx<'_, '_>,
    r: Reason,
    leaf: &CertInfo,
    others: &[(CertificateDer<'_>, CertInfo)],
    trust_sev: Severity,
    leaf_is_ca_file: bool,
    at: OffsetDateTime,
) {
    let problem = trust_sev.max(Severity::Warning);
    match r {
        Reason::UnknownIssuer => untrusted(cx, leaf, others, trust_sev),
        Reason::CaUsedAsEndEntity if leaf_is_ca_file => {}
        // Dates of the presented certificates are judged certificate by certificate.
        Reason::Expired { .. } | Reason::NotYetValid { .. } => {}
        Reason::AnchorExpired {
            ref subject,
            not_after,
            ..
        } => cx.push(
            K::Expired,
            Severity::Critical,
            Some(subject),
            format!(
                "the trust anchor {} {} (not after {})",
                short(subject),
                wording::expiry(not_after, at),
                certherd_x509::rfc3339(not_after)
            ),
        ),
        Reason::IssuerLacksKeyCertSign { ref subject } => cx.push(
            K::IssuerLacksKeycertsign,
            problem,
            Some(subject),
            r.to_string(),
        ),
        Reason::WeakKey { ref subject, .. } => {
            cx.push(K::WeakKey, Severity::Critical, Some(subject), r.to_string())
        }
        Reason::WeakSignature { ref subject, .. } => cx.push(
            K::WeakSignature,
            Severity::Critical,
            Some(subject),
            r.to_string(),
        ),
        Reason::PolicyViolation { .. } => cx.push(K::Policy, problem, None, r.to_string()),
        Reason::ProfileViolation { ref subject, .. } => {
            cx.push(K::Profile, Severity::Warning, Some(subject), r.to_string())
        }
        Reason::RevocationUnknown { ref subject } => {
            cx.push(K::RevocationUnknown, problem, Some(subject), r.to_string())
        }
        Reason::NameConstraintViolation => {
            let cas: Vec<&[u8]> = others
                .iter()
                .map(|(d, _)| d.as_ref())
                .chain(cx.input.trusted.iter().map(|t| t.as_ref()))
                .collect();
            let leaf_der = cx.input.presented.first().map_or(&[][..], |d| d.as_ref());
            let message = match certherd_x509::constraint_breach(leaf_der, &cas) {
                Some(b) => format!(
                    "the name {} of {} is outside what {} may certify ({})",
                    b.name,
                    short(&leaf.subject),
                    short(&b.ca),
                    b.constraint
                ),
                None => format!(
                    "a name of {} violates the name constraints of a CA in its chain",
                    short(&leaf.subject)
                ),
            };
            cx.push(K::NameConstraints, problem, Some(&leaf.subject), message);
        }
        other => {
            let kind = reason_kind(&other);
            let sev = match kind {
                K::Revoked | K::BadSignature => Severity::Critical,
                _ => problem,
            };
            let message = match kind {
                K::Revoked => revoked_message(cx.input).unwrap_or_else(|| other.to_string()),
                _ => other.to_string(),
            };
            cx.push(kind, sev, None, message);
        }
    }
}

/// Which certificate of the presented chain a trusted CRL lists, when, and why.
fn revoked_message(input: &ChainInput<'_>) -> Option<String> {
    input.presented.iter().find_map(|cert| {
        input.crls.iter().find_map(|crl| {
            let entry = certherd_x509::find_revoked(crl, cert)?;
            let info = CertInfo::from_der(cert).ok()?;
            let reason = match (entry.reason, entry.reason_code) {
                (Some(r), _) => r.name().to_owned(),
                (None, Some(code)) => format!("reason code {code}"),
                (None, None) => "unspecified".to_owned(),
            };
            Some(format!(
                "certificate revoked by a trusted CRL: '{}' (serial {}) revoked {}, reason {reason}",
                short(&info.subject),
                info.serial,
                certherd_x509::rfc3339(entry.revoked_at)
            ))
        })
    })
}

/// The trusted roots' subjects: the caller's, or computed for this call.
fn anchors_of<'a>(input: &ChainInput<'a>) -> std::borrow::Cow<'a, [String]> {
    match input.anchor_subjects {
        Some(a) => std::borrow::Cow::Borrowed(a),
        None => std::borrow::Cow::Owned(anchor_subjects(input.trusted)),
    }
}

/// Whether `name` is the subject of a trusted root.
fn is_anchor_subject(input: &ChainInput<'_>, name: &str) -> bool {
    anchors_of(input).contains(&subject_key(name))
}

/// A path that reaches no trusted root: the chain stops short (an issuer was not sent) or
/// ends at a root that is not trusted.
fn untrusted(
    cx: &mut Ctx<'_, '_>,
    leaf: &CertInfo,
    others: &[(CertificateDer<'_>, CertInfo)],
    sev: Severity,
) {
    // Follow issuers through what was presented, from the leaf up.
    let mut top = leaf;
    let mut seen = 0;
    while !top.self_issued && seen <= others.len() {
        match others.iter().find(|(_, o)| o.subject_raw == top.issuer_raw) {
            Some((_, o)) => top = o,
            None => break,
        }
        seen += 1;
    }
    if top.self_issued {
        cx.push(
            K::UntrustedIssuer,
            sev,
            Some(&top.subject),
            format!(
                "the chain ends at the root {}, which is not trusted (not in trusted-roots)",
                short(&top.subject)
            ),
        );
    } else if is_anchor_subject(cx.input, &top.issuer) {
        // The issuer is trusted, yet no path was built: another reason (found by the other
        // validator, or a signature) decides, and "not trusted" would be false.
        cx.push(
            K::InvalidChain,
            sev,
            Some(&top.subject),
            format!(
                "no valid path from {} to the trusted root {}",
                short(&top.subject),
                short(&top.issuer)
            ),
        );
    } else {
        cx.push(
            K::IncompleteChain,
            sev,
            Some(&top.subject),
            format!(
                "{} was issued by {}, which was not sent and is not trusted (not in trusted-roots): an intermediate is missing, or its root is not trusted",
                if std::ptr::eq(top, leaf) {
                    "the certificate".to_owned()
                } else {
                    format!("the intermediate {}", short(&top.subject))
                },
                short(&top.issuer)
            ),
        );
        // The intermediate was sent: what is missing is its issuer, most often a root that
        // is not trusted here (servers need not send roots), so "send the intermediates"
        // would send the admin the wrong way.
        if !std::ptr::eq(top, leaf) {
            let hint = format!(
                "{} was not sent: if it is a root you trust, add it (certherd trust add ROOT.pem); if it is an intermediate, give it too",
                short(&top.issuer)
            );
            if let Some(f) = cx.out.iter_mut().find(|f| {
                f.kind == K::IncompleteChain && f.subject.as_deref() == Some(&top.subject)
            }) {
                f.hint = Some(hint);
            }
        }
    }
}

fn finish(
    mut cx: Ctx<'_, '_>,
    trusted: bool,
    pinned: bool,
    covers_name: Option<bool>,
    path: Vec<CertificateDer<'static>>,
    leaf: Option<CertInfo>,
) -> Inspection {
    sort(&mut cx.out);
    Inspection {
        findings: cx.out,
        trusted,
        pinned,
        covers_name,
        path,
        leaf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(findings: Vec<Finding>) -> Inspection {
        Inspection {
            findings,
            trusted: true,
            pinned: false,
            covers_name: None,
            path: Vec::new(),
            leaf: None,
        }
    }

    /// Validity is RFC 5280's: a profile warning and expiry within days do not fail it;
    /// --strict fails both. The headline names the finding that decides.
    #[test]
    fn a_failed_verification_is_headed_by_the_finding_that_fails_it() {
        let f = |k, s| Finding::new(k, s, "m");
        let got = inspection(vec![
            f(K::Expiring, Severity::Critical),
            f(K::LongCommonName, Severity::Warning),
            f(K::Profile, Severity::Warning),
            f(K::AnchorSent, Severity::Info),
        ]);
        assert!(got.is_valid());
        assert_eq!(got.failure(false), None);
        assert!(!got.passes_strict());
        assert_eq!(crate::summary(&got.findings), "expiring (+2)");
        assert_eq!(got.failure(true).as_deref(), Some("expiring (+2)"));
        // A critical finding comes first, in both modes.
        let got = inspection(vec![
            f(K::Profile, Severity::Warning),
            f(K::Expired, Severity::Critical),
        ]);
        assert!(!got.is_valid());
        assert_eq!(got.failure(false).as_deref(), Some("expired (+1)"));
        assert_eq!(got.failure(true).as_deref(), Some("expired (+1)"));
        // Alone, it has no count.
        let got = inspection(vec![f(K::Profile, Severity::Warning)]);
        assert!(got.is_valid());
        assert_eq!(got.failure(true).as_deref(), Some("profile"));
        // Information never fails.
        let got = inspection(vec![f(K::InvalidChain, Severity::Info)]);
        assert!(got.passes_strict());
        assert_eq!(got.failure(true), None);
    }
}
