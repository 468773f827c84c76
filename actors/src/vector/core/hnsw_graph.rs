//! The HNSW graph a collection builds and walks, in hnswlib's layout: layer-0 links are
//! slot numbers in one fixed-width array, upper-layer links sit in one small block per
//! node that has any, vectors stay in the collection's slab. Links are atomics and every
//! node has its own lock, so a batch is inserted by several threads at once (hnswlib's
//! scheme) without `unsafe`; a reader may see a list mid-rewrite, which costs at most a
//! detour, never a wrong slot.
//!
//! hnsw_rs's own insert reaches every neighbour through two `Arc`s and hashes each visit;
//! building 100k × 384 with it ran at 0.36× hnswlib's speed. hnsw_rs stays the file
//! format: snapshots are written as hnsw_rs dumps and loaded with `HnswIo` (`hnsw_dump`).

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::hnsw_walk::{Near, Space};

/// Highest level a node gets: hnsw_rs dumps hold 16 layers, numbered from 0.
pub(crate) const MAX_LEVEL: u8 = 15;

/// Fewer new points than this per pool thread are not worth sharing out.
const PER_THREAD_MIN: usize = 64;

/// Level draws are seeded, so a build on one thread is reproducible.
const LEVEL_SEED: u64 = 0x5eed_4e5f;

/// An HNSW graph over slots `0..len()`.
pub(crate) struct HnswGraph {
    /// Links kept per node on layers above 0 (twice as many on layer 0).
    m: usize,
    /// Candidates gathered while inserting.
    ef_construction: usize,
    /// Level draws: `floor(-ln(u) * level_scale)`, hnswlib's `1 / ln(m)`.
    level_scale: f64,
    rng: StdRng,
    /// Layer 0: per slot a count, then `2 m` link places.
    base: Vec<AtomicU32>,
    /// Layers 1..=level per slot: each a count then `m` places; empty for level-0 slots.
    upper: Vec<Box<[AtomicU32]>>,
    /// Each slot's top layer.
    levels: Vec<u8>,
    /// Held while a slot's lists are rewritten.
    locks: Vec<Mutex<()>>,
    /// Where every walk starts: a slot on the highest layer, and that layer.
    entry: Mutex<Option<(u32, u8)>>,
}

impl HnswGraph {
    /// An empty graph with `m` links per node, gathering `ef_construction` candidates per
    /// insert.
    pub(crate) fn new(m: usize, ef_construction: usize) -> Self {
        let m = m.max(2);
        Self {
            m,
            ef_construction: ef_construction.max(1),
            level_scale: 1.0 / (m as f64).ln(),
            rng: StdRng::seed_from_u64(LEVEL_SEED),
            base: Vec::new(),
            upper: Vec::new(),
            levels: Vec::new(),
            locks: Vec::new(),
            entry: Mutex::new(None),
        }
    }

    /// Slots in the graph.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// Links per node above layer 0.
    pub(crate) fn m(&self) -> usize {
        self.m
    }

    /// Candidates gathered per insert.
    pub(crate) fn ef_construction(&self) -> usize {
        self.ef_construction
    }

    /// Where walks start.
    pub(crate) fn entry(&self) -> Option<(u32, u8)> {
        *self.entry.lock()
    }

    /// A slot's top layer.
    pub(crate) fn level(&self, slot: usize) -> u8 {
        self.levels.get(slot).copied().unwrap_or(0)
    }

    /// Link places on `layer`.
    fn width(&self, layer: u8) -> usize {
        if layer == 0 { 2 * self.m } else { self.m }
    }

    /// A slot's list on `layer` (count first), or `None` above its level.
    fn list(&self, slot: u32, layer: u8) -> Option<&[AtomicU32]> {
        let s = slot as usize;
        if layer == 0 {
            let w = 1 + 2 * self.m;
            self.base.get(s * w..(s + 1) * w)
        } else {
            let w = 1 + self.m;
            let start = (usize::from(layer) - 1) * w;
            self.upper.get(s)?.get(start..start + w)
        }
    }

    /// The slots `slot` links to on `layer`.
    pub(crate) fn links(&self, slot: u32, layer: u8) -> &[AtomicU32] {
        match self.list(slot, layer) {
            Some([count, places @ ..]) => {
                let n = (count.load(Ordering::Acquire) as usize).min(places.len());
                &places[..n]
            }
            _ => &[],
        }
    }

    /// Copies of `slot`'s links on `layer`.
    pub(crate) fn link_ids(&self, slot: u32, layer: u8) -> Vec<u32> {
        self.links(slot, layer)
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect()
    }

    /// Overwrites `slot`'s list on `layer` (at most its width is kept). Callers hold the
    /// slot's lock or own the graph exclusively.
    fn write_list(&self, slot: u32, layer: u8, ids: &[u32]) {
        if let Some([count, places @ ..]) = self.list(slot, layer) {
            let n = ids.len().min(places.len());
            for (place, &id) in places.iter().zip(&ids[..n]) {
                place.store(id, Ordering::Relaxed);
            }
            count.store(n as u32, Ordering::Release);
        }
    }

    /// Makes room for slots up to `end`, drawing their levels, or taking `levels` as given
    /// (a loaded graph).
    pub(crate) fn grow(&mut self, end: usize, levels: Option<&[u8]>) {
        let start = self.levels.len();
        for slot in start..end {
            let level = match levels {
                Some(given) => given.get(slot - start).copied().unwrap_or(0),
                None => self.draw_level(),
            }
            .min(MAX_LEVEL);
            self.levels.push(level);
            self.upper.push(
                (0..usize::from(level) * (1 + self.m))
                    .map(|_| AtomicU32::new(0))
                    .collect(),
            );
            self.locks.push(Mutex::new(()));
        }
        self.base
            .resize_with(self.levels.len() * (1 + 2 * self.m), || AtomicU32::new(0));
    }

    fn draw_level(&mut self) -> u8 {
        let u: f64 = self.rng.random();
        let level = (-(1.0 - u).ln() * self.level_scale).floor();
        if level >= f64::from(MAX_LEVEL) {
            MAX_LEVEL
        } else {
            level as u8
        }
    }

    /// Sets every list of a loaded graph; `lists[l]` is layer `l`.
    pub(crate) fn set_lists(&mut self, slot: u32, lists: &[Vec<u32>]) {
        for (layer, ids) in lists.iter().enumerate() {
            if let Ok(layer) = u8::try_from(layer) {
                self.write_list(slot, layer, ids);
            }
        }
    }

    /// Sets where walks start.
    pub(crate) fn set_entry(&mut self, entry: Option<(u32, u8)>) {
        *self.entry.get_mut() = entry;
    }

    /// Inserts slots `new` (whose vectors `space` already holds), on several threads when
    /// the batch is large enough.
    pub(crate) fn insert(&mut self, space: &Space<'_>, new: Range<usize>) {
        let Ok(end) = u32::try_from(new.end) else {
            return;
        };
        self.grow(end as usize, None);
        let mut todo = new.start as u32..end;
        if self.entry.get_mut().is_none() {
            if let Some(first) = todo.next() {
                *self.entry.get_mut() = Some((first, self.level(first as usize)));
            }
        }
        let todo: Vec<u32> = todo.collect();
        let this = &*self;
        if todo.len() < 2 * PER_THREAD_MIN || rayon::current_num_threads() == 1 {
            todo.iter().for_each(|&s| this.insert_one(space, s));
            return;
        }
        // The process's one shared pool (rayon's, sized to the cores): concurrent batch
        // inserts share the cores rather than each starting threads of its own.
        todo.par_iter()
            .with_min_len(PER_THREAD_MIN)
            .for_each(|&s| this.insert_one(space, s));
    }

    /// hnswlib's insert: descend greedily to the slot's level, then on each layer below
    /// gather `ef_construction` candidates, link to the diverse nearest `m`, and link back.
    fn insert_one(&self, space: &Space<'_>, slot: u32) {
        let Some((entry, top)) = self.entry() else {
            return;
        };
        if entry == slot {
            return;
        }
        let Some(query) = space.vector(slot) else {
            return;
        };
        let level = self.level(slot as usize);
        let mut near = Near(space.distance(query, entry), entry);
        for layer in (level + 1..=top).rev() {
            near = self.descend(space, query, near, layer);
        }
        for layer in (0..=level.min(top)).rev() {
            let mut found = self.beam(space, query, near, self.ef_construction, layer, None);
            found.retain(|n| n.1 != slot);
            if let Some(&nearest) = found.first() {
                near = nearest;
            }
            let chosen: Vec<u32> = self
                .diverse(space, &found, self.m)
                .iter()
                .map(|n| n.1)
                .collect();
            self.add_links(space, slot, layer, &chosen);
            for &n in &chosen {
                self.add_links(space, n, layer, &[slot]);
            }
        }
        if level > top {
            let mut entry = self.entry.lock();
            if entry.is_none_or(|(_, t)| level > t) {
                *entry = Some((slot, level));
            }
        }
    }

    /// Adds links from `slot` on `layer`; when the list overflows, keeps the diverse
    /// nearest (hnswlib's pruning).
    fn add_links(&self, space: &Space<'_>, slot: u32, layer: u8, new: &[u32]) {
        let Some(lock) = self.locks.get(slot as usize) else {
            return;
        };
        let _held = lock.lock();
        let mut merged = self.link_ids(slot, layer);
        for &n in new {
            if n != slot && !merged.contains(&n) {
                merged.push(n);
            }
        }
        let width = self.width(layer);
        if merged.len() > width {
            let Some(from) = space.vector(slot) else {
                return;
            };
            let mut scored: Vec<Near> = merged
                .iter()
                .map(|&n| Near(space.distance(from, n), n))
                .collect();
            scored.sort_unstable();
            merged = self
                .diverse(space, &scored, width)
                .iter()
                .map(|n| n.1)
                .collect();
        }
        self.write_list(slot, layer, &merged);
    }

    /// hnswlib's neighbour heuristic: walking `sorted` nearest first, keep a candidate
    /// only if it is nearer to the query than to every one kept so far; at most `keep`.
    fn diverse(&self, space: &Space<'_>, sorted: &[Near], keep: usize) -> Vec<Near> {
        if sorted.len() <= keep {
            return sorted.to_vec();
        }
        let mut kept: Vec<Near> = Vec::with_capacity(keep);
        for &candidate in sorted {
            if kept.len() >= keep {
                break;
            }
            let Some(v) = space.vector(candidate.1) else {
                continue;
            };
            if kept.iter().all(|k| space.distance(v, k.1) >= candidate.0) {
                kept.push(candidate);
            }
        }
        kept
    }
}
