//! The built-in tools over the FHE and FL services, with real ciphertexts: `tally` and
//! `auction` encrypt in the caller's process and answer what the service computes
//! (known totals, winner and price); a ballot the key cannot encrypt is the model's
//! error, not a crash; `fl_submit` closes a one-client round as the agent; an agent that
//! names them without the service is a config error at its line.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use swarm_actors::agent::private_tools::{auction, fl_submit, tally};
use swarm_actors::agent::{Tool, ToolBox, ToolContext, ToolError};
use swarm_actors::fhe::FheClient;
use swarm_actors::fl::FlClient;
use swarm_actors::http::ServiceClient;
use swarm_actors::llm::tools::ToolCall;

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: "c".into(),
        name: name.into(),
        arguments,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_tools_answer_what_the_services_compute_on_ciphertexts() {
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: 2, max_jobs: 2 }}\n  fl:\n    type: fl\n",
        common::fhe_keys::dir().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let fhe = FheClient::of(&swarm, "fhe").unwrap();
    let tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(tally(fhe.clone()).unwrap()),
        Arc::new(auction(fhe).unwrap()),
        Arc::new(fl_submit(FlClient::of(&swarm, "fl").unwrap(), "clerk".into()).unwrap()),
    ];
    let tools = ToolBox::new(tools).unwrap();
    let ctx = ToolContext {
        deadline: tokio::time::Instant::now() + Duration::from_secs(240),
        traceparent: None,
    };

    let counted = tools
        .call(
            call("tally", json!({ "options": 3, "ballots": [0, 2, 2] })),
            &ctx,
        )
        .await
        .result
        .unwrap();
    assert_eq!(counted["totals"], json!([1, 0, 2]), "{counted}");
    assert_eq!(counted["counted"], 3, "{counted}");
    let refused = tools
        .call(
            call("tally", json!({ "options": 3, "ballots": [0, 5] })),
            &ctx,
        )
        .await
        .result;
    assert!(
        matches!(&refused, Err(ToolError::InvalidArguments(m)) if m.contains("not one of the 3 options")),
        "{refused:?}"
    );
    let out_of_range = tools
        .call(call("tally", json!({ "options": 1, "ballots": [0] })), &ctx)
        .await
        .result;
    assert!(
        matches!(out_of_range, Err(ToolError::InvalidArguments(_))),
        "the schema's minimum: {out_of_range:?}"
    );

    let sold = tools
        .call(
            call(
                "auction",
                json!({ "bids": [300, 1200, 700, 50], "rule": "second" }),
            ),
            &ctx,
        )
        .await
        .result
        .unwrap();
    assert_eq!(
        sold,
        json!({ "rule": "second", "winner": 1, "price": 700, "bids": 4 })
    );

    let c = common::http();
    let (_, round) = common::post(
        &c,
        format!("{url}/v1/fl/rounds"),
        json!({ "strategy": { "name": "fedavg" }, "min_clients": 1 }),
    )
    .await;
    let id = round["id"].as_str().unwrap();
    let after = tools
        .call(
            call(
                "fl_submit",
                json!({ "round": id, "weights": [1.5, -2.0], "num_examples": 4 }),
            ),
            &ctx,
        )
        .await
        .result
        .unwrap();
    assert_eq!(after["status"]["state"], "closed", "{after}");
    let (_, view) = common::get(&c, format!("{url}/v1/fl/rounds/{id}")).await;
    assert_eq!(view["model"], json!([1.5, -2.0]), "{view}");
    swarm.shutdown().await;
}

#[test]
fn an_agent_with_private_tools_needs_their_services() {
    let yaml = "services:\n  llm:\n    type: llm\n    params: { model: m.gguf }\n  clerk:\n    type: agent\n    params:\n      model: llm\n      tools: [tally, fl_submit]\n";
    let registry = swarm_actors::registry();
    let errors =
        swarm_runtime::SwarmConfig::from_yaml_with_env(yaml, "agents.yaml", &registry, &|_| None)
            .unwrap_err()
            .to_string();
    for expected in [
        "services.clerk.params.tools: tool `tally` needs `fhe`",
        "services.clerk.params.tools: tool `fl_submit` needs `fl`",
    ] {
        assert!(errors.contains(expected), "{expected}\n{errors}");
    }
}
