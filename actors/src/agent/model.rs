//! The model an agent thinks with: anything that answers chat messages. The `llm`
//! service's typed client is one (a local model or a remote pool behind it); a test may
//! script one.

use futures_util::future::BoxFuture;
use swarm_runtime::{CallOptions, SwarmError};
use tokio::sync::mpsc;

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

    /// As [`generate`](Self::generate), sending the reply's text to `pieces` as it is
    /// generated. A model that cannot stream sends it whole at the end.
    fn generate_streamed<'a>(
        &'a self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
        pieces: mpsc::UnboundedSender<String>,
    ) -> BoxFuture<'a, Result<Generation, SwarmError>> {
        Box::pin(async move {
            let generation = self.generate(messages, sampling, options).await?;
            let _ = pieces.send(generation.text.clone());
            Ok(generation)
        })
    }
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

    fn generate_streamed<'a>(
        &'a self,
        messages: Vec<ChatMessage>,
        sampling: Sampling,
        options: CallOptions,
        pieces: mpsc::UnboundedSender<String>,
    ) -> BoxFuture<'a, Result<Generation, SwarmError>> {
        Box::pin(async move {
            let mut stream = self.stream(Prompt::Chat(messages), sampling, true, options);
            let finished = loop {
                tokio::select! {
                    piece = stream.pieces.recv() => match piece {
                        Some(p) => { let _ = pieces.send(p); }
                        None => break (&mut stream.result).await,
                    },
                    result = &mut stream.result => break result,
                }
            };
            // Pieces sent before the end, not yet passed on.
            while let Ok(p) = stream.pieces.try_recv() {
                let _ = pieces.send(p);
            }
            finished
                .map_err(|e| SwarmError::Internal(format!("the generation task failed: {e}")))?
        })
    }
}
