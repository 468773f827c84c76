//! `POST /v1/embeddings` over real HTTP, in OpenAI's shapes, through the batcher and the
//! real model; answers compared with the independent reference vectors.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn reference(i: usize) -> (String, usize, Vec<f32>) {
    let raw: Value = serde_json::from_str(include_str!("../data/minilm_reference.json")).unwrap();
    let r = &raw["references"][i];
    let v = r["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    (
        r["text"].as_str().unwrap().to_string(),
        r["tokens"].as_u64().unwrap() as usize,
        v,
    )
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_shaped_embeddings_through_the_batcher() {
    let dir = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  embed:\n    type: embed\n    workers: 16\n    params:\n      model_dir: {dir}\n      batch: {{ max_batch_size: 8, max_wait: 5ms, max_batch_tokens: 4096, max_concurrent_batches: 1 }}\n"
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let post = |body: Value| c.post(format!("{url}/v1/embeddings")).json(&body).send();
    let (t0, n0, v0) = reference(0);
    let (t1, n1, v1) = reference(1);

    let r: Value = post(json!({"input": t0, "model": "all-MiniLM-L6-v2"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "list");
    assert_eq!(r["model"], "all-MiniLM-L6-v2");
    assert_eq!(r["data"][0]["object"], "embedding");
    assert_eq!(r["data"][0]["index"], 0);
    let e = floats(&r["data"][0]["embedding"]);
    assert_eq!(e.len(), 384);
    assert!(cosine(&e, &v0) >= 0.999);
    assert_eq!(r["usage"]["prompt_tokens"], n0);

    let r: Value = post(json!({"input": [t1.clone(), t0.clone()], "encoding_format": "base64"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decode = |v: &Value| -> Vec<f32> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    assert_eq!(r["data"][0]["index"], 0);
    assert!(cosine(&decode(&r["data"][0]["embedding"]), &v1) >= 0.999);
    assert!(cosine(&decode(&r["data"][1]["embedding"]), &v0) >= 0.999);
    assert_eq!(r["usage"]["total_tokens"], n0 + n1);

    // Concurrent single-text requests are batched together and each gets its own answer.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (c, url, text) = (
            c.clone(),
            url.clone(),
            if i % 2 == 0 { t0.clone() } else { t1.clone() },
        );
        tasks.push(tokio::spawn(async move {
            c.post(format!("{url}/v1/embeddings"))
                .json(&json!({"input": text}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        let want = if i % 2 == 0 { &v0 } else { &v1 };
        assert!(
            cosine(&floats(&r["data"][0]["embedding"]), want) >= 0.999,
            "request {i}"
        );
    }

    for (bad, needle) in [
        (json!({"input": []}), "must not be empty"),
        (
            json!({"input": [1, 2, 3]}),
            "token-id input is not supported",
        ),
        (
            json!({"input": "x", "encoding_format": "bf16"}),
            "encoding_format",
        ),
        (json!({"input": "x", "dimensions": 128}), "384 dimensions"),
        (json!({"input": 7}), "string or a list of strings"),
    ] {
        let r = post(bad.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.text().await.unwrap().contains(needle), "{bad}");
    }
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_fails_start_up_with_how_to_fetch_it() {
    let yaml =
        "services:\n  embed:\n    type: embed\n    params: { model_dir: /nonexistent/minilm }\n";
    let config = swarm_runtime::SwarmConfig::from_yaml_with_env(
        yaml,
        "t.yaml",
        &common::registry(),
        &|_| None,
    )
    .unwrap();
    let err = swarm_runtime::Swarm::start(config)
        .await
        .err()
        .expect("start fails");
    assert!(err.to_string().contains("make models"), "{err}");
}
