//! Consensus voters: n = 3f + 1 voters, each with its own ed25519 key, decide proposals
//! with 2f + 1 matching signed votes and a certificate anyone can verify offline.
//! `core` is pure; the service and HTTP route use it.

pub mod core;
