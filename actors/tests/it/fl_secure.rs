//! secure_fedavg over real HTTP with real ciphertexts: clients encrypt fixed-point updates
//! under the swarm's FHE public key, the FL aggregator hands them to the `fhe` service
//! as one secure sum, and the round's model is the weighted mean decoded from the
//! decrypted sums — exactly what the same sums computed in the clear decode to.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;
use crate::fhe_tally::public_key;

use reqwest::StatusCode;
use serde_json::{Value, json};
use swarm_actors::fhe::core::secure_sum::FixedPoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_round_averages_encrypted_updates_and_decrypts_only_their_sum() {
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: 2 }}\n  fl:\n    type: fl\n    params: {{ fhe: fhe }}\n",
        common::fhe_keys::dir().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let encoding = FixedPoint {
        clip: 4.0,
        scale_bits: 16,
        max_weight: 1_000,
    };

    let r = c
        .post(format!("{url}/v1/fl/rounds"))
        .json(&json!({
            "strategy": {"name": "secure_fedavg", "clip": 4.0, "scale_bits": 16, "max_weight": 1000},
            "min_clients": 3,
            "dimension": 2,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let submit = |client: &str, body: Vec<u8>| {
        c.post(format!("{url}/v1/fl/rounds/{id}/encrypted-updates"))
            .header("x-fl-client", client)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };

    let updates: [(&str, [f32; 2], u64); 3] = [
        ("a", [0.25, -1.5], 100),
        ("b", [0.5, 2.0], 300),
        // 9.0 is clipped to 4.
        ("c", [-1.0, 9.0], 600),
    ];
    let (name, w, n) = updates[0];
    let r = submit(name, pk.update(&w, n, &encoding).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["received"].as_u64(), v["needed"].as_u64()),
        (Some(1), Some(3))
    );

    // Refused unread: a list of the wrong length or type, a second update from the same
    // client, and plain updates to a secure round.
    let refused = [
        (
            "b",
            pk.update(&[1.0, 2.0, 3.0], 5, &encoding).unwrap(),
            "not a packed list of 3 values",
        ),
        ("b", pk.encrypt_u8(&[1, 2, 3]).unwrap(), "expected Int32"),
        (
            "a",
            pk.update(&w, n, &encoding).unwrap(),
            "already submitted",
        ),
    ];
    for (client, body, says) in refused {
        let r = submit(client, body).await.unwrap();
        assert!(r.status().is_client_error(), "{says}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "`{m}` lacks `{says}`");
    }
    let r = c
        .post(format!("{url}/v1/fl/rounds/{id}/updates"))
        .json(&json!({"client": "d", "num_examples": 1, "weights": [1.0, 2.0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    for (name, w, n) in &updates[1..] {
        let r = submit(name, pk.update(w, *n, &encoding).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mut round = Value::Null;
    for _ in 0..20 {
        round = c
            .get(format!("{url}/v1/fl/rounds/{id}?wait_ms=30000"))
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if round["status"]["state"] != "aggregating" {
            break;
        }
    }
    assert_eq!(round["status"]["state"], "closed", "{round}");
    assert_eq!(round["participants"], json!(["a", "b", "c"]));

    // The same sums in the clear decode to the very same model.
    let mut sums = [0i32; 3];
    for (_, w, n) in &updates {
        for (s, q) in sums.iter_mut().zip(encoding.encode(w, *n).unwrap()) {
            *s += q;
        }
    }
    let expected = encoding.decode(&sums).unwrap();
    let model: Vec<f32> = serde_json::from_value(round["model"].clone()).unwrap();
    assert_eq!(model, expected);
    // And that is the weighted mean (Σ nᵢ·clip(wᵢ) / Σ nᵢ) within the rounding bound
    // derived in secure_sum's unit tests.
    let reference = [
        (25.0 + 150.0 - 600.0) / 1000.0,
        (-150.0 + 600.0 + 2400.0) / 1000.0,
    ];
    for (m, r) in model.iter().zip(reference) {
        assert!(
            (f64::from(*m) - r).abs() <= 3.0 / 131_072.0 * 5.0,
            "{m} vs {r}"
        );
    }

    swarm.shutdown().await;

    // An fl service without an fhe dependency refuses secure rounds, saying what to add.
    let (swarm, url) =
        common::start("gateway:\n  listen: 127.0.0.1:0\nservices:\n  fl:\n    type: fl\n").await;
    let r = c
        .post(format!("{url}/v1/fl/rounds"))
        .json(&json!({"strategy": {"name": "secure_fedavg"}, "min_clients": 2, "dimension": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fhe: NAME"),
        "{v}"
    );
    swarm.shutdown().await;
}
