//! certherd's operations, typed once.
//!
//! Each thing an admin can do to the inventory is a [`Request`] with its inputs parsed and
//! an [`Answer`] of the admin API's types, carried out through one trait, [`Operations`],
//! with two implementations: [`Local`] over a home's node, and [`Remote`] over a server's
//! admin API. The CLI calls the trait and renders the answer; the server's admin API is
//! [`wire::decode`] then [`Local`]; so `certherd CMD` on the server's home and `certherd
//! --server URL CMD` run the same code and print the same thing.

#![forbid(unsafe_code)]

mod credentials;
mod error;
mod key_providers;
mod local;
mod remote;
mod report;
mod request;
pub mod rows;
pub mod verify;
pub mod wire;

pub use error::{next_step, Error, Problem};
pub use local::{Local, RenewalLock};
pub use remote::{Remote, Transport};
pub use request::{Answer, AuditFilter, CertFilter, Horizon, ImportSource, Request, Secret};

use certherd_core::EntryRef;
use certherd_protocol::admin as api;
use certherd_protocol::{AlarmRow, HostRow};

/// The `$variant` payload of an answer, or a mismatch naming the operation `$what`: what
/// each typed method below does with the one `call`.
macro_rules! answer_of {
    ($answer:expr, $variant:ident, $what:literal) => {
        match $answer {
            Answer::$variant(v) => Ok(v),
            other => Err(Error::mismatch($what, &other)),
        }
    };
}

/// Carries out operations: over a home ([`Local`]) or a server's admin API ([`Remote`]).
///
/// [`call`](Self::call) is the one method to implement; the others ask for one operation
/// each and give its answer's own type.
pub trait Operations {
    /// Carries out `request`.
    fn call(&mut self, request: Request) -> Result<Answer, Error>;

    /// The fleet's hosts.
    fn host_list(&mut self) -> Result<Vec<HostRow>, Error> {
        answer_of!(self.call(Request::HostList)?, Hosts, "host list")
    }

    /// Enrolls a host.
    fn host_add(&mut self, r: api::HostAddRequest) -> Result<api::HostAdded, Error> {
        answer_of!(self.call(Request::HostAdd(r))?, HostAdded, "host add")
    }

    /// Forgets a host and revokes its certificates.
    fn host_remove(&mut self, name: &str) -> Result<api::HostRemoved, Error> {
        answer_of!(
            self.call(Request::HostRemove { name: name.into() })?,
            HostRemoved,
            "host remove"
        )
    }

    /// Orders hosts to do something at their next poll: `request` is
    /// [`Request::HostResetServerCert`], [`Request::HostRefreshPoolCert`] or
    /// [`Request::FleetRenew`].
    fn order(&mut self, request: Request) -> Result<api::HostsAnswer, Error> {
        answer_of!(self.call(request)?, Ordered, "an order")
    }

    /// Certificate entries.
    fn cert_list(&mut self, filter: CertFilter) -> Result<Vec<api::CertRow>, Error> {
        answer_of!(self.call(Request::CertList(filter))?, Certs, "cert list")
    }

    /// Issues a certificate into a new entry.
    fn cert_issue(&mut self, r: api::IssueRequest) -> Result<api::IssuedAnswer, Error> {
        answer_of!(self.call(Request::CertIssue(r))?, Issued, "cert issue")
    }

    /// Issues several certificates in one transaction: all of them are written, or none
    /// (at most [`api::MAX_ISSUE_BATCH`] a call); what each issued, in the order asked.
    fn cert_issue_batch(
        &mut self,
        r: api::IssueBatchRequest,
    ) -> Result<api::IssueBatchAnswer, Error> {
        answer_of!(
            self.call(Request::CertIssueBatch(r))?,
            IssuedBatch,
            "cert issue --from"
        )
    }

    /// One entry described.
    fn cert_show(&mut self, entry: EntryRef) -> Result<api::CertDetail, Error> {
        answer_of!(self.call(Request::CertShow { entry })?, Cert, "cert show")
    }

    /// Renews one entry, with a new key of `key_algo` when given (else the old key's
    /// algorithm).
    fn cert_renew(
        &mut self,
        entry: EntryRef,
        key_algo: Option<certherd_x509::KeyAlgorithm>,
    ) -> Result<api::IssuedAnswer, Error> {
        answer_of!(
            self.call(Request::CertRenew { entry, key_algo })?,
            Issued,
            "cert renew"
        )
    }

    /// An entry's certificate and chain.
    fn cert_export(&mut self, entry: EntryRef) -> Result<api::ExportAnswer, Error> {
        answer_of!(
            self.call(Request::CertExport { entry })?,
            Exported,
            "cert export"
        )
    }

    /// Revokes a certificate the CA issued.
    fn cert_revoke(
        &mut self,
        entry: EntryRef,
        reason: certherd_x509::RevocationReason,
    ) -> Result<api::RevokeAnswer, Error> {
        answer_of!(
            self.call(Request::CertRevoke { entry, reason })?,
            Revoked,
            "cert revoke"
        )
    }

    /// Trusted CA certificates.
    fn trust_list(&mut self) -> Result<Vec<api::TrustRow>, Error> {
        answer_of!(self.call(Request::TrustList)?, Trusted, "trust list")
    }

    /// Trusts the CA certificates in PEM text.
    fn trust_add(&mut self, pem: String) -> Result<api::TrustAddAnswer, Error> {
        answer_of!(
            self.call(Request::TrustAdd { pem })?,
            TrustAdded,
            "trust add"
        )
    }

    /// Stops trusting a CA certificate.
    fn trust_remove(&mut self, fingerprint: String) -> Result<api::TrustRow, Error> {
        answer_of!(
            self.call(Request::TrustRemove { fingerprint })?,
            TrustRemoved,
            "trust remove"
        )
    }

    /// Adds a CRL.
    fn crl_add(&mut self, pem: String) -> Result<api::CrlRow, Error> {
        answer_of!(
            self.call(Request::CrlAdd { pem })?,
            CrlAdded,
            "trust add-crl"
        )
    }

    /// Alarms, open ones or all.
    fn alarms(&mut self, all: bool) -> Result<Vec<AlarmRow>, Error> {
        answer_of!(self.call(Request::Alarms { all })?, Alarms, "alarms")
    }

    /// The whole audit log, oldest first, read a page at a time.
    fn audit_all(&mut self, filter: AuditFilter) -> Result<Vec<api::AuditRow>, Error> {
        let mut rows: Vec<api::AuditRow> = Vec::new();
        loop {
            let page = match self.call(Request::Audit {
                offset: rows.len() as u64,
                limit: 1000,
                filter: filter.clone(),
            })? {
                Answer::Audit(v) => v,
                other => return Err(Error::mismatch("audit", &other)),
            };
            let done = page.records.is_empty()
                || rows.len() as u64 + page.records.len() as u64 >= page.total;
            rows.extend(page.records);
            if done {
                return Ok(rows);
            }
        }
    }

    /// The pool's certificate verification, after setting it when `set` says so.
    fn pool_verification(&mut self, set: Option<bool>) -> Result<bool, Error> {
        let request = match set {
            Some(enabled) => Request::PoolVerificationSet { enabled },
            None => Request::PoolVerificationGet,
        };
        match self.call(request)? {
            Answer::Verification(v) => Ok(v.enabled),
            other => Err(Error::mismatch("pool verification", &other)),
        }
    }

    /// The signing CA.
    fn ca_show(&mut self) -> Result<api::CaAnswer, Error> {
        answer_of!(self.call(Request::CaShow)?, Ca, "ca show")
    }

    /// One step of the staged CA rotation.
    fn ca_rotate(&mut self) -> Result<api::RotationAnswer, Error> {
        answer_of!(self.call(Request::CaRotate)?, Rotation, "ca rotate")
    }

    /// Key providers and the health of each of their KMIP servers, checked now.
    fn key_providers(
        &mut self,
        name: Option<String>,
        timeout_seconds: u64,
    ) -> Result<Vec<api::KeyProviderHealth>, Error> {
        answer_of!(
            self.call(Request::KeyProviders {
                name,
                timeout_seconds,
            })?,
            KeyProviders,
            "key-provider status"
        )
    }

    /// Every expiry ahead.
    fn forecast(&mut self, horizon: Horizon) -> Result<api::ForecastAnswer, Error> {
        answer_of!(self.call(Request::Forecast(horizon))?, Forecast, "forecast")
    }

    /// The monitoring check of the whole inventory at `at` (now when `None`), with the
    /// thresholds given (certherd.toml's for those not given).
    fn check(
        &mut self,
        at: Option<time::OffsetDateTime>,
        warn: Option<certherd_core::Span>,
        crit: Option<certherd_core::Span>,
    ) -> Result<api::CheckAnswer, Error> {
        answer_of!(
            self.call(Request::Check { at, warn, crit })?,
            Check,
            "check"
        )
    }

    /// The node at a glance.
    fn status(&mut self) -> Result<api::StatusAnswer, Error> {
        match self.call(Request::Status)? {
            Answer::Status(v) => Ok(*v),
            other => Err(Error::mismatch("status", &other)),
        }
    }

    /// The named stores.
    fn store_list(&mut self) -> Result<Vec<api::StoreRow>, Error> {
        answer_of!(self.call(Request::StoreList)?, Stores, "store list")
    }

    /// The profiles in force.
    fn profile_list(&mut self) -> Result<Vec<api::ProfileRow>, Error> {
        answer_of!(self.call(Request::ProfileList)?, Profiles, "profile list")
    }

    /// Each host's pinned certificates.
    fn pool_certificates(&mut self) -> Result<Vec<api::PoolCertRow>, Error> {
        answer_of!(
            self.call(Request::PoolCertificates)?,
            PoolCertificates,
            "pool certificate-list"
        )
    }

    /// The root clients should trust.
    fn ca_root(&mut self) -> Result<api::CaRoot, Error> {
        answer_of!(self.call(Request::CaRoot)?, CaRoot, "ca export")
    }

    /// The webhook notifications not delivered yet.
    fn notifications(&mut self) -> Result<api::NotificationsRow, Error> {
        answer_of!(
            self.call(Request::Notifications)?,
            Notifications,
            "notifications"
        )
    }

    /// The signing CA's current CRL, published first when due.
    fn ca_crl(&mut self) -> Result<api::CaCrl, Error> {
        answer_of!(self.call(Request::CaCrl)?, CaCrl, "ca crl")
    }

    /// Deletes an entry.
    fn cert_delete(&mut self, entry: EntryRef) -> Result<api::Deleted, Error> {
        answer_of!(
            self.call(Request::CertDelete { entry })?,
            Deleted,
            "cert delete"
        )
    }

    /// Replaces an imported entry with a certificate and key the CA issues.
    fn cert_reset(&mut self, entry: EntryRef) -> Result<api::IssuedAnswer, Error> {
        answer_of!(
            self.call(Request::CertReset { entry })?,
            Issued,
            "cert reset"
        )
    }

    /// The watched endpoints.
    fn endpoint_list(&mut self) -> Result<Vec<api::WatchRow>, Error> {
        answer_of!(
            self.call(Request::EndpointList)?,
            Endpoints,
            "endpoint list"
        )
    }

    /// Stops watching an endpoint.
    fn endpoint_remove(&mut self, name: &str) -> Result<api::EndpointRemoved, Error> {
        answer_of!(
            self.call(Request::EndpointRemove {
                name: name.to_owned(),
            })?,
            EndpointRemoved,
            "endpoint remove"
        )
    }

    /// Renews a selection of entries or resets every imported one (`request` is
    /// [`Request::Renewals`] or [`Request::Resets`]), or plans it; `each` sees each
    /// entry's turn as it is committed on a home, or as the answer arrives from a server.
    fn run(
        &mut self,
        request: Request,
        each: &mut dyn FnMut(&api::RunStep),
    ) -> Result<api::RunAnswer, Error> {
        match self.call(request)? {
            Answer::Run(v) => {
                v.steps.iter().for_each(&mut *each);
                Ok(v)
            }
            other => Err(Error::mismatch("a renewal run", &other)),
        }
    }

    /// Imports a certificate and its key into an entry.
    fn cert_import(
        &mut self,
        entry: EntryRef,
        source: ImportSource,
        profile: Option<String>,
    ) -> Result<api::ImportAnswer, Error> {
        answer_of!(
            self.call(Request::CertImport {
                entry,
                source,
                profile,
            })?,
            Imported,
            "cert import"
        )
    }

    /// Creates a service identity: its store and certificate.
    fn service_add(&mut self, name: &str) -> Result<api::IssuedAnswer, Error> {
        answer_of!(
            self.call(Request::ServiceAdd {
                name: name.to_owned(),
            })?,
            Issued,
            "service add"
        )
    }

    /// Watches a TLS endpoint.
    fn endpoint_add(&mut self, r: api::EndpointAddRequest) -> Result<api::WatchRow, Error> {
        answer_of!(
            self.call(Request::EndpointAdd(r))?,
            EndpointAdded,
            "endpoint add"
        )
    }

    /// Scans TLS endpoints from the side that carries it out, and records them;
    /// `started` learns the number of probes and `tick` sees each end, on a home (a
    /// server answers when all have).
    fn scan_tls(
        &mut self,
        r: api::ScanTlsRequest,
        started: &mut dyn FnMut(usize),
        tick: &(dyn Fn() + Sync),
    ) -> Result<api::ScanTlsAnswer, Error> {
        let _ = (started, tick);
        answer_of!(self.call(Request::ScanTls(r))?, TlsScanned, "scan tls")
    }

    /// Pins what an endpoint presents now.
    fn endpoint_trust(
        &mut self,
        name: &str,
        probe: api::ProbeRequest,
    ) -> Result<api::EndpointTrusted, Error> {
        answer_of!(
            self.call(Request::EndpointTrust {
                name: name.to_owned(),
                probe,
            })?,
            EndpointTrusted,
            "endpoint trust"
        )
    }

    /// Diagnoses an endpoint.
    fn endpoint_diagnose(
        &mut self,
        name: &str,
        probe: api::ProbeRequest,
    ) -> Result<api::DiagnosisAnswer, Error> {
        answer_of!(
            self.call(Request::EndpointDiagnose {
                name: name.to_owned(),
                probe,
            })?,
            Diagnosis,
            "endpoint diagnose"
        )
    }

    /// The HTML report, its forecast up to `until`.
    fn report(&mut self, until: certherd_core::OffsetDateTime) -> Result<api::ReportAnswer, Error> {
        answer_of!(self.call(Request::Report { until })?, Report, "report")
    }

    /// Judges a certificate against the home's trust (or the anchors given).
    fn verify(&mut self, r: api::VerifyRequest) -> Result<api::VerifyAnswer, Error> {
        answer_of!(self.call(Request::Verify(r))?, Verified, "verify")
    }

    /// Creates a key provider with its first KMIP server.
    fn key_provider_create(
        &mut self,
        r: api::KeyProviderCreateRequest,
    ) -> Result<api::KeyProviderCreated, Error> {
        answer_of!(
            self.call(Request::KeyProviderCreate(r))?,
            KeyProviderCreated,
            "key-provider create"
        )
    }

    /// The key providers as set up.
    fn key_provider_list(&mut self) -> Result<Vec<api::KeyProviderRow>, Error> {
        answer_of!(
            self.call(Request::KeyProviderList)?,
            KeyProviderRows,
            "key-provider list"
        )
    }

    /// Adds a KMIP server to a key provider; the provider as it is now.
    fn key_provider_add_server(
        &mut self,
        name: String,
        server: api::KmipServerAddRequest,
    ) -> Result<api::KeyProviderRow, Error> {
        answer_of!(
            self.call(Request::KeyProviderAddServer { name, server })?,
            KeyProviderRow,
            "key-provider add-server"
        )
    }

    /// Removes a key provider.
    fn key_provider_remove(&mut self, name: String) -> Result<api::KeyProviderRemoved, Error> {
        answer_of!(
            self.call(Request::KeyProviderRemove { name })?,
            KeyProviderRemoved,
            "key-provider remove"
        )
    }

    /// Makes or uploads a key provider's client certificate: `request` is
    /// [`Request::KmipClientNew`] or [`Request::KmipClientUpload`].
    fn kmip_client(&mut self, request: Request) -> Result<api::KmipClientCert, Error> {
        answer_of!(self.call(request)?, KmipClient, "key-provider client-cert")
    }

    /// A key provider's client certificate with its chain, or a CSR for it: `request` is
    /// [`Request::KmipClientExport`] or [`Request::KmipClientCsr`].
    fn kmip_pem(&mut self, request: Request) -> Result<api::KmipPem, Error> {
        answer_of!(self.call(request)?, KmipPem, "key-provider client-cert")
    }

    /// What each KMIP server of a key provider presents.
    fn kmip_server_certs(&mut self, name: String) -> Result<Vec<api::KmipPresented>, Error> {
        answer_of!(
            self.call(Request::KmipServerCerts { name })?,
            KmipPresented,
            "key-provider server-cert get"
        )
    }

    /// Trusts what a key provider's KMIP servers present.
    fn kmip_server_trust(
        &mut self,
        name: String,
        request: api::KmipTrustRequest,
    ) -> Result<Vec<api::KmipTrusted>, Error> {
        answer_of!(
            self.call(Request::KmipServerTrust { name, request })?,
            KmipTrusted,
            "key-provider server-cert trust"
        )
    }

    /// Issues an admin bearer token.
    fn credential_add(
        &mut self,
        r: api::CredentialAddRequest,
    ) -> Result<api::CredentialIssued, Error> {
        answer_of!(
            self.call(Request::CredentialAdd(r))?,
            CredentialIssued,
            "admin credential"
        )
    }

    /// Every admin credential.
    fn credential_list(&mut self) -> Result<Vec<api::CredentialRow>, Error> {
        answer_of!(
            self.call(Request::CredentialList)?,
            Credentials,
            "admin credential list"
        )
    }

    /// Revokes every credential of `name`.
    fn credential_revoke(
        &mut self,
        name: String,
        reason: certherd_x509::RevocationReason,
    ) -> Result<api::CredentialsRevoked, Error> {
        answer_of!(
            self.call(Request::CredentialRevoke { name, reason })?,
            CredentialsRevoked,
            "admin credential revoke"
        )
    }
}
