//! Walking the graph, for queries and for inserts alike (hnswlib's walk): greedy descent
//! through the upper layers, then a beam of `ef` candidates on one layer in which only
//! accepted points (live, passing the filter) enter the results while every point can be
//! passed through. Visits are marked in a reused per-thread tag array.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering::Relaxed;

use hnsw_rs::anndists::dist::Distance;

use super::distance::GraphDistance;
use super::hnsw_graph::HnswGraph;

/// The vectors a graph's slots stand for, and how they compare.
#[derive(Clone, Copy)]
pub(crate) struct Space<'a> {
    /// The metric as the graph sees it (smaller is nearer).
    pub(crate) metric: &'a GraphDistance,
    /// Every slot's vector, `dim` floats each.
    pub(crate) vectors: &'a [f32],
    /// Floats per vector.
    pub(crate) dim: usize,
}

impl<'a> Space<'a> {
    /// A slot's vector.
    pub(crate) fn vector(&self, slot: u32) -> Option<&'a [f32]> {
        let s = slot as usize;
        self.vectors.get(s * self.dim..(s + 1) * self.dim)
    }

    /// Graph distance from `query` to a slot (infinite for a slot with no vector).
    pub(crate) fn distance(&self, query: &[f32], slot: u32) -> f32 {
        self.vector(slot)
            .map_or(f32::INFINITY, |v| self.metric.eval(query, v))
    }
}

impl HnswGraph {
    /// Up to `ef` accepted slots nearest to `query`, nearest first.
    pub(crate) fn search(
        &self,
        space: &Space<'_>,
        query: &[f32],
        ef: usize,
        accept: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<usize> {
        let Some((entry, top)) = self.entry() else {
            return Vec::new();
        };
        if ef == 0 {
            return Vec::new();
        }
        let mut near = Near(space.distance(query, entry), entry);
        for layer in (1..=top).rev() {
            near = self.descend(space, query, near, layer);
        }
        self.beam(space, query, near, ef, 0, accept)
            .into_iter()
            .map(|n| n.1 as usize)
            .collect()
    }

    /// Moves from `near` to whichever linked slot on `layer` is nearer, until none is.
    pub(crate) fn descend(
        &self,
        space: &Space<'_>,
        query: &[f32],
        mut near: Near,
        layer: u8,
    ) -> Near {
        loop {
            let mut moved = false;
            for link in self.links(near.1, layer) {
                let n = link.load(Relaxed);
                let d = space.distance(query, n);
                if d < near.0 {
                    near = Near(d, n);
                    moved = true;
                }
            }
            if !moved {
                return near;
            }
        }
    }

    /// The beam search on `layer` from `start`: up to `ef` accepted slots, nearest first.
    pub(crate) fn beam(
        &self,
        space: &Space<'_>,
        query: &[f32],
        start: Near,
        ef: usize,
        layer: u8,
        accept: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<Near> {
        VISITED.with_borrow_mut(|visited| {
            visited.start(self.len());
            visited.insert(start.1 as usize);
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut results: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            let mut fresh: Vec<u32> = Vec::with_capacity(2 * self.m());
            candidates.push(Reverse(start));
            if accept.is_none_or(|ok| ok(start.1 as usize)) {
                results.push(start);
            }
            while let Some(Reverse(Near(d, c))) = candidates.pop() {
                let bound = results.peek().map_or(f32::INFINITY, |f| f.0);
                if d > bound && results.len() >= ef {
                    break;
                }
                fresh.clear();
                fresh.extend(
                    self.links(c, layer)
                        .iter()
                        .map(|l| l.load(Relaxed))
                        .filter(|&n| visited.insert(n as usize)),
                );
                touch(&fresh, space);
                for &n in &fresh {
                    let dn = space.distance(query, n);
                    let bound = results.peek().map_or(f32::INFINITY, |f| f.0);
                    if results.len() < ef || dn < bound {
                        candidates.push(Reverse(Near(dn, n)));
                        if accept.is_none_or(|ok| ok(n as usize)) {
                            results.push(Near(dn, n));
                            if results.len() > ef {
                                results.pop();
                            }
                        }
                    }
                }
            }
            results.into_sorted_vec()
        })
    }
}

/// Loads one float from every cache line of the given slots' vectors before any distance
/// is computed, so the memory system fetches them all at once instead of one vector per
/// distance (hnswlib prefetches for the same reason; prefetch intrinsics need `unsafe`,
/// which this workspace forbids).
fn touch(slots: &[u32], space: &Space<'_>) {
    let mut sum = 0.0f32;
    for &s in slots {
        if let Some(v) = space.vector(s) {
            sum += v.iter().step_by(16).sum::<f32>();
        }
    }
    std::hint::black_box(sum);
}

/// A slot and its graph distance to the query, ordered by distance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Near(pub(crate) f32, pub(crate) u32);

impl PartialEq for Near {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Near {}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Which slots this walk has seen: a slot is seen when its tag equals the walk's epoch,
/// so starting a walk costs nothing but an increment.
#[derive(Default)]
struct Visited {
    tags: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn start(&mut self, slots: usize) {
        if self.tags.len() < slots {
            self.tags.resize(slots, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `slot`; false if it was already marked in this walk (or is out of range).
    fn insert(&mut self, slot: usize) -> bool {
        match self.tags.get_mut(slot) {
            Some(tag) if *tag != self.epoch => {
                *tag = self.epoch;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    /// One tag array per walking thread, reused across walks and graphs.
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}
