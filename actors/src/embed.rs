//! The embedding service: all-MiniLM-L6-v2 on candle (`core`, pure), behind the runtime's
//! dynamic batcher (`service`), served OpenAI-compatible at `/v1/embeddings` (`api`).

pub mod api;
pub mod client;
pub mod core;
pub mod service;
pub mod wire;

pub use client::EmbedClient;
pub use service::{EmbedParams, EmbedService};
