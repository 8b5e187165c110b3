//! SQLite's write-ahead log stays bounded while readers never all stop at once (a busy
//! server's request threads): without a checkpoint that waits for them, it grows by every
//! write.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use certherd_store::{AuditRecord, Change, MasterKey, SqliteStore, Store};

/// Writes of 64 KiB audit records, 4 to a commit, until `total` bytes were written, while
/// `readers` threads run read transactions that overlap one another; the largest size the
/// WAL file reached.
fn largest_wal(total: usize, readers: usize) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certherd.db");
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let mut store = SqliteStore::open(&path, key).unwrap();
    let wal = dir.path().join("certherd.db-wal");
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..readers)
        .map(|_| {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let c = rusqlite::Connection::open(&path).unwrap();
                c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                while !stop.load(Ordering::SeqCst) {
                    // A read transaction long enough that the next one starts before it
                    // ends (with the other readers').
                    c.execute_batch("BEGIN").unwrap();
                    for _ in 0..20 {
                        let _: i64 = c
                            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
                            .unwrap();
                    }
                    c.execute_batch("COMMIT").unwrap();
                }
            })
        })
        .collect();
    let detail = "x".repeat(64 * 1024);
    let at = certherd_core::OffsetDateTime::UNIX_EPOCH;
    let mut largest = 0;
    let mut written = 0;
    while written < total {
        let changes: Vec<Change> = (0..4)
            .map(|_| {
                Change::Audit(AuditRecord {
                    at,
                    action: "bench".into(),
                    subject: "wal".into(),
                    detail: detail.clone(),
                })
            })
            .collect();
        store.apply(&changes).unwrap();
        written += 4 * detail.len();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    largest
}

#[test]
fn the_write_ahead_log_stays_bounded_under_constant_readers() {
    let total = 160 * 1024 * 1024;
    let largest = largest_wal(total, 3);
    eprintln!(
        "{} MiB written under 3 overlapping readers: the WAL reached {:.1} MiB",
        total >> 20,
        largest as f64 / 1048576.0
    );
    assert!(
        largest < 48 * 1024 * 1024,
        "the WAL reached {largest} bytes"
    );
}
