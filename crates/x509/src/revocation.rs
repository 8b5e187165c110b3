//! Revocation: reason codes (RFC 5280 5.3.1), CRLs with reasons and revocation times, and
//! finding a certificate in a CRL.

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use crate::{Error, Issuer};

/// Why a certificate was revoked: the CRL reason codes of RFC 5280 section 5.3.1 that
/// a CA revoking for good may give (certificateHold and removeFromCRL are not offered:
/// a certherd revocation is final; aACompromise is for attribute authorities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0): no reason given; the CRL entry then carries no reason code, as
    /// RFC 5280 recommends.
    Unspecified,
    /// keyCompromise (1): the private key is known or suspected to be exposed.
    KeyCompromise,
    /// cACompromise (2): the CA's key is compromised.
    CaCompromise,
    /// affiliationChanged (3): the subject's name or affiliation changed.
    AffiliationChanged,
    /// superseded (4): a new certificate replaces it.
    Superseded,
    /// cessationOfOperation (5): the subject no longer operates (a removed host).
    CessationOfOperation,
    /// privilegeWithdrawn (9): the subject lost the privilege the certificate stated.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason offered, in code order.
    pub const ALL: [Self; 7] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name (`keyCompromise`, ...), as the CLI takes and shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::PrivilegeWithdrawn => 9,
        }
    }

    /// The reason of that RFC 5280 name (case-insensitive, so `cACompromise` and
    /// `caCompromise` both work); `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
    }

    /// The reason of that code, when it is one offered.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    fn rcgen(self) -> Option<rcgen::RevocationReason> {
        use rcgen::RevocationReason as R;
        match self {
            Self::Unspecified => None,
            Self::KeyCompromise => Some(R::KeyCompromise),
            Self::CaCompromise => Some(R::CaCompromise),
            Self::AffiliationChanged => Some(R::AffiliationChanged),
            Self::Superseded => Some(R::Superseded),
            Self::CessationOfOperation => Some(R::CessationOfOperation),
            Self::PrivilegeWithdrawn => Some(R::PrivilegeWithdrawn),
        }
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One certificate a CRL revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// Its serial number, hex (as [`crate::CertInfo::serial`] shows it).
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// What a CRL says of one certificate it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why (`None`: no reason code, or one certherd does not offer, shown by its code).
    pub reason: Option<RevocationReason>,
    /// The raw reason code, when the entry carries one.
    pub reason_code: Option<u8>,
}

fn serial_bytes(serial: &str) -> Result<Vec<u8>, Error> {
    let hex = serial.trim_start_matches("0x");
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::Malformed {
            what: "serial number",
            detail: format!("'{serial}' is not hex"),
        });
    }
    Ok((0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect())
}

/// A CRL signed by `issuer` listing `revoked` (each with its time and reason), with CRL
/// number `number`, valid from `this_update` to `next_update`. The authority key
/// identifier is the issuer's.
pub fn crl_with(
    issuer: &Issuer<'_>,
    revoked: &[Revoked],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, Error> {
    if next_update <= this_update {
        return Err(Error::Build {
            what: "CRL",
            detail: "its next update must be after its this update".into(),
        });
    }
    let mut revoked_certs = Vec::with_capacity(revoked.len());
    for r in revoked {
        revoked_certs.push(rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&serial_bytes(&r.serial)?),
            revocation_time: r.revoked_at.replace_nanosecond(0).unwrap_or(r.revoked_at),
            reason_code: r.reason.rcgen(),
            invalidity_date: None,
        });
    }
    let build = |e: rcgen::Error| Error::Build {
        what: "CRL",
        detail: e.to_string(),
    };
    let ca = rcgen::Issuer::from_ca_cert_der(
        &pki_types::CertificateDer::from(issuer.cert),
        issuer.key.pair(),
    )
    .map_err(build)?;
    let crl = rcgen::CertificateRevocationListParams {
        this_update: this_update.replace_nanosecond(0).unwrap_or(this_update),
        next_update: next_update.replace_nanosecond(0).unwrap_or(next_update),
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .map_err(build)?;
    Ok(crl.der().to_vec())
}

/// The CRL number of a DER CRL, when it carries one that fits 64 bits.
pub fn crl_number(crl_der: &[u8]) -> Result<Option<u64>, Error> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
        .map_err(|e| Error::Malformed {
            what: "CRL",
            detail: e.to_string(),
        })?;
    Ok(crl.crl_number().and_then(|n| n.to_string().parse().ok()))
}

/// The issuer (as [`crate::CertInfo::issuer`] renders a certificate's issuer) and the
/// serial numbers (hex, as [`crate::CertInfo::serial`]) a DER CRL lists: the CRL parsed
/// once, to tell many certificates revoked or not.
pub fn crl_revoked_serials(crl_der: &[u8]) -> Result<(String, Vec<String>), Error> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
        .map_err(|e| Error::Malformed {
            what: "CRL",
            detail: e.to_string(),
        })?;
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| crate::hex(r.raw_serial()))
        .collect();
    Ok((crl.issuer().to_string(), serials))
}

/// What `crl_der` says of the certificate `cert_der`: `Some` when the CRL is from the
/// certificate's issuer (by name) and lists its serial number.
pub fn find_revoked(crl_der: &[u8], cert_der: &[u8]) -> Option<RevokedEntry> {
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der).ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der).ok()?;
    if crl.issuer().as_raw() != cert.issuer().as_raw() {
        return None;
    }
    let serial = cert.raw_serial();
    let entry = crl
        .iter_revoked_certificates()
        .find(|r| r.raw_serial() == serial)?;
    let reason_code = entry.reason_code().map(|(_, c)| c.0);
    Some(RevokedEntry {
        revoked_at: entry.revocation_date.to_datetime(),
        reason: match reason_code {
            None => Some(RevocationReason::Unspecified),
            Some(c) => RevocationReason::from_code(c),
        },
        reason_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{self_sign, CertInfo, CertSpec, KeyAlgorithm, PrivateKey, Role};
    use time::macros::datetime;

    #[test]
    fn reasons_round_trip_by_name_and_code() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.name()), Some(r));
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        }
        assert_eq!(
            RevocationReason::parse("cacompromise"),
            Some(RevocationReason::CaCompromise)
        );
        assert_eq!(RevocationReason::parse("certificateHold"), None);
        assert_eq!(RevocationReason::parse("stolen"), None);
    }

    #[test]
    fn a_crl_carries_number_reason_and_time_and_finds_the_certificate() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "Root".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2036-01-01 0:00 UTC),
            role: Role::Ca { path_len: None },
            eku: vec![],
        };
        let root = self_sign(&spec, &key).unwrap();
        let mut leaf_spec = spec.clone();
        leaf_spec.common_name = "leaf".into();
        leaf_spec.role = Role::Leaf;
        let issuer = Issuer {
            cert: &root,
            key: &key,
        };
        let leaf = crate::issue(&leaf_spec, &key.public_key_spki(), &issuer).unwrap();
        let other = crate::issue(&leaf_spec, &key.public_key_spki(), &issuer).unwrap();
        let info = CertInfo::from_der(&leaf).unwrap();
        let at = datetime!(2026-03-01 12:00 UTC);
        let der = crl_with(
            &issuer,
            &[Revoked {
                serial: info.serial.clone(),
                revoked_at: at,
                reason: RevocationReason::KeyCompromise,
            }],
            7,
            at,
            at + time::Duration::days(7),
        )
        .unwrap();
        assert_eq!(crl_number(&der).unwrap(), Some(7));
        let found = find_revoked(&der, &leaf).unwrap();
        assert_eq!(found.revoked_at, at);
        assert_eq!(found.reason, Some(RevocationReason::KeyCompromise));
        assert_eq!(found.reason_code, Some(1));
        assert_eq!(find_revoked(&der, &other), None);
        // The serial set, keyed as CertInfo renders the certificate's issuer and serial.
        let (issuer_dn, serials) = crl_revoked_serials(&der).unwrap();
        assert_eq!(issuer_dn, info.issuer);
        assert_eq!(serials, vec![info.serial.clone()]);
        assert!(crl_revoked_serials(b"not a CRL").is_err());
        assert!(crate::CrlInfo::is_signed_by(&der, &root));
        // An unspecified reason is left out of the entry.
        let der = crl_with(
            &issuer,
            &[Revoked {
                serial: info.serial,
                revoked_at: at,
                reason: RevocationReason::Unspecified,
            }],
            8,
            at,
            at + time::Duration::days(7),
        )
        .unwrap();
        let found = find_revoked(&der, &leaf).unwrap();
        assert_eq!(found.reason_code, None);
        assert_eq!(found.reason, Some(RevocationReason::Unspecified));
        // Garbage never panics.
        assert_eq!(find_revoked(b"junk", &leaf), None);
        assert!(crl_number(b"junk").is_err());
        assert!(crl_with(&issuer, &[], 9, at, at).is_err());
    }
}
