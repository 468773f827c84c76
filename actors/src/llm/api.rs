//! OpenAI's chat and completions request bodies, checked into a [`Generate`] request.
//! Unknown fields are refused (422 naming them), as are values out of range; fields
//! OpenAI accepts that do not apply to a local model (`user`, `logprobs: false`, `n: 1`)
//! are accepted at their neutral value only.

use serde::Deserialize;
use serde_json::Value;

use super::model::ChatMessage;
use super::sampling::{ResponseFormatBody, Sampling};
use super::service::{Generate, Prompt};
use super::tools::{self, ToolCall, ToolChoice, ToolSpec};

pub use super::routes::routes;

/// `stop`: one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StopBody {
    /// One stop sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with the token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// The body of `POST /v1/chat/completions` (with `messages`) and `POST /v1/completions`
/// (with `prompt`): OpenAI's fields, one struct so unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiBody {
    /// The conversation so far (chat).
    pub messages: Option<Vec<MessageBody>>,
    /// A string, or a list holding one (completions).
    pub prompt: Option<Value>,
    /// The model's name (informational: the service's model answers).
    #[serde(default)]
    pub model: Option<String>,
    /// 0 to 2 (default 1).
    pub temperature: Option<f32>,
    /// (0, 1] (default 1).
    pub top_p: Option<f32>,
    /// Keep this many most likely tokens (an extension, as llama-server and vLLM have).
    pub top_k: Option<u32>,
    /// Drop tokens below this fraction of the best (an extension).
    pub min_p: Option<f32>,
    /// Fixed seed.
    pub seed: Option<u64>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// The same, under its newer name.
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences.
    pub stop: Option<StopBody>,
    /// −2 to 2.
    pub presence_penalty: Option<f32>,
    /// −2 to 2.
    pub frequency_penalty: Option<f32>,
    /// `text`, `json_object` or `json_schema`.
    pub response_format: Option<ResponseFormatBody>,
    /// Stream the answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Options of a stream.
    pub stream_options: Option<StreamOptions>,
    /// Choices to generate: 1 only.
    pub n: Option<u32>,
    /// Log probabilities: not offered (false only).
    pub logprobs: Option<bool>,
    /// End-user id (accepted, unused).
    pub user: Option<String>,
    /// `false` bypasses the response cache (an extension).
    pub cache: Option<bool>,
    /// Tools the model may call (chat).
    pub tools: Option<Vec<ToolBody>>,
    /// `none`, `auto`, `required` or `{"type": "function", "function": {"name": …}}`.
    pub tool_choice: Option<Value>,
    /// Whether one reply may call several tools (default true).
    pub parallel_tool_calls: Option<bool>,
}

/// A declared tool: `{"type": "function", "function": {…}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolBody {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionBody,
}

/// A declared function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionBody {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Accepted: the reply always follows the schema (a grammar enforces it).
    #[serde(default)]
    pub strict: Option<bool>,
}

impl OpenAiBody {
    fn sampling(&self, default_max: Option<u32>) -> Result<Sampling, String> {
        if self.n.is_some_and(|n| n != 1) {
            return Err("n: only 1 choice is generated".into());
        }
        if self.logprobs == Some(true) {
            return Err("logprobs: not offered".into());
        }
        let d = Sampling::default();
        let sampling = Sampling {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_p: self.top_p.unwrap_or(d.top_p),
            top_k: self.top_k.unwrap_or(d.top_k),
            min_p: self.min_p.unwrap_or(d.min_p),
            seed: self.seed,
            max_tokens: self
                .max_completion_tokens
                .or(self.max_tokens)
                .or(default_max),
            stop: match &self.stop {
                None => Vec::new(),
                Some(StopBody::One(s)) => vec![s.clone()],
                Some(StopBody::Many(v)) => v.clone(),
            },
            presence_penalty: self.presence_penalty.unwrap_or(d.presence_penalty),
            frequency_penalty: self.frequency_penalty.unwrap_or(d.frequency_penalty),
            response_format: self
                .response_format
                .clone()
                .map(Into::into)
                .unwrap_or_default(),
        };
        sampling.validate()?;
        Ok(sampling)
    }
}

/// One chat message: `content` as text or a list of text parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or `[{"type": "text", "text": …}]` (null for an assistant's tool calls).
    #[serde(default)]
    pub content: Value,
    /// A participant's name (accepted, unused).
    #[serde(default)]
    pub name: Option<String>,
    /// An assistant's calls: `[{"id", "type": "function", "function": {"name",
    /// "arguments": "<JSON>"}}]`.
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

fn read_call(i: usize, j: usize, call: &Value) -> Result<ToolCall, String> {
    let at = format!("messages[{i}].tool_calls[{j}]");
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}.function.name: required"))?;
    let arguments = match call.pointer("/function/arguments") {
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|e| format!("{at}.function.arguments: not valid JSON ({e})"))?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(format!("{at}.function.arguments: required (a JSON string)")),
    };
    Ok(ToolCall {
        id: call
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        name: name.to_string(),
        arguments,
    })
}

impl MessageBody {
    fn read(&self, i: usize) -> Result<ChatMessage, String> {
        let role = match self.role.as_str() {
            "developer" => "system",
            r @ ("system" | "user" | "assistant" | "tool") => r,
            other => return Err(format!("messages[{i}].role: unknown role `{other}`")),
        };
        let content = match (&self.tool_calls, role) {
            (Some(calls), "assistant") if !calls.is_empty() => {
                let calls = calls
                    .iter()
                    .enumerate()
                    .map(|(j, c)| read_call(i, j, c))
                    .collect::<Result<Vec<_>, _>>()?;
                tools::calls_as_text(&calls)
            }
            (Some(_), _) => {
                return Err(format!(
                    "messages[{i}].tool_calls: only assistant messages carry tool calls"
                ));
            }
            (None, _) => content_text(i, &self.content)?,
        };
        if role == "tool" && self.tool_call_id.is_none() {
            return Err(format!(
                "messages[{i}].tool_call_id: required in a tool message"
            ));
        }
        Ok(ChatMessage {
            role: role.into(),
            content,
        })
    }
}

impl OpenAiBody {
    /// The declared tools and the choice, checked.
    fn tool_use(&self) -> Result<(Vec<ToolSpec>, ToolChoice), String> {
        let tools = self
            .tools
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, t)| {
                if t.kind != "function" {
                    return Err(format!("tools[{i}].type: must be `function`"));
                }
                let f = &t.function;
                ToolSpec::new(
                    &f.name,
                    f.description.as_deref().unwrap_or(""),
                    f.parameters.clone(),
                )
                .map_err(|e| format!("tools[{i}]: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let choice = match &self.tool_choice {
            None if tools.is_empty() => ToolChoice::None,
            None => ToolChoice::Auto,
            Some(Value::String(s)) => match s.as_str() {
                "none" => ToolChoice::None,
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                other => {
                    return Err(format!(
                        "tool_choice: unknown value `{other}` (none, auto, required or a function)"
                    ));
                }
            },
            Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) if v.get("type").and_then(Value::as_str) == Some("function") => {
                    ToolChoice::Named(name.to_string())
                }
                _ => {
                    return Err(
                        "tool_choice: must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}".into(),
                    );
                }
            },
        };
        tools::check(&tools, &choice)?;
        Ok((tools, choice))
    }
}

fn content_text(i: usize, content: &Value) -> Result<String, String> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| {
                match (
                    p.get("type").and_then(Value::as_str),
                    p.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => Ok(t),
                    _ => Err(format!(
                        "messages[{i}].content[{j}]: only text parts are supported"
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| texts.concat()),
        _ => Err(format!(
            "messages[{i}].content: must be a string or a list of text parts"
        )),
    }
}

/// What a body asks for.
pub struct Asked {
    /// The generation.
    pub request: Generate,
    /// Whether to stream the answer.
    pub stream: bool,
    /// Whether to end a stream with the token counts.
    pub include_usage: bool,
    /// The declared tools, when the reply is to be read as tool calls or an answer.
    pub tools: Option<Vec<ToolSpec>>,
}

impl OpenAiBody {
    /// A chat request, or what is wrong with the body.
    pub fn into_chat(self) -> Result<Asked, String> {
        if self.prompt.is_some() {
            return Err("prompt: not a chat field (send messages, or use /v1/completions)".into());
        }
        let given = self.messages.clone().unwrap_or_default();
        if given.is_empty() {
            return Err("messages: at least one message is needed".into());
        }
        let messages = given
            .iter()
            .enumerate()
            .map(|(i, m)| m.read(i))
            .collect::<Result<Vec<_>, String>>()?;
        let (tools, choice) = self.tool_use()?;
        let mut asked = self.asked(Prompt::Chat(Vec::new()), None)?;
        let parallel = self.parallel_tool_calls.unwrap_or(true);
        let format = std::mem::take(&mut asked.request.sampling.response_format);
        let callable = tools::reply_schema(&tools, &choice, parallel, &format).is_some();
        let (messages, format) = tools::prepare(messages, &tools, &choice, parallel, format);
        asked.request.sampling.response_format = format;
        asked.request.prompt = Prompt::Chat(messages);
        asked.tools = callable.then_some(tools);
        Ok(asked)
    }

    /// A completion request (OpenAI's default `max_tokens` there is 16), or what is wrong.
    pub fn into_completion(self) -> Result<Asked, String> {
        if self.messages.is_some() {
            return Err(
                "messages: not a completions field (send prompt, or use /v1/chat/completions)"
                    .into(),
            );
        }
        if self.tools.is_some() || self.tool_choice.is_some() {
            return Err("tools: a chat field (use /v1/chat/completions)".into());
        }
        let prompt = match self.prompt.clone().unwrap_or(Value::Null) {
            Value::String(s) => s,
            Value::Array(mut items) if items.len() == 1 && items[0].is_string() => items
                .pop()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            _ => return Err("prompt: must be a string (one prompt per request)".into()),
        };
        if prompt.is_empty() {
            return Err("prompt: must not be empty".into());
        }
        self.asked(Prompt::Text(prompt), Some(16))
    }

    fn asked(&self, prompt: Prompt, default_max: Option<u32>) -> Result<Asked, String> {
        let sampling = self.sampling(default_max)?;
        let include_usage = self
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        let request = Generate {
            prompt,
            sampling,
            stream: None,
            cache: self.cache.unwrap_or(true),
        };
        Ok(Asked {
            request,
            stream: self.stream,
            include_usage,
            tools: None,
        })
    }
}
