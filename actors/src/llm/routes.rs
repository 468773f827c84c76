//! `POST /v1/chat/completions`, `POST /v1/completions` and `GET /v1/models`, compatible
//! with OpenAI's API: whole answers, or server-sent events (`data: {chunk}` … `data:
//! [DONE]`) with an optional usage chunk. A client that disconnects mid-stream cancels its
//! sequence: the stream is dropped, which aborts the call and frees the engine's slot.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt as _};
use serde_json::{Value, json};
use swarm_runtime::CallOptions;

use super::api::{Asked, OpenAiBody};
use super::client::{LlmClient, TokenStream};
use super::service::Generation;
use crate::http::{ApiError, Call, Limits, ValidJson};

/// Which route shapes the answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Text,
}

/// The chat, completions and models routes.
pub fn routes(client: LlmClient, _limits: &Limits) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .with_state(client)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn usage(g: &Generation) -> Value {
    let (p, c) = (g.usage.prompt_tokens, g.usage.completion_tokens);
    json!({ "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c })
}

/// The fields every answer and chunk carries.
struct Head {
    id: String,
    created: u64,
    model: String,
    kind: Kind,
}

impl Head {
    fn new(kind: Kind, model: String) -> Self {
        let prefix = if kind == Kind::Chat {
            "chatcmpl"
        } else {
            "cmpl"
        };
        Self {
            id: format!("{prefix}-{:016x}", rand::random::<u64>()),
            created: now_secs(),
            model,
            kind,
        }
    }

    fn whole(&self, g: &Generation) -> Value {
        let choice = match self.kind {
            Kind::Chat => {
                json!({ "index": 0, "message": { "role": "assistant", "content": g.text }, "logprobs": null, "finish_reason": g.finish_reason.as_str() })
            }
            Kind::Text => {
                json!({ "index": 0, "text": g.text, "logprobs": null, "finish_reason": g.finish_reason.as_str() })
            }
        };
        let object = if self.kind == Kind::Chat {
            "chat.completion"
        } else {
            "text_completion"
        };
        json!({ "id": self.id, "object": object, "created": self.created, "model": self.model, "choices": [choice], "usage": usage(g) })
    }

    fn chunk(&self, text: Option<&str>, finish: Option<&str>, first: bool) -> Value {
        let choice = match self.kind {
            Kind::Chat => {
                let mut delta = serde_json::Map::new();
                if first {
                    delta.insert("role".into(), "assistant".into());
                }
                if let Some(t) = text {
                    delta.insert("content".into(), t.into());
                }
                json!({ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish })
            }
            Kind::Text => {
                json!({ "index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish })
            }
        };
        let object = if self.kind == Kind::Chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        json!({ "id": self.id, "object": object, "created": self.created, "model": self.model, "choices": [choice] })
    }

    fn usage_chunk(&self, g: &Generation) -> Value {
        let object = if self.kind == Kind::Chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        json!({ "id": self.id, "object": object, "created": self.created, "model": self.model, "choices": [], "usage": usage(g) })
    }
}

async fn chat(
    State(client): State<LlmClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<OpenAiBody>,
) -> Result<Response, ApiError> {
    answer(client, options, Kind::Chat, body.into_chat()).await
}

async fn completions(
    State(client): State<LlmClient>,
    Call(options): Call,
    ValidJson(body): ValidJson<OpenAiBody>,
) -> Result<Response, ApiError> {
    answer(client, options, Kind::Text, body.into_completion()).await
}

async fn answer(
    client: LlmClient,
    options: CallOptions,
    kind: Kind,
    asked: Result<Asked, String>,
) -> Result<Response, ApiError> {
    let (request, streaming, include_usage) = asked.map_err(ApiError::invalid)?;
    // The service runs one model; a request naming another is served by it, as
    // llama-server does, and the answer names the model that served it.
    let served = client.model(options.clone()).await?.name;
    let head = Head::new(kind, served);
    if !streaming {
        let g = client
            .generate(request.prompt, request.sampling, request.cache, options)
            .await?;
        return Ok(Json(head.whole(&g)).into_response());
    }
    let tokens = client.stream(request.prompt, request.sampling, request.cache, options);
    let events =
        sse(head, tokens, include_usage).map(|v| Ok::<_, Infallible>(SseEvent::default().data(v)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

enum Stage {
    First,
    Text,
    Ended,
}

/// The stream's data lines: a first chunk with the role, one chunk per piece of text, a
/// last chunk with `finish_reason` (or an error object), the usage chunk if asked, `[DONE]`.
fn sse(head: Head, tokens: TokenStream, include_usage: bool) -> impl Stream<Item = String> {
    stream::unfold(
        (head, tokens, Stage::First),
        move |(head, mut tokens, stage)| async move {
            match stage {
                Stage::First => {
                    let first = head.chunk(
                        if head.kind == Kind::Chat {
                            Some("")
                        } else {
                            None
                        },
                        None,
                        true,
                    );
                    Some((vec![first.to_string()], (head, tokens, Stage::Text)))
                }
                Stage::Text => match tokens.pieces.recv().await {
                    Some(piece) => Some((
                        vec![head.chunk(Some(&piece), None, false).to_string()],
                        (head, tokens, Stage::Text),
                    )),
                    None => {
                        let result = match (&mut tokens.result).await {
                            Ok(r) => r.map_err(ApiError::from),
                            Err(e) => Err(ApiError::from(swarm_runtime::SwarmError::Internal(
                                e.to_string(),
                            ))),
                        };
                        let mut lines = Vec::new();
                        match result {
                            Ok(g) => {
                                lines.push(
                                    head.chunk(None, Some(g.finish_reason.as_str()), false)
                                        .to_string(),
                                );
                                if include_usage {
                                    lines.push(head.usage_chunk(&g).to_string());
                                }
                            }
                            Err(e) => lines.push(e.body().to_string()),
                        }
                        lines.push("[DONE]".into());
                        Some((lines, (head, tokens, Stage::Ended)))
                    }
                },
                Stage::Ended => None,
            }
        },
    )
    .flat_map(stream::iter)
}

async fn models(
    State(client): State<LlmClient>,
    Call(options): Call,
) -> Result<Json<Value>, ApiError> {
    let info = client.model(options).await?;
    Ok(Json(json!({
        "object": "list",
        "data": [{ "id": info.name, "object": "model", "created": 0, "owned_by": "swarm", "context_length": info.context }]
    })))
}
