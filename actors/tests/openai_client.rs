//! The official OpenAI Python client, unchanged, against the gateway's /v1/embeddings
//! (make test installs it: `python3 -m pip install openai`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_unchanged() {
    let dir = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  embed:\n    type: embed\n    workers: 8\n    params: {{ model_dir: {dir} }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let script = format!(
        "{}/../scripts/openai_client_check.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("python3")
            .arg(&script)
            .arg(&url)
            .output(),
    )
    .await
    .expect("bounded")
    .expect("python3 runs");
    swarm.shutdown().await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(seen["count"], 2);
    assert_eq!(seen["dims"], serde_json::json!([384, 384, 384]));
    assert_eq!(seen["indexes"], serde_json::json!([0, 1]));
    assert!(
        seen["same_text_cosine"].as_f64().unwrap() > 0.9999,
        "base64 and float encodings agree: {seen}"
    );
    assert!(seen["similar_cosine"].as_f64().unwrap() > 0.5);
    assert_eq!(seen["model"], "all-MiniLM-L6-v2");
}
