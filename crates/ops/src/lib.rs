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

/// Carries out operations: over a home ([`Local`]) or a server's admin API ([`Remote`]).
///
/// [`call`](Self::call) is the one method to implement; the others ask for one operation
/// each and give its answer's own type.
pub trait Operations {
    /// Carries out `request`.
    fn call(&mut self, request: Request) -> Result<Answer, Error>;

    /// The fleet's hosts.
    fn host_list(&mut self) -> Result<Vec<HostRow>, Error> {
        match self.call(Request::HostList)? {
            Answer::Hosts(v) => Ok(v),
            other => Err(Error::mismatch("host list", &other)),
        }
    }

    /// Enrolls a host.
    fn host_add(&mut self, r: api::HostAddRequest) -> Result<api::HostAdded, Error> {
        match self.call(Request::HostAdd(r))? {
            Answer::HostAdded(v) => Ok(v),
            other => Err(Error::mismatch("host add", &other)),
        }
    }

    /// Forgets a host and revokes its certificates.
    fn host_remove(&mut self, name: &str) -> Result<api::HostRemoved, Error> {
        match self.call(Request::HostRemove { name: name.into() })? {
            Answer::HostRemoved(v) => Ok(v),
            other => Err(Error::mismatch("host remove", &other)),
        }
    }

    /// Orders hosts to do something at their next poll: `request` is
    /// [`Request::HostResetServerCert`], [`Request::HostRefreshPoolCert`] or
    /// [`Request::FleetRenew`].
    fn order(&mut self, request: Request) -> Result<api::HostsAnswer, Error> {
        match self.call(request)? {
            Answer::Ordered(v) => Ok(v),
            other => Err(Error::mismatch("an order", &other)),
        }
    }

    /// Certificate entries.
    fn cert_list(&mut self, filter: CertFilter) -> Result<Vec<api::CertRow>, Error> {
        match self.call(Request::CertList(filter))? {
            Answer::Certs(v) => Ok(v),
            other => Err(Error::mismatch("cert list", &other)),
        }
    }

    /// Issues a certificate into a new entry.
    fn cert_issue(&mut self, r: api::IssueRequest) -> Result<api::IssuedAnswer, Error> {
        match self.call(Request::CertIssue(r))? {
            Answer::Issued(v) => Ok(v),
            other => Err(Error::mismatch("cert issue", &other)),
        }
    }

    /// One entry described.
    fn cert_show(&mut self, entry: EntryRef) -> Result<api::CertDetail, Error> {
        match self.call(Request::CertShow { entry })? {
            Answer::Cert(v) => Ok(v),
            other => Err(Error::mismatch("cert show", &other)),
        }
    }

    /// Renews one entry, with a new key of `key_algo` when given (else the old key's
    /// algorithm).
    fn cert_renew(
        &mut self,
        entry: EntryRef,
        key_algo: Option<certherd_x509::KeyAlgorithm>,
    ) -> Result<api::IssuedAnswer, Error> {
        match self.call(Request::CertRenew { entry, key_algo })? {
            Answer::Issued(v) => Ok(v),
            other => Err(Error::mismatch("cert renew", &other)),
        }
    }

    /// An entry's certificate and chain.
    fn cert_export(&mut self, entry: EntryRef) -> Result<api::ExportAnswer, Error> {
        match self.call(Request::CertExport { entry })? {
            Answer::Exported(v) => Ok(v),
            other => Err(Error::mismatch("cert export", &other)),
        }
    }

    /// Revokes a certificate the CA issued.
    fn cert_revoke(
        &mut self,
        entry: EntryRef,
        reason: certherd_x509::RevocationReason,
    ) -> Result<api::RevokeAnswer, Error> {
        match self.call(Request::CertRevoke { entry, reason })? {
            Answer::Revoked(v) => Ok(v),
            other => Err(Error::mismatch("cert revoke", &other)),
        }
    }

    /// Trusted CA certificates.
    fn trust_list(&mut self) -> Result<Vec<api::TrustRow>, Error> {
        match self.call(Request::TrustList)? {
            Answer::Trusted(v) => Ok(v),
            other => Err(Error::mismatch("trust list", &other)),
        }
    }

    /// Trusts the CA certificates in PEM text.
    fn trust_add(&mut self, pem: String) -> Result<api::TrustAddAnswer, Error> {
        match self.call(Request::TrustAdd { pem })? {
            Answer::TrustAdded(v) => Ok(v),
            other => Err(Error::mismatch("trust add", &other)),
        }
    }

    /// Stops trusting a CA certificate.
    fn trust_remove(&mut self, fingerprint: String) -> Result<api::TrustRow, Error> {
        match self.call(Request::TrustRemove { fingerprint })? {
            Answer::TrustRemoved(v) => Ok(v),
            other => Err(Error::mismatch("trust remove", &other)),
        }
    }

    /// Adds a CRL.
    fn crl_add(&mut self, pem: String) -> Result<api::CrlRow, Error> {
        match self.call(Request::CrlAdd { pem })? {
            Answer::CrlAdded(v) => Ok(v),
            other => Err(Error::mismatch("trust add-crl", &other)),
        }
    }

    /// Alarms, open ones or all.
    fn alarms(&mut self, all: bool) -> Result<Vec<AlarmRow>, Error> {
        match self.call(Request::Alarms { all })? {
            Answer::Alarms(v) => Ok(v),
            other => Err(Error::mismatch("alarms", &other)),
        }
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
        match self.call(Request::CaShow)? {
            Answer::Ca(v) => Ok(v),
            other => Err(Error::mismatch("ca show", &other)),
        }
    }

    /// One step of the staged CA rotation.
    fn ca_rotate(&mut self) -> Result<api::RotationAnswer, Error> {
        match self.call(Request::CaRotate)? {
            Answer::Rotation(v) => Ok(v),
            other => Err(Error::mismatch("ca rotate", &other)),
        }
    }

    /// Key providers and the health of each of their KMIP servers, checked now.
    fn key_providers(
        &mut self,
        name: Option<String>,
        timeout_seconds: u64,
    ) -> Result<Vec<api::KeyProviderHealth>, Error> {
        match self.call(Request::KeyProviders {
            name,
            timeout_seconds,
        })? {
            Answer::KeyProviders(v) => Ok(v),
            other => Err(Error::mismatch("key-provider status", &other)),
        }
    }

    /// Every expiry ahead.
    fn forecast(&mut self, horizon: Horizon) -> Result<api::ForecastAnswer, Error> {
        match self.call(Request::Forecast(horizon))? {
            Answer::Forecast(v) => Ok(v),
            other => Err(Error::mismatch("forecast", &other)),
        }
    }

    /// The monitoring check of the whole inventory at `at` (now when `None`), with the
    /// thresholds given (certherd.toml's for those not given).
    fn check(
        &mut self,
        at: Option<time::OffsetDateTime>,
        warn: Option<certherd_core::Span>,
        crit: Option<certherd_core::Span>,
    ) -> Result<api::CheckAnswer, Error> {
        match self.call(Request::Check { at, warn, crit })? {
            Answer::Check(v) => Ok(v),
            other => Err(Error::mismatch("check", &other)),
        }
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
        match self.call(Request::StoreList)? {
            Answer::Stores(v) => Ok(v),
            other => Err(Error::mismatch("store list", &other)),
        }
    }

    /// The profiles in force.
    fn profile_list(&mut self) -> Result<Vec<api::ProfileRow>, Error> {
        match self.call(Request::ProfileList)? {
            Answer::Profiles(v) => Ok(v),
            other => Err(Error::mismatch("profile list", &other)),
        }
    }

    /// Each host's pinned certificates.
    fn pool_certificates(&mut self) -> Result<Vec<api::PoolCertRow>, Error> {
        match self.call(Request::PoolCertificates)? {
            Answer::PoolCertificates(v) => Ok(v),
            other => Err(Error::mismatch("pool certificate-list", &other)),
        }
    }

    /// The root clients should trust.
    fn ca_root(&mut self) -> Result<api::CaRoot, Error> {
        match self.call(Request::CaRoot)? {
            Answer::CaRoot(v) => Ok(v),
            other => Err(Error::mismatch("ca export", &other)),
        }
    }

    /// The webhook notifications not delivered yet.
    fn notifications(&mut self) -> Result<api::NotificationsRow, Error> {
        match self.call(Request::Notifications)? {
            Answer::Notifications(v) => Ok(v),
            other => Err(Error::mismatch("notifications", &other)),
        }
    }

    /// The signing CA's current CRL, published first when due.
    fn ca_crl(&mut self) -> Result<api::CaCrl, Error> {
        match self.call(Request::CaCrl)? {
            Answer::CaCrl(v) => Ok(v),
            other => Err(Error::mismatch("ca crl", &other)),
        }
    }

    /// Deletes an entry.
    fn cert_delete(&mut self, entry: EntryRef) -> Result<api::Deleted, Error> {
        match self.call(Request::CertDelete { entry })? {
            Answer::Deleted(v) => Ok(v),
            other => Err(Error::mismatch("cert delete", &other)),
        }
    }

    /// Replaces an imported entry with a certificate and key the CA issues.
    fn cert_reset(&mut self, entry: EntryRef) -> Result<api::IssuedAnswer, Error> {
        match self.call(Request::CertReset { entry })? {
            Answer::Issued(v) => Ok(v),
            other => Err(Error::mismatch("cert reset", &other)),
        }
    }

    /// The watched endpoints.
    fn endpoint_list(&mut self) -> Result<Vec<api::WatchRow>, Error> {
        match self.call(Request::EndpointList)? {
            Answer::Endpoints(v) => Ok(v),
            other => Err(Error::mismatch("endpoint list", &other)),
        }
    }

    /// Stops watching an endpoint.
    fn endpoint_remove(&mut self, name: &str) -> Result<api::EndpointRemoved, Error> {
        match self.call(Request::EndpointRemove {
            name: name.to_owned(),
        })? {
            Answer::EndpointRemoved(v) => Ok(v),
            other => Err(Error::mismatch("endpoint remove", &other)),
        }
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
        match self.call(Request::CertImport {
            entry,
            source,
            profile,
        })? {
            Answer::Imported(v) => Ok(v),
            other => Err(Error::mismatch("cert import", &other)),
        }
    }

    /// Creates a service identity: its store and certificate.
    fn service_add(&mut self, name: &str) -> Result<api::IssuedAnswer, Error> {
        match self.call(Request::ServiceAdd {
            name: name.to_owned(),
        })? {
            Answer::Issued(v) => Ok(v),
            other => Err(Error::mismatch("service add", &other)),
        }
    }

    /// Watches a TLS endpoint.
    fn endpoint_add(&mut self, r: api::EndpointAddRequest) -> Result<api::WatchRow, Error> {
        match self.call(Request::EndpointAdd(r))? {
            Answer::EndpointAdded(v) => Ok(v),
            other => Err(Error::mismatch("endpoint add", &other)),
        }
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
        match self.call(Request::ScanTls(r))? {
            Answer::TlsScanned(v) => Ok(v),
            other => Err(Error::mismatch("scan tls", &other)),
        }
    }

    /// Pins what an endpoint presents now.
    fn endpoint_trust(
        &mut self,
        name: &str,
        probe: api::ProbeRequest,
    ) -> Result<api::EndpointTrusted, Error> {
        match self.call(Request::EndpointTrust {
            name: name.to_owned(),
            probe,
        })? {
            Answer::EndpointTrusted(v) => Ok(v),
            other => Err(Error::mismatch("endpoint trust", &other)),
        }
    }

    /// Diagnoses an endpoint.
    fn endpoint_diagnose(
        &mut self,
        name: &str,
        probe: api::ProbeRequest,
    ) -> Result<api::DiagnosisAnswer, Error> {
        match self.call(Request::EndpointDiagnose {
            name: name.to_owned(),
            probe,
        })? {
            Answer::Diagnosis(v) => Ok(v),
            other => Err(Error::mismatch("endpoint diagnose", &other)),
        }
    }

    /// The HTML report, its forecast up to `until`.
    fn report(&mut self, until: certherd_core::OffsetDateTime) -> Result<api::ReportAnswer, Error> {
        match self.call(Request::Report { until })? {
            Answer::Report(v) => Ok(v),
            other => Err(Error::mismatch("report", &other)),
        }
    }

    /// Judges a certificate against the home's trust (or the anchors given).
    fn verify(&mut self, r: api::VerifyRequest) -> Result<api::VerifyAnswer, Error> {
        match self.call(Request::Verify(r))? {
            Answer::Verified(v) => Ok(v),
            other => Err(Error::mismatch("verify", &other)),
        }
    }

    /// Creates a key provider with its first KMIP server.
    fn key_provider_create(
        &mut self,
        r: api::KeyProviderCreateRequest,
    ) -> Result<api::KeyProviderCreated, Error> {
        match self.call(Request::KeyProviderCreate(r))? {
            Answer::KeyProviderCreated(v) => Ok(v),
            other => Err(Error::mismatch("key-provider create", &other)),
        }
    }

    /// The key providers as set up.
    fn key_provider_list(&mut self) -> Result<Vec<api::KeyProviderRow>, Error> {
        match self.call(Request::KeyProviderList)? {
            Answer::KeyProviderRows(v) => Ok(v),
            other => Err(Error::mismatch("key-provider list", &other)),
        }
    }

    /// Adds a KMIP server to a key provider; the provider as it is now.
    fn key_provider_add_server(
        &mut self,
        name: String,
        server: api::KmipServerAddRequest,
    ) -> Result<api::KeyProviderRow, Error> {
        match self.call(Request::KeyProviderAddServer { name, server })? {
            Answer::KeyProviderRow(v) => Ok(v),
            other => Err(Error::mismatch("key-provider add-server", &other)),
        }
    }

    /// Removes a key provider.
    fn key_provider_remove(&mut self, name: String) -> Result<api::KeyProviderRemoved, Error> {
        match self.call(Request::KeyProviderRemove { name })? {
            Answer::KeyProviderRemoved(v) => Ok(v),
            other => Err(Error::mismatch("key-provider remove", &other)),
        }
    }

    /// Makes or uploads a key provider's client certificate: `request` is
    /// [`Request::KmipClientNew`] or [`Request::KmipClientUpload`].
    fn kmip_client(&mut self, request: Request) -> Result<api::KmipClientCert, Error> {
        match self.call(request)? {
            Answer::KmipClient(v) => Ok(v),
            other => Err(Error::mismatch("key-provider client-cert", &other)),
        }
    }

    /// A key provider's client certificate with its chain, or a CSR for it: `request` is
    /// [`Request::KmipClientExport`] or [`Request::KmipClientCsr`].
    fn kmip_pem(&mut self, request: Request) -> Result<api::KmipPem, Error> {
        match self.call(request)? {
            Answer::KmipPem(v) => Ok(v),
            other => Err(Error::mismatch("key-provider client-cert", &other)),
        }
    }

    /// What each KMIP server of a key provider presents.
    fn kmip_server_certs(&mut self, name: String) -> Result<Vec<api::KmipPresented>, Error> {
        match self.call(Request::KmipServerCerts { name })? {
            Answer::KmipPresented(v) => Ok(v),
            other => Err(Error::mismatch("key-provider server-cert get", &other)),
        }
    }

    /// Trusts what a key provider's KMIP servers present.
    fn kmip_server_trust(
        &mut self,
        name: String,
        request: api::KmipTrustRequest,
    ) -> Result<Vec<api::KmipTrusted>, Error> {
        match self.call(Request::KmipServerTrust { name, request })? {
            Answer::KmipTrusted(v) => Ok(v),
            other => Err(Error::mismatch("key-provider server-cert trust", &other)),
        }
    }

    /// Issues an admin bearer token.
    fn credential_add(
        &mut self,
        r: api::CredentialAddRequest,
    ) -> Result<api::CredentialIssued, Error> {
        match self.call(Request::CredentialAdd(r))? {
            Answer::CredentialIssued(v) => Ok(v),
            other => Err(Error::mismatch("admin credential", &other)),
        }
    }

    /// Every admin credential.
    fn credential_list(&mut self) -> Result<Vec<api::CredentialRow>, Error> {
        match self.call(Request::CredentialList)? {
            Answer::Credentials(v) => Ok(v),
            other => Err(Error::mismatch("admin credential list", &other)),
        }
    }

    /// Revokes every credential of `name`.
    fn credential_revoke(
        &mut self,
        name: String,
        reason: certherd_x509::RevocationReason,
    ) -> Result<api::CredentialsRevoked, Error> {
        match self.call(Request::CredentialRevoke { name, reason })? {
            Answer::CredentialsRevoked(v) => Ok(v),
            other => Err(Error::mismatch("admin credential revoke", &other)),
        }
    }
}
