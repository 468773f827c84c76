//! `/v1/collections/…` over real HTTP in Qdrant's shapes: vectors and texts (embedded by
//! the real MiniLM model), filters, deletions, clear 4xx errors, and a restart of the
//! whole swarm on the same data directory.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn yaml(data: &std::path::Path) -> String {
    let model = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  embed:\n    type: embed\n    workers: 8\n    params:\n      model_dir: {model}\n      batch: {{ max_batch_size: 8, max_wait: 2ms, max_batch_tokens: 4096, max_concurrent_batches: 1 }}\n  vector:\n    type: vector\n    workers: 4\n    params:\n      embed: embed\n      data_dir: {}\n",
        data.display()
    )
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn ids(v: &Value) -> Vec<Value> {
    v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_points_search_and_restart() {
    let data = tempfile::tempdir().unwrap();
    let (swarm, url) = common::start(&yaml(data.path())).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/notes");

    let (s, v) = send(c.put(&col).json(&json!({ "dimension": 384, "distance": "Cosine", "hnsw": { "m": 16, "ef_construction": 100, "ef_search": 64 } }))).await;
    assert_eq!((s, &v["result"]), (StatusCode::OK, &json!(true)), "{v}");
    let (s, v) = send(
        c.put(&col)
            .json(&json!({ "dimension": 384, "distance": "Cosine" })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let texts = [
        (
            1,
            "The cat sat on the warm windowsill all afternoon.",
            "pets",
        ),
        (
            2,
            "A kitten napped in a patch of sunlight by the window.",
            "pets",
        ),
        (
            3,
            "Quarterly revenue grew by twelve percent year over year.",
            "finance",
        ),
        (
            4,
            "The central bank raised interest rates again.",
            "finance",
        ),
        (
            5,
            "Mix flour, eggs and butter, then bake for twenty minutes.",
            "food",
        ),
    ];
    let points: Vec<Value> = texts
        .iter()
        .map(|(id, t, topic)| json!({ "id": id, "text": t, "payload": { "topic": topic, "len": t.len() } }))
        .collect();
    let (s, v) = send(
        c.put(format!("{col}/points"))
            .json(&json!({ "points": points })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["result"]["points"], 5);
    // A point by vector, with a UUID id: the stored unit vector of point 1, slightly moved.
    let (_, p1) = send(c.get(format!("{col}/points/1"))).await;
    let mut near: Vec<f64> = p1["result"]["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    near[0] += 0.01;
    let uuid = "7f1a7e9c-3c51-4bde-9a52-0f5e9c2f1b11";
    let (s, _) = send(c.put(format!("{col}/points")).json(
        &json!({ "points": [{ "id": uuid, "vector": near, "payload": { "topic": "pets" } }] }),
    ))
    .await;
    assert_eq!(s, StatusCode::OK);

    let search = |body: Value| send(c.post(format!("{col}/points/search")).json(&body));
    let (s, v) =
        search(json!({ "text": "a sleepy cat by the window", "limit": 3, "with_payload": true }))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let top: Vec<Value> = ids(&v);
    assert!(
        top[..3].contains(&json!(1)) && top[..3].contains(&json!(2)),
        "{v}"
    );
    assert_eq!(v["result"][0]["payload"]["topic"], "pets");
    let (_, v) = search(json!({ "text": "interest rates and inflation", "limit": 2, "filter": { "must": [{ "key": "topic", "match": { "value": "finance" } }] } })).await;
    assert_eq!(ids(&v).len(), 2);
    assert!(ids(&v).iter().all(|id| *id == json!(3) || *id == json!(4)));
    assert!(
        v["result"][0].get("payload").is_none(),
        "payload only when asked"
    );
    let (_, v) = search(json!({ "vector": near, "limit": 1 })).await;
    assert_eq!(ids(&v), vec![json!(uuid)]);
    let (_, v) = search(json!({ "vector": near, "limit": 10, "score_threshold": 0.99 })).await;
    assert_eq!(
        ids(&v).len(),
        2,
        "only the UUID point and point 1 are that close: {v}"
    );
    let (_, v) = search(json!({ "text": "cats", "limit": 10, "filter": { "must": [{ "key": "len", "range": { "gte": 40, "lt": 51 } }] } })).await;
    let mut got = ids(&v);
    got.sort_by_key(|x| x.to_string());
    let want: Vec<Value> = texts
        .iter()
        .filter(|(_, t, _)| (40..51).contains(&t.len()))
        .map(|(id, _, _)| json!(id))
        .collect();
    assert!(!want.is_empty() && want.len() < 5);
    assert_eq!(got, want, "{v}");

    // Delete by id and by filter; deleted points never come back.
    let (s, v) = send(
        c.post(format!("{col}/points/delete"))
            .json(&json!({ "points": [1] })),
    )
    .await;
    assert_eq!((s, &v["result"]["deleted"]), (StatusCode::OK, &json!(1)));
    let (_, v) = send(c.post(format!("{col}/points/delete")).json(
        &json!({ "filter": { "must": [{ "key": "topic", "match": { "value": "food" } }] } }),
    ))
    .await;
    assert_eq!(v["result"]["deleted"], 1);
    let (_, v) = search(json!({ "text": "cat on a windowsill", "limit": 10 })).await;
    assert!(!ids(&v).contains(&json!(1)) && !ids(&v).contains(&json!(5)));
    assert_eq!(ids(&v).len(), 4);
    let (_, info) = send(c.get(&col)).await;
    assert_eq!(info["result"]["points_count"], 4, "{info}");
    assert_eq!(info["result"]["config"]["params"]["vectors"]["size"], 384);
    let before = search(json!({ "text": "money", "limit": 4, "with_payload": true }))
        .await
        .1["result"]
        .clone();

    // Restart the whole swarm on the same data directory.
    swarm.shutdown().await;
    let (swarm, url) = common::start(&yaml(data.path())).await;
    let col = format!("{url}/v1/collections/notes");
    let (_, info) = send(c.get(&col)).await;
    assert_eq!(info["result"]["points_count"], 4);
    let (_, v) = send(
        c.post(format!("{col}/points/search"))
            .json(&json!({ "text": "money", "limit": 4, "with_payload": true })),
    )
    .await;
    let after = v["result"].clone();
    assert_eq!(
        ids(&json!({ "result": after.clone() })),
        ids(&json!({ "result": before.clone() }))
    );
    assert_eq!(
        after
            .as_array()
            .unwrap()
            .iter()
            .map(|h| &h["payload"])
            .collect::<Vec<_>>(),
        before
            .as_array()
            .unwrap()
            .iter()
            .map(|h| &h["payload"])
            .collect::<Vec<_>>()
    );
    let (s, _) = send(c.get(format!("{col}/points/1"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, _) = send(c.delete(&col)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = send(c.get(&col)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx_errors() {
    let data = tempfile::tempdir().unwrap();
    let (swarm, url) = common::start(&yaml(data.path())).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/small");
    let (s, _) = send(
        c.put(&col)
            .json(&json!({ "dimension": 3, "distance": "Euclid" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (c.put(format!("{url}/v1/collections/x")).json(&json!({ "dimension": 3, "distance": "Manhattan" })), StatusCode::UNPROCESSABLE_ENTITY, "unknown distance"),
        (c.put(format!("{url}/v1/collections/x")).json(&json!({ "distance": "Dot" })), StatusCode::UNPROCESSABLE_ENTITY, "`dimension` is required"),
        (c.put(format!("{url}/v1/collections/bad%20name")).json(&json!({ "dimension": 3, "distance": "Dot" })), StatusCode::UNPROCESSABLE_ENTITY, "collection name"),
        (c.put(format!("{col}/points")).json(&json!({ "points": [{ "id": 1, "vector": [1.0, 2.0] }] })), StatusCode::UNPROCESSABLE_ENTITY, "dimension 2, the collection expects 3"),
        (c.put(format!("{col}/points")).json(&json!({ "points": [{ "id": 1, "vector": [1.0, 2.0, 1e39] }] })), StatusCode::UNPROCESSABLE_ENTITY, "not a finite number"),
        (c.put(format!("{col}/points")).header("content-type", "application/json").body(r#"{"points":[{"id":1,"vector":[NaN,0,0]}]}"#), StatusCode::BAD_REQUEST, ""),
        (c.put(format!("{col}/points")).json(&json!({ "points": [{ "id": -4, "vector": [1, 2, 3] }] })), StatusCode::UNPROCESSABLE_ENTITY, "points[0].id"),
        (c.put(format!("{col}/points")).json(&json!({ "points": [{ "id": 1 }] })), StatusCode::UNPROCESSABLE_ENTITY, "exactly one of `vector` and `text`"),
        (c.put(format!("{url}/v1/collections/nope/points")).json(&json!({ "points": [{ "id": 1, "vector": [1, 2, 3] }] })), StatusCode::NOT_FOUND, "no collection `nope`"),
        (c.post(format!("{col}/points/search")).json(&json!({ "vector": [1, 2, 3], "filter": { "must": [{ "key": "a", "range": { "gt": "high" } }] } })), StatusCode::UNPROCESSABLE_ENTITY, "filter.must[0].range.gt"),
        (c.post(format!("{col}/points/search")).json(&json!({ "vector": [1, 2], "limit": 3 })), StatusCode::UNPROCESSABLE_ENTITY, "dimension 2"),
        (c.post(format!("{col}/points/search")).json(&json!({ "vector": [1, 2, 3], "limit": 0 })), StatusCode::UNPROCESSABLE_ENTITY, "`limit`"),
        (c.post(format!("{col}/points/search")).json(&json!({ "vector": [1, 2, 3], "limit": 3, "colour": "red" })), StatusCode::UNPROCESSABLE_ENTITY, "unknown field `colour`"),
        (c.post(format!("{col}/points/delete")).json(&json!({})), StatusCode::UNPROCESSABLE_ENTITY, "exactly one of `points` and `filter`"),
        (c.post(format!("{col}/points/recommend")).json(&json!({ "positive": [1] })), StatusCode::NOT_FOUND, "POST /v1/collections/small/points/recommend is not supported"),
        (c.patch(&col).json(&json!({})), StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        (c.post(format!("{col}/points/scroll")).json(&json!({ "order_by": "n" })), StatusCode::UNPROCESSABLE_ENTITY, "`order_by` is not supported"),
    ];
    for (req, status, message) in cases {
        let (s, v) = send(req).await;
        assert_eq!(s, status, "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(message), "`{m}` lacks `{message}`");
        assert!(v["error"]["code"].is_string());
        // Qdrant's error shape beside the swarm's, so Qdrant clients show the message.
        assert_eq!(v["status"]["error"].as_str(), Some(m), "{v}");
    }
    let (_, v) = send(c.get(&col)).await;
    assert_eq!(v["result"]["points_count"], 0, "no bad write landed");
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrants_older_search_api_and_its_batches() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/old");
    let (s, _) = send(c.put(&col).json(
        &json!({ "vectors": { "": { "size": 2, "distance": "Euclid" } }, "sparse_vectors": {} }),
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = send(c.put(format!("{col}/points?wait=true")).json(&json!({ "batch": {
        "ids": [1, 2, 3], "vectors": [[0, 0], [3, 4], [6, 8]], "payloads": [{ "k": "a" }, { "k": "b" }, null] } })))
    .await;
    assert_eq!(
        (s, &v["result"]["status"]),
        (StatusCode::OK, &json!("completed")),
        "{v}"
    );
    // Euclid scores are distances: (0,0) is 5 from (3,4) and 10 from (6,8).
    let (s, v) = send(c.post(format!("{col}/points/search")).json(&json!({
        "vector": { "name": "", "vector": [0, 0] }, "limit": 2, "offset": 1,
        "with_payload": ["k"], "with_vector": true })))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["result"],
        json!([{ "id": 2, "version": 0, "score": 5.0, "payload": { "k": "b" }, "vector": [3.0, 4.0] },
               { "id": 3, "version": 0, "score": 10.0, "payload": {}, "vector": [6.0, 8.0] }])
    );
    let (s, v) = send(c.post(format!("{col}/points/search/batch")).json(&json!({ "searches": [
        { "vector": [6, 8], "limit": 1 },
        { "vector": [0, 0], "limit": 3, "filter": { "must": [{ "is_empty": { "key": "k" } }] } } ] })))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let lists: Vec<Vec<Value>> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].clone())
                .collect()
        })
        .collect();
    assert_eq!(lists, vec![vec![json!(3)], vec![json!(3)]]);
    let (s, v) = send(
        c.post(format!("{col}/points/search/batch"))
            .json(&json!({ "searches": [
        { "vector": [6, 8] }, { "vector": [6] } ] })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["status"]["error"]
            .as_str()
            .unwrap()
            .contains("dimension 1"),
        "{v}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_without_an_embedding_service_asks_for_a_vector() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/plain");
    let (s, _) = send(
        c.put(&col)
            .json(&json!({ "dimension": 2, "distance": "Dot" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = send(
        c.put(format!("{col}/points"))
            .json(&json!({ "points": [{ "id": 1, "text": "hello" }] })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send `vector`"),
        "{v}"
    );
    let (_, v) = send(c.get(&col)).await;
    assert_eq!(v["result"]["points_count"], 0);
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_collection_is_503_and_in_health_while_the_others_serve() {
    let data = tempfile::tempdir().unwrap();
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n    params:\n      data_dir: {}\n",
        data.path().display()
    );
    {
        let (swarm, url) = common::start(&yaml).await;
        let c = common::http();
        for name in ["good", "bad"] {
            let col = format!("{url}/v1/collections/{name}");
            let (s, _) = send(
                c.put(&col)
                    .json(&json!({ "dimension": 2, "distance": "Dot" })),
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            for id in 1..=3 {
                let (s, v) = send(
                    c.put(format!("{col}/points"))
                        .json(&json!({ "points": [{ "id": id, "vector": [1.0, id as f32] }] })),
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{v}");
            }
        }
        swarm.shutdown().await;
    }
    // A bit flipped in the first of `bad`'s three log records.
    let wal = data.path().join("bad").join("wal.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();

    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let (s, v) = send(c.get(format!("{url}/v1/collections/good"))).await;
    assert_eq!(
        (s, &v["result"]["points_count"]),
        (StatusCode::OK, &json!(3))
    );
    let (s, v) = send(c.get(format!("{url}/v1/collections/bad"))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is corrupt at byte 0"),
        "{v}"
    );
    let (s, v) = send(c.get(format!("{url}/health"))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let detail = v["services"]["vector"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("collections not served: `bad`"),
        "{detail}"
    );
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        bytes,
        "the log is kept as it was"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_batches_have_their_own_body_limit() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\n  body_limit: 1KiB\n  upload_limit: 1MiB\n  points_limit: 4KiB\nservices:\n  vector:\n    type: vector\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/limited");
    let (s, _) = send(
        c.put(&col)
            .json(&json!({ "dimension": 8, "distance": "Dot" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let batch = |n: u64| {
        let points: Vec<Value> = (0..n)
            .map(|i| json!({ "id": i, "vector": vec![0.125f32; 8] }))
            .collect();
        json!({ "points": points })
    };
    // ~2.5 KiB: over the body limit, under the points limit.
    let (s, v) = send(c.put(format!("{col}/points")).json(&batch(40))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // ~5 KiB: over the points limit (and far under the upload limit).
    let (s, v) = send(c.put(format!("{col}/points")).json(&batch(80))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4096 bytes"),
        "{v}"
    );
    // Other vector routes keep the body limit.
    let (s, v) = send(c.post(format!("{col}/points/count")).json(
        &json!({ "filter": { "must": [{ "key": "x".repeat(2048), "match": { "value": 1 } }] } }),
    ))
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{v}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_ordering_and_payload_index_calls_are_accepted_as_qdrant_answers_them() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let col = format!("{url}/v1/collections/ord");
    let (s, _) = send(
        c.put(&col)
            .json(&json!({ "vectors": { "size": 2, "distance": "Dot" } })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for ordering in ["weak", "medium", "strong"] {
        let (s, v) = send(
            c.put(format!("{col}/points?wait=false&ordering={ordering}"))
                .json(&json!({ "points": [{ "id": 1, "vector": [1, 0], "payload": { "k": ordering } }] })),
        )
        .await;
        assert_eq!(
            (s, &v["result"]["status"]),
            (StatusCode::OK, &json!("completed")),
            "{v}"
        );
    }
    let (_, v) = send(
        c.post(format!("{col}/points"))
            .json(&json!({ "ids": [1], "with_payload": true })),
    )
    .await;
    assert_eq!(
        v["result"][0]["payload"],
        json!({ "k": "strong" }),
        "the last write holds"
    );
    let (s, v) = send(
        c.put(format!("{col}/index?wait=true"))
            .json(&json!({ "field_name": "k", "field_schema": "keyword" })),
    )
    .await;
    assert_eq!(
        (s, &v["result"]["status"]),
        (StatusCode::OK, &json!("completed")),
        "{v}"
    );
    let (s, v) = send(c.delete(format!("{col}/index/k?wait=true"))).await;
    assert_eq!(
        (s, &v["result"]["status"]),
        (StatusCode::OK, &json!("completed")),
        "{v}"
    );
    let (s, v) = send(c.delete(format!("{url}/v1/collections/missing/index/k"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["status"]["error"].is_string(),
        "Qdrant's error shape: {v}"
    );
    swarm.shutdown().await;
}
