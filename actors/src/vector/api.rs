//! Qdrant-shaped JSON bodies and their conversion to [`VectorRequest`] parts. Points and
//! searches may carry `text` instead of a vector; the vector service embeds those
//! through its `embed` dependency.

use serde::Deserialize;
use serde_json::Value;

use super::core::{
    CollectionConfig, CollectionInfo, Filter, HnswParams, Metric, PointId, Record, SearchQuery,
};
use super::service::{PointInput, PointSelector, VectorInput};

/// Most hits one search may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// HNSW settings in a create body (`ef_construct` and `hnsw_ef` accepted as Qdrant spells them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswBody {
    m: Option<usize>,
    #[serde(alias = "ef_construct")]
    ef_construction: Option<usize>,
    #[serde(alias = "hnsw_ef", alias = "ef")]
    ef_search: Option<usize>,
}

/// Qdrant's `vectors: {size, distance}` form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorsBody {
    size: usize,
    distance: String,
}

/// `PUT /v1/collections/{name}`: `{"dimension", "distance", "hnsw": {…}}` or Qdrant's
/// `{"vectors": {"size", "distance"}, "hnsw_config": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    dimension: Option<usize>,
    distance: Option<String>,
    #[serde(alias = "hnsw_config")]
    hnsw: Option<HnswBody>,
    vectors: Option<VectorsBody>,
}

impl CreateBody {
    /// The collection settings, or why not.
    pub fn into_config(self) -> Result<CollectionConfig, String> {
        let (dimension, distance) = match (self.vectors, self.dimension, self.distance) {
            (Some(v), None, None) => (v.size, v.distance),
            (None, Some(d), Some(m)) => (d, m),
            (None, None, _) => return Err("`dimension` is required".into()),
            (None, _, None) => {
                return Err("`distance` is required (Cosine, Dot or Euclid)".into());
            }
            (Some(_), _, _) => {
                return Err("give either `vectors` or `dimension` and `distance`".into());
            }
        };
        let distance = Metric::parse(&distance).ok_or_else(|| {
            format!("unknown distance `{distance}` (expected Cosine, Dot or Euclid)")
        })?;
        let h = self.hnsw.unwrap_or_default();
        let d = HnswParams::default();
        let config = CollectionConfig {
            dimension,
            distance,
            hnsw: HnswParams {
                m: h.m.unwrap_or(d.m),
                ef_construction: h.ef_construction.unwrap_or(d.ef_construction),
                ef_search: h.ef_search.unwrap_or(d.ef_search),
            },
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// One point in an upsert body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointBody {
    id: Value,
    vector: Option<Vec<f32>>,
    text: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// `PUT /v1/collections/{name}/points`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertBody {
    points: Vec<PointBody>,
}

impl UpsertBody {
    /// The points, each with its vector or its text.
    pub fn into_points(self) -> Result<Vec<PointInput>, String> {
        if self.points.is_empty() {
            return Err("`points` must not be empty".into());
        }
        self.points
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let id = PointId::from_json(&p.id).map_err(|e| format!("points[{i}].id: {e}"))?;
                let vector = match (p.vector, p.text) {
                    (Some(v), None) => VectorInput::Vector(v),
                    (None, Some(t)) => VectorInput::Text(t),
                    _ => {
                        return Err(format!(
                            "points[{i}]: give exactly one of `vector` and `text`"
                        ));
                    }
                };
                Ok(PointInput {
                    id,
                    vector,
                    payload: p.payload,
                })
            })
            .collect()
    }
}

/// Qdrant's search `params`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    hnsw_ef: Option<usize>,
    #[serde(default)]
    exact: bool,
}

/// `POST /v1/collections/{name}/points/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    vector: Option<Vec<f32>>,
    text: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
    filter: Option<Value>,
    score_threshold: Option<f32>,
    #[serde(default)]
    with_payload: bool,
    #[serde(default)]
    params: SearchParams,
}

impl SearchBody {
    /// The search, and the text to search by when the query was given as text (the
    /// query's vector is then empty until the service embeds it).
    pub fn into_query(self) -> Result<(SearchQuery, Option<String>), String> {
        if self.vector.is_some() == self.text.is_some() {
            return Err("give exactly one of `vector` and `text`".into());
        }
        let limit = self.limit.unwrap_or(10);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("`limit` must be between 1 and {MAX_LIMIT}"));
        }
        if self.offset > MAX_LIMIT {
            return Err(format!("`offset` must be at most {MAX_LIMIT}"));
        }
        if self.score_threshold.is_some_and(|t| !t.is_finite()) {
            return Err("`score_threshold` must be a finite number".into());
        }
        if self
            .params
            .hnsw_ef
            .is_some_and(|ef| !(1..=4_096).contains(&ef))
        {
            return Err("`params.hnsw_ef` must be between 1 and 4096".into());
        }
        let filter = self.filter.as_ref().map(Filter::parse).transpose()?;
        let query = SearchQuery {
            vector: self.vector.unwrap_or_default(),
            limit,
            offset: self.offset,
            filter,
            score_threshold: self.score_threshold,
            ef: self.params.hnsw_ef,
            exact: self.params.exact,
            with_payload: self.with_payload,
        };
        Ok((query, self.text))
    }
}

/// `POST /v1/collections/{name}/points/delete`: `{"points": [ids]}` or `{"filter": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    points: Option<Vec<Value>>,
    filter: Option<Value>,
}

impl DeleteBody {
    /// Which points to delete.
    pub fn into_selector(self) -> Result<PointSelector, String> {
        match (self.points, self.filter) {
            (Some(ids), None) => ids
                .iter()
                .enumerate()
                .map(|(i, v)| PointId::from_json(v).map_err(|e| format!("points[{i}]: {e}")))
                .collect::<Result<_, _>>()
                .map(PointSelector::Ids),
            (None, Some(f)) => Filter::parse(&f).map(PointSelector::Filter),
            _ => Err("give exactly one of `points` and `filter`".into()),
        }
    }
}

/// `POST /v1/collections/{name}/points` (Qdrant's `retrieve`): points by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveBody {
    ids: Vec<Value>,
    /// `true`/`false` (a list of keys or a selector is refused: not supported yet).
    #[serde(default)]
    with_payload: Option<bool>,
    /// `true`/`false`.
    #[serde(default)]
    with_vector: Option<bool>,
    /// Accepted for Qdrant compatibility: one replica, always consistent.
    #[serde(default)]
    #[allow(dead_code)]
    consistency: Option<Value>,
    /// Accepted for Qdrant compatibility: no shards.
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

/// Most ids in one retrieve.
pub const MAX_RETRIEVE: usize = 10_000;

impl RetrieveBody {
    /// The ids, and whether payloads and vectors are wanted (Qdrant's defaults: payload
    /// yes, vector no).
    pub fn parse(self) -> Result<(Vec<PointId>, bool, bool), String> {
        if self.ids.len() > MAX_RETRIEVE {
            return Err(format!("ids: at most {MAX_RETRIEVE} ids in one request"));
        }
        let ids = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, v)| PointId::from_json(v).map_err(|e| format!("ids[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok((
            ids,
            self.with_payload.unwrap_or(true),
            self.with_vector.unwrap_or(false),
        ))
    }
}

/// A record in Qdrant's shape, with payload and vector when asked for.
pub fn record_body(r: &Record, with_payload: bool, with_vector: bool) -> Value {
    let mut out = serde_json::json!({ "id": r.id });
    if with_payload {
        out["payload"] = r.payload.clone();
    }
    if with_vector {
        out["vector"] = serde_json::json!(r.vector);
    }
    out
}

/// `POST /v1/collections/{name}/points/count`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    filter: Option<Value>,
    /// Accepted for Qdrant compatibility; counts here are always exact.
    #[serde(default)]
    #[allow(dead_code)]
    exact: Option<bool>,
}

impl CountBody {
    /// The filter, parsed.
    pub fn into_filter(self) -> Result<Option<Filter>, String> {
        self.filter.as_ref().map(Filter::parse).transpose()
    }
}

/// Qdrant's envelope: `{"result", "status": "ok", "time"}`.
pub fn envelope(result: impl serde::Serialize, started: std::time::Instant) -> Value {
    serde_json::json!({
        "result": result,
        "status": "ok",
        "time": started.elapsed().as_secs_f64(),
    })
}

/// A collection's info in Qdrant's shape (plus our `deleted_count`).
pub fn info_body(info: &CollectionInfo) -> Value {
    let c = &info.config;
    // Qdrant's CollectionInfo, whose required fields its clients parse. The swarm keeps a
    // collection as one segment with no optimizer and a log of its own: those fields
    // carry Qdrant's defaults and say so (`optimizer_status: ok`, one segment).
    serde_json::json!({
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "points_count": info.points_count,
        "indexed_vectors_count": info.indexed_vectors_count,
        "deleted_count": info.deleted_count,
        "payload_schema": {},
        "config": {
            "params": {
                "vectors": { "size": c.dimension, "distance": c.distance },
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": false,
            },
            "hnsw_config": {
                "m": c.hnsw.m,
                "ef_construct": c.hnsw.ef_construction,
                "ef_search": c.hnsw.ef_search,
                "full_scan_threshold": 0,
                "max_indexing_threads": 0,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 1,
                "flush_interval_sec": 0,
            },
            "wal_config": { "wal_capacity_mb": 32, "wal_segments_ahead": 0 },
        },
    })
}
