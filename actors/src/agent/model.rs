//! The model an agent thinks with: anything that answers chat messages. The `llm`
//! service's typed client is one (a local model or a remote pool behind it); a test may
//! script one.

use futures_util::future::BoxFuture;
use swarm_runtime::{CallOptions, SwarmError};

use crate::llm::{ChatMessage, Generation, LlmClient, Prompt, Sampling};

/// A chat model.
pub trait ChatModel: Send + Sync {
    /// Continues `messages` under `sampling` (its response format constrains the reply).
    fn generate<'a>(
        &'a self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
    ) -> BoxFuture<'a, Result<Generation, SwarmError>>;
}

impl ChatModel for LlmClient {
    fn generate<'a>(
        &'a self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
    ) -> BoxFuture<'a, Result<Generation, SwarmError>> {
        Box::pin(LlmClient::generate(
            self,
            Prompt::Chat(messages),
            sampling,
            true,
            options,
        ))
    }
}
