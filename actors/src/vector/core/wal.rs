//! The write-ahead log: every accepted write is appended (and synced) before it is applied,
//! so an acknowledged write survives a crash. Records carry a length and a checksum.
//! Reopening tells the two ways a record can be bad apart: a torn tail (a crash mid-append:
//! nothing valid follows) is cut off; a bad record with valid ones after it is corruption,
//! and the log is refused — never truncated — with a quarantine copy of its bytes. A failed
//! append is rolled back to the last good record, or the log refuses every later write.
//! The file is opened per write (see [`super::wal_file`]), never held open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::wal_file::{DiskFs, LogFs, out_of_descriptors};
use super::{NewPoint, PointId, VectorError};

/// One logged write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WalOp {
    /// Points, already checked and prepared.
    Upsert(Vec<NewPoint>),
    /// Ids to delete.
    Delete(Vec<PointId>),
    /// New payloads of existing points (op 3; logs written before it stay readable).
    Payload(Vec<(PointId, serde_json::Value)>),
}

const HEADER: usize = 4 + 8;

/// An open log file.
pub(crate) struct Wal {
    path: PathBuf,
    fs: Arc<dyn LogFs>,
    bytes: u64,
    sync: bool,
    /// Why the log refuses writes: a failed append that could not be rolled back.
    failed: Option<String>,
}

/// The record starting at `at`, if one is whole, checks out and decodes: its end and body.
pub(crate) fn record_at(raw: &[u8], at: usize) -> Option<(usize, (u64, WalOp))> {
    let header = raw.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let end = (at + HEADER).checked_add(len).filter(|&e| e <= raw.len())?;
    let body = &raw[at + HEADER..end];
    if checksum(body) != header[4..] {
        return None;
    }
    decode(body).ok().map(|r| (end, r))
}

/// Where a valid record with a later sequence number than `after` starts in
/// `raw[from..]`, if anywhere. Sequence numbers grow by one a record, so only offsets
/// whose number lies within what the remaining bytes could hold are checksummed.
pub(crate) fn valid_record_after(raw: &[u8], from: usize, after: u64) -> Option<usize> {
    let smallest = (HEADER + 9) as u64;
    (from..raw.len()).find(|&p| {
        let Some(seq) = raw.get(p + HEADER..p + HEADER + 8) else {
            return false;
        };
        let seq = u64::from_le_bytes([
            seq[0], seq[1], seq[2], seq[3], seq[4], seq[5], seq[6], seq[7],
        ]);
        let reach = (raw.len() - p) as u64 / smallest + 1;
        seq > after && seq - after <= reach && record_at(raw, p).is_some()
    })
}

/// Copies the log's bytes beside it (`wal.log.corrupt-<unix seconds>`) and returns the
/// copy's path; the log itself is left as it is.
pub(crate) fn quarantine(path: &Path, raw: &[u8]) -> Result<std::path::PathBuf, VectorError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{stamp}"));
    let copy = std::path::PathBuf::from(name);
    std::fs::write(&copy, raw)?;
    tracing::error!(path = %path.display(), copy = %copy.display(), "write-ahead log is corrupt mid-log; refusing to open it");
    Ok(copy)
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(body);
    let mut c = [0u8; 8];
    c.copy_from_slice(&digest[..8]);
    c
}

/// An error from writing the log: no descriptors left is "unavailable, retry", anything
/// else a storage failure.
fn write_error(path: &Path, e: &std::io::Error) -> VectorError {
    if out_of_descriptors(e) {
        VectorError::Exhausted(format!(
            "cannot open {}: the process is out of file descriptors ({e}); the write was not applied, retry later",
            path.display()
        ))
    } else {
        VectorError::Storage(format!("write-ahead log {}: {e}", path.display()))
    }
}

impl Wal {
    /// Opens (or creates) the log and returns the intact records in order. `after` is the
    /// sequence number the snapshot already holds (records carry larger ones).
    pub(crate) fn open(
        path: &Path,
        sync: bool,
        after: u64,
    ) -> Result<(Self, Vec<(u64, WalOp)>), VectorError> {
        Self::open_on(Arc::new(DiskFs), path, sync, after)
    }

    /// [`Wal::open`] writing through `fs` (tests inject faults here).
    pub(crate) fn open_on(
        fs: Arc<dyn LogFs>,
        path: &Path,
        sync: bool,
        after: u64,
    ) -> Result<(Self, Vec<(u64, WalOp)>), VectorError> {
        let raw = match std::fs::read(path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(write_error(path, &e)),
        };
        let mut records = Vec::new();
        let mut good = 0usize;
        let mut last_seq = after;
        while let Some((end, record)) = record_at(&raw, good) {
            last_seq = last_seq.max(record.0);
            records.push(record);
            good = end;
        }
        if good < raw.len() {
            if let Some(next) = valid_record_after(&raw, good + 1, last_seq) {
                let kept = quarantine(path, &raw)?;
                return Err(VectorError::Corrupt(format!(
                    "write-ahead log {} is corrupt at byte {good} (a valid record follows at byte {next}); nothing was truncated, a copy is kept at {}; `swarm repair` can rewrite it",
                    path.display(),
                    kept.display()
                )));
            }
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = raw.len() - good,
                "write-ahead log ends in a torn record (crash mid-write); cutting it off"
            );
        }
        let mut file = fs.open(path).map_err(|e| write_error(path, &e))?;
        if good < raw.len() {
            file.set_len(good as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| write_error(path, &e))?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                fs,
                bytes: good as u64,
                sync,
                failed: None,
            },
            records,
        ))
    }

    /// Appends one record and (unless disabled) waits for it to reach the disk.
    pub(crate) fn append(&mut self, seq: u64, op: &WalOp) -> Result<(), VectorError> {
        if let Some(why) = &self.failed {
            return Err(VectorError::Corrupt(why.clone()));
        }
        let body = encode(seq, op);
        let len = u32::try_from(body.len())
            .map_err(|_| VectorError::Invalid("one write may hold at most 4 GiB".into()))?;
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&checksum(&body));
        record.extend_from_slice(&body);
        // Nothing was written if the file cannot even be opened.
        let mut file = self
            .fs
            .open(&self.path)
            .map_err(|e| write_error(&self.path, &e))?;
        let written = file
            .append(&record)
            .and_then(|()| if self.sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // A partial record must not sit before later acknowledged ones: cut back to
            // the last good record, or refuse every later write.
            let rolled_back = file.set_len(self.bytes).and_then(|()| file.sync_all());
            if let Err(r) = rolled_back {
                self.failed = Some(format!(
                    "the write-ahead log {} failed ({e}) and could not be rolled back ({r}); the collection refuses writes until it is reopened",
                    self.path.display()
                ));
            }
            return Err(write_error(&self.path, &e));
        }
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// Empties the log once a snapshot holds everything in it.
    pub(crate) fn reset(&mut self) -> Result<(), VectorError> {
        let mut file = self
            .fs
            .open(&self.path)
            .map_err(|e| write_error(&self.path, &e))?;
        file.set_len(0)
            .and_then(|()| file.sync_all())
            .map_err(|e| write_error(&self.path, &e))?;
        self.bytes = 0;
        Ok(())
    }

    /// Bytes in the log.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

pub(crate) fn encode(seq: u64, op: &WalOp) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(seq);
    match op {
        WalOp::Upsert(points) => {
            w.u8(1);
            w.u64(points.len() as u64);
            points.iter().for_each(|p| w.point(p));
        }
        WalOp::Delete(ids) => {
            w.u8(2);
            w.u64(ids.len() as u64);
            ids.iter().for_each(|id| w.id(id));
        }
        WalOp::Payload(updates) => {
            w.u8(3);
            w.u64(updates.len() as u64);
            for (id, payload) in updates {
                w.id(id);
                w.json(payload);
            }
        }
    }
    w.0
}

fn decode(body: &[u8]) -> Result<(u64, WalOp), String> {
    let mut r = Reader::new(body);
    let seq = r.u64()?;
    let op = match r.u8()? {
        1 => {
            let n = r.u64()?;
            WalOp::Upsert((0..n).map(|_| r.point()).collect::<Result<_, _>>()?)
        }
        2 => {
            let n = r.u64()?;
            WalOp::Delete((0..n).map(|_| r.id()).collect::<Result<_, _>>()?)
        }
        3 => {
            let n = r.u64()?;
            WalOp::Payload(
                (0..n)
                    .map(|_| Ok((r.id()?, r.json()?)))
                    .collect::<Result<_, String>>()?,
            )
        }
        t => return Err(format!("unknown op {t}")),
    };
    if !r.done() {
        return Err("trailing bytes".into());
    }
    Ok((seq, op))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn point(n: u64) -> NewPoint {
        NewPoint {
            id: PointId::Num(n),
            vector: vec![n as f32, 0.5],
            payload: serde_json::json!({ "n": n }),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let ops = [
            WalOp::Upsert(vec![point(1), point(2)]),
            WalOp::Delete(vec![PointId::Num(1)]),
            WalOp::Payload(vec![(
                PointId::Num(2),
                serde_json::json!({ "set": [1, "x"] }),
            )]),
        ];
        {
            let (mut wal, old) = Wal::open(&path, true, 0).unwrap();
            assert!(old.is_empty());
            for (i, op) in ops.iter().enumerate() {
                wal.append(i as u64 + 1, op).unwrap();
            }
        }
        let full = std::fs::read(&path).unwrap();
        // A crash mid-append: half of a fourth record reached the disk.
        let mut torn = full.clone();
        let mut extra = Vec::new();
        extra.extend_from_slice(&100u32.to_le_bytes());
        extra.extend_from_slice(&[7u8; 30]);
        torn.extend_from_slice(&extra);
        std::fs::write(&path, &torn).unwrap();
        let (_, records) = Wal::open(&path, true, 0).unwrap();
        assert_eq!(
            records,
            vec![
                (1, ops[0].clone()),
                (2, ops[1].clone()),
                (3, ops[2].clone())
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap(), full, "torn tail removed");
    }

    #[test]
    fn a_bad_record_with_valid_ones_after_it_is_corruption_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        {
            let (mut wal, _) = Wal::open(&path, true, 40).unwrap();
            for seq in 41..=43 {
                wal.append(seq, &WalOp::Upsert(vec![point(seq)])).unwrap();
            }
        }
        let full = std::fs::read(&path).unwrap();
        for flip in [HEADER + 20, 2, 5] {
            // One bit in the first record's body, length or checksum.
            let mut bad = full.clone();
            bad[flip] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let err = Wal::open(&path, true, 40).err().unwrap().to_string();
            assert!(err.contains("is corrupt at byte 0"), "{flip}: {err}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bad,
                "{flip}: the log is untouched"
            );
            let copies: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().contains(".corrupt-"))
                .collect();
            assert!(!copies.is_empty());
            assert!(copies.iter().any(|c| std::fs::read(c).unwrap() == bad));
        }
        // The last record alone damaged is a torn tail: cut, the first two kept.
        let mut tail = full.clone();
        let last = tail.len() - 3;
        tail[last] ^= 0x10;
        std::fs::write(&path, &tail).unwrap();
        let (_, records) = Wal::open(&path, true, 40).unwrap();
        assert_eq!(
            records.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![41, 42]
        );
    }
}
