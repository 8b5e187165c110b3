//! Key providers (seed 002): the provider's KMIP servers, the client certificate the key
//! server must trust (three ways), and the server certificates certherd trusts. The
//! network side (TLS and KMIP) lives at the edge; this module keeps the state.

use certherd_core::{
    EntryKind, EntryMeta, KeyProvider, KmipServer, ProviderName, ServerAddress, Source,
};
use certherd_store::{Change, Secret, Store};
use certherd_x509::{CertInfo, CertSpec, PemLabel, Role};

use std::ops::{Deref, DerefMut};

use certherd_authority::{Issued, Node, ObjectKind, ValueKind};

use crate::Error;

/// Everything the edge needs to check a provider's servers.
#[derive(Debug)]
pub struct KmipPlan {
    /// The provider.
    pub provider: KeyProvider,
    /// The client certificate chain (leaf first, DER) and its key (DER), if there is one.
    pub identity: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Each server with the certificate trusted for it, if any.
    pub servers: Vec<(KmipServer, Option<Vec<u8>>)>,
}

fn pending_key_name(name: &ProviderName) -> String {
    format!("kmip.{name}.pending-key")
}

fn normalize_thumbprint(t: &str) -> String {
    t.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The KMIP key providers over a node's context: their servers, client identities and
/// trust. Reached by [`crate::MonitorExt::key_providers`] (reads) and
/// [`crate::MonitorExt::key_providers_mut`] (changes); `N` is the borrow of the node.
#[derive(Debug)]
pub struct KeyProviders<N> {
    node: N,
}

impl<N> KeyProviders<N> {
    pub(crate) fn new(node: N) -> Self {
        Self { node }
    }
}

impl<S: Store, N: DerefMut<Target = Node<S>>> KeyProviders<N> {
    /// Applies a batch to the context's store; the batch may read the context while it is
    /// built (`self.commit(&[.., self.node.audit(..)])`).
    fn commit(&mut self, changes: &[Change]) -> Result<(), Error> {
        Ok(self.node.commit(changes)?)
    }
}

impl<S: Store, N: Deref<Target = Node<S>>> KeyProviders<N> {
    /// All key providers.
    pub fn list(&self) -> Result<Vec<KeyProvider>, Error> {
        Ok(self.node.store().key_providers()?)
    }

    /// One key provider by name.
    pub fn get(&self, name: &ProviderName) -> Result<KeyProvider, Error> {
        self.list()?
            .into_iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| {
                Error::Node(certherd_authority::Error::NotFound {
                    what: ObjectKind::KeyProvider,
                    name: name.to_string(),
                })
            })
    }

    /// `key-provider create`.
    pub fn key_provider_create(
        &mut self,
        name: &ProviderName,
        primary_key_id: &str,
        server: KmipServer,
    ) -> Result<KeyProvider, Error>
    where
        N: DerefMut,
    {
        if self.list()?.iter().any(|p| &p.name == name) {
            return Err(Error::Node(certherd_authority::Error::AlreadyExists {
                what: ObjectKind::KeyProvider,
                name: name.to_string(),
            }));
        }
        if primary_key_id.trim().is_empty() {
            return Err(Error::Node(certherd_authority::Error::InvalidValue {
                what: ValueKind::PrimaryKeyId,
                value: String::new(),
            }));
        }
        let provider = KeyProvider {
            name: name.clone(),
            primary_key_id: primary_key_id.to_owned(),
            servers: vec![server],
        };
        let now = self.node.now();
        self.commit(&[
            Change::PutKeyProvider {
                provider: provider.clone(),
                at: now,
            },
            Change::CreateStore(provider.store()?, now),
            self.node.audit(
                "key-provider-create",
                name,
                format!("primary key {primary_key_id}"),
            ),
        ])?;
        Ok(provider)
    }

    /// `key-provider add-server`.
    pub fn key_provider_add_server(
        &mut self,
        name: &ProviderName,
        server: KmipServer,
    ) -> Result<KeyProvider, Error>
    where
        N: DerefMut,
    {
        let mut p = self.get(name)?;
        if p.servers.iter().any(|s| s.address == server.address) {
            return Err(Error::KmipServerExists {
                provider: name.to_string(),
                address: server.address.to_string(),
            });
        }
        let detail = server.address.to_string();
        p.servers.push(server);
        self.commit(&[
            Change::PutKeyProvider {
                provider: p.clone(),
                at: self.node.now(),
            },
            self.node.audit("key-provider-add-server", name, detail),
        ])?;
        Ok(p)
    }

    /// `key-provider remove`: the provider goes; its certificates are kept in the backup
    /// store for the retention period, then pruned.
    pub fn key_provider_remove(&mut self, name: &ProviderName) -> Result<(), Error>
    where
        N: DerefMut,
    {
        let p = self.get(name)?;
        let store = p.store()?;
        let mut changes = Vec::new();
        let mut taken = Vec::new();
        for m in self.node.store().entries(Some(&store))? {
            let (moved, to) = self.node.displace(&m.entry, &taken)?;
            changes.extend(moved);
            taken.extend(to);
        }
        changes.push(Change::DeleteStore(store));
        changes.push(Change::DeleteSecret(pending_key_name(name)));
        changes.push(Change::DeleteKeyProvider(name.clone()));
        changes.push(
            self.node
                .audit("key-provider-remove", name, "certificates kept in backup"),
        );
        self.commit(&changes)
    }

    /// `client-cert new`: a `kmip-client` certificate, issued by certherd's CA (or
    /// self-signed), for the key server's admin to trust.
    pub fn kmip_client_new(
        &mut self,
        name: &ProviderName,
        self_signed: bool,
        key_algo: Option<certherd_x509::KeyAlgorithm>,
    ) -> Result<Issued, Error>
    where
        N: DerefMut,
    {
        let p = self.get(name)?;
        let mut profile = self.node.profiles().get("kmip-client")?.clone();
        profile.self_signed = self_signed;
        let cn = format!("certherd kmip-client {name}");
        let r = p.client_entry()?;
        let (mut changes, meta) =
            self.node
                .issue_entry_changes(&profile, &cn, key_algo, r.clone())?;
        changes.push(Change::DeleteSecret(pending_key_name(name)));
        changes.push(self.node.audit(
            "kmip-client-new",
            &r,
            format!(
                "{} serial {}",
                if self_signed {
                    "self-signed"
                } else {
                    "CA-issued"
                },
                meta.serial
            ),
        ));
        self.commit(&changes)?;
        // What to do with it next is the interface's to say (the CLI names its export).
        Ok(Issued {
            meta,
            warnings: Vec::new(),
        })
    }

    /// `client-cert csr`: a new key held by certherd and a CSR for the key server vendor.
    pub fn kmip_client_csr(
        &mut self,
        name: &ProviderName,
        key_algo: Option<certherd_x509::KeyAlgorithm>,
    ) -> Result<String, Error>
    where
        N: DerefMut,
    {
        self.get(name)?;
        let algo = key_algo.unwrap_or_else(|| self.node.default_key_algo());
        let key = certherd_x509::PrivateKey::generate(algo)?;
        let now = self.node.now();
        let spec = CertSpec {
            common_name: format!("certherd kmip-client {name}"),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            not_before: now,
            not_after: self.node.profiles().get("kmip-client")?.lifetime.after(now),
            role: Role::Leaf,
            eku: vec![certherd_x509::Eku::ClientAuth],
        };
        let csr = certherd_x509::signing_request(&spec, &key)?;
        self.commit(&[
            Change::PutSecret {
                name: pending_key_name(name),
                secret: Secret::new(key.secret_der().to_vec()),
            },
            self.node
                .audit("kmip-client-csr", name, "key kept sealed, CSR written"),
        ])?;
        Ok(certherd_x509::to_pem(PemLabel::CertificateRequest, &csr))
    }

    /// `client-cert upload`: the certificate the vendor signed from our CSR (the key stays
    /// in certherd), or a certificate and key the key server issued.
    pub fn kmip_client_upload(
        &mut self,
        name: &ProviderName,
        cert_input: &[u8],
        key_input: Option<&[u8]>,
    ) -> Result<Issued, Error>
    where
        N: DerefMut,
    {
        let p = self.get(name)?;
        let certs = certherd_x509::parse_certificates(cert_input)?;
        let key = match key_input {
            Some(k) => certherd_x509::parse_private_key(k)?,
            None => {
                let pending = self
                    .node
                    .store()
                    .secret(&pending_key_name(name))?
                    .ok_or_else(|| Error::NoPendingCsr(name.to_string()))?;
                certherd_x509::parse_private_key(pending.expose())?
            }
        };
        let spki = key.public_key_spki();
        let infos = certs
            .iter()
            .map(|c| CertInfo::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        let idx = infos
            .iter()
            .position(|i| i.spki_der == spki)
            .ok_or(certherd_authority::Error::KeyMismatch)?;
        let info = infos[idx].clone();
        let now = self.node.now();
        if now > info.not_after {
            return Err(Error::Node(certherd_authority::Error::Expired {
                not_after: info.not_after,
                now,
            }));
        }
        if now < info.not_before {
            return Err(Error::Node(certherd_authority::Error::NotYetValid {
                not_before: info.not_before,
                now,
            }));
        }
        if !info.extended_key_usage.is_empty()
            && !info.extended_key_usage.iter().any(|e| e == "clientAuth")
        {
            return Err(Error::Node(certherd_authority::Error::EkuMismatch {
                profile: "kmip-client".into(),
                required: "clientAuth".into(),
                present: info.extended_key_usage.join(", "),
            }));
        }
        let chain: Vec<Vec<u8>> = certs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != idx)
            .map(|(_, c)| c.to_vec())
            .collect();
        let r = p.client_entry()?;
        let meta = self.node.meta_for(
            r.clone(),
            &info,
            EntryKind::KeyPair,
            Some("kmip-client"),
            Source::Imported,
            None,
        );
        // The one replace-entry step: what was there is kept in the backup store.
        let (mut changes, _) = self.node.replace_entry(Node::<S>::entry_with_key(
            meta.clone(),
            certs[idx].to_vec(),
            chain,
            Some(&key),
        ))?;
        changes.push(Change::DeleteSecret(pending_key_name(name)));
        changes.push(self.node.audit(
            "kmip-client-upload",
            &r,
            format!("issuer {} serial {}", info.issuer, info.serial),
        ));
        self.commit(&changes)?;
        Ok(Issued {
            meta,
            warnings: vec![
                "uploaded client certificates are monitored but renewed by the key server's admin"
                    .into(),
            ],
        })
    }

    /// `client-cert export`: the client certificate and its chain, PEM.
    pub fn kmip_client_export(&self, name: &ProviderName) -> Result<String, Error> {
        let p = self.get(name)?;
        let e = self
            .node
            .store()
            .entry(&p.client_entry()?)?
            .ok_or_else(|| Error::NoClientCertificate(name.to_string()))?;
        let mut pem = certherd_x509::to_pem(PemLabel::Certificate, &e.cert);
        for c in &e.chain {
            pem.push_str(&certherd_x509::to_pem(PemLabel::Certificate, c));
        }
        Ok(pem)
    }

    /// `server-cert trust`: pins the certificate a server presented. With a thumbprint
    /// (SHA-256 or SHA-1, as the vSphere tools print it), the presented certificate must
    /// match it, so what is trusted is what the admin checked.
    pub fn kmip_server_trust(
        &mut self,
        name: &ProviderName,
        address: &ServerAddress,
        presented: &[u8],
        thumbprint: Option<&str>,
    ) -> Result<EntryMeta, Error>
    where
        N: DerefMut,
    {
        let p = self.get(name)?;
        if !p.servers.iter().any(|s| &s.address == address) {
            return Err(Error::NoSuchKmipServer {
                provider: name.to_string(),
                address: address.to_string(),
            });
        }
        let info = CertInfo::from_der(presented)?;
        if let Some(t) = thumbprint {
            let t = normalize_thumbprint(t);
            if t != info.sha256 && t != info.sha1 {
                return Err(Error::ThumbprintMismatch {
                    address: address.to_string(),
                    sha256: info.sha256.clone(),
                    sha1: info.sha1.clone(),
                });
            }
        }
        let r = p.server_entry(address)?;
        let meta = self.node.meta_for(
            r.clone(),
            &info,
            EntryKind::Certificate,
            None,
            Source::Trusted,
            None,
        );
        // The one replace-entry step: what was there is kept in the backup store.
        let (mut changes, _) = self.node.replace_entry(Node::<S>::entry_with_key(
            meta.clone(),
            presented.to_vec(),
            Vec::new(),
            None,
        ))?;
        changes.push(self.node.audit(
            "kmip-server-trust",
            &r,
            format!("{} sha256 {}", info.subject, info.sha256),
        ));
        self.commit(&changes)?;
        Ok(meta)
    }

    /// What the edge needs to check the provider's servers.
    pub fn kmip_plan(&self, name: &ProviderName) -> Result<KmipPlan, Error> {
        let provider = self.get(name)?;
        let identity = self
            .node
            .store()
            .entry(&provider.client_entry()?)?
            .and_then(|e| {
                let key = e.key?.expose().to_vec();
                let mut chain = vec![e.cert];
                chain.extend(e.chain);
                Some((chain, key))
            });
        let mut servers = Vec::new();
        for s in &provider.servers {
            let pinned = self
                .node
                .store()
                .entry(&provider.server_entry(&s.address)?)?
                .map(|e| e.cert);
            servers.push((s.clone(), pinned));
        }
        Ok(KmipPlan {
            provider,
            identity,
            servers,
        })
    }
}
