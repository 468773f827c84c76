//! The `llm` service's typed client, for the routes and for Rust apps embedding a swarm:
//! whole answers, or a stream of text as it is generated.

use std::sync::{Arc, OnceLock};

use swarm_runtime::{CallOptions, Client, SwarmError};
use tokio::sync::mpsc;

use super::model::ChatMessage;
use super::sampling::Sampling;
use super::service::{
    Generate, Generation, LlmRequest, LlmResponse, LlmService, ModelInfo, Prompt,
};
use crate::http::ServiceClient;

/// Generates text on a swarm's `llm` service.
#[derive(Clone)]
pub struct LlmClient(Client<LlmService>, Arc<OnceLock<ModelInfo>>);

impl ServiceClient for LlmClient {
    type Service = LlmService;

    fn from_client(client: Client<LlmService>) -> Self {
        Self(client, Arc::default())
    }
}

/// Text as it is generated, then the whole generation.
pub struct TokenStream {
    /// Pieces of text in order (closed when generation ends).
    pub pieces: mpsc::UnboundedReceiver<String>,
    /// The finished generation (or why it failed); dropping it cancels the generation.
    pub result: tokio::task::JoinHandle<Result<Generation, SwarmError>>,
}

impl Drop for TokenStream {
    fn drop(&mut self) {
        // A reader that goes away cancels its sequence (and frees its slot).
        self.result.abort();
    }
}

fn unexpected() -> SwarmError {
    SwarmError::Internal("the llm service answered another kind of response".into())
}

impl LlmClient {
    /// Answers `messages` (rendered with the model's chat template).
    pub async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
    ) -> Result<Generation, SwarmError> {
        self.generate(Prompt::Chat(messages), sampling, true, options)
            .await
    }

    /// Continues `prompt` as it is.
    pub async fn complete(
        &self,
        prompt: String,
        sampling: Sampling,
        options: CallOptions,
    ) -> Result<Generation, SwarmError> {
        self.generate(Prompt::Text(prompt), sampling, true, options)
            .await
    }

    /// Generates for `prompt`; `cache` lets a deterministic request use the cache.
    pub async fn generate(
        &self,
        prompt: Prompt,
        sampling: Sampling,
        cache: bool,
        options: CallOptions,
    ) -> Result<Generation, SwarmError> {
        let request = Generate {
            prompt,
            sampling,
            stream: None,
            cache,
        };
        match self
            .0
            .call_with(LlmRequest::Generate(Box::new(request)), options)
            .await?
        {
            LlmResponse::Generated(g) => Ok(g),
            LlmResponse::Described(_) => Err(unexpected()),
        }
    }

    /// Generates for `prompt`, streaming text as it comes.
    pub fn stream(
        &self,
        prompt: Prompt,
        sampling: Sampling,
        cache: bool,
        options: CallOptions,
    ) -> TokenStream {
        let (tx, pieces) = mpsc::unbounded_channel();
        let request = Generate {
            prompt,
            sampling,
            stream: Some(tx),
            cache,
        };
        let client = self.0.clone();
        let result = tokio::spawn(async move {
            match client
                .call_with(LlmRequest::Generate(Box::new(request)), options)
                .await?
            {
                LlmResponse::Generated(g) => Ok(g),
                LlmResponse::Described(_) => Err(unexpected()),
            }
        });
        TokenStream { pieces, result }
    }

    /// The model and its limits (asked once, then remembered: a service's model does not
    /// change while it runs, and asking again would queue behind generations).
    pub async fn model(&self, options: CallOptions) -> Result<ModelInfo, SwarmError> {
        if let Some(known) = self.1.get() {
            return Ok(known.clone());
        }
        match self.0.call_with(LlmRequest::Describe, options).await? {
            LlmResponse::Described(m) => Ok(self.1.get_or_init(|| m).clone()),
            LlmResponse::Generated(_) => Err(unexpected()),
        }
    }
}
