//! The consensus routes over real HTTP.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_list_voters_and_verify_certificates() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  consensus:\n    type: consensus\n    params: { voters: 4, swarm_id: http-test }\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();

    let voters: Value = c
        .get(format!("{url}/v1/consensus/voters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            voters["n"].as_u64(),
            voters["f"].as_u64(),
            voters["quorum"].as_u64()
        ),
        (Some(4), Some(1), Some(3))
    );
    assert_eq!(voters["voters"].as_array().unwrap().len(), 4);
    assert_eq!(
        voters["voters"][0]["public_key"].as_str().unwrap().len(),
        64
    );

    let r = c.post(format!("{url}/v1/consensus/proposals"))
        .json(&json!({"payload": {"replicas": 3}, "rule": {"kind": "number_in_range", "key": "replicas", "min": 1, "max": 5}}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["certificate"]["phase"], "commit");
    assert_eq!(d["certificate"]["swarm_id"], "http-test");
    assert_eq!(d["certificate"]["votes"].as_array().unwrap().len(), 3);

    let verify = |cert: Value| {
        c.post(format!("{url}/v1/consensus/verify"))
            .json(&json!({"certificate": cert}))
            .send()
    };
    let ok: Value = verify(d["certificate"].clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok, json!({"valid": true, "phase": "commit"}));
    // A certificate of a rejected proposal verifies, and says it certifies a rejection.
    let r = c.post(format!("{url}/v1/consensus/proposals"))
        .json(&json!({"payload": {"replicas": 9}, "rule": {"kind": "number_in_range", "key": "replicas", "min": 1, "max": 5}}))
        .send().await.unwrap();
    let rejected: Value = r.json().await.unwrap();
    assert_eq!(rejected["certificate"]["phase"], "reject");
    let checked: Value = verify(rejected["certificate"].clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(checked, json!({"valid": true, "phase": "reject"}));
    let mut tampered = d["certificate"].clone();
    tampered["phase"] = json!("reject");
    let bad: Value = verify(tampered).await.unwrap().json().await.unwrap();
    assert_eq!(bad["valid"], false);
    assert!(bad["reason"].as_str().unwrap().contains("does not verify"));

    let r: Value = c.post(format!("{url}/v1/consensus/proposals"))
        .json(&json!({"payload": {"replicas": 99}, "rule": {"kind": "number_in_range", "key": "replicas", "min": 1, "max": 5}}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(r["certificate"]["phase"], "reject");

    let r = c
        .post(format!("{url}/v1/consensus/proposals"))
        .json(&json!({"payload": 1, "rule": {"kind": "maybe"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    swarm.shutdown().await;
}
