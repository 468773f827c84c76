//! `swarm repair`: what an operator can do with a write-ahead log that the collection
//! refused to open because it is corrupt mid-log. Either mode first keeps a copy of the
//! log's bytes beside it, then rewrites the log (temporary file, sync, rename):
//! [`RepairMode::Truncate`] keeps the records before the first bad one (the state as of
//! that write); [`RepairMode::Salvage`] also keeps every sound record after it, losing only
//! the damaged ones. Without `apply` nothing is written and the report says what would be.

use std::fs;
use std::path::{Path, PathBuf};

use super::VectorError;
use super::wal::{quarantine, record_at, valid_record_after};

/// How to rewrite a corrupt log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairMode {
    /// Keep the records before the first bad one; drop everything from there on.
    Truncate,
    /// Keep every sound record; drop only the damaged bytes between them.
    Salvage,
}

/// What a repair found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The log examined.
    pub log: PathBuf,
    /// Records kept.
    pub kept: usize,
    /// First and last sequence number kept.
    pub kept_seq: Option<(u64, u64)>,
    /// Byte ranges dropped (start, end).
    pub dropped: Vec<(usize, usize)>,
    /// The copy of the original bytes, when the log was rewritten.
    pub copy: Option<PathBuf>,
    /// Whether the log was rewritten (`apply` and something to drop).
    pub rewritten: bool,
}

impl std::fmt::Display for RepairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dropped.is_empty() {
            return write!(
                f,
                "{}: sound, {} records; nothing to repair",
                self.log.display(),
                self.kept
            );
        }
        let bytes: usize = self.dropped.iter().map(|(a, b)| b - a).sum();
        let ranges: Vec<String> = self
            .dropped
            .iter()
            .map(|(a, b)| format!("{a}..{b}"))
            .collect();
        write!(
            f,
            "{}: {} {} records{}, {} dropping {bytes} bytes at {}",
            self.log.display(),
            if self.rewritten { "kept" } else { "would keep" },
            self.kept,
            self.kept_seq
                .map(|(a, b)| format!(" (seq {a}..={b})"))
                .unwrap_or_default(),
            if self.rewritten { "after" } else { "by" },
            ranges.join(", ")
        )?;
        match &self.copy {
            Some(c) => write!(f, "; the original bytes are kept at {}", c.display()),
            None => write!(f, "; run again with --apply to rewrite it"),
        }
    }
}

/// The newest snapshot's sequence number in a collection directory (0 if none).
fn snapshot_seq(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("snapshot-")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

/// Examines (and with `apply`, rewrites) the log of the collection in `dir`.
pub fn repair_collection(
    dir: &Path,
    mode: RepairMode,
    apply: bool,
) -> Result<RepairReport, VectorError> {
    let log = dir.join("wal.log");
    let raw =
        fs::read(&log).map_err(|e| VectorError::Storage(format!("read {}: {e}", log.display())))?;
    let mut last = snapshot_seq(dir);
    let (mut pos, mut kept, mut kept_seq, mut dropped) = (0usize, Vec::new(), None, Vec::new());
    let mut records = 0;
    loop {
        while let Some((end, (seq, _))) = record_at(&raw, pos) {
            kept.extend_from_slice(&raw[pos..end]);
            records += 1;
            kept_seq = Some(kept_seq.map_or((seq, seq), |(a, _)| (a, seq)));
            last = last.max(seq);
            pos = end;
        }
        if pos >= raw.len() {
            break;
        }
        let next = match mode {
            RepairMode::Truncate => None,
            RepairMode::Salvage => valid_record_after(&raw, pos + 1, last),
        };
        dropped.push((pos, next.unwrap_or(raw.len())));
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    let mut report = RepairReport {
        log: log.clone(),
        kept: records,
        kept_seq,
        dropped,
        copy: None,
        rewritten: false,
    };
    if apply && !report.dropped.is_empty() {
        report.copy = Some(quarantine(&log, &raw)?);
        let tmp = log.with_extension("repairing");
        let io = |what: &str, p: &Path, e: std::io::Error| {
            VectorError::Storage(format!("{what} {}: {e}", p.display()))
        };
        fs::write(&tmp, &kept).map_err(|e| io("write", &tmp, e))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("sync", &tmp, e))?;
        fs::rename(&tmp, &log).map_err(|e| io("rename", &log, e))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync", dir, e))?;
        report.rewritten = true;
    }
    Ok(report)
}
