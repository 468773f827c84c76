//! Text generation across nodes with the real SmolLM2-135M-Instruct: node `a` runs no
//! model and sends its `llm` calls to node `b`. Whole answers and streamed pieces through
//! `a` are exactly what `b` answers itself (greedy decoding is deterministic), the
//! streamed text arrives in several pieces ahead of the end, and a client that goes away
//! mid-stream on `a` stops the generation on `b` (a cancel frame crosses), freeing its
//! only sequence.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{Value, json};

use super::cluster_calls::serves;
use super::cluster_up::{free, member_yaml, up};
use crate::common;

const COOKIE: &str = "llm-cluster-cookie";

fn services() -> String {
    let model = format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    format!(
        "  llm:\n    type: llm\n    nodes: [b]\n    concurrency: 1\n    queue: {{ capacity: 4, overflow: reject }}\n    params:\n      model: \"{model}\"\n      max_sequences: 1\n      context: 1024\n      max_batch_tokens: 256\n      threads: 1\n"
    )
}

fn chat(prompt: &str, max_tokens: u32, stream: bool) -> Value {
    json!({ "model": "SmolLM2", "messages": [{ "role": "user", "content": prompt }],
            "temperature": 0, "max_tokens": max_tokens, "cache": false, "stream": stream })
}

async fn whole(url: &str, body: &Value) -> Value {
    let r = common::within(
        common::http()
            .post(format!("{url}/v1/chat/completions"))
            .json(body)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The texts of a stream's content deltas, in order.
async fn pieces(url: &str, body: &Value) -> Vec<String> {
    let r = common::within(
        common::http()
            .post(format!("{url}/v1/chat/completions"))
            .json(body)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = common::within(r.text()).await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

fn metric(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn tokens_generated(url: &str) -> f64 {
    let m = common::within(common::http().get(format!("{url}/metrics")).send())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metric(
        &m,
        "swarm_llm_tokens_generated_total{service=\"llm\",replica=\"0\"} ",
    )
}

#[test]
fn text_generation_crosses_nodes_whole_streamed_and_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = [("a", free()), ("b", free())].map(|(n, a)| (n, a.to_string()));
    let (_a, url_a, logs_a) = up(&member_yaml(dir.path(), "a", &addrs, &services()), COOKIE);
    let (_b, url_b, _logs_b) = up(&member_yaml(dir.path(), "b", &addrs, &services()), COOKIE);
    serves(&logs_a, &[("b", "llm")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Whole answers: a's (made on b) equals b's own.
        let body = chat("Name three colours of the rainbow.", 32, false);
        let (via_a, on_b) = (whole(&url_a, &body).await, whole(&url_b, &body).await);
        let text = on_b["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(!text.is_empty());
        assert_eq!(via_a["choices"], on_b["choices"]);
        assert_eq!(via_a["usage"], on_b["usage"]);

        // Streamed through a: several pieces, which together are the same text.
        let streamed = pieces(
            &url_a,
            &chat("Name three colours of the rainbow.", 32, true),
        )
        .await;
        assert!(streamed.len() > 2, "{streamed:?}");
        assert_eq!(streamed.concat(), text);

        // The known length of a long answer, made to the end on b.
        let story = "Tell me a very long story about a dragon.";
        let full = whole(&url_b, &chat(story, 400, false)).await;
        let full_tokens = full["usage"]["completion_tokens"].as_f64().unwrap();
        assert!(full_tokens > 100.0, "{full}");

        // The same story streamed through a; its reader goes away after the first piece.
        let before = tokens_generated(&url_b).await;
        let c = common::http();
        let mut reader = c
            .post(format!("{url_a}/v1/chat/completions"))
            .json(&chat(story, 400, true))
            .send()
            .await
            .unwrap();
        assert_eq!(reader.status(), 200);
        assert!(common::within(reader.chunk()).await.unwrap().is_some());
        drop(reader);
        // b's only sequence is freed: a short request through a is answered, and the
        // story stopped far short of its full length.
        let short = whole(&url_a, &chat("Say yes.", 4, false)).await;
        assert_eq!(short["object"], "chat.completion");
        common::until_metric(
            &c,
            &url_b,
            "swarm_llm_sequences_running{service=\"llm\",replica=\"0\"} 0",
        )
        .await;
        let spent = tokens_generated(&url_b).await - before;
        assert!(
            spent < full_tokens,
            "the cancelled story used {spent} tokens; the whole story is {full_tokens}"
        );
    });
}
