//! Text generation: a local GGUF model on llama.cpp with continuous batching (`engine`,
//! one OS thread per replica), sampling and stop sequences (`sampling`, `stop`), a
//! response cache for deterministic requests (`cache`), the runtime shell (`service`), a
//! typed client (`client`) and the OpenAI-compatible routes (`api`).

pub mod api;
pub mod cache;
pub mod client;
pub mod engine;
pub mod job;
mod local;
pub mod model;
pub mod remote;
mod routes;
pub mod sampling;
mod sequence;
pub mod service;
pub mod stats;
pub mod stop;
pub mod tools;
pub mod wire;

pub use client::LlmClient;
pub use job::{Event, FinishReason, Usage};
pub use model::{ChatMessage, Model};
pub use sampling::{ResponseFormat, Sampling};
pub use service::{
    Generate, Generation, LlmParams, LlmRequest, LlmResponse, LlmService, ModelInfo, Prompt,
};

/// What can go wrong in text generation.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request cannot be served as sent (too long for the context, bad schema, …).
    #[error("{0}")]
    Invalid(String),
    /// The model file is missing or unreadable.
    #[error("{0}")]
    Model(String),
    /// llama.cpp failed (context, decode, thread).
    #[error("{0}")]
    Engine(String),
}

impl From<LlmError> for swarm_runtime::ServiceError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Invalid(m) => Self::InvalidRequest(m),
            LlmError::Model(m) | LlmError::Engine(m) => Self::Internal(m),
        }
    }
}
