//! The agent's run loop: poll, deploy, back off after failures, stop when the server
//! removed this host. What happens is told to a sink as typed [`Event`]s; the caller
//! decides how (and whether) to write them, so this crate writes no text of its own.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use certherd_authority::Node;
use certherd_fleet::FleetExt;
use certherd_store::Store;

use crate::{Backoff, Error, Jitter, LayoutOutcome, Polled, Served};

/// How `run` polls.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The time between two polls that went well.
    pub every: Duration,
    /// The bound of one exchange with a server.
    pub timeout: Duration,
    /// The longest wait between two polls after failures.
    pub retry_max: Duration,
    /// One round only: a failed poll ends the run with its error.
    pub once: bool,
    /// The seed of the backoff's jitter (randomness is passed in).
    pub seed: u64,
}

/// One layout target whose deploy has a problem to report.
#[derive(Debug)]
pub struct LayoutProblem {
    /// Which tree.
    pub layout: certherd_fleet::Layout,
    /// Where.
    pub dir: PathBuf,
    /// What went wrong, and what is on disk now.
    pub problem: String,
}

impl fmt::Display for LayoutProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} layout in {}: {}",
            self.layout,
            self.dir.display(),
            self.problem
        )
    }
}

/// Why a deploy failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Writing the targets or reading the node failed.
    #[error(transparent)]
    Agent(#[from] Error),
    /// One or more layout targets have a problem (the others were deployed).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Layouts(Vec<LayoutProblem>),
}

/// Why one round failed (the next one retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoundError<E: fmt::Display + fmt::Debug> {
    /// The node could not be opened.
    #[error("opening the home: {0}")]
    Open(E),
    /// Reading the node failed.
    #[error(transparent)]
    Node(certherd_fleet::Error),
    /// The poll failed.
    #[error(transparent)]
    Poll(Error),
    /// The poll went well, the deploy did not.
    #[error("deploy: {0}")]
    Deploy(DeployError),
    /// The poll and deploy went well, recording them did not.
    #[error("recording the poll: {0}")]
    Record(certherd_fleet::Error),
}

/// Why the run stopped for good: the server removed this host.
#[derive(Debug)]
#[non_exhaustive]
pub enum Removed {
    /// The home has no server any more (removed while the agent ran).
    NoServer,
    /// The server answered that it no longer knows this host.
    ByServer(Error),
}

/// What the run loop tells its sink, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a, E: fmt::Display + fmt::Debug> {
    /// The host certificate is served on this address.
    Serving(std::net::SocketAddr),
    /// The deploy at start failed (the next round retries).
    StartDeployFailed(&'a DeployError),
    /// A target file was written.
    Wrote(&'a std::path::Path),
    /// A reload command ran; what it printed.
    Ran {
        /// The command.
        command: &'a str,
        /// What it printed (empty for the target files' reload).
        said: &'a str,
    },
    /// The target files' reload command failed.
    ReloadFailed(&'a crate::CommandError),
    /// A layout's files were written.
    WroteLayout {
        /// Which tree.
        layout: certherd_fleet::Layout,
        /// Where.
        dir: &'a std::path::Path,
        /// How many files.
        files: usize,
    },
    /// Recording the deploy's result in the home failed.
    RecordingDeployFailed(&'a certherd_fleet::Error),
    /// Telling the server about the deploy at once failed.
    ReportingDeployFailed(&'a Error),
    /// A poll went well.
    Polled {
        /// What it did.
        polled: &'a Polled,
        /// The failures in a row before it.
        after_failures: u32,
    },
    /// A poll failed; the next one is in `retry_in`.
    PollFailed {
        /// The failures in a row, this one included.
        failures: u32,
        /// The wait before the next round.
        retry_in: Duration,
        /// Why.
        error: &'a RoundError<E>,
    },
    /// The server removed this host: the run stops.
    Stopped(&'a Removed),
}

/// How the run ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ended<E: fmt::Display + fmt::Debug> {
    /// `once`: the one round went well.
    Once,
    /// `once`: the one round failed.
    Failed(RoundError<E>),
    /// The server removed this host.
    Removed(Removed),
}

/// Why the run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError<E: fmt::Display + fmt::Debug> {
    /// The node could not be opened.
    #[error("{0}")]
    Open(E),
    /// The home has not joined ([`Error::NotJoined`]), or the host certificate cannot be
    /// served.
    #[error(transparent)]
    Agent(#[from] Error),
}

impl<E: fmt::Display + fmt::Debug> From<certherd_fleet::Error> for StartError<E> {
    fn from(e: certherd_fleet::Error) -> Self {
        Self::Agent(Error::Node(e))
    }
}

impl<E: fmt::Display + fmt::Debug> From<certherd_authority::Error> for StartError<E> {
    fn from(e: certherd_authority::Error) -> Self {
        Self::Agent(Error::Node(e.into()))
    }
}

/// Runs the agent: polls until the server removes this host; failures are retried with
/// backoff, never fatal. `open` opens the node afresh each round (a database restart or
/// a changed configuration is picked up). `sink` is told each event with the host's
/// name. Fails only at start.
pub fn run<S, E, O, K>(
    config: &RunConfig,
    mut open: O,
    mut sink: K,
) -> Result<Ended<E>, StartError<E>>
where
    S: Store,
    E: fmt::Display + fmt::Debug,
    O: FnMut() -> Result<Node<S>, E>,
    K: FnMut(&str, Event<'_, E>),
{
    let mut node = open().map_err(StartError::Open)?;
    if !node.agent().agent_joined()? {
        return Err(Error::NotJoined.into());
    }
    let host = node.hostname()?;
    let mut sink = |e: Event<'_, E>| sink(&host, e);
    let served: Option<Served> = match node.agent().agent_listen()? {
        Some(l) => {
            let config = crate::server_config(&node)?;
            let served = Arc::new(RwLock::new(config));
            let addr = crate::listen(&l, served.clone())?;
            sink(Event::Serving(addr));
            Some(served)
        }
        None => None,
    };
    // At start: what changed while the agent was not running; a reload that failed
    // before is retried after the poll, not twice in a row.
    if let Err(e) = deploy(&mut node, served.as_ref(), false, &mut sink) {
        sink(Event::StartDeployFailed(&e));
    }
    drop(node);
    let mut backoff = Backoff::new(config.every, config.retry_max, Jitter::new(config.seed));
    loop {
        let wait = match round(&mut open, config.timeout, served.as_ref(), &mut sink) {
            Ok(p) => {
                sink(Event::Polled {
                    polled: &p,
                    after_failures: backoff.failures(),
                });
                backoff.succeeded()
            }
            Err(Round::Removed(r)) => {
                sink(Event::Stopped(&r));
                return Ok(Ended::Removed(r));
            }
            Err(Round::Failed(e)) if config.once => return Ok(Ended::Failed(e)),
            Err(Round::Failed(e)) => {
                let wait = backoff.failed();
                sink(Event::PollFailed {
                    failures: backoff.failures(),
                    retry_in: wait,
                    error: &e,
                });
                wait
            }
        };
        if config.once {
            return Ok(Ended::Once);
        }
        std::thread::sleep(wait);
    }
}

/// How one round ended other than with a poll.
enum Round<E: fmt::Display + fmt::Debug> {
    /// Failed; the next round retries.
    Failed(RoundError<E>),
    /// The server removed this host: stop.
    Removed(Removed),
}

/// One poll and deploy; every failure is reported, none ends the agent but removal.
fn round<S, E, O, K>(
    open: &mut O,
    timeout: Duration,
    served: Option<&Served>,
    sink: &mut K,
) -> Result<Polled, Round<E>>
where
    S: Store,
    E: fmt::Display + fmt::Debug,
    O: FnMut() -> Result<Node<S>, E>,
    K: FnMut(Event<'_, E>),
{
    let mut node = open().map_err(|e| Round::Failed(RoundError::Open(e)))?;
    match node.agent().agent_joined() {
        Ok(true) => {}
        Ok(false) => return Err(Round::Removed(Removed::NoServer)),
        Err(e) => return Err(Round::Failed(RoundError::Node(e))),
    }
    match crate::poll(&mut node, timeout) {
        Ok(p) => {
            let reported = node.agent().agent_deploy_error().ok().flatten();
            let deployed = deploy(&mut node, served, true, sink);
            // A deploy that failed, or went well after failing, is told to the server at
            // once (the alarm follows the deploy, not the next poll). What that poll
            // brings is deployed at the next round.
            if node.agent().agent_deploy_error().ok().flatten() != reported {
                if let Err(e) = crate::poll(&mut node, timeout) {
                    sink(Event::ReportingDeployFailed(&e));
                }
            }
            let recorded = match &deployed {
                Ok(()) => node.agent_mut().agent_record_poll(),
                Err(e) => node
                    .agent_mut()
                    .agent_record_poll_error(&format!("deploy: {e}")),
            };
            match (deployed, recorded) {
                (Err(e), _) => Err(Round::Failed(RoundError::Deploy(e))),
                (Ok(()), Err(e)) => Err(Round::Failed(RoundError::Record(e))),
                (Ok(()), Ok(())) => Ok(p),
            }
        }
        Err(e @ Error::HostRemoved { .. }) => Err(Round::Removed(Removed::ByServer(e))),
        Err(e) => {
            // Best effort: `status` shows it; a home that cannot be written is in the log.
            let _ = node.agent_mut().agent_record_poll_error(&e.to_string());
            Err(Round::Failed(RoundError::Poll(e)))
        }
    }
}

/// Writes changed target files and layouts, runs their reload commands, and serves the
/// current host certificate; the problem, if any, is kept for the next poll to report.
/// `retry` runs again a layout reload that failed before.
fn deploy<S: Store, E: fmt::Display + fmt::Debug, K: FnMut(Event<'_, E>)>(
    node: &mut Node<S>,
    served: Option<&Served>,
    retry: bool,
    sink: &mut K,
) -> Result<(), DeployError> {
    let done = deploy_now(node, served, retry, sink);
    // Only a deploy that retried what failed before may clear the problem.
    if retry || done.is_err() {
        let message = done.as_ref().err().map(ToString::to_string);
        if let Err(e) = node.agent_mut().agent_set_deploy_error(message.as_deref()) {
            sink(Event::RecordingDeployFailed(&e));
        }
    }
    done
}

fn deploy_now<S: Store, E: fmt::Display + fmt::Debug, K: FnMut(Event<'_, E>)>(
    node: &mut Node<S>,
    served: Option<&Served>,
    retry: bool,
    sink: &mut K,
) -> Result<(), DeployError> {
    let written = crate::write_targets(node)?;
    for p in &written {
        sink(Event::Wrote(p));
    }
    if !written.is_empty() {
        if let Some(cmd) = node.agent().agent_reload_command() {
            match crate::reload(&cmd) {
                Ok(()) => sink(Event::Ran {
                    command: &cmd,
                    said: "",
                }),
                Err(e) => sink(Event::ReloadFailed(&e)),
            }
        }
    }
    // Layout targets: each written whole when it changed, then its own reload. A problem
    // leaves the previous files (or, for a failed reload, the new ones) in place.
    let mut problems = Vec::new();
    for d in crate::write_layouts(node, retry)? {
        match &d.outcome {
            LayoutOutcome::Written { files, reloaded } => {
                if !files.is_empty() {
                    sink(Event::WroteLayout {
                        layout: d.layout,
                        dir: &d.dir,
                        files: files.len(),
                    });
                }
                if let Some((cmd, said)) = reloaded {
                    sink(Event::Ran { command: cmd, said });
                }
            }
            LayoutOutcome::ReloadFailed { files, .. } if !files.is_empty() => {
                sink(Event::WroteLayout {
                    layout: d.layout,
                    dir: &d.dir,
                    files: files.len(),
                });
            }
            _ => {}
        }
        // Said once, by the caller, with what it was doing.
        if let Some(problem) = d.outcome.problem() {
            problems.push(LayoutProblem {
                layout: d.layout,
                dir: d.dir,
                problem,
            });
        }
    }
    if let Some(s) = served {
        let config = crate::server_config(node)?;
        if let Ok(mut current) = s.write() {
            *current = config;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Layouts(problems))
    }
}
