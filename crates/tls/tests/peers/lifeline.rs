//! A lifeline for a process group a test started: the group is killed when the lifeline
//! drops, and also when the test process itself dies without unwinding (SIGKILL, abort,
//! a timeout in CI), because a watchdog shell reading from a pipe that only this process
//! holds sees end-of-file then.
//!
//! std only, so any crate's tests can include it:
//! `#[path = "../../tls/tests/peers/lifeline.rs"] mod lifeline;`
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// Kills process group `pgid` on drop or when this process dies.
pub struct Lifeline {
    pgid: u32,
    watchdog: Option<Child>,
}

impl Lifeline {
    /// Watches the process group led by `pgid` (a child spawned with `process_group(0)`).
    pub fn new(pgid: u32) -> std::io::Result<Self> {
        // The shell's builtin `kill`, not /usr/bin/kill: procps is not on every machine. (dash
        // wants `-s SIGNAL` before `--`.)
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _; kill -s KILL -- -{pgid} 2>/dev/null; exit 0"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in the watched group, so that killing the group does not kill it first.
            .process_group(0)
            .spawn()?;
        Ok(Self {
            pgid,
            watchdog: Some(watchdog),
        })
    }

    /// Sends `signal` (a name such as INT or KILL) to the whole group now.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -s {signal} -- -{} 2>/dev/null", self.pgid))
            .status();
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.signal("KILL");
        if let Some(mut w) = self.watchdog.take() {
            // Closing its stdin lets the watchdog run its (now idle) kill and exit.
            drop(w.stdin.take());
            let _ = w.wait();
        }
    }
}
