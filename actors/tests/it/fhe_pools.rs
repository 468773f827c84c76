//! The FHE service on two pools: the scheduler counts a pool's running FHE jobs as load
//! (their remaining ciphertext operations), so a new job goes to the idle pool, and a job
//! is read or cancelled whichever pool the read reaches.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;
use crate::fhe_tally::{finished, framed, public_key};

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn routed(c: &reqwest::Client, url: &str) -> (u64, u64) {
    let text = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |pool: &str| {
        let head = format!(
            "swarm_scheduler_routed_total{{service=\"fhe\",pool=\"{pool}\",device=\"cpu\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    (count("a"), count("b"))
}

async fn tally(c: &reqwest::Client, url: &str, body: Vec<u8>) -> Value {
    let r = c
        .post(format!("{url}/v1/fhe/tally?options=2"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_busy_with_fhe_jobs_gets_no_new_job_while_another_is_idle() {
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params: {{ keys: {}, threads: 1 }}\n    pools:\n      - name: a\n        device: cpu\n      - name: b\n        device: cpu\n",
        common::fhe_keys::dir().display()
    );
    let (swarm, url) = common::start(&yaml).await;
    let c = common::http();
    let pk = public_key(&c, &url).await;
    let long: Vec<Vec<u8>> = (0..40).map(|i| pk.ballot(i % 2, 2).unwrap()).collect();
    let short = vec![pk.ballot(1, 2).unwrap()];

    let before = routed(&c, &url).await;
    let job1 = tally(&c, &url, framed(&long)).await;
    let after1 = routed(&c, &url).await;
    let job2 = tally(&c, &url, framed(&short)).await;
    let after2 = routed(&c, &url).await;
    let first_to_a = after1.0 > before.0;
    assert_ne!(
        first_to_a,
        after1.1 > before.1,
        "the first job went to one pool"
    );
    // The long job (202 ciphertext operations) is still running: the second goes elsewhere.
    let still = c
        .get(format!(
            "{url}/v1/fhe/jobs/{}",
            job1["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        still["state"] == "running" || still["state"] == "queued",
        "the long job ended before the check could mean anything: {still}"
    );
    let second_to_a = after2.0 > after1.0;
    assert_ne!(first_to_a, second_to_a, "{before:?} {after1:?} {after2:?}");

    // Reads and cancels find a job whichever pool they reach.
    let done = finished(&c, &url, job2["id"].as_str().unwrap()).await;
    assert_eq!(
        done["result"],
        json!({"totals": [0, 1], "counted": 1, "rejected": []})
    );
    let r = c
        .delete(format!(
            "{url}/v1/fhe/jobs/{}",
            job1["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stopped = finished(&c, &url, job1["id"].as_str().unwrap()).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    swarm.shutdown().await;
}
