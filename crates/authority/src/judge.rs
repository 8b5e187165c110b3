//! The judge: what the node trusts at its clock (trusted roots, CRLs, thresholds), loaded
//! once to inspect many chains with the one inspection engine. The authority judges what
//! it imports and trusts with it; the monitor judges what it scans.

use certherd_inspect::{ChainInput, Inspection, Target, TrustPolicy};
use certherd_store::Store;
use certherd_x509::{CertificateDer, Purpose};

use crate::{Error, Node};

/// Where a chain is judged, so the inspection sets severities and hints for that place.
#[derive(Clone, Copy, Debug)]
pub struct JudgeAs<'a> {
    /// The name the certificate must cover, if any.
    pub name: Option<&'a str>,
    /// What the leaf must be good for.
    pub purpose: Purpose,
    /// How much trust matters there.
    pub policy: TrustPolicy,
    /// Pinned SHA-256 thumbprints; empty when not pinned.
    pub pins: &'a [String],
    /// Whether a lone CA certificate is expected (a CA file, a root being trusted).
    pub ca_expected: bool,
    /// Where it was found, for hints.
    pub target: Target<'a>,
}

/// What the node trusts, at its clock: the inputs every inspection shares.
#[derive(Clone, Debug)]
pub struct Judge {
    anchors: Vec<CertificateDer<'static>>,
    anchor_subjects: Vec<String>,
    crls: Vec<certherd_x509::CertificateRevocationListDer<'static>>,
    at: certherd_x509::OffsetDateTime,
    thresholds: certherd_inspect::Thresholds,
}

impl Judge {
    /// Inspects `chain` (leaf first, DER) as `as_` says.
    pub fn inspect(&self, chain: &[Vec<u8>], as_: &JudgeAs<'_>) -> Inspection {
        let presented: Vec<CertificateDer<'_>> = chain
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        certherd_inspect::inspect(&ChainInput {
            presented: &presented,
            name: as_.name,
            purpose: as_.purpose,
            at: self.at,
            trusted: &self.anchors,
            anchor_subjects: Some(&self.anchor_subjects),
            crls: &self.crls,
            pins: as_.pins,
            thresholds: self.thresholds,
            policy: as_.policy,
            ca_expected: as_.ca_expected,
            target: as_.target,
            rfc5280: Default::default(),
        })
    }

    /// The instant the judge judges at.
    pub fn at(&self) -> certherd_x509::OffsetDateTime {
        self.at
    }
}

impl<S: Store> Node<S> {
    /// The node's trusted roots, CRLs, clock and thresholds, loaded once to judge many chains.
    pub fn judge(&self) -> Result<Judge, Error> {
        let anchors = self.trust_anchors()?;
        Ok(Judge {
            anchor_subjects: certherd_inspect::anchor_subjects(&anchors),
            anchors,
            crls: self.trusted_crls()?,
            at: self.now(),
            thresholds: self.inspect_thresholds(),
        })
    }

    /// The judge at another instant and thresholds (`check --at`).
    pub(crate) fn judge_at(
        &self,
        at: certherd_x509::OffsetDateTime,
        thresholds: certherd_core::Thresholds,
    ) -> Result<Judge, Error> {
        let mut j = self.judge()?;
        j.at = at;
        j.thresholds = certherd_inspect::Thresholds {
            warn: thresholds.warn.duration(),
            crit: thresholds.crit.duration(),
        };
        Ok(j)
    }

    /// Inspects a chain with the node's trusted roots and CRLs, at the node's clock and
    /// thresholds: every finding, from the one inspection engine.
    pub(crate) fn inspect_chain(
        &self,
        chain: &[Vec<u8>],
        as_: &JudgeAs<'_>,
    ) -> Result<Inspection, Error> {
        Ok(self.judge()?.inspect(chain, as_))
    }

    /// The node's expiry thresholds in the inspection's terms.
    pub(crate) fn inspect_thresholds(&self) -> certherd_inspect::Thresholds {
        certherd_inspect::Thresholds {
            warn: self.thresholds().warn.duration(),
            crit: self.thresholds().crit.duration(),
        }
    }
}
