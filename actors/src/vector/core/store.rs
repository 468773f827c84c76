//! Collections on disk. A collection directory holds `config.json`, a write-ahead log
//! (`wal.log`) and one snapshot directory (`snapshot-<seq>/`: the hnsw_rs dump plus
//! `points.bin` with ids, payloads, vectors and tombstones). A snapshot is written into
//! `snapshot.tmp/`, synced, and renamed into place, so a crash at any moment leaves the
//! previous snapshot and the log, which together rebuild every acknowledged write.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::collection::Slot;
use super::distance::GraphDistance;
use super::hnsw_dump::{read_dump, write_dump};
use super::hnsw_graph::HnswGraph;
use super::payload::PayloadChange;
use super::wal::{Wal, WalOp};
use super::{Collection, CollectionConfig, NewPoint, PointId, VectorError};

const MAGIC: &[u8; 8] = b"SWVSNAP1";
const GRAPH: &str = "graph";

/// How a stored collection writes.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Sync the log to disk before acknowledging each write.
    pub sync: bool,
    /// Take a snapshot (and empty the log) once the log is this large.
    pub snapshot_after_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sync: true,
            snapshot_after_bytes: 256 << 20,
        }
    }
}

/// A collection's files.
pub struct CollectionStore {
    dir: PathBuf,
    wal: Wal,
    seq: u64,
    options: StoreOptions,
}

/// A collection with its storage (none for an in-memory collection).
pub struct StoredCollection {
    collection: Collection,
    store: Option<CollectionStore>,
}

fn storage(what: &str, path: &Path, e: impl std::fmt::Display + 'static) -> VectorError {
    let io = (&e as &dyn std::any::Any).downcast_ref::<std::io::Error>();
    if io.is_some_and(super::wal_file::out_of_descriptors) {
        return VectorError::Exhausted(format!(
            "{what} {}: out of file descriptors ({e}); retry later",
            path.display()
        ));
    }
    VectorError::Storage(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` via a synced temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VectorError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| storage("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| storage("write", &tmp, e))?;
    f.sync_all().map_err(|e| storage("sync", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| storage("rename", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<(), VectorError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| storage("sync", dir, e))
}

fn snapshot_dirs(dir: &Path) -> Result<Vec<(u64, PathBuf)>, VectorError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| storage("list", dir, e))? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix("snapshot-"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            found.push((seq, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

impl StoredCollection {
    /// A collection that lives in memory only.
    pub fn in_memory(config: CollectionConfig) -> Result<Self, VectorError> {
        Ok(Self {
            collection: Collection::new(config)?,
            store: None,
        })
    }

    /// Creates a new collection in `dir`, which must not exist yet.
    pub fn create(
        dir: &Path,
        config: CollectionConfig,
        options: StoreOptions,
    ) -> Result<Self, VectorError> {
        let collection = Collection::new(config)?;
        let tmp = dir.with_extension("creating");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| storage("create", &tmp, e))?;
        let text = serde_json::to_vec_pretty(&config).map_err(|e| storage("encode", dir, e))?;
        write_atomically(&tmp.join("config.json"), &text)?;
        fs::rename(&tmp, dir).map_err(|e| storage("rename", dir, e))?;
        sync_dir(dir.parent().unwrap_or(Path::new(".")))?;
        let (wal, _) = Wal::open(&dir.join("wal.log"), options.sync, 0)?;
        Ok(Self {
            collection,
            store: Some(CollectionStore {
                dir: dir.to_path_buf(),
                wal,
                seq: 0,
                options,
            }),
        })
    }

    /// Opens a collection directory: the newest snapshot, then the log after it.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, VectorError> {
        let config_path = dir.join("config.json");
        let text = fs::read(&config_path).map_err(|e| storage("read", &config_path, e))?;
        let config: CollectionConfig =
            serde_json::from_slice(&text).map_err(|e| storage("parse", &config_path, e))?;
        let _ = fs::remove_dir_all(dir.join("snapshot.tmp"));
        let mut snapshots = snapshot_dirs(dir)?;
        let (mut collection, mut seq) = match snapshots.pop() {
            Some((_, path)) => read_snapshot(&path, config)?,
            None => (Collection::new(config)?, 0),
        };
        for (_, stale) in snapshots {
            let _ = fs::remove_dir_all(stale);
        }
        let (wal, records) = Wal::open(&dir.join("wal.log"), options.sync, seq)?;
        let base = seq;
        for (s, op) in records.into_iter().filter(|(s, _)| *s > base) {
            match op {
                WalOp::Upsert(points) => {
                    collection.insert_prepared(points);
                }
                WalOp::Delete(ids) => {
                    collection.delete(&ids);
                }
                WalOp::Payload(updates) => {
                    collection.apply_payloads(updates);
                }
            }
            seq = s;
        }
        Ok(Self {
            collection,
            store: Some(CollectionStore {
                dir: dir.to_path_buf(),
                wal,
                seq,
                options,
            }),
        })
    }

    /// The collection, for reading.
    pub fn collection(&self) -> &Collection {
        &self.collection
    }

    /// Checks, logs, then applies points; returns how many were written.
    pub fn upsert(&mut self, points: Vec<NewPoint>) -> Result<usize, VectorError> {
        let ready = self.collection.prepare_points(points)?;
        let op = WalOp::Upsert(ready);
        self.log(&op)?;
        let WalOp::Upsert(ready) = op else {
            return Ok(0);
        };
        let n = self.collection.insert_prepared(ready);
        self.maintain()?;
        Ok(n)
    }

    /// Logs, then applies a deletion; returns how many points existed.
    pub fn delete(&mut self, ids: Vec<PointId>) -> Result<usize, VectorError> {
        let op = WalOp::Delete(ids);
        self.log(&op)?;
        let WalOp::Delete(ids) = op else {
            return Ok(0);
        };
        let n = self.collection.delete(&ids);
        self.maintain()?;
        Ok(n)
    }

    /// Computes, logs, then applies a payload change to `ids`, which must all exist;
    /// returns how many points changed.
    pub fn change_payload(
        &mut self,
        ids: &[PointId],
        change: &PayloadChange,
    ) -> Result<usize, VectorError> {
        let updates = self.collection.payload_updates(ids, change)?;
        if updates.is_empty() {
            return Ok(0);
        }
        let op = WalOp::Payload(updates);
        self.log(&op)?;
        let WalOp::Payload(updates) = op else {
            return Ok(0);
        };
        let n = self.collection.apply_payloads(updates);
        self.maintain()?;
        Ok(n)
    }

    fn log(&mut self, op: &WalOp) -> Result<(), VectorError> {
        if let Some(store) = &mut self.store {
            store.wal.append(store.seq + 1, op)?;
            store.seq += 1;
        }
        Ok(())
    }

    /// Rebuilds the graph when deletions have piled up; snapshots when the log is large.
    fn maintain(&mut self) -> Result<(), VectorError> {
        let compacted = self.collection.needs_compaction();
        if compacted {
            self.collection.compact();
        }
        let log_full = self
            .store
            .as_ref()
            .is_some_and(|s| s.wal.bytes() >= s.options.snapshot_after_bytes);
        if compacted || log_full {
            self.snapshot()?;
        }
        Ok(())
    }

    /// Writes a snapshot of the current state and empties the log.
    pub fn snapshot(&mut self) -> Result<(), VectorError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let tmp = store.dir.join("snapshot.tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| storage("create", &tmp, e))?;
        let has_graph = self.collection.info().indexed_vectors_count > 0;
        write_points(
            &tmp.join("points.bin"),
            &self.collection,
            store.seq,
            has_graph,
        )?;
        if has_graph {
            dump_graph(&self.collection, &tmp)?;
        }
        sync_dir(&tmp)?;
        let done = store.dir.join(format!("snapshot-{:020}", store.seq));
        let _ = fs::remove_dir_all(&done);
        fs::rename(&tmp, &done).map_err(|e| storage("rename", &done, e))?;
        sync_dir(&store.dir)?;
        for (seq, old) in snapshot_dirs(&store.dir)? {
            if seq != store.seq {
                let _ = fs::remove_dir_all(old);
            }
        }
        store.wal.reset()
    }
}

fn write_points(path: &Path, c: &Collection, seq: u64, has_graph: bool) -> Result<(), VectorError> {
    let (slots, vectors) = c.parts();
    let mut w = Writer::default();
    w.0.extend_from_slice(MAGIC);
    w.u64(seq);
    w.u64(c.config().dimension as u64);
    w.u64(slots.len() as u64);
    for slot in slots {
        match slot {
            Some(s) => {
                w.u8(1);
                w.id(&s.id);
                w.json(&s.payload);
            }
            None => w.u8(0),
        }
    }
    w.floats(vectors);
    w.u8(u8::from(has_graph));
    let digest = Sha256::digest(&w.0);
    w.0.extend_from_slice(&digest[..8]);
    write_atomically(path, &w.0)
}

fn read_snapshot(dir: &Path, config: CollectionConfig) -> Result<(Collection, u64), VectorError> {
    let path = dir.join("points.bin");
    let raw = fs::read(&path).map_err(|e| storage("read", &path, e))?;
    let corrupt = |m: String| storage("corrupt snapshot", &path, m);
    if raw.len() < MAGIC.len() + 8 || &raw[..MAGIC.len()] != MAGIC {
        return Err(corrupt("bad header".into()));
    }
    let (body, sum) = raw.split_at(raw.len() - 8);
    if Sha256::digest(body)[..8] != *sum {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut r = Reader::new(&body[MAGIC.len()..]);
    let parsed = (|| -> Result<_, String> {
        let seq = r.u64()?;
        let dim = r.u64()?;
        if dim != config.dimension as u64 {
            return Err(format!(
                "dimension {dim} but config says {}",
                config.dimension
            ));
        }
        let n = r.u64()?;
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(match r.u8()? {
                1 => Some(Slot {
                    id: r.id()?,
                    payload: r.json()?,
                }),
                _ => None,
            });
        }
        let vectors = r.floats()?;
        let has_graph = r.u8()? == 1;
        Ok((seq, slots, vectors, has_graph))
    })();
    let (seq, slots, vectors, has_graph) = parsed.map_err(corrupt)?;
    let graph = if has_graph {
        match load_graph(dir, &config, slots.len()) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "graph dump unreadable; rebuilding from stored vectors");
                None
            }
        }
    } else {
        None
    };
    Ok((Collection::restore(config, slots, vectors, graph)?, seq))
}

fn dump_graph(c: &Collection, dir: &Path) -> Result<(), VectorError> {
    write_dump(c.graph(), &c.space(), dir, GRAPH).map_err(|e| storage("dump graph into", dir, e))
}

fn load_graph(dir: &Path, config: &CollectionConfig, slots: usize) -> Result<HnswGraph, String> {
    read_dump(
        dir,
        GRAPH,
        GraphDistance::new(config.distance),
        slots,
        config.hnsw.ef_construction,
        config.hnsw.m,
    )
}
