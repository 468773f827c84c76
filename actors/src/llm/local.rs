//! Generation on this process's own engine (CPU or GPU pools): the request is templated,
//! tokenised and checked to fit off the async threads, then runs as one sequence of the
//! replica's engine; deterministic requests are answered from (and stored in) the cache.

use std::sync::Arc;

use swarm_runtime::{RequestContext, ServiceError};
use tokio::sync::mpsc;

use super::LlmError;
use super::cache::{CacheKey, ResponseCache};
use super::engine::{Engine, EngineConfig};
use super::job::{Event, FinishReason, Job};
use super::model::Model;
use super::service::{Generate, Generation, Prompt};

/// The request's tokens and grammar, checked to fit.
struct Prepared {
    tokens: Vec<llama_cpp_2::token::LlamaToken>,
    grammar: Option<String>,
    max_tokens: u32,
}

fn prepare(model: &Model, config: EngineConfig, req: &Generate) -> Result<Prepared, LlmError> {
    let text = match &req.prompt {
        Prompt::Chat(messages) => model.chat_prompt(messages)?,
        Prompt::Text(t) => t.clone(),
    };
    let tokens = model.tokenize(&text);
    let room = config.context as usize;
    let wanted = req.sampling.max_tokens.map_or(1, |m| m as usize);
    if tokens.is_empty() || tokens.len() + wanted > room {
        let asked = match req.sampling.max_tokens {
            Some(m) => format!(" and max_tokens asks for {m}"),
            None => String::new(),
        };
        return Err(LlmError::Invalid(format!(
            "the prompt is {} tokens{asked}; a sequence holds {room} tokens (params.context)",
            tokens.len()
        )));
    }
    let max_tokens = req
        .sampling
        .max_tokens
        .unwrap_or_else(|| u32::try_from(room - tokens.len()).unwrap_or(u32::MAX));
    let grammar = req.sampling.response_format.grammar()?;
    Ok(Prepared {
        tokens,
        grammar,
        max_tokens,
    })
}

fn cache_key(engine: &Engine, cache: Option<&ResponseCache>, req: &Generate) -> Option<CacheKey> {
    if !req.cache || !req.sampling.is_deterministic() || cache.is_none() {
        return None;
    }
    let canonical = serde_json::to_vec(&(&engine.model().name, &req.prompt, &req.sampling)).ok()?;
    Some(CacheKey::of(&canonical))
}

/// Generates `req` on `engine`, through `cache` when the request is deterministic.
pub(super) async fn generate(
    engine: &Arc<Engine>,
    cache: Option<&ResponseCache>,
    req: Generate,
    ctx: &RequestContext,
) -> Result<Generation, ServiceError> {
    req.sampling
        .validate()
        .map_err(ServiceError::InvalidRequest)?;
    let key = cache_key(engine, cache, &req);
    if let (Some(key), Some(cache)) = (key, cache)
        && let Some(hit) = cache.get(key)
    {
        if let Some(stream) = &req.stream {
            let _ = stream.send(hit.text.clone());
        }
        return Ok(Generation {
            cached: true,
            ..hit
        });
    }
    let engine = engine.clone();
    let config = engine.config();
    let (stream, sampling) = (req.stream.clone(), req.sampling.clone());
    // Templating, tokenising and building a grammar are CPU work: off the async threads.
    let model = engine.model().clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&model, config, &req))
        .await
        .map_err(|e| ServiceError::Internal(format!("llm task failed: {e}")))??;
    let (events, mut rx) = mpsc::unbounded_channel();
    engine.submit(Job::new(
        prepared.tokens,
        sampling,
        prepared.grammar,
        prepared.max_tokens,
        ctx.deadline.into_std(),
        events,
    ))?;
    let mut text = String::new();
    loop {
        match rx.recv().await {
            Some(Event::Text(piece)) => {
                // A streaming caller that went away cancels the sequence (dropping `rx`).
                if let Some(s) = &stream
                    && s.send(piece.clone()).is_err()
                {
                    return Err(ServiceError::Unavailable("the client went away".into()));
                }
                text.push_str(&piece);
            }
            Some(Event::Done(FinishReason::Deadline, _)) => {
                return Err(ServiceError::Timeout(
                    "the deadline passed mid-generation".into(),
                ));
            }
            Some(Event::Done(finish_reason, usage)) => {
                let answer = Generation {
                    text,
                    finish_reason,
                    usage,
                    cached: false,
                };
                if let (Some(key), Some(cache)) = (key, cache) {
                    cache.put(key, answer.clone());
                }
                return Ok(answer);
            }
            Some(Event::Failed(why)) => return Err(ServiceError::InvalidRequest(why)),
            None => {
                return Err(ServiceError::Internal(
                    "the engine stopped mid-generation (it restarts on the next request)".into(),
                ));
            }
        }
    }
}
