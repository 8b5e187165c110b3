//! Putting certificates where services read them: target files (atomic replace, keys
//! 0600), the reload command after a change, and the agent's own TLS listener that
//! presents the host certificate.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use certherd_ca::Node;
use certherd_store::Store;

use crate::Error;

/// Writes every target file whose contents differ; returns the paths written.
pub fn write_targets<S: Store>(node: &Node<S>) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for f in node.agent_target_files()? {
        if std::fs::read(&f.path).ok().as_deref() == Some(f.contents.as_slice()) {
            continue;
        }
        certherd_store::write_atomic(&f.path, &f.contents, f.mode)
            .map_err(|e| Error::Node(e.into()))?;
        written.push(f.path);
    }
    Ok(written)
}

/// Runs the reload command with `sh -c`; a failure is reported, not fatal.
pub fn reload(command: &str) -> Result<(), String> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .map_err(|e| format!("reload command: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("reload command `{command}` exited with {status}"))
    }
}

/// The TLS configuration presenting the host certificate.
pub fn server_config<S: Store>(node: &Node<S>) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (chain, key) = node.agent_host_identity()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec())
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Protocol(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            chain
                .into_iter()
                .map(pki_types::CertificateDer::from)
                .collect(),
            key,
        )
        .map_err(|e| Error::Protocol(format!("host certificate unusable: {e}")))?;
    Ok(Arc::new(config))
}

/// The configuration the listener serves, swapped when the certificate is renewed.
pub type Served = Arc<RwLock<Arc<rustls::ServerConfig>>>;

/// Serves the host certificate on `listen` in the background: each connection completes a
/// handshake with whatever configuration is current, then closes.
pub fn listen(listen: &str, served: Served) -> Result<std::net::SocketAddr, Error> {
    let l = TcpListener::bind(listen)
        .map_err(|e| Error::Protocol(format!("cannot listen on {listen}: {e}")))?;
    let addr = l.local_addr().map_err(|e| Error::Protocol(e.to_string()))?;
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(mut sock) = sock else { continue };
            let Ok(config) = served.read().map(|c| c.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
                while conn.is_handshaking() {
                    if conn.complete_io(&mut sock).is_err() {
                        return;
                    }
                }
                conn.send_close_notify();
                let _ = conn.complete_io(&mut sock);
            });
        }
    });
    Ok(addr)
}
