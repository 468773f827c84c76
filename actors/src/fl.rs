//! The federated-learning aggregator service: rounds of client updates aggregated by a
//! Flower-compatible strategy. `core` is pure; `service` is the actor shell (rounds live
//! in a shared map, so restarts keep them); `api` is the HTTP surface.

pub mod api;
pub mod client;
pub mod core;
pub mod rounds;
mod secure;
pub mod service;
pub mod wire;

pub use client::FlClient;
pub use rounds::Retention;
pub use service::{FlParams, FlRequest, FlService, RoundView};
