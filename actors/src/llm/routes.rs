//! `POST /v1/chat/completions`, `POST /v1/completions` and `GET /v1/models`, compatible
//! with OpenAI's API: whole answers, or server-sent events (`data: {chunk}` … `data:
//! [DONE]`) with an optional usage chunk. A client that disconnects mid-stream cancels its
//! sequence: the stream is dropped, which aborts the call and frees the engine's slot.
//! With `tools`, the reply (constrained to calls or an answer) is read whole and answered
//! as `tool_calls` (finish reason `tool_calls`) or as content; a stream carries it in one
//! delta.

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
use super::tools::{self, ModelTurn, ToolCall, ToolSpec};
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
                let (message, finish) = message(g, None, false);
                json!({ "index": 0, "message": message, "logprobs": null, "finish_reason": finish })
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

/// The assistant's message and finish reason: text, or (with `tools`) the calls the reply
/// makes or the answer it gives. A reply that does not read as either (cut off by
/// `max_tokens`) is returned as its text.
fn message(g: &Generation, tools: Option<&[ToolSpec]>, delta: bool) -> (Value, &'static str) {
    let text_message = |text: &str| json!({ "role": "assistant", "content": text });
    let Some(tools) = tools else {
        return (text_message(&g.text), g.finish_reason.as_str());
    };
    match tools::read_reply(&g.text, tools) {
        Ok(ModelTurn::Calls(calls)) => (
            json!({ "role": "assistant", "content": null, "tool_calls": calls_json(&calls, delta) }),
            "tool_calls",
        ),
        Ok(ModelTurn::Answer(text)) => (text_message(&text), g.finish_reason.as_str()),
        Err(_) => (text_message(&g.text), g.finish_reason.as_str()),
    }
}

fn calls_json(calls: &[ToolCall], with_index: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut call = json!({ "id": c.id, "type": "function",
                "function": { "name": c.name, "arguments": c.arguments.to_string() } });
            if with_index {
                call["index"] = json!(i);
            }
            call
        })
        .collect()
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
    let Asked {
        request,
        stream: streaming,
        include_usage,
        tools,
    } = asked.map_err(ApiError::invalid)?;
    // The service runs one model; a request naming another is served by it, as
    // llama-server does, and the answer names the model that served it.
    let served = client.model(options.clone()).await?.name;
    let head = Head::new(kind, served);
    if let Some(tools) = tools {
        // A reply with calls is read whole; a stream then carries it as one delta.
        let g = client
            .generate(request.prompt, request.sampling, request.cache, options)
            .await?;
        let (message, finish) = message(&g, Some(&tools), streaming);
        if !streaming {
            let choice = json!({ "index": 0, "message": message, "logprobs": null, "finish_reason": finish });
            let mut whole = head.whole(&g);
            whole["choices"] = json!([choice]);
            return Ok(Json(whole).into_response());
        }
        let mut delta = message;
        if let Some(obj) = delta.as_object_mut() {
            obj.retain(|_, v| !v.is_null());
        }
        let mut lines = vec![
            head.chunk(Some(""), None, true).to_string(),
            json!({ "id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": null }] })
            .to_string(),
            head.chunk(None, Some(finish), false).to_string(),
        ];
        if include_usage {
            lines.push(head.usage_chunk(&g).to_string());
        }
        lines.push("[DONE]".into());
        let events = stream::iter(lines).map(|v| Ok::<_, Infallible>(SseEvent::default().data(v)));
        return Ok(Sse::new(events).into_response());
    }
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
