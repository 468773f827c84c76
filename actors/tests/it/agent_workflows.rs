//! Workflows on the real SmolLM2-135M-Instruct: a sequential workflow hands each agent
//! the previous answer; a parallel one merges every answer; a router picks one of its
//! agents; a vote's majority is certified by the consensus voters under the majority rule
//! (each voter recounts), and the certificate verifies offline with the voters' public
//! keys — a false majority claim is rejected by the voters; bad workflows are config
//! errors at their line.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use common::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use swarm_actors::consensus::core::{Certificate, VoterSet};

fn agent(name: &str, system: &str) -> String {
    format!(
        "  {name}:\n    type: agent\n    deadline: 120s\n    params: {{ model: llm, system: \"{system}\", max_turns: 1, max_tokens: 24 }}\n"
    )
}

fn yaml() -> String {
    let r = env!("CARGO_MANIFEST_DIR");
    let mut y = format!(
        "gateway:\n  listen: 127.0.0.1:0\n  request_timeout: 300s\nservices:\n  llm:\n    type: llm\n    params: {{ model: {r}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf, context: 2048, threads: 2 }}\n  consensus:\n    type: consensus\n    params: {{ voters: 4, swarm_id: workflow-test }}\n"
    );
    for (name, system) in [
        ("planner", "Write a one-line plan."),
        ("writer", "Write one sentence."),
        ("judge_a", "Answer with one word."),
        ("judge_b", "Answer with one word."),
        ("judge_c", "Answer with one word."),
    ] {
        y.push_str(&agent(name, system));
    }
    y.push_str("  chain:\n    type: workflow\n    params: { kind: sequential, agents: [planner, writer] }\n");
    y.push_str("  fan:\n    type: workflow\n    params: { kind: parallel, agents: [judge_a, judge_b], merge: writer }\n");
    y.push_str("  pick:\n    type: workflow\n    params: { kind: router, agents: [planner, writer], model: llm }\n");
    y.push_str("  triage:\n    type: agent\n    deadline: 120s\n    params: { model: llm, system: \"Send each request to the right colleague.\", require_tool: true, max_turns: 3, max_tokens: 96 }\n");
    y.push_str("  desk:\n    type: workflow\n    params: { kind: handoff, agents: [triage, planner, writer], max_handoffs: 1 }\n");
    y.push_str("  verdict:\n    type: workflow\n    params: { kind: vote, agents: [judge_a, judge_b, judge_c], consensus: consensus }\n");
    y
}

async fn run(c: &reqwest::Client, url: &str, workflow: &str, input: &str) -> Value {
    let (s, v) = post(
        c,
        format!("{url}/v1/workflows/{workflow}/runs"),
        json!({ "input": input }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_parallel_router_and_a_certified_vote() {
    let (swarm, url) = common::start(&yaml()).await;
    let c = common::http();

    let chain = run(&c, &url, "chain", "A picnic in the park.").await;
    let steps = chain["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{chain}");
    assert_eq!(
        (steps[0]["role"].as_str(), steps[1]["role"].as_str()),
        (Some("planner"), Some("writer"))
    );
    let planned = steps[0]["answer"].as_str().unwrap();
    assert!(
        steps[1]["input"]
            .as_str()
            .unwrap()
            .ends_with(&format!("planner answered:\n{planned}")),
        "{chain}"
    );
    assert_eq!(chain["answer"], steps[1]["answer"]);

    let fan = run(&c, &url, "fan", "Name a colour.").await;
    let steps = fan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{fan}");
    let merge_input = steps[2]["input"].as_str().unwrap();
    for (i, judge) in ["judge_a", "judge_b"].iter().enumerate() {
        let said = steps[i]["answer"].as_str().unwrap();
        assert!(merge_input.contains(&format!("{judge}: {said}")), "{fan}");
    }
    assert_eq!(fan["answer"], steps[2]["answer"]);

    let pick = run(&c, &url, "pick", "Write a sentence about the sea.").await;
    let routed = pick["routed_to"].as_str().unwrap();
    assert!(["planner", "writer"].contains(&routed), "{pick}");
    assert_eq!(pick["steps"][0]["role"], routed);

    // The triage agent must call a tool, and its only tools hand over: the one it picks
    // answers (the last hop has no transfers).
    let desk = run(
        &c,
        &url,
        "desk",
        "Please write me a sentence about the sea.",
    )
    .await;
    let steps = desk["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{desk}");
    assert_eq!(
        (&steps[0]["role"], &steps[0]["stop"]),
        (&json!("triage"), &json!("handoff")),
        "{desk}"
    );
    assert_eq!(steps[0]["handoff_to"], steps[1]["role"], "{desk}");
    assert!(
        steps[1]["input"]
            .as_str()
            .unwrap()
            .contains("triage worked on it:\n- handed the conversation to"),
        "{desk}"
    );
    assert_eq!(desk["answer"], steps[1]["answer"]);

    // Three judges with the same prompt agree (greedy decoding): a majority of three.
    let verdict = run(&c, &url, "verdict", "What is the capital of France?").await;
    let decision = &verdict["decision"];
    assert_eq!(decision["certificate"]["phase"], "commit", "{verdict}");
    let answers = verdict["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["answer"].clone())
        .collect::<Vec<_>>();
    assert_eq!(verdict["answer"], answers[0], "{verdict}");
    // Offline: the certificate against the voters' public keys, no service involved.
    let voters: Value = c
        .get(format!("{url}/v1/consensus/voters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = voters["voters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let bytes: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
        })
        .collect();
    let set = VoterSet::new("workflow-test", keys).unwrap();
    let certificate: Certificate = serde_json::from_value(decision["certificate"].clone()).unwrap();
    certificate.verify(&set).unwrap();

    // A false majority claim: the voters recount and reject it.
    let (s, d) = post(
        &c,
        format!("{url}/v1/consensus/proposals"),
        json!({
        "payload": { "answers": { "a": "Paris", "b": "Paris", "c": "Lyon" }, "majority": "Lyon" },
        "rule": { "kind": "majority", "answers": "answers", "claim": "majority" } }),
    )
    .await;
    assert_eq!(
        (s, &d["certificate"]["phase"]),
        (StatusCode::OK, &json!("reject")),
        "{d}"
    );
    swarm.shutdown().await;
}

#[test]
fn bad_workflows_are_errors_at_their_line() {
    let yaml = "services:\n  w:\n    type: workflow\n    params: { kind: vote, agents: [ghost] }\n  x:\n    type: workflow\n    params: { kind: relay, agents: [] }\n";
    let errors = swarm_runtime::SwarmConfig::from_yaml_with_env(
        yaml,
        "w.yaml",
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
        "services.w.params.agents: a vote needs at least two agents",
        "services.w.params.consensus: required: the voters that certify",
        "services.x.params.kind: unknown kind `relay`",
        "services.x.params.agents: at least one agent is needed",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
    // An agent the swarm does not have, in an otherwise valid workflow: at its line.
    let yaml =
        "services:\n  w:\n    type: workflow\n    params: { kind: sequential, agents: [ghost] }\n";
    let errors = swarm_runtime::SwarmConfig::from_yaml_with_env(
        yaml,
        "w.yaml",
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
    assert!(
        all.contains("w.yaml:4:42: services.w.params.agents[0]: no service named `ghost`"),
        "{all}"
    );
}
