//! Remote pools: a service's pool on an OpenAI-compatible server. Against an in-process
//! fake server (`FakeOpenAi`, test-only: it echoes, streams, fails or cuts a stream off on
//! command) the swarm serves chat whole and streamed, embeddings, passes the API key,
//! retries failures within its budget but never a stream already started, and trips the
//! failing pool's breaker so traffic moves; and a second swarm's own
//! `/v1/chat/completions` serves as a remote pool with the real model.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{http, post as post_json, start, within};
use serde_json::{Value, json};

/// What the fake server does with chat requests.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Fail,
    CutStream,
}

struct FakeOpenAi {
    mode: Mode,
    requests: AtomicUsize,
    auth: std::sync::Mutex<Vec<String>>,
    /// `CutStream` cuts the connection when the test says so (after the first piece).
    cut: tokio::sync::Notify,
}

type Fake = Arc<FakeOpenAi>;

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn chat(
    State(fake): State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    fake.requests.fetch_add(1, SeqCst);
    if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        fake.auth.lock().unwrap().push(a.to_string());
    }
    if fake.mode == Mode::Fail {
        let err = json!({ "error": { "message": "injected fault: the fake server fails" } });
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(err)).into_response();
    }
    if last_user(&body) == "refuse me" {
        let err = json!({ "error": { "message": "injected fault: the fake server refuses" } });
        return (StatusCode::BAD_REQUEST, axum::Json(err)).into_response();
    }
    let text = format!("echo: {}", last_user(&body));
    if body["stream"] != json!(true) {
        let answer = json!({
            "id": "fake", "object": "chat.completion", "model": body["model"],
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 },
        });
        return axum::Json(answer).into_response();
    }
    let mut events: Vec<Result<String, std::io::Error>> = text
        .split_inclusive(' ')
        .map(|piece| {
            let chunk = json!({ "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }] });
            Ok(format!("data: {chunk}\n\n"))
        })
        .collect();
    if fake.mode == Mode::CutStream {
        events.truncate(1);
        let cut = futures_util::stream::once(async move {
            fake.cut.notified().await;
            Err(std::io::Error::other("injected fault: connection cut"))
        });
        let body = Body::from_stream(futures_util::StreamExt::chain(
            futures_util::stream::iter(events),
            cut,
        ));
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap();
    } else {
        let last = json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] });
        let usage =
            json!({ "choices": [], "usage": { "prompt_tokens": 5, "completion_tokens": 3 } });
        events.push(Ok(format!(
            "data: {last}\n\ndata: {usage}\n\ndata: [DONE]\n\n"
        )));
    }
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(events)))
        .unwrap()
}

async fn embeddings(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    fake.requests.fetch_add(1, SeqCst);
    // Not unit vectors, and in reverse order: the swarm must normalise and reorder.
    let n = body["input"].as_array().map_or(0, Vec::len);
    let data: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({ "object": "embedding", "index": i, "embedding": [3.0 * (i + 1) as f64, 4.0 * (i + 1) as f64] }))
        .collect();
    axum::Json(json!({ "data": data, "usage": { "prompt_tokens": 7, "total_tokens": 7 } }))
        .into_response()
}

/// Starts a fake server; its base URL and its state.
async fn fake(mode: Mode) -> (String, Fake) {
    let state = Arc::new(FakeOpenAi {
        mode,
        requests: AtomicUsize::new(0),
        auth: Default::default(),
        cut: tokio::sync::Notify::new(),
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

/// The gateway's `/health` answer.
async fn health(gw: &str) -> Value {
    within(http().get(format!("{gw}/health")).send())
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn ask(text: &str, stream: bool) -> Value {
    json!({ "model": "any", "messages": [{ "role": "user", "content": text }], "max_tokens": 16, "stream": stream, "cache": false })
}

async fn sse_text(r: reqwest::Response) -> (String, bool) {
    let body = r.text().await.unwrap();
    let mut text = String::new();
    let mut done = false;
    for data in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        text.push_str(
            v["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default(),
        );
    }
    (text, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_pool_serves_chat_streams_and_embeddings() {
    let (url, server) = fake(Mode::Echo).await;
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    pools:\n      - {{ name: remote-a, device: remote, url: '{url}', api_key_env: CARGO_PKG_NAME, max_concurrency: 4 }}\n  embed:\n    type: embed\n    params: {{ model_name: fake-embedder }}\n    pools:\n      - {{ name: remote-e, device: remote, url: '{url}' }}\n"
    );
    let (swarm, gw) = start(&yaml).await;
    let c = http();
    let (status, whole) = within(post_json(
        &c,
        format!("{gw}/v1/chat/completions"),
        ask("hello there", false),
    ))
    .await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(
        whole["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(whole["usage"]["completion_tokens"], 3);
    let r = within(
        c.post(format!("{gw}/v1/chat/completions"))
            .json(&ask("stream me please", true))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let (text, done) = within(sse_text(r)).await;
    assert_eq!(text, "echo: stream me please");
    assert!(done, "the stream ends with [DONE]");
    assert!(
        server
            .auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer swarm-actors"),
        "the key from api_key_env is sent"
    );

    let (status, e) = within(post_json(
        &c,
        format!("{gw}/v1/embeddings"),
        json!({ "input": ["a", "b"], "model": "x" }),
    ))
    .await;
    assert_eq!(status, 200, "{e}");
    for i in 0..2 {
        let v: Vec<f64> = serde_json::from_value(e["data"][i]["embedding"].clone()).unwrap();
        assert_eq!(e["data"][i]["index"], i);
        assert!(
            (v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6,
            "normalised: {v:?}"
        );
    }
    let seen: Value = health(&gw).await;
    assert_eq!(seen["services"]["llm"]["pools"][0]["device"], "remote");
    assert_eq!(seen["services"]["llm"]["pools"][0]["breaker"], "closed");
    assert_eq!(seen["devices"], json!([]));
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remote_pool_is_retried_within_budget_then_its_breaker_moves_traffic() {
    let (bad_url, bad) = fake(Mode::Fail).await;
    let (good_url, good) = fake(Mode::Echo).await;
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    pools:\n      - {{ name: bad, device: remote, url: '{bad_url}', breaker: {{ failures: 2, window: 60s, cooldown: 60s }} }}\n      - {{ name: good, device: remote, url: '{good_url}' }}\n"
    );
    let (swarm, gw) = start(&yaml).await;
    let c = http();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (status, body) = within(post_json(
            &c,
            format!("{gw}/v1/chat/completions"),
            ask(&format!("q{i}"), false),
        ))
        .await;
        if status == 200 {
            assert_eq!(
                body["choices"][0]["message"]["content"],
                format!("echo: q{i}")
            );
        } else {
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        }
        statuses.push(status.as_u16());
    }
    // Unobserved pools tie and the first listed wins: two failures, then the breaker opens.
    assert_eq!(statuses, [503, 503, 200, 200, 200, 200, 200, 200]);
    assert_eq!(
        bad.requests.load(SeqCst),
        6,
        "each failing request was tried 3 times (2 retries)"
    );
    assert_eq!(good.requests.load(SeqCst), 6);
    let seen: Value = health(&gw).await;
    assert_eq!(seen["services"]["llm"]["healthy"], true);
    assert_eq!(seen["services"]["llm"]["pools"][0]["breaker"], "open");
    let metrics = within(c.get(format!("{gw}/metrics")).send())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "swarm_scheduler_breaker_state{service=\"llm\",pool=\"bad\",device=\"remote\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "swarm_scheduler_routed_total{service=\"llm\",pool=\"good\",device=\"remote\"} 6"
    ));
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_pool_whose_key_variable_is_unset_is_reported_and_skipped() {
    let (url, _server) = fake(Mode::Echo).await;
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    pools:\n      - {{ name: keyless, device: remote, url: '{url}', api_key_env: SWARM_TEST_KEY_THAT_IS_NEVER_SET }}\n      - {{ name: open, device: remote, url: '{url}' }}\n"
    );
    let (swarm, gw) = start(&yaml).await;
    let seen: Value = health(&gw).await;
    let keyless = &seen["services"]["llm"]["pools"][1];
    assert_eq!(keyless["name"], "keyless");
    let state = keyless["state"].as_str().unwrap();
    assert!(
        state.contains("`SWARM_TEST_KEY_THAT_IS_NEVER_SET` (api_key_env) is not set"),
        "{state}"
    );
    let (status, _) = within(post_json(
        &http(),
        format!("{gw}/v1/chat/completions"),
        ask("hi", false),
    ))
    .await;
    assert_eq!(status, 200, "the other pool serves");
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_off_after_it_started_is_not_retried() {
    let (url, server) = fake(Mode::CutStream).await;
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    pools:\n      - {{ name: flaky, device: remote, url: '{url}' }}\n"
    );
    let (swarm, gw) = start(&yaml).await;
    let c = http();
    let mut r = within(
        c.post(format!("{gw}/v1/chat/completions"))
            .json(&ask("one two three", true))
            .send(),
    )
    .await
    .unwrap();
    let mut body = String::new();
    while !body.contains("echo: ") {
        let chunk = within(r.chunk())
            .await
            .unwrap()
            .expect("more of the stream");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The first piece reached the caller: now the server cuts the connection.
    server.cut.notify_one();
    while let Some(chunk) = within(r.chunk()).await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        body.contains("\"error\""),
        "then the stream ends with an error event: {body}"
    );
    assert_eq!(
        server.requests.load(SeqCst),
        1,
        "never retried once started"
    );
    swarm.shutdown().await;
}

fn model() -> String {
    format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_swarm_serves_as_a_remote_pool() {
    let backend = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    concurrency: 2\n    params:\n      model: {}\n      max_sequences: 2\n      context: 512\n      max_batch_tokens: 128\n      threads: 2\n",
        model()
    );
    let (b, b_url) = start(&backend).await;
    let front = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params: {{ model: {} }}\n    pools:\n      - {{ name: swarm-b, device: remote, url: '{b_url}', max_concurrency: 2 }}\n",
        model()
    );
    let (a, a_url) = start(&front).await;
    let c = http();
    let question = json!({ "messages": [{ "role": "user", "content": "What is the capital of France?" }], "max_tokens": 12, "temperature": 0, "cache": false });
    let (s, direct) = within(post_json(
        &c,
        format!("{b_url}/v1/chat/completions"),
        question.clone(),
    ))
    .await;
    assert_eq!(s, 200, "{direct}");
    let (s, relayed) = within(post_json(
        &c,
        format!("{a_url}/v1/chat/completions"),
        question.clone(),
    ))
    .await;
    assert_eq!(s, 200, "{relayed}");
    let text = direct["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty());
    assert_eq!(
        relayed["choices"][0]["message"]["content"], text,
        "greedy: the same answer through A"
    );
    assert_eq!(relayed["usage"], direct["usage"]);
    let mut streamed = question;
    streamed["stream"] = json!(true);
    let r = within(
        c.post(format!("{a_url}/v1/chat/completions"))
            .json(&streamed)
            .send(),
    )
    .await
    .unwrap();
    let (pieces, done) = within(sse_text(r)).await;
    assert_eq!(pieces, text, "streamed through A, piece by piece");
    assert!(done);
    a.shutdown().await;
    b.shutdown().await;
}
