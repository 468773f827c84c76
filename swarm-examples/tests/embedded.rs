//! The embedding example runs and its own service answers through the swarm.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_app_calls_its_own_service_and_a_built_in_one() {
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), swarm_examples::run())
        .await
        .expect("bounded")
        .expect("runs");
    assert_eq!(
        out,
        [
            "hello from the app",
            "keyword hits: 3",
            "refused: invalid_request"
        ]
    );
}

#[test]
fn its_params_are_validated_like_everything_else() {
    let yaml =
        swarm_examples::CONFIG.replace("keywords: [swarm, actor]", "keywords: []\n      typo: 1");
    let e =
        swarm_runtime::SwarmConfig::from_yaml(&yaml, "embedded.yaml", &swarm_examples::registry())
            .expect_err("invalid");
    let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "embedded.yaml:11:17: services.scorer.params.keywords: needs at least one keyword",
            "embedded.yaml:12:7: services.scorer.params.typo: unknown key `typo` (expected one of: keywords)",
        ]
    );
}
