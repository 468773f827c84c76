//! The vector-search core: point ids, collections, filters, distances and storage.

pub mod catalog;
mod codec;
pub mod collection;
pub mod config;
pub mod distance;
pub mod filter;
mod filter_parse;
mod hnsw_dump;
mod hnsw_graph;
mod hnsw_walk;
pub mod payload;
pub mod points;
pub mod store;
mod wal;
#[cfg(test)]
mod wal_faults;
mod wal_file;
pub mod wal_repair;

pub use catalog::Catalog;
pub use collection::{Collection, CollectionInfo, NewPoint, Record, ScoredPoint, SearchQuery};
pub use config::{CollectionConfig, HnswParams};
pub use distance::Metric;
pub use filter::Filter;
pub use payload::PayloadChange;
pub use points::{ScrollPage, ScrollQuery};
pub use store::{CollectionStore, StoreOptions, StoredCollection};

use serde::{Deserialize, Serialize};

/// A point's id: an unsigned integer or a UUID, as in Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PointId {
    /// A number.
    Num(u64),
    /// A UUID (written hyphenated, lower case).
    Uuid(uuid::Uuid),
}

impl PointId {
    /// Parses a JSON id: a non-negative integer or a UUID string.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        match v {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(Self::Num)
                .ok_or_else(|| format!("id {n} is not an unsigned integer")),
            serde_json::Value::String(s) => uuid::Uuid::parse_str(s)
                .map(Self::Uuid)
                .map_err(|_| format!("id `{s}` is neither an unsigned integer nor a UUID")),
            other => Err(format!(
                "id {other} is neither an unsigned integer nor a UUID"
            )),
        }
    }
}

impl std::fmt::Display for PointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Num(n) => write!(f, "{n}"),
            Self::Uuid(u) => write!(f, "{u}"),
        }
    }
}

/// What can go wrong in a collection or its storage.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The input is not acceptable (wrong dimension, NaN, bad parameters).
    #[error("{0}")]
    Invalid(String),
    /// No such collection or point.
    #[error("{0}")]
    NotFound(String),
    /// The collection exists already.
    #[error("collection `{0}` already exists")]
    Exists(String),
    /// Reading or writing the collection's files failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The collection's files are corrupt: it is not served until an operator repairs it.
    #[error("collection unavailable: {0}")]
    Corrupt(String),
    /// The request's deadline passed before a write could start; nothing was changed.
    #[error("{0}")]
    Expired(String),
    /// A resource the write needs is used up (file descriptors); nothing was changed.
    #[error("{0}")]
    Exhausted(String),
}

impl From<std::io::Error> for VectorError {
    fn from(e: std::io::Error) -> Self {
        if wal_file::out_of_descriptors(&e) {
            Self::Exhausted(format!("out of file descriptors ({e}); retry later"))
        } else {
            Self::Storage(e.to_string())
        }
    }
}
