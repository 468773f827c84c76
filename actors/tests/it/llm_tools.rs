//! Tool calling on `/v1/chat/completions` with the real SmolLM2-135M-Instruct: under the
//! grammar every reply is a well-formed call of a declared tool (or, under `auto`, a
//! call or an answer), arguments follow the tool's schema, a named choice calls that
//! tool, a conversation with earlier calls and tool results is accepted, streams carry
//! the calls in one delta, and bad tool fields are 422 naming the field.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use common::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn yaml() -> String {
    format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params:\n      model: {}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf\n      context: 1024\n      threads: 2\n",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn tools() -> Value {
    json!([
        { "type": "function", "function": { "name": "get_weather", "description": "The current weather in a city.",
          "parameters": { "type": "object", "properties": { "city": { "type": "string" }, "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] } },
                          "required": ["city", "unit"], "additionalProperties": false } } },
        { "type": "function", "function": { "name": "add", "description": "Adds two integers.",
          "parameters": { "type": "object", "properties": { "a": { "type": "integer" }, "b": { "type": "integer" } },
                          "required": ["a", "b"], "additionalProperties": false } } }
    ])
}

fn body(prompt: &str, extra: Value) -> Value {
    let mut b = json!({ "model": "SmolLM2", "messages": [{ "role": "user", "content": prompt }],
        "temperature": 0, "max_tokens": 320, "tools": tools(), "cache": false });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// Checks a call against the declared schemas; its name and arguments.
fn checked_call(call: &Value) -> (String, Value) {
    assert_eq!(call["type"], "function", "{call}");
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    let name = call["function"]["name"].as_str().unwrap().to_string();
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    match name.as_str() {
        "get_weather" => {
            assert!(args["city"].is_string(), "{args}");
            assert!(
                ["celsius", "fahrenheit"].contains(&args["unit"].as_str().unwrap()),
                "{args}"
            );
            assert_eq!(args.as_object().unwrap().len(), 2, "{args}");
        }
        "add" => {
            assert!(args["a"].is_i64() && args["b"].is_i64(), "{args}");
            assert_eq!(args.as_object().unwrap().len(), 2, "{args}");
        }
        other => panic!("not a declared tool: {other}"),
    }
    (name, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_and_named_choices_give_well_formed_calls() {
    let (swarm, url) = common::start(&yaml()).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");
    let prompts = [
        "What is the weather in Paris?",
        "Add 2 and 3.",
        "Is it raining in Tokyo right now? Use celsius.",
        "What is 40 plus 2?",
    ];
    for prompt in prompts {
        let (s, v) = post(
            &c,
            endpoint.clone(),
            body(prompt, json!({ "tool_choice": "required" })),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{prompt}: {v}");
        assert!(choice["message"]["content"].is_null(), "{v}");
        let calls = choice["message"]["tool_calls"].as_array().unwrap();
        assert!(!calls.is_empty() && calls.len() <= 8, "{v}");
        calls.iter().for_each(|call| {
            checked_call(call);
        });
    }
    // A named tool is the one called, once.
    let named = json!({ "tool_choice": { "type": "function", "function": { "name": "add" } } });
    let (s, v) = post(
        &c,
        endpoint.clone(),
        body("What is the weather in Paris?", named),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{v}");
    assert_eq!(checked_call(&calls[0]).0, "add");
    // One call per reply when parallel calls are off.
    let (_, v) = post(
        &c,
        endpoint.clone(),
        body(
            "Add 1 and 2, and 3 and 4.",
            json!({ "tool_choice": "required", "parallel_tool_calls": false }),
        ),
    )
    .await;
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{v}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_answers_or_calls_and_a_tool_result_is_taken_back() {
    let (swarm, url) = common::start(&yaml()).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");
    for prompt in ["What is the weather in Paris?", "Say hello."] {
        let (s, v) = post(&c, endpoint.clone(), body(prompt, json!({}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let choice = &v["choices"][0];
        match choice["finish_reason"].as_str().unwrap() {
            "tool_calls" => {
                for call in choice["message"]["tool_calls"].as_array().unwrap() {
                    checked_call(call);
                }
            }
            "stop" => assert!(choice["message"]["content"].is_string(), "{v}"),
            other => panic!("{other}: {v}"),
        }
    }
    // The conversation goes on after a call and its result: the model answers in text.
    let history = json!([
        { "role": "user", "content": "What is the weather in Paris?" },
        { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
            "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}" } }] },
        { "role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21, \"sky\": \"sunny\"}" }
    ]);
    let (s, v) = post(
        &c,
        endpoint.clone(),
        body("", json!({ "messages": history, "tool_choice": "none" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        !v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    assert!(
        v["choices"][0]["message"].get("tool_calls").is_none(),
        "{v}"
    );

    // Streamed: the calls come in one delta, then the finish reason.
    let r = c
        .post(&endpoint)
        .json(&body(
            "Add 2 and 3.",
            json!({ "tool_choice": "required", "stream": true }),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert!(!calls.is_empty(), "{text}");
    assert_eq!(calls[0]["index"], 0);
    checked_call(calls[0]);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls",
        "{text}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tool_fields_are_422_naming_the_field() {
    let (swarm, url) = common::start(&yaml()).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");
    let bad_tool = json!([{ "type": "function", "function": { "name": "no spaces", "parameters": { "type": "object" } } }]);
    let cases = [
        (
            json!({ "tool_choice": { "type": "function", "function": { "name": "nope" } } }),
            "tool_choice: `nope` is not one of the declared tools",
        ),
        (
            json!({ "tool_choice": "sometimes" }),
            "tool_choice: unknown value `sometimes`",
        ),
        (
            json!({ "tools": bad_tool }),
            "tools[0]: tool name `no spaces`",
        ),
        (
            json!({ "tools": [tools()[0], tools()[0]] }),
            "tools[1]: `get_weather` is declared twice",
        ),
        (
            json!({ "messages": [{ "role": "tool", "content": "42" }] }),
            "messages[0].tool_call_id: required",
        ),
        (
            json!({ "messages": [{ "role": "assistant", "content": null, "tool_calls": [{ "id": "x", "type": "function", "function": { "name": "add", "arguments": "{oops" } }] }] }),
            "messages[0].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            json!({ "tools": [{ "type": "retrieval", "function": { "name": "x" } }] }),
            "tools[0].type: must be `function`",
        ),
    ];
    for (extra, expected) in cases {
        let (s, v) = post(&c, endpoint.clone(), body("Hi", extra)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{expected}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{expected}: {v}");
    }
    swarm.shutdown().await;
}
