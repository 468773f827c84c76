//! A remote pool of the `llm` service: the request becomes an OpenAI chat (or text)
//! completion on the remote server; a streaming request streams there too and its pieces
//! are passed on as they arrive.

use serde_json::{Value, json};
use swarm_runtime::ServiceError;
use tokio::time::Instant;

use super::ChatMessage;
use super::job::{FinishReason, Usage};
use super::sampling::ResponseFormat;
use super::service::{Generate, Generation, Prompt};
use crate::remote::{OpenAiServer, RemoteError};

/// The remote server and the model name it is asked for.
#[derive(Debug)]
pub struct RemoteLlm {
    server: OpenAiServer,
    model: String,
}

impl RemoteLlm {
    /// Generation on `server`, asking for `model`.
    pub fn new(server: OpenAiServer, model: String) -> Self {
        Self { server, model }
    }

    /// The model name sent.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Generates on the remote server.
    pub async fn generate(
        &self,
        req: &Generate,
        deadline: Instant,
    ) -> Result<Generation, ServiceError> {
        let (path, body) = self.body(req);
        let chat = matches!(req.prompt, Prompt::Chat(_));
        let Some(stream) = &req.stream else {
            let answer = self.server.json(path, &body, deadline).await?;
            return parse_whole(&answer, chat).map_err(ServiceError::from);
        };
        let mut text = String::new();
        let mut finish = FinishReason::Stop;
        let mut usage = Usage::default();
        let mut gone = false;
        self.server
            .stream(path, &body, deadline, |event| {
                if let Some(u) = event.get("usage").filter(|u| !u.is_null()) {
                    usage = read_usage(u);
                }
                let Some(choice) = event.pointer("/choices/0") else {
                    return true;
                };
                let piece = if chat {
                    choice.pointer("/delta/content")
                } else {
                    choice.get("text")
                };
                if let Some(piece) = piece.and_then(Value::as_str).filter(|p| !p.is_empty()) {
                    if stream.send(piece.to_string()).is_err() {
                        gone = true;
                        return false;
                    }
                    text.push_str(piece);
                }
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    finish = finish_reason(reason);
                }
                true
            })
            .await?;
        if gone {
            return Err(ServiceError::Unavailable("the client went away".into()));
        }
        Ok(Generation {
            text,
            finish_reason: finish,
            usage,
            cached: false,
        })
    }

    /// The endpoint and OpenAI body for `req`.
    fn body(&self, req: &Generate) -> (&'static str, Value) {
        let s = &req.sampling;
        let mut body = json!({
            "model": self.model,
            "temperature": s.temperature,
            "top_p": s.top_p,
        });
        let map = body.as_object_mut();
        let Some(map) = map else {
            return ("/v1/chat/completions", body);
        };
        let path = match &req.prompt {
            Prompt::Chat(messages) => {
                map.insert("messages".into(), Value::Array(openai_messages(messages)));
                "/v1/chat/completions"
            }
            Prompt::Text(text) => {
                map.insert("prompt".into(), json!(text));
                "/v1/completions"
            }
        };
        if let Some(m) = s.max_tokens {
            map.insert("max_tokens".into(), json!(m));
        }
        if let Some(seed) = s.seed {
            map.insert("seed".into(), json!(seed));
        }
        if !s.stop.is_empty() {
            map.insert("stop".into(), json!(s.stop));
        }
        if s.presence_penalty != 0.0 {
            map.insert("presence_penalty".into(), json!(s.presence_penalty));
        }
        if s.frequency_penalty != 0.0 {
            map.insert("frequency_penalty".into(), json!(s.frequency_penalty));
        }
        // Not in OpenAI's API; llama-server and vLLM take them. Sent only when set.
        if s.top_k > 0 {
            map.insert("top_k".into(), json!(s.top_k));
        }
        if s.min_p > 0.0 {
            map.insert("min_p".into(), json!(s.min_p));
        }
        match &s.response_format {
            ResponseFormat::Text => {}
            ResponseFormat::JsonObject => {
                map.insert("response_format".into(), json!({ "type": "json_object" }));
            }
            ResponseFormat::JsonSchema(schema) => {
                map.insert(
                    "response_format".into(),
                    json!({ "type": "json_schema", "json_schema": { "name": "response", "schema": schema } }),
                );
            }
        }
        if req.stream.is_some() {
            map.insert("stream".into(), json!(true));
            map.insert("stream_options".into(), json!({ "include_usage": true }));
        }
        (path, body)
    }
}

fn parse_whole(answer: &Value, chat: bool) -> Result<Generation, RemoteError> {
    let choice = answer
        .pointer("/choices/0")
        .ok_or_else(|| RemoteError::Protocol("remote answer has no choices".into()))?;
    let text = if chat {
        choice.pointer("/message/content")
    } else {
        choice.get("text")
    };
    let text = text
        .and_then(Value::as_str)
        .ok_or_else(|| RemoteError::Protocol("remote answer has no text".into()))?;
    Ok(Generation {
        text: text.to_string(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map_or(FinishReason::Stop, finish_reason),
        usage: answer.get("usage").map(read_usage).unwrap_or_default(),
        cached: false,
    })
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

fn read_usage(u: &Value) -> Usage {
    let n = |k: &str| {
        u.get(k)
            .and_then(Value::as_u64)
            .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
    };
    Usage {
        prompt_tokens: n("prompt_tokens"),
        completion_tokens: n("completion_tokens"),
    }
}

/// The conversation as OpenAI's API takes it. An assistant turn that called tools, as
/// [`calls_as_text`](super::tools::calls_as_text) writes it (the agent loop's history),
/// goes as `tool_calls` with ids, and each `tool` message after it answers the next id
/// (servers refuse a tool message without one); a swarm serving the call turns them back
/// into the same text, so the prompt is the one a local model sees. A tool message with
/// no call left to answer goes as a user message.
fn openai_messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len());
    let mut unanswered = std::collections::VecDeque::new();
    for (i, m) in messages.iter().enumerate() {
        let calls = (m.role == "assistant")
            .then(|| written_calls(&m.content))
            .flatten();
        if let Some(calls) = calls {
            unanswered.clear();
            let calls: Vec<Value> = calls
                .into_iter()
                .enumerate()
                .map(|(j, (name, arguments))| {
                    let id = format!("call_{i}_{j}");
                    unanswered.push_back(id.clone());
                    json!({ "id": id, "type": "function",
                        "function": { "name": name, "arguments": arguments.to_string() } })
                })
                .collect();
            out.push(json!({ "role": "assistant", "content": null, "tool_calls": calls }));
        } else if m.role == "tool" {
            out.push(match unanswered.pop_front() {
                Some(id) => json!({ "role": "tool", "tool_call_id": id, "content": m.content }),
                None => json!({ "role": "user", "content": format!("Tool result: {}", m.content) }),
            });
        } else {
            out.push(json!({ "role": m.role, "content": m.content }));
        }
    }
    out
}

/// The calls in an assistant turn written as `{"tool_calls": [{"function", "parameters"}]}`.
fn written_calls(content: &str) -> Option<Vec<(String, Value)>> {
    let reply: Value = serde_json::from_str(content).ok()?;
    let obj = reply.as_object().filter(|o| o.len() == 1)?;
    obj.get("tool_calls")?
        .as_array()
        .filter(|calls| !calls.is_empty())?
        .iter()
        .map(|c| {
            let name = c.get("function")?.as_str()?;
            let arguments = c.get("parameters").filter(|a| a.is_object())?;
            Some((name.to_string(), arguments.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::tools::{ToolCall, calls_as_text};

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn an_agents_tool_turns_go_as_openai_tool_calls_and_answers() {
        let call = ToolCall {
            id: "x".into(),
            name: "solve_game".into(),
            arguments: json!({ "row": [[1, 0]], "col": [[0, 1]] }),
        };
        let messages = [
            msg("system", "s"),
            msg("user", "u"),
            msg("assistant", &calls_as_text(std::slice::from_ref(&call))),
            msg("tool", "{\"ok\":1}"),
            msg("tool", "extra"),
            msg("assistant", "not json"),
        ];
        let out = openai_messages(&messages);
        assert_eq!(out[2]["tool_calls"][0]["id"], "call_2_0");
        assert_eq!(out[2]["tool_calls"][0]["function"]["name"], "solve_game");
        let args: Value = serde_json::from_str(
            out[2]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or(""),
        )
        .unwrap_or_default();
        assert_eq!(args, call.arguments);
        assert_eq!(out[2]["content"], Value::Null);
        assert_eq!(
            out[3],
            json!({ "role": "tool", "tool_call_id": "call_2_0", "content": "{\"ok\":1}" })
        );
        assert_eq!(
            out[4],
            json!({ "role": "user", "content": "Tool result: extra" })
        );
        assert_eq!(
            out[5],
            json!({ "role": "assistant", "content": "not json" })
        );
        assert_eq!(out[0], json!({ "role": "system", "content": "s" }));
    }
}
