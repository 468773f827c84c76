//! Qdrant-shaped JSON bodies and their conversion to [`super::service::VectorRequest`]
//! parts. Points and searches may carry `text` (or a Qdrant `Document`) instead of a
//! vector; the vector service embeds those through its `embed` dependency.

pub mod points;
pub mod search;
pub mod select;

use serde::Deserialize;
use serde_json::Value;

pub use points::{
    CountBody, DeleteBody, DeletePayloadBody, IndexBody, RetrieveBody, ScrollBody, SelectorBody,
    SetPayloadBody, UpsertBody,
};
pub use search::{BatchBody, ParsedSearch, QueryBody, SearchBody};
pub use select::{PayloadSelector, record_body, scored_body};

use super::core::{CollectionConfig, CollectionInfo, HnswParams, Metric};

/// Most hits one search may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// HNSW settings in a create body (`ef_construct` and `hnsw_ef` accepted as Qdrant spells
/// them; its other HNSW settings are accepted and change nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswBody {
    m: Option<usize>,
    #[serde(alias = "ef_construct")]
    ef_construction: Option<usize>,
    #[serde(alias = "hnsw_ef", alias = "ef")]
    ef_search: Option<usize>,
    #[serde(flatten)]
    #[allow(dead_code)]
    ignored: IgnoredHnsw,
}

/// Qdrant HNSW settings with no counterpart in the swarm's index.
#[derive(Debug, Default, Deserialize)]
#[allow(dead_code)]
pub struct IgnoredHnsw {
    full_scan_threshold: Option<Value>,
    max_indexing_threads: Option<Value>,
    on_disk: Option<Value>,
    payload_m: Option<Value>,
    inline_storage: Option<Value>,
}

/// Qdrant's `vectors: {size, distance}` form.
#[derive(Debug, Deserialize)]
pub struct VectorsBody {
    size: usize,
    distance: String,
    /// Qdrant's per-vector settings: `on_disk`, `quantization_config` and `datatype:
    /// float32` change nothing; `hnsw_config`, `multivector_config` and other datatypes
    /// are refused.
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// `PUT /v1/collections/{name}`: `{"dimension", "distance", "hnsw": {…}}` or Qdrant's
/// `{"vectors": {"size", "distance"}, "hnsw_config": {…}}` (the unnamed vector may also
/// be given as `{"vectors": {"": {…}}}`). Qdrant's storage settings (shards, replicas,
/// optimizer, WAL, quantization) are accepted and change nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    dimension: Option<usize>,
    distance: Option<String>,
    #[serde(alias = "hnsw_config")]
    hnsw: Option<HnswBody>,
    vectors: Option<Value>,
    sparse_vectors: Option<Value>,
    init_from: Option<Value>,
    #[serde(flatten)]
    #[allow(dead_code)]
    ignored: IgnoredCreate,
}

/// Qdrant collection settings with no counterpart in the swarm (one shard, one replica,
/// its own log and no optimizer or quantization).
#[derive(Debug, Default, Deserialize)]
#[allow(dead_code)]
pub struct IgnoredCreate {
    shard_number: Option<Value>,
    sharding_method: Option<Value>,
    replication_factor: Option<Value>,
    write_consistency_factor: Option<Value>,
    on_disk_payload: Option<Value>,
    wal_config: Option<Value>,
    optimizers_config: Option<Value>,
    quantization_config: Option<Value>,
    strict_mode_config: Option<Value>,
    metadata: Option<Value>,
}

fn unnamed_vector(v: Value) -> Result<VectorsBody, String> {
    let v = match v {
        Value::Object(mut o) if o.len() == 1 && o.contains_key("") => {
            o.remove("").unwrap_or_default()
        }
        other => other,
    };
    let body: VectorsBody = serde_json::from_value(v.clone()).map_err(|_| {
        match v.as_object() {
            Some(o) if !o.contains_key("size") => format!(
                "vectors: named vectors ({}) are not supported: the swarm's collections hold one unnamed vector",
                o.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
            _ => "vectors: expected {\"size\", \"distance\"}".to_string(),
        }
    })?;
    for (k, v) in body.rest.iter().filter(|(_, v)| !v.is_null()) {
        match k.as_str() {
            // Storage hints with no counterpart: every vector is in memory, full precision.
            "on_disk" | "quantization_config" => {}
            "datatype"
                if v.as_str()
                    .is_some_and(|d| d.eq_ignore_ascii_case("float32")) => {}
            _ => return Err(format!("vectors.{k} is not supported by the swarm")),
        }
    }
    Ok(body)
}

impl CreateBody {
    /// The collection settings, or why not.
    pub fn into_config(self) -> Result<CollectionConfig, String> {
        // LangChain sends `"sparse_vectors": {}` with every dense collection.
        let sparse = self.sparse_vectors.as_ref();
        if sparse.is_some_and(|v| !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty()))) {
            return Err("sparse vectors are not supported by the swarm".into());
        }
        if self.init_from.as_ref().is_some_and(|v| !v.is_null()) {
            return Err("`init_from` is not supported by the swarm".into());
        }
        let vectors = self.vectors.map(unnamed_vector).transpose()?;
        let (dimension, distance) = match (vectors, self.dimension, self.distance) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn create(body: Value) -> Result<CollectionConfig, String> {
        serde_json::from_value::<CreateBody>(body)
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn qdrant_create_bodies_are_read_or_refused_by_name() {
        let c = create(json!({ "vectors": { "": { "size": 8, "distance": "Dot", "on_disk": true } },
            "hnsw_config": { "m": 4, "ef_construct": 50, "full_scan_threshold": 10 },
            "sparse_vectors": {}, "shard_number": 2, "optimizers_config": { "indexing_threshold": 0 } }))
        .unwrap();
        assert_eq!(
            (c.dimension, c.distance, c.hnsw.m, c.hnsw.ef_construction),
            (8, Metric::Dot, 4, 50)
        );
        for (body, says) in [
            (
                json!({ "vectors": { "text": { "size": 8, "distance": "Dot" } } }),
                "named vectors (`text`)",
            ),
            (
                json!({ "vectors": { "size": 8, "distance": "Dot", "multivector_config": { "comparator": "max_sim" } } }),
                "vectors.multivector_config",
            ),
            (
                json!({ "vectors": { "size": 8, "distance": "Dot" }, "sparse_vectors": { "s": {} } }),
                "sparse vectors",
            ),
            (
                json!({ "vectors": { "size": 8, "distance": "Manhattan" } }),
                "unknown distance `Manhattan`",
            ),
            (
                json!({ "vectors": { "size": 8, "distance": "Dot" }, "init_from": { "collection": "a" } }),
                "`init_from`",
            ),
            (
                json!({ "vectors": { "size": 8, "distance": "Dot" }, "colour": 1 }),
                "unknown field `colour`",
            ),
        ] {
            let err = create(body).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
