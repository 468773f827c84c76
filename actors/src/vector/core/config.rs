//! A collection's fixed settings: dimension, metric and HNSW parameters, checked once at
//! creation.

use serde::{Deserialize, Serialize};

use super::VectorError;
use super::distance::Metric;

/// HNSW build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per node (Qdrant's and hnswlib's `m`).
    pub m: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Default candidate list size while searching.
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 100,
            ef_search: 64,
        }
    }
}

/// A collection's fixed settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Vector length.
    pub dimension: usize,
    /// Comparison.
    pub distance: Metric,
    /// Graph parameters.
    pub hnsw: HnswParams,
}

impl CollectionConfig {
    /// Checks the bounds the graph, its hnsw_rs dump (`m` in one byte) and sanity impose.
    pub fn validate(&self) -> Result<(), VectorError> {
        let bad = |m: &str| Err(VectorError::Invalid(m.to_string()));
        if !(1..=65_536).contains(&self.dimension) {
            return bad("dimension must be between 1 and 65536");
        }
        if !(2..=128).contains(&self.hnsw.m) {
            return bad("hnsw.m must be between 2 and 128");
        }
        if !(4..=4_096).contains(&self.hnsw.ef_construction) {
            return bad("hnsw.ef_construction must be between 4 and 4096");
        }
        if !(1..=4_096).contains(&self.hnsw.ef_search) {
            return bad("hnsw.ef_search must be between 1 and 4096");
        }
        Ok(())
    }
}
