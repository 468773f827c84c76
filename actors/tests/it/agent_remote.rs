//! An agent whose model is a remote pool pointed at a second swarm's chat API runs as it
//! does on a local model: its tool turns cross as OpenAI `tool_calls` and `tool`
//! messages (with their ids), the serving swarm turns them back into the same prompt,
//! and greedy decoding gives the same calls, answer and token counts as the same agent
//! beside the model.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use serde_json::{Value, json};

const AGENT: &str = "  nash:\n    type: nash\n  solver:\n    type: agent\n    deadline: 240s\n    params:\n      model: llm\n      system: \"You solve two-player games with the solve_game tool, then state the equilibrium.\"\n      tools: [solve_game]\n      nash: nash\n      require_tool: true\n      max_turns: 2\n      max_tokens: 160\n";

async fn run(c: &reqwest::Client, url: &str, input: &str) -> Value {
    let r = c
        .post(format!("{url}/v1/agents/solver/runs"))
        .timeout(std::time::Duration::from_secs(240))
        .json(&json!({ "input": input }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_a_remote_pool_runs_as_it_does_beside_the_model() {
    let model = format!(
        "{}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let timeout = "gateway:\n  listen: 127.0.0.1:0\n  request_timeout: 300s\nservices:\n";
    let local = format!(
        "{timeout}  llm:\n    type: llm\n    params: {{ model: {model}, context: 2048, threads: 2, max_sequences: 2, cache_bytes: 0 }}\n{AGENT}"
    );
    let (b, b_url) = common::start(&local).await;
    // The OpenAI clients' form of the base URL (ending in /v1) is accepted as it is.
    let remote = format!(
        "{timeout}  llm:\n    type: llm\n    pools:\n      - {{ name: swarm-b, device: remote, url: '{b_url}/v1', max_concurrency: 2 }}\n{AGENT}"
    );
    let (a, a_url) = common::start(&remote).await;
    let c = common::http();
    let input = "Solve the game where the row player's payoffs are [[3, 0], [5, 1]] and the column player's payoffs are [[3, 5], [0, 1]].";
    let beside = run(&c, &b_url, input).await;
    let relayed = run(&c, &a_url, input).await;
    assert_eq!(beside["stop"], "answered", "{beside}");
    assert_eq!(beside["tool_calls"], 1, "{beside}");
    assert_eq!(relayed["stop"], "answered", "{relayed}");
    for key in [
        "answer",
        "turns",
        "tool_calls",
        "prompt_tokens",
        "completion_tokens",
    ] {
        assert_eq!(
            relayed[key], beside[key],
            "{key}: {relayed} against {beside}"
        );
    }
    let calls = |r: &Value| -> Vec<Value> {
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "tool_call_requested")
            .map(|e| e["call"]["arguments"].clone())
            .collect()
    };
    assert_eq!(calls(&relayed), calls(&beside));
    a.shutdown().await;
    b.shutdown().await;
}
