//! The write-ahead log: every accepted write is appended (and synced) before it is applied,
//! so an acknowledged write survives a crash. Records carry a length and a checksum; a torn
//! tail from a crash mid-append is cut off when the log is reopened.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::{NewPoint, PointId, VectorError};

/// One logged write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WalOp {
    /// Points, already checked and prepared.
    Upsert(Vec<NewPoint>),
    /// Ids to delete.
    Delete(Vec<PointId>),
}

const HEADER: usize = 4 + 8;

/// An open log file.
pub(crate) struct Wal {
    file: File,
    bytes: u64,
    sync: bool,
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(body);
    let mut c = [0u8; 8];
    c.copy_from_slice(&digest[..8]);
    c
}

impl Wal {
    /// Opens (or creates) the log and returns the intact records in order.
    pub(crate) fn open(path: &Path, sync: bool) -> Result<(Self, Vec<(u64, WalOp)>), VectorError> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)?;
        let mut records = Vec::new();
        let mut good = 0usize;
        while raw.len() - good >= HEADER {
            let len = u32::from_le_bytes([raw[good], raw[good + 1], raw[good + 2], raw[good + 3]])
                as usize;
            let Some(end) = (good + HEADER).checked_add(len).filter(|&e| e <= raw.len()) else {
                break;
            };
            let body = &raw[good + HEADER..end];
            if checksum(body) != raw[good + 4..good + HEADER] {
                break;
            }
            match decode(body) {
                Ok(r) => records.push(r),
                Err(_) => break,
            }
            good = end;
        }
        if good < raw.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = raw.len() - good,
                "write-ahead log ends in a torn record (crash mid-write); cutting it off"
            );
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        Ok((
            Self {
                file,
                bytes: good as u64,
                sync,
            },
            records,
        ))
    }

    /// Appends one record and (unless disabled) waits for it to reach the disk.
    pub(crate) fn append(&mut self, seq: u64, op: &WalOp) -> Result<(), VectorError> {
        let body = encode(seq, op);
        let len = u32::try_from(body.len())
            .map_err(|_| VectorError::Invalid("one write may hold at most 4 GiB".into()))?;
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&checksum(&body));
        record.extend_from_slice(&body);
        self.file.write_all(&record)?;
        if self.sync {
            self.file.sync_data()?;
        }
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// Empties the log once a snapshot holds everything in it.
    pub(crate) fn reset(&mut self) -> Result<(), VectorError> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.bytes = 0;
        Ok(())
    }

    /// Bytes in the log.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn encode(seq: u64, op: &WalOp) -> Vec<u8> {
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
        ];
        {
            let (mut wal, old) = Wal::open(&path, true).unwrap();
            assert!(old.is_empty());
            for (i, op) in ops.iter().enumerate() {
                wal.append(i as u64 + 1, op).unwrap();
            }
        }
        let full = std::fs::read(&path).unwrap();
        // A crash mid-append: half of a third record reached the disk.
        let mut torn = full.clone();
        let mut extra = Vec::new();
        extra.extend_from_slice(&100u32.to_le_bytes());
        extra.extend_from_slice(&[7u8; 30]);
        torn.extend_from_slice(&extra);
        std::fs::write(&path, &torn).unwrap();
        let (_, records) = Wal::open(&path, true).unwrap();
        assert_eq!(records, vec![(1, ops[0].clone()), (2, ops[1].clone())]);
        assert_eq!(std::fs::read(&path).unwrap(), full, "torn tail removed");
    }
}
