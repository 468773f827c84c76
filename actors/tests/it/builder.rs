//! The Rust builder: every built-in service from typed params, plus the gateway, gives
//! the same plan as the same swarm in YAML, starts, serves HTTP, and lets a Rust caller
//! upsert and search by text through the typed vector client (the vector service embeds
//! through its declared `embed` dependency). A builder mistake is refused like YAML's.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use serde_json::json;
use swarm_actors::consensus::ConsensusParams;
use swarm_actors::echo::EchoParams;
use swarm_actors::embed::EmbedParams;
use swarm_actors::fhe::FheParams;
use swarm_actors::fl::FlParams;
use swarm_actors::gateway::{GatewayConfig, WithGateway};
use swarm_actors::http::ServiceClient;
use swarm_actors::nash::NashParams;
use swarm_actors::vector::core::{CollectionConfig, HnswParams, Metric, PointId, SearchQuery};
use swarm_actors::vector::{PointInput, VectorClient, VectorInput, VectorParams};
use swarm_runtime::topology::{SwarmBuilder, render_text};
use swarm_runtime::{CallOptions, SwarmConfig};
use swarm_test_util::within;

fn model_dir() -> String {
    format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"))
}

fn built(embed_for_vector: &str) -> SwarmBuilder {
    SwarmBuilder::new("built")
        .service("echo", EchoParams)
        .service("nash", NashParams)
        .service("fl", FlParams::default())
        .service(
            "consensus",
            ConsensusParams {
                voters: 4,
                swarm_id: "built".into(),
                round_timeout: Duration::from_secs(2),
            },
        )
        .service(
            "embed",
            EmbedParams {
                model_dir: model_dir().into(),
                model_name: "all-MiniLM-L6-v2".into(),
            },
        )
        .service(
            "vector",
            VectorParams {
                embed: Some(embed_for_vector.into()),
                ..VectorParams::default()
            },
        )
        .gateway(&GatewayConfig::new("127.0.0.1:0".parse().unwrap()))
}

#[test]
fn the_builder_plans_what_the_same_yaml_plans() {
    let registry = common::registry();
    let from_builder = built("embed").build(&registry).expect("valid");
    let yaml = format!(
        "swarm:\n  name: built\ngateway:\n  listen: 127.0.0.1:0\nservices:\n  echo:\n    type: echo\n  nash:\n    type: nash\n  fl:\n    type: fl\n  consensus:\n    type: consensus\n    params: {{ voters: 4, swarm_id: built, round_timeout: 2s }}\n  embed:\n    type: embed\n    params: {{ model_dir: {}, model_name: all-MiniLM-L6-v2 }}\n  vector:\n    type: vector\n    params: {{ embed: embed }}\n",
        model_dir()
    );
    let from_yaml = SwarmConfig::from_yaml(&yaml, "builder", &registry).expect("valid");
    assert_eq!(render_text(&from_builder), render_text(&from_yaml));
    assert_eq!(from_builder.start_order, from_yaml.start_order);
}

#[test]
fn a_builder_fl_service_can_name_its_fhe_service_for_secure_rounds() {
    let registry = common::registry();
    let keys = common::fhe_keys::dir();
    let from_builder = SwarmBuilder::new("secure")
        .service(
            "fl",
            FlParams {
                fhe: Some("fhe".into()),
                ..FlParams::default()
            },
        )
        .service(
            "fhe",
            FheParams {
                keys: keys.clone(),
                ..FheParams::default()
            },
        )
        .build(&registry)
        .expect("valid");
    let yaml = format!(
        "swarm:\n  name: secure\nservices:\n  fl:\n    type: fl\n    params: {{ fhe: fhe }}\n  fhe:\n    type: fhe\n    params: {{ keys: {} }}\n",
        keys.display()
    );
    let from_yaml = SwarmConfig::from_yaml(&yaml, "builder", &registry).expect("valid");
    assert_eq!(render_text(&from_builder), render_text(&from_yaml));
    assert_eq!(from_builder.start_order, from_yaml.start_order);
    assert!(
        render_text(&from_builder).contains("fhe"),
        "the dependency is drawn"
    );
}

#[test]
fn a_builder_mistake_is_refused_with_its_key_path() {
    let e = built("embedder")
        .build(&common::registry())
        .expect_err("invalid");
    let lines: Vec<(String, String)> =
        e.0.iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect();
    assert_eq!(
        lines,
        [(
            "services.vector.params.embed".to_string(),
            "no service named `embedder` (services: consensus, echo, embed, fl, nash, vector)"
                .to_string()
        )]
    );
}

#[test]
fn a_builder_cluster_places_services_on_nodes_like_yaml() {
    use swarm_runtime::topology::ServiceOptions;
    let cluster = json!({ "node": "a", "listen": "127.0.0.1:7001", "cookie_env": "C",
        "peers": [{ "node": "b", "address": "127.0.0.1:7002" }] });
    let plan = SwarmBuilder::new("placed")
        .section("cluster", cluster.clone())
        .service_with(
            "nash",
            "nash",
            NashParams,
            ServiceOptions::new().nodes(["b"]),
        )
        .build(&common::registry())
        .unwrap();
    assert_eq!(plan.services[0].nodes, ["b"]);
    assert!(!plan.services[0].runs_on(Some("a")));
    let e = SwarmBuilder::new("misplaced")
        .section("cluster", cluster)
        .service_with(
            "nash",
            "nash",
            NashParams,
            ServiceOptions::new().nodes(["z"]),
        )
        .build(&common::registry())
        .expect_err("unknown node");
    assert_eq!(e.0[0].path, "services.nash.nodes");
    assert_eq!(e.0[0].message, "unknown node `z` (known: a, b)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_caller_searches_by_text_through_the_vector_client() {
    let swarm = within(built("embed").start(&common::registry()))
        .await
        .expect("starts");
    let line = swarm.ready_lines().join(" ");
    let url = &line[line.find("http://").unwrap()..];
    let echoed: serde_json::Value = common::http()
        .post(format!("{url}/v1/echo"))
        .json(&json!({ "message": "built" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed, json!({ "message": "built" }));

    let vector = VectorClient::of(&swarm, "vector").expect("typed client");
    let o = CallOptions::default;
    let config = CollectionConfig {
        dimension: 384,
        distance: Metric::Cosine,
        hnsw: HnswParams::default(),
    };
    within(vector.create("notes".into(), config, o()))
        .await
        .unwrap();
    let texts = [
        "The cat sleeps on the warm windowsill.",
        "Central banks raised interest rates again.",
        "The striker scored twice in the final.",
    ];
    let points = texts
        .iter()
        .enumerate()
        .map(|(i, t)| PointInput {
            id: PointId::Num(i as u64),
            vector: VectorInput::Text((*t).into()),
            payload: json!({ "text": t }),
        })
        .collect();
    assert_eq!(
        within(vector.upsert("notes".into(), points, o())).await,
        Ok(3)
    );
    let query = SearchQuery {
        limit: 3,
        ..SearchQuery::default()
    };
    let hits = within(vector.search("notes".into(), query, Some("a kitten napping".into()), o()))
        .await
        .unwrap();
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids[0], PointId::Num(0), "{hits:?}");
    assert!(hits[0].score > hits[1].score);
    within(swarm.shutdown()).await;
}
