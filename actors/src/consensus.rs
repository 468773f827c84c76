//! Consensus voters: n = 3f + 1 voters, each an actor with its own ed25519 key, decide
//! proposals with 2f + 1 matching signed votes and a certificate anyone can verify
//! offline. `core` is pure; `engine` runs decisions over voter actors (`voters`);
//! `service` is the runtime shell; `api` holds the HTTP bodies.

pub mod api;
pub mod client;
pub mod core;
pub mod engine;
pub mod service;
pub mod voters;
pub mod wire;

pub use client::ConsensusClient;
pub use engine::{ConsensusEngine, Decision};
pub use service::{ConsensusParams, ConsensusRequest, ConsensusResponse, ConsensusService};
