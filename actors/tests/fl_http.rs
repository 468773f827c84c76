//! The FL routes over real HTTP: rounds opened, updates as JSON and as raw float32,
//! aggregation at the minimum, stragglers refused, rounds isolated and chained.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn raw(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_over_http() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fl:\n    type: fl\n    workers: 2\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let open = |body: Value| c.post(format!("{url}/v1/fl/rounds")).json(&body).send();

    let r = open(json!({"strategy": {"name": "fedavg"}, "min_clients": 2}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let round: Value = r.json().await.unwrap();
    let id = round["id"].as_str().unwrap().to_string();
    assert_eq!(round["status"]["state"], "open");
    let other: Value = open(json!({"strategy": {"name": "fedmedian"}, "min_clients": 3}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_id = other["id"].as_str().unwrap();

    let updates = format!("{url}/v1/fl/rounds/{id}/updates");
    let r = c
        .post(&updates)
        .json(&json!({"client": "a", "num_examples": 1, "weights": [1.0, 2.0, 3.0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["received"].as_u64(), body["needed"].as_u64()),
        (Some(1), Some(2))
    );

    for (bytes, client, needle) in [
        (raw(&[1.0, f32::NAN, 3.0]), "b", "not a finite number"),
        (
            raw(&[1.0, 2.0]),
            "b",
            "has 2 parameters but this round has 3",
        ),
        (raw(&[1.0, 2.0, 3.0]), "a", "already submitted"),
        (vec![0u8; 7], "b", "not a whole number of float32"),
    ] {
        let r = c
            .post(&updates)
            .header("content-type", "application/octet-stream")
            .header("x-fl-client", client)
            .header("x-fl-num-examples", "1")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e}"
        );
    }
    let r = c
        .post(&updates)
        .header("content-type", "application/octet-stream")
        .header("x-fl-client", "b")
        .header("x-fl-num-examples", "3")
        .body(raw(&[5.0, 6.0, 7.0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let got: Value = c
        .get(format!("{url}/v1/fl/rounds/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"]["state"], "closed");
    assert_eq!(got["participants"], json!(["a", "b"]));
    assert_eq!(got["model"], json!([4.0, 5.0, 6.0])); // (1·[1,2,3] + 3·[5,6,7]) / 4
    let r = c
        .post(&updates)
        .json(&json!({"client": "late", "num_examples": 1, "weights": [0.0, 0.0, 0.0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("too late"));

    // The other round was untouched.
    let o: Value = c
        .get(format!("{url}/v1/fl/rounds/{other_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            o["status"]["state"].as_str(),
            o["participants"].as_array().map(Vec::len)
        ),
        (Some("open"), Some(0))
    );

    // Chained FedAvgM round continues from the closed one's model.
    let next: Value = open(json!({"strategy": {"name": "fedavgm", "server_momentum": 0.9}, "min_clients": 1, "after": id})).await.unwrap().json().await.unwrap();
    assert_eq!(next["server_round"], 2);

    let r = c
        .get(format!("{url}/v1/fl/rounds/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = open(json!({"strategy": {"name": "fedadam"}, "min_clients": 2}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = open(json!({"strategy": {"name": "fedsomething"}, "min_clients": 2}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c.post(&updates).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_megabyte_update_passes_the_upload_limit_and_a_larger_one_is_413() {
    let yaml =
        "gateway:\n  listen: 127.0.0.1:0\n  upload_limit: 5MiB\nservices:\n  fl:\n    type: fl\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let round: Value = c
        .post(format!("{url}/v1/fl/rounds"))
        .json(&json!({"strategy": {"name": "fedavg"}, "min_clients": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let updates = format!(
        "{url}/v1/fl/rounds/{}/updates",
        round["id"].as_str().unwrap()
    );
    let big = raw(&vec![0.5f32; 1_500_000]);
    let r = c
        .post(&updates)
        .header("content-type", "application/octet-stream")
        .header("x-fl-client", "a")
        .header("x-fl-num-examples", "1")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let ok = raw(&vec![0.5f32; 1_000_000]);
    let r = c
        .post(&updates)
        .header("content-type", "application/octet-stream")
        .header("x-fl-client", "a")
        .header("x-fl-num-examples", "1")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    swarm.shutdown().await;
}
