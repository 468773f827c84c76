//! Greedy text from the `llm` service equals llama.cpp's own (`llama-simple`, built from
//! the llama-cpp-python sdist's sources; `make llm-reference` regenerates the file) on the
//! same GGUF for 8 prompts — each alone, and all 8 batched into the same decode steps.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_text_equals_llama_cpp_alone_and_batched() {
    let reference: Value =
        serde_json::from_str(include_str!("../data/llm_reference.json")).unwrap();
    let n = reference["n_predict"].as_u64().unwrap();
    let model = format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  llm:\n    type: llm\n    params: {{ model: {model}, context: 256, threads: 2 }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let ask = |prompt: &str| json!({ "prompt": prompt, "temperature": 0, "max_tokens": n, "cache": false });
    let answers = reference["answers"].as_array().unwrap();
    for a in answers {
        let r: Value = c
            .post(format!("{url}/v1/completions"))
            .json(&ask(a["prompt"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["choices"][0]["text"], a["greedy"],
            "alone: {}",
            a["prompt"]
        );
    }
    let batched = futures_util::future::join_all(answers.iter().map(|a| {
        let (c, url, body) = (c.clone(), url.clone(), ask(a["prompt"].as_str().unwrap()));
        async move {
            let r: Value = c
                .post(format!("{url}/v1/completions"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["choices"][0]["text"].clone()
        }
    }))
    .await;
    for (a, got) in answers.iter().zip(batched) {
        assert_eq!(got, a["greedy"], "batched: {}", a["prompt"]);
    }
    swarm.shutdown().await;
}
