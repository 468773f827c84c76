//! The embedding example runs and its own service answers through the swarm: by typed
//! client, over HTTP on its own route (two instances, one under a route prefix), and from
//! the Rust builder, which validates exactly like YAML.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use swarm_examples::registry;
use swarm_runtime::topology::ServiceOptions;
use swarm_runtime::{Swarm, SwarmConfig};

use swarm_test_util::within;

const EXPECTED: [&str; 3] = [
    "hello from the app",
    "keyword hits: 3",
    "refused: invalid_request",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_app_calls_its_own_service_and_a_built_in_one() {
    let out = within(swarm_examples::run()).await.expect("runs");
    assert_eq!(out, EXPECTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_starts_the_same_swarm() {
    let out = within(swarm_examples::run_built()).await.expect("runs");
    assert_eq!(out, EXPECTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn its_route_is_mounted_for_both_instances() {
    let config = SwarmConfig::from_yaml(swarm_examples::CONFIG, "embedded.yaml", &registry())
        .expect("valid");
    let swarm = within(Swarm::start(config)).await.expect("starts");
    let line = swarm.ready_lines().join(" ");
    let url = &line[line.find("http://").expect("url")..];
    let http = reqwest::Client::new();
    let text = serde_json::json!({ "text": "A swarm of actors: every actor supervised." });
    for (path, hits) in [("/v1/keywords/score", 3), ("/strict/v1/keywords/score", 1)] {
        let r = within(http.post(format!("{url}{path}")).json(&text).send())
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "hits": hits }), "{path}");
    }
    let r = within(
        http.post(format!("{url}/v1/keywords/score"))
            .json(&serde_json::json!({ "text": "" }))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    within(swarm.shutdown()).await;
}

#[test]
fn its_params_are_validated_like_everything_else() {
    let yaml =
        swarm_examples::CONFIG.replace("keywords: [swarm, actor]", "keywords: []\n      typo: 1");
    let e = SwarmConfig::from_yaml(&yaml, "embedded.yaml", &registry()).expect_err("invalid");
    let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "embedded.yaml:13:17: services.scorer.params.keywords: needs at least one keyword",
            "embedded.yaml:14:7: services.scorer.params.typo: unknown key `typo` (expected one of: keywords)",
        ]
    );
    // The builder refuses the same params with the same key paths and messages.
    let built = Swarm::builder("embedded")
        .service_with(
            "scorer",
            "keyword_agent",
            serde_json::json!({ "keywords": [], "typo": 1 }),
            ServiceOptions::new().workers(2),
        )
        .build(&registry())
        .expect_err("invalid");
    let messages: Vec<(String, String)> = built
        .0
        .iter()
        .map(|e| (e.path.clone(), e.message.clone()))
        .collect();
    let from_yaml: Vec<(String, String)> =
        e.0.iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect();
    assert_eq!(messages, from_yaml);
}

#[test]
fn two_instances_on_one_prefix_are_refused() {
    let yaml = swarm_examples::CONFIG.replace("    route_prefix: /strict\n", "");
    let e = SwarmConfig::from_yaml(&yaml, "embedded.yaml", &registry()).expect_err("invalid");
    let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("embedded.yaml:15:5: services.strict: `strict` and `scorer` are both of type `keyword_agent`"),
        "{lines:?}"
    );
    assert!(lines[0].contains("own `route_prefix`"), "{lines:?}");
    // Without a gateway nothing serves routes: the same two services are fine.
    let headless = yaml.replace("gateway:\n  listen: 127.0.0.1:0\n", "");
    assert!(SwarmConfig::from_yaml(&headless, "embedded.yaml", &registry()).is_ok());
}
