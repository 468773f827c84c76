//! Vector search: HNSW collections (graphs snapshotted as hnsw_rs dumps) with payloads,
//! filters applied during the graph search, and crash-safe persistence; spoken to in
//! Qdrant's vocabulary.
//!
//! [`core`] is plain Rust (a [`core::Collection`] and its [`core::CollectionStore`]);
//! [`service`] is the actor shell (its messages in [`messages`]) that owns every collection (and embeds texts through
//! its `embed` dependency); [`client`] is its typed client; [`api`] maps Qdrant-shaped
//! JSON bodies to requests and [`routes`] serves them.

pub mod api;
pub mod client;
pub mod core;
pub mod messages;
mod qdrant_error;
pub mod routes;
mod routes_points;
pub mod service;
pub mod wire;

pub use client::VectorClient;
pub use service::{
    PointInput, VectorInput, VectorParams, VectorRequest, VectorResponse, VectorService,
};
