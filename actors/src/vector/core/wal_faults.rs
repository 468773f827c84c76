//! The write-ahead log under injected faults: failing writes (after any number of bytes),
//! failing syncs, failing roll-backs and no descriptors left, plus truncation at every byte
//! and a bit flip at every byte. Asserted: every acknowledged write is replayed, a failed
//! one never is, and mid-log damage refuses the log without changing a byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::wal::{Wal, WalOp};
use super::wal_file::{DiskFs, LogFile, LogFs};
use super::wal_repair::{RepairMode, repair_collection};
use super::{NewPoint, PointId, VectorError};

/// Which fault the next operations hit (test-only fault injection).
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    /// The next append writes this many bytes, then fails.
    write_then_fail: Option<usize>,
    /// Syncs fail.
    sync: bool,
    /// Truncation (the roll-back) fails.
    truncate: bool,
    /// Opening fails with this errno.
    open: Option<i32>,
}

/// A file system that injects `Faults` into real files (fault injection, tests only).
#[derive(Clone, Default)]
struct FaultyFs(Arc<Mutex<Faults>>);

struct FaultyFile(File, Arc<Mutex<Faults>>);

impl LogFs for FaultyFs {
    fn open(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        if let Some(errno) = self.0.lock().unwrap().open {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Box::new(FaultyFile(file, self.0.clone())))
    }
}

fn injected() -> io::Error {
    io::Error::other("injected fault")
}

impl LogFile for FaultyFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let cut = self.1.lock().unwrap().write_then_fail.take();
        match cut {
            Some(n) => {
                io::Write::write_all(&mut self.0, &buf[..n.min(buf.len())])?;
                Err(injected())
            }
            None => io::Write::write_all(&mut self.0, buf),
        }
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if self.1.lock().unwrap().sync {
            return Err(injected());
        }
        self.0.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.1.lock().unwrap().truncate {
            return Err(injected());
        }
        self.0.set_len(len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

fn op(n: u64) -> WalOp {
    WalOp::Upsert(vec![NewPoint {
        id: PointId::Num(n),
        vector: vec![n as f32, 0.25],
        payload: serde_json::json!({ "n": n }),
    }])
}

fn replayed(path: &Path) -> Vec<u64> {
    let (_, records) = Wal::open(path, true, 0).unwrap();
    records.into_iter().map(|(s, _)| s).collect()
}

#[test]
fn a_failed_append_is_never_replayed_and_acknowledged_ones_always_are() {
    let record_len = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        Wal::open(&path, true, 0)
            .unwrap()
            .0
            .append(1, &op(1))
            .unwrap();
        std::fs::metadata(&path).unwrap().len() as usize
    };
    let mut faults: Vec<Faults> = [0, 1, 11, 12, 13, record_len / 2, record_len - 1]
        .into_iter()
        .map(|n| Faults {
            write_then_fail: Some(n),
            ..Faults::default()
        })
        .collect();
    faults.push(Faults {
        sync: true,
        ..Faults::default()
    });
    for fault in faults {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let fs = FaultyFs::default();
        let (mut wal, _) = Wal::open_on(Arc::new(fs.clone()), &path, true, 0).unwrap();
        wal.append(1, &op(1)).unwrap();
        *fs.0.lock().unwrap() = fault;
        assert!(wal.append(2, &op(2)).is_err(), "{fault:?}");
        *fs.0.lock().unwrap() = Faults::default();
        wal.append(3, &op(3)).unwrap();
        assert_eq!(
            replayed(&path),
            vec![1, 3],
            "{fault:?}: rolled back, nothing behind it lost"
        );
    }
}

#[test]
fn a_failed_append_that_cannot_be_rolled_back_closes_the_log_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let fs = FaultyFs::default();
    let (mut wal, _) = Wal::open_on(Arc::new(fs.clone()), &path, true, 0).unwrap();
    wal.append(1, &op(1)).unwrap();
    *fs.0.lock().unwrap() = Faults {
        write_then_fail: Some(20),
        truncate: true,
        ..Faults::default()
    };
    assert!(wal.append(2, &op(2)).is_err());
    *fs.0.lock().unwrap() = Faults::default();
    let refused = wal.append(3, &op(3)).unwrap_err();
    assert!(
        matches!(refused, VectorError::Corrupt(ref m) if m.contains("could not be rolled back")),
        "{refused}"
    );
    // The partial record is a torn tail: cut at reopen, the acknowledged write stays.
    assert_eq!(replayed(&path), vec![1]);
}

#[test]
fn no_descriptors_left_is_unavailable_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let fs = FaultyFs::default();
    let (mut wal, _) = Wal::open_on(Arc::new(fs.clone()), &path, true, 0).unwrap();
    wal.append(1, &op(1)).unwrap();
    fs.0.lock().unwrap().open = Some(24); // EMFILE
    let err = wal.append(2, &op(2)).unwrap_err();
    assert!(
        matches!(err, VectorError::Exhausted(ref m) if m.contains("file descriptors")),
        "{err}"
    );
    fs.0.lock().unwrap().open = None;
    wal.append(3, &op(3)).unwrap();
    assert_eq!(replayed(&path), vec![1, 3]);
}

fn four_records(path: &Path) -> (Vec<u8>, Vec<usize>) {
    let (mut wal, _) = Wal::open_on(Arc::new(DiskFs), path, true, 0).unwrap();
    let mut ends = Vec::new();
    for seq in 1..=4 {
        wal.append(seq, &op(seq)).unwrap();
        ends.push(std::fs::metadata(path).unwrap().len() as usize);
    }
    (std::fs::read(path).unwrap(), ends)
}

#[test]
fn a_log_cut_at_any_byte_replays_exactly_the_whole_records_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let (full, ends) = four_records(&path);
    for cut in 0..=full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut).count() as u64;
        assert_eq!(
            replayed(&path),
            (1..=whole).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        let boundary = ends
            .iter()
            .copied()
            .filter(|&e| e <= cut)
            .max()
            .unwrap_or(0);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            boundary,
            "cut at {cut}"
        );
    }
}

#[test]
fn a_bit_flip_anywhere_is_refused_mid_log_or_cut_in_the_last_record_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let (full, ends) = four_records(&path);
    let last_start = ends[2];
    for at in 0..full.len() {
        let mut bad = full.clone();
        bad[at] ^= 0x04;
        std::fs::write(&path, &bad).unwrap();
        match Wal::open(&path, true, 0) {
            Ok((_, records)) => {
                assert!(at >= last_start, "byte {at}: mid-log damage was accepted");
                assert_eq!(
                    records.iter().map(|r| r.0).collect::<Vec<_>>(),
                    vec![1, 2, 3]
                );
            }
            Err(e) => {
                assert!(at < last_start, "byte {at}: {e}");
                assert!(matches!(e, VectorError::Corrupt(_)), "byte {at}: {e}");
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bad,
                    "byte {at}: the log was changed"
                );
            }
        }
    }
}

#[test]
fn repair_truncates_or_salvages_keeping_a_copy_and_the_log_then_opens() {
    for (mode, expected) in [
        (RepairMode::Truncate, vec![1]),
        (RepairMode::Salvage, vec![1, 3, 4]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let (full, ends) = four_records(&path);
        let mut bad = full.clone();
        bad[ends[0] + 20] ^= 0x01; // inside record 2
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            Wal::open(&path, true, 0),
            Err(VectorError::Corrupt(_))
        ));

        let dry = repair_collection(dir.path(), mode, false).unwrap();
        assert!(!dry.rewritten && dry.copy.is_none(), "{dry}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bad,
            "a dry run writes nothing"
        );
        assert_eq!(dry.kept, expected.len());

        let done = repair_collection(dir.path(), mode, true).unwrap();
        assert!(done.rewritten, "{done}");
        assert_eq!(
            std::fs::read(done.copy.as_ref().unwrap()).unwrap(),
            bad,
            "original kept"
        );
        assert_eq!(replayed(&path), expected, "{mode:?}");
        let again = repair_collection(dir.path(), mode, true).unwrap();
        assert!(again.dropped.is_empty() && !again.rewritten, "{again}");
    }
}
