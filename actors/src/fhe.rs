//! Fully homomorphic encryption on tfhe-rs: computations over values no party but the key
//! holder can read — encrypted tallies (and, next, auctions, scoring and FL sums).
//!
//! [`core`] is plain Rust over tfhe (keys, the wire format, the workloads, progress);
//! [`service`] is the actor shell that owns the keys, a dedicated thread pool with the
//! server key set on every thread, and the jobs; [`client`] is the typed client and the
//! client-side encryption; [`routes`] serves `/v1/fhe/…`.

pub mod client;
pub mod core;
pub mod engine;
pub mod jobs;
mod metrics;
pub mod models;
pub mod routes;
pub mod service;
pub mod wire_remote;

pub use client::{FheClient, PublicKey};
pub use service::{FheParams, FheRequest, FheResponse, FheService};
