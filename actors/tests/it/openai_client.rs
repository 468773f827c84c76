//! The official OpenAI Python client, unchanged, against the gateway's /v1/embeddings
//! (make test installs it: `python3 -m pip install openai`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_unchanged() {
    let dir = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  embed:\n    type: embed\n    workers: 8\n    params: {{ model_dir: {dir} }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let seen = common::python_check("openai_client_check.py", &url).await;
    swarm.shutdown().await;
    assert_eq!(seen["count"], 2);
    assert_eq!(seen["dims"], serde_json::json!([384, 384, 384]));
    assert_eq!(seen["indexes"], serde_json::json!([0, 1]));
    assert!(
        seen["same_text_cosine"].as_f64().unwrap() > 0.9999,
        "base64 and float encodings agree: {seen}"
    );
    assert!(seen["similar_cosine"].as_f64().unwrap() > 0.5);
    assert_eq!(seen["model"], "all-MiniLM-L6-v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_chats_streams_and_completes_unchanged() {
    let model = format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params: {{ model: {model}, context: 512, threads: 2 }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let seen = common::python_check("openai_chat_check.py", &url).await;
    swarm.shutdown().await;
    // A 135M model's answers are not always right (the text itself is checked against
    // llama.cpp's); here the client's view of it must be whole and consistent.
    assert!(!seen["whole"].as_str().unwrap().is_empty(), "{seen}");
    assert_eq!(
        seen["streamed"], seen["whole"],
        "stream and whole answer agree: {seen}"
    );
    assert_eq!(seen["stream_finish"], seen["whole_finish"]);
    assert_eq!(seen["stream_usage"], seen["whole_usage"]);
    assert_eq!(seen["roles"], serde_json::json!(["assistant"]));
    if seen["json_finish"] == "stop" {
        let parsed: serde_json::Value =
            serde_json::from_str(seen["json_text"].as_str().unwrap()).expect("JSON mode parses");
        assert!(parsed.is_object());
    }
    assert!(
        seen["completion"].as_str().unwrap().contains("Paris"),
        "{seen}"
    );
    assert_eq!(
        seen["models"],
        serde_json::json!(["SmolLM2-135M-Instruct.Q4_1"])
    );
    assert_eq!(seen["refused"], 422);
    // Tool calling through the client's own types: a call of the declared tool with
    // arguments of its schema, the same call streamed, and a text answer after the result.
    assert_eq!(seen["tool_finish"], "tool_calls", "{seen}");
    assert_eq!(seen["tool_name"], "get_weather");
    assert!(seen["tool_arguments"]["city"].is_string(), "{seen}");
    assert_eq!(seen["streamed_call"]["name"], "get_weather", "{seen}");
    let streamed: serde_json::Value =
        serde_json::from_str(seen["streamed_call"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(streamed, seen["tool_arguments"], "{seen}");
    assert!(!seen["follow_up"].as_str().unwrap().is_empty(), "{seen}");
}
