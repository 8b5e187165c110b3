//! The admin API's answers made from the node's own types: one conversion each, used by
//! [`crate::Local`] and by the CLI's commands that are not operations (yet), so every
//! front end renders the same protocol type.

use certherd_authority::{CaSummary, EntryView, RotationReport};
use certherd_core::{Alarm, EntryMeta, Forecast, ForecastItem, OffsetDateTime};
use certherd_protocol::admin as api;
use certherd_protocol::AlarmRow;
use certherd_store::AuditRecord;
use certherd_x509::{rfc3339, CertInfo, CrlInfo};

/// An entry as `cert list` shows it (its scanned copies not filled in).
pub fn cert_row(v: &EntryView) -> api::CertRow {
    let m = &v.meta;
    api::CertRow {
        store: m.entry.store.to_string(),
        alias: m.entry.alias.to_string(),
        profile: m.profile.clone(),
        source: m.source.as_str().to_owned(),
        subject: m.subject.clone(),
        issuer: m.issuer.clone(),
        serial: m.serial.clone(),
        not_before: rfc3339(m.not_before),
        not_after: rfc3339(m.not_after),
        days_left: v.days_left,
        status: v.status.as_str().to_owned(),
        auto_renew: v.auto_renew,
        renew_after: v.renew_after.map(rfc3339),
        has_key: m.kind == certherd_core::EntryKind::KeyPair,
        sha256: m.sha256.clone(),
        also_seen_at: Vec::new(),
    }
}

/// An entry and its certificate and chain described (`cert show`).
pub fn cert_detail(view: &EntryView, info: &CertInfo, chain: &[CertInfo]) -> api::CertDetail {
    api::CertDetail {
        certificate: cert_row(view),
        sans: info.subject_alt_names(),
        key_usage: info.key_usage.iter().map(|k| (*k).to_owned()).collect(),
        extended_key_usage: info.extended_key_usage.clone(),
        public_key: info.public_key.clone(),
        signature_algorithm: info.signature_algorithm.clone(),
        is_ca: info.is_ca,
        path_len: info.path_len,
        sha1: info.sha1.clone(),
        chain: chain
            .iter()
            .map(|c| api::ChainCert {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                not_after: rfc3339(c.not_after),
                sha256: c.sha256.clone(),
            })
            .collect(),
    }
}

/// What `cert revoke` did.
pub fn revoke_answer(outcome: &certherd_authority::RevokeOutcome) -> api::RevokeAnswer {
    let (r, revoked_now, crl_number, renewal_ordered) = match outcome {
        certherd_authority::RevokeOutcome::Revoked {
            revocation,
            crl_number,
            renewal_ordered,
        } => (revocation, true, Some(*crl_number), renewal_ordered.clone()),
        certherd_authority::RevokeOutcome::AlreadyRevoked(revocation) => {
            (revocation, false, None, None)
        }
    };
    api::RevokeAnswer {
        entry: r.entry.clone(),
        serial: r.serial.clone(),
        subject: r.subject.clone(),
        issuer: r.issuer.clone(),
        reason: r.reason.name().to_owned(),
        revoked_at: rfc3339(r.revoked_at),
        revoked_by: r.revoked_by.clone(),
        revoked_now,
        crl_number,
        renewal_ordered,
    }
}

/// A trusted certificate.
pub fn trust_row(m: &EntryMeta) -> api::TrustRow {
    api::TrustRow {
        alias: m.entry.alias.to_string(),
        subject: m.subject.clone(),
        not_after: rfc3339(m.not_after),
        sha256: m.sha256.clone(),
    }
}

/// A trusted CRL, added at `added_at`.
pub fn crl_row(info: &CrlInfo, added_at: OffsetDateTime) -> api::CrlRow {
    api::CrlRow {
        issuer: info.issuer.clone(),
        sha256: info.sha256.clone(),
        this_update: rfc3339(info.this_update),
        next_update: info.next_update.map(rfc3339),
        revoked: info.revoked as u64,
        added_at: rfc3339(added_at),
    }
}

/// An alarm with its detail (`alarms`).
pub fn alarm_row(a: &Alarm, detail: Option<String>) -> AlarmRow {
    AlarmRow {
        kind: a.kind.name().to_owned(),
        subject: a.subject.clone(),
        raised_at: rfc3339(a.raised_at),
        cleared_at: a.cleared_at.map(rfc3339),
        detail,
    }
}

/// A record of the audit log.
pub fn audit_row(a: &AuditRecord) -> api::AuditRow {
    api::AuditRow {
        at: rfc3339(a.at),
        action: a.action.clone(),
        subject: a.subject.clone(),
        detail: a.detail.clone(),
    }
}

/// The signing CA (`ca show`).
pub fn ca_answer(s: &CaSummary) -> api::CaAnswer {
    api::CaAnswer {
        mode: s.mode.clone(),
        entry: s.entry.as_ref().map(ToString::to_string),
        subject: s.info.as_ref().map(|i| i.subject.clone()),
        issuer: s.info.as_ref().map(|i| i.issuer.clone()),
        not_after: s.info.as_ref().map(|i| rfc3339(i.not_after)),
        public_key: s.info.as_ref().map(|i| i.public_key.clone()),
        sha256: s.info.as_ref().map(|i| i.sha256.clone()),
        root_subject: s.root.as_ref().map(|i| i.subject.clone()),
        root_sha256: s.root.as_ref().map(|i| i.sha256.clone()),
        retiring: s.retiring.as_ref().map(ToString::to_string),
        pending: s.pending,
    }
}

/// What one step of `ca rotate` did.
pub fn rotation_answer(r: &RotationReport) -> api::RotationAnswer {
    api::RotationAnswer {
        new_ca: r.new_ca.to_string(),
        new_sha256: r.new_sha256.clone(),
        old_ca: r.old_ca.to_string(),
        reissued: r.reissued.iter().map(|x| x.entry.to_string()).collect(),
        failed: r
            .reissued
            .iter()
            .filter_map(|x| {
                x.result.as_ref().err().map(|e| api::ReissueFailure {
                    entry: x.entry.to_string(),
                    error: e.clone(),
                })
            })
            .collect(),
        skipped: r.skipped.iter().map(skip_row).collect(),
        retired: r.retired,
        waiting_for: r.waiting_for.clone(),
        ordered: r.ordered.clone(),
    }
}

fn forecast_row(i: &ForecastItem) -> api::ForecastRow {
    api::ForecastRow {
        entry: i.entry.to_string(),
        subject: i.subject.clone(),
        not_after: rfc3339(i.not_after),
        impact: i.impact.clone(),
        affected: i.affected.clone(),
        covered: i.covered,
        already_expired: i.already_expired,
    }
}

/// The forecast (`forecast`).
pub fn forecast_answer(f: &Forecast) -> api::ForecastAnswer {
    api::ForecastAnswer {
        from: rfc3339(f.from),
        until: rfc3339(f.until),
        items: f.items.iter().map(forecast_row).collect(),
        first_unattended: f.first_unattended().map(forecast_row),
    }
}

/// What `trust add` did.
pub fn trust_added(t: &certherd_authority::TrustAdded) -> api::TrustAddAnswer {
    api::TrustAddAnswer {
        added: t.added.iter().map(trust_row).collect(),
        already: t.already.iter().map(trust_row).collect(),
        warnings: t
            .warnings
            .iter()
            .map(|f| format!("{}: {}", f.kind, f.message))
            .collect(),
    }
}

/// A host of the fleet (`host list`).
pub fn host_row<S: certherd_store::Store>(
    node: &certherd_authority::Node<S>,
    h: &certherd_core::Host,
) -> Result<certherd_protocol::HostRow, certherd_fleet::Error> {
    use certherd_fleet::FleetExt;
    Ok(certherd_protocol::HostRow {
        name: h.name.clone(),
        ips: h.ips.iter().map(ToString::to_string).collect(),
        joined_at: h.joined_at.map(rfc3339),
        last_seen: h.last_seen.map(rfc3339),
        pool_internal_sha256: h.pool_sha256.clone(),
        renew_pending: node.fleet().renewal_pending(&h.name)?,
        verification: node.fleet().host_verification(&h.name)?,
    })
}

/// An entry of `cert list`, with the scanned copies of its certificate `folded` found.
pub fn listed_row(v: &EntryView, folded: &certherd_core::Folded) -> api::CertRow {
    api::CertRow {
        also_seen_at: folded
            .copies_of(&v.meta.entry)
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..cert_row(v)
    }
}

/// `DELETE /v1/hosts/{name}` and `host remove`: the host and what its removal revoked.
pub fn host_removed(name: &str, revoked: &[certherd_authority::Revocation]) -> api::HostRemoved {
    api::HostRemoved {
        host: name.to_owned(),
        revoked: revoked
            .iter()
            .map(|r| api::HostRevocation {
                entry: r.entry.clone(),
                serial: r.serial.clone(),
                reason: r.reason.to_string(),
            })
            .collect(),
    }
}

/// A home file others may read or write, as `check` reports it.
pub fn home_problem_row(p: &certherd_store::ModeProblem) -> api::HomeProblemRow {
    api::HomeProblemRow {
        path: p.path.display().to_string(),
        mode: format!("{:04o}", p.mode),
        fix: p.fix(),
        message: p.to_string(),
    }
}

/// The answer of `check`: `check` at thresholds `t`, with the home's file problems (each
/// at least a warning).
pub fn check_answer(
    c: &certherd_core::Check,
    t: certherd_core::Thresholds,
    home_problems: &[certherd_store::ModeProblem],
) -> api::CheckAnswer {
    let severity = if home_problems.is_empty() {
        c.severity()
    } else {
        c.severity().max(certherd_core::Severity::Warning)
    };
    api::CheckAnswer {
        status: severity.as_str().to_owned(),
        exit_code: severity.exit_code(),
        at: rfc3339(c.at),
        warn: t.warn.to_string(),
        crit: t.crit.to_string(),
        examined: u64::try_from(c.examined).unwrap_or(u64::MAX),
        home_problems: home_problems.iter().map(home_problem_row).collect(),
        findings: c
            .findings
            .iter()
            .map(|f| api::CheckFinding {
                store: f.meta.entry.store.as_str().to_owned(),
                alias: f.meta.entry.alias.as_str().to_owned(),
                profile: f.meta.profile.clone(),
                subject: f.meta.subject.clone(),
                not_before: rfc3339(f.meta.not_before),
                not_after: rfc3339(f.meta.not_after),
                days_left: f.days_left,
                status: f.status.as_str().to_owned(),
                severity: f.status.severity().as_str().to_owned(),
            })
            .collect(),
        watch_problems: c
            .watch_problems
            .iter()
            .map(|w| api::WatchProblemRow {
                kind: w.kind.as_str().to_owned(),
                name: w.name.clone(),
                target: w.target.clone(),
                finding: certherd_inspect::summary(&w.findings),
                findings: w
                    .findings
                    .iter()
                    .filter(|f| f.is_problem())
                    .map(|f| api::WatchFindingRow {
                        kind: f.kind.as_str().to_owned(),
                        severity: f.severity.as_str().to_owned(),
                        message: f.message.clone(),
                        hint: f.hint.clone(),
                    })
                    .collect(),
                severity: w.severity().as_str().to_owned(),
            })
            .collect(),
        open_alarms: c
            .open_alarms
            .iter()
            .map(|a| api::OpenAlarmRow {
                kind: a.kind.name().to_owned(),
                subject: a.subject.clone(),
                raised_at: rfc3339(a.raised_at),
                severity: a.kind.severity().as_str().to_owned(),
            })
            .collect(),
    }
}

/// The answer of `status`.
pub fn status_answer(
    s: &certherd_authority::StatusSummary,
    agent: Option<&certherd_fleet::AgentSummary>,
    outbox: &certherd_monitor::OutboxSummary,
    master_key: Option<&certherd_store::KeyLocation>,
    database: &str,
    problems: &[certherd_store::ModeProblem],
) -> api::StatusAnswer {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    api::StatusAnswer {
        hostname: s.hostname.clone(),
        mode: s.ca.mode.to_string(),
        ca: s.ca.info.as_ref().map(|i| api::StatusCa {
            entry: s.ca.entry.as_ref().map(ToString::to_string),
            subject: i.subject.clone(),
            not_after: rfc3339(i.not_after),
            sha256: i.sha256.clone(),
        }),
        total: count(s.total),
        counts: s
            .counts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), count(*v)))
            .collect(),
        next_expiry: s.next_expiry.as_ref().map(cert_row),
        next_renewal: s.next_renewal.as_ref().map(cert_row),
        master_key: master_key.map(|k| api::MasterKeyRow {
            path: k.path.display().to_string(),
            source: k.source.as_str().to_owned(),
        }),
        database: database.to_owned(),
        notifications: notifications_row(outbox),
        mode_warnings: problems.iter().map(home_problem_row).collect(),
        agent: agent.map(|g| api::AgentStatus {
            server: g.server.clone(),
            last_poll: g.last_poll.map(rfc3339),
            last_error: g.last_error.as_ref().map(|(at, m)| api::PollError {
                at: rfc3339(*at),
                message: m.clone(),
            }),
            host_certificate_not_after: g.host_not_after.map(rfc3339),
            verification: g.verification,
        }),
    }
}

/// A store as `store list` shows it.
pub fn store_row(s: &certherd_store::StoreInfo) -> api::StoreRow {
    api::StoreRow {
        name: s.name.to_string(),
        entries: u64::try_from(s.entries).unwrap_or(u64::MAX),
        created_at: rfc3339(s.created_at),
    }
}

/// A profile as `profile list` shows it.
pub fn profile_row(p: &certherd_core::Profile) -> api::ProfileRow {
    api::ProfileRow {
        name: p.name.clone(),
        lifetime: p.lifetime.to_string(),
        ca: !p.is_renewable(),
        self_signed: p.self_signed,
        eku: p.eku.iter().map(|e| e.name().to_owned()).collect(),
        key_algo: p.key_algo.map(|k| k.name().to_owned()),
        impact: p.impact.clone(),
    }
}

/// A host's pinned certificate as `pool certificate-list` shows it.
pub fn pool_cert_row(r: &certherd_fleet::PoolCertificate) -> api::PoolCertRow {
    api::PoolCertRow {
        host: r.host.clone(),
        kind: r.kind.to_owned(),
        subject: r.meta.subject.clone(),
        sha256: r.meta.sha256.clone(),
        not_after: rfc3339(r.meta.not_after),
    }
}

/// The outbox as `alarms` and `status` report it.
pub fn notifications_row(o: &certherd_monitor::OutboxSummary) -> api::NotificationsRow {
    api::NotificationsRow {
        undelivered: u64::try_from(o.undelivered).unwrap_or(u64::MAX),
        last_error: o.last_error.clone(),
    }
}

/// A finding as the endpoint rows carry it.
pub fn finding_row(f: &certherd_inspect::Finding) -> api::FindingRow {
    api::FindingRow {
        kind: f.kind.as_str().to_owned(),
        severity: f.severity.as_str().to_owned(),
        message: f.message.clone(),
        hint: f.hint.clone(),
        subject: f.subject.clone(),
    }
}

/// A watch as `endpoint list` (and the scans) show it, with the certificate it last saw
/// (`cert`, looked up in the store by the caller).
pub fn watch_row(w: &certherd_core::Watch, cert: Option<&EntryMeta>) -> api::WatchRow {
    api::WatchRow {
        kind: w.kind.as_str().to_owned(),
        name: w.name.clone(),
        target: w.target.clone(),
        server_name: w.server_name.clone(),
        starttls: w.starttls.clone(),
        verify: w.verify,
        pin_sha256: w.pin.clone(),
        scanned_at: w.scanned_at.map(rfc3339),
        severity: match w.severity() {
            certherd_core::Severity::Ok => "ok",
            certherd_core::Severity::Warning => "warning",
            certherd_core::Severity::Critical => "critical",
        }
        .to_owned(),
        // Before its first scan a watch has no finding to summarize.
        finding: if w.scanned_at.is_none() {
            "not scanned yet".into()
        } else {
            certherd_inspect::summary(&w.findings)
        },
        findings: w.findings.iter().map(finding_row).collect(),
        facts: w.facts.clone(),
        subject: cert.map(|m| m.subject.clone()),
        not_after: cert.map(|m| rfc3339(m.not_after)),
        sha256: cert.map(|m| m.sha256.clone()),
    }
}

/// An entry a run (renewal, reset, rotation) left alone: its stable reason code and the
/// fact in words (the CLI adds the command that deals with it).
pub fn skip_row(s: &certherd_authority::Skipped) -> api::ReissueSkip {
    api::ReissueSkip {
        entry: s.entry.to_string(),
        reason: s.reason.code().to_owned(),
        detail: s.to_string(),
    }
}

/// One entry's turn in a renewal or reset run.
pub fn run_step(step: &certherd_authority::BulkStep) -> api::RunStep {
    match step {
        certherd_authority::BulkStep::Done(r) => match &r.result {
            Ok(i) => api::RunStep::Renewed {
                entry: r.entry.to_string(),
                serial: i.meta.serial.clone(),
                not_after: certherd_x509::rfc3339(i.meta.not_after),
                profile: i.meta.profile.clone(),
                backup: r.backup.as_ref().map(ToString::to_string),
                warnings: i.warnings.clone(),
            },
            Err(e) => api::RunStep::Failed {
                entry: r.entry.to_string(),
                error: e.clone(),
            },
        },
        certherd_authority::BulkStep::Skipped(s) => api::RunStep::Skipped(skip_row(s)),
    }
}

/// The forecast in one line: the first expiry nothing renews, or that nothing breaks.
pub fn forecast_headline(f: &api::ForecastAnswer) -> String {
    let short = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_or_else(|_| text.to_owned(), certherd_x509::short_time)
    };
    match &f.first_unattended {
        Some(i) => format!(
            "{}: {} lapses and nothing renews it: {}",
            short(&i.not_after),
            i.entry,
            i.impact
        ),
        None => format!("nothing breaks unattended until {}", short(&f.until)),
    }
}
