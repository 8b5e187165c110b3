//! The tests' lifeline kills what a test started even when the test process dies without
//! unwinding: this test runs itself again as a child that starts a process group, prints
//! its id and aborts; the group must be gone afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "peers/lifeline.rs"]
mod lifeline;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "CERTHERD_LIFELINE_CHILD";

/// Whether any process is still in group `pgid` (its leader, or a grandchild).
fn group_alive(pgid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|d| {
        let stat = std::fs::read_to_string(d.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid pgrp ...: fields after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
    })
}

#[test]
fn a_group_dies_with_the_test_process_that_started_it() {
    if std::env::var_os(CHILD).is_some() {
        // The child: a group of two sleepers, guarded, then an abort (no unwinding, no drop).
        let leader = Command::new("sh")
            .args(["-c", "sleep 60 & sleep 60"])
            .process_group(0)
            .spawn()
            .unwrap();
        let _guard = lifeline::Lifeline::new(leader.id()).unwrap();
        println!("{}", leader.id());
        std::thread::sleep(Duration::from_millis(300));
        std::process::abort();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_group_dies_with_the_test_process_that_started_it",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pgid = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Ok(n) = line.unwrap().trim().parse::<u32>() {
            pgid = Some(n);
            break;
        }
    }
    let pgid = pgid.expect("the child printed its group");
    assert!(group_alive(pgid), "the group runs while its test runs");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child aborted");
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) {
        if Instant::now() > deadline {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -s KILL -- -{pgid}"))
                .status();
            panic!("group {pgid} outlived the test process that started it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
