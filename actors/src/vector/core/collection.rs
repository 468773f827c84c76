//! One collection in memory: an HNSW graph over slots, the vectors and payloads behind
//! them, and tombstones for deleted or replaced points until the graph is rebuilt.

use std::collections::BTreeMap;

use pulp::Arch;
use serde::Serialize;
use serde_json::Value;

use super::config::CollectionConfig;
use super::distance::{GraphDistance, Metric, dot, normalise};
use super::hnsw_graph::HnswGraph;
use super::hnsw_walk::Space;
use super::{Filter, PointId, VectorError};

/// Slots a filtered search samples to estimate how many pass.
const PLAN_SAMPLE: usize = 128;

/// A filter passing fewer than one point in this many is answered by a scan (measured on
/// 50k × 128: at 1% the scan takes a third of the walk's time, at 10% six times as long).
const SCAN_BELOW_ONE_IN: usize = 32;

/// A point to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPoint {
    /// Its id; an existing point with this id is replaced.
    pub id: PointId,
    /// Its vector.
    pub vector: Vec<f32>,
    /// Its payload (a JSON object, or null).
    pub payload: Value,
}

/// A stored point as `get` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Its id.
    pub id: PointId,
    /// Its payload.
    pub payload: Value,
    /// Its vector (normalised for cosine collections).
    pub vector: Vec<f32>,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: PointId,
    /// Similarity (cosine, dot) or distance (euclid).
    pub score: f32,
    /// The payload, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The stored vector, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// The query vector.
    pub vector: Vec<f32>,
    /// Hits wanted.
    pub limit: usize,
    /// Hits to skip first.
    pub offset: usize,
    /// Only points that pass.
    pub filter: Option<Filter>,
    /// Drop hits scoring worse than this.
    pub score_threshold: Option<f32>,
    /// Candidate list size; the collection's `ef_search` when absent.
    pub ef: Option<usize>,
    /// Scan every point instead of the graph.
    pub exact: bool,
    /// Return payloads.
    pub with_payload: bool,
    /// Return stored vectors.
    pub with_vector: bool,
}

/// Sizes and settings, for `GET /v1/collections/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionInfo {
    /// Live points.
    pub points_count: usize,
    /// Nodes in the graph, live or not.
    pub indexed_vectors_count: usize,
    /// Deleted or replaced points still in the graph.
    pub deleted_count: usize,
    /// Settings.
    pub config: CollectionConfig,
}

/// A point slot: the graph's data id is the slot's index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub(crate) id: PointId,
    pub(crate) payload: Value,
}

/// A collection in memory.
pub struct Collection {
    config: CollectionConfig,
    arch: Arch,
    /// The metric as the graph sees it.
    metric: GraphDistance,
    graph: HnswGraph,
    /// Slot-major vectors, `dimension` floats each.
    vectors: Vec<f32>,
    /// `None` marks a tombstone.
    pub(super) slots: Vec<Option<Slot>>,
    /// Live points by id, in id order (scroll pages through it).
    pub(super) by_id: BTreeMap<PointId, usize>,
}

impl Collection {
    /// An empty collection.
    pub fn new(config: CollectionConfig) -> Result<Self, VectorError> {
        config.validate()?;
        Ok(Self::with_graph(config, new_graph(&config)))
    }

    fn with_graph(config: CollectionConfig, graph: HnswGraph) -> Self {
        Self {
            config,
            arch: Arch::new(),
            metric: GraphDistance::new(config.distance),
            graph,
            vectors: Vec::new(),
            slots: Vec::new(),
            by_id: BTreeMap::new(),
        }
    }

    /// Rebuilds a collection from stored slots; `graph` is a reloaded dump of them, or
    /// `None` to build the graph afresh.
    pub(crate) fn restore(
        config: CollectionConfig,
        slots: Vec<Option<Slot>>,
        vectors: Vec<f32>,
        graph: Option<HnswGraph>,
    ) -> Result<Self, VectorError> {
        if vectors.len() != slots.len() * config.dimension {
            return Err(VectorError::Storage(
                "vector store and slots disagree".into(),
            ));
        }
        let rebuild = graph.is_none();
        let graph = graph.unwrap_or_else(|| new_graph(&config));
        let mut c = Self::with_graph(config, graph);
        c.by_id = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.id, i)))
            .collect();
        c.slots = slots;
        c.vectors = vectors;
        if rebuild {
            c.index_slots(0);
        }
        Ok(c)
    }

    /// Settings.
    pub fn config(&self) -> &CollectionConfig {
        &self.config
    }

    /// Sizes and settings.
    pub fn info(&self) -> CollectionInfo {
        CollectionInfo {
            points_count: self.by_id.len(),
            indexed_vectors_count: self.slots.len(),
            deleted_count: self.slots.len() - self.by_id.len(),
            config: self.config,
        }
    }

    /// Largest squared length of a stored or query vector under `Dot` and `Euclid`.
    pub const MAX_SQUARED_NORM: f32 = f32::MAX / 4.0;

    /// Checks and prepares (normalises, for cosine) a vector.
    pub fn prepare(&self, mut v: Vec<f32>) -> Result<Vec<f32>, VectorError> {
        if v.len() != self.config.dimension {
            return Err(VectorError::Invalid(format!(
                "vector has dimension {}, the collection expects {}",
                v.len(),
                self.config.dimension
            )));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(VectorError::Invalid(format!(
                "vector element {i} is not a finite number"
            )));
        }
        if self.config.distance == Metric::Cosine {
            if !normalise(self.arch, &mut v) {
                return Err(VectorError::Invalid(
                    "a zero vector has no direction under cosine distance".into(),
                ));
            }
            return Ok(v);
        }
        // |a·b| ≤ max(|a|², |b|²) and |a − b|² ≤ 2(|a|² + |b|²): with every squared norm at
        // most f32::MAX / 4, no score between two stored or query vectors can overflow.
        let squared = dot(self.arch, &v, &v);
        if !(squared.is_finite() && squared <= Self::MAX_SQUARED_NORM) {
            return Err(VectorError::Invalid(format!(
                "vector is too large: its squared length must be at most {:e} so scores stay finite; scale it down",
                Self::MAX_SQUARED_NORM
            )));
        }
        Ok(v)
    }

    /// Checks every point (dimension, finite values, payload shape) and prepares its
    /// vector, before anything is written.
    pub fn prepare_points(&self, points: Vec<NewPoint>) -> Result<Vec<NewPoint>, VectorError> {
        points
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let vector = self
                    .prepare(p.vector)
                    .map_err(|e| VectorError::Invalid(format!("points[{i}]: {e}")))?;
                if !(p.payload.is_object() || p.payload.is_null()) {
                    return Err(VectorError::Invalid(format!(
                        "points[{i}]: payload must be a JSON object"
                    )));
                }
                Ok(NewPoint { vector, ..p })
            })
            .collect()
    }

    /// Checks every point first, then writes them all (so a bad point changes nothing).
    /// Later duplicates of an id in one call win.
    pub fn upsert(&mut self, points: Vec<NewPoint>) -> Result<usize, VectorError> {
        let ready = self.prepare_points(points)?;
        Ok(self.insert_prepared(ready))
    }

    /// Writes points that [`Self::prepare_points`] returned.
    pub(crate) fn insert_prepared(&mut self, ready: Vec<NewPoint>) -> usize {
        let n = ready.len();
        let first = self.slots.len();
        for p in ready {
            let slot = self.slots.len();
            if let Some(old) = self.by_id.insert(p.id, slot) {
                self.slots[old] = None;
            }
            self.vectors.extend_from_slice(&p.vector);
            self.slots.push(Some(Slot {
                id: p.id,
                payload: p.payload,
            }));
        }
        self.index_slots(first);
        n
    }

    /// Links slots `first..` (whose vectors are stored) into the graph.
    fn index_slots(&mut self, first: usize) {
        let space = Space {
            metric: &self.metric,
            vectors: &self.vectors,
            dim: self.config.dimension,
        };
        self.graph.insert(&space, first..self.slots.len());
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete(&mut self, ids: &[PointId]) -> usize {
        let mut n = 0;
        for id in ids {
            if let Some(slot) = self.by_id.remove(id) {
                self.slots[slot] = None;
                n += 1;
            }
        }
        n
    }

    /// Ids of the live points that pass `filter`.
    pub fn ids_matching(&self, filter: &Filter) -> Vec<PointId> {
        self.slots
            .iter()
            .flatten()
            .filter(|s| filter.matches(&s.id, &s.payload))
            .map(|s| s.id)
            .collect()
    }

    /// Live points passing `filter` (all live points without one).
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        match filter {
            None => self.by_id.len(),
            Some(f) => self
                .slots
                .iter()
                .flatten()
                .filter(|s| f.matches(&s.id, &s.payload))
                .count(),
        }
    }

    /// One point.
    pub fn get(&self, id: &PointId) -> Option<Record> {
        let slot = *self.by_id.get(id)?;
        let s = self.slots[slot].as_ref()?;
        Some(Record {
            id: s.id,
            payload: s.payload.clone(),
            vector: self.vector(slot).to_vec(),
        })
    }

    pub(super) fn vector(&self, slot: usize) -> &[f32] {
        let d = self.config.dimension;
        &self.vectors[slot * d..(slot + 1) * d]
    }

    /// Whether deletions have piled up enough to rebuild: a fifth of the graph is dead.
    pub fn needs_compaction(&self) -> bool {
        let dead = self.slots.len() - self.by_id.len();
        dead > 0 && dead * 5 >= self.slots.len()
    }

    /// Rebuilds the graph from the live points only; slots are renumbered.
    pub fn compact(&mut self) {
        let d = self.config.dimension;
        let mut slots = Vec::with_capacity(self.by_id.len());
        let mut vectors = Vec::with_capacity(self.by_id.len() * d);
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(s) = s {
                slots.push(Some(s.clone()));
                vectors.extend_from_slice(self.vector(i));
            }
        }
        let config = self.config;
        if let Ok(fresh) = Self::restore(config, slots, vectors, None) {
            *self = fresh;
        }
    }

    /// The nearest live points to the query that pass its filter, best first.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<ScoredPoint>, VectorError> {
        let query = self.prepare(q.vector.clone())?;
        let want = q.limit.saturating_add(q.offset);
        if want == 0 || self.by_id.is_empty() {
            return Ok(Vec::new());
        }
        let ef = q.ef.unwrap_or(self.config.hnsw.ef_search).max(want);
        let passes = |slot: usize| {
            self.slots
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|s| {
                    q.filter
                        .as_ref()
                        .is_none_or(|f| f.matches(&s.id, &s.payload))
                })
        };
        let exact = q.exact || (q.filter.is_some() && self.selective(&passes));
        let mut slots: Vec<usize> = if exact {
            Vec::new()
        } else {
            // With no filter and no tombstones every slot may be returned; skipping the
            // check spares a look at each candidate's slot.
            let all_pass = q.filter.is_none() && self.slots.len() == self.by_id.len();
            let accept: Option<&dyn Fn(usize) -> bool> = (!all_pass).then_some(&passes);
            let mut found = self.graph.search(&self.space(), &query, ef, accept);
            found.truncate(want);
            found
        };
        let complete = slots.len() >= want.min(self.by_id.len());
        if exact || !complete {
            // Asked for, planned (a selective filter), or the walk found fewer than exist
            // (unreachable points): scan the passing points.
            slots = (0..self.slots.len()).filter(|&s| passes(s)).collect();
        }
        let metric = self.config.distance;
        let mut hits: Vec<(usize, f32)> = slots
            .into_iter()
            .map(|s| (s, metric.score(self.arch, &query, self.vector(s))))
            // Bounded norms keep scores finite; a non-finite one is never answered.
            .filter(|&(_, score)| score.is_finite())
            .filter(|&(_, score)| q.score_threshold.is_none_or(|t| metric.passes(score, t)))
            .collect();
        // A total order (best first, then slot), whatever the scores are.
        hits.sort_by(|a, b| metric.order(a.1, b.1).then(a.0.cmp(&b.0)));
        Ok(hits
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .filter_map(|(slot, score)| {
                let s = self.slots[slot].as_ref()?;
                Some(ScoredPoint {
                    id: s.id,
                    score,
                    payload: q.with_payload.then(|| s.payload.clone()),
                    vector: q.with_vector.then(|| self.vector(slot).to_vec()),
                })
            })
            .collect())
    }

    /// Whether so few slots pass `passes` that scanning them beats walking the graph,
    /// judged from a sample: a walk passes through about `1 / p` points for each one it
    /// keeps, so below a few percent it visits most of the graph anyway (Qdrant plans the
    /// same way from its payload indexes' cardinality estimates).
    fn selective(&self, passes: &dyn Fn(usize) -> bool) -> bool {
        let n = self.slots.len();
        let sample = PLAN_SAMPLE.min(n);
        // Golden-ratio steps spread the sample over the slots without a stride that a
        // periodic payload could line up with.
        let passing = (0..sample)
            .filter(|&i| {
                let at = ((i as f64 * 0.618_033_988_749_895).fract() * n as f64) as usize;
                passes(at.min(n - 1))
            })
            .count();
        passing * SCAN_BELOW_ONE_IN < sample
    }

    /// The graph, for dumping.
    pub(crate) fn graph(&self) -> &HnswGraph {
        &self.graph
    }

    /// The stored vectors as the graph sees them.
    pub(crate) fn space(&self) -> Space<'_> {
        Space {
            metric: &self.metric,
            vectors: &self.vectors,
            dim: self.config.dimension,
        }
    }

    /// Slots and vectors, for storing.
    pub(crate) fn parts(&self) -> (&[Option<Slot>], &[f32]) {
        (&self.slots, &self.vectors)
    }
}

fn new_graph(config: &CollectionConfig) -> HnswGraph {
    HnswGraph::new(config.hnsw.m, config.hnsw.ef_construction)
}
