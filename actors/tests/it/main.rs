//! The actors crate's integration tests, as one test binary: each module was its own
//! binary, and every one linked the whole crate (tfhe, llama.cpp, candle) — ~100 MB each,
//! which filled CI's disk. Tests that change process-wide state stay in their own
//! binaries: `fhe_costs` (tfhe's global bootstrap counter), `otlp_trace` (the global
//! tracing subscriber) and `reliability_http` (a panic hook counting panics).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod vector_data;

mod agent_crash;
mod agent_http_tools;
mod agent_loop;
mod agent_private_tools;
mod agent_real;
mod agent_remote;
mod agent_runs;
mod agent_workflows;
mod builder;
mod cluster_calls;
mod cluster_llm;
mod cluster_partition;
mod cluster_services;
mod cluster_up;
mod cluster_version;
mod consensus_core;
mod consensus_engine;
mod consensus_http;
mod crash_recovery;
mod embed_http;
mod embed_minilm;
mod error_codes;
mod fhe_auction;
mod fhe_pools;
mod fhe_scoring;
mod fhe_tally;
mod fl_core;
mod fl_http;
mod fl_secure;
mod gateway_http;
mod launcher;
mod llm_engine;
mod llm_http;
mod llm_model;
mod llm_reference;
mod llm_tools;
mod nash_core;
mod nash_http;
mod openai_client;
mod qdrant_client;
mod remote_pools;
mod vector_core;
mod vector_http;
mod vector_store;
mod vector_write_deadline;
