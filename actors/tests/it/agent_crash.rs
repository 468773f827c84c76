//! An agent whose tool crashes its worker (the fault injected by this test: a registered
//! Rust tool that panics on its first call): the run through the `runs` service ends
//! `failed` with the reason, never hangs; the supervisor restarts the worker, and the
//! same agent's next run calls the tool and answers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::agent_runs::events_until;
use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use swarm_actors::agent::FnTool;
use swarm_actors::llm::tools::ToolSpec;

/// Whether the injected fault has fired.
static CRASHED: AtomicBool = AtomicBool::new(false);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_tool_fails_the_run_and_its_worker_restarts() {
    let fault = FnTool::new(
        ToolSpec::new("weather_fault", "Tells the weather.", None).unwrap(),
        |_, _| async {
            if !CRASHED.swap(true, Ordering::SeqCst) {
                panic!("injected fault: the tool crashes its worker");
            }
            Ok(json!("sunny"))
        },
    );
    swarm_actors::agent::tool::register(Arc::new(fault)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\n  request_timeout: 120s\nservices:\n  llm:\n    type: llm\n    params: {{ model: {}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf, context: 2048, threads: 2 }}\n  forecaster:\n    type: agent\n    deadline: 120s\n    params:\n      model: llm\n      system: \"You tell the weather with weather_fault.\"\n      tools: [weather_fault]\n      require_tool: true\n      max_turns: 2\n      max_tokens: 48\n  runs:\n    type: runs\n    params: {{ data_dir: \"{}\", agents: [forecaster] }}\n",
        env!("CARGO_MANIFEST_DIR"),
        dir.path().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let (s, run) = common::post(
        &c,
        format!("{url}/v1/runs"),
        json!({ "agent": "forecaster", "input": "What is the weather in Oslo?" }),
    )
    .await;
    assert_eq!(s, 202, "{run}");
    let id = run["id"].as_str().unwrap();
    let events = events_until(&url, id, |e| {
        e["type"] == "run_failed" || e["type"] == "run_completed"
    })
    .await;
    assert_eq!(events.last().unwrap()["type"], "run_failed", "{events:?}");
    let (_, view) = common::get(&c, format!("{url}/v1/runs/{id}")).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert!(
        view["error"].as_str().unwrap().contains("crashed"),
        "{view}"
    );
    assert!(CRASHED.load(Ordering::SeqCst));
    // Restarted: the same agent calls the tool again and answers.
    let (s, report) = common::post(
        &c,
        format!("{url}/v1/agents/forecaster/runs"),
        json!({ "input": "What is the weather in Oslo?" }),
    )
    .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["stop"], "answered", "{report}");
    let done = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "tool_call_completed")
        .unwrap();
    assert_eq!(done["result"], "sunny", "{report}");
    swarm.shutdown().await;
}
