//! The FL routes over real HTTP: rounds opened, updates as JSON and as raw float32,
//! aggregation at the minimum, stragglers refused, rounds isolated and chained.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use common::post;
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
    let round = open_one_client_round(&c, &url).await;
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

/// POSTs `body` as JSON to `url`; the JSON answer.
async fn post_json(c: &reqwest::Client, url: String, body: Value) -> Value {
    c.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Opens a one-client FedAvg round; the round as answered.
async fn open_one_client_round(c: &reqwest::Client, url: &str) -> Value {
    let body = json!({"strategy": {"name": "fedavg"}, "min_clients": 1});
    post_json(c, format!("{url}/v1/fl/rounds"), body).await
}

/// Opens a one-client FedAvg round and closes it with one update; returns its id.
async fn closed_round(c: &reqwest::Client, url: &str) -> String {
    let r = open_one_client_round(c, url).await;
    let id = r["id"].as_str().unwrap().to_string();
    let update = json!({"client": "a", "num_examples": 1, "weights": [1.0]});
    let r = post_json(c, format!("{url}/v1/fl/rounds/{id}/updates"), update).await;
    assert_eq!(r["status"]["state"], "closed", "{r}");
    id
}

async fn status_of(c: &reqwest::Client, url: &str, id: &str) -> (StatusCode, Value) {
    let r = c
        .get(format!("{url}/v1/fl/rounds/{id}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_rounds_are_kept_by_count_then_answer_404_expired() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fl:\n    type: fl\n    params: { keep_closed: 1, keep_closed_for: 1h }\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let first = closed_round(&c, &url).await;
    let second = closed_round(&c, &url).await;
    // Opening the second swept with one ended round: both still readable.
    assert_eq!(status_of(&c, &url, &first).await.0, StatusCode::OK);
    let _third = closed_round(&c, &url).await;
    // Opening the third found two ended rounds, one over `keep_closed`: the oldest left.
    let (s, v) = status_of(&c, &url, &first).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("has expired") && message.contains("keep_closed"),
        "{v}"
    );
    assert_eq!(status_of(&c, &url, &second).await.0, StatusCode::OK);
    let (s, v) = status_of(&c, &url, "r0000000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        v["error"]["message"],
        "not found: no round `r0000000000000000`"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_rounds_past_their_time_expire() {
    // keep_closed_for 0s: an ended round is gone at the next sweep (the next open).
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fl:\n    type: fl\n    params: { keep_closed_for: 0s }\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let first = closed_round(&c, &url).await;
    assert_eq!(status_of(&c, &url, &first).await.0, StatusCode::OK);
    let second = closed_round(&c, &url).await;
    let (s, v) = status_of(&c, &url, &first).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has expired")
    );
    assert_eq!(status_of(&c, &url, &second).await.0, StatusCode::OK);
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_rounds_and_their_bytes_are_bounded_and_ended_rounds_make_room_first() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fl:\n    type: fl\n    params: { max_open_rounds: 2, max_bytes: 1000, keep_closed_for: 1h }\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let open = |n: u64| json!({"strategy": {"name": "fedavg"}, "min_clients": n});
    let update =
        |client: &str| json!({"client": client, "num_examples": 1, "weights": vec![0.5f32; 100]});

    // 100 floats held until aggregation, counted as 8 bytes each against max_bytes 1000.
    let (s, first) = post(&c, format!("{url}/v1/fl/rounds"), open(1)).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().unwrap().to_string();
    let (s, v) = post(
        &c,
        format!("{url}/v1/fl/rounds/{first}/updates"),
        update("a"),
    )
    .await;
    assert_eq!(
        (s, &v["status"]["state"]),
        (StatusCode::OK, &json!("closed")),
        "{v}"
    );

    // The closed round's model (400 bytes, plus its state) must leave to make room.
    let (_, second) = post(&c, format!("{url}/v1/fl/rounds"), open(2)).await;
    let second = second["id"].as_str().unwrap().to_string();
    let (s, v) = post(
        &c,
        format!("{url}/v1/fl/rounds/{second}/updates"),
        update("a"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = status_of(&c, &url, &first).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // An open round's updates cannot be let go: the next one is refused, 503, and named.
    let (s, v) = post(
        &c,
        format!("{url}/v1/fl/rounds/{second}/updates"),
        update("b"),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_bytes"),
        "{v}"
    );

    // Two rounds open is the limit.
    let (s, v) = post(&c, format!("{url}/v1/fl/rounds"), open(2)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = post(&c, format!("{url}/v1/fl/rounds"), open(2)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_open_rounds"),
        "{v}"
    );
    swarm.shutdown().await;
}
