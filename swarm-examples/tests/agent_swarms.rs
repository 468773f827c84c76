//! The example agent swarms of `config/agents/`, run end to end on the real default
//! models: every agent of each workflow runs in order and answers; whatever tools the
//! 135M model manages to call give the services' answers — a `propose` comes back with a
//! certificate that verifies offline against the voters' public keys, `search_memory`
//! finds the loaded documents. (Whether this small model calls a tool well is its own
//! matter: its calls are often too long for their turn and refused with the reason.)
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;
use swarm_actors::consensus::ConsensusClient;
use swarm_actors::consensus::core::{Certificate, VoterSet};
use swarm_actors::http::ServiceClient;
use swarm_examples::agents::{DOCUMENTS, PRECEDENTS, load, run, start};
use swarm_runtime::CallOptions;

/// A whole workflow on a loaded 2-core machine: bounded, generously.
const LONG: std::time::Duration = std::time::Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_for(data: &std::path::Path) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    let models = root().join("models").display().to_string();
    let data = data.display().to_string();
    move |k: &str| match k {
        "SWARM_MODELS" => Some(models.clone()),
        "SWARM_DATA" => Some(data.clone()),
        "SWARM_LISTEN" => Some("127.0.0.1:0".into()),
        _ => None,
    }
}

fn events<'a>(step: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    step["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(move |e| e["type"] == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispute_swarm_negotiates_solves_and_certifies() {
    let data = tempfile::tempdir().unwrap();
    let swarm = start(
        &root().join("config/agents/dispute.yaml"),
        &env_for(data.path()),
    )
    .await
    .unwrap();
    load(&swarm, "precedents", &PRECEDENTS).await.unwrap();
    let input =
        "The goods arrived three weeks late; the buyer wants 30% off, the seller offers 5%.";
    let report = tokio::time::timeout(LONG, run(&swarm, "dispute", input, |_| {}))
        .await
        .expect("bounded")
        .unwrap();
    let report = serde_json::to_value(&report).unwrap();
    let steps = report["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["buyer", "seller", "mediator", "clerk"], "{report}");
    for step in steps {
        assert_eq!(step["stop"], "answered", "{step}");
    }
    let mediator = &steps[2];
    assert!(
        events(mediator, "tool_call_requested").all(|c| c["call"]["name"] == "solve_game"),
        "{mediator}"
    );
    // A proposal the clerk made comes back decided, with a certificate that verifies offline.
    let clerk = &steps[3];
    let decided: Vec<&Value> = events(clerk, "tool_call_completed")
        .filter(|e| e["name"] == "propose")
        .collect();
    let voters = ConsensusClient::of(&swarm, "consensus")
        .unwrap()
        .voters(CallOptions::default())
        .await
        .unwrap();
    let keys = voters
        .voters
        .iter()
        .map(|v| {
            let bytes: [u8; 32] = hex::decode(&v.public_key).unwrap().try_into().unwrap();
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
        })
        .collect();
    let set = VoterSet::new("dispute", keys).unwrap();
    for decision in decided {
        let certificate: Certificate =
            serde_json::from_value(decision["result"]["certificate"].clone()).unwrap();
        certificate.verify(&set).unwrap();
    }
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_research_swarm_plans_searches_and_writes() {
    let data = tempfile::tempdir().unwrap();
    let swarm = start(
        &root().join("config/agents/research.yaml"),
        &env_for(data.path()),
    )
    .await
    .unwrap();
    load(&swarm, "documents", &DOCUMENTS).await.unwrap();
    let question = "Should a family in a cold town install a heat pump?";
    let report = tokio::time::timeout(LONG, run(&swarm, "research", question, |_| {}))
        .await
        .expect("bounded")
        .unwrap();
    let report = serde_json::to_value(&report).unwrap();
    let steps = report["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["planner", "facts", "risks", "writer"], "{report}");
    let plan = steps[0]["answer"].as_str().unwrap();
    for researcher in &steps[1..3] {
        assert!(
            researcher["input"]
                .as_str()
                .unwrap()
                .ends_with(&format!("The plan:\n{plan}"))
        );
        assert_eq!(researcher["stop"], "answered", "{researcher}");
        // Whatever it found is among the loaded documents.
        for found in events(researcher, "tool_call_completed") {
            for note in found["result"]["notes"].as_array().unwrap() {
                assert!(
                    DOCUMENTS.contains(&note["text"].as_str().unwrap()),
                    "{note}"
                );
            }
        }
    }
    assert_eq!(report["answer"], steps[3]["answer"]);
    swarm.shutdown().await;
}
