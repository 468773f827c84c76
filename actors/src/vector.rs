//! Vector search: HNSW collections (graphs snapshotted as hnsw_rs dumps) with payloads,
//! filters applied during the graph search, and crash-safe persistence; spoken to in
//! Qdrant's vocabulary.
//!
//! [`core`] is plain Rust (a [`core::Collection`] and its [`core::CollectionStore`]);
//! [`service`] is the actor shell that owns every collection; [`api`] maps Qdrant-shaped
//! JSON bodies to requests.

pub mod api;
pub mod core;
pub mod service;

pub use service::{VectorRequest, VectorResponse, VectorService};
