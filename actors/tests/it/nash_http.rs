//! `POST /v1/nash/solve` over real HTTP through the nash service's queue and workers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solves_games_and_refuses_bad_ones_with_json_errors() {
    let yaml =
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  nash:\n    type: nash\n    workers: 2\n";
    let (swarm, url) = common::start(yaml).await;
    let c = common::http();
    let solve = |body: Value| c.post(format!("{url}/v1/nash/solve")).json(&body).send();

    let r = solve(
        json!({"row": [[2, 1], [0, 2]], "col": [[2, 0], [1, 2]], "method": "support_enumeration"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"], "support_enumeration");
    assert_eq!(body["degenerate"], false);
    let eqs = body["equilibria"].as_array().unwrap();
    assert_eq!(eqs.len(), 3);
    let mixed = eqs
        .iter()
        .find(|e| e["row"][0].as_f64().unwrap() > 0.0 && e["row"][1].as_f64().unwrap() > 0.0)
        .unwrap();
    assert!((mixed["row"][0].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!((mixed["payoffs"][0].as_f64().unwrap() - 4.0 / 3.0).abs() < 1e-9);

    let r = solve(json!({"row": [[1, -1], [-1, 1]], "col": [[-1, 1], [1, -1]]}))
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"], "lemke_howson", "the default method");
    let col: Vec<f64> = serde_json::from_value(body["equilibria"][0]["col"].clone()).unwrap();
    assert!(col.iter().all(|p| (p - 0.5).abs() < 1e-9), "{col:?}");

    for (bad, needle) in [
        (
            json!({"row": [[1, 2], [3]], "col": [[1, 2], [3, 4]]}),
            "ragged",
        ),
        (json!({"row": [], "col": []}), "non-empty"),
        (
            json!({"row": [[1]], "col": [[1, 2]]}),
            "1×1 but `col` is 1×2",
        ),
        (
            json!({"row": [[1]], "col": [[1]], "method": "zero_sum"}),
            "zero_sum needs",
        ),
        (
            json!({"row": [[1]], "col": [[1]], "method": "guess"}),
            "unknown variant `guess`",
        ),
    ] {
        let r = solve(bad.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_request");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e} should mention {needle}"
        );
    }
    let big: Vec<Vec<u32>> = (0..40)
        .map(|i| (0..40).map(|j| (i * 7 + j * 13) % 17).collect())
        .collect();
    let r = c
        .post(format!("{url}/v1/nash/solve"))
        .header("x-swarm-timeout-ms", "500")
        .json(&json!({"row": big, "col": big, "method": "vertex_enumeration"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("use lemke_howson"),
        "{e}"
    );
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solver_out_of_budget_is_504_not_500() {
    let yaml = "gateway:\n  listen: 127.0.0.1:0\nservices:\n  nash:\n    type: nash\n";
    let (swarm, url) = common::start(yaml).await;
    // A learning method asked for far more iterations than 100 ms allow, with an epsilon
    // it never reaches: the budget (the request's deadline) ends it.
    let n = 120;
    let row: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| ((i * 7 + j * 13) % 17) as f64).collect())
        .collect();
    let col: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| ((i * 11 + j * 5) % 19) as f64).collect())
        .collect();
    let body = json!({"row": row, "col": col, "method": "regret_matching", "iterations": 100_000_000u64, "epsilon": 0.0});
    let r = common::http()
        .post(format!("{url}/v1/nash/solve"))
        .header("x-swarm-timeout-ms", "100")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "deadline_exceeded");
    swarm.shutdown().await;
}
