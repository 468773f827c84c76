//! Calls across nodes, with three `swarm up` processes on loopback: node `a` runs no
//! `echo` or `nash` pool of its own, so its gateway's calls go to `b` and `c` (spread by
//! expected wait); answers and typed errors cross the wire; a full remote queue answers
//! `overloaded`; FL rounds live on the node that opened them and calls follow them. Then `b` is killed with SIGKILL while calls are in flight to it: every
//! caller gets an answer (a success or `unavailable`), nothing hangs, new calls go to
//! `c`, and once `b` is back it takes work again.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::cluster_up::{free, log_says, member_yaml, up};

const COOKIE: &str = "cluster-calls-cookie";

const SERVICES: &str = "  echo:\n    type: echo\n    nodes: [b, c]\n    workers: 4\n  nash:\n    type: nash\n    nodes: [b, c]\n  fl:\n    type: fl\n    nodes: [b, c]\n  tiny:\n    type: echo\n    nodes: [b]\n    route_prefix: /tiny\n    queue: { capacity: 1, overflow: reject }\n";

fn config(dir: &Path, node: &str, addrs: &[(&str, String)]) -> PathBuf {
    member_yaml(dir, node, addrs, SERVICES)
}

/// Waits until log lines have said that each `(peer, service)` is served.
pub(crate) fn serves(logs: &mpsc::Receiver<String>, pairs: &[(&str, &str)]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut missing: Vec<(&str, &str)> = pairs.to_vec();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = logs
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("never served: {missing:?}: {e}"));
        missing.retain(|(peer, service)| {
            !(line.contains(&format!("peer serves `{service}`"))
                && line.contains(&format!("peer={peer}")))
        });
    }
}

/// The sample of `metric{labels}` in a `/metrics` text (0 when absent).
fn sample(metrics: &str, metric_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(metric_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Echo calls through `url`, all at once; each answer's status and body.
async fn burst(url: &str, n: usize, delay_ms: u64, path: &str) -> Vec<(u16, Value)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls = (0..n).map(|i| {
        let http = http.clone();
        let url = format!("{url}{path}");
        async move {
            let r = http
                .post(url)
                .json(&json!({ "message": format!("m{i}"), "delay_ms": delay_ms }))
                .send()
                .await
                .expect("every call is answered before the client's timeout");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    });
    futures_util::future::join_all(calls).await
}

fn ok_calls(metrics: &str, peer: &str) -> f64 {
    sample(
        metrics,
        &format!("swarm_cluster_peer_calls_total{{peer=\"{peer}\",outcome=\"ok\"}}"),
    )
}

#[test]
fn calls_cross_nodes_survive_a_killed_node_and_return_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = [("a", free()), ("b", free()), ("c", free())].map(|(n, a)| (n, a.to_string()));
    let (_a, url, logs_a) = up(&config(dir.path(), "a", &addrs), COOKIE);
    let (b, _, _logs_b) = up(&config(dir.path(), "b", &addrs), COOKIE);
    let (_c, _, _logs_c) = up(&config(dir.path(), "c", &addrs), COOKIE);
    serves(
        &logs_a,
        &[
            ("b", "echo"),
            ("c", "echo"),
            ("b", "nash"),
            ("c", "nash"),
            ("b", "tiny"),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Answers cross the wire and the work spreads over both nodes.
        let answers = burst(&url, 16, 200, "/v1/echo").await;
        for (i, (status, body)) in answers.iter().enumerate() {
            assert_eq!(*status, 200, "{body}");
            assert_eq!(body["message"], format!("m{i}"));
        }
        let m = metrics(&url).await;
        assert!(ok_calls(&m, "b") >= 1.0 && ok_calls(&m, "c") >= 1.0, "{m}");
        assert_eq!(ok_calls(&m, "b") + ok_calls(&m, "c"), 16.0, "{m}");

        // Matching pennies: the one equilibrium is (½, ½) for both, payoffs 0.
        let solved: Value = reqwest::Client::new()
            .post(format!("{url}/v1/nash/solve"))
            .json(&json!({ "row": [[1, -1], [-1, 1]], "col": [[-1, 1], [1, -1]], "method": "support_enumeration" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            solved["equilibria"],
            json!([{ "row": [0.5, 0.5], "col": [0.5, 0.5], "payoffs": [0.0, 0.0] }]),
            "{solved}"
        );

        // FL rounds live where they were opened: submissions and reads follow them there.
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let round: Value = http
                .post(format!("{url}/v1/fl/rounds"))
                .json(&json!({ "strategy": { "name": "fedmedian" }, "min_clients": 3 }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = round["id"].as_str().unwrap_or_else(|| panic!("{round}")).to_string();
            for (client, w) in [("x", [1.0, 2.0, 3.0]), ("y", [5.0, 0.0, 3.0]), ("z", [2.0, 9.0, -1.0])] {
                let r = http
                    .post(format!("{url}/v1/fl/rounds/{id}/updates"))
                    .json(&json!({ "client": client, "num_examples": 1, "weights": w }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
            let got: Value = http
                .get(format!("{url}/v1/fl/rounds/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(got["status"]["state"], "closed", "{got}");
            // The coordinate-wise median of the three updates.
            assert_eq!(got["model"], json!([2.0, 2.0, 3.0]), "{got}");
        }
        // A round no node has is asked around, then `not_found`.
        let r = http
            .get(format!("{url}/v1/fl/rounds/r0123456789abcdef"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        // A typed error crosses as itself.
        let (status, body) = burst(&url, 1, 70_000, "/v1/echo").await.remove(0);
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");

        // A full remote queue answers `overloaded`: b's `tiny` holds one running, one queued.
        let answers = burst(&url, 8, 1500, "/tiny/v1/echo").await;
        let overloaded = answers
            .iter()
            .filter(|(s, b)| *s == 429 && b["error"]["code"] == "overloaded")
            .count();
        let ok = answers.iter().filter(|(s, _)| *s == 200).count();
        assert!(overloaded >= 1 && ok >= 1 && ok + overloaded == 8, "{answers:?}");
    });

    // SIGKILL b while calls are in flight to it.
    let load = {
        let url = url.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(burst(&url, 24, 3000, "/v1/echo"))
        })
    };
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while sample(
            &metrics(&url).await,
            "swarm_cluster_peer_in_flight{peer=\"b\"}",
        ) < 1.0
        {
            assert!(tokio::time::Instant::now() < deadline, "no call reached b");
            tokio::task::yield_now().await;
        }
    });
    let mut b = b;
    b.0.kill().unwrap();
    b.0.wait().unwrap();
    let answers = load.join().unwrap();
    let lost = answers
        .iter()
        .filter(|(s, body)| *s == 503 && body["error"]["code"] == "unavailable")
        .count();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        lost >= 1,
        "calls in flight to b must fail `unavailable`: {answers:?}"
    );
    assert_eq!(ok + lost, answers.len(), "{answers:?}");
    log_says(&logs_a, "peer `b`");

    rt.block_on(async {
        let answers = burst(&url, 8, 0, "/v1/echo").await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    });

    // b comes back on its address; a redials it and routes to it again.
    let before = rt.block_on(async { ok_calls(&metrics(&url).await, "b") });
    let (_b, _, _logs_b) = up(&config(dir.path(), "b", &addrs), COOKIE);
    serves(&logs_a, &[("b", "echo")]);
    rt.block_on(async {
        let answers = burst(&url, 16, 200, "/v1/echo").await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
        let after = ok_calls(&metrics(&url).await, "b");
        assert!(
            after > before,
            "b took no work after it came back: {before} → {after}"
        );
    });
}

/// Embeddings computed on another node arrive bit-for-bit: node a (no model loaded)
/// answers exactly what node b's own gateway answers for the same texts.
#[test]
fn embeddings_cross_nodes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let model = format!("{}/../models/all-MiniLM-L6-v2", env!("CARGO_MANIFEST_DIR"));
    let services = format!(
        "  embed:\n    type: embed\n    nodes: [b]\n    params: {{ model_dir: \"{model}\" }}\n"
    );
    let addrs = [("a", free()), ("b", free())].map(|(n, a)| (n, a.to_string()));
    let (_a, url_a, logs_a) = up(&member_yaml(dir.path(), "a", &addrs, &services), COOKIE);
    let (_b, url_b, _logs_b) = up(&member_yaml(dir.path(), "b", &addrs, &services), COOKIE);
    serves(&logs_a, &[("b", "embed")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let body =
            json!({ "model": "all-MiniLM-L6-v2", "input": ["a swarm of agents", "négociation"] });
        let mut answers = Vec::new();
        for url in [&url_a, &url_b] {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/embeddings"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            answers.push(r.json::<Value>().await.unwrap());
        }
        assert_eq!(answers[0]["data"], answers[1]["data"]);
        assert_eq!(answers[0]["usage"], answers[1]["usage"]);
        assert_eq!(
            answers[0]["data"][0]["embedding"].as_array().unwrap().len(),
            384
        );
    });
}
