//! The stateful services across nodes, each through a node that does not run it:
//! vector collections live on the node that created them (later calls find their home,
//! also from a node that never saw the creation), consensus certificates made on another
//! node verify, and an FHE job submitted through one node is read back through it while
//! it runs on its home node, with the known tally.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::cluster_calls::serves;
use super::cluster_up::{free, member_yaml, up};
use super::fhe_tally::{framed, public_key};
use crate::common;

const COOKIE: &str = "services-cluster-cookie";

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = common::within(req.timeout(Duration::from_secs(60)).send())
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// A collection made through `a` lives on `b` or `c`; through `a` it is written and
/// searched with the known nearest points, its home has every point, the other node
/// has no such collection, and the other node's gateway finds it on its home.
#[test]
fn vector_collections_live_on_their_home_node() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = [("a", free()), ("b", free()), ("c", free())].map(|(n, a)| (n, a.to_string()));
    let services = |node: &str| {
        let data = dir.path().join(format!("data-{node}"));
        format!(
            "  vector:\n    type: vector\n    nodes: [b, c]\n    params: {{ data_dir: \"{}\" }}\n",
            data.display()
        )
    };
    let start = |node: &str| {
        up(
            &member_yaml(dir.path(), node, &addrs, &services(node)),
            COOKIE,
        )
    };
    let (_a, url_a, logs_a) = start("a");
    let (_b, url_b, logs_b) = start("b");
    let (_c, url_c, logs_c) = start("c");
    serves(&logs_a, &[("b", "vector"), ("c", "vector")]);
    serves(&logs_b, &[("c", "vector")]);
    serves(&logs_c, &[("b", "vector")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::http();
        let col = |url: &str| format!("{url}/v1/collections/notes");
        let (s, v) = send(c.put(col(&url_a)).json(&json!({ "dimension": 3, "distance": "Dot" }))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let points: Vec<Value> = (1..=20)
            .map(|i| json!({ "id": i, "vector": [f64::from(i), 1.0, 0.0], "payload": { "even": i % 2 == 0 } }))
            .collect();
        let (s, v) = send(c.put(format!("{}/points", col(&url_a))).json(&json!({ "points": points }))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Dot product with (1, 0, 0): the largest first; the filter keeps odd ids.
        let query = json!({ "vector": [1.0, 0.0, 0.0], "limit": 3,
            "filter": { "must": [{ "key": "even", "match": { "value": false } }] } });
        let (s, v) = send(c.post(format!("{}/points/search", col(&url_a))).json(&query)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let ids: Vec<u64> = v["result"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, vec![19, 17, 15]);
        assert_eq!(v["result"][0]["score"], 19.0);

        let (sb, vb) = send(c.get(col(&url_b))).await;
        let (sc, vc) = send(c.get(col(&url_c))).await;
        // One node is its home (both gateways find it there); its own store has it all.
        assert_eq!((sb, sc), (StatusCode::OK, StatusCode::OK), "{vb} {vc}");
        assert_eq!(vb["result"]["points_count"], 20, "{vb}");
        assert_eq!(vc["result"]["points_count"], 20, "{vc}");
        let homes = [("b", "data-b"), ("c", "data-c")]
            .iter()
            .filter(|(_, d)| dir.path().join(d).join("notes").exists())
            .count();
        assert_eq!(homes, 1, "the collection is stored on exactly one node");
        let (s, v) = send(c.post(format!("{}/points/search", col(&url_c))).json(&query)).await;
        assert_eq!((s, &v["result"][0]["id"]), (StatusCode::OK, &json!(19)), "{v}");
    });
}

/// A decision certified by the voters of node `b`, asked through node `a`, verifies
/// through either node; a tampered one does not.
#[test]
fn consensus_certificates_made_on_another_node_verify() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = [("a", free()), ("b", free())].map(|(n, a)| (n, a.to_string()));
    let services = "  consensus:\n    type: consensus\n    nodes: [b]\n    params: { voters: 4, swarm_id: cluster-test }\n";
    let (_a, url_a, logs_a) = up(&member_yaml(dir.path(), "a", &addrs, services), COOKIE);
    let (_b, url_b, _logs_b) = up(&member_yaml(dir.path(), "b", &addrs, services), COOKIE);
    serves(&logs_a, &[("b", "consensus")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::http();
        let rule = json!({ "kind": "number_in_range", "key": "replicas", "min": 1, "max": 5 });
        let (s, d) = send(
            c.post(format!("{url_a}/v1/consensus/proposals"))
                .json(&json!({ "payload": { "replicas": 3 }, "rule": rule })),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["certificate"]["phase"], "commit");
        assert_eq!(d["certificate"]["swarm_id"], "cluster-test");
        for url in [&url_a, &url_b] {
            let (_, ok) = send(
                c.post(format!("{url}/v1/consensus/verify"))
                    .json(&json!({ "certificate": d["certificate"] })),
            )
            .await;
            assert_eq!(ok, json!({ "valid": true, "phase": "commit" }));
        }
        let mut tampered = d["certificate"].clone();
        tampered["phase"] = json!("reject");
        let (_, bad) = send(
            c.post(format!("{url_a}/v1/consensus/verify"))
                .json(&json!({ "certificate": tampered })),
        )
        .await;
        assert_eq!(bad["valid"], false, "{bad}");
        let (_, voters) = send(c.get(format!("{url_a}/v1/consensus/voters"))).await;
        assert_eq!(voters["voters"].as_array().unwrap().len(), 4, "{voters}");
    });
}

/// An encrypted tally submitted through node `a` runs on node `b`; reading the job
/// through `a` reaches `b` and gives the known totals.
#[test]
fn an_fhe_job_submitted_through_another_node_is_read_back_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = common::fhe_keys::dir();
    let addrs = [("a", free()), ("b", free())].map(|(n, a)| (n, a.to_string()));
    let services = format!(
        "  fhe:\n    type: fhe\n    nodes: [b]\n    params: {{ keys: \"{}\", threads: 1 }}\n",
        keys.display()
    );
    let (_a, url_a, logs_a) = up(&member_yaml(dir.path(), "a", &addrs, &services), COOKIE);
    let (_b, _url_b, _logs_b) = up(&member_yaml(dir.path(), "b", &addrs, &services), COOKIE);
    serves(&logs_a, &[("b", "fhe")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::http();
        let pk = public_key(&c, &url_a).await;
        let ballots = vec![
            pk.ballot(1, 2).unwrap(),
            pk.ballot(1, 2).unwrap(),
            pk.ballot(0, 2).unwrap(),
        ];
        let r = c
            .post(format!("{url_a}/v1/fhe/tally?options=2"))
            .header("content-type", "application/octet-stream")
            .body(framed(&ballots))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let job: Value = r.json().await.unwrap();
        let done = super::fhe_tally::finished(&c, &url_a, job["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(
            done["result"],
            json!({ "totals": [1, 2], "counted": 3, "rejected": [] })
        );
    });
}
