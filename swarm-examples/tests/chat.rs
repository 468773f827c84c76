//! The chat example: an app embedding a swarm gets the same greedy answer whole and
//! streamed (in several pieces) from the real SmolLM2 model through `LlmClient`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use swarm_test_util::within;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_app_chats_whole_and_streamed() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let t = within(swarm_examples::chat::chat(model))
        .await
        .expect("runs");
    assert!(t.answer.contains("Paris"), "{t:?}");
    assert_eq!(t.streamed, t.answer);
    assert!(t.pieces > 1, "{t:?}");
}
