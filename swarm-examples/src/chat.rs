//! An app that talks to a local language model through a swarm it embeds: it starts an
//! `llm` service from the Rust builder (no YAML, no HTTP), asks one question and waits for
//! the whole answer, then streams a second answer piece by piece through [`LlmClient`].

use std::path::PathBuf;

use swarm_actors::http::ServiceClient;
use swarm_actors::llm::{ChatMessage, LlmClient, LlmParams, Prompt, Sampling};
use swarm_runtime::{CallOptions, Swarm};

/// What the app saw: the whole answer, and the streamed one with how many pieces it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The first answer, returned whole.
    pub answer: String,
    /// The second answer, assembled from its pieces.
    pub streamed: String,
    /// How many pieces the stream delivered.
    pub pieces: usize,
}

/// Starts a swarm with the `llm` service on `model` (a GGUF file), asks the same greedy
/// question twice — whole, then streamed — and shuts the swarm down.
pub async fn chat(model: PathBuf) -> Result<Transcript, Box<dyn std::error::Error + Send + Sync>> {
    let params = LlmParams {
        model,
        context: Some(512),
        threads: Some(2),
        ..LlmParams::default()
    };
    let swarm = Swarm::builder("chat-app")
        .service("llm", params)
        .start(&crate::registry())
        .await?;
    let llm = LlmClient::of(&swarm, "llm")?;
    let question = vec![ChatMessage {
        role: "user".into(),
        content: "What is the capital of France?".into(),
    }];
    // Greedy, and past the cache, so the stream is really generated again.
    let sampling = Sampling {
        temperature: 0.0,
        max_tokens: Some(24),
        ..Sampling::default()
    };
    let answer = llm
        .chat(question.clone(), sampling.clone(), CallOptions::default())
        .await?
        .text;
    let mut stream = llm.stream(
        Prompt::Chat(question),
        sampling,
        false,
        CallOptions::default(),
    );
    let (mut streamed, mut pieces) = (String::new(), 0);
    while let Some(piece) = stream.pieces.recv().await {
        streamed.push_str(&piece);
        pieces += 1;
    }
    (&mut stream.result).await??;
    swarm.shutdown().await;
    Ok(Transcript {
        answer,
        streamed,
        pieces,
    })
}
