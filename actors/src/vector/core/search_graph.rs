//! The copy of the hnsw_rs graph that queries walk. hnsw_rs builds, links and persists the
//! graph, but its own search reaches every neighbour through two `Arc` pointers and hashes
//! each visit; a profile of 1,000 queries put two thirds of the search loop on the cache
//! miss that loads a neighbour's point. Here layer-0 links are slot numbers in one
//! fixed-width array, vectors come from the collection's own slab and visits are marked in
//! a reused tag array (hnswlib's layout). The walk is hnswlib's: greedy descent through the
//! upper layers, then a beam of `ef` on layer 0 in which only accepted points (live, passing
//! the filter) enter the results while every point can be passed through.
//!
//! Refreshing the copy means finding the new points among hnsw_rs's (one pass over its
//! layers), so new points wait in a short pending list, scanned exactly by every query,
//! until [`PENDING_MAX`] have gathered. A refresh re-reads the new points' lists and the
//! lists of the points they link to (the only lists an insert changes), or every list when
//! the batch is a large part of the graph.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::{Hnsw, Neighbour, Point};

use super::distance::GraphDistance;

/// Pads a slot's unused link places.
const NO_LINK: u32 = u32::MAX;

/// New points scanned exactly before the copy is refreshed: scanning 256 vectors of 384
/// floats costs a query about a tenth of an ef-32 walk, and a refresh (one pass over
/// hnsw_rs's points) is spread over as many inserts.
pub(crate) const PENDING_MAX: usize = 256;

type GraphPoint = Arc<Point<'static, f32>>;

/// Slot-numbered links of every layer, plus handles to hnsw_rs's points to re-read them.
pub(crate) struct SearchGraph {
    /// Link places per slot on layer 0 (hnsw_rs keeps at most `2 m` there).
    width: usize,
    /// Layer-0 links, `width` per slot, padded with [`NO_LINK`].
    links: Vec<u32>,
    /// Links on layers 1..=level for the slots above layer 0; `upper[s][l - 1]` is layer `l`.
    upper: HashMap<u32, Vec<Vec<u32>>>,
    /// Where every walk starts: a slot on the highest layer, and that layer.
    entry: Option<(u32, u8)>,
    /// hnsw_rs's point for each slot.
    points: Vec<Option<GraphPoint>>,
    /// For each hnsw_rs layer, how many of its points are already in `points`.
    taken: Vec<usize>,
    /// Slots inserted into hnsw_rs since the last refresh; queries scan them exactly.
    pending: Vec<usize>,
}

impl SearchGraph {
    /// An empty copy for a graph with `m` links per node.
    pub(crate) fn new(m: usize) -> Self {
        Self {
            width: 2 * m.max(1),
            links: Vec::new(),
            upper: HashMap::new(),
            entry: None,
            points: Vec::new(),
            taken: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Takes note of `new` slots just inserted into `graph` (whose points are now slots
    /// `0..slots`); refreshes once enough are pending.
    pub(crate) fn absorb(
        &mut self,
        graph: &Hnsw<'static, f32, GraphDistance>,
        new: &[usize],
        slots: usize,
    ) {
        self.pending.extend_from_slice(new);
        if self.pending.len() >= PENDING_MAX {
            self.refresh(graph, slots);
        }
    }

    /// Brings the copy up to date with `graph`, whose points are slots `0..slots`.
    pub(crate) fn refresh(&mut self, graph: &Hnsw<'static, f32, GraphDistance>, slots: usize) {
        self.pending.clear();
        let index = graph.get_point_indexation();
        let top = usize::from(index.get_max_level_observed());
        if self.taken.len() <= top {
            self.taken.resize(top + 1, 0);
        }
        let mut fresh = Vec::new();
        for layer in 0..=top {
            for point in index.get_layer_iterator(layer).skip(self.taken[layer]) {
                self.taken[layer] += 1;
                let slot = point.get_origin_id();
                if slot >= self.points.len() {
                    self.points.resize(slot + 1, None);
                }
                self.points[slot] = Some(point);
                fresh.push(slot);
            }
        }
        let slots = slots.max(self.points.len());
        self.links.resize(slots * self.width, NO_LINK);
        if fresh.len().saturating_mul(4) >= slots {
            for slot in 0..self.points.len() {
                self.reread(slot);
            }
        } else {
            let mut touched = Vec::new();
            for &slot in &fresh {
                for layer in self.reread(slot) {
                    touched.extend(layer.iter().map(|n| n.d_id));
                }
            }
            touched.sort_unstable();
            touched.dedup();
            // New points were read just above.
            let mut new = fresh.clone();
            new.sort_unstable();
            touched.retain(|s| new.binary_search(s).is_err());
            for slot in touched {
                self.reread(slot);
            }
        }
        for slot in fresh {
            let level = self.points[slot].as_ref().map_or(0, |p| p.get_point_id().0);
            if self.entry.is_none_or(|(_, top)| level > top) {
                self.entry = u32::try_from(slot).ok().map(|s| (s, level));
            }
        }
    }

    /// Copies one slot's lists from hnsw_rs; returns them.
    fn reread(&mut self, slot: usize) -> Vec<Vec<Neighbour>> {
        let Some(point) = self.points.get(slot).and_then(Option::as_ref) else {
            return Vec::new();
        };
        let level = usize::from(point.get_point_id().0);
        let lists = point.get_neighborhood_id();
        let places = &mut self.links[slot * self.width..(slot + 1) * self.width];
        places.fill(NO_LINK);
        if let Some(base) = lists.first() {
            // hnsw_rs keeps lists nearest first, so a cut (never expected) drops the farthest.
            for (place, n) in places.iter_mut().zip(base) {
                *place = u32::try_from(n.d_id).unwrap_or(NO_LINK);
            }
        }
        if level > 0 {
            let above = (1..=level)
                .map(|l| {
                    lists.get(l).map_or_else(Vec::new, |list| {
                        list.iter()
                            .filter_map(|n| u32::try_from(n.d_id).ok())
                            .collect()
                    })
                })
                .collect();
            if let Ok(s) = u32::try_from(slot) {
                self.upper.insert(s, above);
            }
        }
        lists
    }

    /// Up to `ef` accepted slots nearest to the query, nearest first: the walk's, merged
    /// with the pending slots.
    pub(crate) fn search(&self, q: &WalkQuery<'_>) -> Vec<usize> {
        let mut found = self.walk(q);
        if !self.pending.is_empty() {
            found.extend(self.pending.iter().filter_map(|&s| {
                let v = q.vectors.get(s * q.dim..(s + 1) * q.dim)?;
                if !q.accept.is_none_or(|ok| ok(s)) {
                    return None;
                }
                Some(Near(q.distance.eval(q.query, v), u32::try_from(s).ok()?))
            }));
            found.sort_unstable();
            found.dedup_by_key(|n| n.1);
            found.truncate(q.ef);
        }
        found.into_iter().map(|Near(_, s)| s as usize).collect()
    }

    /// hnswlib's walk over the refreshed copy.
    fn walk(&self, q: &WalkQuery<'_>) -> Vec<Near> {
        let WalkQuery {
            distance,
            vectors,
            dim,
            query,
            ef,
            accept,
        } = *q;
        let Some((mut current, top)) = self.entry else {
            return Vec::new();
        };
        let slots = (vectors.len() / dim.max(1)).min(self.links.len() / self.width);
        let vector = |s: u32| {
            let s = s as usize;
            &vectors[s * dim..(s + 1) * dim]
        };
        if current as usize >= slots || ef == 0 {
            return Vec::new();
        }
        let mut near = distance.eval(query, vector(current));
        for layer in (1..=usize::from(top)).rev() {
            loop {
                let list = self
                    .upper
                    .get(&current)
                    .and_then(|lists| lists.get(layer - 1));
                let mut moved = false;
                for &n in list.into_iter().flatten() {
                    if (n as usize) < slots {
                        let d = distance.eval(query, vector(n));
                        if d < near {
                            (near, current, moved) = (d, n, true);
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        VISITED.with_borrow_mut(|visited| {
            visited.start(slots);
            visited.insert(current as usize);
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut results: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            let mut fresh: Vec<u32> = Vec::with_capacity(self.width);
            candidates.push(Reverse(Near(near, current)));
            if accept.is_none_or(|ok| ok(current as usize)) {
                results.push(Near(near, current));
            }
            while let Some(Reverse(Near(d, c))) = candidates.pop() {
                let bound = results.peek().map_or(f32::INFINITY, |f| f.0);
                if d > bound && results.len() >= ef {
                    break;
                }
                let start = c as usize * self.width;
                fresh.clear();
                fresh.extend(
                    self.links[start..start + self.width]
                        .iter()
                        .take_while(|&&n| n != NO_LINK)
                        .filter(|&&n| (n as usize) < slots && visited.insert(n as usize)),
                );
                touch(&fresh, vectors, dim);
                for &n in &fresh {
                    let dn = distance.eval(query, vector(n));
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

/// One query against the copy.
#[derive(Clone, Copy)]
pub(crate) struct WalkQuery<'a> {
    /// The metric as the graph sees it (smaller is nearer).
    pub(crate) distance: &'a GraphDistance,
    /// Every slot's vector, `dim` floats each, prepared as `query` is.
    pub(crate) vectors: &'a [f32],
    /// Floats per vector.
    pub(crate) dim: usize,
    /// The prepared query vector.
    pub(crate) query: &'a [f32],
    /// How many accepted slots the walk keeps.
    pub(crate) ef: usize,
    /// Which slots may be returned; `None`: every slot.
    pub(crate) accept: Option<&'a dyn Fn(usize) -> bool>,
}

/// Loads one float from every cache line of the given slots' vectors before any distance
/// is computed, so the memory system fetches them all at once instead of one vector per
/// distance (hnswlib prefetches for the same reason; prefetch intrinsics need `unsafe`,
/// which this workspace forbids).
fn touch(slots: &[u32], vectors: &[f32], dim: usize) {
    let mut sum = 0.0f32;
    for &s in slots {
        let start = s as usize * dim;
        if let Some(v) = vectors.get(start..start + dim) {
            sum += v.iter().step_by(16).sum::<f32>();
        }
    }
    std::hint::black_box(sum);
}

/// A slot and its graph distance to the query, ordered by distance.
#[derive(Clone, Copy)]
struct Near(f32, u32);

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

    /// Marks `slot`; false if it was already marked in this walk.
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
    /// One tag array per searching thread, reused across walks and collections.
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}
