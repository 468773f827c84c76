//! Remote pools: any OpenAI-compatible server (llama-server, vLLM, OpenAI itself, another
//! swarm) as a pool of a service. [`OpenAiServer`] holds pooled keep-alive connections and
//! sends requests with the caller's deadline as timeout, retrying refused connections and
//! 5xx/429 answers within a [`RetryBudget`] — never once a stream has started. The
//! scheduler's circuit breaker sees its failures as `Unavailable`.

mod openai;
mod retry;
mod sse;

pub use openai::{OpenAiServer, RemoteError};
pub use retry::RetryBudget;
pub use sse::SseParser;
