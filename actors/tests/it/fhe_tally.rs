//! The `fhe` service over real HTTP with real ciphertexts: the public key, a tally whose
//! invalid ballots are refused without decrypting them, malformed ciphertexts answered
//! 422 with a reason, and jobs that stop on cancellation or at their deadline.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use swarm_actors::fhe::PublicKey;
use swarm_actors::fhe::core::wire;

pub(crate) fn yaml(threads: usize) -> String {
    format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: {threads}, max_jobs: 2 }}\n",
        common::fhe_keys::dir().display()
    )
}

pub(crate) async fn public_key(c: &reqwest::Client, url: &str) -> PublicKey {
    let r = c
        .get(format!("{url}/v1/fhe/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["x-swarm-fhe-params"],
        swarm_actors::fhe::core::params::PARAMS_VERSION
    );
    PublicKey::from_bytes(&r.bytes().await.unwrap()).expect("the served key reads back")
}

async fn submit(c: &reqwest::Client, url: &str, query: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = c
        .post(format!("{url}/v1/fhe/tally?{query}"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Reads the job until it has finished (each read waits up to 30 s for it).
pub(crate) async fn finished(c: &reqwest::Client, url: &str, id: &str) -> Value {
    for _ in 0..20 {
        let v: Value = c
            .get(format!("{url}/v1/fhe/jobs/{id}?wait_ms=30000"))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["state"] == "done" || v["state"] == "stopped" {
            return v;
        }
    }
    panic!("job {id} did not finish within 10 minutes");
}

pub(crate) fn framed(lists: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for l in lists {
        wire::frame(&mut body, l);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tally_counts_one_hot_ballots_and_refuses_the_rest_unread() {
    let (swarm, url) = common::start(&yaml(2)).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let ballots = vec![
        pk.ballot(0, 3).unwrap(),
        pk.ballot(2, 3).unwrap(),
        pk.ballot(2, 3).unwrap(),
        // Two votes in one ballot.
        pk.encrypt_u8(&[1, 1, 0]).unwrap(),
        // Sums to 1 modulo 256, but its entries are not 0 or 1.
        pk.encrypt_u8(&[255, 2, 0]).unwrap(),
    ];
    let (s, job) = submit(&c, &url, "options=3", framed(&ballots)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert!(
        job["state"] == "queued" || job["state"] == "running",
        "{job}"
    );
    let total = job["progress"]["total"].as_u64().unwrap();
    assert_eq!(total, 5 * (3 + 3) + 3);
    let done = finished(&c, &url, job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        done["result"],
        json!({ "totals": [1, 0, 2], "counted": 3, "rejected": [3, 4] })
    );
    assert_eq!(done["progress"]["done"], total);
    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("swarm_fhe_bootstraps_total{service=\"fhe\"}"),
        "{metrics}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ciphertexts_are_422_with_a_reason() {
    let (swarm, url) = common::start(&yaml(1)).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let good = pk.ballot(1, 3).unwrap();
    // A key for another parameter set: tfhe's default, without the dedicated PKE keys.
    let other = {
        let ck = tfhe::ClientKey::generate(tfhe::ConfigBuilder::default().build());
        let pk = tfhe::CompactPublicKey::new(&ck);
        let mut b = tfhe::CompactCiphertextList::builder(&pk);
        b.push(0u8).push(1u8).push(0u8);
        let mut out = Vec::new();
        tfhe::safe_serialization::safe_serialize(&b.build_packed(), &mut out, 1 << 22).unwrap();
        out
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            framed(&[b"not a ciphertext".to_vec()]),
            "options=3",
            "ballot 0: truncated or malformed",
        ),
        (
            framed(&[good[..good.len() / 2].to_vec()]),
            "options=3",
            "ballot 0: truncated or malformed",
        ),
        (
            framed(std::slice::from_ref(&good)),
            "options=4",
            "not a packed list of 4 values",
        ),
        (
            framed(&[good.clone(), other]),
            "options=3",
            "ballot 1: not a packed list of 3 values under this swarm's parameter set",
        ),
        (
            framed(&[vec![0u8; wire::MAX_LIST_BYTES + 1]]),
            "options=3",
            "over the limit",
        ),
        (
            vec![9, 0, 0, 0, 1, 2],
            "options=3",
            "list 0: says 9 bytes, 2 left",
        ),
        (Vec::new(), "options=3", "no ballots"),
        (
            framed(std::slice::from_ref(&good)),
            "options=0",
            "`options` must be between 1 and 64",
        ),
    ];
    for (body, query, says) in cases {
        let (s, v) = submit(&c, &url, query, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{says}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "`{m}` lacks `{says}`");
    }
    let r = c
        .get(format!("{url}/v1/fhe/jobs/not-a-job"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .get(format!("{url}/v1/fhe/jobs/{}", uuid::Uuid::from_u128(42)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_stop_when_cancelled_or_past_their_deadline() {
    let (swarm, url) = common::start(&yaml(1)).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let ballots: Vec<Vec<u8>> = (0..12).map(|i| pk.ballot(i % 2, 2).unwrap()).collect();
    // A deadline already due: the job stops before its first operation.
    let (s, job) = submit(&c, &url, "options=2&timeout_ms=0", framed(&ballots)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let stopped = finished(&c, &url, job["id"].as_str().unwrap()).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap()
            .contains("deadline passed"),
        "{stopped}"
    );
    assert!(
        stopped.get("result").is_none(),
        "nothing revealed: {stopped}"
    );
    // Cancelled at once: it stops before its next operation, long before its 12 ballots.
    let (_, job) = submit(&c, &url, "options=2", framed(&ballots)).await;
    let id = job["id"].as_str().unwrap();
    let r = c
        .delete(format!("{url}/v1/fhe/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stopped = finished(&c, &url, id).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["reason"], "cancelled");
    assert!(stopped["progress"]["done"].as_u64() < stopped["progress"]["total"].as_u64());
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_jobs_a_new_job_is_429_until_one_ends() {
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: 1, max_jobs: 1 }}\n",
        common::fhe_keys::dir().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let long: Vec<Vec<u8>> = (0..30).map(|i| pk.ballot(i % 2, 2).unwrap()).collect();
    let (s, first) = submit(&c, &url, "options=2", framed(&long)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let (s, refused) = submit(&c, &url, "options=2", framed(&long[..1])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "overloaded", "{refused}");
    let id = first["id"].as_str().unwrap();
    let r = c
        .delete(format!("{url}/v1/fhe/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(finished(&c, &url, id).await["state"], "stopped");
    let (s, again) = submit(&c, &url, "options=2", framed(&long[..1])).await;
    assert_eq!(s, StatusCode::ACCEPTED, "a slot is free again: {again}");
    let done = finished(&c, &url, again["id"].as_str().unwrap()).await;
    assert_eq!(done["result"]["totals"], serde_json::json!([1, 0]));
    swarm.shutdown().await;
}
