//! Tool calling in OpenAI's shape on any chat model, small ones included: the tools and
//! the reply format are described to the model in its system message, and its reply is
//! constrained by a grammar (from a JSON schema) to either a final answer or calls of
//! declared tools with arguments of each tool's schema — so even a 135M model emits
//! well-formed calls. Pure functions: the HTTP routes and the agents both use them.
//!
//! The reply the grammar allows is one JSON object: `{"tool_calls": [{"function": …,
//! "parameters": {…}}, …]}` or (when the model may answer) `{"content": …}`. The keys
//! are chosen so their alphabetical order — the order the schema's properties reach the
//! grammar — puts the tool's name before its arguments: a small model that has named
//! the tool writes arguments for it. Earlier tool calls in the conversation are shown to
//! the model in that same form, and tool results as `tool` messages. A reply that
//! repeats a call (same tool, same arguments) is read as that call once.

use serde_json::{Map, Value, json};

use super::model::ChatMessage;
use super::sampling::ResponseFormat;

/// Most tools one request may declare.
pub const MAX_TOOLS: usize = 128;
/// Most calls in one reply.
pub const MAX_PARALLEL_CALLS: usize = 8;

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolSpec {
    /// Its name (1–64 of `a-z A-Z 0-9 _ -`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The JSON schema of its arguments (an object schema).
    pub parameters: Value,
}

/// Whether and which tools the model must call (OpenAI's `tool_choice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// No calls: the model answers.
    None,
    /// The model answers or calls tools.
    #[default]
    Auto,
    /// The model calls one or more tools.
    Required,
    /// The model calls this tool.
    Named(String),
}

/// One call the model made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// Its id (`call_…`), for the tool message that answers it.
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its arguments (a JSON object).
    pub arguments: Value,
}

/// What the model did in one turn.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelTurn {
    /// A final answer (text, or JSON text under a response format).
    Answer(String),
    /// Calls of declared tools, in order.
    Calls(Vec<ToolCall>),
}

impl ToolSpec {
    /// A tool; `parameters` `None` takes no arguments.
    pub fn new(name: &str, description: &str, parameters: Option<Value>) -> Result<Self, String> {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            return Err(format!(
                "tool name `{name}`: must be 1 to 64 letters, digits, `_` or `-`"
            ));
        }
        let parameters =
            parameters.unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        match parameters.get("type").and_then(Value::as_str) {
            Some("object") => {}
            _ => {
                return Err(format!(
                    "tool `{name}`: parameters must be an object schema (`\"type\": \"object\"`)"
                ));
            }
        }
        Ok(Self {
            name: name.to_string(),
            description: description.to_string(),
            parameters,
        })
    }
}

/// Checks a request's tools and choice: names unique, a named choice declared.
pub fn check(tools: &[ToolSpec], choice: &ToolChoice) -> Result<(), String> {
    if tools.len() > MAX_TOOLS {
        return Err(format!("tools: at most {MAX_TOOLS}"));
    }
    for (i, t) in tools.iter().enumerate() {
        if tools[..i].iter().any(|u| u.name == t.name) {
            return Err(format!("tools[{i}]: `{}` is declared twice", t.name));
        }
    }
    match choice {
        ToolChoice::Named(n) if !tools.iter().any(|t| &t.name == n) => Err(format!(
            "tool_choice: `{n}` is not one of the declared tools"
        )),
        ToolChoice::Required | ToolChoice::Named(_) if tools.is_empty() => {
            Err("tool_choice: no tools are declared".into())
        }
        _ => Ok(()),
    }
}

fn call_schema(tool: &ToolSpec) -> Value {
    json!({
        "type": "object",
        "properties": { "function": { "const": tool.name }, "parameters": tool.parameters },
        "required": ["function", "parameters"],
        "additionalProperties": false
    })
}

/// The schema of the reply: calls of the tools `choice` allows, or (under `Auto`) an
/// answer whose `content` follows `answer` (a string for free text). `None` when the model
/// may not call tools (`choice` is `None`, or no tools).
pub fn reply_schema(
    tools: &[ToolSpec],
    choice: &ToolChoice,
    parallel: bool,
    answer: &ResponseFormat,
) -> Option<Value> {
    let callable: Vec<&ToolSpec> = match choice {
        ToolChoice::None => return None,
        ToolChoice::Named(n) => tools.iter().filter(|t| &t.name == n).collect(),
        ToolChoice::Auto | ToolChoice::Required => tools.iter().collect(),
    };
    if callable.is_empty() {
        return None;
    }
    let one: Vec<Value> = callable.iter().map(|t| call_schema(t)).collect();
    let item = if one.len() == 1 {
        one[0].clone()
    } else {
        json!({ "oneOf": one })
    };
    let max = if parallel && !matches!(choice, ToolChoice::Named(_)) {
        MAX_PARALLEL_CALLS
    } else {
        1
    };
    let calls = json!({
        "type": "object",
        "properties": { "tool_calls": { "type": "array", "items": item, "minItems": 1, "maxItems": max } },
        "required": ["tool_calls"],
        "additionalProperties": false
    });
    if *choice != ToolChoice::Auto {
        return Some(calls);
    }
    let content = match answer {
        ResponseFormat::Text => json!({ "type": "string" }),
        ResponseFormat::JsonObject => json!({ "type": "object" }),
        ResponseFormat::JsonSchema(schema) => schema.clone(),
    };
    let answer = json!({
        "type": "object",
        "properties": { "content": content },
        "required": ["content"],
        "additionalProperties": false
    });
    Some(json!({ "oneOf": [calls, answer] }))
}

/// What the model is told about the tools and the reply format.
pub fn instructions(tools: &[ToolSpec], choice: &ToolChoice) -> String {
    let listed: Vec<Value> = tools
        .iter()
        .map(
            |t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }),
        )
        .collect();
    let list = Value::Array(listed).to_string();
    let how = "To call tools, reply with JSON: {\"tool_calls\": [{\"function\": \"<tool>\", \"parameters\": {…}}]}, each call once. Tool results come back in `tool` messages.";
    let when = match choice {
        ToolChoice::Auto => {
            " To answer without a tool, reply with JSON: {\"content\": \"<answer>\"}. Use a tool when it can answer better than you."
        }
        ToolChoice::Required => " Call at least one tool now.",
        ToolChoice::Named(_) => " Call the tool named in the schema now.",
        ToolChoice::None => "",
    };
    format!("You can use these tools: {list}\n{how}{when}")
}

/// The conversation as the model sees it: the tool instructions joined to the first
/// system message (or a system message of their own in front), and the request's
/// response format turned into the reply schema. With no callable tools the messages
/// and format are returned as they are.
pub fn prepare(
    mut messages: Vec<ChatMessage>,
    tools: &[ToolSpec],
    choice: &ToolChoice,
    parallel: bool,
    format: ResponseFormat,
) -> (Vec<ChatMessage>, ResponseFormat) {
    let Some(schema) = reply_schema(tools, choice, parallel, &format) else {
        return (messages, format);
    };
    let told = instructions(tools, choice);
    match messages.iter_mut().find(|m| m.role == "system") {
        Some(system) => {
            system.content.push_str("\n\n");
            system.content.push_str(&told);
        }
        None => messages.insert(
            0,
            ChatMessage {
                role: "system".into(),
                content: told,
            },
        ),
    }
    (messages, ResponseFormat::JsonSchema(schema))
}

/// An earlier assistant turn that called tools, as the model writes such a turn.
pub fn calls_as_text(calls: &[ToolCall]) -> String {
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| json!({ "function": c.name, "parameters": c.arguments }))
        .collect();
    json!({ "tool_calls": calls }).to_string()
}

/// A fresh call id.
pub fn call_id() -> String {
    format!("call_{:024x}", rand::random::<u128>() >> 32)
}

/// Reads the model's reply (made under [`reply_schema`]): its calls, or its answer
/// (`content` as text, or as JSON text when it is not a string). A reply that is not
/// such JSON — cut off by `max_tokens`, or made without the grammar — is an error naming
/// what is wrong, for the caller to report or feed back to the model.
pub fn read_reply(text: &str, tools: &[ToolSpec]) -> Result<ModelTurn, String> {
    let reply: Map<String, Value> = match serde_json::from_str(text.trim()) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err("the reply is not a JSON object".into()),
        Err(e) => return Err(format!("the reply is not valid JSON ({e})")),
    };
    if let Some(content) = reply.get("content") {
        return Ok(ModelTurn::Answer(match content {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    let Some(Value::Array(calls)) = reply.get("tool_calls") else {
        return Err("the reply has neither `content` nor a `tool_calls` list".into());
    };
    if calls.is_empty() {
        return Err("`tool_calls` is empty".into());
    }
    let mut read: Vec<ToolCall> = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let name = c
            .get("function")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !tools.iter().any(|t| t.name == name) {
            return Err(format!("tool_calls[{i}]: `{name}` is not a declared tool"));
        }
        let arguments = match c.get("parameters") {
            Some(a @ Value::Object(_)) => a.clone(),
            _ => return Err(format!("tool_calls[{i}]: `parameters` must be an object")),
        };
        if !read
            .iter()
            .any(|r| r.name == name && r.arguments == arguments)
        {
            read.push(ToolCall {
                id: call_id(),
                name: name.to_string(),
                arguments,
            });
        }
    }
    Ok(ModelTurn::Calls(read))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "get_weather",
                "The weather in a city.",
                Some(json!({ "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] })),
            )
            .unwrap(),
            ToolSpec::new("now", "The time.", None).unwrap(),
        ]
    }

    #[test]
    fn bad_names_duplicates_and_unknown_choices_are_refused() {
        assert!(ToolSpec::new("", "x", None).is_err());
        assert!(ToolSpec::new("a b", "x", None).is_err());
        assert!(ToolSpec::new("x", "x", Some(json!({ "type": "string" }))).is_err());
        let mut twice = tools();
        twice.push(twice[0].clone());
        assert!(
            check(&twice, &ToolChoice::Auto)
                .unwrap_err()
                .contains("twice")
        );
        let named = ToolChoice::Named("nope".into());
        assert!(check(&tools(), &named).unwrap_err().contains("not one of"));
        assert!(check(&[], &ToolChoice::Required).is_err());
        check(&tools(), &ToolChoice::Named("now".into())).unwrap();
    }

    #[test]
    fn the_schema_allows_what_the_choice_allows() {
        let t = tools();
        assert_eq!(
            reply_schema(&t, &ToolChoice::None, true, &ResponseFormat::Text),
            None
        );
        let required =
            reply_schema(&t, &ToolChoice::Required, true, &ResponseFormat::Text).unwrap();
        assert_eq!(required["properties"]["tool_calls"]["maxItems"], 8);
        assert_eq!(
            required["properties"]["tool_calls"]["items"]["oneOf"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let named = reply_schema(
            &t,
            &ToolChoice::Named("now".into()),
            true,
            &ResponseFormat::Text,
        )
        .unwrap();
        assert_eq!(named["properties"]["tool_calls"]["maxItems"], 1);
        assert_eq!(
            named["properties"]["tool_calls"]["items"]["properties"]["function"]["const"],
            "now"
        );
        let auto = reply_schema(&t, &ToolChoice::Auto, false, &ResponseFormat::JsonObject).unwrap();
        assert_eq!(auto["oneOf"][0]["properties"]["tool_calls"]["maxItems"], 1);
        assert_eq!(
            auto["oneOf"][1]["properties"]["content"],
            json!({ "type": "object" })
        );
    }

    #[test]
    fn instructions_join_the_system_message_or_lead_the_conversation() {
        let user = ChatMessage {
            role: "user".into(),
            content: "Weather in Oslo?".into(),
        };
        let (m, f) = prepare(
            vec![user.clone()],
            &tools(),
            &ToolChoice::Auto,
            true,
            ResponseFormat::Text,
        );
        assert_eq!((m.len(), m[0].role.as_str()), (2, "system"));
        assert!(m[0].content.contains("get_weather") && m[0].content.contains("\"content\""));
        assert!(matches!(f, ResponseFormat::JsonSchema(_)));
        let system = ChatMessage {
            role: "system".into(),
            content: "Be brief.".into(),
        };
        let (m, _) = prepare(
            vec![system, user.clone()],
            &tools(),
            &ToolChoice::Required,
            true,
            ResponseFormat::Text,
        );
        assert_eq!(m.len(), 2);
        assert!(
            m[0].content
                .starts_with("Be brief.\n\nYou can use these tools")
        );
        let (m, f) = prepare(
            vec![user],
            &tools(),
            &ToolChoice::None,
            true,
            ResponseFormat::Text,
        );
        assert_eq!((m.len(), f), (1, ResponseFormat::Text));
    }

    #[test]
    fn replies_read_as_calls_or_answers_and_bad_ones_say_why() {
        let t = tools();
        let calls = read_reply(r#" {"tool_calls": [{"function": "get_weather", "parameters": {"city": "Oslo"}}, {"function": "now", "parameters": {}}, {"function": "now", "parameters": {}}]}"#, &t).unwrap();
        let ModelTurn::Calls(calls) = calls else {
            panic!("calls")
        };
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].name.as_str(), &calls[0].arguments),
            ("get_weather", &json!({ "city": "Oslo" }))
        );
        assert!(calls[0].id.starts_with("call_") && calls[0].id != calls[1].id);
        assert_eq!(
            read_reply(r#"{"content": "Hi"}"#, &t).unwrap(),
            ModelTurn::Answer("Hi".into())
        );
        assert_eq!(
            read_reply(r#"{"content": {"a": 1}}"#, &t).unwrap(),
            ModelTurn::Answer(r#"{"a":1}"#.into())
        );
        assert!(
            read_reply(r#"{"tool_calls": [{"function": "get_wea"#, &t)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            read_reply(
                r#"{"tool_calls": [{"function": "rm", "parameters": {}}]}"#,
                &t
            )
            .unwrap_err()
            .contains("not a declared tool")
        );
        assert!(
            read_reply(
                r#"{"tool_calls": [{"function": "now", "parameters": 3}]}"#,
                &t
            )
            .unwrap_err()
            .contains("must be an object")
        );
        assert!(read_reply("[]", &t).is_err());
        let text = calls_as_text(&calls);
        let ModelTurn::Calls(again) = read_reply(&text, &t).unwrap() else {
            panic!("calls")
        };
        assert_eq!(again[1].name, "now");
    }
}
