//! The `llm` service over real HTTP with the real SmolLM2-135M-Instruct (GGUF Q4_1, from
//! `make models`): OpenAI's chat and completions shapes, streaming, continuous batching
//! (8 prompts together give the texts they give alone), seeds, validation, the cache,
//! JSON output, overload and disconnects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use common::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn model() -> String {
    format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn yaml(max_sequences: u32, queue: &str) -> String {
    format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    concurrency: {max_sequences}\n    queue: {queue}\n    params:\n      model: {}\n      max_sequences: {max_sequences}\n      context: 512\n      max_batch_tokens: 256\n      threads: 2\n",
        model()
    )
}

fn chat(prompt: &str, extra: Value) -> Value {
    let mut body = json!({ "model": "SmolLM2", "messages": [{ "role": "user", "content": prompt }], "temperature": 0, "max_tokens": 24, "cache": false });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn content(v: &Value) -> String {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The data lines of a server-sent event stream.
async fn sse_lines(r: reqwest::Response) -> Vec<String> {
    let text = r.text().await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(|l| l.trim().to_string())
        .collect()
}

const PROMPTS: [&str; 8] = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Say hello in Spanish.",
    "What colour is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "How many legs does a spider have?",
    "Translate 'thank you' into German.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streaming_batching_seeds_and_json() {
    let (swarm, url) = common::start(&yaml(8, "{ capacity: 64 }")).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");

    // Whole answer, in OpenAI's shape.
    let (s, v) = post(&c, endpoint.clone(), chat(PROMPTS[0], json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let alone0 = content(&v);
    assert!(alone0.contains("Paris"), "{v}");
    let usage = &v["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 5);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    assert!(["stop", "length"].contains(&v["choices"][0]["finish_reason"].as_str().unwrap()));

    // Streamed: the same greedy text, chunk by chunk, then finish_reason, usage, [DONE].
    let r = c
        .post(&endpoint)
        .json(&chat(
            PROMPTS[0],
            json!({ "stream": true, "stream_options": { "include_usage": true } }),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let lines = sse_lines(r).await;
    assert_eq!(lines.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, alone0);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish["choices"][0]["finish_reason"],
        v["choices"][0]["finish_reason"]
    );
    assert_eq!(chunks.last().unwrap()["usage"], v["usage"]);

    // Each prompt alone, then all eight at once (batched into the same steps): same texts.
    let mut alone = Vec::new();
    for p in PROMPTS {
        alone.push(content(
            &post(&c, endpoint.clone(), chat(p, json!({}))).await.1,
        ));
    }
    let together = futures_util::future::join_all(PROMPTS.iter().map(|p| {
        let (c, e) = (c.clone(), endpoint.clone());
        async move { content(&post(&c, e, chat(p, json!({}))).await.1) }
    }))
    .await;
    assert_eq!(
        together, alone,
        "batched greedy decoding must match decoding alone"
    );

    // A seed fixes sampled text, alone or batched.
    let seeded = |p: &str| {
        chat(
            p,
            json!({ "temperature": 0.9, "top_p": 0.95, "seed": 1234 }),
        )
    };
    let one = content(&post(&c, endpoint.clone(), seeded(PROMPTS[1])).await.1);
    let batch = futures_util::future::join_all((0..4).map(|_| {
        let (c, e, b) = (c.clone(), endpoint.clone(), seeded(PROMPTS[1]));
        async move { content(&post(&c, e, b).await.1) }
    }))
    .await;
    assert!(batch.iter().all(|t| *t == one), "{one:?} vs {batch:?}");

    // JSON output always parses, and follows a schema when given one.
    let (s, v) = post(
        &c,
        endpoint.clone(),
        chat(
            "Describe a cat as JSON.",
            json!({ "response_format": { "type": "json_object" }, "max_tokens": 64 }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    if v["choices"][0]["finish_reason"] == "stop" {
        let parsed: Value =
            serde_json::from_str(&content(&v)).unwrap_or_else(|e| panic!("{e}: {v}"));
        assert!(parsed.is_object());
    }
    let schema = json!({ "type": "object", "properties": { "name": { "type": "string" }, "legs": { "type": "integer" } }, "required": ["name", "legs"] });
    let (s, v) = post(&c, endpoint.clone(), chat("A spider, as JSON.", json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "animal", "schema": schema } }, "max_tokens": 64 }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    if v["choices"][0]["finish_reason"] == "stop" {
        let parsed: Value =
            serde_json::from_str(&content(&v)).unwrap_or_else(|e| panic!("{e}: {v}"));
        assert!(
            parsed["name"].is_string() && parsed["legs"].is_i64(),
            "{parsed}"
        );
    }

    // /v1/models and /v1/completions.
    let models: Value = c
        .get(format!("{url}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "SmolLM2-135M-Instruct.Q4_1");
    let (s, v) = post(
        &c,
        format!("{url}/v1/completions"),
        json!({ "prompt": "The capital of France is", "temperature": 0, "max_tokens": 5 }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(
        v["choices"][0]["text"].as_str().unwrap().contains("Paris"),
        "{v}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_422_naming_the_field_and_the_cache_answers_identically() {
    let (swarm, url) = common::start(&yaml(2, "{ capacity: 16 }")).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");
    for (extra, field) in [
        (json!({ "temperature": -1 }), "temperature"),
        (json!({ "top_p": 0 }), "top_p"),
        (json!({ "top_p": 1.5 }), "top_p"),
        (json!({ "presence_penalty": 9 }), "presence_penalty"),
        (json!({ "max_tokens": 0 }), "max_tokens"),
        (json!({ "n": 2 }), "n"),
        (json!({ "frobnicate": true }), "frobnicate"),
        (
            json!({ "max_tokens": 100000 }),
            "max_tokens asks for 100000",
        ),
    ] {
        let (s, v) = post(&c, endpoint.clone(), chat("hi", extra.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{extra}: {v}"
        );
    }
    let (s, v) = post(&c, endpoint.clone(), json!({ "messages": [] })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // Greedy requests are cached: the second answer is the same, from the cache.
    let cached = |p: &str| json!({ "messages": [{ "role": "user", "content": p }], "temperature": 0, "max_tokens": 16 });
    let (_, first) = post(&c, endpoint.clone(), cached("Name a colour.")).await;
    let (_, second) = post(&c, endpoint.clone(), cached("Name a colour.")).await;
    assert_eq!(first["choices"], second["choices"]);
    assert_eq!(first["usage"], second["usage"]);
    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("swarm_llm_cache_hits_total{service=\"llm\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "swarm_llm_time_to_first_token_seconds_count{service=\"llm\",replica=\"0\"} "
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("swarm_llm_tokens_generated_total{service=\"llm\",replica=\"0\"}"),
        "{metrics}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_429_and_a_disconnect_frees_the_slot() {
    // One sequence at a time, one request queued, the rest refused.
    let (swarm, url) = common::start(&yaml(1, "{ capacity: 1, overflow: reject }")).await;
    let c = common::http();
    let endpoint = format!("{url}/v1/chat/completions");
    let long = chat(
        "Tell me a very long story about a dragon.",
        json!({ "max_tokens": 400, "stream": true }),
    );

    // A: streaming, running (its first chunk has arrived).
    let mut a = c.post(&endpoint).json(&long).send().await.unwrap();
    assert_eq!(a.status(), 200);
    let first = common::within(a.chunk()).await.unwrap();
    assert!(first.is_some());
    // B: queued behind A (seen in the queue's depth), C: refused.
    let (cb, eb) = (c.clone(), endpoint.clone());
    let b =
        tokio::spawn(
            async move { post(&cb, eb, chat("Say yes.", json!({ "max_tokens": 4 }))).await },
        );
    common::until_metric(&c, &url, "swarm_queue_depth{service=\"llm\"} 1").await;
    let (s, v) = post(
        &c,
        endpoint.clone(),
        chat("Say no.", json!({ "max_tokens": 4 })),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "overloaded");

    // A's client goes away mid-stream: its sequence ends and B gets the slot.
    drop(a);
    let (s, v) = common::within(b).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    common::until_metric(
        &c,
        &url,
        "swarm_llm_sequences_running{service=\"llm\",replica=\"0\"} 0",
    )
    .await;
    swarm.shutdown().await;
}
