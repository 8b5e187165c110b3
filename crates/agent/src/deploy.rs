//! Putting certificates where services read them: target files (atomic replace, keys
//! 0600), the reload command after a change, and the agent's own TLS listener that
//! presents the host certificate.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use certherd_authority::Node;
use certherd_fleet::FleetExt;
use certherd_store::Store;

use crate::Error;

/// Writes every target file whose contents differ; returns the paths written.
pub fn write_targets<S: Store>(node: &Node<S>) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for f in node.agent().agent_target_files()? {
        if std::fs::read(&f.path).ok().as_deref() == Some(f.contents.as_slice()) {
            continue;
        }
        certherd_store::write_atomic(&f.path, &f.contents, f.mode)
            .map_err(|e| Error::Node(e.into()))?;
        written.push(f.path);
    }
    Ok(written)
}

/// Why the target files' reload command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The shell could not be started.
    #[error("reload command: {0}")]
    Spawn(std::io::Error),
    /// It exited unsuccessfully.
    #[error("reload command `{command}` exited with {status}")]
    Exited {
        /// The command.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
}

/// Runs the reload command with `sh -c`; a failure is reported, not fatal.
pub fn reload(command: &str) -> Result<(), CommandError> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .map_err(CommandError::Spawn)?;
    if status.success() {
        Ok(())
    } else {
        Err(CommandError::Exited {
            command: command.to_owned(),
            status,
        })
    }
}

/// The TLS configuration presenting the host certificate. Client certificates are asked
/// for, not required (a probe without one is served): one presented must chain to the
/// host's trusted roots and must not be listed by a CRL the host holds (the pool's CA
/// CRL arrives with the trust sync); a revoked or untrusted one fails the handshake.
pub fn server_config<S: Store>(node: &Node<S>) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (chain, key) = node.agent().agent_host_identity()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = pki_types::PrivateKeyDer::try_from(key.secret_der().to_vec())
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for anchor in node.trust_anchors()? {
        // A root rustls cannot use as an anchor cannot vouch for a client either.
        let _ = roots.add(anchor);
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let builder = if roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .with_crls(node.trusted_crls()?)
                // The pool's CA CRL speaks for its leaves; a root or CA without a CRL
                // held is not a reason to refuse.
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .allow_unauthenticated()
                .build()
                .map_err(|e| Error::Protocol(format!("client verification: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let config = builder
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

/// How a reload command ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The shell could not be started.
    #[error("reload `{command}` could not be started: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited unsuccessfully.
    #[error("reload `{command}` failed ({status}){}", said(output))]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed (stdout then stderr, the last 4 KiB of each).
        output: String,
    },
    /// It ran longer than its timeout and was killed with its process group.
    #[error("reload `{command}` still running after {}s: killed{}", timeout.as_secs(), said(output))]
    TimedOut {
        /// The command.
        command: String,
        /// The timeout.
        timeout: Duration,
        /// What it printed before it was killed.
        output: String,
    },
}

impl ReloadError {
    /// What the command printed, if it ran.
    pub fn output(&self) -> &str {
        match self {
            Self::Spawn { .. } => "",
            Self::Failed { output, .. } | Self::TimedOut { output, .. } => output,
        }
    }
}

/// `; it printed: LINE / LINE`: the output on one line, so that a log line, the alarm and
/// the CLI's error each stay one line; [`ReloadError::output`] keeps it as printed.
fn said(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("; it printed: {}", lines.join(" / "))
    }
}

/// The most of a reload's output kept, per stream.
const OUTPUT_KEPT: usize = 4096;

fn drain(mut r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > OUTPUT_KEPT {
                        kept.drain(..kept.len() - OUTPUT_KEPT);
                    }
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// Runs `command` with `sh -c` in its own process group, bounded by `timeout`: when it
/// runs longer, the whole group is killed. Returns what it printed.
pub fn reload_within(command: &str, timeout: Duration) -> Result<String, ReloadError> {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ReloadError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) | Err(_) => break None,
        }
    };
    if status.is_none() {
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        let _ = child.kill();
        let _ = child.wait();
    }
    // A descendant that left the group may hold a pipe open: wait for output briefly.
    let collect = |rx: Option<std::sync::mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let output = format!("{}{}", collect(out), collect(err));
    match status {
        Some(s) if s.success() => Ok(output),
        Some(status) => Err(ReloadError::Failed {
            command: command.to_owned(),
            status,
            output,
        }),
        None => Err(ReloadError::TimedOut {
            command: command.to_owned(),
            timeout,
            output,
        }),
    }
}

/// What deploying one layout target did.
#[derive(Debug)]
pub struct LayoutDeployed {
    /// Which tree.
    pub layout: certherd_fleet::Layout,
    /// Where.
    pub dir: PathBuf,
    /// What happened.
    pub outcome: LayoutOutcome,
}

/// What a layout directory holds after a reload failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kept {
    /// The previous files, put back: the next deploy writes and reloads again.
    PutBack,
    /// The new files of a first layout (nothing to go back to); the reload is retried.
    FirstLayout,
    /// The files, unchanged since a reload that failed before; the reload is retried.
    Unchanged,
    /// Putting the previous files back failed: why.
    RestoreFailed(String),
}

/// The outcome of deploying one layout target.
#[derive(Debug)]
#[non_exhaustive]
pub enum LayoutOutcome {
    /// The files on disk already held this content: nothing written, no reload.
    Unchanged,
    /// The layout was written and reloaded (or has no reload); the reload's output.
    Written {
        /// The files written.
        files: Vec<PathBuf>,
        /// The reload run and what it printed, if there is one.
        reloaded: Option<(String, String)>,
    },
    /// The layout was written, but its reload failed. The previous files were put back
    /// when there were any (`restored`), so the daemon and the disk agree and the next
    /// deploy writes and reloads again; a first layout stays in place (there is nothing
    /// to go back to, and the daemon may not run yet), its reload retried.
    ReloadFailed {
        /// The files written.
        files: Vec<PathBuf>,
        /// Why.
        error: ReloadError,
        /// What is on disk now.
        kept: Kept,
    },
    /// Nothing was written (the daemon would refuse the certificate, or the directory
    /// cannot take the layout); the previous files are as they were.
    NotWritten(certherd_fleet::Error),
}

impl LayoutOutcome {
    /// The problem to report, if any.
    pub fn problem(&self) -> Option<String> {
        match self {
            Self::ReloadFailed { error, kept, .. } => Some(match kept {
                Kept::PutBack => format!("{error}; the previous files were put back"),
                Kept::FirstLayout => format!(
                    "{error}; the new files stay (there were none before), the reload is tried again after each poll"
                ),
                Kept::Unchanged => {
                    format!("{error}; the files stay, the reload is tried again after each poll")
                }
                Kept::RestoreFailed(e) => format!("{error}; {e}"),
            }),
            Self::NotWritten(e) => Some(e.to_string()),
            Self::Unchanged | Self::Written { .. } => None,
        }
    }
}

fn layout_on_disk(dir: &std::path::Path, files: &[certherd_fleet::layout::LayoutFile]) -> bool {
    use std::os::unix::fs::PermissionsExt;
    files.iter().all(|f| {
        let path = dir.join(&f.path);
        std::fs::read(&path).is_ok_and(|d| d == f.data)
            && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o777 == f.mode)
    })
}

/// The QEMU installed here, as `qemu-img --version` (found on `PATH`) tells it: whether a
/// qemu layout needs keyEncipherment follows the QEMU that will read it.
pub fn installed_qemu() -> certherd_fleet::QemuReader {
    let output = std::process::Command::new("qemu-img")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(o) => certherd_fleet::QemuReader::from_version_output(Some(&String::from_utf8_lossy(
            &o.stdout,
        ))),
        Err(_) => certherd_fleet::QemuReader::NotFound,
    }
}

/// Writes every `layout` target whose files differ from what is on disk (whole or not at
/// all) and runs its reload, bounded by its timeout; with `retry`, a reload that failed
/// before is run again even when the files did not change. A failure of one target does
/// not stop the others.
pub fn write_layouts<S: Store>(
    node: &mut Node<S>,
    retry: bool,
) -> Result<Vec<LayoutDeployed>, Error> {
    let mut out = Vec::new();
    for t in node.agent().agent_layout_targets(installed_qemu)? {
        let pending = retry && node.agent().agent_reload_pending(&t.dir)?;
        let written = match t.files {
            Err(e) => Err(e),
            Ok(files) if layout_on_disk(&t.dir, &files) => Ok(None),
            Ok(files) => certherd_fleet::layout::replace_layout(&t.dir, t.layout, &files)
                .map(Some)
                .map_err(certherd_fleet::Error::from),
        };
        let outcome = match written {
            Err(e) => LayoutOutcome::NotWritten(e),
            Ok(None) if !pending => LayoutOutcome::Unchanged,
            Ok(replaced) => {
                let files = replaced
                    .as_ref()
                    .map(certherd_fleet::layout::Replaced::files)
                    .unwrap_or_default();
                match &t.reload {
                    None => LayoutOutcome::Written {
                        files,
                        reloaded: None,
                    },
                    Some(cmd) => match reload_within(cmd, t.reload_timeout) {
                        Ok(said) => {
                            drop(replaced.map(certherd_fleet::layout::Replaced::commit));
                            node.agent_mut().agent_set_reload_pending(&t.dir, false)?;
                            LayoutOutcome::Written {
                                files,
                                reloaded: Some((cmd.clone(), said)),
                            }
                        }
                        Err(error) => {
                            // The daemon did not take the new files: go back to the ones
                            // it runs with, if there were any.
                            let kept = match replaced {
                                Some(r) if r.had_previous() => match r.restore() {
                                    Ok(()) => Kept::PutBack,
                                    Err(e) => Kept::RestoreFailed(e.to_string()),
                                },
                                Some(r) => {
                                    r.commit();
                                    Kept::FirstLayout
                                }
                                None => Kept::Unchanged,
                            };
                            node.agent_mut()
                                .agent_set_reload_pending(&t.dir, kept != Kept::PutBack)?;
                            LayoutOutcome::ReloadFailed { files, error, kept }
                        }
                    },
                }
            }
        };
        out.push(LayoutDeployed {
            layout: t.layout,
            dir: t.dir,
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reload_returns_output() {
        let said = reload_within("echo done; echo warn >&2", Duration::from_secs(10)).unwrap();
        assert_eq!(said, "done\nwarn\n");
    }

    #[test]
    fn failed_reload_carries_status_and_output() {
        let e =
            reload_within("echo 'bad config' >&2; exit 3", Duration::from_secs(10)).unwrap_err();
        assert!(matches!(e, ReloadError::Failed { .. }), "{e}");
        assert_eq!(e.output(), "bad config\n");
        let line = e.to_string();
        assert!(
            line.contains("exit status: 3") && line.contains("bad config"),
            "{line}"
        );
    }

    #[test]
    fn hanging_reload_is_killed_with_its_children() {
        let tmp = std::env::temp_dir().join(format!("certherd-reload-{}", std::process::id()));
        let started = std::time::Instant::now();
        // The shell forks `sleep` (it is not the last command), so killing only the shell
        // would leave it running and holding the output pipe.
        let cmd = format!("echo started; sleep 60; touch {}", tmp.display());
        let e = reload_within(&cmd, Duration::from_secs(1)).unwrap_err();
        // That it was cut off is asserted below; how soon is printed (flaky under load).
        eprintln!("a hanging reload returned after {:?}", started.elapsed());
        assert!(matches!(e, ReloadError::TimedOut { .. }), "{e}");
        assert_eq!(e.output(), "started\n");
        assert!(e.to_string().contains("after 1s: killed"), "{e}");
        assert!(!tmp.exists());
    }
}
