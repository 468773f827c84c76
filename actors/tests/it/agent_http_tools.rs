//! HTTP tools declared in YAML, against a real HTTP server started by the test: `POST`
//! sends the arguments as JSON, `GET` as a query; arguments that break the schema never
//! reach the server; a 500 is the tool's error with the body's start; bad declarations
//! are config errors at their line.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use swarm_actors::agent::http_tool::{HttpTool, Method};
use swarm_actors::agent::{Tool, ToolBox, ToolContext, ToolError};
use swarm_actors::llm::tools::{ToolCall, ToolSpec};

async fn server(hits: Arc<AtomicUsize>) -> String {
    let counted = hits.clone();
    let app = Router::new()
        .route(
            "/add",
            post(move |Json(v): Json<Value>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    Json(json!({ "sum": v["a"].as_i64().unwrap() + v["b"].as_i64().unwrap() }))
                }
            }),
        )
        .route(
            "/rate",
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    Json(json!({ "pair": format!("{}/{}", q["from"], q["to"]), "rate": 1.1 }))
                },
            ),
        )
        .route(
            "/broken",
            post(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "database down",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: "call_1".into(),
        name: name.into(),
        arguments,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tools_post_get_and_fail_clearly() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = server(hits.clone()).await;
    let add = ToolSpec::new("add", "Adds.", Some(json!({ "type": "object",
        "properties": { "a": { "type": "integer" }, "b": { "type": "integer" } }, "required": ["a", "b"] }))).unwrap();
    let rate = ToolSpec::new("rate", "A rate.", Some(json!({ "type": "object",
        "properties": { "from": { "type": "string" }, "to": { "type": "string" } }, "required": ["from", "to"] }))).unwrap();
    let broken = ToolSpec::new("broken", "Fails.", None).unwrap();
    let t = Duration::from_secs(10);
    let tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(HttpTool::new(add, &format!("{base}/add"), Method::Post, t).unwrap()),
        Arc::new(HttpTool::new(rate, &format!("{base}/rate"), Method::Get, t).unwrap()),
        Arc::new(HttpTool::new(broken, &format!("{base}/broken"), Method::Post, t).unwrap()),
    ];
    let toolbox = ToolBox::new(tools).unwrap();
    let ctx = ToolContext {
        deadline: tokio::time::Instant::now() + Duration::from_secs(30),
        traceparent: None,
    };
    let out = toolbox
        .call(call("add", json!({ "a": 2, "b": 3 })), &ctx)
        .await;
    assert_eq!(out.result, Ok(json!({ "sum": 5 })));
    let out = toolbox
        .call(call("add", json!({ "a": "two", "b": 3 })), &ctx)
        .await;
    assert!(
        matches!(out.result, Err(ToolError::InvalidArguments(_))),
        "{:?}",
        out.result
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "bad arguments never reach the server"
    );
    let out = toolbox
        .call(call("rate", json!({ "from": "EUR", "to": "USD" })), &ctx)
        .await;
    assert_eq!(out.result, Ok(json!({ "pair": "EUR/USD", "rate": 1.1 })));
    let out = toolbox.call(call("broken", json!({})), &ctx).await;
    assert_eq!(
        out.result,
        Err(ToolError::Failed(
            "HTTP 500 Internal Server Error: database down".into()
        ))
    );
    assert!(
        HttpTool::new(
            ToolSpec::new("x", "", None).unwrap(),
            "ftp://x",
            Method::Get,
            t
        )
        .is_err()
    );
}

#[test]
fn http_tool_declarations_are_checked_at_their_line() {
    let yaml = "services:\n  llm:\n    type: llm\n    params: { model: /m.gguf }\n  a:\n    type: agent\n    params:\n      model: llm\n      http_tools:\n        fetch:\n          url: ftp://example.com\n          method: DELETE\n        shape:\n          url: http://127.0.0.1:9/x\n          parameters: { type: string }\n        fine:\n          url: http://127.0.0.1:9/y\n          parameters: { type: object, properties: { q: { type: string, minLength: 1 } } }\n";
    let errors = swarm_runtime::SwarmConfig::from_yaml_with_env(
        yaml,
        "h.yaml",
        &swarm_actors::registry(),
        &|_| None,
    )
    .err()
    .unwrap();
    let all = errors
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "h.yaml:12:19: services.a.params.http_tools.fetch.method: unknown method `DELETE` (GET or POST)",
        "services.a.params.http_tools.fetch.url: url `ftp://example.com`: must be http or https",
        "services.a.params.http_tools.shape.parameters: tool `shape`: parameters must be an object schema",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
    assert!(!all.contains("fine"), "{all}");
}
