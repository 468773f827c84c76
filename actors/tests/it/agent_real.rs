//! Agents with the real SmolLM2-135M-Instruct and the real services: an agent asked to
//! solve a game calls `solve_game` with well-formed arguments (checked against the
//! tool's schema) and gets exactly what the Nash service answers for them; memory tools
//! write to and recall from a real collection by meaning (real MiniLM embeddings); bad
//! agent configs are errors at their line.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use common::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use swarm_actors::agent::builtin::{Memory, remember, search_memory};
use swarm_actors::agent::{Event, Tool, ToolContext};
use swarm_actors::http::ServiceClient;
use swarm_actors::vector::VectorClient;

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn yaml() -> String {
    let r = root();
    format!(
        "gateway:\n  listen: 127.0.0.1:0\n  request_timeout: 300s\nservices:\n  llm:\n    type: llm\n    params: {{ model: {r}/../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf, context: 2048, threads: 2 }}\n  nash:\n    type: nash\n  embed:\n    type: embed\n    params: {{ model_dir: {r}/../models/all-MiniLM-L6-v2 }}\n  vector:\n    type: vector\n    params: {{ embed: embed }}\n  solver:\n    type: agent\n    deadline: 120s\n    params:\n      model: llm\n      system: \"You solve two-player games with the solve_game tool, then state the equilibrium.\"\n      tools: [solve_game]\n      nash: nash\n      max_turns: 3\n      max_tokens: 200\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_solve_game_and_gets_the_services_answer() {
    let (swarm, url) = common::start(&yaml()).await;
    let c = common::http();
    let input = "Solve the game where the row player's payoffs are [[3, 0], [5, 1]] and the column player's payoffs are [[3, 5], [0, 1]].";
    let r = c
        .post(format!("{url}/v1/agents/solver/runs"))
        .timeout(std::time::Duration::from_secs(180))
        .json(&json!({ "input": input }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["stop"], "answered", "{report}");
    assert!(report["answer"].is_string(), "{report}");
    let events = report["events"].as_array().unwrap();
    let requested: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_requested")
        .map(|e| &e["call"])
        .collect();
    assert!(!requested.is_empty(), "the agent called no tool: {report}");
    for call in &requested {
        assert_eq!(call["name"], "solve_game", "{report}");
        let args = call["arguments"].as_object().unwrap();
        assert!(
            args.keys()
                .all(|k| ["row", "col", "method"].contains(&k.as_str())),
            "{report}"
        );
        assert!(args["row"].is_array() && args["col"].is_array(), "{report}");
        // What the tool answered is what the Nash service answers for those arguments.
        let completed = events
            .iter()
            .find(|e| e["type"] == "tool_call_completed" && e["id"] == call["id"]);
        let (s, direct) = post(
            &c,
            format!("{url}/v1/nash/solve"),
            call["arguments"].clone(),
        )
        .await;
        match completed {
            Some(done) => assert_eq!((s, &done["result"]), (StatusCode::OK, &direct), "{report}"),
            // A game the service refuses (ragged rows) is the same refusal, shown to the model.
            None => {
                assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
                let failed = events
                    .iter()
                    .find(|e| e["type"] == "tool_call_failed" && e["id"] == call["id"])
                    .unwrap();
                assert!(
                    failed["error"]
                        .as_str()
                        .unwrap()
                        .starts_with("invalid arguments"),
                    "{report}"
                );
            }
        }
    }
    assert!(report["turns"].as_u64().unwrap() <= 3);
    let (s, v) = post(
        &c,
        format!("{url}/v1/agents/solver/runs"),
        json!({ "input": " " }),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request"))
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_tools_remember_and_recall_by_meaning() {
    let (swarm, _url) = common::start(&yaml()).await;
    let memory = Memory {
        client: VectorClient::of(&swarm, "vector").unwrap(),
        collection: "notes".into(),
        dimension: 384,
    };
    let ctx = ToolContext {
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        traceparent: None,
    };
    let remember = remember(memory.clone());
    for text in [
        "The central bank raised interest rates again.",
        "A kitten napped in the sun by the window.",
        "Knead the dough, then bake the bread for forty minutes.",
    ] {
        let out = remember.call(json!({ "text": text }), &ctx).await.unwrap();
        assert!(out["remembered"].is_string());
    }
    let search = search_memory(memory, 2);
    let found = search
        .call(json!({ "query": "a sleepy cat" }), &ctx)
        .await
        .unwrap();
    let notes = found["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(
        notes[0]["text"], "A kitten napped in the sun by the window.",
        "{found}"
    );
    let empty = search_memory(
        Memory {
            client: VectorClient::of(&swarm, "vector").unwrap(),
            collection: "never-written".into(),
            dimension: 384,
        },
        2,
    );
    assert_eq!(
        empty.call(json!({ "query": "x" }), &ctx).await.unwrap(),
        json!({ "notes": [] })
    );
    swarm.shutdown().await;
}

#[test]
fn bad_agent_configs_are_errors_at_their_line() {
    let yaml = "services:\n  nash:\n    type: nash\n  a:\n    type: agent\n    params:\n      tools: [solve_game, fly]\n  b:\n    type: agent\n    params:\n      model: llm\n      tools: [propose, remember]\n      max_turns: 0\n      answer_schema: { type: 7 }\n";
    let registry = swarm_actors::registry();
    let errors =
        swarm_runtime::SwarmConfig::from_yaml_with_env(yaml, "agents.yaml", &registry, &|_| None)
            .err()
            .unwrap();
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let all = lines.join("\n");
    for expected in [
        "services.a.params.model: required key is missing",
        "services.a.params.tools: unknown tool `fly`",
        "services.a.params.tools: tool `solve_game` needs `nash`",
        "services.b.params.model: no service named `llm`",
        "services.b.params.tools: tool `propose` needs `consensus`",
        "services.b.params.tools: tool `remember` needs `memory`",
        "services.b.params.max_turns: must be between 1 and 64",
        "services.b.params.answer_schema: not a valid JSON schema",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_text_streams_as_token_chunks_that_add_up_to_each_reply() {
    // One tool call, then (the last turn, without tools) a free-text answer.
    let yaml = format!(
        "{}  once:\n    type: agent\n    deadline: 120s\n    params:\n      model: llm\n      system: \"You solve two-player games with the solve_game tool, then state the equilibrium.\"\n      tools: [solve_game]\n      nash: nash\n      require_tool: true\n      max_turns: 2\n      max_tokens: 160\n",
        yaml()
    );
    let (swarm, _url) = common::start(&yaml).await;
    let agent = swarm_actors::agent::AgentClient::of(&swarm, "once").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let input = "Solve the game where the row player's payoffs are [[3, 0], [5, 1]] and the column player's payoffs are [[3, 5], [0, 1]].";
    let options = swarm_runtime::CallOptions {
        timeout: Some(std::time::Duration::from_secs(120)),
        ..Default::default()
    };
    let report = agent.run_with_events(input, tx, options).await.unwrap();
    let mut live = Vec::new();
    while let Ok(e) = rx.try_recv() {
        live.push(e);
    }
    let mut text: std::collections::BTreeMap<u32, String> = Default::default();
    let mut chunks = 0;
    for e in &live {
        if let Event::TokenChunk { turn, text: piece } = e {
            text.entry(*turn).or_default().push_str(piece);
            chunks += 1;
        }
    }
    assert_eq!(report.turns, 2, "{report:?}");
    assert_eq!(text.len(), 2, "every turn streams");
    assert!(chunks > 10, "piece by piece, not whole: {chunks}");
    // Chunks are live only; every other event is the report's, in order.
    let others: Vec<Event> = live
        .into_iter()
        .filter(|e| !matches!(e, Event::TokenChunk { .. }))
        .collect();
    assert_eq!(others, report.events);
    // The first turn's text is the call it made; the last turn's is the answer.
    let call = report
        .events
        .iter()
        .find_map(|e| match e {
            Event::ToolCallRequested { call, .. } => Some(call.clone()),
            _ => None,
        })
        .expect("a tool call");
    let written: Value = serde_json::from_str(&text[&1]).unwrap();
    assert_eq!(
        written["tool_calls"][0],
        json!({ "function": call.name, "parameters": call.arguments })
    );
    assert_eq!(Some(&text[&2]), report.answer.as_ref());
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_schema_shapes_the_final_answer() {
    let schema = json!({ "type": "object",
        "properties": { "city": { "type": "string", "maxLength": 40 }, "country": { "type": "string", "maxLength": 40 } },
        "required": ["city", "country"], "additionalProperties": false });
    let yaml = format!(
        "{}  capital:\n    type: agent\n    deadline: 120s\n    params:\n      model: llm\n      system: \"You answer geography questions.\"\n      max_turns: 1\n      max_tokens: 64\n      answer_schema: {schema}\n",
        yaml()
    );
    let (swarm, url) = common::start(&yaml).await;
    let (s, report) = post(
        &common::http(),
        format!("{url}/v1/agents/capital/runs"),
        json!({ "input": "What is the capital of France?" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["stop"], "answered", "{report}");
    let answer: Value = serde_json::from_str(report["answer"].as_str().unwrap()).unwrap();
    assert!(
        jsonschema::is_valid(&schema, &answer),
        "{answer} does not match {schema}"
    );
    swarm.shutdown().await;
}
